"""Property tests: no input crashes validation, and no accepted request escapes its policy."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow import actions as catalogue
from jitflow.bucketpolicy import BUCKET_POLICY_LIMIT, envelope_size, statements_size
from jitflow.clock import iso
from jitflow.model import Policy, Request
from jitflow.plan import Plan, build_plan, document_size, subject_for
from jitflow.rules import IAM_MANAGED_POLICY_LIMIT
from testing.foundation import example_policies, judge

_AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EXAMPLES = 300 if os.environ.get("JITFLOW_LONG") else 60
POLICIES = example_policies()
PROFILE = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Pieces that are sometimes right and often subtly wrong: the generator aims at the edges.
words = st.sampled_from(
    [
        "clickstream",
        "backfill",
        "models",
        "x",
        "..",
        ".",
        "*",
        "?",
        "${a}",
        "%2F",
        "caf\u00e9",
        "clickstream-old",
        "CLICKSTREAM",
        "",
        "a b",
        "2026",
        "dt=2026-11-27",
    ]
)
prefixes = st.lists(words, max_size=4).map("/".join) | st.lists(
    words, min_size=1, max_size=4
).map(lambda parts: "/".join(parts) + "/")
buckets = st.sampled_from(
    [
        "analytics-raw",
        "analytics-raw-eu",
        "acme-ml-models",
        "analytics-r\u0430w",
        "analytics-raw*",
        "Analytics-Raw",
        "finance",
        "analytics-raw.",
        "xn--abc",
    ]
)
action_names = st.sampled_from(sorted(catalogue.catalogue())) | st.sampled_from(
    ["s3:*", "s3:Put*", "s3:putobject", "iam:PassRole", "s3:PutObjekt", "*"]
)
entries = st.fixed_dictionaries(
    {
        "bucket": buckets,
        "prefix": prefixes,
        "actions": st.lists(action_names, min_size=1, max_size=4),
    }
)
requests = st.fixed_dictionaries(
    {
        "requester": st.sampled_from(["alice", "bob", "erin", "mallory", "Alice"]),
        "principal": st.sampled_from(
            [
                "arn:aws:iam::111122223333:role/data-engineers",
                "arn:aws:iam::111122223333:role/alice-data",
                "arn:aws:iam::111122223333:user/bob",
                "arn:aws:iam::444455556666:role/alice-ml",
                "arn:aws:iam::111122223333:role/*",
                "arn:aws:iam::111122223333:root",
            ]
        ),
        "reason": st.text(min_size=0, max_size=40),
        "duration": st.sampled_from(["30m", "2h", "1h30m", "0m", "5h", "1d", "h", "90m"]),
        "access": st.lists(entries, min_size=0, max_size=3),
    },
    optional={"ticket": st.sampled_from(["OPS-1", "ML-7", "bad ticket", ""]),
              "not_before": st.sampled_from(["2026-11-30T08:00:00Z", "2026-11-27T08:00:00Z",
                                             "2026-02-30T08:00:00Z", "2026-11-30T08:00:00+01:00",
                                             "2026-11-30"])},
)
folders = st.sampled_from(["analytics-raw", "ml-models", "nope"])


def plan_for(request: Request, policy: Policy) -> Plan:
    """The plan as jitflow makes it: a bucket-policy grant admits the requester's identity."""
    subject = (subject_for(request, policy, POLICIES.identities)
               if policy.in_bucket_policy else None)
    return build_plan(request, policy, _AT, subject)


