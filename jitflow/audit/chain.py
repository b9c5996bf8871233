"""The audit hash chain: pure values in, records and problems out. No I/O.

Every record is one JSON object on one line. Its `hash` is the sha256 (hex) of the
canonical JSON of the record without `hash`; its `prev_hash` is the `hash` of the record
before it (64 zeros for the first record ever); `seq` counts 1, 2, 3... across all files.
Changing, removing, adding or moving any record therefore breaks a link that
`verify_chain` reports with the file and line where it shows.

What a chain cannot prove by itself: that records were not cut off its *end* (a removed
last record or last month file leaves a shorter chain that is still intact), or that a record
was not edited with every hash after it recomputed. The anchor (jitflow.audit.anchor: the head
kept outside git) and the history check (jitflow.audit.history: git's earlier versions) do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jitflow.clock import iso
from jitflow.problems import Problem

EVENTS: frozenset[str] = frozenset(
    {
        "granted",
        "revoked",
        "expired",
        "early_revoked",
        "orphan_revoked",
        "rejected",
        "reconciled",
        "chain_started",
        "break_glass_reviewed",
    }
)
GENESIS = "0" * 64

# Fields a caller provides (all optional; missing ones are null, `reconciled` is false).
DETAIL_FIELDS: tuple[str, ...] = (
    "request",
    "requester",
    "principal",
    "account",
    "access",
    "expiry",
    "approvers",
    "pr",
    "commit",
    "actor",
    "policy_arn",
    "reason",
    "reconciled",
    # Added with bucket-policy grants; records written before them do not have these keys.
    "grant_mode",
    "session",
    "role_id",
    "buckets",
    # A `chain_started` record's link to the log before a break (jitflow.audit.segment).
    "anchor",
    # A break-glass grant's terms (merged_by, review_due, reviewers), or its review (reviewer).
    "break_glass",
    # A grant with a scheduled start (`not_before`): when it starts (null: at the record).
    "starts",
)
LATER_FIELDS: frozenset[str] = frozenset(
    {"grant_mode", "session", "role_id", "buckets", "anchor", "break_glass", "starts"})
# Fields the chain fills in.
CHAIN_FIELDS: tuple[str, ...] = ("seq", "time", "event", "prev_hash", "hash")
FIELDS: frozenset[str] = frozenset(DETAIL_FIELDS + CHAIN_FIELDS)

_TIME = re.compile(r"\d{4}-(0[1-9]|1[0-2])-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_MONTH_FILE = re.compile(r"(?:.*[/\\])?(\d{4}-(?:0[1-9]|1[0-2]))\.jsonl\Z")
_STRING_FIELDS = ("request", "requester", "principal", "account", "commit", "actor",
                  "policy_arn", "reason", "grant_mode", "session", "role_id")
_BUCKET_KEYS = frozenset({"bucket", "sids", "sha256", "policy_bytes"})
_ANCHOR_KEYS = frozenset({"file", "line", "seq", "hash"})
_BREAK_GLASS_KEYS = frozenset({"merged_by", "review_due", "reviewers", "reviewer"})
_ACCESS_KEYS = frozenset({"bucket", "prefix", "actions"})


# What `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False)` builds on every call, built once (it keeps no state between calls).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte form that is hashed: sorted keys, no spaces, UTF-8, no NaN."""
    return _CANONICAL.encode(obj).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 hex over the canonical JSON of `record` without its `hash` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def month_of(time_text: str) -> str:
    """`2026-11-28T09:00:00Z` -> `2026-11` (the month file a record belongs in)."""
    return time_text[:7]


# ---------------------------------------------------------------------------- building


