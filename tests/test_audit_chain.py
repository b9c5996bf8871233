"""The pure audit chain: record building, hashing and `verify_chain` on in-memory lines."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitflow.audit import chain as audit
from jitflow.model import AccessEntry

T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
FILE = "audit/2026-11.jsonl"


def chain(count: int, start: datetime = T0) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for index in range(count):
        prev = records[-1] if records else None
        records.append(
            audit.next_record(
                prev,
                at=start + timedelta(minutes=index),
                event="granted",
                details={"request": f"analytics/r{index}", "pr": index + 1},
            )
        )
    return records


def as_lines(records: list[dict[str, Any]], file: str = FILE) -> list[tuple[str, int, str]]:
    return [(file, number, audit.dumps(r)) for number, r in enumerate(records, start=1)]


def where(problems: list[Any]) -> list[tuple[str, int | None]]:
    return [(p.path, p.line) for p in problems]


# ----------------------------------------------------------------------------- building


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert audit.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_canonical_refuses_nan() -> None:
    with pytest.raises(ValueError):
        audit.canonical({"a": float("nan")})


def test_record_hash_is_sha256_of_canonical_json_without_hash() -> None:
    record = {"seq": 1, "hash": "ignored", "x": "ü"}
    expected = hashlib.sha256('{"seq":1,"x":"ü"}'.encode()).hexdigest()
    assert audit.record_hash(record) == expected
    assert audit.record_hash({"seq": 1, "x": "ü"}) == expected


def test_first_record_starts_the_chain_with_genesis() -> None:
    record = audit.next_record(None, at=T0, event="chain_started", details={})
    assert record["seq"] == 1
    assert record["prev_hash"] == audit.GENESIS == "0" * 64
    assert record["time"] == "2026-11-28T09:00:00Z"
    assert record["hash"] == audit.record_hash(record)


def test_every_field_is_present_with_null_defaults() -> None:
    record = audit.next_record(None, at=T0, event="rejected", details={"reason": "no approval"})
    assert set(record) == audit.FIELDS
    assert record["reason"] == "no approval"
    assert record["reconciled"] is False
    for name in ("request", "requester", "principal", "account", "access", "expiry",
                 "approvers", "pr", "commit", "actor", "policy_arn"):
        assert record[name] is None


def test_next_record_links_to_the_previous_one() -> None:
    first, second = chain(2)
    assert second["seq"] == 2
    assert second["prev_hash"] == first["hash"]


def test_values_are_normalised_to_their_json_form() -> None:
    record = audit.next_record(
        None,
        at=datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        event="granted",
        details={
            "access": (AccessEntry("bucket", "team/", ("s3:PutObject",)),),
            "approvers": ("alice", "bob"),
            "expiry": datetime(2026, 11, 28, 13, 0, 0, tzinfo=UTC),
            "reconciled": True,
        },
    )
    assert record["time"] == "2026-11-28T09:00:00Z"
    assert record["access"] == [
        {"bucket": "bucket", "prefix": "team/", "actions": ["s3:PutObject"]}
    ]
    assert record["approvers"] == ["alice", "bob"]
    assert record["expiry"] == "2026-11-28T13:00:00Z"
    # What is returned is exactly what reads back from the file.
    assert json.loads(audit.dumps(record)) == record


@pytest.mark.parametrize(
    ("event", "details"),
    [
        ("granted_forever", {}),
        ("granted", {"colour": "red"}),
        ("granted", {"seq": 5}),
        ("granted", {"hash": "0" * 64}),
        ("granted", {"pr": "12"}),
        ("granted", {"pr": True}),
        ("granted", {"reconciled": "yes"}),
        ("granted", {"approvers": "alice"}),
        ("granted", {"access": [{"bucket": "b"}]}),
        ("granted", {"access": {"bucket": "b", "prefix": "", "actions": []}}),
        ("granted", {"expiry": "tomorrow"}),
        ("granted", {"request": 7}),
        ("chain_started", {"anchor": {"file": "2026-11.jsonl", "line": 1, "seq": 1}}),
        ("chain_started", {"anchor": {"file": "f", "line": -1, "seq": 1, "hash": "0" * 64}}),
        ("chain_started", {"anchor": {"file": "f", "line": 1, "seq": True, "hash": "0" * 64}}),
        ("chain_started", {"anchor": {"file": "f", "line": 1, "seq": 1, "hash": "F" * 64}}),
        ("chain_started", {"anchor": "2026-11.jsonl:1"}),
    ],
)
def test_next_record_refuses_unknown_events_fields_and_wrong_types(
    event: str, details: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        audit.next_record(None, at=T0, event=event, details=details)


def test_next_record_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        audit.next_record(None, at=datetime(2026, 11, 28), event="granted", details={})


# ----------------------------------------------------------------------------- verifying


def test_an_intact_chain_has_no_problems() -> None:
    assert audit.verify_chain(as_lines(chain(5))) == []


def test_an_empty_log_is_valid() -> None:
    assert audit.verify_chain([]) == []


def test_an_edited_field_is_reported_on_its_line() -> None:
    records = chain(4)
    lines = as_lines(records)
    edited = dict(records[1], pr=999)
    lines[1] = (FILE, 2, audit.dumps(edited))
    problems = audit.verify_chain(lines)
    assert where(problems) == [(FILE, 2)]
    assert "edited" in problems[0].message


def test_a_record_that_is_not_json_is_reported() -> None:
    lines = as_lines(chain(3))
    lines[2] = (FILE, 3, lines[2][2][:40])
    problems = audit.verify_chain(lines)
    assert where(problems) == [(FILE, 3)]
    assert "not valid JSON" in problems[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "not a JSON object"),
        ("", "empty line"),
    ],
)
def test_lines_that_are_not_records(text: str, message: str) -> None:
    lines = as_lines(chain(3))
    lines.insert(1, (FILE, 99, text))
    problems = audit.verify_chain(lines)
    assert (FILE, 99) in where(problems)
    assert any(message in p.message for p in problems)


def test_a_record_with_a_missing_or_extra_field_is_reported_even_when_rehashed() -> None:
    records = chain(3)
    odd = {k: v for k, v in records[2].items() if k != "actor"}
    odd["note"] = "added later"
    odd["hash"] = audit.record_hash(odd)
    lines = as_lines([*records[:2], odd])
    problems = audit.verify_chain(lines)
    assert where(problems) == [(FILE, 3), (FILE, 3)]
    assert {"missing field(s) actor", "unknown field(s) note"} == {p.message for p in problems}


def test_a_record_in_an_earlier_months_file_is_reported() -> None:
    records = chain(2, start=datetime(2026, 12, 1, tzinfo=UTC))
    problems = audit.verify_chain(as_lines(records, file="audit/2026-11.jsonl"))
    assert where(problems) == [("audit/2026-11.jsonl", 1), ("audit/2026-11.jsonl", 2)]


def test_a_log_that_does_not_start_at_seq_1_is_reported() -> None:
    lines = as_lines(chain(4))[2:]
    problems = audit.verify_chain(lines)
    assert where(problems) == [(FILE, 3)]
    assert "does not start" in problems[0].message


def test_a_duplicate_seq_is_reported() -> None:
    records = chain(3)
    again = audit.next_record(records[2], at=T0, event="revoked", details={})
    again["seq"] = 2
    again["hash"] = audit.record_hash(again)
    problems = audit.verify_chain(as_lines([*records, again]))
    assert (FILE, 4) in where(problems)
    assert any("duplicate seq 2" in p.message for p in problems)


def test_removing_the_last_records_needs_an_outside_anchor() -> None:
    """A chain cut at its end is still a valid chain: compare the last hash with git's copy."""
    assert audit.verify_chain(as_lines(chain(5))[:3]) == []


