"""The PyGithub adapter against the fake GitHub, over real HTTP on 127.0.0.1.

The `fake_github` fixture validates every response it served against GitHub's OpenAPI at
teardown, so these tests also prove the adapter only needs what GitHub really sends.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from jitflow.approvals import evaluate
from jitflow.errors import ConfigError, GitHubError
from jitflow.gh import (
    COMMENT_LIMIT,
    STICKY_MARKER,
    GitHubClient,
    contributors_of,
    truncate_comment,
)
from jitflow.model import Policy
from jitflow.sandbox.github import FakeGitHub
from testing.builders import make_policy

REPO = "acme/access"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BASE, HEAD1, HEAD2 = "b" * 40, "1" * 40, "2" * 40


def client(fake: FakeGitHub, **options: object) -> GitHubClient:
    return GitHubClient(REPO, "t0ken", fake.url, retry=0, pace=False, **options)  # type: ignore[arg-type]


def open_request_pull(fake: FakeGitHub) -> int:
    fake.add_repo(REPO)
    number = fake.open_pull(author="alice", head_sha=HEAD1, base_sha=BASE, created_at=T0)
    fake.add_commit_to_pull(number, HEAD1, author="alice")
    return number


def policy(*approvers: str, min_approvals: int = 1) -> Policy:
    return make_policy(approvers=approvers, min_approvals=min_approvals)


# -- pull_facts --------------------------------------------------------------------------------


def test_pull_facts_reads_the_pull_request(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_review(number, "erin", "COMMENTED", submitted_at=T0 + timedelta(minutes=1))
    fake_github.add_review(number, "erin", "APPROVED", submitted_at=T0 + timedelta(minutes=2))
    facts = client(fake_github).pull_facts(number)
    assert (facts.number, facts.author, facts.head_sha, facts.base_sha) == (
        number,
        "alice",
        HEAD1,
        BASE,
    )
    assert facts.created_at == T0
    assert not facts.merged
    assert facts.merged_at is None
    assert [(r.login, r.state, r.commit_id) for r in facts.reviews] == [
        ("erin", "COMMENTED", HEAD1),
        ("erin", "APPROVED", HEAD1),
    ]
    assert facts.reviews[1].submitted_at == T0 + timedelta(minutes=2)
    assert evaluate(facts, policy("erin"), client(fake_github)).ok


def test_contributors_cover_authors_committers_and_co_authors(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_commit_to_pull(number, "3" * 40, author="Bob", committer="web-flow")
    fake_github.add_commit_to_pull(number, "4" * 40, author="alice", co_authors=["Carol"])
    fake_github.add_commit_to_pull(
        number,
        HEAD2,
        author=None,
        author_name="Dave Smith",
        author_email="Dave@Example.com",
        message="fix\n\nCo-authored-by: Frank <12+Frank@users.noreply.github.com>",
    )
    facts = client(fake_github).pull_facts(number)
    assert {"alice", "bob", "web-flow", "carol", "frank"} <= facts.contributors
    assert {"dave smith", "dave@example.com"} <= facts.contributors
    assert facts.head_sha == HEAD2


def test_reviewer_who_pushed_a_commit_does_not_count(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_commit_to_pull(number, HEAD2, author="erin")
    fake_github.add_review(number, "erin", "APPROVED")
    status = evaluate(client(fake_github).pull_facts(number), policy("erin"), client(fake_github))
    assert not status.ok
    assert status.ignored == (("erin", "pushed or co-authored a commit in this PR"),)


def test_approval_before_a_later_push_does_not_count(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_review(number, "erin", "APPROVED")
    fake_github.add_commit_to_pull(number, HEAD2, author="alice")
    status = evaluate(client(fake_github).pull_facts(number), policy("erin"), client(fake_github))
    assert not status.ok
    assert "older commit" in status.ignored[0][1]


def test_review_on_a_garbage_collected_commit_is_none(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_review(number, "erin", "APPROVED", commit_id=None)
    facts = client(fake_github).pull_facts(number)
    assert facts.reviews[0].commit_id is None


def test_merged_pull_facts(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.merge_pull(number, "m" * 40, "squash", merged_at=T0 + timedelta(hours=1))
    facts = client(fake_github).pull_facts(number)
    assert facts.merged
    assert facts.merged_at == T0 + timedelta(hours=1)
    assert facts.merge_commit_sha == "m" * 40


def test_missing_pull_request_is_a_github_error(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    with pytest.raises(GitHubError, match=r"pull request #41 .*HTTP 404"):
        client(fake_github).pull_facts(41)


def test_missing_token_is_a_clear_github_error(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    anonymous = GitHubClient(REPO, None, fake_github.url, retry=0, pace=False)
    with pytest.raises(GitHubError, match=r"HTTP 401.*GITHUB_TOKEN"):
        anonymous.pull_facts(number)


def test_unreachable_server_is_a_github_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = GitHubClient(REPO, "t", f"http://127.0.0.1:{port}", retry=0, timeout=2)
    with pytest.raises(GitHubError, match="cannot reach"):
        unreachable.pull_facts(1)


# -- pulls_for_commit --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_pulls_for_a_merge_commit(fake_github: FakeGitHub, method: str) -> None:
    number = open_request_pull(fake_github)
    merged_at = T0 + timedelta(hours=2)
    fake_github.merge_pull(number, "m" * 40, method, merged_at=merged_at)  # type: ignore[arg-type]
    [summary] = client(fake_github).pulls_for_commit("m" * 40)
    assert summary.number == number
    assert summary.merged
    assert summary.merge_commit_sha == "m" * 40
    assert summary.head_sha == HEAD1
    assert (summary.created_at, summary.merged_at) == (T0, merged_at)


def test_open_pull_for_a_commit_is_not_merged(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    [summary] = client(fake_github).pulls_for_commit(HEAD1)
    assert (summary.number, summary.merged, summary.merged_at) == (number, False, None)


def test_direct_push_has_no_pull(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    assert client(fake_github).pulls_for_commit("d" * 40) == []


# -- teams -------------------------------------------------------------------------------------


def test_team_membership_uses_the_documented_endpoint(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_team("acme", "security", {"sam": "active", "pat": "pending"})
    gh = client(fake_github)
    assert gh.is_active_member("acme", "security", "Sam")
    assert not gh.is_active_member("acme", "security", "pat")
    assert not gh.is_active_member("acme", "security", "mallory")
    assert not gh.is_active_member("acme", "no-such-team", "sam")
    templates = {s.template for s in fake_github.served}
    assert templates == {"/orgs/{org}/teams/{team_slug}/memberships/{username}"}


def test_team_membership_is_asked_once(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_team("acme", "security", {"sam": "active"})
    gh = client(fake_github)
    assert gh.is_active_member("acme", "security", "sam")
    assert gh.is_active_member("acme", "security", "SAM")
    assert len(fake_github.served) == 1


def test_team_exists_reads_the_team_once_and_tells_missing_from_unknown(
    fake_github: FakeGitHub,
) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_team("acme", "security", {})
    gh = client(fake_github)
    assert gh.team_exists("acme", "security") is True
    assert gh.team_exists("ACME", "Security") is True
    assert gh.team_exists("acme", "secruity") is False
    assert [s.template for s in fake_github.served] == ["/orgs/{org}/teams/{team_slug}"] * 2


def test_approval_with_a_missing_approver_team_is_refused(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_review(number, "erin", "APPROVED")
    gh = client(fake_github)
    status = evaluate(gh.pull_facts(number), policy("erin", "@acme/no-such-team"), gh)
    assert status.approved_by == ("erin",)
    assert not status.ok
    assert status.missing_teams == ("@acme/no-such-team",)


def test_approval_by_active_team_member_but_not_pending(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_team("acme", "security", {"sam": "active", "pat": "pending"})
    fake_github.add_review(number, "pat", "APPROVED")
    gh = client(fake_github)
    assert not evaluate(gh.pull_facts(number), policy("@acme/security"), gh).ok
    fake_github.add_review(number, "sam", "APPROVED")
    assert evaluate(gh.pull_facts(number), policy("@acme/security"), gh).approved_by == ("sam",)


# -- what jitflow doctor reads ----------------------------------------------------------------


def test_lists_are_read_to_their_last_page(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    for index in range(65):  # GitHub lists at most 30 variables a page
        fake_github.set_variable(f"V{index:02}", str(index))
    fake_github.add_secret("JITFLOW_TEAMS_TOKEN")
    gh = client(fake_github)
    variables = gh.variables()
    assert len(variables) == 65
    assert variables["V64"] == "64"
    assert gh.secret_names() == ("JITFLOW_TEAMS_TOKEN",)
    pages = [s.path for s in fake_github.served if "variables" in s.path]
    assert len(pages) == 3


def test_the_repository_files_are_read_from_a_branch(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo(REPO, default_branch="trunk")
    fake_github.put_file("policies/a.yaml", "a: 1\n")
    fake_github.put_file("policies/deeper/b.yml", "b: 2\n")
    fake_github.put_file("jitflow.yaml", b"\xff binary")
    gh = client(fake_github)
    facts = gh.repository_facts()
    assert (facts.full_name, facts.repository_id, facts.default_branch) == (REPO, repo.id,
                                                                            "trunk")
    assert facts.owner_id == fake_github.orgs["acme"].id
    tree = gh.tree("trunk")
    assert tree.list("policies") == ["policies/a.yaml", "policies/deeper/b.yml"]
    assert tree.read("policies/a.yaml") == b"a: 1\n"
    assert tree.read("jitflow.yaml") == b"\xff binary"
    assert tree.read("policies") is None  # a folder is not a file
    assert tree.read("nothing.yaml") is None
    assert tree.list("nothing") == []
    assert gh.tree("main").read("policies/a.yaml") is None  # no such branch


def test_team_facts_tell_missing_secret_and_read_only_apart(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_team("acme", "writers", {})
    fake_github.grant_team("acme", "writers", "maintain")
    fake_github.add_team("acme", "hidden", {}, privacy="secret")
    fake_github.grant_team("acme", "hidden", "pull")
    fake_github.add_team("acme", "outside", {})
    gh = client(fake_github)
    writers = gh.team("acme", "writers")
    assert (writers.exists, writers.visible, writers.permission, writers.can_write) == (
        True, True, "maintain", True)
    hidden = gh.team("acme", "hidden")
    assert (hidden.visible, hidden.permission, hidden.can_write) == (False, "pull", False)
    assert gh.team("acme", "outside").permission is None
    assert gh.team("acme", "nobody").exists is False


def test_settings_that_are_not_there_read_as_none(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    gh = client(fake_github)
    assert gh.rules_for_branch("main") == ()
    assert gh.branch_protection("main") is None
    assert gh.environment("jitflow-apply") is None
    assert gh.ruleset(12345) is None
    assert gh.oidc_customization() == {"use_default": True}
    fake_github.add_environment("jitflow-apply")
    environment = gh.environment("jitflow-apply")
    assert environment is not None
    assert (environment.protected_branches, environment.custom_branch_policies) == (None, None)


# -- comments ----------------------------------------------------------------------------------


def test_sticky_comment_is_created_then_updated_never_duplicated(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    gh = client(fake_github)
    gh.upsert_sticky_comment(number, STICKY_MARKER, "approvals: 0 of 1")
    gh.upsert_sticky_comment(number, STICKY_MARKER, "approvals: 1 of 1")
    gh.upsert_sticky_comment(number, STICKY_MARKER, "approvals: 1 of 1")
    [comment] = fake_github.comments(number)
    assert comment.body == f"{STICKY_MARKER}\napprovals: 1 of 1"
    patches = [s for s in fake_github.served if s.method == "PATCH"]
    assert len(patches) == 1  # an unchanged body is not written again


def test_sticky_comment_ignores_someone_elses_comment_quoting_the_marker(
    fake_github: FakeGitHub,
) -> None:
    number = open_request_pull(fake_github)
    fake_github.add_comment(number, f"{STICKY_MARKER}\nfake: approved!", user="alice")
    client(fake_github).upsert_sticky_comment(number, STICKY_MARKER, "approvals: 0 of 1")
    first, second = fake_github.comments(number)
    assert (first.user, first.body) == ("alice", f"{STICKY_MARKER}\nfake: approved!")
    assert second.user == "github-actions[bot]"


def test_sticky_comment_with_a_read_only_token_warns(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.set_token("t0ken", read_only=True)
    warnings: list[str] = []
    client(fake_github, warn=warnings.append).upsert_sticky_comment(number, STICKY_MARKER, "x")
    assert fake_github.comments(number) == []
    assert len(warnings) == 1
    assert "403" in warnings[0]


def test_plain_comment_with_a_read_only_token_raises(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    fake_github.set_token("t0ken", read_only=True)
    with pytest.raises(GitHubError, match="HTTP 403"):
        client(fake_github).comment(number, "granted")


def test_oversized_sticky_comment_is_truncated_and_accepted(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    body = "\n".join(f"line {i} " + "x" * 60 for i in range(2000))  # ~136,000 characters
    client(fake_github).upsert_sticky_comment(number, STICKY_MARKER, body)
    [comment] = fake_github.comments(number)
    assert len(comment.body) <= COMMENT_LIMIT
    assert comment.body.startswith(STICKY_MARKER)
    assert "job summary" in comment.body
    kept = comment.body.split("\n\n> [!NOTE]")[0]
    assert kept.splitlines()[-1].endswith("x" * 60)  # cut on a line boundary


def test_comment_posts_a_new_comment_each_time(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    gh = client(fake_github)
    gh.comment(number, "granted")
    gh.comment(number, "granted")
    assert [c.body for c in fake_github.comments(number)] == ["granted", "granted"]


# -- pure helpers and configuration -----------------------------------------------------------


def test_truncate_leaves_short_bodies_alone() -> None:
    assert truncate_comment("a\nb", limit=100) == "a\nb"


def test_truncate_closes_an_open_code_fence() -> None:
    body = "intro\n```json\n" + "\n".join(['"k": 1'] * 100) + "\n```\n"
    cut = truncate_comment(body, limit=400)
    assert len(cut) <= 400
    lines = cut.split("\n\n> [!NOTE]")[0].splitlines()
    assert lines[-1] == "```"
    assert sum(1 for line in lines if line.startswith("```")) % 2 == 0


def test_contributors_of_maps_noreply_emails() -> None:
    found = contributors_of(
        [
            (
                None,
                None,
                "Someone",
                "7+Grace@users.noreply.github.com",
                "Other",
                "heidi@users.noreply.github.com",
                "msg\nCO-AUTHORED-BY: Ivan <ivan@corp.example>",
            )
        ]
    )
    assert {"grace", "heidi", "ivan", "ivan@corp.example", "someone", "other"} <= found


def test_from_env_needs_the_repository() -> None:
    with pytest.raises(ConfigError, match="GITHUB_REPOSITORY"):
        GitHubClient.from_env({"GITHUB_TOKEN": "t"})
    with pytest.raises(ConfigError, match="owner/name"):
        GitHubClient.from_env({"GITHUB_REPOSITORY": "nope"})


def test_from_env_talks_to_the_given_api(fake_github: FakeGitHub) -> None:
    number = open_request_pull(fake_github)
    env = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": "t", "GITHUB_API_URL": fake_github.url}
    gh = GitHubClient.from_env(env, retry=0, pace=False)
    assert gh.pull_facts(number).author == "alice"


def test_team_lookups_use_the_teams_token_when_given(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_team("acme", "security", {"sam": "active"})
    env = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": "repo-token",
           "GITHUB_API_URL": fake_github.url, "JITFLOW_TEAMS_TOKEN": "org-reader",
           "JITFLOW_GITHUB_PACE": "0"}
    gh = GitHubClient.from_env(env)
    assert gh._teams_github is not gh._github
    assert gh.is_active_member("acme", "security", "sam")
    plain = GitHubClient.from_env({k: v for k, v in env.items() if k != "JITFLOW_TEAMS_TOKEN"})
    assert plain._teams_github is plain._github


def test_team_members_lists_every_page_of_active_members(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    members: dict[str, Literal["active", "pending"]] = {f"user{n:03}": "active"
                                                          for n in range(130)}
    fake_github.add_team("acme", "security", {**members, "Sam": "active", "pat": "pending"})
    listed = client(fake_github).team_members("acme", "security")
    assert listed == sorted([*members, "sam"])  # lower case; the pending invitee is not listed
    assert {s.template for s in fake_github.served} == {"/orgs/{org}/teams/{team_slug}/members"}
    assert len(fake_github.served) == 2  # 100 per page


def test_team_members_of_a_missing_team_is_a_github_error(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    fake_github.add_org("acme")
    with pytest.raises(GitHubError, match="listing the members of @acme/nope"):
        client(fake_github).team_members("acme", "nope")
