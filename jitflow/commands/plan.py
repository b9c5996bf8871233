"""`jitflow plan`: the exact policy each valid request would be granted, and for a policy
file the read-only baseline each of its buckets would hold."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from jitflow.audit.record import AuditRecord
from jitflow.audit.store import AuditLog
from jitflow.auditrepo import given_checkout, locate
from jitflow.bucketpolicy import Budget, baseline_statement
from jitflow.budget import budgets, last_sizes
from jitflow.clock import parse_time, system_clock
from jitflow.commands.support import (
    add_policies_argument,
    judge_files,
    load_policies,
    partition_near,
    request_files,
)
from jitflow.errors import ConfigError, InvalidInput
from jitflow.model import PolicySet, Request, Settings
from jitflow.overlap import already_live, live_grants
from jitflow.plan import Plan, build_plan, plan_summary, render_markdown, render_text, subject_for
from jitflow.settings import SETTINGS_FILE, load_settings
from jitflow.tree import FsTree, find_repo_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policies_argument(parser)
    parser.add_argument("--at", metavar="TIME", help="apply time (ISO 8601; default: now)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="request files or folders; or policy files (policies/<name>.yaml) "
                        "to see the read-only baseline they write")


def run(args: argparse.Namespace) -> int:
    applied_at = parse_time(args.at) if args.at else system_clock()
    policy_files = [p for p in args.paths if p.is_file() and p.parent.name == "policies"]
    request_paths = [p for p in args.paths if p not in policy_files]
    if policy_files and not request_paths:
        return _baselines(args, policy_files)
    files = request_files(request_paths)
    policy_set, requests, problems = judge_files(files, args.policies)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(problems, f"{len(errors)} error(s): no plan is shown for invalid input")
    partition = partition_near(args.policies, files[0] if files else Path.cwd())
    records = _records(request_paths[0] if request_paths else Path.cwd())
    live = live_grants(records).values()
    plans = [_plan(r, policy_set, applied_at, partition) for r in requests]
    plans = [replace(p, risks=p.risks + already_live(p, live)) for p in plans]
    sizes = last_sizes(AuditRecord.from_json(r) for r in records)
    shown = [(plan, budgets(plan, sizes)) for plan in plans]
    if args.format == "json":
        print(json.dumps([{**plan_summary(p), **_budget_json(b)} for p, b in shown], indent=2))
    elif args.format == "markdown":
        print("\n".join(render_markdown(p, b) for p, b in shown))
    else:
        print("\n\n".join(render_text(p, b) for p, b in shown))
    return 0


def _plan(request: Request, policy_set: PolicySet, applied_at: datetime, partition: str
          ) -> Plan:
    policy = policy_set.policies[request.policy]
    subject = subject_for(request, policy, policy_set.identities, partition=partition) \
        if policy.in_bucket_policy else None
    return build_plan(request, policy, applied_at, subject, partition=partition)


def _budget_json(found: list[Budget]) -> dict[str, Any]:
    if not found:
        return {}
    return {"bucket_policy_budget": {
        b.bucket: {"adds": b.adds, "recorded": b.current, "recorded_at": b.seen_at,
                   "estimate": b.total, "limit": 20480} for b in found}}


def _records(anchor: Path) -> list[dict[str, Any]]:
    """The audit log's records (for the size estimate and the grants already live), or none
    when there is none: on the audit branch (JITFLOW_AUDIT_REPO, else the clone's
    origin/<audit_branch>), else in the working tree (jitflow.auditrepo)."""
    try:
        root = find_repo_root(anchor)
        settings = _settings(root) or Settings(admins=(), accounts={})
        with locate(root, settings, given_checkout(None), write=False).files() as directory:
            if not directory.is_dir():
                return []
            records = [dict(r) for r in AuditLog(directory).records()]
        for record in records:
            AuditRecord.from_json(record)  # a malformed log gives no estimate at all
        return records
    except Exception:
        return []


def _settings(root: Path) -> Settings | None:
    if not (root / SETTINGS_FILE).is_file():
        return None
    try:
        return load_settings(FsTree(root))
    except ConfigError:
        return None


def _baselines(args: argparse.Namespace, files: list[Path]) -> int:
    """What `enforce_read_only` writes into each bucket of each policy file given."""
    policy_set, problems = load_policies(args.policies, files[0])
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(problems, f"{len(errors)} error(s) in the policies")
    settings = _settings(find_repo_root(files[0]))
    partition = partition_near(args.policies, files[0])
    out: list[dict[str, Any]] = []
    for path in files:
        policy = policy_set.policies.get(path.stem)
        if policy is None or not (policy.in_bucket_policy and policy.enforce_read_only):
            out.append({"policy": path.stem, "baseline_statements": {},
                        "note": "no read-only baseline (grant: bucket-policy and "
                        "enforce_read_only: true write one)"})
            continue
        exempt = (settings.baseline_exempt.get(policy.account, ()) if settings else ())
        out.append({"policy": policy.name, "baseline_statements": {
            bucket: baseline_statement(policy, bucket, [*exempt, *policy.standing_writers], [],
                                       partition)
            for bucket in policy.buckets},
            "note": "sessions holding a live grant are added to the exemptions when granted"})
    if args.format == "json":
        print(json.dumps(out, indent=2))
    else:
        for item in out:
            print(f"policy {item['policy']}: {item['note']}")
            for bucket, statement in item["baseline_statements"].items():
                print(f"baseline in the bucket policy of {bucket}:")
                print(json.dumps(statement, indent=2))
    return 0
