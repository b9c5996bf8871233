"""Reconcile: what IAM holds against what the default branch and the approvals say.

An orphan (no request file, a changed document, tags that do not match, more holders than
the request's principal, no approval) is revoked at once; an approved grant whose record was
lost (a crash between AWS and the log) gets its record back, marked reconciled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jitflow import grants
from jitflow.audit.record import AuditRecord
from jitflow.engine.apply import granted_details, matching_plan
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import Check, IamPort, request_paths
from jitflow.engine.removal import end_grant
from jitflow.engine.run import Run
from jitflow.errors import Rejected
from jitflow.grants import Entities, Grant, GrantTags
from jitflow.loader import load_and_check
from jitflow.model import Policy, Request
from jitflow.plan import document_sha256


@dataclass(frozen=True)
class _Judged:
    """Why a live grant is an orphan (`reason`), or the request and tags it matches."""

    reason: str | None
    request: Request | None = None
    policy: Policy | None = None
    tags: GrantTags | None = None


class Reconciler:
    def __init__(self, run: Run) -> None:
        self.run = run

    def account(self, iam: IamPort, account: str, swept: grants.Sweep, check: Check,
                now: datetime) -> list[Outcome]:
        results = [
            end_grant(self.run, iam, "orphan_revoked", bad, account=account,
                      request_id=grants.request_id_from_name(bad.name) or "", expiry=None,
                      now=now, reason="not a jitflow grant name or path")
            for bad in swept.malformed
        ]
        open_grants = self.run.ledger.open_grants(account)
        for grant in swept.live:
            results.append(self._one(iam, grant, account, check,
                                     opened=open_grants.get(grant.request_id), now=now))
        return results

    def _one(self, iam: IamPort, grant: Grant, account: str, check: Check, *,
             opened: AuditRecord | None, now: datetime) -> Outcome:
        judged = self._judge(iam, grant, check)
        reason = judged.reason
        if reason is None and opened is not None and opened.policy_arn != grant.arn:
            if grant.listed.attachment_count == 0:  # a failed apply's leftover: grants nothing
                return Outcome("kept", grant.request_id, account, grant.arn)
            reason = "another grant of this request is on record"
        if reason is None and opened is None:
            unrecorded = self._unrecorded(iam, grant, account, check, judged=judged, now=now)
            if isinstance(unrecorded, Outcome):
                return unrecorded
            reason = unrecorded
        if reason is not None:
            return end_grant(self.run, iam, "orphan_revoked", grant.listed, account=account,
                             request_id=grant.request_id, expiry=grant.expiry, now=now,
                             reason=reason)
        return Outcome("kept", grant.request_id, account, grant.arn)

    def _unrecorded(self, iam: IamPort, grant: Grant, account: str, check: Check, *,
                    judged: _Judged, now: datetime) -> Outcome | str | None:
        """A live grant with no open record: record it when its merge re-verifies, else say
        why it is an orphan."""
        request, policy = judged.request, judged.policy
        if request is None or policy is None:
            return None
        plan = matching_plan(request, policy, judged.tags, self.run.settings.partition)
        if plan is None:
            return "it does not match the request on the default branch"
        if plan.starts_at > request.start(now):
            # Tagged by hand with a later expiry than any apply up to now (and its scheduled
            # start) could give.
            return "its expiry is later than the request's duration from any apply so far"
        principal = grants.parse_principal(request.principal)
        if grant.arn not in {arn for _n, arn in iam.list_attached(principal)}:
            # A failed apply's leftover: grants nothing; the next apply or the expiry sweep
            # removes it.
            return Outcome("kept", grant.request_id, account, grant.arn)
        try:
            approval = check.source.approval_for(request, policy)
        except Rejected as error:
            return f"not approved: {error.message}"
        if not self.run.dry_run:
            details = granted_details(plan, approval, grant.arn)
            self.run.ledger.record("granted", now, **{**details, "reconciled": True})
        return self.run.done(Outcome(
            "reconciled", grant.request_id, account, grant.arn,
            "approved grant without a record; record written", dry_run=self.run.dry_run))

    def _judge(self, iam: IamPort, grant: Grant, check: Check) -> _Judged:
        branch = self.run.settings.default_branch
        request = None
        for path in request_paths(grant.request_id):
            if check.tree.read(path) is not None:
                request, problems = load_and_check(check.tree, path, check.policies,
                                                   self.run.settings.partition)
                if request is None or any(p.severity == "error" for p in problems):
                    return _Judged(f"{path} on {branch} is not valid")
                break
        if request is None:
            return _Judged(f"no request file for it on {branch}")
        policy = check.policies.policies.get(request.policy)
        if policy is None:  # pragma: no cover - check_request reports it first
            return _Judged(f"policy {request.policy} does not exist")
        raw_tags, version = iam.get_policy(grant.arn)
        tags = grants.parse_tags(raw_tags)
        reason = _evidence_problem(iam, grant, request, tags, version)
        return _Judged(reason) if reason else _Judged(None, request, policy, tags)


def _evidence_problem(iam: IamPort, grant: Grant, request: Request,
                      tags: GrantTags | None, version: str) -> str | None:
    """What in AWS contradicts the grant's name, its request or its recorded document."""
    if tags is None:
        return "its evidence tags are missing or malformed"
    if tags.request != grant.request_id or tags.expiry != grant.expiry:
        return "its tags do not match its name and path"
    if tags.principal != request.principal:
        return "its principal is not the request's principal"
    if document_sha256(iam.get_document(grant.arn, version)) != tags.sha256:
        return "its document no longer matches its sha256 tag"
    if grant.listed.attachment_count > 1:
        principal = grants.parse_principal(request.principal)
        expected = Entities(roles=(principal.name,)) if principal.kind == "role" else \
            Entities(users=(principal.name,))
        if iam.list_entities(grant.arn) != expected:
            return "it is attached to more than the request's principal"
    return None

