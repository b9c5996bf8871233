"""Regenerate requirements/runtime.lock: every package the workflows install, pinned and hashed.

The jitflow workflows (check, apply, revoke) install with `pip install --require-hashes
--no-deps` from this lock, so what runs next to the AWS credentials and the tokens is exactly
what was reviewed here. The inputs: pyproject.toml's runtime dependencies (no extras) and
requirements/build.in (the build backend). uv resolves them for the runners, not for this
machine: CPython 3.11 (the workflows' setup-python version) on x86_64 Linux (ubuntu-latest),
wheels only.

    .venv/bin/python tools/lock_runtime.py              after a change to the dependencies
    .venv/bin/python tools/lock_runtime.py --upgrade    move every pin to its newest release

uv is a test dependency; resolving needs the package index. Without --upgrade, uv keeps the
lock's pins wherever pyproject.toml still allows them. tests/test_lock.py checks the result
offline against pyproject.toml and the workflows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = "requirements/runtime.lock"
INPUTS = ("pyproject.toml", "requirements/build.in")
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"

# What uv writes into the lock's header (`uv pip compile` and these), which the test reads
# (uv leaves --quiet and --upgrade out of it).
ARGS = (
    "pip", "compile", "--generate-hashes", "--only-binary", ":all:",
    "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
    "--output-file", LOCK, *INPUTS,
)  # fmt: skip


def main(argv: list[str]) -> int:
    if argv not in ([], ["--upgrade"]):
        print("usage: tools/lock_runtime.py [--upgrade]", file=sys.stderr)
        return 2
    from uv import find_uv_bin  # noqa: PLC0415

    done = subprocess.run([find_uv_bin(), *ARGS, "--quiet", *argv], cwd=ROOT, check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
