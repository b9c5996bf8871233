"""Bucket-policy grants proven against a moto server decided by jitflow's policy evaluator.

Real HTTP, real SigV4, moto's IAM enforcement on, and every principal signing with its own
credentials; `jitflow.sandbox.moto_eval.policy_evaluation` makes moto's decision with
`policy_eval` (bucket policies and conditions included), on a clock the tests set by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.iam.access_control import IAMRequestBase

from jitflow.sandbox.moto_eval import DecisionLog, SettableClock, policy_evaluation
from jitflow.sandbox.policy_eval import Decision
from testing.moto_server import (
    ACCOUNT,
    Creds,
    MotoServer,
    can_get,
    can_list,
    can_put,
    enforcing,
)

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
EXPIRY = T0 + timedelta(hours=2)
LAKE, GOVERNED, BROKEN = "data-lake", "governed-lake", "broken-lake"
GRANT_SID = "jitflow-grant-r42"
ALICE, BOB = "alice@acme.example", "bob@acme.example"
EVERYTHING: dict[str, Any] = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass
class Sandbox:
    server: MotoServer
    clock: SettableClock
    setup: Creds
    alice: Creds
    bob: Creds
    role_arn: str
    role_id: str
    lister: Creds
    etl: Creds
    exempt_user: Creds
    exempt_role_session: Creds
    engineer_role_arn: str
    grant_policy: str

    def s3(self, creds: Creds) -> Any:
        return self.server.client("s3", creds)


def _user(iam: Any, name: str, *statements: dict[str, Any]) -> tuple[Creds, str, str]:
    """A user with its own keys and (if given) one inline policy: (creds, arn, user id)."""
    user = iam.create_user(UserName=name)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=_document(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(key["AccessKeyId"], key["SecretAccessKey"]), user["Arn"], user["UserId"]


def _role(iam: Any, name: str, path: str, trusted: str, *statements: dict[str, Any]) -> Any:
    trust = _document({"Effect": "Allow", "Principal": {"AWS": trusted},
                       "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=_document(*statements))
    return role


def _assume(server: MotoServer, by: Creds, role_arn: str, session: str) -> Creds:
    answer = server.client("sts", by).assume_role(RoleArn=role_arn, RoleSessionName=session)
    c = answer["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _grant_policy(role_arn: str, role_id: str, lister_arn: str) -> str:
    """jitflow's bucket-policy grant for alice's session, and a prefix-limited listing."""
    return _document(
        {
            "Sid": GRANT_SID,
            "Effect": "Allow",
            "Principal": {"AWS": role_arn},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{LAKE}/backfill/*",
            "Condition": {
                "StringEquals": {"aws:userid": f"{role_id}:{ALICE}"},
                "DateLessThan": {"aws:CurrentTime": EXPIRY.strftime("%Y-%m-%dT%H:%M:%SZ")},
            },
        },
        {
            "Sid": "jitflow-list-r42",
            "Effect": "Allow",
            "Principal": {"AWS": lister_arn},
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{LAKE}",
            "Condition": {"StringLike": {"s3:prefix": ["backfill/", "backfill/*"]}},
        },
    )


def _baseline_policy(exempt_user_id: str) -> str:
    """A baseline Deny on writes for everyone except listed user ids and jitflow-* roles."""
    return _document(
        {
            "Sid": "jitflow-baseline-deny",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{GOVERNED}/*",
            "Condition": {
                "StringNotEquals": {"aws:userid": [exempt_user_id, "AROANOBODY:x"]},
                "ArnNotLike": {"aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:role/jitflow-*"]},
            },
        }
    )


@pytest.fixture(scope="module")
def sandbox(moto_server: MotoServer) -> Sandbox:
    """Everything is built with enforcement off; the tests turn it on."""
    server = moto_server
    server.reset()
    iam, s3 = server.client("iam"), server.client("s3")
    for bucket in (LAKE, GOVERNED, BROKEN):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="backfill/seed.txt", Body=b"seed")

    setup, setup_arn, _ = _user(iam, "setup", EVERYTHING)
    read = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{LAKE}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{LAKE}"},
    ]
    role = _role(iam, "data-engineer", "/teams/", setup_arn, *read)
    lister, lister_arn, _ = _user(iam, "lister", {
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]})
    write_anywhere = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}
    etl, _, _ = _user(iam, "etl", write_anywhere)
    exempt_user, _, exempt_user_id = _user(iam, "jitflow-writer", write_anywhere)
    engineer = _role(iam, "jitflow-apply", "/", setup_arn, write_anywhere)

    grant = _grant_policy(role["Arn"], role["RoleId"], lister_arn)
    s3.put_bucket_policy(Bucket=LAKE, Policy=grant)
    s3.put_bucket_policy(Bucket=GOVERNED, Policy=_baseline_policy(exempt_user_id))
    s3.put_bucket_policy(Bucket=BROKEN, Policy=_document(
        {"Effect": "allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}))

    return Sandbox(
        server=server,
        clock=SettableClock(T0),
        setup=setup,
        alice=_assume(server, setup, role["Arn"], ALICE),
        bob=_assume(server, setup, role["Arn"], BOB),
        role_arn=role["Arn"],
        role_id=role["RoleId"],
        lister=lister,
        etl=etl,
        exempt_user=exempt_user,
        exempt_role_session=_assume(server, setup, engineer["Arn"], "apply-run-7"),
        engineer_role_arn=engineer["Arn"],
        grant_policy=grant,
    )


@pytest.fixture
def decisions(sandbox: Sandbox) -> Iterator[DecisionLog]:
    """Evaluator and enforcement on for one test, the clock back at T0."""
    sandbox.clock.set_time(T0)
    with policy_evaluation(sandbox.clock) as log, enforcing(sandbox.server):
        yield log


# ------------------------------------------------------------------------ the grant itself


def test_alice_writes_under_the_granted_prefix(sandbox: Sandbox, decisions: DecisionLog) -> None:
    """The role's own policy cannot write: the bucket-policy statement is what allows."""
    assert can_put(sandbox.s3(sandbox.alice), LAKE, "backfill/part-0.parquet")
    decided = decisions.last("s3:PutObject")
    assert decided.evaluation is not None
    assert decided.evaluation.allowed, str(decided)
    assert [ref.sid for ref in decided.evaluation.statements] == [GRANT_SID], str(decided)


