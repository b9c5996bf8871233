"""The outbox: which deliveries failed and still need sending. Pure.

A failed notification must never fail or block a grant or a revoke, and it must not be lost:
each run appends one line per delivery attempt to an append-only JSON Lines file beside the
audit log (committed with the run's audit records), and the next run retries what failed.
Append-only, so a git-history check that the audit directory only ever grows holds for it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

OUTBOX_FILE = "notifications.ndjson"  # not *.jsonl: those are the chain's
MAX_ATTEMPTS = 10  # after this many failures an event is given up on, and that is recorded


@dataclass(frozen=True)
class Pending:
    """A delivery to retry: the target's label and the exact document that failed."""

    target: str
    document: dict[str, Any]
    attempts: int


def failed_line(target: str, document: dict[str, Any], error: str, time: str,
                attempts: int) -> dict[str, Any]:
    return {"status": "failed" if attempts < MAX_ATTEMPTS else "abandoned", "target": target,
            "id": document["id"], "time": time, "attempts": attempts, "error": error,
            "document": document}


def delivered_line(target: str, event_id: str, time: str) -> dict[str, Any]:
    return {"status": "delivered", "target": target, "id": event_id, "time": time}


def cursor_line(seq: int, time: str) -> dict[str, Any]:
    """Records up to `seq` have been turned into events: the next run starts after it, so a
    run that stopped part-way has its records announced by the next one."""
    return {"status": "cursor", "target": "*", "id": "cursor", "seq": seq, "time": time}


def cursor(lines: Iterable[dict[str, Any]]) -> int | None:
    """The last cursor's seq, or None when no run has notified yet."""
    found = None
    for line in lines:
        if line["status"] == "cursor" and isinstance(line.get("seq"), int):
            found = line["seq"]
    return found


def parse(text: str) -> list[dict[str, Any]]:
    """The outbox's lines; a line that is not a JSON object (a torn write) is skipped, as
    losing a retry is better than blocking every later notification on it."""
    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and {"status", "target", "id"} <= line.keys():
            lines.append(line)
    return lines


def pending(lines: Iterable[dict[str, Any]], targets: Iterable[str]) -> list[Pending]:
    """Failed deliveries to configured targets that no later line settled, oldest first."""
    configured = set(targets)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        latest[(line["target"], line["id"])] = line
    return [Pending(target, line["document"], int(line.get("attempts", 1)))
            for (target, _), line in latest.items()
            if line["status"] == "failed" and target in configured and "document" in line]


def seen(lines: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(target, event id) pairs any run already tried: an event is never created twice."""
    return {(line["target"], line["id"]) for line in lines}
