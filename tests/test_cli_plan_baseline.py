"""`jitflow plan policies/<name>.yaml`: the read-only baseline a policy change writes, through
the real entry point; and the size budget a request plan shows from the local audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jitflow.audit.store import AuditLog
from jitflow.cli import main
from testing.builders import T0
from testing.check_repo import run_git

ACCOUNT = "111122223333"
APPLY = f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/data-engineers"
POLICY = f"""\
description: Raw analytics
grant: bucket-policy
account: "{ACCOUNT}"
buckets: [analytics-raw, analytics-raw-eu]
prefixes: [clickstream/]
actions: [s3:PutObject]
max_duration: 4h
approvers: [erin]
enforce_read_only: true
standing_writers: [arn:aws:iam::{ACCOUNT}:role/etl]
"""
REQUEST = f"""\
requester: alice
principal: {ROLE}
reason: Backfill the partition after job 4411 failed
duration: 2h
access:
  - bucket: analytics-raw
    prefix: clickstream/2026/
    actions: [s3:PutObject]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the repository root marker
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "analytics-raw.yaml").write_text(POLICY)
    (tmp_path / "policies" / "identities.yaml").write_text(
        f"alice:\n  - principal: {ROLE}\n    session: alice@acme.example\n")
    (tmp_path / "jitflow.yaml").write_text(
        f'admins: ["@acme/security"]\naccounts:\n  "{ACCOUNT}":\n    jitflow_roles: [{APPLY}]\n')
    (tmp_path / "requests" / "analytics-raw").mkdir(parents=True)
    (tmp_path / "requests" / "analytics-raw" / "fix.yaml").write_text(REQUEST)
    return tmp_path


def test_a_policy_file_plans_its_baseline_per_bucket(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--format", "json", str(repo / "policies" / "analytics-raw.yaml")]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    statements = shown["baseline_statements"]
    assert sorted(statements) == ["analytics-raw", "analytics-raw-eu"]
    deny = statements["analytics-raw"]
    assert deny["Effect"] == "Deny" and deny["NotAction"] == ["s3:Get*", "s3:List*"]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == sorted(
        [APPLY, f"arn:aws:iam::{ACCOUNT}:role/etl"])


def test_the_request_plan_shows_the_size_budget_from_the_audit_log(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    AuditLog(repo / "audit").append("granted", {
        "request": "analytics-raw/earlier", "account": ACCOUNT, "grant_mode": "bucket-policy",
        "buckets": [{"bucket": "analytics-raw", "sids": ["S"], "sha256": "0" * 64,
                     "policy_bytes": 19_900}]}, T0)
    path = str(repo / "requests" / "analytics-raw" / "fix.yaml")
    assert main(["plan", "--format", "json", "--at", "2026-12-01T10:00:00Z", path]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    budget = shown["bucket_policy_budget"]["analytics-raw"]
    assert budget["recorded"] == 19_900 and budget["estimate"] > 20_480
    assert shown["bucket_policy_statements"]["analytics-raw"][0]["Condition"]["StringEquals"] == {
        "aws:userid": "${RoleId}:alice@acme.example"}
    assert main(["plan", path]) == 0
    assert "OVER S3's limit" in capsys.readouterr().out


def test_the_size_budget_comes_from_the_audit_branch(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a clone holding the audit branch, plan reads the log there (jitflow.auditrepo), not
    the working tree's audit/, which here holds nothing."""
    (repo / ".git").rmdir()
    run_git(repo, "init", "--quiet", "--initial-branch=jitflow-audit")
    AuditLog(repo / "audit").append("granted", {
        "request": "analytics-raw/earlier", "account": ACCOUNT, "grant_mode": "bucket-policy",
        "buckets": [{"bucket": "analytics-raw", "sids": ["S"], "sha256": "0" * 64,
                     "policy_bytes": 19_900}]}, T0)
    run_git(repo, "add", "audit")
    run_git(repo, "commit", "--quiet", "-m", "the log, on its branch")
    run_git(repo, "checkout", "--quiet", "--orphan", "main")
    run_git(repo, "rm", "-r", "--quiet", "--cached", "audit")
    for file in (repo / "audit").iterdir():
        file.unlink()
    request = str(repo / "requests" / "analytics-raw" / "fix.yaml")
    assert main(["plan", "--format", "json", "--at", "2026-12-01T10:00:00Z", request]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["bucket_policy_budget"]["analytics-raw"]["recorded"] == 19_900