MUTATIONS = ("delete", "swap", "duplicate", "edit", "edit_rehash", "move_to_end")


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(min_value=3, max_value=9),
    mutation=st.sampled_from(MUTATIONS),
    data=st.data(),
)
def test_every_change_to_the_history_is_detected(
    count: int, mutation: str, data: st.DataObject
) -> None:
    """Any edit, removal (not of the tail), reorder or insertion is found somewhere."""
    records = chain(count)
    texts = [audit.dumps(r) for r in records]
    i = data.draw(st.integers(min_value=0, max_value=count - 2), label="index")
    if mutation == "delete":
        del texts[i]
    elif mutation == "swap":
        j = data.draw(st.integers(min_value=i + 1, max_value=count - 1), label="other")
        texts[i], texts[j] = texts[j], texts[i]
    elif mutation == "duplicate":
        texts.insert(data.draw(st.integers(min_value=0, max_value=count), label="at"), texts[i])
    elif mutation == "move_to_end":
        texts.append(texts.pop(i))
    else:
        changed = dict(records[i], reason="changed afterwards")
        if mutation == "edit_rehash":
            changed["hash"] = audit.record_hash(changed)
        texts[i] = audit.dumps(changed)
    lines = [(FILE, n, t) for n, t in enumerate(texts, start=1)]
    assert audit.verify_chain(lines) != []


