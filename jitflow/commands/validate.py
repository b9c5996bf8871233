"""`jitflow validate`: check request files against the schema and the policies, and the
repository they are in as the pull-request check and apply would: jitflow.yaml, each
policy's account among its accounts, the workflows' branch and region (jitflow.consistency)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from jitflow.commands.support import (
    add_policies_argument,
    judge_files,
    relative_to_root,
    repository_problems_near,
    repository_root,
    scan_request_files,
)
from jitflow.problems import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policies_argument(parser)
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="github: workflow annotations, paths relative to the repository")
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="request files, or folders to search for them",
    )


def run(args: argparse.Namespace) -> int:
    # One file at a time, none kept once judged: memory stays flat however many files.
    checked = 0

    def counted(files: Iterator[Path]) -> Iterator[Path]:
        nonlocal checked
        for path in files:
            checked += 1
            yield path

    first, files = scan_request_files(args.paths)
    policy_set, _, problems = judge_files(counted(files), args.policies, keep_valid=False,
                                          first=first)
    anchor = first if first is not None else Path.cwd()
    problems += repository_problems_near(args.policies, anchor, policy_set)
    if args.format == "github":
        problems = relative_to_root(problems, repository_root(args.policies, anchor))
    errors = [p for p in problems if p.severity == "error"]
    if args.format == "json":
        print(render(problems, "json"))
    elif problems:
        print(render(problems, args.format))
    if args.format == "text":
        verdict = f"{len(errors)} error(s)" if errors else "all valid"
        print(f"{checked} request file(s) checked: {verdict}", file=sys.stderr)
    return 1 if errors else 0
