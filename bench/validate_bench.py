"""Benchmark of `jitflow validate` (reported, never asserted).

1. One file, whole process: `jitflow validate FILE` against `check-jsonschema` with the shipped
   request schema on the same file, interleaved in one run; reports the ratio (target <= 0.5x).
2. Many files, one process: judging 1,000 and 10,000 generated request files (target: 10k in
   <= 3 s, growth from 1k to 10k <= 11x).

    .venv/bin/python bench/validate_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "requests" / "analytics-raw" / "alice-clickstream-backfill.yaml"


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def one_file(runs: int) -> None:
    ours = [str(BIN / "jitflow"), "validate", str(EXAMPLE)]
    theirs = [
        str(BIN / "check-jsonschema"),
        "--schemafile",
        str(ROOT / "jitflow" / "schemas" / "request.schema.json"),
        str(EXAMPLE),
    ]
    timed(ours), timed(theirs)  # warm the file cache
    a, b = [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        a.append(timed(ours))
        b.append(timed(theirs))
    ma, mb = statistics.median(a), statistics.median(b)
    print(
        f"one file, whole process (median of {runs}): jitflow {ma * 1000:.0f} ms, "
        f"check-jsonschema {mb * 1000:.0f} ms, ratio {ma / mb:.2f}x (target <= 0.5x)"
    )


def many_files(count: int, root: Path) -> float:
    from jitflow.commands.support import judge_files, request_files  # noqa: PLC0415

    folder = root / f"n{count}" / "requests" / "analytics-raw"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "policies", root / f"n{count}" / "policies")
    text = EXAMPLE.read_text()
    for i in range(count):
        (folder / f"req-{i}.yaml").write_text(text.replace("job 4411", f"job {i}"))
    start = time.perf_counter()
    _, valid, problems = judge_files(request_files([folder]), None)
    elapsed = time.perf_counter() - start
    assert len(valid) == count and not problems, problems[:3]
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    one_file(args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        small = many_files(1_000, Path(tmp))
        large = many_files(10_000, Path(tmp))
    print(
        f"1,000 files: {small:.2f} s; 10,000 files: {large:.2f} s (target <= 3 s); "
        f"growth {large / small:.1f}x (target <= 11x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
