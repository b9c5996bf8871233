"""Real git repositories for the `jitflow check` tests: the project's example files on `main`,
then a PR branch with whatever a test changes."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from jitflow.audit.store import AuditLog

ROOT = Path(__file__).resolve().parent.parent
EXISTING = "requests/analytics-raw/alice-clickstream-backfill.yaml"
NEW = "requests/analytics-raw/alice-new-backfill.yaml"
RECORDED_AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # the time of records on main
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def request_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "requester": "alice",
        "principal": "arn:aws:iam::111122223333:role/data-engineers",
        "reason": "Backfill the 2026-11-28 clickstream partition",
        "ticket": "OPS-1235",
        "duration": "2h",
        "access": [
            {
                "bucket": "analytics-raw",
                "prefix": "clickstream/2026/11/28/",
                "actions": ["s3:PutObject"],
            }
        ],
    }
    data.update(changes)
    return data


def run_git(path: Path, *args: str) -> str:
    """git in `path` with a fixed identity and no user or system configuration; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
    done = subprocess.run(
        ["git", *args], cwd=path, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class Repo:
    """A git repository with `main` (the base) and a `pr` branch checked out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        for name in ("jitflow.yaml", "requests/README.md", EXISTING):
            self.write(name, (ROOT / name).read_text())
        for policy in sorted((ROOT / "policies").glob("*.yaml")):
            self.write(f"policies/{policy.name}", policy.read_text())
        self.commit("base")
        self.git("checkout", "--quiet", "-b", "pr")

    def git(self, *args: str) -> str:
        return run_git(self.path, *args)

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    def commit(self, message: str) -> str:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def on_main(self, name: str, text: str | None) -> None:
        """Commit a change straight to main (the base moves on), then return to `pr`."""
        self.git("checkout", "--quiet", "main")
        if text is None:
            self.remove(name)
        else:
            self.write(name, text)
        self.commit(f"main: {name}")
        self.git("checkout", "--quiet", "pr")

    def on_audit_branch(self, files: dict[str, str], branch: str = "jitflow-audit") -> str:
        """Commit `files` to the audit branch (an orphan: the log's own history), made in a
        scratch repository beside this one and fetched, the working tree untouched."""
        scratch = self.path.parent / f"{self.path.name}-{branch}"
        if not scratch.exists():
            scratch.mkdir()
            run_git(scratch, "init", "--quiet", f"--initial-branch={branch}")
            if any(b.strip("* \n") == branch for b in self.git("branch").splitlines()):
                run_git(scratch, "fetch", "--quiet", str(self.path), f"{branch}:{branch}")
                run_git(scratch, "reset", "--quiet", "--hard", branch)
        for name, text in files.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_text(text)
        run_git(scratch, "add", "--all")
        run_git(scratch, "commit", "--quiet", "-m", f"audit: {', '.join(files)}")
        self.git("fetch", "--quiet", str(scratch), f"+{branch}:{branch}")
        return run_git(scratch, "rev-parse", "HEAD").strip()

    def record_on_main(self, request_id: str, *events: str) -> None:
        """Commit audit records about `request_id` to main's log (audit/), as apply and revoke
        do, then return to `pr`."""
        self.git("checkout", "--quiet", "main")
        log = AuditLog(self.path / "audit")
        for event in events:
            log.append(event, {"request": request_id, "actor": "jitflow"}, RECORDED_AT)
        self.commit(f"audit: {', '.join(events)} {request_id}")
        self.git("checkout", "--quiet", "pr")

    def add_request(self, name: str = NEW, **changes: Any) -> str:
        self.write(name, dump(request_data(**changes)))
        return self.commit(f"request {name}")
