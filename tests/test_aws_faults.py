"""Fault injection: fail the Nth AWS call of apply and revoke, for every N, then rerun.

Each failure is injected through botocore's event system and persists for that call, so
botocore's own retry mode retries it and gives up (backoff sleeps skipped to keep this fast).
For every N and every kind of failure: the run fails with jitflow.errors.AwsError, nothing is
recorded for what did not happen, and a clean rerun converges to the right AWS state with
exactly the right audit records. A crash between the AWS change and the audit write is
covered too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow import cli
from jitflow.audit.store import AuditLog
from jitflow.engine import Engine
from jitflow.errors import AwsError
from testing.builders import Approvals
from testing.moto_server import (
    ACCOUNT,
    FAULT_KINDS,
    T0,
    FaultInjector,
    MotoServer,
    World,
    audit_events,
    build_world,
    instrument_clients,
    make_engine,
    make_policy,
    make_request,
    no_retry_sleep,
    point_env_at,
)

# DeletePolicy answers DeleteConflict as IAM does (moto deletes an attached policy).
pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")

EXPIRY = T0 + timedelta(hours=2)
MAX_CALLS = 20  # a sequence longer than this is itself a finding


@pytest.fixture
def world(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Enforcement off: these tests are about faults, the access tests are about permissions.
    world = build_world(moto_server, objects=(), enforce=False)
    point_env_at(monkeypatch, moto_server, world.admin)
    with no_retry_sleep():
        yield world


def _jitflow_state(world: World) -> tuple[list[str], list[str]]:
    """(names of /jitflow/ policies, names of the jitflow policies attached to the role or to
    the user)."""
    iam = world.admin_client("iam")
    listed = iam.list_policies(Scope="Local", PathPrefix="/jitflow/")["Policies"]
    attached = iam.list_attached_role_policies(RoleName=world.role_name)["AttachedPolicies"]
    attached += iam.list_attached_user_policies(UserName=world.user_name)["AttachedPolicies"]
    return (
        sorted(p["PolicyName"] for p in listed),
        sorted(p["PolicyName"] for p in attached if p["PolicyName"].startswith("jitflow.")),
    )


def _remove_grants(world: World) -> None:
    """Back to a clean account between iterations (cheaper than rebuilding the world)."""
    iam = world.admin_client("iam")
    for policy in iam.list_policies(Scope="Local", PathPrefix="/jitflow/")["Policies"]:
        entities = iam.list_entities_for_policy(PolicyArn=policy["Arn"])
        for role in entities["PolicyRoles"]:
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=policy["Arn"])
        for user in entities["PolicyUsers"]:
            iam.detach_user_policy(UserName=user["UserName"], PolicyArn=policy["Arn"])
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert _jitflow_state(world) == ([], [])


def _fail_run(
    run: Callable[[Engine], Any], audit_dir: Path, fail_at: int, kind: str
) -> FaultInjector:
    injector = FaultInjector(fail_at=fail_at, kind=kind)
    with instrument_clients(injector):
        try:
            run(make_engine(audit_dir))
        except AwsError:
            pass
        else:
            assert injector.failed_op is None, f"call {fail_at} failed but the run succeeded"
    if injector.failed_op is not None and kind != "lost-response":
        # botocore retried the call and gave up: proof the adapter uses a retry mode
        assert injector.attempts > 1, injector
    return injector


def _sequence_ends(injector: FaultInjector, fail_at: int) -> bool:
    if injector.failed_op is None:
        assert fail_at > 1, "the run made no AWS call at all"
        return True
    assert fail_at <= MAX_CALLS, f"more than {MAX_CALLS} AWS calls"
    return False


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_apply_fails_cleanly_at_every_call_and_a_rerun_converges(
    world: World, kind: str, tmp_path: Path
) -> None:
    request = make_request("backfill", world.role_arn)
    name = "jitflow.lake.backfill"
    for fail_at in range(1, MAX_CALLS + 2):
        _remove_grants(world)
        audit = tmp_path / f"audit-{fail_at}"
        injector = _fail_run(
            lambda e: e.apply(request, make_policy(), Approvals(), T0), audit, fail_at, kind
        )
        if _sequence_ends(injector, fail_at):
            break
        where = f"apply, {kind} at call {fail_at} ({injector.failed_op})"
        assert audit_events(audit) == [], where  # nothing happened that could be recorded
        _listed, attached = _jitflow_state(world)
        already_granted = attached == [name]  # AWS did attach before the failure surfaced

        outcome = make_engine(audit).apply(request, make_policy(), Approvals(), T0)
        assert outcome.action == ("reconciled" if already_granted else "granted"), where
        assert _jitflow_state(world) == ([name], [name]), where
        assert audit_events(audit) == [("granted", request.id, already_granted)], where
        again = make_engine(audit).apply(request, make_policy(), Approvals(), T0)
        assert again.action == "unchanged", where
        assert len(audit_events(audit)) == 1, where


def _granted(world: World, audit: Path, shared: bool = False) -> str:
    """Grant to the role; `shared`: someone also attached the grant to the user by hand, so
    revoke's DeletePolicy answers DeleteConflict and the fallback path runs."""
    request = make_request("backfill", world.role_arn)
    outcome = make_engine(audit).apply(request, make_policy(), Approvals(), T0)
    if shared:
        world.admin_client("iam").attach_user_policy(
            UserName=world.user_name, PolicyArn=outcome.policy_arn)
    return request.id


