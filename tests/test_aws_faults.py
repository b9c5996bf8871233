"""Fault injection: fail the Nth AWS call of apply and revoke, for every N, then rerun.

Each failure is injected through botocore's event system and persists for that call, so
botocore's own retry mode retries it and gives up (backoff sleeps skipped to keep this fast).
For every N and every kind of failure: the run fails with jitflow.errors.AwsError, nothing is
recorded for what did not happen, and a clean rerun converges to the right AWS state with
exactly the right audit records. A crash between the AWS change and the audit write is
covered too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow import cli
from jitflow.audit.anchor import head_value
from jitflow.audit.store import AuditLog
from jitflow.engine import Engine
from jitflow.errors import AwsError
from testing.builders import Approvals
from testing.moto_server import (
    ACCOUNT,
    ANCHOR,
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


# --- a run that stops part-way: what it did is recorded, committed and pushed ----------------

OTHER_ACCOUNT = "210987654321"
PUSH_SCRIPT = Path(__file__).resolve().parent.parent / ".github" / "scripts" / "push-audit.sh"
GIT_ENV = {"GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
           "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "bot@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def _policy_yaml(account: str) -> str:
    return (f'description: writes to the data lake\naccount: "{account}"\n'
            "buckets: [data-lake]\nprefixes: [clickstream/]\nactions: [s3:PutObject]\n"
            'max_duration: 8h\napprovers: ["erin"]\n')


def _checkout_with_origin(tmp_path: Path, role: str) -> Path:
    """A working clone of a bare origin whose main holds the settings (two accounts: this
    one, and OTHER_ACCOUNT through `role`) and an identity-policy policy in each account, so
    the revoke sweeps both."""
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    _git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    _git(tmp_path, "clone", "--quiet", str(origin), str(repo))
    _git(repo, "checkout", "--quiet", "-B", "main")
    files = {
        "jitflow.yaml": f'admins: [admin]\naccounts:\n  "{ACCOUNT}": {{}}\n'
                        f'  "{OTHER_ACCOUNT}": {{role: "{role}-apply", revoke_role: "{role}"}}\n',
        "policies/identities.yaml": "{}\n",
        "policies/lake.yaml": _policy_yaml(ACCOUNT),
        "policies/other.yaml": _policy_yaml(OTHER_ACCOUNT),
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "settings and policies")
    return repo


def _push_audit(repo: Path) -> subprocess.CompletedProcess[str]:
    """The workflows' push step, as it runs after the jitflow step (also after a failure)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(repo.parent), "JITFLOW_PUSH_BRANCH": "main",
           **GIT_ENV}
    return subprocess.run(["bash", str(PUSH_SCRIPT)], cwd=repo, env=env, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("failing", ["sts.AssumeRole", "iam.ListPolicies"])
def test_revoke_stopped_by_the_second_account_commits_the_first_accounts_removal(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], failing: str,
) -> None:
    """Account 123456789012 is swept first (sorted); then every attempt of the other
    account's first AssumeRole, or of its ListPolicies, fails. The expiry removed in the first
    account is recorded and committed, the tree is clean, and the push step pushes it."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    role = world.admin_client("iam").create_role(
        RoleName="jitflow-revoke", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    repo = _checkout_with_origin(tmp_path, role)
    request_id = _granted(world, repo / "audit")
    _git(repo, "add", "audit")
    _git(repo, "commit", "--quiet", "-m", "granted")
    argv = ["revoke", "--no-reconcile", "--commit", "--repo", str(repo),
            "--at", "2026-11-28T11:00:00Z"]
    # The other account's n-th call of `failing` (the first account lists once before it).
    injector = FaultInjector(fail_at=1 if failing == "sts.AssumeRole" else 2,
                             kind="server-error", op=failing)
    with instrument_clients(injector):
        code = cli.main(argv)
    out, err = capsys.readouterr()
    assert injector.failed_op == failing
    assert code == 3, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "jitflow: error: 1 of 2 accounts could not be swept, the others were: " \
        f"account {OTHER_ACCOUNT}: AWS {failing.replace('.', ':')} failed" in err, err
    assert f"expired: {request_id}" in out
    assert _jitflow_state(world) == ([], [])  # the first account's grant is gone...
    assert audit_events(repo / "audit") == [("granted", request_id, False),
                                            ("expired", request_id, False)]  # ...and recorded
    message = _git(repo, "log", "-1", "--format=%B")
    assert message.startswith("jitflow revoke: expired and orphaned grants (stopped part-way)")
    assert f"expired: {request_id}" in message and "Stopped by: 1 of 2 accounts" in message
    assert _git(repo, "status", "--porcelain") == ""  # nothing left for the push to refuse
    head = AuditLog(repo / "audit").view([]).head  # ...and anchored after the commit
    assert head is not None and world.admin_client("ssm").get_parameter(
        Name=ANCHOR)["Parameter"]["Value"] == head_value(head)
    pushed = _push_audit(repo)
    assert pushed.returncode == 0, pushed.stderr
    assert _git(repo, "rev-parse", "origin/main") == _git(repo, "rev-parse", "HEAD")

    assert cli.main(argv) == 0, capsys.readouterr().err  # the rerun: nothing left to do
    assert len(audit_events(repo / "audit")) == 2
