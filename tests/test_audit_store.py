"""The audit log on disk: month files, appends, and every way to tamper with it."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow.audit import chain
from jitflow.audit.store import AuditLog
from jitflow.errors import AuditError

SEP, OCT, NOV = "2026-09.jsonl", "2026-10.jsonl", "2026-11.jsonl"
TIMES = [
    datetime(2026, 9, 10, 8, tzinfo=UTC),
    datetime(2026, 9, 20, 8, tzinfo=UTC),
    datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 10, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 15, 12, tzinfo=UTC),
    datetime(2026, 10, 31, 12, tzinfo=UTC),
    datetime(2026, 11, 2, 9, tzinfo=UTC),
    datetime(2026, 11, 20, 9, tzinfo=UTC),
    datetime(2026, 11, 28, 9, tzinfo=UTC),
]


def details(index: int) -> dict[str, Any]:
    return {
        "request": f"analytics-raw/req-{index}",
        "requester": "alice",
        "principal": "arn:aws:iam::123456789012:role/analyst",
        "account": "123456789012",
        "access": [{"bucket": "raw", "prefix": "team/", "actions": ["s3:PutObject"]}],
        "expiry": "2026-12-01T00:00:00Z",
        "approvers": ["bob"],
        "pr": 40 + index,
        "commit": "a" * 40,
        "actor": "local:test",
        "policy_arn": f"arn:aws:iam::123456789012:policy/jitflow/req-{index}",
    }


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Nine records over three month files: seq 1-3 in September, 4-6 October, 7-9 November."""
    directory = tmp_path / "audit"
    log = AuditLog(directory)
    for index, at in enumerate(TIMES, start=1):
        log.append("granted", details(index), at)
    return directory


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def where(directory: Path) -> list[tuple[str, int | None]]:
    return [(p.path, p.line) for p in AuditLog(directory).verify()]


def messages(directory: Path) -> str:
    return "\n".join(p.text() for p in AuditLog(directory).verify())


# ----------------------------------------------------------------------------- writing


def test_month_rollover_keeps_the_chain_across_files(log_dir: Path) -> None:
    assert sorted(p.name for p in log_dir.iterdir()) == [SEP, OCT, NOV]
    assert [len(read(log_dir / name)) for name in (SEP, OCT, NOV)] == [3, 3, 3]
    records = AuditLog(log_dir).records()
    assert [r["seq"] for r in records] == list(range(1, 10))
    assert records[0]["prev_hash"] == chain.GENESIS
    # The first record of October links to the last of September.
    first_october = json.loads(read(log_dir / OCT)[0])
    last_september = json.loads(read(log_dir / SEP)[-1])
    assert first_october["prev_hash"] == last_september["hash"]
    assert AuditLog(log_dir).verify() == []


def test_append_returns_the_record_as_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")
    record = log.append("granted", details(1), TIMES[0])
    assert json.loads(read(tmp_path / "audit" / SEP)[0]) == record
    assert record["seq"] == 1
    assert record["hash"] == chain.record_hash(record)


def test_changed_files_lists_what_this_instance_appended_to(log_dir: Path) -> None:
    log = AuditLog(log_dir)
    assert log.changed_files() == []
    log.append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    log.append("revoked", details(2), datetime(2026, 12, 1, tzinfo=UTC))
    log.append("revoked", details(3), datetime(2026, 12, 2, tzinfo=UTC))
    assert log.changed_files() == [log_dir / NOV, log_dir / "2026-12.jsonl"]


def test_a_clock_behind_the_last_record_still_appends_after_it(log_dir: Path) -> None:
    """A runner whose clock is behind writes into the newest file, never an older one."""
    record = AuditLog(log_dir).append("expired", details(1), datetime(2026, 10, 31, tzinfo=UTC))
    assert record["seq"] == 10
    assert json.loads(read(log_dir / NOV)[-1]) == record
    assert AuditLog(log_dir).verify() == []


def test_for_request_and_records(log_dir: Path) -> None:
    log = AuditLog(log_dir)
    log.append("revoked", details(4), datetime(2026, 11, 29, tzinfo=UTC))
    found = log.for_request("analytics-raw/req-4")
    assert [(r["seq"], r["event"]) for r in found] == [(4, "granted"), (10, "revoked")]
    assert log.for_request("analytics-raw/none") == []