def _revoke_expired(engine: Engine, request_id: str) -> Any:
    return engine.revoke(EXPIRY)


def _revoke_early(engine: Engine, request_id: str) -> Any:
    return engine.revoke_request(request_id, "done", T0 + timedelta(hours=1))


REVOKES: dict[str, tuple[str, Callable[[Engine, str], Any]]] = {
    "expired": ("expired", _revoke_expired),
    "early": ("early_revoked", _revoke_early),
}


@pytest.mark.parametrize("shared", [False, True], ids=["principal", "shared"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("mode", sorted(REVOKES))
def test_revoke_fails_cleanly_at_every_call_and_a_rerun_converges(
    world: World, kind: str, mode: str, shared: bool, tmp_path: Path
) -> None:
    event, revoke = REVOKES[mode]
    for fail_at in range(1, MAX_CALLS + 2):
        _remove_grants(world)
        audit = tmp_path / f"audit-{fail_at}"
        request_id = _granted(world, audit, shared)

        def run(engine: Engine, rid: str = request_id) -> Any:
            return revoke(engine, rid)

        injector = _fail_run(run, audit, fail_at, kind)
        if _sequence_ends(injector, fail_at):
            break
        where = f"{mode} revoke, {kind} at call {fail_at} ({injector.failed_op}), {shared=}"
        assert audit_events(audit) == [("granted", request_id, False)], where
        listed, _attached = _jitflow_state(world)
        already_gone = listed == []

        revoke(make_engine(audit), request_id)
        assert _jitflow_state(world) == ([], []), where
        expected = [("granted", request_id, False), (event, request_id, already_gone)]
        assert audit_events(audit) == expected, where
        revoke(make_engine(audit), request_id)  # a third run finds nothing left to do
        assert audit_events(audit) == expected, where


class Crash(RuntimeError):
    """The process dying between the AWS change and the audit write."""


def _crash_on_next_append(monkeypatch: pytest.MonkeyPatch) -> None:
    # append_unless: every write goes through it (the engine calls it, append delegates).
    original = AuditLog.append_unless
    crashed: list[bool] = []

    def append(self: AuditLog, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        if not crashed:
            crashed.append(True)
            raise Crash("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "append_unless", append)


def test_crash_after_apply_is_recorded_once_as_reconciled_by_the_next_apply(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = make_request("backfill", world.role_arn)
    _crash_on_next_append(monkeypatch)
    with pytest.raises(Crash):
        make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    assert audit_events(tmp_path) == []
    assert _jitflow_state(world)[1] == ["jitflow.lake.backfill"]  # AWS did grant

    assert make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0).action == (
        "reconciled"
    )
    make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    assert audit_events(tmp_path) == [("granted", request.id, True)]


@pytest.mark.parametrize("mode", sorted(REVOKES))
def test_crash_after_revoke_is_recorded_once_by_the_next_run(
    world: World, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event, revoke = REVOKES[mode]
    request_id = _granted(world, tmp_path)
    _crash_on_next_append(monkeypatch)
    with pytest.raises(Crash):
        revoke(make_engine(tmp_path), request_id)
    assert _jitflow_state(world) == ([], [])  # AWS did revoke
    assert audit_events(tmp_path) == [("granted", request_id, False)]

    revoke(make_engine(tmp_path), request_id)
    revoke(make_engine(tmp_path), request_id)
    assert audit_events(tmp_path) == [
        ("granted", request_id, False),
        (event, request_id, True),
    ]
    assert ACCOUNT in AuditLog(tmp_path).records()[-1]["policy_arn"]


SETTINGS_YAML = f"""\
admins: [admin]
accounts:
  "{ACCOUNT}": {{}}
"""


def test_cli_revoke_exits_3_without_traceback_at_every_call_and_a_rerun_converges(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "jitflow.yaml").write_text(SETTINGS_YAML)
    argv = ["revoke", "--no-reconcile", "--repo", str(tmp_path), "--at", "2026-11-28T11:00:00Z"]
    for fail_at in range(1, MAX_CALLS + 2):
        audit = tmp_path / "audit"
        shutil.rmtree(audit, ignore_errors=True)
        _remove_grants(world)
        request_id = _granted(world, audit)
        capsys.readouterr()
        injector = FaultInjector(fail_at=fail_at, kind="server-error")
        with instrument_clients(injector):
            code = cli.main(argv)
        err = capsys.readouterr().err
        if _sequence_ends(injector, fail_at):
            assert code == 0, err
            break
        where = f"jitflow revoke, 500 at call {fail_at} ({injector.failed_op})"
        assert code == 3, (where, err)
        assert "jitflow: error: AWS" in err, (where, err)
        assert "Traceback" not in err and "internal error" not in err, (where, err)
        assert audit_events(audit) == [("granted", request_id, False)], where

        assert cli.main(argv) == 0, (where, capsys.readouterr().err)
        assert _jitflow_state(world) == ([], []), where
        assert audit_events(audit) == [
            ("granted", request_id, False),
            ("expired", request_id, False),
        ], where
