"""A scheduled start (`not_before`): the request file, the rules, the statements in both grant
modes, the read-only baseline's hold on a grantee before its start, and who stays eligible.
Pure; what AWS then allows before, inside and after the window is proven against the moto
server in test_aws_bucket_access.py, and what revoke does in test_engine*.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jitflow import bucketpolicy as bp
from jitflow.model import Identities, Identity, PolicySet
from jitflow.plan import build_plan, plan_summary, render_markdown, render_text, subject_for
from jitflow.rules import (
    NOT_BEFORE_MAX_LEAD,
    NOT_BEFORE_SKEW,
    check_request,
    eligibility_problem,
    schedule_problems,
)
from testing.builders import ACCOUNT, T0, make_policy, make_request
from testing.foundation import dump, example_policies, judge, messages, valid_request_data

START = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
SHARED = f"arn:aws:iam::{ACCOUNT}:role/shared-data"
ALICE = "alice@acme.example"


def scheduled(text: str = "2026-12-05T08:00:00Z") -> bytes:
    return dump({**valid_request_data(), "not_before": text})


# --- the request file -----------------------------------------------------------------------


def test_not_before_is_read_as_a_utc_time() -> None:
    request, problems = judge(scheduled())
    assert problems == [] and request is not None
    assert request.not_before == START


def test_a_request_without_not_before_starts_at_apply() -> None:
    request, _ = judge(dump(valid_request_data()))
    assert request is not None and request.not_before is None
    assert request.start(T0) == T0


@pytest.mark.parametrize("text", [
    "2026-12-05T08:00:00+01:00",  # an offset: UTC only, written with Z
    "2026-12-05T08:00:00",  # no zone at all: never guessed
    "2026-12-05 08:00:00Z",
    "2026-12-05",
    "2026-12-05T08:00Z",
    "2026-12-05T08:00:00.5Z",
])
def test_not_before_must_be_written_in_utc_with_z(text: str) -> None:
    request, problems = judge(scheduled(text))
    assert request is None
    assert "not_before" in messages(problems) and "ending in Z" in messages(problems)


def test_a_not_before_that_names_no_moment_is_refused_with_its_line() -> None:
    raw = scheduled("2026-02-30T25:00:00Z")
    request, problems = judge(raw)
    assert request is None
    assert [p.message for p in problems] == [
        "not_before: '2026-02-30T25:00:00Z' is not a real date and time"]
    line = raw.decode().splitlines().index("not_before: '2026-02-30T25:00:00Z'") + 1
    assert problems[0].line == line


# --- the rules at check time ----------------------------------------------------------------


def _checked(start: datetime, now: datetime, merged: bool = False) -> list[str]:
    request, problems = judge(scheduled(start.strftime("%Y-%m-%dT%H:%M:%SZ")))
    assert request is not None, problems
    found = check_request(request, example_policies(), now=now, merged=merged)
    return [p.message for p in found]


def test_a_start_ahead_within_the_bound_is_accepted() -> None:
    assert _checked(START, START - NOT_BEFORE_MAX_LEAD) == []
    assert _checked(START, START - timedelta(minutes=1)) == []


def test_a_start_in_the_past_is_refused_before_the_merge_beyond_the_skew() -> None:
    assert _checked(START, START + NOT_BEFORE_SKEW) == []  # clocks differ a little
    late = _checked(START, START + NOT_BEFORE_SKEW + timedelta(seconds=1))
    assert late == ["not_before 2026-12-05T08:00:00Z is in the past (checked at "
                    "2026-12-05T08:05:01Z): set a later start, or remove not_before to start "
                    "at apply"]


def test_after_the_merge_a_start_in_the_past_is_fine() -> None:
    """The check runs again at apply (and at reconcile): then the grant starts at apply."""
    assert _checked(START, START + timedelta(days=3), merged=True) == []


def test_a_start_too_far_ahead_is_refused_before_and_after_the_merge() -> None:
    now = START - NOT_BEFORE_MAX_LEAD - timedelta(seconds=1)
    for merged in (False, True):
        assert _checked(START, now, merged) == [
            "not_before 2026-12-05T08:00:00Z is more than 30d ahead (checked at "
            "2026-11-05T07:59:59Z): ask closer to the time"]


def test_without_a_time_the_rules_leave_not_before_alone() -> None:
    """validate, apply's file load and reconcile judge the file, not the clock."""
    request, _ = judge(scheduled("2020-01-01T00:00:00Z"))
    assert request is not None
    assert check_request(request, example_policies()) == []
    assert schedule_problems(make_request(), T0) == []  # no not_before, nothing to judge


