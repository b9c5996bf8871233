"""`jitflow audit verify|show` through the real entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitflow.audit.store import AuditLog
from jitflow.cli import main

START = datetime(2026, 10, 30, 9, tzinfo=UTC)


def jitflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jitflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Four records: two in October 2026, two in November."""
    directory = tmp_path / "audit"
    log = AuditLog(directory)
    for index in range(4):
        log.append(
            "granted" if index % 2 == 0 else "revoked",
            {
                "request": f"raw/req-{index // 2}",
                "principal": "arn:aws:iam::123456789012:role/analyst",
                "account": "123456789012",
                "access": [{"bucket": "raw", "prefix": "team/", "actions": ["s3:PutObject"]}],
                "expiry": "2026-12-01T00:00:00Z",
                "approvers": ["bob"],
                "pr": 7 + index // 2,
                "actor": "local:test",
                "reason": "line one\nline two" if index == 3 else None,
            },
            START + timedelta(days=index),
        )
    return directory


def test_verify_an_intact_log(log_dir: Path) -> None:
    result = jitflow("audit", "verify", str(log_dir))
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    assert first == "audit chain intact: 4 records in 2 files"
    assert second.startswith("last record: seq 4 at 2026-11-02T09:00:00Z, hash ")
    # tmp_path is in no git repository: the history check says it did not run.
    assert third == f"history check skipped: {log_dir} is not in a git repository"


def test_verify_reports_every_problem_as_file_and_line(log_dir: Path) -> None:
    october = log_dir / "2026-10.jsonl"
    lines = october.read_text().splitlines()
    lines[1] = lines[1].replace('"pr":7', '"pr":70')
    october.write_text("\n".join(lines) + "\n")
    november = log_dir / "2026-11.jsonl"
    november.write_text(november.read_text()[:-30])
    result = jitflow("audit", "verify", str(log_dir))
    assert result.returncode == 1
    assert f"{october}:2: record was edited" in result.stderr
    assert f"{november}:2: not valid JSON" in result.stderr
    assert "audit chain in" in result.stderr and "broken: 2 problems" in result.stderr
    assert result.stdout == ""