# ----------------------------------------------------------------------------- streaming


def follow(lines: list[tuple[str, int, str]]) -> audit.ChainFollower:
    follower = audit.ChainFollower()
    for file, _line, text in lines:
        follower.feed(file, text)
    return follower


def full_records(count: int) -> list[dict[str, Any]]:
    """Records with every detail field set, the way the engine writes them."""
    records: list[dict[str, Any]] = []
    for index in range(count):
        records.append(
            audit.next_record(
                records[-1] if records else None,
                at=T0 + timedelta(days=10 * index),
                event="granted" if index % 2 else "expired",
                details={
                    "request": f"analytics/r{index}", "requester": "alice",
                    "principal": "arn:aws:iam::111122223333:role/a", "account": "111122223333",
                    "access": [AccessEntry("b", "p/", ("s3:PutObject",))],
                    "expiry": T0 + timedelta(hours=index), "approvers": ["bob"],
                    "pr": index, "commit": "c" * 40, "actor": "local:x",
                    "policy_arn": "arn:aws:iam::111122223333:policy/jitflow/x",
                    "reason": "é \u2028 \n", "reconciled": index == 3,
                },
            )
        )
    return records


def test_the_follower_takes_an_intact_chain_without_the_full_shape_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = full_records(6)
    files = [f"audit/{audit.month_of(r['time'])}.jsonl" for r in records]
    monkeypatch.setattr(audit, "_shape_problems", lambda _record: pytest.fail("slow path"))
    follower = audit.ChainFollower()
    fed = [follower.feed(file, audit.dumps(r)) for file, r in zip(files, records, strict=True)]
    assert fed == records
    assert not follower.broken
    assert (follower.count, follower.seq, follower.hash) == (6, 6, records[-1]["hash"])


def test_the_quick_shape_test_knows_every_field() -> None:
    """A field added to the records needs its quick test in `_plain_details` (else every
    record takes the full shape check: correct, slower)."""
    assert audit._QUICK_FIELDS == audit.FIELDS
    assert audit._QUICK


def test_the_quick_shape_test_is_off_while_a_field_is_unknown_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = full_records(1)[0]
    assert audit._plainly_well_formed(record)
    monkeypatch.setattr(audit, "_QUICK", False)
    assert not audit._plainly_well_formed(record)
    follower = audit.ChainFollower()
    assert follower.feed(FILE, audit.dumps(record)) == record  # the full check still passes it


def test_the_follower_accepts_any_json_spelling_of_a_record() -> None:
    """The hash covers the canonical form, so spacing and key order on the line are free."""
    records = chain(3)
    spelled = [json.dumps(dict(reversed(list(r.items()))), indent=1).replace("\n", " ")
               for r in records]
    lines = [(FILE, n, t) for n, t in enumerate(spelled, start=1)]
    assert audit.verify_chain(lines) == []
    assert follow(lines).count == 3 and not follow(lines).broken


def test_the_follower_stops_for_good_at_the_first_imperfect_line() -> None:
    texts = [audit.dumps(r) for r in chain(4)]
    follower = audit.ChainFollower()
    assert follower.feed(FILE, texts[0]) is not None
    assert follower.feed(FILE, texts[2]) is None  # seq 3 after seq 1
    assert follower.broken
    assert follower.feed(FILE, texts[1]) is None  # the right one now: still broken
    assert follower.count == 1


def rehashed(record: dict[str, Any], **changes: Any) -> str:
    changed = dict(record, **changes)
    changed["hash"] = audit.record_hash(changed)
    return audit.dumps(changed)


@pytest.mark.parametrize(
    ("case", "texts"),
    [
        ("a seq that skips", lambda r: [audit.dumps(r[0]), rehashed(r[1], seq=3)]),
        ("a first record that is not seq 1", lambda r: [rehashed(r[0], seq=2)]),
        ("a first record after another", lambda r: [rehashed(r[0], prev_hash="a" * 64)]),
        ("a restart", lambda r: [audit.dumps(r[0]), rehashed(r[1], prev_hash=audit.GENESIS)]),
        ("an edit", lambda r: [audit.dumps(dict(r[0], pr=9))]),
        ("an empty line", lambda r: [""]),
        ("a list", lambda r: ["[1]"]),
        ("NaN", lambda r: [audit.dumps(r[0]).replace('"pr":1', '"pr":NaN')]),
        ("a later month's record", lambda r: [rehashed(r[0], time="2026-12-01T00:00:00Z")]),
    ],
)
def test_the_follower_breaks_where_verify_chain_finds_a_problem(case: str, texts: Any) -> None:
    lines = as_lines_of(texts(chain(2)))
    assert audit.verify_chain(lines), case
    assert follow(lines).broken, case


