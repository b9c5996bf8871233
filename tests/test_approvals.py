"""The approval rules, one scenario per test, with an in-memory team resolver."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jitflow.approvals import ApprovalStatus, PullFacts, Review, evaluate
from jitflow.model import Policy
from testing import builders
from testing.builders import Teams, make_policy, pull_facts

HEAD = "h" * 40
OLD = "0" * 40
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def policy(
    approvers: tuple[str, ...] = ("erin", "@acme/security"), min_approvals: int = 1
) -> Policy:
    return make_policy(approvers=approvers, min_approvals=min_approvals)


NO_TEAMS = Teams({})


def review(
    login: str, state: str = "APPROVED", commit: str | None = HEAD, minute: int = 0
) -> Review:
    return builders.review(login, state, commit, at=T0, minute=minute)


def pull(*reviews: Review, author: str = "alice", contributors: tuple[str, ...] = ()) -> PullFacts:
    return pull_facts(*reviews, author=author, contributors=contributors, created_at=T0)


def run(facts: PullFacts, pol: Policy | None = None, teams: Teams = NO_TEAMS) -> ApprovalStatus:
    return evaluate(facts, pol or policy(), teams)


def test_approved_by_a_listed_login() -> None:
    status = run(pull(review("erin")))
    assert status.ok
    assert status.approved_by == ("erin",)


def test_login_match_is_case_insensitive() -> None:
    assert run(pull(review("Erin"))).approved_by == ("Erin",)


def test_no_reviews_is_not_approved() -> None:
    status = run(pull())
    assert not status.ok
    assert status.summary().startswith("approvals: 0 of 1 from erin, @acme/security")


def test_self_approval_does_not_count() -> None:
    status = run(pull(review("erin"), author="Erin"))
    assert not status.ok
    assert status.ignored == (("erin", "self-approval by the PR author"),)


def test_approval_on_an_older_commit_does_not_count() -> None:
    status = run(pull(review("erin", commit=OLD)))
    assert not status.ok
    assert "older commit 0000000" in status.ignored[0][1]


def test_approval_with_unknown_commit_fails_closed() -> None:
    status = run(pull(review("erin", commit=None)))
    assert not status.ok
    assert status.ignored[0] == ("erin", "approved an unknown commit")


def test_approval_by_a_non_approver_does_not_count() -> None:
    status = run(pull(review("mallory")))
    assert not status.ok
    assert "not an approver" in status.ignored[0][1]


def test_approval_by_an_active_team_member_counts() -> None:
    teams = Teams({"acme/security": {"sam"}})
    status = run(pull(review("Sam")), teams=teams)
    assert status.ok
    assert teams.calls == [("acme", "security", "Sam")]


def test_pending_team_member_is_not_an_approver() -> None:
    # The resolver answers "active members only"; a pending member is simply not one.
    teams = Teams({"acme/security": set()})
    status = run(pull(review("pat")), teams=teams)
    assert not status.ok
    assert "nor an active member of its teams" in status.ignored[0][1]


def test_one_of_two_required_is_short_then_two_is_enough() -> None:
    pol = policy(min_approvals=2)
    teams = Teams({"acme/security": {"sam"}})
    one = run(pull(review("erin")), pol, teams)
    assert not one.ok
    assert one.summary().splitlines()[0] == "approvals: 1 of 2 from erin, @acme/security"
    two = run(pull(review("erin"), review("sam", minute=1)), pol, teams)
    assert two.ok


def test_two_approvals_by_the_same_reviewer_count_once() -> None:
    status = run(pull(review("erin"), review("ERIN", minute=1)), policy(min_approvals=2))
    assert status.approved_by == ("ERIN",)
    assert not status.ok


def test_changes_requested_after_an_approval_blocks() -> None:
    teams = Teams({"acme/security": {"sam"}})
    status = run(pull(review("erin"), review("sam", "CHANGES_REQUESTED", minute=1)), teams=teams)
    assert status.approved_by == ("erin",)
    assert status.blocked_by == ("sam",)
    assert not status.ok
    assert "blocked: @sam requested changes" in status.summary()


def test_own_changes_request_is_replaced_by_a_later_approval() -> None:
    status = run(pull(review("erin", "CHANGES_REQUESTED"), review("erin", minute=1)))
    assert status.ok
    assert status.blocked_by == ()


def test_changes_requested_on_an_older_commit_still_blocks() -> None:
    status = run(pull(review("erin", "CHANGES_REQUESTED", commit=OLD)))
    assert status.blocked_by == ("erin",)


def test_changes_requested_by_a_non_approver_does_not_block() -> None:
    status = run(pull(review("erin"), review("mallory", "CHANGES_REQUESTED", minute=1)))
    assert status.ok
    assert ("mallory", "requested changes but is not an approver") in status.ignored


def test_a_later_comment_keeps_the_approval() -> None:
    status = run(pull(review("erin"), review("erin", "COMMENTED", minute=1)))
    assert status.ok


def test_a_later_comment_keeps_the_change_request() -> None:
    facts = pull(review("erin", "CHANGES_REQUESTED"), review("erin", "COMMENTED", minute=1))
    assert run(facts).blocked_by == ("erin",)


def test_dismissed_review_cancels_the_approval() -> None:
    status = run(pull(review("erin"), review("erin", "DISMISSED", minute=1)))
    assert not status.ok
    assert status.ignored == (("erin", "review dismissed"),)


def test_dismissed_change_request_unblocks() -> None:
    facts = pull(
        review("sam"),
        review("erin", "CHANGES_REQUESTED", minute=1),
        review("erin", "DISMISSED", minute=2),
    )
    status = run(facts, teams=Teams({"acme/security": {"sam"}}))
    assert status.ok


def test_unknown_state_cancels_an_earlier_approval() -> None:
    status = run(pull(review("erin"), review("erin", "SOMETHING_NEW", minute=1)))
    assert not status.ok
    assert "unknown review state" in status.ignored[0][1]


@pytest.mark.parametrize("who", ["erin", "ERIN"])
def test_reviewer_who_pushed_a_commit_does_not_count(who: str) -> None:
    status = run(pull(review(who), contributors=("erin",)))
    assert not status.ok
    assert status.ignored[0][1] == "pushed or co-authored a commit in this PR"


def test_zero_min_approvals_still_needs_one() -> None:
    status = run(pull(), policy(min_approvals=0))
    assert status.needed == 1
    assert not status.ok


def test_team_lookups_only_for_reviewers_who_would_count() -> None:
    teams = Teams({"acme/security": {"sam"}})
    run(pull(review("x", commit=OLD), review("alice"), review("erin", "COMMENTED")), teams=teams)
    assert teams.calls == []


def test_summary_lists_what_did_not_count() -> None:
    text = run(pull(review("erin", commit=OLD), review("mallory"))).summary()
    assert "not counted: @erin: approved an older commit" in text
    assert "not counted: @mallory: not an approver of policy 'data-fix'" in text


def test_an_approver_team_that_does_not_exist_blocks_even_when_approved() -> None:
    typo = Teams({"acme/security": {"sam"}}, missing=frozenset({"acme/secruity"}))
    pol = policy(approvers=("erin", "@acme/secruity", "@acme/SECRUITY"))
    status = run(pull(review("erin")), pol, typo)
    assert status.approved_by == ("erin",)
    assert status.missing_teams == ("@acme/secruity",)  # asked and reported once
    assert not status.ok
    assert "approver team @acme/secruity does not exist" in status.summary()


def test_a_team_that_cannot_be_looked_up_is_not_called_missing() -> None:
    class Unknown(Teams):
        def team_exists(self, org: str, team_slug: str) -> bool | None:
            return None  # a fork's token cannot read the organisation's teams

    status = run(pull(review("erin")), teams=Unknown())
    assert status.missing_teams == ()
    assert status.ok
