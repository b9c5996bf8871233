"""Benchmark of `jitflow check` over long histories (reported, never asserted).

    .venv/bin/python bench/check_bench.py [--runs N] [--sizes 1000,10000] [--spread 2]
                                          [--as-imported] [--keep DIR]

Builds one real git repository per history size in a temporary folder, with `git fast-import`:
the project's jitflow.yaml and policies/, then N merged requests. Each merged request is a
commit adding requests/<policy>/<name>.yaml (a squash merge) and a commit appending its
`granted` record to the month's audit file (what the apply workflow commits); every 50th
request is given back early (its file deleted, an `early_revoked` record appended), the others
expire (an `expired` record, what the revoke job commits): two records per request, as a real
log holds. Requests alternate between the example's two policies (`--spread K` spreads the
history over K request folders instead). Two pull requests branch from main: one adds 1
request file, one adds 100 (over analytics-raw's two buckets: one bucket policy holds about
60 session grants).

The deltas are then recomputed (`git repack -a -d -f`), as a git server stores the log (see
`prepare`); `--as-imported` keeps fast-import's long delta chains instead.

Times `check_changes` in one process (the whole check: every git call, the base's policies,
judging, plans), all cases interleaved in each round, medians over the rounds; wall time, and
the CPU time of the process and its git children (steadier on a shared machine).
Targets: 100 files <= 5x the time of 1 file; a 10k history <= 2x the time of a 1k history.
"""

from __future__ import annotations

import argparse
import resource
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


# Per policy: a principal policies/identities.yaml maps to alice, a bucket, a prefix, a ticket.
GRANTS = {
    "analytics-raw": ("arn:aws:iam::111122223333:role/data-engineers", "111122223333",
                      "analytics-raw", "clickstream/", "OPS", "2h"),
    "ml-models": ("arn:aws:iam::444455556666:role/alice-ml", "444455556666",
                  "acme-ml-models", "models/", "ML", "1h"),
}


