"""`jitflow policies [--bucket B]`: the policies, or those that cover one bucket, and what
each allows (jitflow.requesting)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jitflow.commands.support import add_policies_argument, load_policies
from jitflow.durations import format_duration
from jitflow.model import Policy
from jitflow.plan import approvals_needed
from jitflow.problems import render
from jitflow.requesting import covering, policy_facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", metavar="B", help="only the policies that cover bucket B")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_policies_argument(parser)


def _text(policy: Policy) -> str:
    return "\n".join([
        f"{policy.name}: {policy.description}",
        f"  grant     {policy.grant} in account {policy.account}",
        f"  buckets   {', '.join(policy.buckets)}",
        f"  prefixes  {', '.join(repr(p) if p == '' else p for p in policy.prefixes)}",
        f"  actions   {', '.join(policy.actions)}",
        f"  duration  at most {format_duration(policy.max_duration)}",
        f"  approval  {approvals_needed(policy)}",
        f"  request   jitflow new {policy.name} NAME",
    ])


def run(args: argparse.Namespace) -> int:
    policy_set, problems = load_policies(args.policies, Path.cwd())
    errors = [p for p in problems if p.severity == "error"]
    found = covering(policy_set, args.bucket)
    if args.format == "json":
        print(json.dumps([policy_facts(p) for p in found], indent=2))
    elif found:
        print("\n\n".join(_text(p) for p in found))
    if errors:
        # A policy that could not be read might cover the bucket too: the answer is partial.
        print(render(errors, "text"), file=sys.stderr)
        print(f"jitflow: error: {len(errors)} problem(s) in the policies: the list above may "
              "be incomplete", file=sys.stderr)
        return 1
    if not found:
        what = f"bucket {args.bucket}" if args.bucket else "any bucket"
        print(f"jitflow: no policy covers {what}: ask an admin for one", file=sys.stderr)
        return 1
    return 0