# --- the statements, in both grant modes ----------------------------------------------------


def test_identity_policy_statements_start_and_end_by_themselves() -> None:
    request = make_request(not_before=START)
    plan = build_plan(request, make_policy(), T0)
    assert (plan.start, plan.expiry) == (START, START + request.duration)
    allows = [s for s in plan.document["Statement"] if s["Effect"] == "Allow"]
    assert allows and all(s["Condition"] == {
        "DateLessThan": {"aws:CurrentTime": "2026-12-05T10:00:00Z"},
        "DateGreaterThan": {"aws:CurrentTime": "2026-12-05T08:00:00Z"}} for s in allows)


def test_bucket_policy_statements_start_and_end_by_themselves() -> None:
    policy = make_policy(grant="bucket-policy", actions=("s3:PutObject", "s3:ListBucket"))
    request = make_request(not_before=START, access=(
        replace(make_request().access[0], actions=("s3:PutObject", "s3:ListBucket")),))
    subject = bp.Subject(SHARED, ACCOUNT, ALICE, "AROAEXAMPLE")
    plan = build_plan(request, policy, T0, subject)
    statements = plan.bucket_statements["b"]
    assert [s["Sid"][-1] for s in statements] == ["O", "L"]
    for statement in statements:
        assert statement["Condition"]["DateGreaterThan"] == {
            "aws:CurrentTime": "2026-12-05T08:00:00Z"}
        assert statement["Condition"]["DateLessThan"] == {
            "aws:CurrentTime": "2026-12-05T10:00:00Z"}
        assert statement["Condition"]["StringEquals"] == {
            "aws:userid": "AROAEXAMPLE:alice@acme.example"}
    assert statements[1]["Condition"]["StringLike"] == {"s3:prefix": "p/2026/*"}


def test_the_duration_counts_from_the_apply_when_that_is_later() -> None:
    request = make_request(not_before=T0)
    late = T0 + timedelta(hours=3)
    plan = build_plan(request, make_policy(), late)
    assert (plan.start, plan.expiry) == (late, late + request.duration)
    allow = plan.document["Statement"][0]
    assert allow["Condition"]["DateGreaterThan"] == {"aws:CurrentTime": "2026-11-28T12:00:00Z"}


def test_a_request_without_not_before_keeps_the_upper_bound_alone() -> None:
    plan = build_plan(make_request(), make_policy(), T0)
    assert plan.start is None and plan.starts_at == T0
    assert all("DateGreaterThan" not in s.get("Condition", {})
               for s in plan.document["Statement"])


def test_the_plan_shows_the_window() -> None:
    policies = example_policies()
    policy = policies.policies["analytics-raw"]
    request, _ = judge(scheduled())
    assert request is not None
    plan = build_plan(request, policy, T0, subject_for(request, policy, policies.identities))
    text = render_text(plan)
    assert ("duration  2h (policy: at most 4h), from 2026-12-05T08:00:00Z (not_before; in 6d "
            "23h from apply) until 2026-12-05T10:00:00Z") in text
    assert "2h from 2026-12-05T08:00:00Z (not_before), or from the apply if that is later" \
        in render_markdown(plan)
    summary = plan_summary(plan)
    assert (summary["not_before"], summary["starts"], summary["expiry"]) == (
        "2026-12-05T08:00:00Z", "2026-12-05T08:00:00Z", "2026-12-05T10:00:00Z")
    passed = render_text(build_plan(request, policy, START + timedelta(hours=1)))
    assert ("from the apply (not_before 2026-12-05T08:00:00Z has passed) until "
            "2026-12-05T11:00:00Z") in passed


# --- the read-only baseline holds a grantee off before its start ----------------------------


def test_exemption_times_merge_overlaps_and_keep_the_gaps() -> None:
    a, b, c, d = ("2026-12-01T08:00:00Z", "2026-12-01T10:00:00Z", "2026-12-02T08:00:00Z",
                  "2026-12-02T10:00:00Z")
    assert bp.exemption_times([(None, b)]) == (None, (), b)
    assert bp.exemption_times([(a, b)]) == (a, (), b)
    assert bp.exemption_times([(c, d), (a, b)]) == (a, ((b, c),), d)
    assert bp.exemption_times([(a, c), (b, d)]) == (a, (), d)  # overlapping: one window
    assert bp.exemption_times([(None, a), (c, d)]) == (None, ((a, c),), d)
    assert bp.exemption_times([(a, b), (b, c)]) == (a, ((b, b),), c)  # the one second between
    with pytest.raises(ValueError, match="without a grant"):
        bp.exemption_times([])


