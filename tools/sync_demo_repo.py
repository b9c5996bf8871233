"""Regenerate jitflow/sandbox/example_repo/: the access repository `jitflow demo` seeds.

The demo must run from an installed wheel, with no checkout, so the files it seeds its
throwaway access repository with ship as package data. They are copies: the originals stay
where this repository uses them (policies/, jitflow.yaml, .github/, requests/README.md), and
this tool copies every file that SEEDED matches, byte for byte. A test fails when the copy is
out of date (tests/test_packaging.py); after changing any of those files (a workflow, a policy,
a new file a glob matches), run:

    .venv/bin/python tools/sync_demo_repo.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "jitflow" / "sandbox" / "example_repo"
COMMAND = ".venv/bin/python tools/sync_demo_repo.py"

# What an access repository holds, as the demo seeds it: globs relative to the repository root.
SEEDED = (
    "jitflow.yaml",
    "policies/*.yaml",
    "requests/README.md",
    ".github/CODEOWNERS",
    ".github/workflows/*.yml",
    ".github/scripts/*",
)
# Matched above but this project's own, not an access repository's: its CI (runs .ci/run).
NOT_SEEDED = frozenset({".github/workflows/ci.yml"})


def expected_files(root: Path = ROOT) -> dict[str, bytes]:
    """Repository-relative POSIX path -> content, of every file the copy must hold."""
    files: dict[str, bytes] = {}
    for pattern in SEEDED:
        matches = [p for p in sorted(root.glob(pattern)) if p.is_file()]
        if not matches:
            raise SystemExit(f"{pattern}: matches no file under {root}")
        for path in matches:
            relative = path.relative_to(root).as_posix()
            if relative not in NOT_SEEDED:
                files[relative] = path.read_bytes()
    return files


def copied_files(out: Path = OUT) -> dict[str, bytes]:
    """The same mapping, as the copy holds it now."""
    if not out.is_dir():
        return {}
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def sync(root: Path = ROOT, out: Path = OUT) -> int:
    """Rewrite `out` to hold exactly the expected files; how many it wrote."""
    files = expected_files(root)
    if out.exists():
        shutil.rmtree(out)
    for relative, content in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        shutil.copymode(root / relative, target)  # push-audit.sh stays executable
    return len(files)


def main() -> int:
    print(f"wrote {sync()} files to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
