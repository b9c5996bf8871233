"""Granting approved requests in the governed buckets' own policies (grant mode
`bucket-policy`).

Calls: one iam:GetRole for a person on a shared role (the RoleId), then per bucket one
GetBucketPolicy, one Put (or Delete) and one Get to read it back. All buckets are read and
every size is checked before the first write, so a request that cannot fit changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jitflow import bucketpolicy as bp
from jitflow.audit.record import AuditRecord, BucketItem
from jitflow.clock import iso
from jitflow.engine.apply import (
    access_summary,
    checked_approval,
    refuse_replay,
    starts_of,
    window_detail,
)
from jitflow.engine.buckets import BucketBase, Live, digest
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import Approval, ApprovalSource, BucketPort
from jitflow.errors import Rejected
from jitflow.model import Policy, Request
from jitflow.plan import Plan, build_plan
from jitflow.rules import ARN

BUCKET_POLICY = "bucket-policy"


def granted_facts(plan: Plan, subject: bp.Subject, approval: Approval,
                  items: list[BucketItem]) -> dict[str, Any]:
    request = plan.request
    return {
        "request": request.id, "requester": request.requester,
        "principal": request.principal, "account": plan.policy.account,
        "access": access_summary(request), "expiry": iso(plan.expiry),
        **approval.record_facts(),
        "grant_mode": BUCKET_POLICY, "session": subject.session,
        "role_id": subject.unique_id, "buckets": [item.to_json() for item in items],
        "starts": starts_of(plan),
    }


class BucketApplier(BucketBase):
    def apply(self, request: Request, policy: Policy, source: ApprovalSource,
              now: datetime) -> Outcome:
        approval = checked_approval(request, policy, source)
        self._check_account(request, policy)
        refuse_replay(request, self.run.ledger.history(request.id))
        subject = self.resolve(request, policy, self.identities())
        plan = build_plan(request, policy, now, subject, partition=self.partition)
        port = self.run.accounts.buckets(policy.account, request.id)
        opened = self.run.ledger.open_grant(request.id)
        if opened is not None:
            return self.run.done(self._confirm(port, request, opened, now))
        befores = {b: self._read_granted(port, request, policy, b)
                   for b in plan.bucket_statements}
        edits = {b: self._edit(plan, subject, b, before, now) for b, before in befores.items()}
        _refuse_oversize(request, {b: bp.apply_edit(befores[b], e) for b, e in edits.items()})
        buckets = tuple(plan.bucket_statements)
        if self.run.dry_run:
            return self.run.done(Outcome("granted", request.id, policy.account,
                                         detail=window_detail(plan), dry_run=True,
                                         buckets=buckets))
        items = [
            BucketItem(b, tuple(s["Sid"] for s in plan.bucket_statements[b]),
                       digest(plan.bucket_statements[b]),
                       self.write(port, b, befores[b], edits[b], reread=index > 0))
            for index, b in enumerate(buckets)
        ]
        self.run.ledger.record("granted", now, **granted_facts(plan, subject, approval, items))
        return self.run.done(Outcome("granted", request.id, policy.account,
                                     detail=window_detail(plan), buckets=buckets))

    def _read_granted(self, port: BucketPort, request: Request, policy: Policy,
                      bucket: str) -> dict[str, Any] | None:
        try:
            return self.read(port, bucket)
        except bp.NoSuchBucketError:
            raise Rejected(f"{request.id}: bucket {bucket} does not exist in account "
                           f"{policy.account}; nothing was changed") from None

    def _check_account(self, request: Request, policy: Policy) -> None:
        match = ARN.fullmatch(request.principal)
        if match is not None and match["partition"] != self.partition:
            raise Rejected(
                f"{request.id}: principal {request.principal} is in partition "
                f"{match['partition']}, but jitflow grants in partition {self.partition} "
                "(the partition of the region in jitflow.yaml)")
        if match is not None and match["account"] != policy.account:
            raise Rejected(
                f"{request.id}: principal {request.principal} is in another account than "
                f"policy {policy.name} ({policy.account}): a bucket policy alone cannot grant "
                "it (it would also need an identity-side grant)")
        if policy.account not in self.run.settings.accounts:
            raise Rejected(f"{request.id}: account {policy.account} is not in jitflow.yaml")

    def _edit(self, plan: Plan, subject: bp.Subject, bucket: str,
              before: dict[str, Any] | None, now: datetime) -> bp.Edit:
        account = plan.policy.account
        live = [*self.live_on(account, bucket, now, leaving=[plan.request.id]),
                Live(subject.principal, account, subject.session, subject.unique_id,
                     plan.request.access, iso(plan.expiry), _later(plan.start, now))]
        return bp.Edit(put=(*plan.bucket_statements[bucket],
                            *self.baselines(account, bucket, live)),
                       remove=self.stale_baselines(account, bucket, before))

    def _confirm(self, port: BucketPort, request: Request, opened: AuditRecord,
                 now: datetime) -> Outcome:
        """Applying an already granted request: a no-op while the same grant is live."""
        expiry = opened.expiry or ""
        if not expiry or expiry <= iso(now):
            raise Rejected(f"{request.id}: its grant expired at {expiry or '?'}; no replay")
        for item in opened.buckets or ():
            found = [s for s in bp.statements_of(self.read(port, item.bucket))
                     if s.get("Sid") in item.sids]
            if digest(found) != item.sha256:
                raise Rejected(f"{request.id}: its statements in bucket {item.bucket} are not "
                               "as granted; the revoke job reconciles them — no replay")
        buckets = tuple(item.bucket for item in opened.buckets or ())
        return Outcome("unchanged", request.id, opened.account or "", detail="already granted",
                       buckets=buckets)


def _later(start: datetime | None, now: datetime) -> str | None:
    """A grant's start as the baseline holds it off until then (None: it has begun)."""
    return iso(start) if start is not None and start > now else None


def _refuse_oversize(request: Request, afters: dict[str, dict[str, Any] | None]) -> None:
    over = {b: bp.size_of(p) for b, p in afters.items() if bp.size_of(p) > bp.BUCKET_POLICY_LIMIT}
    if over:
        sizes = ", ".join(f"{b} would be {n:,} bytes" for b, n in sorted(over.items()))
        raise Rejected(f"{request.id}: the bucket policy would pass S3's limit of "
                       f"{bp.BUCKET_POLICY_LIMIT:,} bytes ({sizes}); nothing was changed")
