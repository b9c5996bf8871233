"""The audit anchor: the log's head kept outside git, so truncation and rewrites show. Pure.

A hash chain cannot show records cut off its end, and whoever can push can edit a record
and recompute every hash after it. So each `jitflow apply` and `jitflow revoke` that records
something writes the new head of the log (the last verifiable record: its file, seq and hash)
to an AWS SSM parameter (`audit_anchor` in jitflow.yaml), which git pushers cannot write;
`jitflow audit verify --anchor` compares the two. The anchor is only as trustworthy as the
roles that can write it (jitflow's own roles and the account's admins).

The value (format 1) is compact JSON with sorted keys, for example

    {"file":"2026-11.jsonl","hash":"<64 hex digits>","seq":42,"v":1}

`file` names the file in the audit directory that holds the head record: a month file (the
month files are one chain, seq counts across them), or a marked segment `segment-<n>.jsonl`
(a chain of its own, seq from 1; jitflow.audit.segment). The value `unset` (what the bootstrap
writes, and how an admin resets the anchor after a repair) means "no head recorded yet".

When the write happens: after the run's audit commit, before the workflow's push step. A run
writes only when the log contains the head the anchor holds (compare and set): a log that does
not keeps the old head in the anchor as evidence, and the run fails (exit 1) after committing
its records. What each disagreement means is in `compare`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jitflow.audit.segment import is_month_file, segment_number
from jitflow.errors import AuditError

FORMAT = 1
UNSET = "unset"
MONTH_FILES = "the month files"  # the part the month files make (jitflow.audit.parts)
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_KEYS = frozenset({"v", "file", "seq", "hash"})


@dataclass(frozen=True)
class Head:
    """A record of the log by file, seq and hash: what the anchor holds."""

    file: str  # its file's name in the audit directory
    seq: int
    hash: str

    @property
    def part(self) -> str:
        """The chain it is on: MONTH_FILES, or the segment's (or any other) file name."""
        return MONTH_FILES if is_month_file(self.file) else self.file

    @property
    def order(self) -> tuple[int, int]:
        """Its place in the log: the month files first, then segment n, by seq within each."""
        number = segment_number(self.file)
        return (number if number is not None else 0 if self.part == MONTH_FILES else -1,
                self.seq)

    def same_record(self, other: Head) -> bool:
        """The same record: same chain, seq and hash (a record may sit in a later month's
        file and still be itself)."""
        return (self.part, self.seq, self.hash) == (other.part, other.seq, other.hash)

    def text(self) -> str:
        return f"seq {self.seq} (hash {self.hash[:12]}…) in {self.file}"


def head_value(head: Head) -> str:
    """The anchor value for `head` (format 1)."""
    return json.dumps({"v": FORMAT, "file": head.file, "seq": head.seq, "hash": head.hash},
                      sort_keys=True, separators=(",", ":"))


def parse_value(text: str, where: str) -> Head | None:
    """The head an anchor value names; None for `unset`. AuditError (naming `where`) for any
    other text: a value jitflow never writes."""
    if text.strip() == UNSET:
        return None
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = None
    if (
        isinstance(value, dict)
        and set(value) == _KEYS
        and value["v"] == FORMAT
        and isinstance(value["file"], str)
        and type(value["seq"]) is int
        and value["seq"] >= 1
        and isinstance(value["hash"], str)
        and _HEX64.match(value["hash"])
    ):
        return Head(value["file"], value["seq"], value["hash"])
    shown = text if len(text) <= 200 else text[:200] + "…"
    raise AuditError(f"{where} holds {shown!r}, which is not an audit anchor value: expected "
                     f"{UNSET!r} or {{\"v\":{FORMAT},\"file\":…,\"seq\":…,\"hash\":…}}")


@dataclass(frozen=True)
class Stored:
    """One version of the anchor parameter."""

    value: str
    version: int
    modified: datetime | None = None
    by: str | None = None  # who wrote it (SSM's LastModifiedUser), when known

    def text(self) -> str:
        when = f" on {self.modified:%Y-%m-%d %H:%M:%S %Z}".rstrip() if self.modified else ""
        who = f" by {self.by}" if self.by else ""
        return f"version {self.version}{when}{who}"


# --------------------------------------------------------------------- the log's side


@dataclass(frozen=True)
class Found:
    """What the log holds where an anchored head says a record is."""

    part_exists: bool  # the chain it names is in the log (a segment file may be gone)
    part_trusted: bool  # that chain is legitimate (a segment not reported as forged)
    part_last: int  # the seq of that chain's last verifiable record (0: none)
    part_broken: bool  # that chain stops verifying before its end
    hash: str | None  # the hash of its verifiable record at that seq, if it has one


NOT_THERE = Found(False, False, 0, False, None)


