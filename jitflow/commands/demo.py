"""`jitflow demo [--keep DIR]`: the whole flow locally (moto, a fake GitHub, a git sandbox)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="build the sandbox in DIR (new or empty) and leave it for inspection")


def run(args: argparse.Namespace) -> int:
    from jitflow.demo import run_demo  # noqa: PLC0415  (moto, boto3 only when it runs)

    return run_demo(keep=args.keep)
