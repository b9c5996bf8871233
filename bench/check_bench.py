"""Benchmark of `jitflow check` over long histories (reported, never asserted).

    .venv/bin/python bench/check_bench.py [--runs N] [--sizes 1000,10000] [--spread 2]

Builds one real git repository per history size in a temporary folder, with `git fast-import`:
the project's jitflow.yaml and policies/, then N merged requests. Each merged request is a
commit adding requests/<policy>/<name>.yaml (a squash merge) and a commit appending its
`granted` record to the month's audit file (what the apply workflow commits); every 50th
request is given back early (its file deleted, an `early_revoked` record appended). Requests
alternate between the example's two policies (`--spread K` spreads the history over K request
folders instead). Two pull requests branch from main: one adds 1 request file, one adds 100.

Times `check_changes` in one process (the whole check: every git call, the base's policies,
judging, plans), all cases interleaved in each round, medians over the rounds. Also times the
check's single `git log` pass over the history alone: what git itself needs for that answer.
Targets: 100 files <= 5x the time of 1 file; a 10k history <= 2x the time of a 1k history.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

import yaml

from jitflow.audit import chain
from jitflow.gitcmd import Git
from jitflow.pr.check import check_changes

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("analytics-raw", "ml-models")
T0 = datetime(2020, 1, 1, tzinfo=UTC)
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PR_SIZES = (1, 100)
GIVEN_BACK = 50  # every 50th request is deleted early


def request_yaml(index: int, policy: str, name: str) -> bytes:
    bucket = "analytics-raw" if policy == "analytics-raw" else "ml-models"
    prefix = "clickstream/" if policy == "analytics-raw" else "models/"
    data = {
        "requester": "alice",
        "principal": "arn:aws:iam::111122223333:role/alice-data",
        "reason": f"Backfill {name} after job {index} failed",
        "ticket": f"OPS-{index}",
        "duration": "2h",
        "access": [
            {"bucket": bucket, "prefix": f"{prefix}{index}/", "actions": ["s3:PutObject"]}
        ],
    }
    return yaml.safe_dump(data, sort_keys=False).encode()


class Importer:
    """Writes a `git fast-import` stream for branch `main` (and pull request branches)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.clock = int(T0.timestamp())
        self.audit: dict[str, bytes] = {}  # month file -> content
        self.last: dict[str, Any] | None = None

    def commit(self, branch: str, message: str, changes: Sequence[tuple[str, bytes | None]],
               start: str | None = None) -> None:
        self.clock += 60
        body = message.encode()
        out = [b"commit refs/heads/%s\n" % branch.encode(),
               b"committer Bench <bench@example.com> %d +0000\n" % self.clock,
               b"data %d\n%s\n" % (len(body), body)]
        if start is not None:
            out.append(b"from refs/heads/%s\n" % start.encode())
        for path, data in changes:
            if data is None:
                out.append(b"D %s\n" % path.encode())
            else:
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
        self.stream.write(b"".join(out))

    def record(self, event: str, request_id: str, at: datetime) -> tuple[str, bytes]:
        details = {"request": request_id, "requester": "alice", "actor": "bench",
                   "principal": "arn:aws:iam::111122223333:role/alice-data",
                   "account": "111122223333", "pr": 1, "approvers": ["erin"],
                   "policy_arn": f"arn:aws:iam::111122223333:policy/jitflow/{request_id}"}
        self.last = chain.next_record(self.last, at=at, event=event, details=details)
        path = f"audit/{chain.month_of(self.last['time'])}.jsonl"
        self.audit[path] = self.audit.get(path, b"") + chain.dumps(self.last).encode() + b"\n"
        return path, self.audit[path]


