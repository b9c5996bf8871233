"""What was done with a grant: its window and identity from the audit log, and the CloudTrail
events that identity made in it. Pure: the events come in from `jitflow.aws.Trail`.

CloudTrail's event history (LookupEvents) holds the management events of the last 90 days,
per region, and filters on one attribute at a time. So the look-up asks for the narrowest
attribute that names the grant's caller, and the events are then kept only when their own
record (the `CloudTrailEvent` JSON) names exactly the grant's identity:

- a session grant (bucket-policy mode, one person on a shared role): `Username` is the
  session name; kept when `userIdentity.principalId` is `<RoleId>:<session>` (what the
  grant's `aws:userid` condition admits), because the same session name is also the person's
  on every other role they use (each Identity Center permission set has its own role);
- an IAM user: `Username` is the user name; kept when the caller is that IAM user in the
  grant's account (a role session may carry the same name);
- a whole role (identity-policy mode): every session of the role has its own name, so no
  attribute names the role; the look-up asks for the only service a grant reaches
  (`EventSource` s3.amazonaws.com) and keeps the sessions of that role (their ARN is
  `arn:<partition>:sts::<account>:assumed-role/<role name>/<session>`).

Object reads and writes are S3 data events: never in the event history (docs/setup.md says
how to collect them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jitflow.audit.record import ENDED, GRANTED, AuditRecord
from jitflow.clock import iso
from jitflow.errors import UsageError
from jitflow.grants import parse_principal

HISTORY = timedelta(days=90)  # how far back CloudTrail's event history reaches
DELIVERY = timedelta(minutes=15)  # events reach the history within about this long
S3_SOURCE = "s3.amazonaws.com"


@dataclass(frozen=True)
class Who:
    """The identity a grant reached, as CloudTrail names a caller."""

    account: str
    principal: str  # role or user ARN, or permission-set/<Name>
    session: str | None = None  # a session grant: only this session of the role
    role_id: str | None = None  # the role's RoleId, recorded at apply (aws:userid's first half)

    @property
    def userid(self) -> str | None:
        return f"{self.role_id}:{self.session}" if self.session and self.role_id else None

    def made(self, identity: Mapping[str, Any]) -> bool:
        """Whether a CloudTrail `userIdentity` is this grant's identity."""
        kind, arn = identity.get("type"), str(identity.get("arn", ""))
        if self.session is not None:
            if kind != "AssumedRole":
                return False
            if self.userid is not None:
                return identity.get("principalId") == self.userid
            return arn == self._session_prefix() + self.session
        if ":user/" in self.principal:
            return (kind == "IAMUser" and identity.get("accountId") == self.account
                    and identity.get("userName") == self._name())
        return kind == "AssumedRole" and arn.startswith(self._session_prefix())

    def _name(self) -> str:
        return self.principal.rsplit("/", 1)[-1]

    def _session_prefix(self) -> str:
        """`arn:<partition>:sts::<account>:assumed-role/<role name>/` (no path in it)."""
        try:
            partition = parse_principal(self.principal).partition
        except ValueError:  # a permission set: only its RoleId names its role
            return "\0"
        return f"arn:{partition}:sts::{self.account}:assumed-role/{self._name()}/"

    def lookup_attribute(self) -> tuple[str, str]:
        """The one LookupEvents attribute that narrows the history to this caller."""
        if self.session is not None:
            return "Username", self.session
        if ":user/" in self.principal:
            return "Username", self._name()
        return "EventSource", S3_SOURCE


@dataclass(frozen=True)
class Window:
    """A grant's window as the audit log has it: granted (or its scheduled start) until
    its expiry, or until the record that ended it when that came first."""

    request: str
    who: Who
    grant_mode: str
    start: datetime
    end: datetime
    ended_by: str | None  # the event that ended it; None: still open at `now`
    reconciled: bool = False  # its `granted` record was written after the grant began

    @property
    def open(self) -> bool:
        return self.ended_by is None


def window_of(request: str, records: Sequence[Mapping[str, Any]], now: datetime) -> Window:
    """The window of `request`'s grant from its records in the (verified) audit log."""
    typed = [AuditRecord.from_json(r) for r in records if r.get("request") == request]
    granted = next((r for r in typed if r.event == GRANTED), None)
    if granted is None:
        seen = sorted({r.event for r in typed})
        raise UsageError(f"the audit log has no grant of {request}"
                         + (f" (its records: {', '.join(seen)})" if seen else ""))
    start = _time(granted.starts) if granted.starts else _time(granted.time)
    expiry = _time(granted.expiry or granted.time)
    ended = next((r for r in typed if r.seq > granted.seq and r.event in ENDED), None)
    end = min(expiry, _time(ended.time)) if ended is not None else min(expiry, now)
    who = Who(granted.account or "", granted.principal or "",
              granted.session if granted.in_bucket_policy else None, granted.role_id)
    return Window(request, who, granted.grant_mode or "identity-policy", start, max(start, end),
                  ended.event if ended is not None else None, granted.reconciled)


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class LookedUp:
    """One entry of LookupEvents, as the adapter read it."""

    event_id: str
    time: datetime
    name: str
    source: str
    username: str | None
    resources: tuple[str, ...]
    cloudtrail_event: str  # the full record, JSON
    region: str


