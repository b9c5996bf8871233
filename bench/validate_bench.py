"""Benchmark of `jitflow validate` (reported, never asserted).

1. One file, whole process: `jitflow validate FILE` against `check-jsonschema` with the shipped
   request schema on the same file, interleaved in one run; reports the ratio (target <= 0.5x).
2. Many files, one process: judging 1,000 and 10,000 generated request files (target: 10k in
   <= 3 s, growth from 1k to 10k <= 11x).
3. Peak memory, whole process: `jitflow validate FOLDER` over 1,000, 10,000 and 50,000
   generated request files, each process's peak resident memory read by a small launcher
   (childstats.py), medians of `--runs` (at most 3) runs (target: flat from 1k to 50k, within
   +-20 %).

    .venv/bin/python bench/validate_bench.py [--runs N] [--memory-only]
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

from childstats import run_child

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


def generate(count: int, root: Path) -> Path:
    """`count` valid request files under root/n<count>/requests/analytics-raw, with policies."""
    folder = root / f"n{count}" / "requests" / "analytics-raw"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "policies", root / f"n{count}" / "policies")
    text = EXAMPLE.read_text()
    for i in range(count):
        (folder / f"req-{i}.yaml").write_text(text.replace("job 4411", f"job {i}"))
    return folder


def many_files(count: int, root: Path) -> float:
    from jitflow.commands.support import judge_files, request_files  # noqa: PLC0415

    folder = generate(count, root)
    start = time.perf_counter()
    _, valid, problems = judge_files(request_files([folder]), None)
    elapsed = time.perf_counter() - start
    assert len(valid) == count and not problems, problems[:3]
    return elapsed


def peak_memory(counts: list[int], root: Path, runs: int) -> None:
    folders = {count: generate(count, root / "memory") for count in counts}
    command = [sys.executable, "-m", "jitflow", "validate"]
    peaks: dict[int, list[int]] = {count: [] for count in counts}
    seconds: dict[int, list[float]] = {count: [] for count in counts}
    for round_ in range(runs):
        for count in counts if round_ % 2 == 0 else counts[::-1]:
            took, peak = run_child([*command, str(folders[count])], root)
            seconds[count].append(took)
            peaks[count].append(peak)
    medians = {count: statistics.median(values) / 1024 for count, values in peaks.items()}
    for count in counts:
        print(f"jitflow validate, {count:,} files: peak {medians[count]:.1f} MB "
              f"(runs: {', '.join(f'{p / 1024:.1f}' for p in peaks[count])}), "
              f"{statistics.median(seconds[count]):.1f} s")
    growth = medians[max(counts)] / medians[min(counts)]
    print(f"peak memory {max(counts):,} / {min(counts):,} files: {growth:.2f}x "
          "(target: flat, 0.8x-1.2x)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--memory-only", action="store_true", help="only the memory figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.memory_only:
            one_file(args.runs)
            small = many_files(1_000, Path(tmp))
            large = many_files(10_000, Path(tmp))
            print(
                f"1,000 files: {small:.2f} s; 10,000 files: {large:.2f} s (target <= 3 s); "
                f"growth {large / small:.1f}x (target <= 11x)"
            )
        peak_memory([1_000, 10_000, 50_000], Path(tmp), min(args.runs, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
