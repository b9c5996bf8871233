"""Fuzzing the approval rules: whatever the reviews, only legitimate approvals ever count."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jitflow.approvals import (
    APPROVED,
    CHANGES_REQUESTED,
    COMMENTED,
    DISMISSED,
    PENDING,
    PullFacts,
    Review,
    evaluate,
)
from testing.builders import pull_facts
from testing.foundation import example_policies

POLICY = example_policies().policies["analytics-raw"]  # approvers: @acme/data-platform, erin
HEAD, OLD = "h" * 40, "o" * 40
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PEOPLE = ["alice", "erin", "Erin", "dora", "pete", "mallory", "bob"]
TEAM = {"dora": True, "pete": False}  # active / pending members of @acme/data-platform


class Teams:
    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        return (org, team_slug) == ("acme", "data-platform") and TEAM.get(login.lower(), False)

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        return True


reviews = st.lists(
    st.tuples(
        st.sampled_from(PEOPLE),
        st.sampled_from([APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING, "WEIRD"]),
        st.sampled_from([HEAD, OLD, None]),
    ),
    max_size=8,
)


def legit_approvers(pull: PullFacts) -> set[str]:
    """Who may ever count: approvers of the policy, not the author, not a contributor."""
    allowed = {"erin"} | {login for login, active in TEAM.items() if active}
    return allowed - {pull.author.lower()} - pull.contributors


@settings(max_examples=400 if os.environ.get("JITFLOW_LONG") else 150, deadline=None)
@given(
    reviews,
    st.sampled_from(["alice", "erin", "dora"]),
    st.frozensets(st.sampled_from(["alice", "erin", "dora", "bob"]), max_size=2),
)
def test_only_legitimate_latest_head_approvals_count(
    raw: list[tuple[str, str, str | None]], author: str, contributors: frozenset[str]
) -> None:
    pull = pull_facts(
        *(
            Review(login, state, commit, T0 + timedelta(minutes=i))
            for i, (login, state, commit) in enumerate(raw)
        ),
        author=author,
        contributors=tuple(contributors),
        created_at=T0,
    )
    status = evaluate(pull, POLICY, Teams())
    counted = {login.lower() for login in status.approved_by}
    assert counted <= legit_approvers(pull)
    for login in counted:  # each counted reviewer's latest deciding review approves the head
        deciding = [
            r
            for r in pull.reviews
            if r.login.lower() == login and r.state not in (COMMENTED, PENDING)
        ]
        assert deciding and deciding[-1].state == APPROVED and deciding[-1].commit_id == HEAD
    assert status.ok == (len(counted) >= max(1, POLICY.min_approvals) and not status.blocked_by)
