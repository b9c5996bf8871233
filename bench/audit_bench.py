"""Benchmark of `jitflow audit verify` (reported, never asserted).

    .venv/bin/python bench/audit_bench.py [--runs N] [--sizes 10000,100000] [--history 1000x10]

Generates audit logs of 10,000 and 100,000 records (`chain.next_record`, every field filled
in as the engine writes a grant, about 700 bytes a line, one every 8 minutes: ~5,400 per
month file) in a temporary folder. Then, per size, runs two processes in turn, alternating
which goes first, `--runs` times:

- `python -m jitflow audit verify DIR`, the command as people and CI run it;
- `python minimal.py DIR`, a minimal streaming sha256-chain verifier written below: each line
  read on its own, `json.loads`, prev_hash compared with the hash before, sha256 over
  `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` of the record
  without `hash`, compared with `hash`. No field checks, no diagnosis.

Reports the median wall time and the median peak resident memory of each process (its
`ru_maxrss`, read by a small launcher: see childstats.py), and their ratios. Targets at
100,000 records: <= 1.5x the minimal verifier's time and <= 2x its peak memory. Generation
is not timed.

Then the history check (`--history COMMITSxRECORDS`, default 1000x10): a git repository whose
audit/ got RECORDS records in each of COMMITS commits (written with `git fast-import`), and
`jitflow audit verify DIR` there (chain and history) against the same files outside git
(chain only). No target: the figure says what one `git log` pass and reading every version of
the log once cost.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from childstats import run_child

from jitflow.audit import chain

T0 = datetime(2020, 1, 1, tzinfo=UTC)
MINIMAL = '''
import hashlib, json, pathlib, sys

last, count = "0" * 64, 0
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.jsonl")):
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["prev_hash"] != last:
                sys.exit(f"{path}: broken link at seq {record['seq']}")
            stored = record.pop("hash")
            body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if hashlib.sha256(body.encode("utf-8")).hexdigest() != stored:
                sys.exit(f"{path}: bad hash at seq {record['seq']}")
            last, count = stored, count + 1
print(f"{count} records intact")
'''


def generate(directory: Path, count: int) -> None:
    directory.mkdir(parents=True)
    month, lines = "", list[str]()
    for record in records(count):
        if chain.month_of(record["time"]) != month and lines:
            (directory / f"{month}.jsonl").write_text("".join(lines), encoding="utf-8")
            lines = []
        month = chain.month_of(record["time"])
        lines.append(chain.dumps(record) + "\n")
    (directory / f"{month}.jsonl").write_text("".join(lines), encoding="utf-8")


def records(count: int) -> Iterator[dict[str, Any]]:
    last = None
    for index in range(count):
        request = f"analytics-raw/alice-backfill-{index:06d}"
        last = chain.next_record(
            last,
            at=T0 + timedelta(minutes=8 * index),
            event=("granted", "expired", "early_revoked")[index % 3],
            details={
                "request": request,
                "requester": "alice",
                "principal": "arn:aws:iam::111122223333:role/alice-data",
                "account": "111122223333",
                "access": [{"bucket": "analytics-raw", "prefix": f"clickstream/{index}/",
                            "actions": ["s3:PutObject", "s3:DeleteObject"]}],
                "expiry": T0 + timedelta(minutes=8 * index + 120),
                "approvers": ["erin"],
                "pr": index + 1,
                "commit": f"{index:040x}",
                "actor": "https://github.com/acme/access/actions/runs/1234567890",
                "policy_arn": f"arn:aws:iam::111122223333:policy/jitflow/{request}",
                "reason": f"Backfill partition {index} after the nightly job failed",
            },
        )
        yield last


def history_repository(root: Path, commits: int, per_commit: int) -> Path:
    """A git repository whose audit/ got `per_commit` records in each of `commits` commits."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=root, check=True)
    files: dict[str, bytes] = {}
    stream = []
    made = records(commits * per_commit)
    for number in range(commits):
        changed = set()
        for record in itertools.islice(made, per_commit):
            name = f"audit/{chain.month_of(record['time'])}.jsonl"
            files[name] = files.get(name, b"") + chain.dumps(record).encode() + b"\n"
            changed.add(name)
        stream.append(f"commit refs/heads/main\ncommitter bench <bench@example.com> "
                      f"{1_600_000_000 + number} +0000\ndata 7\nrecords\n".encode())
        for name in sorted(changed):
            stream.append(f"M 100644 inline {name}\ndata {len(files[name])}\n".encode())
            stream.append(files[name] + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(stream),
                   check=True)
    subprocess.run(["git", "checkout", "--quiet", "main"], cwd=root, check=True)
    return root / "audit"


def measure_history(work: Path, spec: str, runs: int) -> None:
    commits, per_commit = (int(n) for n in spec.split("x"))
    in_git = history_repository(work / f"history-{spec}", commits, per_commit)
    outside = work / f"outside-{spec}"
    shutil.copytree(in_git, outside)
    size = sum(p.stat().st_size for p in outside.iterdir()) / 1e6
    print(f"history: {commits} commits of {per_commit} records ({size:.0f} MB at the end):")
    commands = {
        "in git (chain+history)": [sys.executable, "-m", "jitflow", "audit", "verify",
                                   str(in_git)],
        "outside git (chain)": [sys.executable, "-m", "jitflow", "audit", "verify",
                                str(outside)],
    }
    for command in commands.values():
        run_child(command, work)
    for name, command in commands.items():
        samples = [run_child(command, work) for _ in range(runs)]
        times = [t for t, _ in samples]
        print(f"  {name:<24} median {statistics.median(times):.2f} s (range {min(times):.2f}-"
              f"{max(times):.2f}), peak {statistics.median([m for _, m in samples]) / 1024:.0f}"
              f" MB, {runs} runs")


def measure(directory: Path, runs: int, work: Path) -> dict[str, tuple[float, float]]:
    minimal = work / "minimal.py"
    minimal.write_text(MINIMAL)
    commands = {
        "jitflow audit verify": [sys.executable, "-m", "jitflow", "audit", "verify",
                                 str(directory)],
        "minimal verifier": [sys.executable, str(minimal), str(directory)],
    }
    for command in commands.values():
        run_child(command, work)  # warm the page cache
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(runs):
        for name in names if round_ % 2 == 0 else names[::-1]:
            samples[name].append(run_child(commands[name], work))
    result = {}
    for name, values in samples.items():
        times = [t for t, _ in values]
        peaks = [m for _, m in values]
        result[name] = (statistics.median(times), statistics.median(peaks) / 1024)
        print(f"  {name:<22} median {result[name][0]:.2f} s (range {min(times):.2f}-"
              f"{max(times):.2f}), peak {result[name][1]:.0f} MB (range "
              f"{min(peaks) / 1024:.0f}-{max(peaks) / 1024:.0f}), {runs} runs")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--history", default="1000x10",
                        help="COMMITSxRECORDS for the history check ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)  # children run here, so `-m jitflow` imports the installed package
        for count in (int(s) for s in args.sizes.split(",")):
            directory = work / f"audit-{count}"
            generate(directory, count)
            files = len(list(directory.iterdir()))
            size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
            print(f"{count} records in {files} month files ({size:.0f} MB):")
            result = measure(directory, args.runs, work)
            (ours_t, ours_m), (base_t, base_m) = result["jitflow audit verify"], result[
                "minimal verifier"]
            print(f"  ratio: time {ours_t / base_t:.2f}x (target <= 1.5x), "
                  f"peak memory {ours_m / base_m:.2f}x (target <= 2x)")
        if args.history:
            measure_history(work, args.history, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
