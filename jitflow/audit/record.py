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
REJECTED = "rejected"
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
    prev_hash: str = ""
    hash: str = ""

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
            prev_hash=str(data.get("prev_hash", "")),
            hash=str(data.get("hash", "")),
        )
