"""The exact IAM policy document a request would be granted, and how reviewers see it. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jitflow import actions as catalogue
from jitflow import markdown as md
from jitflow.clock import iso
from jitflow.durations import format_duration, humanize
from jitflow.model import AccessEntry, Policy, Request

DESTRUCTIVE = frozenset(
    {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
        "s3:DeleteBucket",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    }
)


@dataclass(frozen=True)
class Plan:
    request: Request
    policy: Policy
    applied_at: datetime
    expiry: datetime
    document: dict[str, Any]
    risks: tuple[str, ...]

    def document_json(self) -> str:
        """Compact canonical JSON: exactly what is uploaded to IAM and hashed in the tags."""
        return canonical_json(self.document)


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def document_sha256(document_json: str) -> str:
    return hashlib.sha256(document_json.encode("utf-8")).hexdigest()


def document_size(document: dict[str, Any]) -> int:
    """Size as IAM counts it for the managed-policy quota: characters, whitespace excluded."""
    return len(canonical_json(document))


def _object_arn(entry: AccessEntry) -> str:
    return f"arn:aws:s3:::{entry.bucket}/{entry.prefix}*"


def _allow(sid: str, actions: Sequence[str], resource: str, expiry: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resource,
        # AWS itself ends the access at this second, even if no revoke job ever runs.
        "Condition": {"DateLessThan": {"aws:CurrentTime": expiry}},
    }


def _statements(request: Request, expiry: str) -> list[dict[str, Any]]:
    statements = []
    for index, entry in enumerate(request.access, start=1):
        by_kind: dict[str, list[str]] = {"object": [], "bucket": []}
        for name in entry.actions:
            info = catalogue.lookup(name)
            if info is not None and info.resource in by_kind:
                by_kind[info.resource].append(name)
        if by_kind["object"]:
            statements.append(
                _allow(f"Objects{index}", by_kind["object"], _object_arn(entry), expiry)
            )
        if by_kind["bucket"]:
            statements.append(
                _allow(f"Bucket{index}", by_kind["bucket"], f"arn:aws:s3:::{entry.bucket}", expiry)
            )
    return statements


def _deny_permissions_management(buckets: Sequence[str]) -> dict[str, Any]:
    resources = []
    for bucket in sorted(set(buckets)):
        resources += [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    return {
        "Sid": "DenyPermissionsManagement",
        "Effect": "Deny",
        "Action": list(catalogue.scoped_permissions_management()),
        "Resource": resources,
    }


def risks_of(request: Request, policy: Policy) -> tuple[str, ...]:
    found = []
    names = {a for e in request.access for a in e.actions}
    destructive = sorted(names & DESTRUCTIVE)
    if destructive:
        found.append(f"destructive actions: {', '.join(destructive)}")
    whole = sorted({e.bucket for e in request.access if e.prefix == ""})
    if whole:
        found.append(f"whole-bucket scope: {', '.join(whole)}")
    managing = sorted(n for n in names if (i := catalogue.lookup(n)) and i.manages_permissions)
    if managing:
        found.append(f"permissions management: {', '.join(managing)}")
    return tuple(found)


def build_plan(request: Request, policy: Policy, applied_at: datetime) -> Plan:
    """The grant for `request` applied at `applied_at` (the caller validated the request)."""
    expiry = applied_at + request.duration
    statements = _statements(request, iso(expiry))
    if not policy.permissions_management:
        statements.append(_deny_permissions_management([e.bucket for e in request.access]))
    document = {"Version": "2012-10-17", "Statement": statements}
    return Plan(request, policy, applied_at, expiry, document, risks_of(request, policy))


def plan_summary(plan: Plan) -> dict[str, Any]:
    """The reviewer-facing facts of a plan as plain data (JSON output, PR comments)."""
    request = plan.request
    return {
        "request": request.id,
        "requester": request.requester,
        "principal": request.principal,
        "account": plan.policy.account,
        "reason": request.reason,
        "ticket": request.ticket,
        "duration": format_duration(request.duration),
        "applied_at": iso(plan.applied_at),
        "expiry": iso(plan.expiry),
        "access": [
            {"bucket": e.bucket, "prefix": e.prefix, "actions": list(e.actions)}
            for e in request.access
        ],
        "approvers": list(plan.policy.approvers),
        "min_approvals": plan.policy.min_approvals,
        "risks": list(plan.risks),
        "document": plan.document,
    }


def render_text(plan: Plan) -> str:
    request = plan.request
    lines = [
        f"request   {request.id}  ({request.path})",
        f"requester {request.requester}",
        f"principal {request.principal}",
        f"duration  {format_duration(request.duration)}, until {iso(plan.expiry)} "
        f"({humanize(plan.expiry - plan.applied_at)} from apply)",
        f"approvals {plan.policy.min_approvals} of {', '.join(plan.policy.approvers)}",
    ]
    lines += [
        f"access    s3://{e.bucket}/{e.prefix}  {', '.join(e.actions)}" for e in request.access
    ]
    lines += [f"RISK      {risk}" for risk in plan.risks]
    lines.append(json.dumps(plan.document, indent=2))
    return "\n".join(lines)


def render_markdown(plan: Plan) -> str:
    request = plan.request
    rows = [
        ("Request", md.code(request.id)),
        ("Requester", md.text(request.requester)),
        ("Principal", md.code(request.principal)),
        ("Reason", md.text(request.reason)),
        ("Ticket", md.text(request.ticket or "-")),
        (
            "Duration",
            f"{format_duration(request.duration)} from the moment it is applied "
            f"(plan shown for apply at {iso(plan.applied_at)}: until {iso(plan.expiry)})",
        ),
        (
            "Approvals needed",
            f"{plan.policy.min_approvals} of {md.text(', '.join(plan.policy.approvers))}",
        ),
    ]
    out = [f"### Access request {md.code(request.id)}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", "| Bucket | Prefix | Actions |", "|---|---|---|"]
    out += [
        f"| {md.code(e.bucket)} | {md.code(e.prefix) if e.prefix else '(whole bucket)'} | "
        f"{', '.join(e.actions)} |"
        for e in request.access
    ]
    if plan.risks:
        out += ["", "**Risk flags**", ""] + [f"- :warning: {md.text(r)}" for r in plan.risks]
    out += [
        "",
        "<details><summary>Exact IAM policy document</summary>",
        "",
        "```json",
        json.dumps(plan.document, indent=2),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)
