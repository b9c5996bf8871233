"""Effective access against a moto server with IAM enforcement on, with the principal's own keys.

First the harness proves it can tell allow from deny (a directly attached policy); then the
grant engine is judged by the same harness.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_server import (  # noqa: F401 (moto_server is a fixture)
    Creds,
    MotoServer,
    World,
    build_world,
    can_get,
    can_put,
    moto_server,
)


@pytest.fixture
def world(moto_server: MotoServer) -> World:  # noqa: F811
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