def request_yaml(index: int, policy: str, name: str, bucket: str | None = None) -> bytes:
    principal, _account, usual, prefix, ticket, duration = GRANTS.get(
        policy, GRANTS["analytics-raw"])
    bucket = bucket or usual
    data = {
        "requester": "alice",
        "principal": principal,
        "reason": f"Backfill {name} after job {index} failed",
        "ticket": f"{ticket}-{index}",
        "duration": duration,
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
        """Append one record as the engine writes it (bucket-policy grants with the size of
        the bucket policy they leave, identity-policy grants with their IAM policy's ARN)."""
        policy = request_id.split("/", maxsplit=1)[0]
        principal, account, bucket, *_rest = GRANTS.get(policy, GRANTS["analytics-raw"])
        details: dict[str, Any] = {
            "request": request_id, "requester": "alice", "actor": "bench",
            "principal": principal, "account": account, "pr": 1, "approvers": ["erin"]}
        if policy == "analytics-raw":
            size = 400 if event == "granted" else 0
            details |= {"grant_mode": "bucket-policy", "session": "alice@acme.example",
                        "buckets": [{"bucket": bucket, "sids": ["JitflowG0E1Allow"],
                                     "sha256": "0" * 64, "policy_bytes": size}]}
        else:
            details["policy_arn"] = f"arn:aws:iam::{account}:policy/jitflow/{request_id}"
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
            else:  # every grant ends: the revoke job records its expiry
                out.commit("main", f"audit: expired {policy}/{name}",
                           [out.record("expired", f"{policy}/{name}", at + timedelta(hours=2))])
        for size in PR_SIZES:
            added = []
            for k in range(size):
                name = f"alice-new-{size}-{k:03d}"
                # Over both of the policy's buckets: 100 session grants in one bucket policy
                # would pass S3's 20 KB, which the check refuses.
                bucket = ("analytics-raw", "analytics-raw-eu")[k % 2]
                added.append((f"requests/analytics-raw/{name}.yaml",
                              request_yaml(k, "analytics-raw", name, bucket)))
            out.commit(f"pr-{size}", f"{size} requests", added, start="main")
    if process.returncode:
        raise SystemExit(f"git fast-import failed ({process.returncode})")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cpu() -> float:
    """CPU seconds of this process and of its waited-for children (the git processes)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sample(action: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call. CPU time counts what the check itself needs, so it
    moves less than wall time when other jobs share the machine."""
    before = cpu()
    wall = timed(action)
    return wall, cpu() - before


def check(repo: Path, size: int) -> None:
    result = check_changes(Git(repo), "main", f"pr-{size}", "alice", applied_at=AT)
    assert not result.errors and len(result.requests) == size, result.errors[:3]


Medians = dict[tuple[int, str], tuple[float, float]]  # (merged, case) -> (wall, CPU)


def measure(repos: dict[int, Path], runs: int) -> Medians:
    cases: list[tuple[int, str, Callable[[], object]]] = []
    for merged, repo in repos.items():
        for size in PR_SIZES:
            cases.append((merged, f"{size} file(s)", partial(check, repo, size)))
    for _merged, _label, action in cases:
        action()  # warm the page cache and the imports
    samples: dict[tuple[int, str], list[tuple[float, float]]] = {
        (m, label): [] for m, label, _ in cases}
    for round_ in range(runs):
        order = cases if round_ % 2 == 0 else cases[::-1]  # alternate, so drift hits all alike
        for merged, label, action in order:
            samples[(merged, label)].append(sample(action))
    medians: Medians = {}
    for (merged, label), values in samples.items():
        walls, cpus = [w for w, _c in values], [c for _w, c in values]
        medians[(merged, label)] = (statistics.median(walls), statistics.median(cpus))
        print(f"  {merged:>6} merged, {label:<11} wall median {medians[(merged, label)][0]:.3f} s "
              f"(range {min(walls):.3f}-{max(walls):.3f}), CPU median "
              f"{medians[(merged, label)][1]:.3f} s ({runs} runs)")
    return medians


def report(medians: Medians, sizes: list[int]) -> None:
    for merged in sizes:
        (one, one_cpu), (many, many_cpu) = (medians[(merged, f"{n} file(s)")] for n in PR_SIZES)
        print(f"{merged} merged: 100 files / 1 file = {many / one:.2f}x wall, "
              f"{many_cpu / one_cpu:.2f}x CPU (target <= 5x)")
    small, large = min(sizes), max(sizes)
    if small != large:
        for label in (f"{n} file(s)" for n in PR_SIZES):
            (wall, cpu_), (base, base_cpu) = medians[(large, label)], medians[(small, label)]
            print(f"{label}: {large} / {small} merged = {wall / base:.2f}x wall, "
                  f"{cpu_ / base_cpu:.2f}x CPU (target <= 2x)")


def prepare(folder: Path, merged: int, spread: int, as_imported: bool) -> Path:
    """The repository of `merged` requests in `folder`: built, or kept from an earlier run
    with the same arguments (so that two versions of jitflow can be timed on the same one)."""
    layout = "imported" if as_imported else "repacked"
    repo = folder / f"h{merged}-spread{spread}-{layout}"
    if (repo / ".git").is_dir():
        print(f"reusing {repo}")
        return repo
    took = timed(partial(build, repo, merged, spread))
    if not as_imported:
        # fast-import stores each version of a month file as a delta of the one before, the
        # newest deepest (~100 deltas). A git server keeps small pushes as loose objects and
        # `git gc` deltifies them afresh, the newest (largest) version whole: as here.
        took += timed(partial(subprocess.run, ["git", "repack", "-a", "-d", "-f", "-q"],
                              cwd=repo, check=True))
    commits = Git(repo).run("rev-list", "--count", "main").strip()
    print(f"built {merged} merged requests ({commits} commits on main, {spread} request "
          f"folders, {layout}) in {took:.0f} s")
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000", help="merged requests per history")
    parser.add_argument("--spread", type=int, default=2, help="request folders in the history")
    parser.add_argument("--as-imported", action="store_true",
                        help="keep fast-import's pack (long delta chains, newest deepest)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the repositories in DIR, or reuse the ones there")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        repos = {n: prepare(folder, n, args.spread, args.as_imported) for n in sizes}
        report(measure(repos, args.runs), sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