def _access_item(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        if set(item) != {"bucket", "prefix", "actions"}:
            raise ValueError(f"access item needs exactly bucket, prefix, actions: {item!r}")
        bucket, prefix, actions = item["bucket"], item["prefix"], item["actions"]
    else:  # an AccessEntry or anything shaped like one
        try:
            bucket, prefix, actions = item.bucket, item.prefix, item.actions
        except AttributeError:
            raise ValueError(f"access item must be a mapping or AccessEntry: {item!r}") from None
    if not isinstance(bucket, str) or not isinstance(prefix, str):
        raise ValueError(f"access bucket and prefix must be strings: {item!r}")
    if isinstance(actions, str) or not all(isinstance(a, str) for a in actions):
        raise ValueError(f"access actions must be a list of strings: {item!r}")
    return {"bucket": bucket, "prefix": prefix, "actions": list(actions)}


def _bucket_item(item: Any) -> dict[str, Any]:
    """One bucket a bucket-policy grant wrote: its Sids, their sha256, the policy's size."""
    if not isinstance(item, Mapping) or set(item) != _BUCKET_KEYS:
        raise ValueError(f"a buckets item needs exactly {sorted(_BUCKET_KEYS)}: {item!r}")
    sids, size = item["sids"], item["policy_bytes"]
    if not isinstance(item["bucket"], str) or not isinstance(item["sha256"], str):
        raise ValueError(f"bucket and sha256 must be strings: {item!r}")
    if isinstance(sids, str) or not all(isinstance(sid, str) for sid in sids):
        raise ValueError(f"sids must be a list of strings: {item!r}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"policy_bytes must be an int: {item!r}")
    return {"bucket": item["bucket"], "sids": list(sids), "sha256": item["sha256"],
            "policy_bytes": size}


def _break_glass(field: str, value: Any) -> dict[str, Any]:
    """A break-glass grant's terms, or the review that settled one."""
    if not isinstance(value, Mapping) or not value or not set(value) <= _BREAK_GLASS_KEYS:
        raise ValueError(f"break_glass takes only {sorted(_BREAK_GLASS_KEYS)}: {value!r}")
    for key in ("merged_by", "reviewer"):
        if key in value and not isinstance(value[key], str):
            raise ValueError(f"break_glass {key} must be a login: {value!r}")
    if "review_due" in value:
        _expiry("review_due", value["review_due"])
    if "reviewers" in value:
        _approvers("reviewers", value["reviewers"])
    return {key: list(v) if key == "reviewers" else v for key, v in value.items()}


def _anchor(field: str, value: Any) -> dict[str, Any]:
    """The last verifiable record before a break: its file (name in the audit directory, ""
    when none verifies), line, seq and hash."""
    if not isinstance(value, Mapping) or set(value) != _ANCHOR_KEYS:
        raise ValueError(f"anchor needs exactly {sorted(_ANCHOR_KEYS)}: {value!r}")
    file, line, seq, digest = value["file"], value["line"], value["seq"], value["hash"]
    if not isinstance(file, str) or not (isinstance(digest, str) and _HEX64.match(digest)):
        raise ValueError(f"anchor file must be a string and hash 64 hex digits: {value!r}")
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in (line, seq)):
        raise ValueError(f"anchor line and seq must be whole numbers: {value!r}")
    return {"file": file, "line": line, "seq": seq, "hash": digest}


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, not {value!r}")
    return value


def _expiry(field: str, value: Any) -> str:
    """A time field (`expiry`, `starts`)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field} must be an aware datetime")
        return iso(value)
    if not isinstance(value, str) or not _TIME.match(value):
        raise ValueError(f"{field} must be a UTC time like 2026-11-28T09:00:00Z: {value!r}")
    return value


def _pr(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"pr must be an int, not {value!r}")
    return value


def _approvers(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not all(isinstance(login, str) for login in value):
        raise ValueError(f"approvers must be a list of logins, not {value!r}")
    return list(value)


def _items(item: Callable[[Any], dict[str, Any]], shape: str) -> Callable[[str, Any], Any]:
    def check(field: str, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, str | Mapping):
            raise ValueError(f"{field} must be a list of {shape}: {value!r}")
        return [item(one) for one in value]

    return check


# How each caller-given field is checked and turned into its JSON form (ValueError if wrong).
_NORMALISERS: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(_STRING_FIELDS, _string),
    "expiry": _expiry,
    "starts": _expiry,
    "pr": _pr,
    "approvers": _approvers,
    "access": _items(_access_item, "bucket/prefix/actions"),
    "buckets": _items(_bucket_item, "bucket/sids/sha256/policy_bytes"),
    "anchor": _anchor,
    "break_glass": _break_glass,
}


def _normalise(field: str, value: Any) -> Any:
    """Check one caller-given field and turn it into its JSON form (ValueError if wrong)."""
    if field == "reconciled":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise ValueError(f"reconciled must be a bool, not {value!r}")
        return value
    if value is None:
        return None
    if field not in _NORMALISERS:  # pragma: no cover - guarded by the caller
        raise ValueError(f"unknown audit field {field!r}")
    return _NORMALISERS[field](field, value)


def next_record(
    prev: Mapping[str, Any] | None,
    *,
    at: datetime,
    event: str,
    details: Mapping[str, Any],
) -> dict[str, Any]:
    """The record that follows `prev` (None: the first record ever), hash included.

    Refuses (ValueError: a programming error, not a user's) unknown events, unknown or
    chain-owned fields in `details`, and values of the wrong type.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; known: {sorted(EVENTS)}")
    unknown = sorted(set(details) - set(DETAIL_FIELDS))
    if unknown:
        raise ValueError(f"unknown audit field(s) {unknown}; allowed: {list(DETAIL_FIELDS)}")
    if at.tzinfo is None:
        raise ValueError("audit time must be an aware datetime")
    if prev is None:
        seq, prev_hash = 1, GENESIS
    else:
        seq, prev_hash = int(prev["seq"]) + 1, str(prev["hash"])
    record: dict[str, Any] = {"seq": seq, "time": iso(at), "event": event}
    for field in DETAIL_FIELDS:
        record[field] = _normalise(field, details.get(field))
    record["prev_hash"] = prev_hash
    record["hash"] = record_hash(record)
    return record


def dumps(record: Mapping[str, Any]) -> str:
    """One record as its JSON Lines text (canonical form, no newline)."""
    return canonical(record).decode("utf-8")


# ---------------------------------------------------------------------------- checking


def _shape_problems(record: Mapping[str, Any]) -> list[str]:
    """What is wrong with a record's fields, as messages (empty when well formed)."""
    found: list[str] = []
    missing = sorted(FIELDS - LATER_FIELDS - set(record))
    extra = sorted(set(record) - FIELDS)
    if missing:
        found.append(f"missing field(s) {', '.join(missing)}")
    if extra:
        found.append(f"unknown field(s) {', '.join(extra)}")
    seq = record.get("seq")
    if "seq" in record and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 1):
        found.append(f"seq must be a positive integer, not {seq!r}")
    time = record.get("time")
    if "time" in record and not (isinstance(time, str) and _TIME.match(time)):
        found.append(f"time must be a UTC time like 2026-11-28T09:00:00Z, not {time!r}")
    event = record.get("event")
    if "event" in record and not (isinstance(event, str) and event in EVENTS):
        found.append(f"unknown event {record.get('event')!r}")
    for name in ("prev_hash", "hash"):
        value = record.get(name)
        if name in record and not (isinstance(value, str) and _HEX64.match(value)):
            found.append(f"{name} must be 64 lowercase hex digits, not {value!r}")
    for name in DETAIL_FIELDS:
        if name in record:
            try:
                normalised = _normalise(name, record[name])
            except ValueError as error:
                found.append(str(error))
                continue
            if normalised != record[name]:
                found.append(f"{name} is not in its recorded form: {record[name]!r}")
    return found


def _plain_strings(values: list[Any]) -> bool:
    for value in values:  # noqa: SIM110 (a loop is faster than all() over a generator here)
        if type(value) is not str:
            return False
    return True


def _plain_access(access: list[Any]) -> bool:
    for item in access:
        if not (
            type(item) is dict
            and item.keys() == _ACCESS_KEYS
            and type(item["bucket"]) is str
            and type(item["prefix"]) is str
            and type(item["actions"]) is list
            and _plain_strings(item["actions"])
        ):
            return False
    return True


# The fields `_plain_details` knows. A field added to the records without a quick test here
# turns the quick test off (every record then takes `_shape_problems`: slower, never wrong);
# tests/test_audit_chain.py fails until the quick test knows it.
_QUICK_FIELDS = frozenset(
    {*CHAIN_FIELDS, *_STRING_FIELDS, "reconciled", "expiry", "pr", "approvers", "access",
     "buckets", "anchor", "break_glass", "starts"}
)
_QUICK = _QUICK_FIELDS == FIELDS
# The key sets of the records jitflow wrote: now; before `break_glass` and `starts`; before
# `anchor`; before bucket-policy grants.
_KEY_SETS = (FIELDS, FIELDS - {"break_glass", "starts"},
             FIELDS - {"break_glass", "starts", "anchor"}, FIELDS - LATER_FIELDS)


def _plain_buckets(buckets: list[Any]) -> bool:
    for item in buckets:
        if not (
            type(item) is dict
            and item.keys() == _BUCKET_KEYS
            and type(item["bucket"]) is str
            and type(item["sha256"]) is str
            and type(item["policy_bytes"]) is int
            and type(item["sids"]) is list
            and _plain_strings(item["sids"])
        ):
            return False
    return True


def _plain_details(record: dict[str, Any]) -> bool:
    for name in _STRING_FIELDS:
        value = record.get(name)  # a later field may be missing from an older record
        if value is not None and type(value) is not str:
            return False
    expiry, pr, approvers, access, buckets, starts = (
        record["expiry"], record["pr"], record["approvers"], record["access"],
        record.get("buckets"), record.get("starts"),
    )
    return (
        record.get("anchor") is None  # only a segment's first record has one: the slow path
        and record.get("break_glass") is None  # rare too: the slow path checks it
        and type(record["reconciled"]) is bool
        and (expiry is None or (type(expiry) is str and _TIME.match(expiry) is not None))
        and (starts is None or (type(starts) is str and _TIME.match(starts) is not None))
        and (pr is None or type(pr) is int)
        and (approvers is None or (type(approvers) is list and _plain_strings(approvers)))
        and (access is None or (type(access) is list and _plain_access(access)))
        and (buckets is None or (type(buckets) is list and _plain_buckets(buckets)))
    )


def _plain_but_hashes(record: dict[str, Any]) -> bool:
    """`_plainly_well_formed`, except that `prev_hash` and `hash` need only be strings."""
    keys = record.keys()
    if not _QUICK or keys not in _KEY_SETS:
        return False
    seq, time, event = record["seq"], record["time"], record["event"]
    return (
        type(seq) is int
        and seq >= 1
        and type(time) is str
        and _TIME.match(time) is not None
        and type(event) is str
        and event in EVENTS
        and type(record["prev_hash"]) is str
        and type(record["hash"]) is str
        and _plain_details(record)
    )


def _plainly_well_formed(record: dict[str, Any]) -> bool:
    """A quick test that implies `_shape_problems(record) == []`, true of every record that
    `next_record` writes (exact types as `json.loads` makes them). False says nothing: ask
    `_shape_problems`."""
    return (
        _plain_but_hashes(record)
        and _HEX64.match(record["prev_hash"]) is not None
        and _HEX64.match(record["hash"]) is not None
    )


_DECODER = json.JSONDecoder()


def _loads(text: str) -> Any:
    """`json.loads(text)`, a little quicker for a line that is one JSON value and nothing
    else (no whitespace around it): then the two give the same value."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)  # raises as json.loads does (or takes leading whitespace)
    return value if end == len(text) else json.loads(text)


class ChainFollower:
    """Follows the chain line by line keeping only its last link (seq and hash): the fast
    path of `verify_chain` for an intact log, in constant memory.

    `feed` returns each line's record while every line so far is a perfect link: a
    well-formed record, hashing to its stored hash, in its month's file or a later one, seq 1
    with the genesis prev_hash first and then seq + 1 chained to the hash before. Such a log
    is one `verify_chain` finds nothing in. At the first line that is not, `broken` turns
    True for good: only `verify_chain`, over all the lines, can say what is wrong and where."""

    def __init__(self) -> None:
        self.broken = False
        self.count = 0  # records followed
        self.seq = 0
        self.hash = GENESIS
        self._file: str | None = None
        self._month: str | None = None  # the month in the current file's name, if any

    def feed(self, file: str, text: str) -> dict[str, Any] | None:
        """The record on the next line of the log (in `file`); None once the chain broke."""
        if self.broken:
            return None
        if file != self._file:
            self._file = file
            named = _MONTH_FILE.match(file)
            self._month = named.group(1) if named else None
        record = self._link(text)
        if record is None:
            self.broken = True
            return None
        self.count += 1
        self.seq, self.hash = record["seq"], record["hash"]
        return record

    def _link(self, text: str) -> dict[str, Any] | None:
        record = _well_formed(text)
        return record if record is not None and self._follows(record) else None

    def _follows(self, record: dict[str, Any]) -> bool:
        """Hashes to its stored hash, sits in its month's file or a later one, and links to
        the record before (or starts the chain)."""
        body = dict(record)
        stored = body.pop("hash")
        try:
            computed = hashlib.sha256(canonical(body)).hexdigest()
        except ValueError:  # NaN / Infinity
            return False
        if computed != stored or (self._month is not None and record["time"][:7] > self._month):
            return False
        seq: int = record["seq"]
        prev: str = record["prev_hash"]
        if self.count == 0:
            return seq == 1 and prev == GENESIS
        return seq == self.seq + 1 and prev == self.hash and prev != GENESIS


def _well_formed(text: str) -> dict[str, Any] | None:
    """The record on a line when it is a JSON object with no shape problem, else None."""
    try:
        record = _loads(text)
    except (ValueError, RecursionError):
        return None
    if type(record) is not dict:
        return None
    # prev_hash and hash need no pattern here: the hash must equal a sha256 hex digest and
    # prev_hash the one before it (or the genesis), both 64 lowercase hex digits.
    if not _plain_but_hashes(record) and _shape_problems(record):
        return None
    return record


@dataclass
class _Entry:
    file: str
    line: int
    record: dict[str, Any] | None  # None: unreadable
    seq: int = 0
    prev: str = ""
    hash: str = ""

    @property
    def usable(self) -> bool:
        """Has the seq / prev_hash / hash needed to follow the chain."""
        return self.record is not None and bool(self.hash)

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _read(file: str, line_no: int, text: str, problems: list[Problem]) -> _Entry:
    def report(message: str) -> None:
        problems.append(Problem(file, line_no, None, message))

    if not text.strip():
        report("empty line: the log has one record per line")
        return _Entry(file, line_no, None)
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        report("not valid JSON: the record was truncated or corrupted")
        return _Entry(file, line_no, None)
    if not isinstance(record, dict):
        report(f"not a JSON object but {type(record).__name__}")
        return _Entry(file, line_no, None)
    for message in _shape_problems(record):
        report(message)
    entry = _Entry(file, line_no, record)
    seq, prev, stored = record.get("seq"), record.get("prev_hash"), record.get("hash")
    if (
        isinstance(seq, int)
        and not isinstance(seq, bool)
        and isinstance(prev, str)
        and isinstance(stored, str)
    ):
        entry.seq, entry.prev, entry.hash = seq, prev, stored
    try:
        computed = record_hash(record)
    except ValueError:  # NaN / Infinity cannot be canonical
        report("contains a number that canonical JSON cannot hold (NaN or Infinity)")
        return entry
    if isinstance(stored, str) and stored != computed:
        report(
            f"record was edited: its content hashes to {computed[:12]}…, "
            f"not to its stored hash {stored[:12]}…"
        )
    time = record.get("time")
    file_month = _MONTH_FILE.match(file)
    if (
        isinstance(time, str)
        and _TIME.match(time)
        and file_month
        and month_of(time) > file_month.group(1)
    ):
        report(f"record dated {time} is in an earlier month's file ({file_month.group(1)})")
    return entry


def verify_chain(lines: Iterable[tuple[str, int, str]]) -> list[Problem]:
    """Every break in the chain, each with the file and line where it shows.

    `lines` are (file, line number, text) in log order (month files oldest first, lines
    in file order). Finds edited records (hash mismatch), records changed and re-hashed
    (the next record's prev_hash no longer matches), removed records (seq gaps, a log that
    does not start at seq 1), inserted and reordered records, truncated or corrupt lines,
    duplicate seq numbers and forged chain restarts (seq 1 or a genesis prev_hash after the
    chain began).
    """
    problems: list[Problem] = []
    entries = [_read(file, line_no, text, problems) for file, line_no, text in lines]
    _Links(entries, problems).check()
    position: dict[tuple[str, int | None], int] = {
        (entry.file, entry.line): index for index, entry in enumerate(entries)
    }
    return sorted(
        set(problems), key=lambda p: (position.get((p.path, p.line), len(entries)), p.message)
    )


class _Links:
    """The link checks over parsed entries, with the whole-log facts that tell a
    reordering from an insertion or a removal."""

    def __init__(self, entries: list[_Entry], problems: list[Problem]) -> None:
        self.entries = entries
        self.problems = problems
        self.by_hash: dict[str, int] = {}
        self.seq_at: dict[int, list[int]] = {}
        self.referenced: set[str] = set()  # every prev_hash in the log
        for index, entry in enumerate(entries):
            if entry.usable:
                self.by_hash.setdefault(entry.hash, index)
                self.seq_at.setdefault(entry.seq, []).append(index)
                self.referenced.add(entry.prev)
        self.inserted: set[int] = set()
        self.restarts: set[int] = set()

    def report(self, entry: _Entry, message: str) -> None:
        self.problems.append(Problem(entry.file, entry.line, None, message))

    def check(self) -> None:
        first: _Entry | None = None
        max_seq = 0  # highest seq among the usable records so far
        for index, entry in enumerate(self.entries):
            if not entry.usable:
                continue
            if first is None:
                first = entry
                if index == 0 and (entry.seq != 1 or entry.prev != GENESIS):
                    self.report(
                        entry,
                        "the log does not start at the first record (seq 1, genesis "
                        f"prev_hash) but at seq {entry.seq}: earlier records or month files "
                        "were removed",
                    )
            elif entry.seq == 1 or entry.prev == GENESIS:
                self.restarts.add(index)
                self.report(
                    entry,
                    f"forged chain restart: seq {entry.seq} with "
                    f"{'the genesis' if entry.prev == GENESIS else 'a'} prev_hash after the "
                    f"chain began at {first.where()}",
                )
            elif self.entries[index - 1].usable:  # else the unreadable line is reported
                self.link(index, max_seq)
            max_seq = max(max_seq, entry.seq)
        self.duplicates()

    def duplicates(self) -> None:
        """A seq used twice, unless that record is already reported as inserted or a restart."""
        for indexes in self.seq_at.values():
            for later in indexes[1:]:
                if later in self.inserted or later in self.restarts:
                    continue
                earlier = next((i for i in indexes if i < later and i not in self.inserted), None)
                if earlier is not None:
                    self.report(
                        self.entries[later],
                        f"duplicate seq {self.entries[later].seq} "
                        f"(also at {self.entries[earlier].where()})",
                    )

    def link(self, index: int, max_seq: int) -> None:
        """Check the link from entries[index - 1] to entries[index] and explain a break."""
        entry, prev = self.entries[index], self.entries[index - 1]
        if entry.prev == prev.hash:
            if entry.seq != prev.seq + 1:
                self.report(
                    entry,
                    f"seq {entry.seq} does not follow seq {prev.seq} of the record before it "
                    f"(expected {prev.seq + 1})",
                )
            return
        target = self.by_hash.get(entry.prev)
        if target is not None and target < index - 1:
            self.links_back(index, target, max_seq)
        elif target is not None and target > index:
            self.report(
                entry,
                f"out of order: seq {entry.seq} comes before the record it follows "
                f"(seq {self.entries[target].seq} at {self.entries[target].where()})",
            )
        elif entry.seq == prev.seq + 1:  # its predecessor is nowhere in the log
            self.report(
                prev,
                f"record was changed and re-hashed: the next record ({entry.where()}) was "
                "chained to a different hash",
            )
        elif entry.seq > prev.seq + 1:
            self.gap(index)
        elif len(self.seq_at.get(entry.seq, [])) == 1:  # a repeated seq is reported as such
            self.report(entry, f"out of order: seq {entry.seq} comes after seq {prev.seq}")

    def links_back(self, index: int, target: int, max_seq: int) -> None:
        """entries[index] links to entries[target], over the lines between: those on no
        chain (nobody links to them) were inserted; the others were moved."""
        entry, anchor = self.entries[index], self.entries[target]
        for skipped in range(target + 1, index):
            other = self.entries[skipped]
            if other.usable and other.hash not in self.referenced and other.seq <= entry.seq:
                self.inserted.add(skipped)
                self.report(
                    other,
                    f"inserted record: not part of the chain ({entry.where()} links to "
                    f"{anchor.where()}, past this line)",
                )
        if entry.seq == anchor.seq + 1 and entry.seq >= max_seq:
            return
        if entry.seq < max_seq:
            self.report(entry, f"out of order: seq {entry.seq} comes after seq {max_seq}")
            return
        self.report(
            entry,
            f"seq {entry.seq} does not follow seq {anchor.seq} of the record its prev_hash "
            f"names ({anchor.where()})",
        )

    def gap(self, index: int) -> None:
        """Seq jumps forward: records removed, or moved further down the log."""
        entry, prev = self.entries[index], self.entries[index - 1]
        later = sorted(
            seq
            for seq, indexes in self.seq_at.items()
            if prev.seq < seq < entry.seq and indexes[-1] > index
        )
        if later:
            where = self.entries[self.seq_at[later[0]][-1]].where()
            self.report(
                entry, f"out of order: seq {entry.seq} comes before seq {later[0]} ({where})"
            )
            return
        first, last = prev.seq + 1, entry.seq - 1
        count = last - first + 1
        span = f"seq {first}" if count == 1 else f"seq {first}..{last}"
        hint = ""
        if entry.line == 1 and prev.file != entry.file:
            hint = f" (first record of {entry.file}: a month file may have been removed)"
        self.report(
            entry,
            f"{count} record{'s' if count > 1 else ''} missing before this line ({span}): "
            f"seq jumps from {prev.seq} to {entry.seq}{hint}",
        )
