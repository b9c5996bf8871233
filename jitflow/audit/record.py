"""One audit record as a typed value. Pure.

The log on disk holds canonical JSON objects (`jitflow.audit.chain`); the engine reads them as
`AuditRecord`s, so a field is a typed attribute, not a dictionary look-up that might be None
for a missing key or a misspelt one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GRANTED = "granted"
UNMEASURED = -1  # a bucket policy's size a record does not know
# Events that end a grant: after one of them, the request is never granted again (no replay).
ENDED = frozenset({"revoked", "expired", "early_revoked", "orphan_revoked"})


@dataclass(frozen=True)
class AccessItem:
    """One bucket + prefix + actions entry as recorded."""

    bucket: str
    prefix: str
    actions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "actions": list(self.actions)}


@dataclass(frozen=True)
class BucketItem:
    """One bucket a bucket-policy grant wrote statements into."""

    bucket: str
    sids: tuple[str, ...]
    sha256: str  # of the grant's statements in this bucket (jitflow.bucketpolicy.digest)
    policy_bytes: int  # the bucket policy's size after the write (0: none; UNMEASURED: not known)

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "sids": list(self.sids), "sha256": self.sha256,
                "policy_bytes": self.policy_bytes}


@dataclass(frozen=True)
class AuditRecord:
    """A record of the chain. Fields the event does not use are None."""

    seq: int
    time: str
    event: str
    request: str | None = None
    requester: str | None = None
    principal: str | None = None
    account: str | None = None
    access: tuple[AccessItem, ...] | None = None
    expiry: str | None = None
    approvers: tuple[str, ...] | None = None
    pr: int | None = None
    commit: str | None = None
    actor: str | None = None
    policy_arn: str | None = None
    reason: str | None = None
    reconciled: bool = False
    grant_mode: str | None = None  # None: identity-policy (records before bucket mode)
    session: str | None = None
    role_id: str | None = None  # the RoleId (or user id) a session-scoped grant admits
    buckets: tuple[BucketItem, ...] | None = None
    break_glass: bool = False  # granted without approvals; reviewed after the fact
    merged_by: str | None = None  # break-glass: who merged (a requester or approver)
    review_due: str | None = None  # break-glass: the post-hoc review's deadline
    reviewers: tuple[str, ...] | None = None  # break-glass: who may review
    reviewer: str | None = None  # break_glass_reviewed: who approved the merged PR
    starts: str | None = None  # a scheduled start (None: the grant started at its record)
    prev_hash: str = ""
    hash: str = ""

    @property
    def in_bucket_policy(self) -> bool:
        return self.grant_mode == "bucket-policy"

    @property
    def change_key(self) -> str:
        """What identifies the grant a record is about in AWS: its IAM policy ARN, or for a
        bucket-policy grant the request in its account."""
        if self.in_bucket_policy:
            return f"bucket-policy:{self.account}:{self.request}"
        return self.policy_arn or ""

    @property
    def opens_grant(self) -> bool:
        return self.event == GRANTED

    @property
    def ends_grant(self) -> bool:
        return self.event in ENDED

    def grant_facts(self) -> dict[str, Any]:
        """What a later record about the same grant copies from this `granted` record."""
        return {
            "request": self.request,
            "requester": self.requester,
            "principal": self.principal,
            "account": self.account,
            "access": None if self.access is None else [a.to_json() for a in self.access],
            "expiry": self.expiry,
            "approvers": None if self.approvers is None else list(self.approvers),
            "pr": self.pr,
            "commit": self.commit,
            "policy_arn": self.policy_arn,
            "grant_mode": self.grant_mode,
            "session": self.session,
            "role_id": self.role_id,
            "buckets": None if self.buckets is None else [b.to_json() for b in self.buckets],
            **({"break_glass": {"merged_by": self.merged_by, "review_due": self.review_due,
                                "reviewers": list(self.reviewers or ())}}
               if self.break_glass else {}),
            "starts": self.starts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditRecord:
        """A record as the chain wrote it (the chain was verified before it is read)."""
        access = data.get("access")
        approvers = data.get("approvers")
        return cls(
            seq=int(data["seq"]),
            time=str(data["time"]),
            event=str(data["event"]),
            request=data.get("request"),
            requester=data.get("requester"),
            principal=data.get("principal"),
            account=data.get("account"),
            access=None
            if access is None
            else tuple(
                AccessItem(str(a["bucket"]), str(a["prefix"]), tuple(a["actions"])) for a in access
            ),
            expiry=data.get("expiry"),
            approvers=None if approvers is None else tuple(approvers),
            pr=data.get("pr"),
            commit=data.get("commit"),
            actor=data.get("actor"),
            policy_arn=data.get("policy_arn"),
            reason=data.get("reason"),
            reconciled=bool(data.get("reconciled", False)),
            grant_mode=data.get("grant_mode"),
            session=data.get("session"),
            role_id=data.get("role_id"),
            buckets=None if data.get("buckets") is None else tuple(
                BucketItem(str(b["bucket"]), tuple(b["sids"]), str(b["sha256"]),
                           int(b["policy_bytes"])) for b in data["buckets"]),
            break_glass="merged_by" in (data.get("break_glass") or {}),
            merged_by=(data.get("break_glass") or {}).get("merged_by"),
            review_due=(data.get("break_glass") or {}).get("review_due"),
            reviewers=tuple((data.get("break_glass") or {}).get("reviewers", ())) or None,
            reviewer=(data.get("break_glass") or {}).get("reviewer"),
            starts=data.get("starts"),
            prev_hash=str(data.get("prev_hash", "")),
            hash=str(data.get("hash", "")),
        )
