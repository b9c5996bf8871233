"""`jitflow codeowners [--check]`: write .github/CODEOWNERS from the policies and settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jitflow.codeowners import CODEOWNERS_PATH, difference, generate
from jitflow.errors import InvalidInput, JitflowError, UsageError
from jitflow.loader import load_policy_set
from jitflow.settings import load_settings
from jitflow.tree import FsTree, find_repo_root


class StaleCodeowners(JitflowError):
    """The committed CODEOWNERS is not what the policies and settings generate (exit 1)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"do not write; fail when the committed {CODEOWNERS_PATH} is out of date",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help="repository root (default: found from the current directory)",
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.root if args.root is not None else find_repo_root(Path.cwd())
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    tree = FsTree(root)
    policy_set, problems = load_policy_set(tree)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        # A policy that failed to load would silently lose its owners: refuse instead.
        raise InvalidInput(errors, "the policies are invalid: fix them, then run it again")
    settings = load_settings(tree)
    expected = generate(policy_set.policies, settings)
    target = root / CODEOWNERS_PATH
    committed = tree.read(CODEOWNERS_PATH)
    current = committed.decode("utf-8", errors="replace") if committed is not None else None
    if args.check:
        diff = difference(current, expected)
        if diff:
            print(diff, end="")
            raise StaleCodeowners(
                f"{CODEOWNERS_PATH} is out of date with the policies or settings: "
                "run `jitflow codeowners` and commit the result"
            )
        print(f"{CODEOWNERS_PATH} is up to date", file=sys.stderr)
        return 0
    if current == expected:
        print(f"{CODEOWNERS_PATH} is already up to date", file=sys.stderr)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(expected, encoding="utf-8")
    print(f"wrote {CODEOWNERS_PATH}", file=sys.stderr)
    return 0
