"""In another account, apply assumes `role` and revoke (and status) `revoke_role`.

The bootstrap gives each member account one role per duty, each trusted only by the hub role
of that duty (tests/test_bootstrap.py proves the documents). These tests prove the other half:
jitflow asks for the right one. moto in-process; moto's STS records every role it was asked
to assume (the role need not exist), so the tests read which ARN each run assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from moto.sts.models import sts_backends

from jitflow.aws import Accounts
from jitflow.cli import main
from jitflow.commands.support import open_engine
from jitflow.errors import AwsError, ConfigError
from jitflow.model import Settings
from jitflow.settings import load_settings
from jitflow.tree import FsTree

HUB = "123456789012"  # the caller's own account (the workflows' roles live here)
MEMBER = "210987654321"
APPLY_ROLE = f"arn:aws:iam::{MEMBER}:role/jitflow/jitflow-grant-apply"
REVOKE_ROLE = f"arn:aws:iam::{MEMBER}:role/jitflow/jitflow-grant-revoke"
SETTINGS = Settings(admins=("admin",), accounts={HUB: None, MEMBER: APPLY_ROLE},
                    revoke_roles={HUB: None, MEMBER: REVOKE_ROLE})


def _policy_yaml(account: str) -> str:
    return (f'description: writes to the data lake\naccount: "{account}"\n'
            "buckets: [data-lake]\nprefixes: [clickstream/]\nactions: [s3:PutObject]\n"
            'max_duration: 8h\napprovers: ["erin"]\n')


def _accounts_yaml(member: str) -> str:
    return f'admins: [admin]\naccounts:\n  "{HUB}": {{}}\n  "{MEMBER}": {member}\n'


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", HUB)
    with mock_aws():
        yield


def assumed() -> list[str]:
    """The role ARNs assumed into MEMBER so far, in order."""
    return [role.role_arn for role in sts_backends[MEMBER]["aws"].assumed_roles]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Settings for two accounts and an identity-policy policy in each, so a run visits both."""
    files = {
        "jitflow.yaml": _accounts_yaml(f'{{role: "{APPLY_ROLE}", revoke_role: "{REVOKE_ROLE}"}}'),
        "policies/identities.yaml": "{}\n",
        "policies/lake.yaml": _policy_yaml(HUB),
        "policies/other.yaml": _policy_yaml(MEMBER),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("duty", "role"), [("apply", APPLY_ROLE), ("revoke", REVOKE_ROLE)])
def test_each_duty_assumes_its_own_role_in_another_account(
        aws: None, duty: str, role: str) -> None:
    accounts = Accounts(SETTINGS, duty="apply" if duty == "apply" else "revoke")
    assert accounts.iam(MEMBER, "analytics-raw/fix").list_jitflow_policies() == []
    assert accounts.buckets(MEMBER, "sweep") is not None
    assert assumed() == [role, role]  # one session per label, each of the duty's role
    assert accounts.iam(HUB).list_jitflow_policies() == []  # own account: no AssumeRole
    assert assumed() == [role, role]


def test_the_adapter_assumes_the_apply_role_unless_told_otherwise(aws: None) -> None:
    Accounts(SETTINGS).iam(MEMBER).list_jitflow_policies()
    assert assumed() == [APPLY_ROLE]


def test_a_duty_without_its_role_never_falls_back_to_the_callers_credentials(aws: None) -> None:
    settings = Settings(admins=("admin",), accounts={MEMBER: APPLY_ROLE})  # no revoke_role
    with pytest.raises(AwsError, match=f"names no role for revoke in account {MEMBER} "
                                       r"\(revoke_role\)"):
        Accounts(settings, duty="revoke").iam(MEMBER)
    assert assumed() == []


def test_jitflow_revoke_assumes_the_revoke_role(
        aws: None, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["revoke", "--no-reconcile", "--repo", str(repo),
                 "--at", "2026-11-28T11:00:00Z"])
    assert code == 0, capsys.readouterr().err
    assert assumed() == [REVOKE_ROLE]


def test_jitflow_status_assumes_the_revoke_role(
        aws: None, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--repo", str(repo)])
    assert code == 0, capsys.readouterr().err
    assert assumed() == [REVOKE_ROLE]


def test_the_engine_jitflow_apply_opens_assumes_the_apply_role(aws: None, repo: Path) -> None:
    """`jitflow apply` runs on the engine `open_engine` gives it (commands/apply.py); the
    whole merge flow is in tests/test_cli_apply.py."""
    settings = load_settings(FsTree(repo))
    engine, _log = open_engine(repo, settings, dry_run=True, log_dir=repo / settings.audit_dir)
    assert engine.run.accounts.iam(MEMBER, "lake/fix").list_jitflow_policies() == []
    assert assumed() == [APPLY_ROLE]


# ---- jitflow.yaml: role and revoke_role come together, and differ ---------------------------


@pytest.mark.parametrize(("member", "message"), [
    (f'{{role: "{APPLY_ROLE}"}}', f"accounts.{MEMBER}: missing required key: 'revoke_role'"),
    (f'{{revoke_role: "{REVOKE_ROLE}"}}', f"accounts.{MEMBER}: missing required key: 'role'"),
    (f'{{role: null, revoke_role: "{REVOKE_ROLE}"}}', f"accounts.{MEMBER}.role: expected "
                                                      "string, got nothing (null)"),
    (f'{{role: "{APPLY_ROLE}", revoke_role: "{APPLY_ROLE}"}}',
     f"accounts.{MEMBER}: role and revoke_role are the same role ({APPLY_ROLE})"),
])
def test_settings_refuse_an_account_without_two_roles(
        tmp_path: Path, member: str, message: str) -> None:
    (tmp_path / "jitflow.yaml").write_text(_accounts_yaml(member))
    with pytest.raises(ConfigError) as raised:
        load_settings(FsTree(tmp_path))
    assert "jitflow.yaml" in str(raised.value)
    assert message in str(raised.value), str(raised.value)


def test_settings_read_both_roles(repo: Path) -> None:
    settings = load_settings(FsTree(repo))
    assert settings.role_for(MEMBER, "apply") == APPLY_ROLE
    assert settings.role_for(MEMBER, "revoke") == REVOKE_ROLE
    assert settings.role_for(HUB, "apply") is None and settings.role_for(HUB, "revoke") is None


def test_a_settings_error_reaches_the_user_as_a_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jitflow.yaml").write_text(_accounts_yaml(f'{{role: "{APPLY_ROLE}"}}'))
    code = main(["revoke", "--no-reconcile", "--dry-run", "--repo", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "revoke_role" in err and "Traceback" not in err, err
