"""The exact IAM policy document a request would be granted, and how reviewers see it. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jitflow import actions as catalogue
from jitflow import markdown as md
from jitflow.bucketpolicy import ROLE_ID_PLACEHOLDER, Budget, Subject, grant_statements
from jitflow.clock import iso
from jitflow.durations import format_duration, humanize
from jitflow.model import Identities, Policy, Request

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
    """What a request is granted if applied at `applied_at`.

    identity-policy: `document` is the IAM managed policy. bucket-policy: `bucket_statements`
    holds each bucket's statements, `subject` the identity they admit, and `document` all
    of them in one list (what reviewers read and what is hashed)."""

    request: Request
    policy: Policy
    applied_at: datetime
    expiry: datetime
    document: dict[str, Any]
    risks: tuple[str, ...]
    bucket_statements: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    subject: Subject | None = None
    # A request with `not_before`: when the grant starts (the later of it and the apply);
    # every statement then also says `DateGreaterThan aws:CurrentTime` this.
    start: datetime | None = None

    @property
    def starts_at(self) -> datetime:
        return self.start or self.applied_at

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


def window_conditions(expiry: str, start: str | None) -> dict[str, dict[str, str]]:
    """AWS itself ends the access at `expiry`, even if no revoke job ever runs, and with a
    scheduled `start` does not begin it before then, whenever the grant was written."""
    conditions = {"DateLessThan": {"aws:CurrentTime": expiry}}
    if start is not None:
        conditions["DateGreaterThan"] = {"aws:CurrentTime": start}
    return conditions


def _allow(sid: str, actions: Sequence[str], resource: str, expiry: str,
           start: str | None) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resource,
        "Condition": window_conditions(expiry, start),
    }


def _statements(request: Request, expiry: str, start: str | None,
                partition: str) -> list[dict[str, Any]]:
    arn = f"arn:{partition}:s3:::"
    statements = []
    for index, entry in enumerate(request.access, start=1):
        by_kind: dict[str, list[str]] = {"object": [], "bucket": []}
        for name in entry.actions:
            info = catalogue.lookup(name)
            if info is not None and info.resource in by_kind:
                by_kind[info.resource].append(name)
        if by_kind["object"]:
            statements.append(
                _allow(f"Objects{index}", by_kind["object"],
                       f"{arn}{entry.bucket}/{entry.prefix}*", expiry, start)
            )
        if by_kind["bucket"]:
            statements.append(
                _allow(f"Bucket{index}", by_kind["bucket"], f"{arn}{entry.bucket}", expiry,
                       start)
            )
    return statements


def _deny_permissions_management(buckets: Sequence[str], partition: str) -> dict[str, Any]:
    resources = []
    for bucket in sorted(set(buckets)):
        resources += [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"]
    return {
        "Sid": "DenyPermissionsManagement",
        "Effect": "Deny",
        "Action": list(catalogue.scoped_permissions_management()),
        "Resource": resources,
    }


def approvals_needed(policy: Policy) -> str:
    """`needs 1 approval from @acme/data-platform, erin`: what a request under `policy` needs
    (a requirement, not a count of the approvals given)."""
    count = max(1, policy.min_approvals)
    owners = ", ".join(policy.approvers) or "(no approvers)"
    return f"needs {count} approval{'s' if count != 1 else ''} from {owners}"


def _principal_risks(request: Request, policy: Policy) -> list[str]:
    found = []
    fields = request.principal.split(":", 5)
    kind = fields[5].split("/", 1)[0] if len(fields) == 6 else ""
    if kind == "user":
        found.append("IAM user principal: its access keys are long-lived, so whoever holds "
                     "them gets this grant (a role's credentials expire)")
    if len(fields) == 6 and fields[4] != policy.account:
        found.append(f"principal in another account ({fields[4]}) than the policy's "
                     f"({policy.account})")
    return found


def risks_of(request: Request, policy: Policy) -> tuple[str, ...]:
    found = _principal_risks(request, policy)
    if request.duration * 2 > policy.max_duration:
        found.append(f"long: {format_duration(request.duration)} is over half the policy's "
                     f"maximum of {format_duration(policy.max_duration)}")
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
    persistent = sorted(n for n in names if (i := catalogue.lookup(n)) and i.configures_bucket)
    if persistent:
        found.append(f"persistent: {', '.join(persistent)} change the bucket itself; the "
                     "change stays after the grant ends")
    return tuple(found)


def subject_for(request: Request, policy: Policy, identities: Identities,
                unique_id: str | None = None, partition: str = "aws") -> Subject:
    """Who a bucket-policy grant of `request` admits: its principal, narrowed to the
    requester's session when identities.yaml names one."""
    identity = identities.identity(request.requester, request.principal, policy.account)
    session = identity.session if identity is not None else None
    return Subject(request.principal, policy.account, session, unique_id, partition)


