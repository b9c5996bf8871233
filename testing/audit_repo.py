"""Real git repositories holding an audit log, for the history check and the anchor tests:
records appended through the real store, commits, and the edits an attacker with push access
would make (cut the tail, edit a record and recompute every hash after it)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jitflow.audit import chain
from jitflow.audit.store import AuditLog
from testing.check_repo import GIT_ENV

T0 = datetime(2026, 10, 30, 9, tzinfo=UTC)


class AuditRepo:
    """A git repository (branch `main`) whose `audit/` holds a log."""

    def __init__(self, path: Path, directory: str = "audit") -> None:
        self.path = path
        self.audit = path / directory
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.count = 0  # records appended through `record`

    def git(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
        done = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True,
                              text=True, check=True)
        return done.stdout.strip()

    def record(self, count: int = 1, hours: int = 1) -> list[dict[str, Any]]:
        """Append `count` records, `hours` apart (a month file per month, as the store does)."""
        log = AuditLog(self.audit)
        added = []
        for _ in range(count):
            self.count += 1
            added.append(log.append("granted", {"request": f"lake/r{self.count}"},
                                    T0 + timedelta(hours=hours * self.count)))
        return added

    def commit(self, message: str) -> str:
        self.git("add", "--all", "--", str(self.audit))
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def files(self) -> list[Path]:
        return sorted(self.audit.glob("*.jsonl"))

    def month_files(self) -> list[Path]:
        return [path for path in self.files() if not path.name.startswith("segment-")]

    def cut(self, lines: int = 1) -> None:
        """Drop the last `lines` records of the newest month file (a tail truncation)."""
        newest = self.month_files()[-1]
        kept = newest.read_text().splitlines(keepends=True)[:-lines]
        newest.write_text("".join(kept))

    def rewrite(self, seq: int, **changes: Any) -> None:
        """Change the record `seq` and recompute its hash and every hash after it, in every
        month file: a log that verifies again, with other content."""
        records: list[tuple[Path, dict[str, Any]]] = [
            (path, json.loads(line)) for path in self.month_files()
            for line in path.read_text().splitlines()]
        previous = chain.GENESIS
        for _path, record in records:
            if record["seq"] == seq:
                record.update(changes)
            if record["seq"] >= seq:
                record["prev_hash"] = previous
                record["hash"] = chain.record_hash(record)
            previous = record["hash"]
        for path in self.month_files():
            path.write_text("".join(chain.dumps(r) + "\n" for p, r in records if p == path))


def grant_repository(path: Path, account: str) -> AuditRepo:
    """`main` with the settings (one account, the caller's own) and one identity-policy
    policy, `lake` (testing.moto_server.make_policy's), committed: what `jitflow revoke` reads."""
    repo = AuditRepo(path)
    files = {
        "jitflow.yaml": f'admins: [admin]\naccounts:\n  "{account}": {{}}\n',
        "policies/identities.yaml": "{}\n",
        "policies/lake.yaml": f'description: the data lake\naccount: "{account}"\n'
                              "buckets: [data-lake]\nprefixes: [clickstream/]\n"
                              'actions: [s3:PutObject]\nmax_duration: 8h\napprovers: ["erin"]\n',
    }
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    repo.git("add", "--all")
    repo.git("commit", "--quiet", "-m", "settings and policies")
    return repo