def build(repo: Path, merged: int, spread: int) -> None:
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(repo)], check=True)
    folders = [*POLICIES, *(f"team-{k}" for k in range(max(0, spread - len(POLICIES))))]
    folders = folders[:spread]
    with subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo,
                          stdin=subprocess.PIPE) as process:
        assert process.stdin is not None
        out = Importer(process.stdin)
        base = [(name, (ROOT / name).read_bytes()) for name in ("jitflow.yaml",
                                                                 "requests/README.md")]
        base += [(f"policies/{p.name}", p.read_bytes()) for p in (ROOT / "policies").glob("*")]
        out.commit("main", "base", list(base))
        for index in range(merged):
            policy = folders[index % len(folders)]
            name = f"alice-backfill-{index:05d}"
            path = f"requests/{policy}/{name}.yaml"
            at = T0 + timedelta(hours=8 * index)
            out.commit("main", f"{name} (#{index})", [(path, request_yaml(index, policy, name))])
            out.commit("main", f"audit: granted {policy}/{name}",
                       [out.record("granted", f"{policy}/{name}", at)])
            if index % GIVEN_BACK == GIVEN_BACK // 2:
                out.commit("main", f"give back {name}", [(path, None)])
                out.commit("main", f"audit: early_revoked {policy}/{name}",
                           [out.record("early_revoked", f"{policy}/{name}", at)])
        for size in PR_SIZES:
            added = []
            for k in range(size):
                name = f"alice-new-{size}-{k:03d}"
                added.append((f"requests/analytics-raw/{name}.yaml",
                              request_yaml(k, "analytics-raw", name)))
            out.commit(f"pr-{size}", f"{size} requests", added, start="main")
    if process.returncode:
        raise SystemExit(f"git fast-import failed ({process.returncode})")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def check(repo: Path, size: int) -> None:
    result = check_changes(Git(repo), "main", f"pr-{size}", "alice", applied_at=AT)
    assert not result.errors and len(result.requests) == size, result.errors[:3]


def history(repo: Path) -> None:
    Git(repo).paths_in_history("main", ["requests/analytics-raw"])


def measure(repos: dict[int, Path], runs: int) -> dict[tuple[int, str], float]:
    cases: list[tuple[int, str, Callable[[], object]]] = []
    for merged, repo in repos.items():
        for size in PR_SIZES:
            cases.append((merged, f"{size} file(s)", partial(check, repo, size)))
        if hasattr(Git, "paths_in_history"):  # absent in a version from before this bench
            cases.append((merged, "git log pass", partial(history, repo)))
    for _merged, _label, action in cases:
        action()  # warm the page cache and the imports
    samples: dict[tuple[int, str], list[float]] = {(m, label): [] for m, label, _ in cases}
    for round_ in range(runs):
        order = cases if round_ % 2 == 0 else cases[::-1]  # alternate, so drift hits all alike
        for merged, label, action in order:
            samples[(merged, label)].append(timed(action))
    for (merged, label), values in samples.items():
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"  {merged:>6} merged, {label:<13} median {statistics.median(values):.3f} s "
              f"(range {spread}, {runs} runs)")
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000", help="merged requests per history")
    parser.add_argument("--spread", type=int, default=2, help="request folders in the history")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        repos: dict[int, Path] = {}
        for merged in sizes:
            repo = Path(tmp, f"h{merged}")
            took = timed(partial(build, repo, merged, args.spread))
            commits = Git(repo).run("rev-list", "--count", "main").strip()
            print(f"built {merged} merged requests ({commits} commits on main, "
                  f"{args.spread} request folders) in {took:.0f} s")
            repos[merged] = repo
        medians = measure(repos, args.runs)
    for merged in sizes:
        one, many = medians[(merged, "1 file(s)")], medians[(merged, "100 file(s)")]
        print(f"{merged} merged: 100 files / 1 file = {many / one:.2f}x (target <= 5x)")
    small, large = min(sizes), max(sizes)
    if small != large:
        for label in ("1 file(s)", "100 file(s)"):
            ratio = medians[(large, label)] / medians[(small, label)]
            print(f"{label}: {large} / {small} merged = {ratio:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
