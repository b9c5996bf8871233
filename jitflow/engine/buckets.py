"""What bucket-policy grants share: reading and writing one bucket's policy, who a grant
admits, which grants are live on a bucket, and the read-only baselines they imply.

Every write is a read-modify-write of the whole policy (S3 has no conditional
PutBucketPolicy): the policy is read again just before the put whenever anything happened
since the first read, the edit names only jitflow's Sids, and a read-back must show exactly
what was written. A writer racing the put makes the run fail (exit 3, nothing recorded for
that bucket) and a rerun converge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jitflow import bucketpolicy as bp
from jitflow.audit.record import AuditRecord
from jitflow.clock import iso
from jitflow.engine.ports import BucketPort, IamPort
from jitflow.engine.run import Run
from jitflow.errors import AwsError, Rejected
from jitflow.grants import RoleFacts
from jitflow.model import AccessEntry, Identities, Policy, PolicySet, Request


def digest(statements: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of a grant's statements in one bucket (what the log records), over their
    normal form, so a statement S3 hands back in another but equal form still matches."""
    ordered = sorted(bp.normal_form(s) for s in statements)
    return hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Live:
    """A live bucket-policy grant as the baseline must exempt it: who, in which account,
    what it reaches (bucket, prefix, actions), from when (None: it has begun) and until
    when."""

    principal: str
    account: str
    session: str | None
    role_id: str | None
    access: tuple[AccessEntry, ...]
    expiry: str
    start: str | None = None

    def subject(self, partition: str) -> bp.Subject:
        return bp.Subject(self.principal, self.account, self.session, self.role_id, partition)


def live_from(record: AuditRecord, now: datetime | None = None) -> Live:
    """The grant a `granted` record describes; its start only while it lies after `now`."""
    access = tuple(AccessEntry(a.bucket, a.prefix, a.actions) for a in record.access or ())
    start = record.starts if now is None or (record.starts or "") > iso(now) else None
    return Live(record.principal or "", record.account or "", record.session, record.role_id,
                access, record.expiry or "", start)


def exempted(live: Sequence[Live], bucket: str, partition: str) -> list[bp.Exempted]:
    """One entry per grantee on `bucket`: every resource its live grants reach there, while
    one of them runs (from the first start, not between two grants, until the last end)."""
    by_who: dict[str, list[Live]] = {}
    for grant in live:
        subject = grant.subject(partition)
        by_who.setdefault(subject.userid or subject.principal, []).append(grant)
    out = []
    for grants in by_who.values():
        resources = {r for g in grants for r in bp.granted_resources(g.access, bucket, partition)}
        actions = {a for g in grants for e in g.access if e.bucket == bucket for a in e.actions}
        starts, gaps, until = bp.exemption_times((g.start, g.expiry) for g in grants)
        out.append(bp.Exempted(grants[0].subject(partition), tuple(sorted(resources)),
                               tuple(sorted(actions)), until, starts, gaps))
    return out


