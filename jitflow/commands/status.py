"""`jitflow status`: the grants live in AWS, and anything that looks wrong."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitflow.breakglass import pending_reviews
from jitflow.clock import iso
from jitflow.commands.support import (
    add_audit_repo_argument,
    audit_location,
    default_branch_policies,
    now_of,
    open_engine,
    repo_root,
)
from jitflow.grants import expires_in
from jitflow.settings import load_settings
from jitflow.tree import FsTree

if TYPE_CHECKING:
    from jitflow.engine import GrantStatus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=None, metavar="DIR",
                        help="repository root (default: the one holding the current directory)")
    parser.add_argument("--at", metavar="TIME", help="the time to judge at (default: now)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_audit_repo_argument(parser)


def as_json(row: GrantStatus, now: datetime) -> dict[str, Any]:
    return {
        "account": row.account, "policy_arn": row.policy_arn, "request": row.request_id,
        "principal": row.principal, "expiry": iso(row.expiry) if row.expiry else None,
        "expires_in": expires_in(row.expiry, now) if row.expiry else None,
        "access": [{"resource": r, "actions": list(a)} for r, a in row.access],
        "problems": list(row.problems),
        "bucket": row.bucket, "session": row.session, "exempts": list(row.exempts),
    }


def as_text(rows: list[GrantStatus], now: datetime) -> str:
    if not rows:
        return "no grants"
    out: list[str] = []
    for row in rows:
        if row.exempts or (row.bucket and row.request_id is None):
            out.append(f"s3://{row.bucket}  {row.principal}")
            out += [f"    exempts {who}" for who in row.exempts]
            continue
        when = expires_in(row.expiry, now) if row.expiry else "?"
        when = when if when.startswith("expired") else f"expires in {when}"
        who = row.principal or "?"
        if row.session:
            who += f" (session {row.session} only)"
        where = f"  in the bucket policy of {row.bucket}" if row.bucket else ""
        out.append(f"{row.request_id or row.policy_arn}  {who}  {when}{where}")
        out += [f"    {resource}  {', '.join(actions)}" for resource, actions in row.access]
        out += [f"    PROBLEM {problem}" for problem in row.problems]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    root = repo_root(args)
    now = now_of(args)
    settings = load_settings(FsTree(root))
    branch = default_branch_policies(root, settings)
    with audit_location(args, root, settings, write=False).files() as log_dir:
        # Read-only: in other accounts it assumes the revoke role, which cannot grant.
        engine, _log = open_engine(root, settings, dry_run=True, verify=False,
                                   policies=branch[1] if branch else None, log_dir=log_dir,
                                   duty="revoke")
        # Outside a git checkout: grants are shown without the request-file check.
        rows = engine.status(now, *branch) if branch else engine.status(now)
        reviews = pending_reviews(engine.run.ledger.load())
    if args.format == "json":
        print(json.dumps([as_json(row, now) for row in rows], indent=2))
    else:
        print(as_text(rows, now))
        for due in reviews:
            print(due.text(now))
    overdue = any(due.overdue(now) for due in reviews)
    return 1 if overdue or any(row.problems for row in rows) else 0
