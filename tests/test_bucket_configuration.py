"""Actions that change the bucket itself (replication, lifecycle, encryption, its policy,
deleting it) act whatever the prefix and outlive the grant: refused unless the policy opts in
with `bucket_configuration: true` and two approvals, and the request asks for the whole
bucket; the plan flags them as persistent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jitflow import bucketpolicy as bp
from jitflow.model import AccessEntry, Identities, Identity, PolicySet
from jitflow.plan import build_plan
from jitflow.problems import Problem
from jitflow.rules import check_policy, check_request
from testing.builders import T0, make_policy, make_request

CONFIG = ("s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration",
          "s3:PutEncryptionConfiguration", "s3:DeleteBucket", "s3:PutBucketTagging")
OPTED_IN = make_policy(actions=("s3:PutObject", "s3:PutLifecycleConfiguration"),
                       prefixes=("",), bucket_configuration=True, min_approvals=2,
                       approvers=("erin", "dora"))


def messages(problems: list[Problem]) -> str:
    return " | ".join(p.message for p in problems)


@pytest.mark.parametrize("action", CONFIG)
def test_a_policy_must_opt_in_to_each_bucket_configuration_action(action: str) -> None:
    found = messages(check_policy(make_policy(actions=(action,))))
    assert f"{action} changes the bucket itself" in found
    assert check_policy(replace(OPTED_IN, actions=(action,))) == []


def test_opting_in_needs_two_approvals() -> None:
    found = messages(check_policy(replace(OPTED_IN, min_approvals=1)))
    assert "bucket_configuration: true needs min_approvals >= 2" in found


def test_object_actions_need_no_opt_in() -> None:
    assert check_policy(make_policy(actions=("s3:PutObject", "s3:DeleteObject"))) == []


def judged(prefix: str) -> str:
    request = make_request(access=(AccessEntry("b", prefix, ("s3:PutLifecycleConfiguration",)),))
    policies = PolicySet({"data-fix": replace(OPTED_IN, prefixes=("", "p/"))}, Identities(
        {"alice": (Identity(request.principal),)}))
    return messages(check_request(request, policies))


def test_a_request_for_a_prefix_is_told_to_ask_for_the_whole_bucket() -> None:
    assert "changes the whole bucket b, whatever the prefix" in judged("p/2026/")
    assert judged("") == ""


def test_the_plan_flags_the_change_as_persistent() -> None:
    request = make_request(access=(AccessEntry("b", "", ("s3:PutLifecycleConfiguration",)),))
    risks = build_plan(request, OPTED_IN, T0).risks
    assert any(r.startswith("persistent: s3:PutLifecycleConfiguration") for r in risks)
    assert not any("persistent" in r for r in build_plan(make_request(), make_policy(), T0).risks)


def test_a_listing_iam_cannot_narrow_to_a_prefix_needs_the_whole_bucket() -> None:
    policy = make_policy(actions=("s3:ListBucketMultipartUploads", "s3:ListBucketVersions"),
                         prefixes=("", "p/"))
    policies = PolicySet({"data-fix": policy}, Identities(
        {"alice": (Identity(make_request().principal),)}))

    def judged(prefix: str, action: str) -> str:
        request = make_request(access=(AccessEntry("b", prefix, (action,)),))
        return messages(check_request(request, policies))

    assert "lists the whole bucket b" in judged("p/2026/", "s3:ListBucketMultipartUploads")
    assert judged("", "s3:ListBucketMultipartUploads") == ""
    assert judged("p/2026/", "s3:ListBucketVersions") == ""  # narrowed by s3:prefix


def test_versions_are_listed_under_the_prefix_only() -> None:
    request = make_request(access=(AccessEntry("b", "p/x/", ("s3:ListBucketVersions",)),))
    (listing,) = bp.grant_statements(request, bp.Subject(request.principal, "1"), T0)["b"]
    assert listing["Condition"]["StringLike"] == {"s3:prefix": "p/x/*"}
