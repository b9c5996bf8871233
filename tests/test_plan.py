"""The plan: the exact IAM document, its invariants, and what reviewers see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from jitflow.actions import lookup, scoped_permissions_management
from jitflow.model import Request
from jitflow.plan import build_plan, document_size, plan_summary, render_markdown, subject_for
from testing.foundation import dump, example_policies, judge, ml_request_data, valid_request_data

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def example_request(**entry: object) -> Request:
    """The request of the bucket-policy example (analytics-raw, a shared role's session)."""
    data = valid_request_data()
    data["access"][0].update(entry)
    request, problems = judge(dump(data))
    assert request is not None, problems
    return request


def ml_request() -> Request:
    """The request of the identity-policy example (ml-models, alice's own role)."""
    request, problems = judge(dump(ml_request_data()), "requests/ml-models/alice-churn.yaml")
    assert request is not None, problems
    return request


def test_expiry_is_apply_time_plus_duration() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    assert plan.expiry == AT + timedelta(hours=2)


def test_the_examples_cover_both_grant_modes() -> None:
    policies = example_policies().policies
    assert policies["analytics-raw"].grant == "bucket-policy"
    assert policies["ml-models"].grant == "identity-policy"


def test_every_allow_is_exact_and_expires() -> None:
    plan = build_plan(ml_request(), example_policies().policies["ml-models"], AT)
    allows = [s for s in plan.document["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "Objects1",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::acme-ml-models/models/churn/*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-11-28T10:00:00Z"}},
        }
    ]
    assert plan.bucket_statements == {} and plan.subject is None


def test_bucket_statement_admits_one_session_until_the_expiry() -> None:
    policies = example_policies()
    policy, request = policies.policies["analytics-raw"], example_request()
    plan = build_plan(request, policy, AT, subject_for(request, policy, policies.identities))
    assert plan.bucket_statements == {
        "analytics-raw": (
            {
                "Sid": "JitflowGanalyticsHrawSaliceHbackfillE1O",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:role/data-engineers"},
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::analytics-raw/clickstream/2026/11/27/*",
                "Condition": {
                    "DateLessThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
                    "StringEquals": {"aws:userid": "${RoleId}:alice@acme.example"},
                },
            },
        )
    }
    assert plan.document["Statement"] == list(plan.bucket_statements["analytics-raw"])


def test_permissions_management_is_denied_on_the_same_buckets() -> None:
    plan = build_plan(ml_request(), example_policies().policies["ml-models"], AT)
    denies = [s for s in plan.document["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1
    assert set(denies[0]["Action"]) == set(scoped_permissions_management())
    assert "s3:PutBucketPolicy" in denies[0]["Action"]
    assert denies[0]["Resource"] == [
        "arn:aws:s3:::acme-ml-models", "arn:aws:s3:::acme-ml-models/*"]
    for action in denies[0]["Action"]:
        info = lookup(action)
        assert info is not None and info.manages_permissions


def test_bucket_level_action_targets_the_bucket_arn() -> None:
    policy = example_policies().policies["ml-models"]
    policy = type(policy)(
        **{**policy.__dict__, "actions": (*policy.actions, "s3:PutBucketTagging")}
    )
    base = ml_request()
    entry = type(base.access[0])(
        base.access[0].bucket, base.access[0].prefix, ("s3:PutObject", "s3:PutBucketTagging")
    )
    request = type(base)(**{**base.__dict__, "access": (entry,)})
    statements = build_plan(request, policy, AT).document["Statement"]
    bucket = next(s for s in statements if s["Sid"] == "Bucket1")
    assert bucket["Resource"] == "arn:aws:s3:::acme-ml-models"
    assert bucket["Action"] == ["s3:PutBucketTagging"]
    assert "Condition" in bucket


def test_risk_flags_and_markdown() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    assert plan.risks == ("destructive actions: s3:DeleteObject",)
    markdown = render_markdown(plan)
    assert "destructive actions" in markdown
    assert "arn:aws:s3:::analytics-raw/clickstream/2026/11/27/*" in markdown
    assert "2026-11-28T11:00:00Z" in markdown


def test_markdown_neutralises_untrusted_text() -> None:
    data = valid_request_data()
    data["reason"] = "Pls | approve <img src=x> @acme/security `code`\nnew line"
    request, _ = judge(dump(data))
    assert request is not None
    markdown = render_markdown(
        build_plan(request, example_policies().policies["analytics-raw"], AT)
    )
    reason_row = next(line for line in markdown.splitlines() if line.startswith("| Reason"))
    assert "<img" not in reason_row and "\\|" in reason_row and "@acme" not in reason_row


def test_summary_is_json_serialisable_and_size_is_counted_without_whitespace() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    summary = plan_summary(plan)
    assert json.loads(json.dumps(summary))["expiry"] == "2026-11-28T11:00:00Z"
    assert document_size(plan.document) == len(plan.document_json())
    assert " " not in plan.document_json()
