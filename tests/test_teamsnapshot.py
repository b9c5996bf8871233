"""The team-membership snapshot (`jitflow.teamsnapshot`): its file, its reading, its refresh."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jitflow import teamsnapshot
from jitflow.approvals import PullFacts, Review, evaluate
from jitflow.model import PolicySet
from jitflow.teamsnapshot import SnapshotError, needs_writing, parse, take, teams_named
from testing.builders import make_policy

T0 = datetime(2026, 12, 1, 10, 7, 12, tzinfo=UTC)
MEMBERS = {("Acme", "Data-Platform"): ["Dora", "erin"], ("acme", "security"): []}


def test_the_file_round_trips_sorted_and_lower_case() -> None:
    snap = take(MEMBERS, at=T0, by="https://github.com/acme/access/actions/runs/42")
    raw = snap.render()
    assert json.loads(raw) == {
        "version": 1, "taken_at": "2026-12-01T10:07:12Z",
        "by": "https://github.com/acme/access/actions/runs/42",
        "teams": {"acme/data-platform": ["dora", "erin"], "acme/security": []},
    }
    assert raw == take(dict(reversed(MEMBERS.items())), at=T0, by=snap.by).render()
    assert parse(raw, "teams.json") == snap


def test_membership_is_case_blind_and_a_missing_team_has_nobody() -> None:
    snap = take(MEMBERS, at=T0, by="run")
    assert snap.is_active_member("ACME", "data-platform", "DORA")
    assert not snap.is_active_member("acme", "data-platform", "mallory")
    assert not snap.is_active_member("acme", "ml-leads", "dora")


def test_approvals_count_through_the_snapshot() -> None:
    pull = PullFacts(number=1, author="alice", head_sha="h" * 40, base_sha="b" * 40,
                     created_at=T0, merged=False, merged_at=None, merge_commit_sha=None,
                     contributors=frozenset({"alice"}),
                     reviews=(Review("dora", "APPROVED", "h" * 40, T0),))
    status = evaluate(pull, make_policy(approvers=("@acme/data-platform",)),
                      take(MEMBERS, at=T0, by="run"))
    assert status.ok and status.approved_by == ("dora",)


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", b'{"version": 2, "taken_at": "2026-12-01T10:07:12Z", "teams": {}}',
    b'{"version": 1, "teams": {}}',
    b'{"version": 1, "taken_at": "yesterday", "teams": {}}',
    b'{"version": 1, "taken_at": "2026-12-01T10:07:12Z", "teams": {"a/b": "dora"}}',
    b'{"version": 1, "taken_at": "2026-12-01T10:07:12Z", "teams": {"a/b": [1]}}',
    b"\xff\xfe",
])
def test_anything_else_is_refused_naming_the_file(raw: bytes) -> None:
    with pytest.raises(SnapshotError, match=r"^teams\.json on jitflow-audit: not a team-"):
        parse(raw, "teams.json on jitflow-audit")


def test_written_when_the_membership_changed_or_a_day_went_by() -> None:
    old = take(MEMBERS, at=T0, by="run 1")
    assert needs_writing(None, old)
    assert not needs_writing(old, take(MEMBERS, at=T0 + timedelta(hours=23), by="run 2"))
    assert needs_writing(old, take(MEMBERS, at=T0 + teamsnapshot.REFRESH_AFTER, by="run 3"))
    changed = {**MEMBERS, ("acme", "security"): ["sam"]}
    assert needs_writing(old, take(changed, at=T0 + timedelta(minutes=15), by="run 4"))


def test_the_teams_the_policies_name_as_approvers_and_requesters() -> None:
    policies = PolicySet(policies={
        "a": make_policy(name="a", approvers=("@Acme/Data-Platform", "erin"),
                         requesters=("alice", "@acme/data-eng")),
        "b": make_policy(name="b", approvers=("@acme/data-platform", "@other/sec")),
    })
    assert teams_named(policies) == [("acme", "data-eng"), ("acme", "data-platform"),
                                     ("other", "sec")]
