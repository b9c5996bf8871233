"""`jitflow plan`: the exact IAM policy each valid request would be granted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jitflow.clock import parse_time, system_clock
from jitflow.commands.support import add_policies_argument, judge_files, request_files
from jitflow.errors import InvalidInput
from jitflow.plan import build_plan, plan_summary, render_markdown, render_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policies_argument(parser)
    parser.add_argument("--at", metavar="TIME", help="apply time (ISO 8601; default: now)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")


def run(args: argparse.Namespace) -> int:
    applied_at = parse_time(args.at) if args.at else system_clock()
    policy_set, requests, problems = judge_files(request_files(args.paths), args.policies)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(problems, f"{len(errors)} error(s): no plan is shown for invalid input")
    plans = [build_plan(r, policy_set.policies[r.policy], applied_at) for r in requests]
    if args.format == "json":
        print(json.dumps([plan_summary(p) for p in plans], indent=2))
    elif args.format == "markdown":
        print("\n".join(render_markdown(p) for p in plans))
    else:
        print("\n\n".join(render_text(p) for p in plans))
    return 0
