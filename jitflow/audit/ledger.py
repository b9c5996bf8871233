"""The audit log as one run of the engine sees it: read once, indexed, kept current.

Reading the log verifies the whole chain, so a run reads it once and indexes it by request and
by granted policy ARN: a sweep of N grants must not scan the log N times. Appends go through
the store's lock; a change that another run recorded meanwhile (two revokes, a revoke and an
apply, an apply delivered twice) is not recorded again, so each change has exactly one record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from jitflow.audit.record import GRANTED, AuditRecord


class AuditStore(Protocol):
    """The log on disk (jitflow.audit.store.AuditLog)."""

    def append_unless(
        self,
        event: str,
        details: dict[str, Any],
        at: datetime,
        done_elsewhere: Callable[[list[dict[str, Any]]], bool],
    ) -> dict[str, Any] | None: ...

    def records(self) -> Sequence[dict[str, Any]]: ...


def open_grant(history: Iterable[AuditRecord]) -> AuditRecord | None:
    """The `granted` record of a grant that no later record ended, if any."""
    current: AuditRecord | None = None
    for record in history:
        if record.opens_grant:
            current = record
        elif record.ends_grant:
            current = None
    return current


def _change(record: AuditRecord) -> tuple[str, str]:
    """What a record changed in AWS: (the grant's key, granted | ended), or empty parts."""
    kind = "granted" if record.event == GRANTED else "ended" if record.ends_grant else ""
    return (record.change_key, kind)


class Ledger:
    """The records of one run, with the look-ups the engine needs."""

    def __init__(self, store: AuditStore, actor: str) -> None:
        self.store = store
        self.actor = actor
        self._records: list[AuditRecord] | None = None
        self._by_request: dict[str, list[AuditRecord]] = {}
        self._granted_arns: set[str] = set()
        # Changes other runs recorded while this one ran (see `record`).
        self._elsewhere: set[tuple[str, str]] = set()

    def load(self) -> list[AuditRecord]:
        """Every record (read and verified on first use)."""
        if self._records is None:
            records: list[AuditRecord] = []
            self._records = records
            for raw in self.store.records():
                self._add(AuditRecord.from_json(raw))
            return records
        return self._records

    def _add(self, record: AuditRecord) -> None:
        self.load().append(record)
        if record.request:
            self._by_request.setdefault(record.request, []).append(record)
        if record.opens_grant and record.policy_arn:
            self._granted_arns.add(record.policy_arn)

    def history(self, request_id: str) -> list[AuditRecord]:
        self.load()
        return list(self._by_request.get(request_id, ()))

    def open_grant(self, request_id: str) -> AuditRecord | None:
        return open_grant(self.history(request_id)) if request_id else None

    def was_granted(self, policy_arn: str) -> bool:
        """Did any record ever grant this policy ARN?"""
        self.load()
        return policy_arn in self._granted_arns

    def open_grants(self, account: str) -> dict[str, AuditRecord]:
        """Request id -> its open `granted` record, for the grants in `account`."""
        last: dict[str, AuditRecord] = {}
        for record in self.load():
            if not record.request or record.account != account:
                continue
            if record.opens_grant:
                last[record.request] = record
            elif record.ends_grant:
                last.pop(record.request, None)
        return last

    def record(self, event: str, at: datetime, **details: Any) -> None:
        """Append a record unless another run already recorded the same change."""
        self.load()
        mine = _change(AuditRecord.from_json({"seq": 0, "time": "", "event": event, **details}))

        def done_elsewhere(others: list[dict[str, Any]]) -> bool:
            # Called under the store's lock with what other runs appended since this run
            # read the log: learn it, and skip a change one of them already recorded.
            for raw in others:
                other = AuditRecord.from_json(raw)
                self._add(other)
                self._elsewhere.add(_change(other))
            return bool(mine[0] and mine[1]) and mine in self._elsewhere

        body = {"actor": self.actor, "reconciled": False, **details}
        written = self.store.append_unless(event, body, at, done_elsewhere)
        if written is not None:
            self._add(AuditRecord.from_json(written))