def test_a_grantee_not_yet_started_is_held_off_until_its_start_and_between_grants() -> None:
    policy = make_policy(name="data-fix", grant="bucket-policy", enforce_read_only=True)
    alice = bp.Subject(SHARED, ACCOUNT, ALICE, "AROAEXAMPLE")
    grantee = bp.Exempted(alice, ("arn:aws:s3:::b/p/*",), ("s3:PutObject",),
                          "2026-12-02T10:00:00Z", "2026-12-01T08:00:00Z",
                          (("2026-12-01T10:00:00Z", "2026-12-02T08:00:00Z"),))
    statements = bp.baseline_statements(policy, "b", ["arn:aws:iam::1:role/j"], [grantee])
    by_sid = {s["Sid"].removeprefix("JitflowBaselinedataHfix"): s for s in statements}
    assert list(by_sid) == ["", "U1T", "U1R", "U1A", "U1S", "U1G1"]
    userid = {"StringEquals": {"aws:userid": "AROAEXAMPLE:alice@acme.example"}}
    for sid in ("U1T", "U1S", "U1G1"):  # every write to the bucket, at those times
        assert by_sid[sid]["Effect"] == "Deny"
        assert by_sid[sid]["NotAction"] == ["s3:Get*", "s3:List*"]
        assert by_sid[sid]["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert by_sid["U1S"]["Condition"] == {
        **userid, "DateLessThanEquals": {"aws:CurrentTime": "2026-12-01T08:00:00Z"}}
    assert by_sid["U1G1"]["Condition"] == {
        **userid, "DateGreaterThanEquals": {"aws:CurrentTime": "2026-12-01T10:00:00Z"},
        "DateLessThanEquals": {"aws:CurrentTime": "2026-12-02T08:00:00Z"}}
    assert all(bp.baseline_policy_of(s["Sid"]) == "data-fix" for s in statements)
    assert bp.is_owned(by_sid["U1G1"]) and bp.is_owned(by_sid["U1S"])


def test_a_started_grantee_gets_no_start_statement() -> None:
    policy = make_policy(grant="bucket-policy", enforce_read_only=True)
    grantee = bp.Exempted(bp.Subject(SHARED, ACCOUNT, ALICE, "AROAEXAMPLE"),
                          ("arn:aws:s3:::b/p/*",), ("s3:PutObject",), "2026-12-02T10:00:00Z")
    sids = [s["Sid"] for s in bp.baseline_statements(policy, "b", [], [grantee])]
    assert [sid[-3:] for sid in sids[1:]] == ["U1T", "U1R", "U1A"]


# --- who stays eligible ---------------------------------------------------------------------


def _policies(**policy: object) -> PolicySet:
    return PolicySet({"data-fix": make_policy(**policy)}, Identities({
        "alice": (Identity(f"arn:aws:iam::{ACCOUNT}:role/alice-data"), Identity(SHARED, ALICE)),
        "bob": (Identity(SHARED, "bob@acme.example"),)}))


@pytest.mark.parametrize(("requester", "principal", "session", "policy", "expected"), [
    ("alice", f"arn:aws:iam::{ACCOUNT}:role/alice-data", None, {}, None),
    ("alice", SHARED, ALICE, {}, None),
    ("alice", SHARED, ALICE, {"requesters": ("@acme/data",)}, None),  # a team: not judged
    ("carol", SHARED, None, {}, "carol is no longer in policies/identities.yaml"),
    ("bob", f"arn:aws:iam::{ACCOUNT}:role/alice-data", None, {},
     f"arn:aws:iam::{ACCOUNT}:role/alice-data is no longer mapped to bob in "
     "policies/identities.yaml"),
    ("bob", SHARED, ALICE, {},
     f"session {ALICE} of {SHARED} is no longer bob's in policies/identities.yaml"),
    ("alice", SHARED, ALICE, {"requesters": ("bob",)},
     "alice is no longer one of policy data-fix's requesters"),
])
def test_eligibility_on_the_default_branch(requester: str, principal: str,
                                           session: str | None, policy: dict[str, object],
                                           expected: str | None) -> None:
    policies = _policies(**policy)
    found = eligibility_problem(requester, principal, policies.policies["data-fix"], policies,
                                session)
    assert found == expected


def test_a_policy_that_is_gone_leaves_no_one_eligible() -> None:
    assert eligibility_problem("alice", SHARED, None, _policies(), ALICE) == \
        "its policy no longer exists"
