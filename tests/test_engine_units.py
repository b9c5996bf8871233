"""The engine's units over the in-memory IAM (testing.memory_iam) and a real audit log:
the logic without a server. The AWS proofs (moto over HTTP, the principal's own keys) are in
test_aws_access.py; the in-process moto runs in test_engine.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from jitflow.audit.ledger import Ledger
from jitflow.audit.record import AuditRecord
from jitflow.audit.store import AuditLog
from jitflow.engine import Engine
from jitflow.errors import AwsError
from jitflow.model import Settings
from testing.builders import ACCOUNT, T0, Approvals, make_policy, make_request
from testing.memory_iam import MemoryAccounts, MemoryIam

SETTINGS = Settings(admins=("@acme/security",), accounts={ACCOUNT: None})


@pytest.fixture
def iam() -> MemoryIam:
    iam = MemoryIam(ACCOUNT)
    iam.add_role("alice-data")
    return iam


def engine(iam: MemoryIam, log_dir: Path, dry_run: bool = False) -> Engine:
    return Engine(MemoryAccounts({ACCOUNT: iam}), AuditLog(log_dir), SETTINGS, "local:test",
                  dry_run=dry_run)


def events(log_dir: Path) -> list[tuple[str, str | None, bool]]:
    return [(r.event, r.request, r.reconciled)
            for r in map(AuditRecord.from_json, AuditLog(log_dir).records())]


def test_apply_creates_attaches_and_records_in_three_calls(iam: MemoryIam, tmp_path: Path) -> None:
    outcome = engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    assert outcome.action == "granted"
    assert iam.calls == ["ListAttachedRolePolicies", "CreatePolicy", "AttachRolePolicy"]
    assert iam.attached_to("role", "alice-data") == ["jitflow.data-fix.fix"]
    assert events(tmp_path) == [("granted", "data-fix/fix", False)]


def test_a_rerun_of_apply_changes_nothing(iam: MemoryIam, tmp_path: Path) -> None:
    engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    again = engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    assert again.action == "unchanged"
    assert len(events(tmp_path)) == 1


def test_a_crash_after_attach_is_adopted_with_a_reconciled_record(
    iam: MemoryIam, tmp_path: Path
) -> None:
    class Crash(Exception):
        pass

    crashing = engine(iam, tmp_path)

    def die(*args: object, **kwargs: object) -> None:
        raise Crash

    crashing.run.ledger.record = die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        crashing.apply(make_request(), make_policy(), Approvals(), T0)
    assert iam.attached_to("role", "alice-data")  # granted in IAM, not in the log
    outcome = engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    assert outcome.action == "reconciled"
    assert events(tmp_path) == [("granted", "data-fix/fix", True)]


def test_an_aws_failure_mid_apply_leaves_nothing_granted_and_a_rerun_grants(
    iam: MemoryIam, tmp_path: Path
) -> None:
    iam.fail["AttachRolePolicy"] = AwsError("AWS iam:AttachRolePolicy failed: Throttling")
    with pytest.raises(AwsError):
        engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    assert iam.attached_to("role", "alice-data") == [] and events(tmp_path) == []
    assert engine(iam, tmp_path).apply(
        make_request(), make_policy(), Approvals(), T0).action == "granted"
    assert iam.attached_to("role", "alice-data") == ["jitflow.data-fix.fix"]


def test_unapproved_requests_are_rejected_and_recorded(iam: MemoryIam, tmp_path: Path) -> None:
    outcomes = engine(iam, tmp_path).apply_requests(
        [(make_request(), make_policy())], Approvals(approved=set()), T0)
    assert [o.action for o in outcomes] == ["rejected"]
    assert iam.calls == []  # refused before any AWS call
    assert events(tmp_path) == [("rejected", "data-fix/fix", False)]


def test_expiry_sweep_detaches_and_deletes_with_two_calls_per_grant(
    iam: MemoryIam, tmp_path: Path
) -> None:
    engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    iam.calls.clear()
    outcomes = engine(iam, tmp_path).revoke(T0 + timedelta(hours=2))
    assert [o.action for o in outcomes] == ["expired"]
    assert iam.calls == ["ListPolicies", "DetachRolePolicy", "DeletePolicy"]
    assert iam.policies == {}
    assert [e[0] for e in events(tmp_path)] == ["granted", "expired"]


@pytest.mark.parametrize("failing", ["first", "last"])
def test_an_account_aws_fails_in_does_not_stop_the_sweep_of_the_others(
    iam: MemoryIam, tmp_path: Path, failing: str
) -> None:
    """Accounts are swept in order; one whose IAM fails is skipped, every other is swept and
    its removals recorded, and the run fails at the end naming the account (exit 3)."""
    other_account = "012345678901" if failing == "first" else "999999999999"
    other = MemoryIam(other_account)
    other.fail["ListPolicies"] = AwsError("AWS iam:ListPolicies failed: InternalFailure")
    settings = Settings(admins=("@acme/security",), accounts={ACCOUNT: None, other_account: None})
    two = Engine(MemoryAccounts({ACCOUNT: iam, other_account: other}), AuditLog(tmp_path),
                 settings, "local:test")
    two.apply(make_request(), make_policy(), Approvals(), T0)
    with pytest.raises(AwsError, match=rf"1 of 2 accounts .*account {other_account}: AWS iam"):
        two.revoke(T0 + timedelta(hours=2))
    assert iam.policies == {}
    assert [o.action for o in two.outcomes] == ["granted", "expired"]
    assert [e[0] for e in events(tmp_path)] == ["granted", "expired"]


def test_a_grant_is_not_swept_one_second_before_its_expiry(
    iam: MemoryIam, tmp_path: Path
) -> None:
    engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    assert engine(iam, tmp_path).revoke(T0 + timedelta(hours=2, seconds=-1)) == []
    assert iam.attached_to("role", "alice-data") == ["jitflow.data-fix.fix"]


def test_a_grant_removed_outside_jitflow_gets_its_record(iam: MemoryIam, tmp_path: Path) -> None:
    engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    iam.policies.clear()  # removed by hand (or by a run whose record was lost)
    outcomes = engine(iam, tmp_path).revoke(T0 + timedelta(hours=1))
    assert [(o.action, o.detail) for o in outcomes] == [
        ("revoked", "no longer in AWS; record written")]
    assert events(tmp_path)[-1] == ("revoked", "data-fix/fix", True)


def test_replay_after_an_ended_grant_is_refused(iam: MemoryIam, tmp_path: Path) -> None:
    engine(iam, tmp_path).apply(make_request(), make_policy(), Approvals(), T0)
    engine(iam, tmp_path).revoke_request("data-fix/fix", "done early", T0 + timedelta(hours=1))
    outcomes = engine(iam, tmp_path).apply_requests(
        [(make_request(), make_policy())], Approvals(), T0 + timedelta(hours=1))
    assert outcomes[0].action == "rejected" and "no replay" in outcomes[0].detail
    assert iam.policies == {}


def test_dry_run_changes_nothing(iam: MemoryIam, tmp_path: Path) -> None:
    outcome = engine(iam, tmp_path, dry_run=True).apply(
        make_request(), make_policy(), Approvals(), T0)
    assert outcome.dry_run and outcome.action == "granted"
    assert iam.policies == {} and not (tmp_path / "2026-11.jsonl").exists()


# --- the ledger ---------------------------------------------------------------------------------


def test_ledger_skips_a_change_another_run_recorded_meanwhile(tmp_path: Path) -> None:
    arn = "arn:aws:iam::123456789012:policy/jitflow/20261128T110000Z/jitflow.data-fix.fix"
    first, second = Ledger(AuditLog(tmp_path), "run-1"), Ledger(AuditLog(tmp_path), "run-2")
    first.load()
    second.load()
    first.record("expired", T0, request="data-fix/fix", policy_arn=arn)
    second.record("expired", T0, request="data-fix/fix", policy_arn=arn)  # the same change
    second.record("early_revoked", T0, request="data-fix/other", policy_arn=arn + "x")
    assert [(r.event, r.actor) for r in map(AuditRecord.from_json, AuditLog(tmp_path).records())
            ] == [("expired", "run-1"), ("early_revoked", "run-2")]


def test_ledger_open_grants_follow_grant_and_end(tmp_path: Path) -> None:
    ledger = Ledger(AuditLog(tmp_path), "run")
    ledger.record("granted", T0, request="p/a", account=ACCOUNT, policy_arn="arn-a")
    ledger.record("granted", T0, request="p/b", account=ACCOUNT, policy_arn="arn-b")
    ledger.record("expired", T0, request="p/a", account=ACCOUNT, policy_arn="arn-a")
    assert sorted(ledger.open_grants(ACCOUNT)) == ["p/b"]
    assert ledger.open_grant("p/a") is None
    assert ledger.was_granted("arn-a") and not ledger.was_granted("arn-c")
    fresh = Ledger(AuditLog(tmp_path), "later")  # the same answers from the file
    assert sorted(fresh.open_grants(ACCOUNT)) == ["p/b"]


def test_audit_record_round_trips_the_granted_facts(tmp_path: Path) -> None:
    ledger = Ledger(AuditLog(tmp_path), "run")
    access = [{"bucket": "b", "prefix": "p/", "actions": ["s3:PutObject"]}]
    ledger.record("granted", T0, request="p/a", requester="alice", principal="arn:p",
                  account=ACCOUNT, access=access, expiry="2026-11-28T11:00:00Z",
                  approvers=["erin"], pr=7, commit="c" * 40, policy_arn="arn-a")
    opened = Ledger(AuditLog(tmp_path), "later").open_grant("p/a")
    assert opened is not None
    assert opened.grant_facts() == {
        "request": "p/a", "requester": "alice", "principal": "arn:p", "account": ACCOUNT,
        "access": access, "expiry": "2026-11-28T11:00:00Z", "approvers": ["erin"], "pr": 7,
        "commit": "c" * 40, "policy_arn": "arn-a", "grant_mode": None, "session": None,
        "role_id": None, "buckets": None, "starts": None}
