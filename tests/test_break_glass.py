"""Break-glass: what a request may ask for, who may merge it, and its post-hoc review."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from jitflow.approvals import PullFacts, judge
from jitflow.audit.record import AuditRecord
from jitflow.breakglass import REVIEWED, pending_reviews, review_of
from jitflow.clock import iso
from jitflow.model import AccessEntry, BreakGlass, PolicySet
from jitflow.rules import check_policy, check_request
from testing.builders import T0, Teams, make_policy, make_request, pull_facts, review

TERMS = BreakGlass(max_duration=timedelta(hours=1), reviewers=("sam", "@acme/sec"),
                   review_within=timedelta(hours=24))


def test_a_break_glass_request_needs_a_policy_that_allows_it() -> None:
    policy = make_policy()
    request = make_request(break_glass=True, duration=timedelta(hours=1))
    found = check_request(request, PolicySet({policy.name: policy}))
    assert any("does not allow break-glass" in p.message for p in found)
    allowed = replace(policy, break_glass=TERMS)
    assert not [p for p in check_request(request, PolicySet({policy.name: allowed}))
                if "break-glass" in p.message]


def test_a_break_glass_grant_is_capped_by_the_break_glass_maximum() -> None:
    policy = make_policy(break_glass=TERMS)  # max_duration 4h, break-glass 1h
    request = make_request(break_glass=True, duration=timedelta(hours=2))
    [problem] = [p for p in check_request(request, PolicySet({policy.name: policy}))
                 if "break-glass" in p.message]
    assert "at most 1h" in problem.message
    normal = replace(request, break_glass=False)
    assert not [p for p in check_request(normal, PolicySet({policy.name: policy}))
                if "break-glass" in p.message or "duration" in p.message]


def test_a_break_glass_request_stays_inside_the_policys_buckets_prefixes_and_actions() -> None:
    policy = make_policy(break_glass=TERMS)
    request = make_request(break_glass=True, duration=timedelta(hours=1), access=(
        AccessEntry("other-bucket", "p/", ("s3:PutObject",)),
        AccessEntry("b", "elsewhere/", ("s3:DeleteObject",))))
    messages = " ".join(p.message for p in check_request(request, PolicySet({policy.name: policy})))
    assert "other-bucket" in messages and "elsewhere/" in messages
    assert "s3:DeleteObject" in messages


def test_a_break_glass_request_never_carries_an_action_that_outlives_the_grant() -> None:
    policy = make_policy(break_glass=TERMS, bucket_configuration=True, min_approvals=2,
                         approvers=("erin", "frank"), prefixes=("",),
                         actions=("s3:PutObject", "s3:PutLifecycleConfiguration"))
    request = make_request(break_glass=True, duration=timedelta(hours=1), access=(
        AccessEntry("b", "", ("s3:PutLifecycleConfiguration",)),))
    found = check_request(request, PolicySet({policy.name: policy}))
    assert any("never by break-glass" in p.message for p in found)


def test_a_policy_whose_break_glass_maximum_exceeds_its_own_is_refused() -> None:
    policy = make_policy(break_glass=replace(TERMS, max_duration=timedelta(hours=8)))
    assert any("break_glass.max_duration" in p.message for p in check_policy(policy))


def merged(pull: PullFacts, by: str | None) -> PullFacts:
    return replace(pull, merged=True, merged_at=T0, merged_by=by)


def test_before_the_merge_the_check_needs_nothing_and_says_what_the_merge_will_need() -> None:
    policy = make_policy(break_glass=TERMS, requesters=("alice",))
    status = judge(pull_facts(), policy, Teams(), break_glass=True)
    assert status.ok and status.break_glass
    assert status.summary().startswith("BREAK-GLASS")
    assert "alice" in status.summary() and "erin" in status.summary()


def test_at_the_merge_only_a_requester_or_approver_of_the_policy_counts() -> None:
    policy = make_policy(break_glass=TERMS, requesters=("alice",), approvers=("@acme/leads",))
    teams = Teams({"acme/leads": {"grace"}})
    pull = pull_facts()
    for merger, ok in (("alice", True), ("grace", True), ("mallory", False), (None, False)):
        status = judge(merged(pull, merger), policy, teams, break_glass=True)
        assert status.ok is ok, merger
    # without break_glass the same merge needs the normal approvals
    assert not judge(merged(pull, "alice"), policy, teams).ok


def test_a_policy_without_break_glass_judges_a_flagged_request_by_its_approvals() -> None:
    policy = make_policy()
    status = judge(merged(pull_facts(), "alice"), policy, Teams(), break_glass=True)
    assert not status.ok and not status.break_glass


def granted(**overrides: Any) -> AuditRecord:
    base = AuditRecord(seq=1, time=iso(T0), event="granted", request="data-fix/alice-1",
                       requester="alice", pr=7, break_glass=True, merged_by="bob",
                       review_due=iso(T0 + timedelta(hours=24)), reviewers=("sam", "@acme/sec"))
    return replace(base, **overrides)


def test_pending_reviews_lists_break_glass_grants_until_a_review_is_recorded() -> None:
    [due] = pending_reviews([granted(), granted(seq=2, request="x/normal", break_glass=False)])
    assert due.request == "data-fix/alice-1" and due.reviewers == ("sam", "@acme/sec")
    assert not due.overdue(T0 + timedelta(hours=23))
    assert due.overdue(T0 + timedelta(hours=25))
    settled = AuditRecord(seq=3, time=iso(T0), event=REVIEWED, request="data-fix/alice-1")
    assert pending_reviews([granted(), settled]) == []


def test_a_grant_without_a_recorded_deadline_is_due_at_once() -> None:
    [due] = pending_reviews([granted(review_due=None)])
    assert due.overdue(T0 + timedelta(seconds=1))


def test_the_review_must_come_from_a_reviewer_who_took_no_part() -> None:
    [due] = pending_reviews([granted()])
    teams = Teams({"acme/sec": {"tess", "bob"}})
    for login, counts in (("sam", True), ("tess", True), ("alice", False), ("bob", False),
                          ("carol", False)):
        pull = pull_facts(review(login), author="alice")
        assert (review_of(pull, due, teams) is not None) is counts, login
    pull = pull_facts(review("sam"), author="alice", contributors=("sam",))
    assert review_of(pull, due, teams) is None  # sam pushed a commit to the change
    pull = pull_facts(review("sam", state="COMMENTED"))
    assert review_of(pull, due, teams) is None
