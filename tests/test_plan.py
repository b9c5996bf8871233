"""The plan: the exact IAM document, its invariants, and what reviewers see."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from foundation_helpers import dump, example_policies, judge, valid_request_data

from jitflow.actions import lookup, scoped_permissions_management
from jitflow.model import Request
from jitflow.plan import build_plan, document_size, plan_summary, render_markdown

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def example_request(**entry: object) -> Request:
    data = valid_request_data()
    data["access"][0].update(entry)
    request, problems = judge(dump(data))
    assert request is not None, problems
    return request


def test_expiry_is_apply_time_plus_duration() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    assert plan.expiry == AT + timedelta(hours=2)


def test_every_allow_is_exact_and_expires() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    allows = [s for s in plan.document["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "Objects1",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::analytics-raw/clickstream/2026/11/27/*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"}},
        }
    ]


def test_permissions_management_is_denied_on_the_same_buckets() -> None:
    plan = build_plan(example_request(), example_policies().policies["analytics-raw"], AT)
    denies = [s for s in plan.document["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1
    assert set(denies[0]["Action"]) == set(scoped_permissions_management())
    assert "s3:PutBucketPolicy" in denies[0]["Action"]
    assert denies[0]["Resource"] == ["arn:aws:s3:::analytics-raw", "arn:aws:s3:::analytics-raw/*"]
    for action in denies[0]["Action"]:
        info = lookup(action)
        assert info is not None and info.manages_permissions


def test_bucket_level_action_targets_the_bucket_arn() -> None:
    policy = example_policies().policies["analytics-raw"]
    policy = type(policy)(
        **{**policy.__dict__, "actions": (*policy.actions, "s3:PutBucketTagging")}
    )
    base = example_request()
    entry = type(base.access[0])(
        base.access[0].bucket, base.access[0].prefix, ("s3:PutObject", "s3:PutBucketTagging")
    )
    request = type(base)(**{**base.__dict__, "access": (entry,)})
    statements = build_plan(request, policy, AT).document["Statement"]
    bucket = next(s for s in statements if s["Sid"] == "Bucket1")
    assert bucket["Resource"] == "arn:aws:s3:::analytics-raw"
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
