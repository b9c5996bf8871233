"""The comments jitflow apply leaves on a merged pull request: granted, or not; a deletion
that was not revoked. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from jitflow import markdown as md
from jitflow.clock import iso
from jitflow.durations import humanize
from jitflow.plan import admits_note

if TYPE_CHECKING:
    from jitflow.engine import Outcome
    from jitflow.model import Policy
    from jitflow.pr.merge import VerifiedMerge


def granted_comment(outcome: Outcome, merge: VerifiedMerge, now: datetime) -> str:
    plan = next(p for p in merge.result.plans if p.request.id == outcome.request_id)
    request = plan.request
    where = (f"- **Policy:** {md.code(outcome.policy_arn)}" if not outcome.buckets else
             f"- **In the bucket policy of:** {', '.join(md.code(b) for b in outcome.buckets)}"
             f"; it {md.text(admits_note(plan, offline_hint=False))}")
    lines = [
        f"### :unlock: Granted {md.code(request.id)}",
        "",
        *_break_glass_badge(plan.policy, merge, request.id),
        f"- **Principal:** {md.code(request.principal)}",
        f"- **Until:** {iso(now + request.duration)} ({humanize(request.duration)}); AWS ends "
        "the access at that second by itself.",
        where,
        "",
        "| Bucket | Prefix | Actions |",
        "|---|---|---|",
    ]
    lines += [
        f"| {md.code(e.bucket)} | {md.code(e.prefix)} | {', '.join(e.actions)} |"
        for e in request.access
    ]
    first = request.access[0]
    session = plan.subject.session if plan.subject is not None else None
    who = (f"signed in as {md.code(session)} on that role (the usual way: IAM Identity Center "
           "or the role's own sign-in); nobody else on the role can use it"
           if session else "with the principal's usual credentials")
    lines += [
        "",
        f"Use it {who}, e.g. `aws s3 cp FILE "
        f"s3://{first.bucket}/{first.prefix}FILE`. Give it back early by deleting "
        f"{md.code(request.path)} in a new pull request.",
    ]
    return "\n".join(lines)


def _break_glass_badge(policy: Policy, merge: VerifiedMerge, request_id: str) -> list[str]:
    """A break-glass grant says so first, and @-mentions the approvers it skipped and the
    reviewers who owe its review: GitHub notifies each of them."""
    status = merge.result.approvals.get(request_id)
    terms = policy.break_glass
    if status is None or not status.break_glass or terms is None:
        return []
    due = iso(merge.merged_at + terms.review_within)
    skipped = " ".join(f"@{md.text(a.removeprefix('@'))}" for a in policy.approvers)
    reviewers = " ".join(f"@{md.text(r.removeprefix('@'))}" for r in terms.reviewers)
    merger = md.text(", ".join(status.approved_by) or "?")
    return [
        f"> [!CAUTION]\n> :rotating_light: **BREAK-GLASS**: granted without approvals, on the "
        f"merge by @{merger}. Skipped approvers: {skipped}.\n> Post-hoc review due by "
        f"{due}: one of {reviewers} approves this merged pull request, or the revoke job fails "
        "until one does.",
        "",
    ]


def rejected_comment(reason: str) -> str:
    return (
        f"### :no_entry: jitflow did not grant this request\n\n{md.text(reason)}\n\nNothing was "
        "changed in AWS. Fix the cause and open a new pull request with a new request file."
    )


def unrevoked_comment(request_id: str, reason: str) -> str:
    return (
        f"### :no_entry: jitflow did not revoke {md.code(request_id)}\n\n{md.text(reason)}\n\n"
        "This run left its grant as it is in AWS. Deleting another "
        "person's request changes their access, so it needs the approvals its policy gives a "
        "grant; only the requester may give their own access back without them."
    )
