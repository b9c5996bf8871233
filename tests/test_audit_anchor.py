"""The audit anchor (jitflow.audit.anchor): its value, how a log stands to it, and `jitflow audit
verify --anchor` through the real entry point against SSM in moto (`mock_aws`).

The logs here are outside git, so the history check is skipped and only the anchor can see a
truncation or a rewrite with recomputed hashes; a history that git alone accepts (replaced as a
whole, then only appended to) is in a git repository."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from jitflow.audit import anchor
from jitflow.audit.anchor import Head, Stored, advance, compare, head_value, parse_value
from jitflow.audit.store import AuditLog
from jitflow.aws import AnchorParameter
from jitflow.cli import main
from jitflow.errors import AuditError
from jitflow.model import Settings
from testing.audit_repo import T0, AuditRepo
from testing.moto_server import ANCHOR, create_anchor
from testing.receiver import unreachable_url

SETTINGS = Settings(admins=(), accounts={})


def head_of(log: AuditLog) -> Head:
    head = log.view([]).head
    assert head is not None
    return head


def judge(log: AuditLog, anchored: Head | None) -> anchor.Verdict:
    return compare(anchored, log.view([anchored] if anchored is not None else []))


# ------------------------------------------------------------------ the value


def test_the_value_is_compact_versioned_json_and_unset_is_no_head() -> None:
    head = Head("2026-11.jsonl", 42, "a" * 64)
    assert head_value(head) == '{"file":"2026-11.jsonl","hash":"' + "a" * 64 + \
        '","seq":42,"v":1}'
    assert parse_value(head_value(head), "x") == head
    assert parse_value("unset", "x") is None


@pytest.mark.parametrize("value", [
    "", "null", "{}", '{"v":2,"file":"a.jsonl","seq":1,"hash":"' + "a" * 64 + '"}',
    '{"v":1,"file":"a.jsonl","seq":true,"hash":"' + "a" * 64 + '"}',
    '{"v":1,"file":"a.jsonl","seq":0,"hash":"' + "a" * 64 + '"}',
    '{"v":1,"file":"a.jsonl","seq":1,"hash":"ABC"}',
    '{"v":1,"file":"a.jsonl","seq":1,"hash":"' + "a" * 64 + '","extra":1}',
])
def test_a_value_jitflow_never_writes_is_refused_by_name(value: str) -> None:
    with pytest.raises(AuditError, match=r"the anchor here holds .* not an audit anchor value"):
        parse_value(value, "the anchor here")


# ------------------------------------------------------------------ the log against it


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    repo = AuditRepo(tmp_path / "repo")
    repo.record(4)
    return AuditLog(repo.audit)


def test_the_head_agrees_and_a_log_that_goes_on_is_ahead(log: AuditLog) -> None:
    anchored = head_of(log)
    assert (anchored.file, anchored.seq) == ("2026-10.jsonl", 4)
    assert judge(log, anchored).kind == anchor.AGREE
    log.append("expired", {"request": "lake/r1"}, T0.replace(day=31))
    verdict = judge(log, anchored)
    assert verdict.kind == anchor.AHEAD and verdict.writable
    assert "goes on past the anchored record seq 4" in verdict.message


def test_a_cut_tail_is_behind(log: AuditLog) -> None:
    anchored = head_of(log)
    month = log.month_files()[0]
    month.write_text("".join(month.read_text().splitlines(keepends=True)[:-1]))
    assert log.verify() == []
    verdict = judge(log, anchored)
    assert verdict.kind == anchor.BEHIND and not verdict.writable
    assert "the month files end at seq 3, before the anchored record seq 4" in verdict.message
    assert "truncated" in verdict.message


def test_a_rewrite_with_recomputed_hashes_diverges(tmp_path: Path) -> None:
    repo = AuditRepo(tmp_path / "repo")
    repo.record(4)
    log = AuditLog(repo.audit)
    anchored = head_of(log)
    repo.rewrite(2, request="lake/someone-else")
    assert log.verify() == []
    verdict = judge(log, anchored)
    assert verdict.kind == anchor.DIVERGED and not verdict.writable
    assert f"another record at seq 4 of the month files (hash {head_of(log).hash[:12]}" in \
        verdict.message


def test_an_anchored_record_past_a_break_is_behind(log: AuditLog) -> None:
    anchored = head_of(log)
    month = log.month_files()[0]
    month.write_text(month.read_text().replace("lake/r3", "lake/rX"))
    verdict = judge(log, anchored)
    assert verdict.kind == anchor.BEHIND
    assert "stop verifying after seq 2, before the anchored record seq 4" in verdict.message


def test_a_head_in_a_segment_and_the_segment_gone(log: AuditLog) -> None:
    month = log.month_files()[0]
    month.write_text(month.read_text() + "forged\n")
    removals = log.for_removals()
    removals.append_unless("expired", {"request": "lake/r1"}, T0.replace(day=31),
                           lambda _: False)
    anchored = head_of(log)
    assert (anchored.file, anchored.seq) == ("segment-1.jsonl", 2)
    assert judge(log, anchored).kind == anchor.AGREE
    # The segment's hash at a seq the month files hold: another record there.
    assert judge(log, Head("2026-10.jsonl", 4, anchored.hash)).kind == anchor.DIVERGED
    (log.directory / "segment-1.jsonl").unlink()
    verdict = judge(log, anchored)
    assert verdict.kind == anchor.BEHIND and "the log has no segment-1.jsonl" in verdict.message


# ------------------------------------------------------------------ advance (the run's write)


class Port:
    """An anchor parameter in memory: its versions, oldest first."""

    name = "/test/anchor"

    def __init__(self, value: str = "unset") -> None:
        self.versions = [Stored(value, 1)]
        self.before_write: str | None = None  # a concurrent writer's value

    def read(self) -> Stored:
        return self.versions[-1]

    def write(self, value: str) -> int:
        if self.before_write is not None:
            self.versions.append(Stored(self.before_write, len(self.versions) + 1))
        self.versions.append(Stored(value, len(self.versions) + 1))
        return len(self.versions)

    def history(self) -> list[Stored]:
        return list(self.versions)


def test_advance_writes_the_head_over_unset_and_over_a_head_the_log_holds(
    log: AuditLog,
) -> None:
    port = Port()
    assert advance(port, log) == head_of(log)
    assert port.read() == Stored(head_value(head_of(log)), 2)
    assert advance(port, log) == head_of(log) and len(port.versions) == 2  # agrees: no write
    log.append("expired", {"request": "lake/r1"}, T0.replace(day=31))
    advance(port, log)
    assert port.read().value == head_value(head_of(log))


def test_advance_leaves_an_anchor_the_log_does_not_hold(log: AuditLog) -> None:
    port = Port(head_value(Head("2026-10.jsonl", 9, "b" * 64)))
    with pytest.raises(AuditError, match=r"disagrees with its anchor /test/anchor \(behind\)"):
        advance(port, log)
    assert len(port.versions) == 1


def test_advance_reports_a_write_between_its_read_and_its_write(log: AuditLog) -> None:
    port = Port()
    port.before_write = "unset"
    with pytest.raises(AuditError, match="written by someone else between this run's read"):
        advance(port, log)


# ------------------------------------------------------------------ the command


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """SSM in moto, with the parameter the bootstrap creates."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        create_anchor(client)
        yield client


