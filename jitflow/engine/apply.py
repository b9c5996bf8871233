"""Granting approved requests as IAM managed policies (grant mode `identity-policy`).

Fails closed: no approval, no grant. Ordered so that a failure at any call leaves a safe
state (a created-but-unattached policy grants nothing) that the next run completes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jitflow import grants
from jitflow.audit.record import AuditRecord
from jitflow.clock import iso
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import Approval, ApprovalSource, IamPort
from jitflow.engine.removal import remove_policy
from jitflow.engine.run import Run
from jitflow.errors import Rejected
from jitflow.grants import EntityExistsError, GrantTags, NoSuchEntityError, Principal
from jitflow.model import Policy, Request
from jitflow.plan import Plan, build_plan, document_sha256


def access_summary(request: Request) -> list[dict[str, Any]]:
    return [{"bucket": e.bucket, "prefix": e.prefix, "actions": list(e.actions)}
            for e in request.access]


def granted_details(plan: Plan, approval: Approval, arn: str) -> dict[str, Any]:
    request = plan.request
    return {
        "request": request.id, "requester": request.requester,
        "principal": request.principal, "account": plan.policy.account,
        "access": access_summary(request), "expiry": iso(plan.expiry),
        **approval.record_facts(), "policy_arn": arn, "starts": starts_of(plan),
    }


def starts_of(plan: Plan) -> str | None:
    """What a `granted` record says of a scheduled start (None: from the record's time)."""
    return iso(plan.start) if plan.start is not None else None


def window_detail(plan: Plan) -> str:
    """An outcome's `until E`, or `from S until E` for a scheduled start."""
    if plan.start is None or plan.start <= plan.applied_at:
        return f"until {iso(plan.expiry)}"
    return f"from {iso(plan.start)} until {iso(plan.expiry)}"


def matching_plan(request: Request, policy: Policy, tags: GrantTags | None,
                  partition: str = "aws") -> Plan | None:
    """The plan this grant was built from, if its tags say it is exactly this request's."""
    if tags is None or tags.request != request.id or tags.principal != request.principal:
        return None
    plan = build_plan(request, policy, tags.expiry - request.duration, partition=partition)
    return plan if document_sha256(plan.document_json()) == tags.sha256 else None


def checked_approval(request: Request, policy: Policy, source: ApprovalSource) -> Approval:
    """The request's approval, refused unless it names this request and its approvers."""
    approval = source.approval_for(request, policy)
    if approval.request_id != request.id:
        raise Rejected(f"{request.id}: the approval found is for {approval.request_id}")
    if not approval.approvers and not approval.break_glass:
        raise Rejected(f"{request.id}: no approvers on record: nothing is granted")
    return approval


def refuse_replay(request: Request, history: Iterable[AuditRecord]) -> None:
    if any(record.ends_grant for record in history):
        raise Rejected(f"{request.id} was granted before and that grant has ended: "
                       "a request is granted once (no replay); file a new request")


class Applier:
    """`jitflow apply` for identity-policy grants: one managed policy per request."""

    def __init__(self, run: Run) -> None:
        self.run = run

    @property
    def partition(self) -> str:
        return self.run.settings.partition

    def apply(self, request: Request, policy: Policy, source: ApprovalSource,
              now: datetime) -> Outcome:
        """Grant one approved request."""
        approval = checked_approval(request, policy, source)
        principal = self._principal(request, policy)
        history = self.run.ledger.history(request.id)
        refuse_replay(request, history)
        iam = self.run.accounts.iam(policy.account, request.id)
        opened = self.run.ledger.open_grant(request.id)
        if opened is not None:
            return self.run.done(self._confirm(iam, request, policy, opened, now))
        plan = build_plan(request, policy, now, partition=self.partition)
        name = grants.policy_name(request.id)
        # One read gives both the quota and the crash check (a grant attached by a run that
        # died before its audit record): ListAttached{Role,User}Policies.
        attached = iam.list_attached(principal)
        mine = [arn for attached_name, arn in attached if attached_name == name]
        if mine:
            return self.run.done(self._adopt(iam, request, policy, approval=approval,
                                             arn=mine[0], now=now))
        self._check_quota(request, len(attached))
        tags = _tags(plan, approval)
        if self.run.dry_run:
            return self.run.done(Outcome(
                "granted", request.id, policy.account,
                grants.policy_arn(policy.account, plan.expiry, request.id, self.partition),
                window_detail(plan), dry_run=True))
        return self.run.done(self._create_and_attach(
            iam, plan, approval, principal=principal, tags=tags, now=now))

    def _principal(self, request: Request, policy: Policy) -> Principal:
        try:
            principal = grants.parse_principal(request.principal)
        except ValueError as error:
            raise Rejected(f"{request.id}: {error}") from None
        if principal.partition != self.partition:
            raise Rejected(f"{request.id}: principal {request.principal} is in partition "
                           f"{principal.partition}, but jitflow grants in partition "
                           f"{self.partition} (the partition of the region in jitflow.yaml)")
        if principal.account != policy.account:
            raise Rejected(f"{request.id}: principal {request.principal} is not in account "
                           f"{policy.account} of policy {policy.name}")
        if policy.account not in self.run.settings.accounts:
            raise Rejected(f"{request.id}: account {policy.account} is not in jitflow.yaml")
        return principal

    def _check_quota(self, request: Request, attached: int) -> None:
        quota = self.run.settings.attached_policy_quota
        if attached >= quota:
            raise Rejected(f"{request.id}: {request.principal} already has {attached} "
                           f"managed policies attached (quota {quota}); wait for a grant to end "
                           "or detach one")

    def _create_and_attach(self, iam: IamPort, plan: Plan, approval: Approval, *,
                           principal: Principal, tags: list[dict[str, str]],
                           now: datetime) -> Outcome:
        request, policy = plan.request, plan.policy
        name, path = grants.policy_name(request.id), grants.policy_path(plan.expiry)
        try:
            arn = iam.create_policy(name, path, plan.document_json(), tags)
        except EntityExistsError:
            # Left by a run that failed before attaching: it never granted anything. Remove it
            # and start clean, so the duration counts from this (successful) apply.
            stale = [p for p in iam.list_jitflow_policies() if p.name == name]
            if not stale:
                raise Rejected(f"{request.id}: an IAM policy named {name} exists outside "
                               "/jitflow/; remove it by hand") from None
            if stale[0].attachment_count:  # attached since our look: a concurrent apply's
                return self._adopt(iam, request, policy, approval=approval,
                                   arn=stale[0].arn, now=now)
            remove_policy(iam, stale[0])
            arn = iam.create_policy(name, path, plan.document_json(), tags)
        iam.attach(principal, arn)
        self.run.ledger.record("granted", now, **granted_details(plan, approval, arn))
        return Outcome("granted", request.id, policy.account, arn, window_detail(plan))

    def _confirm(self, iam: IamPort, request: Request, policy: Policy,
                 opened: AuditRecord, now: datetime) -> Outcome:
        """Applying an already granted request: a no-op while the same grant is live."""
        arn = opened.policy_arn or ""
        expiry = opened.expiry or ""
        if not expiry or expiry <= iso(now):
            raise Rejected(f"{request.id}: its grant expired at {expiry or '?'}; no replay")
        try:
            tags, _version = iam.get_policy(arn)
        except NoSuchEntityError:
            raise Rejected(f"{request.id}: its grant {arn} no longer exists; no replay") from None
        if matching_plan(request, policy, grants.parse_tags(tags), self.partition) is None:
            raise Rejected(f"{request.id} changed since it was granted; the live grant stays as "
                           "approved — file a new request for different access")
        return Outcome("unchanged", request.id, policy.account, arn, "already granted")

    def _adopt(self, iam: IamPort, request: Request, policy: Policy, *, approval: Approval,
               arn: str, now: datetime) -> Outcome:
        """A grant attached by a run that died before writing its record: record it."""
        tags, _version = iam.get_policy(arn)
        plan = matching_plan(request, policy, grants.parse_tags(tags), self.partition)
        if plan is None:
            raise Rejected(f"{request.id}: {arn} is attached but does not match this request; "
                           "the revoke job's reconcile removes it")
        if not self.run.dry_run:
            details = granted_details(plan, approval, arn)
            self.run.ledger.record("granted", now, **{**details, "reconciled": True})
        return Outcome("reconciled", request.id, policy.account, arn,
                       "granted by an earlier run; record written", dry_run=self.run.dry_run)


def _tags(plan: Plan, approval: Approval) -> list[dict[str, str]]:
    request = plan.request
    try:
        return grants.build_tags(
            request_id=request.id, requester=request.requester,
            principal=request.principal, expiry=plan.expiry, commit=approval.commit,
            pr=approval.pr, approvers=approval.approvers,
            sha256=document_sha256(plan.document_json()),
        )
    except ValueError as error:
        raise Rejected(f"{request.id}: {error}") from None