def as_lines_of(texts: list[str]) -> list[tuple[str, int, str]]:
    return [(FILE, n, t) for n, t in enumerate(texts, start=1)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**40) | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "2026-11-28T09:00:00Z", "2026-13-01T00:00:00Z", "a" * 64,
                       "0" * 64, "granted", "s3:PutObject"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["bucket", "prefix", "actions", "x"]), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(
    field=st.sampled_from([*sorted(audit.FIELDS), "extra"]),
    value=JSON_VALUES,
    drop=st.booleans(),
)
def test_the_quick_shape_test_never_passes_a_record_the_full_one_refuses(
    field: str, value: Any, drop: bool
) -> None:
    record = full_records(2)[1]
    if drop:
        record.pop(field, None)
    else:
        record[field] = value
    if audit._plainly_well_formed(record):
        assert audit._shape_problems(record) == []


MORE_MUTATIONS = (*MUTATIONS, "retype", "retype_rehash", "blank", "restart", "respell",
                  "earlier_month")


@settings(max_examples=400, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=6),
    mutation=st.sampled_from(MORE_MUTATIONS),
    field=st.sampled_from(sorted(audit.FIELDS)),
    value=JSON_VALUES,
    data=st.data(),
)
def test_the_follower_passes_exactly_the_logs_verify_chain_finds_intact(
    count: int, mutation: str, field: str, value: Any, data: st.DataObject
) -> None:
    records = full_records(count)
    texts = [audit.dumps(r) for r in records]
    files = [f"audit/{audit.month_of(r['time'])}.jsonl" for r in records]
    i = data.draw(st.integers(min_value=0, max_value=count - 1), label="index")
    if mutation in ("retype", "retype_rehash"):
        changed = dict(records[i], **{field: value})
        if mutation == "retype_rehash":
            with contextlib.suppress(ValueError):  # NaN cannot be hashed: left unhashed
                changed["hash"] = audit.record_hash(changed)
        texts[i] = json.dumps(changed)
    elif mutation == "blank":
        texts[i] = " "
    elif mutation == "restart":
        texts.append(audit.dumps(audit.next_record(None, at=T0, event="granted", details={})))
        files.append(files[-1])
    elif mutation == "respell":
        texts[i] = json.dumps(records[i], indent=2).replace("\n", "")
    elif mutation == "earlier_month":
        files[i] = "audit/2000-01.jsonl"
    elif mutation == "delete":
        del texts[i], files[i]
    elif mutation in ("swap", "move_to_end"):
        j = count - 1 if mutation == "move_to_end" else data.draw(
            st.integers(min_value=0, max_value=count - 1), label="other")
        texts[i], texts[j] = texts[j], texts[i]
    elif mutation == "duplicate":
        at = data.draw(st.integers(min_value=0, max_value=count), label="at")
        texts.insert(at, texts[i])
        files.insert(at, files[min(at, count - 1)])
    else:
        changed = dict(records[i], reason="changed afterwards")
        if mutation == "edit_rehash":
            changed["hash"] = audit.record_hash(changed)
        texts[i] = audit.dumps(changed)
    lines = [(file, n, t) for n, (file, t) in enumerate(zip(files, texts, strict=True), 1)]
    try:
        found = audit.verify_chain(lines)
    except TypeError:  # an unhashable event: verify_chain fails, and so must the follower
        with pytest.raises(TypeError):
            follow(lines)
        return
    assert bool(found) == follow(lines).broken


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(alphabet=' \t\r\n\ufeff{}[]":,0123456789.eE+-truefalsn\\x', max_size=30),
        st.builds(lambda v, a, b: a + json.dumps(v) + b, JSON_VALUES,
                  st.sampled_from(["", " ", "\ufeff", "\r"]),
                  st.sampled_from(["", " ", "\r", "x", "{}", "\n"])),
    )
)
def test_the_quick_json_reader_reads_as_json_loads(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error).split(":")[0])):
            audit._loads(text)
        return
    assert audit._loads(text) == expected
