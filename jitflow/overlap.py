"""Grants already live for the same principal and bucket as a new request, from the audit
log alone (offline: `jitflow check` reads the base branch's log, `jitflow plan` the local one).
Pure. Kept apart from `jitflow.plan` so that `jitflow validate` never imports the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jitflow.audit.record import ENDED, GRANTED
from jitflow.clock import iso
from jitflow.plan import Plan


@dataclass(frozen=True)
class LiveGrant:
    """A grant the audit log shows as made and not ended (it may have expired since)."""

    request: str
    principal: str
    session: str | None
    buckets: frozenset[str]
    expiry: str  # ISO 8601, as recorded


def live_grants(records: Iterable[Mapping[str, Any]]) -> dict[str, LiveGrant]:
    """Request id -> its grant, for every `granted` record not followed by an end, read from
    the audit log's records in order (malformed ones are skipped: verifying is not ours)."""
    live: dict[str, LiveGrant] = {}
    for record in records:
        track_grant(live, record)
    return live


def track_grant(live: dict[str, LiveGrant], record: Mapping[str, Any]) -> None:
    """`live` after one more record of the log (one at a time: the log may be long)."""
    request, event = record.get("request"), record.get("event")
    if not isinstance(request, str):
        return
    if event in ENDED:
        live.pop(request, None)
    elif event == GRANTED and isinstance(record.get("principal"), str) \
            and isinstance(record.get("expiry"), str):
        access: Any = record.get("access")
        access = access if isinstance(access, list) else []
        session = record.get("session")
        live[request] = LiveGrant(
            request, record["principal"], session if isinstance(session, str) else None,
            frozenset(a["bucket"] for a in access
                      if isinstance(a, dict) and isinstance(a.get("bucket"), str)),
            record["expiry"])


def already_live(plan: Plan, grants: Iterable[LiveGrant]) -> tuple[str, ...]:
    """Risk flags for grants still live at the plan's time that give the same principal (the
    same session of it) write access to one of the same buckets."""
    session = plan.subject.session if plan.subject is not None else None
    asked = {e.bucket for e in plan.request.access}
    flags = []
    for grant in grants:
        shared = sorted(asked & grant.buckets)
        if (grant.principal != plan.request.principal or grant.session != session
                or not shared or grant.request == plan.request.id
                or grant.expiry <= iso(plan.applied_at)):
            continue
        flags.append(f"already live: {grant.request} gives this principal write access to "
                     f"{', '.join(shared)} until {grant.expiry}")
    return tuple(flags)
