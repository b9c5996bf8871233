"""Effective access against a moto server with IAM enforcement on, with the principal's own keys.

First the harness proves it can tell allow from deny (a directly attached policy); then the
grant engine is judged by the same harness.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from testing.builders import Approvals
from testing.moto_server import (
    T0,
    Creds,
    MotoServer,
    World,
    audit_events,
    build_world,
    can_get,
    can_put,
    make_engine,
    make_policy,
    make_request,
    point_env_at,
)

# DeletePolicy answers DeleteConflict as IAM does (moto deletes an attached policy).
pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")


@pytest.fixture
def world(moto_server: MotoServer) -> World:
    return build_world(moto_server)


def _write_document(bucket: str, prefix: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            }
        ],
    }


def test_harness_read_only_principals_can_read_but_not_write(world: World) -> None:
    for s3 in (world.user_s3(), world.role_s3()):
        assert can_get(s3, "data-lake", "clickstream/seed.txt")
        assert not can_put(s3, "data-lake", "clickstream/new.txt")
        assert not can_put(s3, "other-bucket", "x.txt")


def test_harness_enforcement_is_really_on(world: World) -> None:
    # A key moto has never issued must be refused outright, not waved through.
    stranger = world.server.client("s3", Creds("AKIANOTAREALKEY00000", "nope"))
    with pytest.raises(ClientError):
        stranger.get_object(Bucket="data-lake", Key="seed.txt")


def test_harness_sees_a_directly_attached_policy_and_its_removal(world: World) -> None:
    iam = world.admin_client("iam")
    arn = iam.create_policy(
        PolicyName="direct", PolicyDocument=json.dumps(_write_document("data-lake", "clickstream/"))
    )["Policy"]["Arn"]
    role_session = world.role_creds()  # opened before the grant, used after and after removal
    user_s3, role_s3 = world.user_s3(), world.role_s3(role_session)

    iam.attach_user_policy(UserName=world.user_name, PolicyArn=arn)
    iam.attach_role_policy(RoleName=world.role_name, PolicyArn=arn)
    for s3 in (user_s3, role_s3):
        assert can_put(s3, "data-lake", "clickstream/new.txt")
        assert not can_put(s3, "data-lake", "clickstream-old/new.txt")
        assert not can_put(s3, "data-lake", "elsewhere/new.txt")
        assert not can_put(s3, "other-bucket", "clickstream/new.txt")

    iam.detach_user_policy(UserName=world.user_name, PolicyArn=arn)
    iam.detach_role_policy(RoleName=world.role_name, PolicyArn=arn)
    for s3 in (user_s3, role_s3):
        assert not can_put(s3, "data-lake", "clickstream/new.txt")
        assert can_get(s3, "data-lake", "clickstream/seed.txt")


# ---------------------------------------------------------------- the grant engine, judged

PRINCIPALS = ("user", "role")


def _principal(world: World, kind: str) -> str:
    return world.user_arn if kind == "user" else world.role_arn


def _writer(world: World, kind: str) -> Any:
    """An S3 client acting as the principal with its own credentials (a fresh role session)."""
    return world.user_s3() if kind == "user" else world.role_s3()


@pytest.fixture
def engine_world(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    point_env_at(monkeypatch, world.server, world.admin)
    return world


def _assert_only_prefix_writable(s3: Any) -> None:
    assert can_put(s3, "data-lake", "clickstream/2026/11/28/part-0.json")
    assert not can_put(s3, "data-lake", "clickstream-old/part-0.json")  # the sibling prefix
    assert not can_put(s3, "data-lake", "backfill/part-0.json")  # another allowed prefix
    assert not can_put(s3, "data-lake", "part-0.json")  # the bucket root
    assert not can_put(s3, "other-bucket", "clickstream/part-0.json")  # another bucket


@pytest.mark.parametrize("kind", PRINCIPALS)
def test_apply_grants_exactly_the_prefix_and_early_revoke_takes_it_back(
    engine_world: World, kind: str, tmp_path: Path
) -> None:
    world = engine_world
    request = make_request("backfill", _principal(world, kind))
    before = _writer(world, kind)
    assert not can_put(before, "data-lake", "clickstream/x.json")

    outcome = make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    assert outcome.action == "granted"
    s3 = _writer(world, kind)
    _assert_only_prefix_writable(s3)
    assert can_put(before, "data-lake", "clickstream/x.json")  # a session older than the grant

    make_engine(tmp_path).revoke_request(request.id, "done early", T0 + timedelta(minutes=30))
    assert not can_put(s3, "data-lake", "clickstream/x.json")
    assert not can_put(_writer(world, kind), "data-lake", "clickstream/x.json")
    assert can_get(s3, "data-lake", "clickstream/seed.txt")  # read access untouched
    assert audit_events(tmp_path) == [
        ("granted", request.id, False),
        ("early_revoked", request.id, False),
    ]


def test_role_session_opened_before_expiry_revoke_loses_access(
    engine_world: World, tmp_path: Path
) -> None:
    world = engine_world
    request = make_request("expiring", world.role_arn, duration=timedelta(hours=2))
    make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    session = world.role_s3()  # opened while the grant is live, kept across the revoke
    assert can_put(session, "data-lake", "clickstream/x.json")

    # One second before the expiry the sweep must leave the grant alone...
    make_engine(tmp_path).revoke(T0 + timedelta(hours=2) - timedelta(seconds=1))
    assert can_put(session, "data-lake", "clickstream/x.json")
    # ...and at the expiry it must end it: moto ignores the DateLessThan condition, so this
    # proves the revoke path, which is what ends access if AWS's own condition is not enough.
    make_engine(tmp_path).revoke(T0 + timedelta(hours=2))
    assert not can_put(session, "data-lake", "clickstream/x.json")
    assert audit_events(tmp_path) == [
        ("granted", request.id, False),
        ("expired", request.id, False),
    ]


def test_uploaded_document_carries_the_expiry_condition_on_every_allow(
    engine_world: World, tmp_path: Path
) -> None:
    world = engine_world
    request = make_request("conditioned", world.role_arn, duration=timedelta(hours=3))
    arn = make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0).policy_arn
    iam = world.admin_client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert statement["Condition"] == {
            "DateLessThan": {"aws:CurrentTime": "2026-11-28T12:00:00Z"}
        }


@pytest.mark.parametrize("kind", PRINCIPALS)
def test_revoking_one_of_two_overlapping_grants_keeps_the_other(
    engine_world: World, kind: str, tmp_path: Path
) -> None:
    world = engine_world
    principal = _principal(world, kind)
    wide = make_request("wide", principal, prefix="clickstream/")
    narrow = make_request("narrow", principal, prefix="clickstream/2026/")
    other = make_request("other", principal, prefix="backfill/")
    engine = make_engine(tmp_path)
    for request in (wide, narrow, other):
        assert engine.apply(request, make_policy(), Approvals(), T0).action == "granted"
    s3 = _writer(world, kind)
    assert can_put(s3, "data-lake", "clickstream/2026/a.json")
    assert can_put(s3, "data-lake", "clickstream/2025/a.json")

    make_engine(tmp_path).revoke_request(wide.id, "no longer needed", T0 + timedelta(minutes=5))
    assert can_put(s3, "data-lake", "clickstream/2026/a.json")  # still granted by `narrow`
    assert not can_put(s3, "data-lake", "clickstream/2025/a.json")  # only `wide` granted this
    assert can_put(s3, "data-lake", "backfill/a.json")

    make_engine(tmp_path).revoke_request(narrow.id, "done", T0 + timedelta(minutes=6))
    assert not can_put(s3, "data-lake", "clickstream/2026/a.json")
    assert can_put(s3, "data-lake", "backfill/a.json")
    assert [e for e, _r, _c in audit_events(tmp_path)] == [
        "granted",
        "granted",
        "granted",
        "early_revoked",
        "early_revoked",
    ]


def test_apply_twice_is_a_no_op_and_access_stays(engine_world: World, tmp_path: Path) -> None:
    world = engine_world
    request = make_request("twice", world.user_arn)
    make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    again = make_engine(tmp_path).apply(
        request, make_policy(), Approvals(), T0 + timedelta(minutes=1)
    )
    assert again.action == "unchanged"
    assert can_put(world.user_s3(), "data-lake", "clickstream/x.json")
    assert len(audit_events(tmp_path)) == 1