@dataclass(frozen=True)
class TrailEvent:
    """One event of the grant's identity in its window."""

    looked_up: LookedUp
    record: Mapping[str, Any]

    @property
    def caller(self) -> str:
        return str(self.record.get("userIdentity", {}).get("arn", "?"))

    @property
    def source_identity(self) -> str | None:
        context = self.record.get("userIdentity", {}).get("sessionContext", {})
        value = context.get("sourceIdentity") if isinstance(context, Mapping) else None
        return str(value) if value else None

    @property
    def error(self) -> str | None:
        code = self.record.get("errorCode")
        return str(code) if code else None

    def to_json(self) -> dict[str, Any]:
        seen = self.looked_up
        return {"time": iso(seen.time), "event_id": seen.event_id, "name": seen.name,
                "source": seen.source, "region": seen.region, "caller": self.caller,
                "source_identity": self.source_identity, "error": self.error,
                "resources": list(seen.resources), "cloudtrail_event": dict(self.record)}

    def text(self) -> str:
        parts = [iso(self.looked_up.time), self.looked_up.region,
                 f"{self.looked_up.source} {self.looked_up.name}"]
        parts += [", ".join(self.looked_up.resources)] if self.looked_up.resources else []
        parts.append(f"by {self.caller}")
        if self.source_identity:
            parts.append(f"source identity {self.source_identity}")
        if self.error:
            parts.append(f"FAILED {self.error}")
        return "  ".join(parts)


@dataclass(frozen=True)
class Trail:
    """The grant's window and the events its identity made in it, oldest first."""

    window: Window
    attribute: tuple[str, str]
    regions: tuple[str, ...]
    events: tuple[TrailEvent, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def trail_of(window: Window, regions: Sequence[str], looked_up: Iterable[LookedUp],
             now: datetime) -> Trail:
    """Keep what the grant's identity did in its window; say what the history cannot show."""
    kept: list[TrailEvent] = []
    unreadable = 0
    for entry in looked_up:
        try:
            record = json.loads(entry.cloudtrail_event)
        except ValueError:
            unreadable += 1
            continue
        identity = record.get("userIdentity") if isinstance(record, dict) else None
        if (isinstance(identity, Mapping) and window.who.made(identity)
                and window.start <= entry.time <= window.end):
            kept.append(TrailEvent(entry, record))
    kept.sort(key=lambda e: (e.looked_up.time, e.looked_up.event_id))
    notes = list(_notes(window, now))
    if unreadable:
        notes.append(f"{unreadable} event(s) had a CloudTrailEvent that is not JSON: skipped")
    return Trail(window, window.who.lookup_attribute(), tuple(regions), tuple(kept),
                 tuple(notes))


def _notes(window: Window, now: datetime) -> Iterable[str]:
    yield ("management events only: object reads and writes (PutObject, DeleteObject...) are "
           "S3 data events, which the event history never holds (docs/setup.md: a trail with "
           "data event selectors, then Athena or CloudTrail Lake)")
    if window.start < now - HISTORY:
        yield (f"the event history keeps 90 days: events before {iso(now - HISTORY)} are "
               "gone from it")
    if window.end > now - DELIVERY:
        yield (f"CloudTrail delivers events minutes after the call: events after "
               f"{iso(now - DELIVERY)} may still arrive")
    if window.reconciled:
        yield ("its granted record was written after the grant began (reconciled): events "
               "before the record are not looked up")


def as_json(trail: Trail) -> dict[str, Any]:
    window, who = trail.window, trail.window.who
    return {
        "request": window.request, "grant_mode": window.grant_mode, "account": who.account,
        "principal": who.principal, "session": who.session, "userid": who.userid,
        "window": {"start": iso(window.start), "end": iso(window.end),
                   "ended_by": window.ended_by, "open": window.open},
        "lookup": {"attribute": {"key": trail.attribute[0], "value": trail.attribute[1]},
                   "regions": list(trail.regions)},
        "events": [event.to_json() for event in trail.events],
        "notes": list(trail.notes),
    }


def render_text(trail: Trail) -> str:
    window, who = trail.window, trail.window.who
    caller = (f"session {who.session} of {who.principal}"
              + (f" (aws:userid {who.userid})" if who.userid else "")
              if who.session else who.principal)
    until = f"until {iso(window.end)}" + (f" ({window.ended_by})" if window.ended_by else
                                          " (still open)")
    key, value = trail.attribute
    lines = [f"request   {window.request}  ({window.grant_mode}, account {who.account})",
             f"caller    {caller}",
             f"window    {iso(window.start)} {until}",
             f"looked up {key}={value} in {', '.join(trail.regions)}; kept: this caller only",
             f"events    {len(trail.events)}"]
    lines += [f"  {event.text()}" for event in trail.events]
    lines += [f"note      {note}" for note in trail.notes]
    # One event, one line: text from CloudTrail must not forge another.
    return "\n".join(line.replace("\r", "\\r").replace("\n", "\\n") for line in lines)