def test_verify_an_empty_directory_is_an_empty_log(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    result = jitflow("audit", "verify", str(tmp_path / "audit"))
    assert result.returncode == 0
    assert result.stdout.startswith("audit chain intact: 0 records in 0 files (no audit records")


def test_verify_a_named_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    # A mistyped path must not read as "an intact, empty log".
    result = jitflow("audit", "verify", str(tmp_path / "no-such-dir"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr


def test_verify_without_an_audit_directory_yet_is_an_empty_log(tmp_path: Path) -> None:
    result = jitflow("audit", "verify", cwd=tmp_path)
    assert result.returncode == 0


def test_verify_defaults_to_the_audit_directory(log_dir: Path) -> None:
    result = jitflow("audit", "verify", cwd=log_dir.parent)
    assert result.returncode == 0
    assert "4 records in 2 files" in result.stdout


def test_verify_defaults_to_the_settings_audit_dir(log_dir: Path) -> None:
    root = log_dir.parent
    (root / "jitflow.yaml").write_text(
        'admins: ["@acme/security"]\naccounts:\n  "111122223333": {}\naudit_dir: records\n'
    )
    result = jitflow("audit", "verify", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "0 records in 0 files (no audit records in records)" in result.stdout
    log_dir.rename(root / "records")
    result = jitflow("audit", "show", "--format", "json", cwd=root)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 4


def test_verify_a_file_instead_of_a_directory_is_a_usage_error(log_dir: Path) -> None:
    result = jitflow("audit", "verify", str(log_dir / "2026-10.jsonl"))
    assert result.returncode == 2
    assert "is not a directory" in result.stderr


def test_audit_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 2
    assert "audit" in capsys.readouterr().err


def test_verify_through_main(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(log_dir)]) == 0
    assert "4 records in 2 files" in capsys.readouterr().out
    (log_dir / "2026-10.jsonl").unlink()
    assert main(["audit", "verify", str(log_dir)]) == 1
    err = capsys.readouterr().err
    assert f"{log_dir / '2026-11.jsonl'}:1: " in err
    assert "does not start at the first record" in err


def test_show_text(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "show", "--dir", str(log_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # a newline inside a reason stays inside its record's line
    assert lines[0].startswith("#1  2026-10-30T09:00:00Z  granted")
    assert "raw/req-0" in lines[0] and "s3://raw/team/ s3:PutObject" in lines[0]
    assert "PR #7" in lines[0] and "approved by bob" in lines[0]
    assert "reason: line one\\nline two" in lines[3]


def test_show_json_filtered_by_request_and_time(
    log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["audit", "show", "--dir", str(log_dir), "--format", "json"]
    assert main([*args, "--request", "raw/req-1"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["seq"], r["event"]) for r in records] == [(3, "granted"), (4, "revoked")]
    assert main([*args, "--since", "2026-10-31T10:00:00+01:00"]) == 0  # 09:00Z: included
    assert [r["seq"] for r in json.loads(capsys.readouterr().out)] == [2, 3, 4]
    assert main([*args, "--since", "2027-01-01T00:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_show_with_nothing_to_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "audit").mkdir()
    assert main(["audit", "show", "--dir", str(tmp_path / "audit")]) == 0
    assert capsys.readouterr().out.startswith("no audit records")


def test_show_refuses_a_bad_time(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "show", "--dir", str(log_dir), "--since", "yesterday"]) == 2
    assert "invalid time" in capsys.readouterr().err


def test_show_refuses_a_broken_log(log_dir: Path) -> None:
    october = log_dir / "2026-10.jsonl"
    october.write_text(october.read_text().replace("analyst", "admin", 1))
    result = jitflow("audit", "show", "--dir", str(log_dir))
    assert result.returncode == 1
    assert f"{october}:1: record was edited" in result.stderr
    assert result.stdout == ""



def test_audit_names_the_settings_file_as_settings_does() -> None:
    from jitflow.commands import audit as command  # noqa: PLC0415
    from jitflow.settings import SETTINGS_FILE  # noqa: PLC0415

    assert command.SETTINGS_FILE == SETTINGS_FILE


def test_verify_with_a_directory_loads_no_yaml(log_dir: Path) -> None:
    """`audit verify DIR` needs no settings, so it imports neither PyYAML nor the schemas."""
    code = (
        "import sys; from jitflow.cli import main; code = main(['audit', 'verify', sys.argv[1]]);"
        "print(sorted(m for m in sys.modules if m == 'yaml' or m.startswith('jitflow.loader')))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(log_dir)], capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_show_names_the_session_and_the_bucket_policies_of_a_bucket_grant(
    log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    AuditLog(log_dir).append("granted", {
        "request": "analytics-raw/fix", "principal": "arn:aws:iam::111122223333:role/shared",
        "account": "111122223333", "grant_mode": "bucket-policy",
        "session": "alice@acme.example", "role_id": "AROAEXAMPLE",
        "buckets": [{"bucket": "analytics-raw", "sids": ["JitflowGaE1O", "JitflowGaE1L"],
                     "sha256": "0" * 64, "policy_bytes": 900}]},
        datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert main(["audit", "show", "--dir", str(log_dir)]) == 0
    line = capsys.readouterr().out
    assert "session alice@acme.example (aws:userid AROAEXAMPLE:alice@acme.example)" in line
    assert "in the bucket policy of analytics-raw (2 statements)" in line


@pytest.mark.parametrize("event", [["granted"], {"a": 1}, 7, None])
def test_an_event_of_the_wrong_type_is_a_finding_not_a_crash(
    log_dir: Path, capsys: pytest.CaptureFixture[str], event: object
) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "2026-11.jsonl").write_text(json.dumps(
        {"seq": 1, "time": "2026-11-28T09:00:00Z", "event": event, "prev_hash": "0" * 64,
         "hash": "0" * 64}) + "\n")
    assert main(["audit", "verify", str(log_dir)]) == 1
    err = capsys.readouterr().err
    assert f"unknown event {event!r}" in err and "internal error" not in err