def put(ssm: object, value: str) -> None:
    ssm.put_parameter(Name=ANCHOR, Value=value, Overwrite=True)  # type: ignore[attr-defined]


def verify(log: AuditLog, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "verify", "--anchor", str(log.directory)])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_anchor_agrees(log: AuditLog, ssm: object,
                              capsys: pytest.CaptureFixture[str]) -> None:
    advance(AnchorParameter.from_settings(SETTINGS), log)
    code, out, err = verify(log, capsys)
    assert code == 0, err
    assert f"audit anchor {ANCHOR} (version 2" in out
    assert "the log's head is the anchored record, seq 4" in out


def test_tail_truncation_is_detected_by_the_anchor(log: AuditLog, ssm: object,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    advance(AnchorParameter.from_settings(SETTINGS), log)
    month = log.month_files()[0]
    month.write_text("".join(month.read_text().splitlines(keepends=True)[:-1]))
    assert main(["audit", "verify", str(log.directory)]) == 0  # without the anchor: "intact"
    capsys.readouterr()
    code, out, err = verify(log, capsys)
    assert code == 1 and out == ""
    assert f"{ANCHOR} (version 2" in err
    assert "behind: the month files end at seq 3, before the anchored record seq 4" in err
    assert "jitflow: error: the audit log disagrees with its anchor" in err


def test_a_rewrite_with_recomputed_hashes_is_detected_by_the_anchor(
    tmp_path: Path, ssm: object, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = AuditRepo(tmp_path / "repo")
    repo.record(4)
    log = AuditLog(repo.audit)
    advance(AnchorParameter.from_settings(SETTINGS), log)
    repo.rewrite(2, request="lake/someone-else")
    code, _out, err = verify(log, capsys)
    assert code == 1
    assert "diverged: the log holds another record at seq 4 of the month files" in err


def test_a_replaced_history_that_only_appends_is_caught_by_the_anchor_alone(
    tmp_path: Path, ssm: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """A force-push: the branch now holds another history, append-only relative to itself."""
    original = AuditRepo(tmp_path / "original")
    original.record(3)
    original.commit("the real log")
    advance(AnchorParameter.from_settings(SETTINGS), AuditLog(original.audit))
    replaced = AuditRepo(tmp_path / "replaced")
    replaced.record(3)
    replaced.rewrite(2, request="lake/someone-else")
    replaced.commit("the log, as someone would rather it read")
    replaced.record()
    replaced.commit("and on")
    assert main(["audit", "verify", str(replaced.audit)]) == 0  # chain and history: fine
    assert "each only appended" in capsys.readouterr().out
    code, _out, err = verify(AuditLog(replaced.audit), capsys)
    assert code == 1
    assert "diverged: the log holds another record at seq 3 of the month files" in err


def test_an_unset_anchor_has_nothing_to_compare(log: AuditLog, ssm: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(log, capsys)
    assert code == 0, err
    assert f"audit anchor {ANCHOR} (version 1" in out
    assert "the anchor records no head yet (unset): nothing to compare" in out


def test_a_head_the_anchor_held_earlier_must_still_be_in_the_log(
    log: AuditLog, ssm: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut the last record, record another in its place, and (as a careless writer would)
    anchor that: the current head agrees, version 2's head is gone."""
    advance(AnchorParameter.from_settings(SETTINGS), log)
    month = log.month_files()[0]
    month.write_text("".join(month.read_text().splitlines(keepends=True)[:-1]))
    log = AuditLog(log.directory)
    log.append("granted", {"request": "lake/other"}, T0.replace(day=31))
    put(ssm, head_value(head_of(log)))
    code, _out, err = verify(log, capsys)
    assert code == 1
    assert f"{ANCHOR}: the audit anchor {ANCHOR} version 2" in err
    assert "which the log no longer holds: the log holds another record at seq 4" in err


def test_a_reset_compares_only_the_heads_after_it(log: AuditLog, ssm: object,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    put(ssm, head_value(Head("2026-10.jsonl", 9, "c" * 64)))  # a head the log never had
    put(ssm, "unset")  # an admin's reset (after a repair)
    advance(AnchorParameter.from_settings(SETTINGS), log)
    code, out, err = verify(log, capsys)
    assert code == 0, err
    assert f"note: the audit anchor {ANCHOR} was reset to 'unset' at version 3" in out


def test_an_anchor_that_went_backwards_is_reported(log: AuditLog, ssm: object,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    records = log.records()
    for seq in (4, 2, 4):
        record = records[seq - 1]
        put(ssm, head_value(Head("2026-10.jsonl", seq, record["hash"])))
    code, _out, err = verify(log, capsys)
    assert code == 1
    assert "went backwards at version 3" in err and "from seq 4" in err and "to seq 2" in err


def test_an_unreachable_ssm_is_exit_3_with_a_clear_message(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", unreachable_url())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, out, err = verify(log, capsys)
    assert code == 3 and out == ""
    assert f"jitflow: error: cannot read the audit anchor {ANCHOR} in us-east-1: AWS " \
           "ssm:GetParameter failed: Could not connect to the endpoint URL" in err
    assert "Traceback" not in err


def test_a_missing_parameter_and_a_foreign_value_are_reported(
    log: AuditLog, ssm: object, capsys: pytest.CaptureFixture[str]
) -> None:
    put(ssm, json.dumps({"head": 4}))
    code, _out, err = verify(log, capsys)
    assert code == 1 and "which is not an audit anchor value" in err
    ssm.delete_parameter(Name=ANCHOR)  # type: ignore[attr-defined]
    code, _out, err = verify(log, capsys)
    assert code == 1
    assert f"the audit anchor parameter {ANCHOR} does not exist in us-east-1: the bootstrap " \
           "creates it" in err