def test_alice_outside_the_prefix_is_denied(sandbox: Sandbox, decisions: DecisionLog) -> None:
    s3 = sandbox.s3(sandbox.alice)
    assert not can_put(s3, LAKE, "raw/part-0.parquet"), str(decisions.last("s3:PutObject"))
    assert not can_put(s3, LAKE, "backfill-old/part-0.parquet")
    assert not can_put(s3, GOVERNED, "backfill/part-0.parquet")
    assert can_put(s3, LAKE, "backfill/part-1.parquet")  # the same session still can here


def test_bob_on_the_same_role_is_denied(sandbox: Sandbox, decisions: DecisionLog) -> None:
    s3 = sandbox.s3(sandbox.bob)
    assert can_get(s3, LAKE, "backfill/seed.txt")  # bob's session works; the role can read
    assert not can_put(s3, LAKE, "backfill/part-0.parquet"), str(decisions.last("s3:PutObject"))


def test_caller_identity_is_the_userid_the_grant_names(
    sandbox: Sandbox, decisions: DecisionLog
) -> None:
    """The aws:userid the bridge builds is the UserId STS reports for the session."""
    me = sandbox.server.client("sts", sandbox.alice).get_caller_identity()
    assert me["UserId"] == f"{sandbox.role_id}:{ALICE}"
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/data-engineer/{ALICE}"
    assert can_put(sandbox.s3(sandbox.alice), LAKE, "backfill/x")
    assert decisions.last("s3:PutObject").request.context["aws:userid"] == me["UserId"]
    assert decisions.last("s3:PutObject").request.principal_arn == sandbox.role_arn


def test_grant_ends_by_its_condition_alone(sandbox: Sandbox, decisions: DecisionLog) -> None:
    """One second before expiry alice writes; one second after she cannot, and the bucket
    policy is byte for byte the one that allowed her."""
    s3 = sandbox.s3(sandbox.alice)
    admin_s3 = sandbox.s3(sandbox.setup)
    sandbox.clock.set_time(EXPIRY - timedelta(seconds=1))
    assert can_put(s3, LAKE, "backfill/last.parquet")
    sandbox.clock.set_time(EXPIRY + timedelta(seconds=1))
    assert not can_put(s3, LAKE, "backfill/late.parquet")
    late = decisions.last("s3:PutObject")
    assert late.evaluation is not None
    assert late.evaluation.decision is Decision.IMPLICIT_DENY, str(late)
    assert admin_s3.get_bucket_policy(Bucket=LAKE)["Policy"] == sandbox.grant_policy