@dataclass(frozen=True)
class LogView:
    """The log's head and, for each head asked about, what the log holds there (built by
    jitflow.audit.parts.view in one pass over the log)."""

    head: Head | None  # the last verifiable record of the last legitimate part
    found: Mapping[Head, Found]


class LogSource(Protocol):
    """The log on disk (jitflow.audit.store.AuditLog)."""

    def view(self, wanted: Collection[Head]) -> LogView: ...


class AnchorPort(Protocol):
    """The anchor parameter (jitflow.aws.AnchorParameter)."""

    name: str

    def read(self) -> Stored: ...

    def write(self, value: str) -> int: ...

    def history(self) -> list[Stored]: ...


# --------------------------------------------------------------------- comparing

AGREE, AHEAD, BEHIND, DIVERGED, NO_HEAD = "agree", "ahead", "behind", "diverged", "unset"


@dataclass(frozen=True)
class Verdict:
    """How the log stands to the anchor. `kind`:

    - agree: the log's head is the anchored record.
    - ahead: the anchored record is in the log, with records after it: the anchor write of a
      run that recorded them failed or was skipped (a run without --commit); the next run
      that records something moves the anchor on. Nothing is lost.
    - behind: the log ends before the anchored record (or the chain it is on is gone):
      records were cut off the log's end (truncation), or the run that wrote the anchor did
      not get its commit pushed (the push step failed), or an admin's repair re-chained the
      segment the anchor names. The anchor keeps the head until an admin resets it.
    - diverged: the log holds another record at the anchored seq: it was rewritten (records
      changed and every hash after them recomputed), or the history was replaced.
    - unset: the anchor records no head yet; nothing to compare.
    """

    kind: str
    message: str

    @property
    def writable(self) -> bool:
        """May a run move the anchor on to the log's head (the log contains the anchored
        head, or there is none)?"""
        return self.kind in (AGREE, AHEAD, NO_HEAD)


def compare(anchored: Head | None, view: LogView) -> Verdict:
    """The log (`view`, asked about `anchored`) against the anchored head."""
    if anchored is None:
        return Verdict(NO_HEAD, "the anchor records no head yet (unset): nothing to compare")
    head = view.head
    if head is not None and head.same_record(anchored):
        return Verdict(AGREE, f"the log's head is the anchored record, {anchored.text()}")
    found = view.found.get(anchored, NOT_THERE)
    if found.hash == anchored.hash:
        after = "" if head is None else f", up to {head.text()}"
        return Verdict(AHEAD, f"the log goes on past the anchored record {anchored.text()}"
                              f"{after}: a run's anchor write was missed; nothing is lost")
    return _disagreement(anchored, found, head)


def _disagreement(anchored: Head, found: Found, head: Head | None) -> Verdict:
    where = anchored.part
    if found.hash is not None:
        return Verdict(DIVERGED, f"the log holds another record at seq {anchored.seq} of "
                                 f"{where} (hash {found.hash[:12]}…) than the anchored one "
                                 f"(hash {anchored.hash[:12]}…): the log was rewritten (a "
                                 "record changed and the hashes after it recomputed) or its "
                                 "history replaced")
    ends = f"; the log's head is {head.text()}" if head is not None else "; the log is empty"
    if not found.part_exists:
        return Verdict(BEHIND, f"the log has no {anchored.file}, which holds the anchored "
                               f"record {anchored.text()}: the file was removed (truncated), "
                               "or an admin's repair re-chained it (then reset the anchor)"
                               f"{ends}")
    if not found.part_trusted:
        return Verdict(BEHIND, f"{anchored.file}, which holds the anchored record "
                               f"{anchored.text()}, is reported as a forged segment: the log "
                               f"before it was changed{ends}")
    if found.part_broken:
        return Verdict(BEHIND, f"{where} stop verifying after seq {found.part_last}, before "
                               f"the anchored record {anchored.text()}: the log was changed "
                               f"there (jitflow audit verify shows how){ends}")
    return Verdict(BEHIND, f"{where} end at seq {found.part_last}, before the anchored record "
                           f"{anchored.text()}: records were cut off the log's end "
                           "(truncated), or the run that wrote the anchor did not get its "
                           f"commit pushed{ends}")


@dataclass(frozen=True)
class HistoryVerdict:
    """The anchor's earlier versions against the log."""

    problems: list[str]
    notes: list[str]


def since_reset(versions: Sequence[Stored]) -> tuple[list[Stored], Stored | None]:
    """The versions after the last `unset` (the ones to compare), and that reset."""
    reset = None
    kept: list[Stored] = []
    for version in versions:
        if version.value.strip() == UNSET:
            reset, kept = version, []
        else:
            kept.append(version)
    return kept, reset