def build_plan(request: Request, policy: Policy, applied_at: datetime,
               subject: Subject | None = None, *, partition: str = "aws") -> Plan:
    """The grant for `request` applied at `applied_at` (the caller validated the request),
    its ARNs in `partition` (`Settings.partition`).

    A bucket-policy plan admits `subject` (default: the whole principal, no session), which
    must be in the same partition.

    The grant lasts `request.duration` from its start: the apply, or `not_before` when that
    is later; a request with `not_before` says its start in every statement."""
    if policy.in_bucket_policy:
        subject = subject or Subject(request.principal, policy.account, partition=partition)
        if subject.partition != partition:
            raise ValueError(f"the subject is in partition {subject.partition}, the plan in "
                             f"{partition}")
        return _bucket_plan(request, policy, applied_at, subject)
    start = scheduled_start(request, applied_at)
    expiry = request.start(applied_at) + request.duration
    statements = _statements(request, iso(expiry), iso(start) if start else None, partition)
    if not policy.permissions_management:
        statements.append(
            _deny_permissions_management([e.bucket for e in request.access], partition))
    document = {"Version": "2012-10-17", "Statement": statements}
    return Plan(request, policy, applied_at, expiry, document, risks_of(request, policy),
                start=start)


def scheduled_start(request: Request, applied_at: datetime) -> datetime | None:
    """The start a request with `not_before` puts in its statements; None without one."""
    return None if request.not_before is None else request.start(applied_at)


def _bucket_plan(request: Request, policy: Policy, applied_at: datetime,
                 subject: Subject) -> Plan:
    start = scheduled_start(request, applied_at)
    expiry = request.start(applied_at) + request.duration
    per_bucket = grant_statements(request, subject, expiry, start)
    statements = [s for bucket in per_bucket.values() for s in bucket]
    document = {"Version": "2012-10-17", "Statement": statements}
    return Plan(request, policy, applied_at, expiry, document, risks_of(request, policy),
                {bucket: tuple(items) for bucket, items in per_bucket.items()}, subject,
                start)


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
        "not_before": iso(request.not_before) if request.not_before else None,
        "starts": iso(plan.starts_at),
        "expiry": iso(plan.expiry),
        "access": [
            {"bucket": e.bucket, "prefix": e.prefix, "actions": list(e.actions)}
            for e in request.access
        ],
        "approvers": list(plan.policy.approvers),
        "min_approvals": plan.policy.min_approvals,
        "risks": list(plan.risks),
        "grant": plan.policy.grant,
        "document": plan.document,
        **_bucket_summary(plan),
    }


def _bucket_summary(plan: Plan) -> dict[str, Any]:
    subject = plan.subject
    if subject is None:
        return {}
    return {
        "bucket_policy_statements": {b: list(s) for b, s in plan.bucket_statements.items()},
        "admits": {
            "principal": subject.principal,
            "session": subject.session,
            "userid": subject.userid,
            "role_id": subject.unique_id,
        },
        "notes": [note for note in (admits_note(plan),) if note],
    }


def admits_note(plan: Plan, offline_hint: bool = True) -> str:
    """One sentence on who the bucket statements admit, and what is still to be filled in."""
    subject = plan.subject
    if subject is None:
        return ""
    who = (f"only the session {subject.session} of {subject.principal}"
           if subject.session else f"every session of {subject.principal}")
    if subject.session and subject.unique_id is None and offline_hint:
        who += (f" ({ROLE_ID_PLACEHOLDER} is the role's RoleId, read with iam:GetRole at "
                "apply; this plan was made offline)")
    return f"admits {who}"


def render_text(plan: Plan, budgets: Sequence[Budget] = ()) -> str:
    request = plan.request
    policy = plan.policy
    lines = [
        f"request   {request.id}  ({request.path})",
        f"requester {request.requester}",
        f"principal {request.principal}",
        f"grant     {policy.grant}",
        f"duration  {format_duration(request.duration)} (policy: at most "
        f"{format_duration(policy.max_duration)}), {window_text(plan)}",
        f"approval  {approvals_needed(policy)}",
    ]
    if plan.subject is not None:
        lines.append(f"admits    {admits_note(plan).removeprefix('admits ')}")
    lines += [
        f"access    s3://{e.bucket}/{e.prefix}  {', '.join(e.actions)}" for e in request.access
    ]
    lines.append(f"policy    {policy.name} allows buckets {', '.join(policy.buckets)}; prefixes "
                 f"{', '.join(repr(p) if p == '' else p for p in policy.prefixes)}; actions "
                 f"{', '.join(policy.actions)}")
    lines += [f"size      {budget.text()}" for budget in budgets]
    lines += [f"RISK      {risk}" for risk in plan.risks]
    if plan.subject is None:
        lines.append(json.dumps(plan.document, indent=2))
    for bucket, statements in plan.bucket_statements.items():
        lines.append(f"statements for the bucket policy of {bucket}:")
        lines.append(json.dumps(list(statements), indent=2))
    return "\n".join(lines)


