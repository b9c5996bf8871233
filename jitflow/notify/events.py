"""Lifecycle events: derived from audit records and live grants, as values. Pure.

The audit log is the source of truth for what happened, so events are read off the records a
run appended (and, for "expiring soon", off the grants still open). Each event's id is a
digest of what it is about, so the same fact never yields two different events: a rerun, or
a retry of a failed delivery, sends the same id and a receiver can de-duplicate on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jitflow.audit.record import AuditRecord
from jitflow.breakglass import Due
from jitflow.clock import iso, parse_time

SCHEMA_VERSION = 1
# What each record event announces. `granted` also announces the approval apply verified:
# the check job holds no secret, so the first moment jitflow can notify of it is the merge.
_FROM_RECORD: dict[str, tuple[str, ...]] = {
    "granted": ("approved", "granted"),
    "rejected": ("rejected",),
    "expired": ("expired",),
    "early_revoked": ("revoked_early",),
    "revoked": ("revoked_early",),
    "orphan_revoked": ("revoked_early",),
}
KINDS: tuple[str, ...] = (
    "requested", "approved", "granted", "expiring_soon", "expired", "revoked_early",
    "rejected", "break_glass_used", "review_overdue",
)


@dataclass(frozen=True)
class Event:
    """One lifecycle event, ready to be rendered for any target."""

    kind: str
    id: str
    time: str  # when it happened (the record's time; for expiring_soon, when it was seen)
    request: str | None
    pr: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def document(self, repository_url: str | None) -> dict[str, Any]:
        """The JSON document every target gets (jitflow/schemas/event.schema.json)."""
        pr = None
        if self.pr is not None:
            url = f"{repository_url}/pull/{self.pr}" if repository_url else None
            pr = {"number": self.pr, "url": url}
        return {"schema_version": SCHEMA_VERSION, "id": self.id, "event": self.kind,
                "time": self.time, "request": self.request, "pull_request": pr, **self.facts}


def event_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _facts(record: AuditRecord) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "requester": record.requester, "principal": record.principal,
        "account": record.account, "expires": record.expiry,
        "access": None if record.access is None else [a.to_json() for a in record.access],
    }
    if record.approvers is not None:
        facts["approvers"] = list(record.approvers)
    if record.reason:
        facts["reason"] = record.reason
    if record.session:
        facts["session"] = record.session
    if record.break_glass:
        facts |= {"merged_by": record.merged_by, "review_due": record.review_due,
                  "reviewers": list(record.reviewers or ())}
    return {key: value for key, value in facts.items() if value is not None}


def from_records(records: Iterable[AuditRecord]) -> list[Event]:
    """The events the given (newly appended) records announce, in log order. A reconciled
    record re-states what AWS already held, so it announces nothing."""
    events: list[Event] = []
    for record in records:
        if record.reconciled:
            continue
        kinds = _FROM_RECORD.get(record.event, ())
        if record.break_glass and record.opens_grant:
            kinds = ("break_glass_used", "granted")  # nobody approved it: say so instead
        for kind in kinds:
            events.append(Event(kind=kind, id=event_id(kind, record.seq, record.hash),
                                time=record.time, request=record.request, pr=record.pr,
                                facts=_facts(record)))
    return events


def review_overdue(dues: Iterable[Due], now: datetime) -> list[Event]:
    """One event per overdue break-glass review, per run that finds it overdue: a reminder
    each run is the point (the revoke job fails loudly until the review lands)."""
    events = []
    for due in dues:
        facts: dict[str, Any] = {"reviewers": list(due.reviewers), "review_due": iso(due.due)}
        if due.requester:
            facts["requester"] = due.requester
        events.append(Event(kind="review_overdue",
                            id=event_id("review_overdue", due.request, iso(now)),
                            time=iso(now), request=due.request, pr=due.pr, facts=facts))
    return events


def expiring_soon(open_grants: Iterable[AuditRecord], now: datetime,
                  lead: timedelta) -> list[Event]:
    """An event for each open grant that ends within `lead` of `now`. The id names the grant
    and its end, so each grant's warning is one event however many runs see it."""
    events: list[Event] = []
    for grant in open_grants:
        if grant.expiry is None:
            continue
        ends = parse_time(grant.expiry)
        if now < ends <= now + lead:
            events.append(Event(kind="expiring_soon",
                                id=event_id("expiring_soon", grant.request, grant.expiry),
                                time=iso(now), request=grant.request, pr=grant.pr,
                                facts=_facts(grant)))
    return events