def judge_history(earlier: Sequence[Stored], reset: Stored | None, view: LogView,
                  where: str) -> HistoryVerdict:
    """Every head the anchor held since its last reset must be a record of the log (a head
    that is not was truncated or rewritten away, even if a later head agrees), and each in
    turn at or after the one before (an anchor that went backwards was written by hand or
    from another history). `earlier`: those versions in order, the current one excluded."""
    problems: list[str] = []
    notes = [] if reset is None or reset.version == 1 else [
        f"{where} was reset to {UNSET!r} at {reset.text()}: earlier heads are not compared"]
    before: Head | None = None
    for version in earlier:
        try:
            head = parse_value(version.value, f"{where} {version.text()}")
        except AuditError as error:
            problems.append(error.message)
            continue
        assert head is not None  # noqa: S101 (since_reset dropped the unset ones)
        found = view.found.get(head, NOT_THERE)
        if found.hash != head.hash:
            problems.append(f"{where} {version.text()} held {head.text()}, which the log no "
                            f"longer holds: {_disagreement(head, found, view.head).message}")
        elif before is not None and head.order < before.order:
            problems.append(f"{where} went backwards at {version.text()}: from "
                            f"{before.text()} to {head.text()}")
        before = head
    return HistoryVerdict(problems, notes)


@dataclass(frozen=True)
class AnchorReport:
    """`jitflow audit verify --anchor`: the current value against the log, and the earlier
    values since the last reset."""

    name: str
    stored: Stored
    verdict: Verdict
    history: HistoryVerdict

    @property
    def agrees(self) -> bool:
        return self.verdict.kind in (AGREE, NO_HEAD) and not self.history.problems


def check_anchor(port: AnchorPort, log: LogSource) -> AnchorReport:
    """Read the anchor and its history, and judge the log against both (one pass over it)."""
    stored = port.read()
    where = f"the audit anchor {port.name}"
    anchored = parse_value(stored.value, f"{where} ({stored.text()})")
    earlier, reset = since_reset([v for v in port.history() if v.version < stored.version])
    if anchored is None:
        earlier, reset = [], stored
    wanted = {head for version in earlier
              if (head := _parsed(version.value)) is not None} | \
        ({anchored} if anchored is not None else set())
    view = log.view(wanted)
    return AnchorReport(port.name, stored, compare(anchored, view),
                        judge_history(earlier, reset, view, where))


def _parsed(text: str) -> Head | None:
    try:
        return parse_value(text, "")
    except AuditError:
        return None  # judge_history reports it


# --------------------------------------------------------------------- writing


def require_anchored(port: AnchorPort, log: LogSource) -> None:
    """Before a run grants: AuditError unless the log contains the head the anchor holds (or
    it holds none). Granting onto a log that was truncated or rewritten would bury the new
    grant's record in a history nobody can vouch for; removing access never waits for this
    (revoke checks only after its commit, in `advance`)."""
    stored = port.read()
    anchored = parse_value(stored.value, f"the audit anchor {port.name}")
    verdict = compare(anchored, log.view([anchored] if anchored is not None else []))
    if not verdict.writable:
        raise AuditError(f"not granting: the audit log disagrees with its anchor {port.name} "
                         f"({verdict.kind}): {verdict.message}. Nothing was changed in AWS "
                         "and nothing recorded. An admin must find out what happened (jitflow "
                         "audit verify --anchor; docs/setup.md, \"The audit anchor\"), then "
                         "re-run this workflow")


def advance(port: AnchorPort, log: LogSource) -> Head | None:
    """After a run's audit commit: move the anchor on to the log's head, if the log contains
    the head it holds (or it holds none). Returns the head written (None: the log is empty).

    AuditError, leaving the anchor as it is, when the log does not contain the anchored head
    (truncated, rewritten or never pushed: `compare`); AuditError after writing when another
    writer wrote the anchor between this read and this write."""
    stored = port.read()
    anchored = parse_value(stored.value, f"the audit anchor {port.name}")
    view = log.view([anchored] if anchored is not None else [])
    verdict = compare(anchored, view)
    if not verdict.writable:
        raise AuditError(f"the audit log disagrees with its anchor {port.name} ({verdict.kind}):"
                         f" {verdict.message}. The anchor was left as it is, as evidence; the "
                         "records of this run are committed. An admin must find out what "
                         "happened (jitflow audit verify --anchor; docs/setup.md, \"The audit "
                         "anchor\")")
    if view.head is None or verdict.kind == AGREE:
        return view.head
    written = port.write(head_value(view.head))
    if written != stored.version + 1:
        raise AuditError(f"the audit anchor {port.name} was written by someone else between "
                         f"this run's read (version {stored.version}) and its write (version "
                         f"{written}); this run wrote {view.head.text()}. Check it with "
                         "jitflow audit verify --anchor")
    return view.head