class BucketBase:
    """State and helpers shared by the bucket-policy units of one run."""

    def __init__(self, run: Run, policies: PolicySet | None) -> None:
        self.run = run
        self.policies = policies

    @property
    def partition(self) -> str:
        return self.run.settings.partition

    # --- reading and writing -------------------------------------------------------------

    def read(self, port: BucketPort, bucket: str) -> dict[str, Any] | None:
        text = port.get_policy(bucket)
        try:
            return bp.parse_policy(text)
        except ValueError as error:
            raise AwsError(f"the policy of bucket {bucket} is not a policy document: {error}"
                           ) from None

    def write(self, port: BucketPort, bucket: str, before: dict[str, Any] | None,
              edit: bp.Edit, *, reread: bool) -> int:
        """Apply `edit` to the policy and put (or delete) it when it changes, read it back,
        and return its size.

        `reread`: read the policy again first, when anything happened since `before` was read
        (another bucket written, GitHub asked): a statement someone else added meanwhile is
        then kept, not overwritten. The edit names only jitflow's Sids, so it applies as well
        to the fresh copy. What remains is the time between that read and the put."""
        current = self.read(port, bucket) if reread else before
        after = bp.apply_edit(current, edit)
        if after == current:
            return bp.size_of(current)
        if bp.size_of(after) > bp.BUCKET_POLICY_LIMIT:
            raise AwsError(f"the policy of bucket {bucket} changed since it was read and would "
                           f"now pass S3's limit of {bp.BUCKET_POLICY_LIMIT:,} bytes; rerun")
        if after is None:
            port.delete_policy(bucket)
        else:
            port.put_policy(bucket, bp.to_json(after))
        back = self.read(port, bucket)
        problems = bp.differences(after, back)
        if problems:
            raise AwsError(
                f"the policy of bucket {bucket} read back is not what was written "
                f"({'; '.join(problems[:3])}): did someone else change it at the same time? "
                "Nothing was recorded; rerun")
        return bp.size_of(back)

    # --- who a grant admits ----------------------------------------------------------------

    def identities(self) -> Identities:
        if self.policies is None:
            raise Rejected("bucket-policy grants need policies/identities.yaml of the default "
                           "branch, and none was given")
        return self.policies.identities

    def resolve(self, request: Request, policy: Policy, identities: Identities) -> bp.Subject:
        """The subject of a grant, with the RoleId AWS gives its role (one IAM read; none for
        a whole role or a user)."""
        identity = identities.identity(request.requester, request.principal, policy.account)
        if identity is None:
            raise Rejected(f"{request.id}: {request.principal} is not mapped to "
                           f"{request.requester} in policies/identities.yaml")
        subject = bp.Subject(request.principal, policy.account, identity.session,
                             partition=self.partition)
        if identity.session is None:
            return subject
        iam = self.run.accounts.iam(policy.account, request.id)
        if subject.permission_set:
            role = _sso_role(iam, subject.permission_set, request.id)
        else:
            role = iam.role(request.principal.rsplit("/", 1)[-1])
            if role.arn != request.principal:
                raise Rejected(f"{request.id}: the role named in the request is {role.arn} in "
                               f"AWS, not {request.principal}")
        unpinned = bp.unpinned_session_names(role.trust)
        if unpinned:
            # aws:userid names one person only if nobody can pick another's session name.
            raise Rejected(f"{request.id}: anyone who may assume {role.arn} chooses the session "
                           f"name, so session {identity.session} names no one person "
                           f"({unpinned}); IAM Identity Center roles are safe by construction")
        return bp.Subject(request.principal, policy.account, identity.session, role.role_id,
                          self.partition)

    # --- live grants and baselines ---------------------------------------------------------

    def open_bucket_grants(self, account: str) -> dict[str, AuditRecord]:
        return {rid: record for rid, record in self.run.ledger.open_grants(account).items()
                if record.in_bucket_policy}

    def live_on(self, account: str, bucket: str, now: datetime,
                leaving: Iterable[str] = ()) -> list[Live]:
        """The grants on `bucket` whose record is open and not yet expired, but `leaving`."""
        gone = set(leaving)
        return [
            live_from(record, now)
            for rid, record in self.open_bucket_grants(account).items()
            if rid not in gone and (record.expiry or "") > iso(now)
            and any(item.bucket == bucket for item in record.buckets or ())
        ]

    def baseline_policies(self, account: str, bucket: str) -> list[Policy]:
        if self.policies is None:
            return []
        return [p for _, p in sorted(self.policies.policies.items())
                if p.in_bucket_policy and p.enforce_read_only and p.account == account
                and bucket in p.buckets]

    def baselines(self, account: str, bucket: str, live: Sequence[Live]
                  ) -> list[dict[str, Any]]:
        """The read-only baselines `bucket` must hold, exempting `live` grants."""
        wanted = self.baseline_policies(account, bucket)
        exempt_roles = self.run.settings.baseline_exempt.get(account, ())
        if wanted and not self.run.settings.jitflow_roles.get(account):
            raise Rejected(
                f"bucket {bucket} is under enforce_read_only but jitflow.yaml declares no "
                f"jitflow_roles for account {account}: the baseline would lock jitflow out")
        grantees = exempted(live, bucket, self.partition)
        return [statement for p in wanted for statement in bp.baseline_statements(
            p, bucket, [*exempt_roles, *p.standing_writers], grantees, self.partition)]

    def stale_baselines(self, account: str, bucket: str,
                        before: Mapping[str, Any] | None) -> frozenset[str]:
        """Baselines in the policy that no policy on the default branch wants any more."""
        if self.policies is None:
            return frozenset()
        # Every baseline statement present is replaced by the ones wanted now (a grantee's
        # limits come and go with its grants).
        return frozenset(
            s["Sid"] for s in bp.statements_of(before)
            if bp.baseline_policy_of(s.get("Sid")) is not None)

    def governed(self, account: str) -> set[str]:
        """Buckets the default branch's bucket-policy policies govern in `account`, and every
        bucket an open grant record names."""
        found = {item.bucket for record in self.open_bucket_grants(account).values()
                 for item in record.buckets or ()}
        if self.policies is not None:
            found |= {b for p in self.policies.policies.values()
                      if p.in_bucket_policy and p.account == account for b in p.buckets}
        return found


def _sso_role(iam: IamPort, permission_set: str, request_id: str) -> RoleFacts:
    """The one Identity Center role of a permission set in the account."""
    pattern = bp.sso_role_name_pattern(permission_set)
    found = [role for role in iam.roles_under(bp.SSO_PATH) if pattern.fullmatch(role.name)]
    if len(found) != 1:
        raise Rejected(
            f"{request_id}: permission set {permission_set} has {len(found)} roles "
            f"(AWSReservedSSO_{permission_set}_<hash>) in this account; expected exactly one "
            "(is it assigned to the account?)")
    return found[0]


def held_statements(policies: Mapping[str, dict[str, Any] | None]
                    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Request id -> bucket -> its grant statements, over the policies read."""
    held: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for bucket, policy in policies.items():
        for statement in bp.statements_of(policy):
            sid = bp.parse_grant_sid(statement.get("Sid"))
            if sid is not None:
                held.setdefault(sid.request_id, {}).setdefault(bucket, []).append(statement)
    return held


def earliest_expiry(by_bucket: Mapping[str, Sequence[Mapping[str, Any]]]) -> datetime | None:
    """The grant's expiry as its statements say (None if any lacks its condition)."""
    expiries = [bp.statement_expiry(s) for items in by_bucket.values() for s in items]
    if not expiries or any(e is None for e in expiries):
        return None
    return min(e for e in expiries if e is not None)