def test_a_missing_directory_is_an_empty_valid_log(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "nowhere")
    assert log.lines() == []
    assert log.verify() == []
    assert log.records() == []


def test_the_first_append_creates_the_directory(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a" / "audit")
    log.append("chain_started", {}, TIMES[0])
    assert log.verify() == []
    assert log.changed_files() == [tmp_path / "a" / "audit" / SEP]


def test_a_file_without_a_final_newline_gets_whole_lines(log_dir: Path) -> None:
    path = log_dir / NOV
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert AuditLog(log_dir).verify() == []
    AuditLog(log_dir).append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    assert len(read(path)) == 4
    assert AuditLog(log_dir).verify() == []


def test_a_failed_write_leaves_no_half_record(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (log_dir / NOV).read_bytes()
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr("jitflow.audit.store.os.write", half_write)
    with pytest.raises(AuditError, match="cannot write"):
        AuditLog(log_dir).append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    monkeypatch.undo()
    assert (log_dir / NOV).read_bytes() == before
    assert AuditLog(log_dir).verify() == []


def _append_many(directory: str, worker: int, count: int) -> None:
    log = AuditLog(Path(directory))
    at = datetime(2026, 11, 28, tzinfo=UTC)
    for index in range(count):
        log.append("granted", {"request": f"p/w{worker}-{index}"}, at)


def test_appends_from_two_processes_at_once_keep_one_chain(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(directory), w, 40)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    records = AuditLog(directory).records()
    assert [r["seq"] for r in records] == list(range(1, 81))


# ----------------------------------------------------------------------------- reading


def test_an_intact_log_is_read_a_line_at_a_time(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading, verifying and appending stream the files; none of them loads a whole file."""
    monkeypatch.setattr(AuditLog, "lines", lambda _self: pytest.fail("read the whole log"))
    monkeypatch.setattr(Path, "read_bytes", lambda _self: pytest.fail("read a whole file"))
    log = AuditLog(log_dir)
    assert log.verify() == []
    assert [r["seq"] for r in log.records()] == list(range(1, 10))
    assert [r["seq"] for r in log.for_request("analytics-raw/req-4")] == [4]
    summary = log.summary()
    assert (summary.problems, summary.records, summary.files) == ([], 9, 3)
    assert summary.last == json.loads(read(log_dir / NOV)[-1])
    assert AuditLog(log_dir).append("revoked", details(1), TIMES[-1])["seq"] == 10


def test_records_are_the_lines_as_written(log_dir: Path) -> None:
    log = AuditLog(log_dir)
    assert log.records() == [json.loads(text) for _file, _line, text in log.lines()]
    assert [list(r) for r in log.records()] == [
        list(json.loads(text)) for _file, _line, text in log.lines()  # same key order
    ]


def test_summary_counts_only_files_that_hold_records(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    assert AuditLog(directory).summary().last is None
    AuditLog(directory).append("granted", details(1), TIMES[0])
    (directory / "2026-12.jsonl").write_bytes(b"")
    summary = AuditLog(directory).summary()
    assert (summary.problems, summary.records, summary.files) == ([], 1, 1)
    assert summary.last is not None and summary.last["seq"] == 1


def test_select_keeps_what_is_asked_and_refuses_a_broken_log(log_dir: Path) -> None:
    log = AuditLog(log_dir)
    picked = log.select(lambda r: r["pr"] % 2 == 0)
    assert [r["seq"] for r in picked] == [2, 4, 6, 8]
    assert log.select(lambda _r: False) == []
    lines = read(log_dir / OCT)
    write(log_dir / OCT, [lines[0], lines[2]])
    with pytest.raises(AuditError, match=r"2026-10\.jsonl:2: 1 record missing"):
        AuditLog(log_dir).select(lambda _r: True)


def test_an_append_hands_over_only_the_records_others_wrote_since(log_dir: Path) -> None:
    reader, other = AuditLog(log_dir), AuditLog(log_dir)
    reader.for_request("analytics-raw/req-1")  # reads the whole log: seq 1..9 seen
    other.append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    handed: list[list[int]] = []

    def note(others: list[dict[str, Any]]) -> bool:
        handed.append([r["seq"] for r in others])
        return False

    reader.append_unless("revoked", details(2), datetime(2026, 11, 29, 1, tzinfo=UTC), note)
    fresh = AuditLog(log_dir)
    fresh.append_unless("revoked", details(3), datetime(2026, 11, 29, 2, tzinfo=UTC), note)
    assert handed == [[10], list(range(1, 12))]


def reference(directory: Path) -> list[tuple[str, int | None, str]]:
    """What `verify` reported before it streamed: every line read at once, then checked."""
    log = AuditLog(directory)
    problems = log._stray_problems() + chain.verify_chain(log.lines())
    return [(p.path, p.line, p.message) for p in problems]


@pytest.mark.parametrize(
    "tamper",
    [
        "edit", "delete", "truncate", "stray_file", "bad_bytes_in_a_record",
        "cut_multibyte_at_line_end", "empty_line", "crlf",
    ],
)
def test_verify_reports_what_the_whole_log_check_reported(log_dir: Path, tamper: str) -> None:
    path = log_dir / OCT
    data = path.read_bytes()
    if tamper == "edit":
        path.write_bytes(data.replace(b'"pr":45', b'"pr":46'))
    elif tamper == "delete":
        path.write_bytes(b"\n".join(data.split(b"\n")[1:]))
    elif tamper == "truncate":
        path.write_bytes(data[:-50])
    elif tamper == "stray_file":
        (log_dir / "2026-10.jsonl.orig.jsonl").write_bytes(data)
    elif tamper == "bad_bytes_in_a_record":
        path.write_bytes(data.replace(b"alice", b"al\xff\xe2\x82ce", 1))
    elif tamper == "cut_multibyte_at_line_end":
        path.write_bytes(data + b"\xe2\x82\n\xf0\x9f\x98\n")
    elif tamper == "empty_line":
        path.write_bytes(data.replace(b"\n", b"\n\n", 1))
    else:
        path.write_bytes(data.replace(b"\n", b"\r\n"))
    found = [(p.path, p.line, p.message) for p in AuditLog(log_dir).verify()]
    assert found == reference(log_dir)
    assert found or tamper == "crlf"  # JSON allows the \r before the newline


def test_a_record_with_bytes_that_are_not_utf8_reads_as_before(log_dir: Path) -> None:
    """Bad bytes decode to U+FFFD line by line just as the whole file did; a record hashed
    over that text still verifies, with the same content."""
    log = AuditLog(log_dir)
    last = log.records()[-1]
    forged = chain.next_record(
        last, at=TIMES[-1], event="granted", details={"reason": "a\ufffdb\ufffd"}
    )
    raw = chain.dumps(forged).encode().replace("\ufffd".encode(), b"\xff", 1)
    raw = raw.replace("\ufffd".encode(), b"\xe2\x82", 1)
    with (log_dir / NOV).open("ab") as handle:
        handle.write(raw + b"\n")
    assert reference(log_dir) == []
    assert AuditLog(log_dir).verify() == []
    assert AuditLog(log_dir).records()[-1] == forged


# ----------------------------------------------------------------------------- tampering


def test_tamper_edit_a_field(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    lines[1] = lines[1].replace('"pr":45', '"pr":46')
    write(log_dir / OCT, lines)
    assert where(log_dir) == [(str(log_dir / OCT), 2)]
    assert "edited" in messages(log_dir)


def test_tamper_edit_and_rehash_one_record_without_fixing_the_next(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    record = json.loads(lines[1])
    record["expiry"] = "2027-12-01T00:00:00Z"
    record["hash"] = chain.record_hash(record)
    lines[1] = chain.dumps(record)
    write(log_dir / OCT, lines)
    assert where(log_dir) == [(str(log_dir / OCT), 2)]
    assert "changed and re-hashed" in messages(log_dir)


def test_tamper_delete_a_record(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    del lines[1]
    write(log_dir / OCT, lines)
    assert where(log_dir) == [(str(log_dir / OCT), 2)]
    assert "1 record missing before this line (seq 5)" in messages(log_dir)


def test_tamper_insert_a_record(log_dir: Path) -> None:
    """A well-forged insertion: right seq, linked to its predecessor, correctly hashed."""
    lines = read(log_dir / OCT)
    before = json.loads(lines[0])
    forged = chain.next_record(
        before, at=datetime(2026, 10, 2, tzinfo=UTC), event="granted", details=details(99)
    )
    lines.insert(1, chain.dumps(forged))
    write(log_dir / OCT, lines)
    assert where(log_dir) == [(str(log_dir / OCT), 2)]
    assert "inserted record" in messages(log_dir)


def test_tamper_insert_a_copied_line(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    lines.insert(2, lines[0])
    write(log_dir / OCT, lines)
    problems = AuditLog(log_dir).verify()
    assert {(p.path, p.line) for p in problems} == {(str(log_dir / OCT), 3)}
    assert any("duplicate seq 4" in p.message for p in problems)


def test_tamper_swap_two_records(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    lines[1], lines[2] = lines[2], lines[1]
    write(log_dir / OCT, lines)
    assert where(log_dir) == [(str(log_dir / OCT), 2), (str(log_dir / OCT), 3)]
    assert "out of order" in messages(log_dir)


def test_tamper_truncate_the_last_line_mid_json(log_dir: Path) -> None:
    path = log_dir / NOV
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    assert where(log_dir) == [(str(path), 3)]
    assert "not valid JSON" in messages(log_dir)


def test_tamper_delete_a_whole_month_file(log_dir: Path) -> None:
    (log_dir / OCT).unlink()
    assert where(log_dir) == [(str(log_dir / NOV), 1)]
    text = messages(log_dir)
    assert "3 records missing before this line (seq 4..6)" in text
    assert "month file" in text


def test_tamper_delete_the_first_month_file(log_dir: Path) -> None:
    (log_dir / SEP).unlink()
    assert where(log_dir) == [(str(log_dir / OCT), 1)]
    assert "does not start at the first record" in messages(log_dir)


def test_tamper_forged_chain_restart(log_dir: Path) -> None:
    """A second chain started after the real one: a new genesis record and its successor."""
    lines = read(log_dir / NOV)
    fresh = chain.next_record(None, at=datetime(2026, 11, 28, 10, tzinfo=UTC),
                              event="chain_started", details={})
    follow = chain.next_record(fresh, at=datetime(2026, 11, 28, 11, tzinfo=UTC),
                               event="granted", details=details(7))
    write(log_dir / NOV, [*lines, chain.dumps(fresh), chain.dumps(follow)])
    problems = AuditLog(log_dir).verify()
    assert (problems[0].path, problems[0].line) == (str(log_dir / NOV), 4)
    assert "forged chain restart" in problems[0].message
    assert (str(log_dir / NOV), 5) in where(log_dir)  # its seq 2 repeats the real seq 2


def test_tamper_renamed_month_file_is_reported(log_dir: Path) -> None:
    (log_dir / NOV).rename(log_dir / "2026-11.jsonl.bak.jsonl")
    problems = AuditLog(log_dir).verify()
    assert [p.path for p in problems] == [str(log_dir / "2026-11.jsonl.bak.jsonl")]


def test_appending_to_a_tampered_log_is_refused(log_dir: Path) -> None:
    lines = read(log_dir / OCT)
    del lines[1]
    write(log_dir / OCT, lines)
    before = {p.name: p.read_bytes() for p in log_dir.iterdir()}
    log = AuditLog(log_dir)
    with pytest.raises(AuditError, match=r"refusing to append.*2026-10\.jsonl:2"):
        log.append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    assert {p.name: p.read_bytes() for p in log_dir.iterdir()} == before
    assert log.changed_files() == []


def test_tampering_between_two_appends_of_one_run_is_noticed(log_dir: Path) -> None:
    log = AuditLog(log_dir)
    log.append("revoked", details(1), datetime(2026, 11, 29, tzinfo=UTC))
    lines = read(log_dir / NOV)
    lines[0] = lines[0].replace('"pr":47', '"pr":48')
    write(log_dir / NOV, lines)
    with pytest.raises(AuditError, match=r"2026-11\.jsonl:1"):
        log.append("revoked", details(2), datetime(2026, 11, 29, 1, tzinfo=UTC))


def test_records_of_a_broken_log_raise_naming_file_and_line(log_dir: Path) -> None:
    lines = read(log_dir / SEP)
    lines[2] = lines[2].replace("alice", "mallory")
    write(log_dir / SEP, lines)
    with pytest.raises(AuditError, match=r"2026-09\.jsonl:3: record was edited"):
        AuditLog(log_dir).records()
    with pytest.raises(AuditError):
        AuditLog(log_dir).for_request("analytics-raw/req-1")


def test_a_long_log_verifies_quickly(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(2000):
        log.append("granted", details(index), start + timedelta(hours=3 * index))
    assert len(AuditLog(tmp_path / "audit").records()) == 2000
