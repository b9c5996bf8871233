"""Marked chain segments (jitflow.audit.segment): a broken log never blocks taking access
away. Revoke records its removals in a segment that verifies on its own and names the last
verifiable record before the break; verify reports the break and the segment, and anything
forged; an admin's repair re-chains the segment once the month files are restored.

The commands over a broken log (revoke removes and records, apply refuses, verify reports)
are in tests/test_cli_broken_log.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow.audit import chain
from jitflow.audit.ledger import Ledger
from jitflow.audit.segment import NOTHING, Anchor, log_file_order
from jitflow.audit.store import AuditLog
from jitflow.cli import main
from jitflow.clock import iso
from jitflow.errors import AuditError

T0 = datetime(2026, 11, 28, 9, tzinfo=UTC)
LATER = T0 + timedelta(hours=3)
NOV = "2026-11.jsonl"


def _never(_others: list[dict[str, Any]]) -> bool:
    return False


def _grants(log_dir: Path, *names: str) -> list[dict[str, Any]]:
    log = AuditLog(log_dir)
    return [log.append("granted", {"request": f"lake/{n}", "actor": "apply"}, T0)
            for n in names]


def _edit(path: Path, line: int, **changes: Any) -> str:
    """Change one record's fields without re-hashing it (a forged record); the old text."""
    lines = path.read_text().splitlines()
    old = lines[line - 1]
    lines[line - 1] = chain.dumps({**json.loads(old), **changes})
    path.write_text("\n".join(lines) + "\n")
    return old