# --------------------------------------------------------------------- listing by s3:prefix


def test_listing_only_under_the_granted_prefix(sandbox: Sandbox, decisions: DecisionLog) -> None:
    s3 = sandbox.s3(sandbox.lister)
    assert can_list(s3, LAKE, "backfill/"), str(decisions.last("s3:ListBucket"))
    assert can_list(s3, LAKE, "backfill/2026/")
    assert not can_list(s3, LAKE, "raw/")
    assert not can_list(s3, LAKE, "backfill")
    assert not can_list(s3, LAKE)  # no Prefix: no s3:prefix key, StringLike is false
    listed = s3.list_objects(Bucket=LAKE, Prefix="backfill/")["Contents"]  # ListObjects v1
    assert "backfill/seed.txt" in [entry["Key"] for entry in listed]


# ------------------------------------------------------------ baseline Deny with exemptions


def test_baseline_deny_overrides_an_identity_allow(
    sandbox: Sandbox, decisions: DecisionLog
) -> None:
    etl = sandbox.s3(sandbox.etl)
    assert can_put(etl, LAKE, "raw/x")  # its identity policy does allow writes
    assert not can_put(etl, GOVERNED, "raw/x")
    denied = decisions.last("s3:PutObject")
    assert denied.evaluation is not None
    assert denied.evaluation.decision is Decision.EXPLICIT_DENY, str(denied)
    assert denied.evaluation.statements[0].sid == "jitflow-baseline-deny"


def test_baseline_deny_exempts_listed_principals(
    sandbox: Sandbox, decisions: DecisionLog
) -> None:
    assert can_put(sandbox.s3(sandbox.exempt_user), GOVERNED, "raw/x"), str(
        decisions.last("s3:PutObject")
    )
    assert can_put(sandbox.s3(sandbox.exempt_role_session), GOVERNED, "raw/y"), str(
        decisions.last("s3:PutObject")
    )


# ------------------------------------------------------------------ moto's own behaviour kept


def test_assume_role_still_checks_the_trust_policy(
    sandbox: Sandbox, decisions: DecisionLog
) -> None:
    """lister's identity policy allows sts:AssumeRole, but the trust policy names only setup."""
    sts_as_lister = sandbox.server.client("sts", sandbox.lister)
    with pytest.raises(Exception, match="AccessDenied"):
        sts_as_lister.assume_role(RoleArn=sandbox.role_arn, RoleSessionName="lister")
    assert decisions.last("sts:AssumeRole").evaluation is not None
    assert _assume(sandbox.server, sandbox.setup, sandbox.role_arn, "setup-check").session_token


def test_a_malformed_bucket_policy_denies_even_an_admin(
    sandbox: Sandbox, decisions: DecisionLog
) -> None:
    admin = sandbox.s3(sandbox.setup)
    assert can_put(admin, LAKE, "raw/admin")
    assert not can_put(admin, BROKEN, "raw/admin")
    assert decisions.last("s3:PutObject").error, str(decisions.last("s3:PutObject"))


def test_without_the_evaluator_moto_ignores_bucket_policies(sandbox: Sandbox) -> None:
    """The control: with enforcement on but the evaluator off, moto decides alone, and
    alice's bucket-policy grant does nothing (the reason this bridge exists)."""
    assert IAMRequestBase.check_action_permitted.__module__ == "moto.iam.access_control"
    with enforcing(sandbox.server):
        assert not can_put(sandbox.s3(sandbox.alice), LAKE, "backfill/part-0.parquet")
        assert can_get(sandbox.s3(sandbox.alice), LAKE, "backfill/seed.txt")


# --------------------------------------------------------------- switching on and off safely


def test_moto_is_restored_after_an_exception() -> None:
    original = IAMRequestBase.check_action_permitted
    with pytest.raises(RuntimeError, match="boom"), policy_evaluation():
        assert IAMRequestBase.check_action_permitted is not original
        raise RuntimeError("boom")
    assert IAMRequestBase.check_action_permitted is original


def test_only_one_evaluation_at_a_time() -> None:
    original = IAMRequestBase.check_action_permitted
    with policy_evaluation():
        with pytest.raises(RuntimeError, match="already active"), policy_evaluation():
            pass
        assert IAMRequestBase.check_action_permitted is not original
    assert IAMRequestBase.check_action_permitted is original
    with policy_evaluation():  # and it can be switched on again afterwards
        pass