def assert_plan_within_policy(plan: Plan, policy: Policy) -> None:
    """The invariants of every plan (threat model: scope can never widen)."""
    expiry = iso(plan.expiry)
    expected_condition: dict[str, Any] = {"DateLessThan": {"aws:CurrentTime": expiry}}
    # A scheduled start: never before the apply, the duration from it, in every statement.
    assert plan.starts_at >= plan.applied_at
    assert plan.expiry == plan.starts_at + plan.request.duration
    if plan.request.not_before is not None:
        expected_condition["DateGreaterThan"] = {"aws:CurrentTime": iso(plan.starts_at)}
    if policy.in_bucket_policy:
        # Each bucket's statements fit its policy and admit exactly the requester's identity:
        # the principal, narrowed to the session identities.yaml names for the requester.
        assert plan.subject is not None and plan.subject.principal == plan.request.principal
        identity = POLICIES.identities.identity(plan.request.requester, plan.request.principal)
        assert identity is not None and plan.subject.session == identity.session
        expected_condition.update(plan.subject.conditions())
        for bucket, statements in plan.bucket_statements.items():
            assert bucket in policy.buckets
            assert envelope_size() + statements_size(statements) <= BUCKET_POLICY_LIMIT
    else:
        assert plan.subject is None and plan.bucket_statements == {}
        assert document_size(plan.document) <= IAM_MANAGED_POLICY_LIMIT
    allowed_objects = [f"arn:aws:s3:::{b}/{p}" for b in policy.buckets for p in policy.prefixes]
    for statement in plan.document["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if statement["Effect"] == "Deny":
            continue
        if policy.in_bucket_policy:
            assert statement["Principal"] == {"AWS": plan.request.principal}
        assert statement["Condition"] == expected_condition
        for action in statement["Action"]:
            assert action in policy.actions
            info = catalogue.lookup(action)
            assert info is not None
            assert policy.permissions_management or not info.manages_permissions
        for arn in resources:
            assert "?" not in arn
            if arn.endswith("*"):
                assert arn.count("*") == 1
                assert any(arn[:-1].startswith(base) for base in allowed_objects), arn
            else:
                assert "*" not in arn
                assert arn.removeprefix("arn:aws:s3:::") in policy.buckets


@PROFILE
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(raw: bytes) -> None:
    request, problems = judge(raw)
    assert request is None and problems


@PROFILE
@given(st.text(max_size=1024))
def test_random_text_never_crashes(text: str) -> None:
    request, problems = judge(text.encode("utf-8", "surrogatepass"))
    assert request is None or not any(p.severity == "error" for p in problems)


@PROFILE
@given(requests, folders, st.sampled_from(['"', "'", None]))
def test_structured_requests_never_escape_their_policy(
    data: dict[str, Any], folder: str, style: str | None
) -> None:
    raw = yaml.safe_dump(data, default_style=style, allow_unicode=True).encode()
    request, problems = judge(raw, path=f"requests/{folder}/fuzz.yaml")
    if request is None:
        assert any(p.severity == "error" for p in problems)
        assert all(isinstance(p.message, str) and p.message for p in problems)
        return
    policy = POLICIES.policies[folder]
    assert_plan_within_policy(plan_for(request, policy), policy)
    for entry in request.access:
        assert re.fullmatch(r"[A-Za-z0-9!_.'()=+,@/-]*", entry.prefix)


@PROFILE
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_yaml_structures_never_crash(data: Any) -> None:
    raw = yaml.safe_dump(data).encode()
    request, problems = judge(raw)
    assert request is None and problems


good_entries = st.fixed_dictionaries(
    {
        "bucket": st.sampled_from(["analytics-raw", "analytics-raw-eu"]),
        "prefix": st.sampled_from(["clickstream/", "backfill/"]).flatmap(
            lambda base: st.lists(
                st.from_regex(r"[a-z0-9=-]{1,8}", fullmatch=True), max_size=3
            ).map(lambda parts: base + "".join(p + "/" for p in parts))
        ),
        "actions": st.lists(
            st.sampled_from(["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    }
)


@PROFILE
@given(st.lists(good_entries, min_size=1, max_size=20), st.sampled_from(["30m", "4h", "1h30m"]))
def test_generated_valid_requests_are_accepted_and_within_policy(
    access: list[dict[str, Any]], duration: str
) -> None:
    data = {
        "requester": "alice",
        "principal": "arn:aws:iam::111122223333:role/data-engineers",
        "reason": "generated by a property test",
        "duration": duration,
        "access": access,
    }
    request, problems = judge(yaml.safe_dump(data).encode())
    assert request is not None, problems
    policy = POLICIES.policies["analytics-raw"]
    assert_plan_within_policy(plan_for(request, policy), policy)