def _restore(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _remove(log_dir: Path, request: str, event: str = "expired",
            reconciled: bool = False) -> dict[str, Any] | None:
    """What revoke's ledger does: one record through the log as revoke uses it."""
    return AuditLog(log_dir).for_removals().append_unless(
        event, {"request": request, "actor": "revoke", "reconciled": reconciled}, LATER, _never)


def _messages(log_dir: Path) -> list[tuple[str, int | None, str, str]]:
    return [(Path(p.path).name, p.line, p.severity, p.message)
            for p in AuditLog(log_dir).verify()]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _broken(log_dir: Path) -> str:
    """Three granted records; the second forged. Returns its genuine text."""
    _grants(log_dir, "a", "b", "c")
    return _edit(log_dir / NOV, 2, request="lake/forged")


def test_a_removal_on_a_broken_log_starts_a_segment_anchored_before_the_break(
    tmp_path: Path,
) -> None:
    first, *_ = _grants(tmp_path, "a", "b", "c")
    _edit(tmp_path / NOV, 2, request="lake/forged")
    _remove(tmp_path, "lake/a")
    started, expired = _lines(tmp_path / "segment-1.jsonl")
    assert (started["seq"], started["prev_hash"], started["event"]) == (1, chain.GENESIS,
                                                                         "chain_started")
    assert started["anchor"] == {"file": NOV, "line": 1, "seq": 1, "hash": first["hash"]}
    assert "2026-11.jsonl:2: record was edited" in started["reason"]
    assert (expired["event"], expired["prev_hash"]) == ("expired", started["hash"])
    # The segment verifies on its own; the month files are as they were (no record added).
    lines = (tmp_path / "segment-1.jsonl").read_text().splitlines()
    assert chain.verify_chain([("segment-1.jsonl", n, t) for n, t in enumerate(lines, 1)]) == []
    assert len((tmp_path / NOV).read_text().splitlines()) == 3


def test_verify_reports_the_break_and_the_segment_that_follows(tmp_path: Path) -> None:
    _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    found = _messages(tmp_path)
    assert [(f, n, s) for f, n, s, _m in found] == [(NOV, 2, "error"),
                                                    ("segment-1.jsonl", 1, "warning")]
    assert "record was edited" in found[0][3]
    assert found[1][3].startswith("marked chain segment: revoke went on recording here after "
                                  "the break, from seq 1 (hash ")
    assert "at 2026-11.jsonl:1, the last verifiable record" in found[1][3]


def test_later_removals_go_on_in_the_same_segment(tmp_path: Path) -> None:
    _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    _remove(tmp_path, "lake/z", "orphan_revoked")
    assert [r["event"] for r in _lines(tmp_path / "segment-1.jsonl")] == [
        "chain_started", "expired", "orphan_revoked"]
    assert not (tmp_path / "segment-2.jsonl").exists()


def test_revoke_trusts_only_the_records_before_the_break_and_its_own(tmp_path: Path) -> None:
    _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    trusted = AuditLog(tmp_path).for_removals().records()
    assert [(r["event"], r["request"]) for r in trusted] == [
        ("granted", "lake/a"), ("chain_started", None), ("expired", "lake/a")]


def test_two_revokes_over_a_broken_log_record_one_end_in_one_segment(tmp_path: Path) -> None:
    """Both read the log before either writes; the second to write learns, under the lock,
    that the first started the segment and recorded the end, and records nothing."""
    _broken(tmp_path)
    arn = "arn:aws:iam::123456789012:policy/jitflow/2026-11-28T11-00-00Z/jitflow.lake.a"
    runs = [Ledger(AuditLog(tmp_path).for_removals(), f"revoke-{n}") for n in (1, 2)]
    for ledger in runs:
        ledger.load()
    for ledger in runs:
        ledger.record("expired", LATER, request="lake/a", policy_arn=arn)
    assert [r["event"] for r in _lines(tmp_path / "segment-1.jsonl")] == [
        "chain_started", "expired"]
    assert AuditLog(tmp_path).segment_files() == [tmp_path / "segment-1.jsonl"]


def test_a_log_broken_at_its_first_record_anchors_on_nothing(tmp_path: Path) -> None:
    _grants(tmp_path, "a")
    _edit(tmp_path / NOV, 1, request="lake/forged")
    _remove(tmp_path, "lake/a")
    assert Anchor.from_json(_lines(tmp_path / "segment-1.jsonl")[0]["anchor"]) == NOTHING
    assert [s for _f, _n, s, _m in _messages(tmp_path)] == ["error", "warning"]


def test_a_segment_records_only_removals(tmp_path: Path) -> None:
    _broken(tmp_path)
    with pytest.raises(AuditError, match="only removals"):
        _remove(tmp_path, "lake/new", "granted")
    with pytest.raises(AuditError, match="only removals"):
        _remove(tmp_path, "lake/new", "rejected")
    assert AuditLog(tmp_path).segment_files() == []  # refused before anything is written
    # A live grant found approved without its record may be recorded (reconciled).
    assert _remove(tmp_path, "lake/b", "granted", reconciled=True) is not None


def test_the_normal_append_refuses_while_a_segment_is_unrepaired(tmp_path: Path) -> None:
    _broken(tmp_path)
    with pytest.raises(AuditError, match="does not verify"):
        AuditLog(tmp_path).append("granted", {"request": "lake/new"}, LATER)
    with pytest.raises(AuditError, match="does not verify"):
        AuditLog(tmp_path).records()


# --- forgeries: a segment that is not what revoke writes ------------------------------------


def _forged_segment(log_dir: Path, anchor: Anchor, *events: str,
                    name: str = "segment-1.jsonl") -> None:
    started = chain.next_record(None, at=LATER, event="chain_started",
                                details={"anchor": anchor.to_json(), "reason": "forged"})
    records = [started]
    for event in events:
        records.append(chain.next_record(records[-1], at=LATER, event=event,
                                         details={"request": "lake/x"}))
    (log_dir / name).write_text("".join(chain.dumps(r) + "\n" for r in records))


def test_a_segment_naming_another_record_than_the_break_is_forged(tmp_path: Path) -> None:
    _broken(tmp_path)
    third = _lines(tmp_path / NOV)[2]
    _forged_segment(tmp_path, Anchor(NOV, 3, 3, third["hash"]))  # past the break
    [(_f, _n, _s, message)] = [m for m in _messages(tmp_path) if m[0] == "segment-1.jsonl"]
    assert message.startswith("forged chain segment: it names seq 3")
    assert "but that is seq 1" in message
    # Revoke trusts nothing of it, and starts the next segment where the break is.
    _remove(tmp_path, "lake/a")
    assert _lines(tmp_path / "segment-2.jsonl")[0]["anchor"]["seq"] == 1
    assert [(f, s) for f, _n, s, _m in _messages(tmp_path)] == [
        (NOV, "error"), ("segment-1.jsonl", "error"), ("segment-2.jsonl", "warning")]


def test_a_segment_after_a_log_that_verifies_is_forged(tmp_path: Path) -> None:
    last = _grants(tmp_path, "a", "b")[-1]
    _forged_segment(tmp_path, Anchor(NOV, 2, 2, last["hash"]))
    [(name, line, severity, message)] = _messages(tmp_path)
    assert (name, line, severity) == ("segment-1.jsonl", 1, "error")
    assert "the part before it (the month files) verifies" in message


def test_a_segment_holding_a_new_grant_is_reported(tmp_path: Path) -> None:
    _broken(tmp_path)
    first = _lines(tmp_path / NOV)[0]
    _forged_segment(tmp_path, Anchor(NOV, 1, 1, first["hash"]), "expired", "granted")
    found = [m for m in _messages(tmp_path) if m[0] == "segment-1.jsonl"]
    assert [(n, s) for _f, n, s, _m in found] == [(1, "warning"), (3, "error")]
    assert "'granted' (not reconciled) is not one" in found[1][3]
    # The forged grant breaks the segment there: revoke starts the next one after seq 2.
    _remove(tmp_path, "lake/a")
    assert _lines(tmp_path / "segment-2.jsonl")[0]["anchor"] == {
        "file": "segment-1.jsonl", "line": 2, "seq": 2,
        "hash": _lines(tmp_path / "segment-1.jsonl")[1]["hash"]}


def test_a_segment_broken_later_is_followed_by_another(tmp_path: Path) -> None:
    _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    _remove(tmp_path, "lake/b")
    _edit(tmp_path / "segment-1.jsonl", 3, request="lake/other")
    _remove(tmp_path, "lake/c")
    started = _lines(tmp_path / "segment-2.jsonl")[0]
    assert (started["anchor"]["file"], started["anchor"]["line"]) == ("segment-1.jsonl", 2)
    assert [(f, n, s) for f, n, s, _m in _messages(tmp_path)] == [
        (NOV, 2, "error"), ("segment-1.jsonl", 1, "warning"), ("segment-1.jsonl", 3, "error"),
        ("segment-2.jsonl", 1, "warning")]


# --- an admin's repair -----------------------------------------------------------------------


def test_repair_rechains_the_segment_once_the_month_files_are_restored(tmp_path: Path) -> None:
    genuine = _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    _remove(tmp_path, "lake/z", "orphan_revoked")
    with pytest.raises(AuditError, match="restore the month files from git history first"):
        AuditLog(tmp_path).repair("admin", LATER)
    assert (tmp_path / "segment-1.jsonl").exists()

    _restore(tmp_path / NOV, 2, genuine)
    log = AuditLog(tmp_path)
    assert log.repair("local:admin", LATER + timedelta(days=1)) == [("segment-1.jsonl", 3)]
    assert not (tmp_path / "segment-1.jsonl").exists()
    assert log.changed_files() == [tmp_path / NOV, tmp_path / "segment-1.jsonl"]
    assert AuditLog(tmp_path).verify() == []
    records = AuditLog(tmp_path).records()
    assert [(r["seq"], r["event"], r["request"]) for r in records] == [
        (1, "granted", "lake/a"), (2, "granted", "lake/b"), (3, "granted", "lake/c"),
        (4, "chain_started", None), (5, "expired", "lake/a"), (6, "orphan_revoked", "lake/z")]
    assert records[4]["time"] == iso(LATER)  # each record keeps its time
    assert records[3]["reason"].endswith(
        "[re-chained after seq 3 by local:admin at 2026-11-29T12:00:00Z (jitflow audit repair)]")


def test_repair_refuses_a_forged_segment(tmp_path: Path) -> None:
    genuine = _broken(tmp_path)
    third = _lines(tmp_path / NOV)[2]
    _restore(tmp_path / NOV, 2, genuine)
    _forged_segment(tmp_path, Anchor(NOV, 9, 9, third["hash"]), "expired")
    before = (tmp_path / NOV).read_text()
    with pytest.raises(AuditError, match="does not start from a record of the log before it"):
        AuditLog(tmp_path).repair("admin", LATER)
    assert (tmp_path / NOV).read_text() == before


def test_the_audit_commands_report_and_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = _broken(tmp_path)
    _remove(tmp_path, "lake/a")
    assert main(["audit", "verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / NOV}:2: record was edited" in err
    assert f"{tmp_path / 'segment-1.jsonl'}:1: marked chain segment" in err
    assert "broken: 1 problem; 1 marked segment of revoke's records follow the break" in err
    assert main(["audit", "repair", str(tmp_path)]) == 1  # the month files first
    _restore(tmp_path / NOV, 2, genuine)
    assert main(["audit", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "re-chained 2 records of segment-1.jsonl onto the month files" in out
    assert "audit chain intact: 5 records in 1 files" in out


def test_log_files_come_in_log_order_months_first_then_segments_by_number() -> None:
    names = ["segment-10.jsonl", "2026-12.jsonl", "segment-9.jsonl", "notifications.ndjson",
             "2026-11.jsonl", "teams.json", "segment-0.jsonl", "2026-13.jsonl"]
    ordered = sorted((order, name) for name in names
                     if (order := log_file_order(name)) is not None)
    assert [name for _, name in ordered] == [
        "2026-11.jsonl", "2026-12.jsonl", "segment-9.jsonl", "segment-10.jsonl"]