def render_markdown(plan: Plan, budgets: Sequence[Budget] = ()) -> str:
    request = plan.request
    rows = [
        ("Request", md.code(request.id)),
        ("Requester", md.text(request.requester)),
        ("Principal", md.code(request.principal)),
        ("Granted in", _granted_in(plan)),
        ("Reason", md.text(request.reason)),
        ("Ticket", md.text(request.ticket or "-")),
        ("Duration", _duration_cell(plan)),
        ("Approval", md.text(approvals_needed(plan.policy))),
    ]
    rows += [("Bucket policy size", md.text(b.text())) for b in budgets]
    out = [f"### Access request {md.code(request.id)}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    out += ["", "| Bucket | Prefix | Actions |", "|---|---|---|"]
    out += [
        f"| {md.code(e.bucket)} | {md.code(e.prefix) if e.prefix else '(whole bucket)'} | "
        f"{', '.join(e.actions)} |"
        for e in request.access
    ]
    out += _limits(plan)
    if plan.risks:
        out += ["", "**Risk flags**", ""] + [f"- :warning: {md.text(r)}" for r in plan.risks]
    if plan.subject is None:
        out += _details("Exact IAM policy document", plan.document)
    for bucket, statements in plan.bucket_statements.items():
        out += _details(f"Exact statements for the bucket policy of {bucket}", list(statements))
    return "\n".join(out)


def window_text(plan: Plan) -> str:
    """When the grant begins and ends, for people: `until E (in 2h from apply)`, or with a
    scheduled start `from S (not_before; in 3d from apply) until E`."""
    ends = f"until {iso(plan.expiry)}"
    if plan.start is None:
        return f"{ends} ({humanize(plan.expiry - plan.applied_at)} from apply)"
    if plan.start > plan.applied_at:
        return (f"from {iso(plan.start)} (not_before; {humanize(plan.start - plan.applied_at)}"
                f" from apply) {ends}")
    return f"from the apply (not_before {iso(plan.request.not_before or plan.start)} has " \
           f"passed) {ends}"


def _duration_cell(plan: Plan) -> str:
    duration = format_duration(plan.request.duration)
    if plan.request.not_before is None:
        return (f"{duration} from the moment it is applied (plan shown for apply at "
                f"{iso(plan.applied_at)}: until {iso(plan.expiry)})")
    return (f"{duration} from {iso(plan.request.not_before)} (not_before), or from the apply "
            f"if that is later (plan shown for apply at {iso(plan.applied_at)}: "
            f"{md.text(window_text(plan))})")


def _limits(plan: Plan) -> list[str]:
    """What is asked beside what the policy allows at most."""
    request, policy = plan.request, plan.policy

    def codes(values: Iterable[str]) -> str:
        return ", ".join(md.code(v) if v else "(whole bucket)" for v in dict.fromkeys(values))

    rows = [
        ("Duration", md.text(format_duration(request.duration)),
         f"at most {md.text(format_duration(policy.max_duration))}"),
        ("Buckets", codes(e.bucket for e in request.access), codes(policy.buckets)),
        ("Prefixes", codes(e.prefix for e in request.access),
         "under " + codes(policy.prefixes)),
        ("Actions", ", ".join(dict.fromkeys(a for e in request.access for a in e.actions)),
         ", ".join(policy.actions)),
    ]
    return ["", f"| | Asked | Policy {md.code(policy.name)} allows |", "|---|---|---|",
            *[f"| {name} | {asked} | {allowed} |" for name, asked, allowed in rows]]


def _granted_in(plan: Plan) -> str:
    if plan.subject is None:
        return "an IAM policy attached to the principal"
    buckets = ", ".join(md.code(b) for b in plan.bucket_statements)
    return f"the bucket policy of {buckets}; {md.text(admits_note(plan))}"


def _details(summary: str, value: Any) -> list[str]:
    return ["", f"<details><summary>{md.text(summary)}</summary>", "", "```json",
            json.dumps(value, indent=2), "```", "", "</details>", ""]
