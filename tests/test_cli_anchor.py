"""`jitflow revoke --commit` and the audit anchor, through the real entry point against the moto
server: the run writes the new head after its audit commit; a failed anchor write loses no
record and blocks no removal (committed, then exit 3); a log that does not hold the anchored
head keeps the anchor as evidence (committed, then exit 1). `jitflow apply` writes it too:
tests/test_cli_apply.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jitflow import cli
from jitflow.audit.anchor import Head, advance, head_value
from jitflow.audit.store import AuditLog
from jitflow.aws import AnchorParameter
from jitflow.model import Settings
from testing.audit_repo import AuditRepo, grant_repository
from testing.builders import Approvals
from testing.check_repo import GIT_ENV
from testing.moto_server import (
    ACCOUNT,
    ANCHOR,
    T0,
    FaultInjector,
    MotoServer,
    World,
    build_world,
    instrument_clients,
    make_engine,
    make_policy,
    make_request,
    no_retry_sleep,
    point_env_at,
)

pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")
AT = "2026-11-28T12:00:00Z"  # past the expiry of the 2h grant


@pytest.fixture
def world(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = build_world(moto_server, objects=(), enforce=False)
    point_env_at(monkeypatch, moto_server, world.admin)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(key, raising=False)
    yield world


@pytest.fixture
def repo(world: World, tmp_path: Path) -> AuditRepo:
    """An expired grant (2h from T0), recorded and committed."""
    repo = grant_repository(tmp_path / "repo", ACCOUNT)
    make_engine(repo.audit).apply(make_request("backfill", world.role_arn), make_policy(),
                                  Approvals(), T0)
    repo.commit("granted")
    return repo


def anchor_value(world: World) -> str:
    value: str = world.admin_client("ssm").get_parameter(Name=ANCHOR)["Parameter"]["Value"]
    return value


def head(repo: AuditRepo) -> Head:
    found = AuditLog(repo.audit).view([]).head
    assert found is not None
    return found


def revoke(repo: AuditRepo) -> int:
    return cli.main(["revoke", "--no-reconcile", "--commit", "--repo", str(repo.path),
                     "--at", AT])


def test_revoke_writes_the_new_head_after_its_commit(
    world: World, repo: AuditRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert anchor_value(world) == "unset"
    assert revoke(repo) == 0, capsys.readouterr().err
    assert head(repo).seq == 2
    assert anchor_value(world) == head_value(head(repo))
    assert f"audit anchor {ANCHOR}: seq 2" in capsys.readouterr().err
    assert cli.main(["audit", "verify", "--anchor", str(repo.audit)]) == 0
    assert revoke(repo) == 0  # nothing to record: the anchor stays as it is
    history = world.admin_client("ssm").get_parameter_history(Name=ANCHOR)["Parameters"]
    assert [v["Version"] for v in history] == [1, 2]


def test_an_anchor_write_failure_during_revoke_still_commits_and_exits_3(
    world: World, repo: AuditRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    advance(AnchorParameter.from_settings(Settings(admins=(), accounts={})),
            AuditLog(repo.audit))  # the head of the grant, as apply wrote it
    anchored = anchor_value(world)
    injector = FaultInjector(fail_at=1, kind="server-error", op="ssm.PutParameter")
    with no_retry_sleep(), instrument_clients(injector):
        code = revoke(repo)
    out, err = capsys.readouterr()
    assert injector.failed_op == "ssm.PutParameter"
    assert code == 3, err
    assert "expired: lake/backfill" in out  # removed in AWS...
    assert world.admin_client("iam").list_policies(
        Scope="Local", PathPrefix="/jitflow/")["Policies"] == []
    assert repo.git("status", "--porcelain") == ""  # ...and its record committed
    assert repo.git("log", "-1", "--format=%s").startswith("jitflow revoke")
    assert [r["event"] for r in AuditLog(repo.audit).records()] == ["granted", "expired"]
    assert "jitflow: error: AWS ssm:PutParameter failed" in err
    assert anchor_value(world) == anchored
    # The log is ahead of the anchor (nothing is lost); the next run that records moves it on.
    assert cli.main(["audit", "verify", "--anchor", str(repo.audit)]) == 1
    assert "ahead: the log goes on past the anchored record seq 1" in capsys.readouterr().err


def test_a_log_without_the_anchored_head_keeps_the_anchor_and_still_removes(
    world: World, repo: AuditRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The anchor holds seq 3, which the log does not have (cut off, or never pushed)."""
    gone = head_value(Head("2026-11.jsonl", 3, "d" * 64))
    world.admin_client("ssm").put_parameter(Name=ANCHOR, Value=gone, Overwrite=True)
    code = revoke(repo)
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "expired: lake/backfill" in out
    assert repo.git("status", "--porcelain") == ""
    assert [r["event"] for r in AuditLog(repo.audit).records()] == ["granted", "expired"]
    assert f"the audit log disagrees with its anchor {ANCHOR} (behind)" in err
    assert "The anchor was left as it is, as evidence" in err
    assert anchor_value(world) == gone
