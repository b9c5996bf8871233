"""Marked chain segments: where revoke goes on recording while the audit log is broken. Pure.

A log that does not verify stops new grants until an admin repairs it, but never the removal
of access: a forged log must not keep a forged grant alive. `jitflow revoke` then records its
removals in a *segment*, a file `segment-<n>.jsonl` beside the month files that holds a chain
of its own (seq 1, genesis prev_hash), so it verifies on its own. Its first record is
`chain_started`, whose `anchor` names the last verifiable record before the break (file, line,
seq and hash: where a line-by-line follower of the part before stops) and whose reason quotes
the first problem. After it, a segment holds only what a revoke writes: the end of a grant, or
a live grant found approved without its record (`granted`, reconciled).

A segment is legitimate when the part of the log before it (the month files, or the segment
before it) is broken and its anchor names exactly where that part stops being verifiable; a
segment that names anything else, or follows a part that verifies, is reported as forged.
`jitflow audit verify` reports the break, each segment, and anything wrong inside one: it
exits 1 until an admin repairs the log (`jitflow audit repair`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jitflow.audit.chain import GENESIS
from jitflow.audit.record import ENDED, GRANTED

STARTED = "chain_started"
_NAME = re.compile(r"segment-([1-9][0-9]{0,8})\.jsonl\Z")
_MONTH_FILE = re.compile(r"\d{4}-(0[1-9]|1[0-2])\.jsonl\Z")


def is_month_file(name: str) -> bool:
    """A month file of the log's main chain, by its name in the audit directory."""
    return _MONTH_FILE.match(name) is not None


def log_file_order(name: str) -> tuple[int, str] | None:
    """Where a file of the audit directory comes in the log, as a sort key: the month files
    first (by month), then the marked segments by number (segment-10 after segment-9); None
    for a file that is not part of the log."""
    if is_month_file(name):
        return (0, name)
    number = segment_number(name)
    return None if number is None else (number, name)


def segment_number(name: str) -> int | None:
    """The n of a file named `segment-<n>.jsonl`, else None."""
    found = _NAME.match(name)
    return int(found.group(1)) if found else None


def segment_name(number: int) -> str:
    return f"segment-{number}.jsonl"


@dataclass(frozen=True)
class Anchor:
    """A record of the log by place and identity: the last verifiable one before a break."""

    file: str  # its file's name in the audit directory; "" when no record verifies
    line: int
    seq: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "seq": self.seq, "hash": self.hash}

    @classmethod
    def from_json(cls, value: Any) -> Anchor | None:
        if not isinstance(value, Mapping) or set(value) != {"file", "line", "seq", "hash"}:
            return None
        return cls(str(value["file"]), int(value["line"]), int(value["seq"]), str(value["hash"]))

    def text(self) -> str:
        if not self.file:
            return "no record (none before the break verifies)"
        return f"seq {self.seq} (hash {self.hash[:12]}…) at {self.file}:{self.line}"


NOTHING = Anchor("", 0, 0, GENESIS)  # the anchor when not even the first record verifies


def recordable(event: str, reconciled: bool) -> bool:
    """What a segment may record after its `chain_started`: the end of a grant, or a live
    grant found approved without its record (never a new grant, never a rejection)."""
    return event in ENDED or (event == GRANTED and reconciled)


def started_details(anchor: Anchor, problem: str, actor: str) -> dict[str, Any]:
    """The details of the `chain_started` record that opens a segment."""
    return {
        "actor": actor,
        "anchor": anchor.to_json(),
        "reason": f"the audit log does not verify after {anchor.text()} ({problem}): revoke "
                  "records its removals in this marked segment; new grants wait until an "
                  "admin repairs the log",
    }


def start_problems(first: Mapping[str, Any] | None, expected: Anchor,
                   before_broken: bool, before: str) -> list[str]:
    """What makes a segment's first record not a legitimate start after the part `before`
    (whose last verifiable record is `expected`, and which is broken or not)."""
    anchor = Anchor.from_json(first.get("anchor")) if first is not None else None
    if first is None or first.get("event") != STARTED or anchor is None:
        return ["forged chain segment: a segment begins with chain_started naming the last "
                "verifiable record before the break"]
    if not before_broken:
        return [f"forged chain segment, or one left after a repair: the part before it "
                f"({before}) verifies, so nothing calls for a segment (jitflow audit repair "
                "re-chains the records of a genuine one)"]
    if anchor != expected:
        return [f"forged chain segment: it names {anchor.text()} as the last verifiable "
                f"record before the break, but that is {expected.text()}"]
    return []


def notice(first: Mapping[str, Any], records: int) -> str:
    """How `jitflow audit verify` reports a legitimate segment."""
    anchor = Anchor.from_json(first.get("anchor")) or NOTHING
    return (f"marked chain segment: revoke went on recording here after the break, from "
            f"{anchor.text()}, the last verifiable record (started {first.get('time')} by "
            f"{first.get('actor')}; {records} record{'s' if records != 1 else ''}); new grants "
            "wait until an admin repairs the log (jitflow audit repair)")


def content_problem(record: Mapping[str, Any]) -> str | None:
    """Why a record after a segment's first may not be in a segment (None: it may)."""
    event, reconciled = record.get("event"), record.get("reconciled") is True
    if isinstance(event, str) and recordable(event, reconciled):
        return None
    return (f"a marked segment records only the end of grants and approved grants found "
            f"without their record: {event!r}{' (not reconciled)' if event == GRANTED else ''} "
            "is not one")
