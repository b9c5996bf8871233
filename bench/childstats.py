"""Wall time and peak memory of one child process, for the benchmarks.

Linux keeps a process's peak resident memory (`ru_maxrss`) across fork and exec, so a child
started by a big benchmark process would report at least the benchmark's own size. Each
measured command is therefore started by a small launcher (`python -S`, standard library
only, about 10 MB), which times it and reads its peak from `os.wait4`. The launcher's size is
a floor under every figure, below any jitflow or minimal-script process measured here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LAUNCHER = """
import os, sys, time
devnull = os.open(os.devnull, os.O_WRONLY)
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ,
                     file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
_pid, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_child(command: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak resident memory (KiB) of `command` (its first item an absolute path
    to the program), run in `cwd` with its standard output discarded."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *command],
        cwd=cwd, capture_output=True, text=True, check=True,
    )
    seconds, peak, code = done.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{command} failed ({code}): {done.stderr[:500]}")
    return float(seconds), int(peak)
