"""The fake GitHub, driven over HTTP by real PyGithub, and the OpenAPI check that keeps it honest.

Every test using the `fake_github` fixture also has every response it caused validated against
GitHub's OpenAPI description at teardown (tests/conftest.py).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import github
import pytest
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest

from jitflow.clock import fixed_clock
from jitflow.gh import GitHubClient
from jitflow.sandbox.github import (
    ACTIONS_BOT,
    COMMENT_MAX_CHARS,
    ROUTES,
    FakeGitHub,
    FakeGitHubError,
    FakeProtection,
    Served,
)
from testing.openapi_check import (
    NULLABLE_REWRITES,
    example,
    operations,
    served_problems,
    spec,
    validate_response,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REPO = "acme/access"
BASE_SHA = "b" * 40
SHA1 = "1" * 40
SHA2 = "2" * 40
MERGE_SHA = "m" * 40

PR = "/repos/{owner}/{repo}/pulls/{pull_number}"


def gh_for(fake: FakeGitHub, token: str | None = None, **kwargs: Any) -> github.Github:
    # PyGithub paces requests (0.25 s, writes 1 s) by default; a local fake needs no pacing
    auth = github.Auth.Token(token or "t")
    return github.Github(base_url=fake.url, auth=auth, retry=None, seconds_between_requests=0,
                         seconds_between_writes=0, **kwargs)


def seed(fake: FakeGitHub) -> int:
    """acme/access with PR #1 by alice: two commits, one file, an approval from bob."""
    fake.clock = fixed_clock(T0 + timedelta(hours=3))
    fake.add_user("alice", name="Alice Doe", email="alice@example.com")
    fake.add_repo(REPO)
    fake.add_team("acme", "security", {"bob": "active", "carol": "pending"})
    number = fake.open_pull(
        author="alice", title="S3 write for the nightly import", head_sha=SHA1,
        head_ref="alice/import", base_sha=BASE_SHA, created_at=T0,
    )
    fake.add_commit_to_pull(number, SHA1, author="alice", message="Request import access",
                            date=T0)
    fake.add_commit_to_pull(number, SHA2, author="alice", committer="dave", co_authors=["erin"],
                            message="Narrow the prefix", date=T0 + timedelta(minutes=5))
    fake.add_file_to_pull(number, "requests/data-lake/import.yaml", additions=12)
    fake.add_review(number, "bob", "APPROVED", submitted_at=T0 + timedelta(hours=1))
    return number


def paths(fake: FakeGitHub) -> list[str]:
    return [f"{s.method} {s.path}" for s in fake.served]


# --------------------------------------------------------------------------------------------
# What is served
# --------------------------------------------------------------------------------------------


def test_serves_exactly_the_agreed_operations_all_in_the_openapi_subset() -> None:
    served = {(r.method, r.template) for r in ROUTES}
    assert served <= operations()
    assert served == {
        ("GET", "/repos/{owner}/{repo}"),
        ("GET", "/repos/{owner}/{repo}/pulls"),  # the scheduled run's `requested` poll
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
        ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
        ("GET", "/orgs/{org}"),
        ("GET", "/orgs/{org}/teams/{team_slug}"),
        ("GET", "/orgs/{org}/teams/{team_slug}/members"),
        ("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
        ("GET", "/users/{username}"),
        # what `jitflow doctor` reads
        ("GET", "/repos/{owner}/{repo}/contents/{path}"),
        ("GET", "/repos/{owner}/{repo}/rules/branches/{branch}"),
        ("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}"),
        ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"),
        ("GET", "/repos/{owner}/{repo}/environments/{environment_name}"),
        ("GET", "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies"),
        ("GET", "/repos/{owner}/{repo}/actions/variables"),
        ("GET", "/repos/{owner}/{repo}/actions/secrets"),
        ("GET", "/repos/{owner}/{repo}/actions/oidc/customization/sub"),
        ("GET", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}"),
    }


def test_context_manager_starts_and_stops_on_a_free_local_port() -> None:
    fake = FakeGitHub()
    with pytest.raises(RuntimeError):
        _ = fake.url
    with fake:
        assert fake.url.startswith("http://127.0.0.1:")
        assert not fake.url.endswith(":0")
    with pytest.raises(RuntimeError):
        _ = fake.url


# --------------------------------------------------------------------------------------------
# Every endpoint through PyGithub
# --------------------------------------------------------------------------------------------


def test_get_repo(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    repo = gh_for(fake_github).get_repo(REPO)
    assert repo.full_name == REPO
    assert repo.default_branch == "main"
    assert repo.owner.login == "acme"
    assert repo.owner.type == "Organization"
    assert repo.organization.login == "acme"
    assert repo.url == f"{fake_github.url}/repos/{REPO}"


def test_get_pull_open_then_merged(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    repo = gh_for(fake_github).get_repo(REPO)
    pull = repo.get_pull(number)
    assert (pull.number, pull.title, pull.user.login) == (
        number, "S3 write for the nightly import", "alice"
    )
    assert (pull.state, pull.merged, pull.merged_at) == ("open", False, None)
    assert pull.raw_data["merge_commit_sha"] is None
    assert (pull.head.sha, pull.head.ref) == (SHA2, "alice/import")
    assert (pull.base.sha, pull.base.ref) == (BASE_SHA, "main")
    assert pull.created_at == T0
    assert pull.commits == 2

    merged_at = T0 + timedelta(hours=2)
    fake_github.merge_pull(number, MERGE_SHA, "squash", merged_by="bob", merged_at=merged_at)
    pull = repo.get_pull(number)
    assert (pull.state, pull.merged, pull.merged_at, pull.merge_commit_sha) == (
        "closed", True, merged_at, MERGE_SHA
    )
    assert pull.merged_by.login == "bob"


def test_missing_pull_and_repo_are_404(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    gh = gh_for(fake_github)
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo(REPO).get_pull(99)
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo("acme/nope")


def test_reviews_are_chronological_and_paginated_with_link_headers(
    fake_github: FakeGitHub,
) -> None:
    number = seed(fake_github)
    for i in range(34):  # 35 with bob's: two pages at PyGithub's default 30
        state = ("COMMENTED", "CHANGES_REQUESTED", "DISMISSED")[i % 3]
        fake_github.add_review(number, f"user{i}", state,  # type: ignore[arg-type]
                               submitted_at=T0 + timedelta(hours=2, minutes=i))
    pull = gh_for(fake_github).get_repo(REPO).get_pull(number)
    reviews = list(pull.get_reviews())
    assert len(reviews) == 35
    assert reviews[0].user.login == "bob"
    assert reviews[0].state == "APPROVED"
    assert reviews[0].commit_id == SHA2
    assert reviews[0].submitted_at == T0 + timedelta(hours=1)
    assert [r.submitted_at for r in reviews] == sorted(r.submitted_at for r in reviews)
    review_pages = [p for p in paths(fake_github) if "/reviews" in p]
    assert len(review_pages) == 2
    assert "page=2" in review_pages[1]

    small = gh_for(fake_github, per_page=4).get_repo(REPO).get_pull(number)
    assert len(list(small.get_reviews())) == 35
    assert len([p for p in paths(fake_github) if "/reviews" in p]) == 2 + 9


def test_link_header_shape(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    for i in range(4):
        fake_github.add_review(number, f"r{i}", "COMMENTED")
    url = f"{fake_github.url}/repos/{REPO}/pulls/{number}/reviews?per_page=2&page=2"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer x"})  # noqa: S310
    with urllib.request.urlopen(req) as resp:  # noqa: S310
        link = resp.headers["Link"]
        body = json.load(resp)
    assert [r["user"]["login"] for r in body] == ["r1", "r2"]
    base = f"{fake_github.url}/repos/{REPO}/pulls/{number}/reviews"
    assert f'<{base}?per_page=2&page=3>; rel="next"' in link
    assert f'<{base}?per_page=2&page=3>; rel="last"' in link
    assert f'<{base}?per_page=2&page=1>; rel="prev"' in link
    assert f'<{base}?per_page=2&page=1>; rel="first"' in link


def test_commits_with_authors_committers_and_co_authors(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    fake_github.add_commit_to_pull(number, "3" * 40, author=None, author_name="Unlinked",
                                   author_email="u@example.com", committer="alice")
    commits = list(gh_for(fake_github).get_repo(REPO).get_pull(number).get_commits())
    assert [c.sha for c in commits] == [SHA1, SHA2, "3" * 40]
    first, second, third = commits
    assert first.author.login == "alice"
    assert first.commit.author.email == "alice@example.com"
    assert first.commit.author.name == "Alice Doe"
    assert [p.sha for p in first.parents] == [BASE_SHA]
    assert second.committer.login == "dave"
    assert [p.sha for p in second.parents] == [SHA1]
    erin = fake_github.user("erin")
    assert second.commit.message == (
        f"Narrow the prefix\n\nCo-authored-by: erin <{erin.noreply_email}>"
    )
    assert third.author is None  # e-mail linked to no account: GitHub says null
    assert third.commit.author.name == "Unlinked"
    assert third.committer.login == "alice"


def test_files(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    fake_github.add_file_to_pull(number, "requests/data-lake/old.yaml", status="removed",
                                 deletions=9)
    fake_github.add_file_to_pull(number, "requests/data-lake/new name.yaml", status="renamed",
                                 previous_filename="requests/data-lake/x.yaml")
    files = list(gh_for(fake_github).get_repo(REPO).get_pull(number).get_files())
    assert [(f.filename, f.status) for f in files] == [
        ("requests/data-lake/import.yaml", "added"),
        ("requests/data-lake/old.yaml", "removed"),
        ("requests/data-lake/new name.yaml", "renamed"),
    ]
    assert files[2].previous_filename == "requests/data-lake/x.yaml"
    assert files[0].additions == 12


# --------------------------------------------------------------------------------------------
# GET /repos/{owner}/{repo}/pulls
# --------------------------------------------------------------------------------------------


def test_open_pulls_into_a_base_newest_first_across_pages(fake_github: FakeGitHub) -> None:
    merged = seed(fake_github)
    fake_github.merge_pull(merged, MERGE_SHA, "merge")
    opened = [fake_github.open_pull(author=f"user{i}", head_sha=f"{i}" * 40, base_sha=SHA1,
                                    created_at=T0 + timedelta(minutes=i), draft=i == 2)
              for i in range(1, 4)]
    fake_github.open_pull(author="zed", head_sha="9" * 40, base_sha=SHA1, base_ref="release")
    listed = list(gh_for(fake_github, per_page=2).get_repo(REPO).get_pulls(
        state="open", base="main"))
    assert [(p.number, p.user.login, p.draft) for p in listed] == [
        (opened[2], "user3", False), (opened[1], "user2", True), (opened[0], "user1", False)]
    assert sum(re.search(r"[?&]page=2", path) is not None for path in paths(fake_github)) == 1
    client = GitHubClient(REPO, "t", fake_github.url, retry=0, pace=False)
    assert [(p.number, p.author, p.draft) for p in client.open_pulls("release")] == [
        (opened[2] + 1, "zed", False)]


# --------------------------------------------------------------------------------------------
# GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls
# --------------------------------------------------------------------------------------------


def commit_pulls(gh: github.Github, sha: str) -> list[int]:
    # lazy: PyGithub builds /repos/o/r/commits/{sha}/pulls without fetching the commit
    return [p.number for p in gh.get_repo(REPO).get_commit(sha).get_pulls()]


def test_commit_pulls_with_a_lazy_github(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    gh = gh_for(fake_github, lazy=True)
    assert commit_pulls(gh, SHA2) == [number]  # a PR commit: its open PR
    assert commit_pulls(gh, MERGE_SHA) == []  # not merged yet
    assert commit_pulls(gh, "f" * 40) == []  # a direct push: no PR at all

    fake_github.merge_pull(number, MERGE_SHA, "merge")
    pulls = list(gh.get_repo(REPO).get_commit(MERGE_SHA).get_pulls())
    assert [(p.number, p.merged_at is not None, p.merge_commit_sha) for p in pulls] == [
        (number, True, MERGE_SHA)
    ]
    assert paths(fake_github)[-1] == f"GET /repos/{REPO}/commits/{MERGE_SHA}/pulls"


def test_commit_pulls_for_squash_and_rebase_merges(fake_github: FakeGitHub) -> None:
    first = seed(fake_github)
    fake_github.merge_pull(first, "5" * 40, "squash")
    second = fake_github.open_pull(author="alice", head_sha="6" * 40, base_sha="5" * 40)
    fake_github.merge_pull(second, "8" * 40, "rebase", rebased_shas=["7" * 40, "8" * 40])
    # a later PR that also contains SHA2 (e.g. branched from alice's branch) stays open
    third = fake_github.open_pull(author="zed", head_sha=SHA2, base_sha="8" * 40)
    fake_github.associate_commit(SHA2, third)
    gh = gh_for(fake_github, lazy=True)
    assert commit_pulls(gh, "5" * 40) == [first]
    assert commit_pulls(gh, "7" * 40) == [second]
    assert commit_pulls(gh, "8" * 40) == [second]
    assert commit_pulls(gh, SHA2) == [first]  # only the merged PR once one is merged


@pytest.mark.fake_github_unknown_paths
def test_non_lazy_get_commit_leaves_the_subset_so_use_lazy_or_the_raw_request(
    fake_github: FakeGitHub,
) -> None:
    number = seed(fake_github)
    fake_github.merge_pull(number, MERGE_SHA)
    gh = gh_for(fake_github)  # PyGithub 2.x default: lazy=False
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo(REPO).get_commit(MERGE_SHA).get_pulls()
    # non-lazy get_commit fetches GET /repos/{o}/{r}/commits/{sha}: not in the subset
    assert paths(fake_github)[-1] == f"GET /repos/{REPO}/commits/{MERGE_SHA}?page=1"

    # the adapter's way, independent of laziness: a paginated list on the subset endpoint
    pulls = PaginatedList(PullRequest, gh.requester, f"/repos/{REPO}/commits/{MERGE_SHA}/pulls",
                          None)
    assert [p.number for p in pulls] == [number]


# --------------------------------------------------------------------------------------------
# Issue comments
# --------------------------------------------------------------------------------------------


def test_create_list_and_edit_comments(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    old = fake_github.add_comment(number, "an earlier sticky", created_at=T0)
    pull = gh_for(fake_github).get_repo(REPO).get_pull(number)
    created = pull.create_issue_comment("<!-- jitflow -->\nplan")
    assert created.id > old
    assert created.user.login == ACTIONS_BOT
    assert created.user.type == "Bot"
    assert created.body == "<!-- jitflow -->\nplan"

    listed = list(pull.get_issue_comments())
    assert [c.id for c in listed] == [old, created.id]
    assert listed[0].created_at == T0

    listed[0].edit("updated sticky")
    assert listed[0].body == "updated sticky"
    assert [c.body for c in fake_github.comments(number)] == [
        "updated sticky", "<!-- jitflow -->\nplan"
    ]
    assert fake_github.comments(number)[0].updated_at == T0 + timedelta(hours=3)
    assert gh_for(fake_github).get_repo(REPO).get_pull(number).comments == 2


def test_comments_are_authored_by_the_tokens_user(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    fake_github.set_token("app-token", login="jitflow-app[bot]")
    gh_for(fake_github, "app-token").get_repo(REPO).get_pull(number).create_issue_comment("hi")
    assert fake_github.comments(number)[-1].user == "jitflow-app[bot]"


def test_a_comment_over_githubs_limit_is_refused_with_422(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    pull = gh_for(fake_github).get_repo(REPO).get_pull(number)
    pull.create_issue_comment("x" * COMMENT_MAX_CHARS)
    with pytest.raises(github.GithubException) as refused:
        pull.create_issue_comment("x" * (COMMENT_MAX_CHARS + 1))
    assert refused.value.status == 422
    assert "too long" in json.dumps(refused.value.data)
    assert len(fake_github.comments(number)) == 1


def test_read_only_token_gets_403_on_create_and_edit(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    existing = fake_github.add_comment(number, "sticky")
    fake_github.set_token("fork-token", read_only=True)
    gh = gh_for(fake_github, "fork-token")
    pull = gh.get_repo(REPO).get_pull(number)  # reading still works
    with pytest.raises(github.GithubException) as create:
        pull.create_issue_comment("plan")
    assert create.value.status == 403
    comment = next(c for c in pull.get_issue_comments() if c.id == existing)
    with pytest.raises(github.GithubException) as edit:
        comment.edit("changed")
    assert edit.value.status == 403
    assert [c.body for c in fake_github.comments(number)] == ["sticky"]


def test_requests_without_a_token_get_401(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    gh = github.Github(base_url=fake_github.url, retry=None, seconds_between_requests=0)
    with pytest.raises(github.GithubException) as refused:
        gh.get_repo(REPO)
    assert refused.value.status == 401


# --------------------------------------------------------------------------------------------
# Teams, orgs, users
# --------------------------------------------------------------------------------------------


def test_team_membership_through_lazy_pygithub(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    team = gh_for(fake_github, lazy=True).get_organization("acme").get_team_by_slug("security")
    bob = team.get_team_membership("bob")
    assert (bob.state, bob.role) == ("active", "member")
    assert team.get_team_membership("carol").state == "pending"
    with pytest.raises(github.UnknownObjectException):
        team.get_team_membership("mallory")
    assert [p for p in paths(fake_github)] == [
        "GET /orgs/acme/teams/security/memberships/bob",
        "GET /orgs/acme/teams/security/memberships/carol",
        "GET /orgs/acme/teams/security/memberships/mallory",
    ]


def team_state(gh: github.Github, org: str, slug: str, login: str) -> str | None:
    """How the adapter should ask: the documented endpoint, whatever PyGithub's laziness."""
    try:
        _, data = gh.requester.requestJsonAndCheck(
            "GET", f"/orgs/{org}/teams/{slug}/memberships/{login}"
        )
    except github.UnknownObjectException:
        return None
    state: str = data["state"]
    return state


def test_team_membership_through_the_raw_request(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    gh = gh_for(fake_github)
    assert team_state(gh, "acme", "security", "bob") == "active"
    assert team_state(gh, "acme", "security", "carol") == "pending"
    assert team_state(gh, "acme", "security", "mallory") is None
    assert team_state(gh, "acme", "nope", "bob") is None  # unknown team: also 404
    fake_github.set_membership("acme", "security", "bob", None)
    assert team_state(gh, "acme", "security", "bob") is None


@pytest.mark.fake_github_unknown_paths
def test_non_lazy_team_membership_follows_the_teams_url_out_of_the_subset(
    fake_github: FakeGitHub,
) -> None:
    seed(fake_github)
    gh = gh_for(fake_github)  # lazy=False: get_team_by_slug fetches the team
    team = gh.get_organization("acme").get_team_by_slug("security")
    org_id = fake_github.orgs["acme"].id
    team_id = fake_github.teams[("acme", "security")].id
    assert team.url == f"{fake_github.url}/organizations/{org_id}/team/{team_id}"
    # an ACTIVE member, yet 404: the request left the documented endpoint
    with pytest.raises(github.UnknownObjectException):
        team.get_team_membership("bob")
    assert paths(fake_github) == [
        "GET /orgs/acme",
        "GET /orgs/acme/teams/security",
        f"GET /organizations/{org_id}/team/{team_id}/memberships/bob",
    ]


def test_org_team_and_user(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    gh = gh_for(fake_github)
    org = gh.get_organization("acme")
    assert (org.login, org.type) == ("acme", "Organization")
    team = org.get_team_by_slug("security")
    assert (team.slug, team.members_count, team.organization.login) == ("security", 1, "acme")
    alice = gh.get_user("alice")
    assert (alice.login, alice.name, alice.email, alice.type) == (
        "alice", "Alice Doe", "alice@example.com", "User"
    )
    assert gh.get_user("acme").type == "Organization"
    with pytest.raises(github.UnknownObjectException):
        gh.get_user("nobody")
    with pytest.raises(github.UnknownObjectException):
        gh.get_organization("nope")


# --------------------------------------------------------------------------------------------
# A repository's settings (what `jitflow doctor` reads)
# --------------------------------------------------------------------------------------------

REPOSITORY_MEDIA = "application/vnd.github.v3.repository+json"
SETTINGS_PATHS = [
    "/repos/acme/access/contents/policies/p.yaml",
    "/repos/acme/access/contents/policies",
    "/repos/acme/access/rules/branches/main",
    "/repos/acme/access/rulesets/{ruleset_id}",
    "/repos/acme/access/branches/main/protection",
    "/repos/acme/access/environments/jitflow-apply",
    "/repos/acme/access/environments/jitflow-apply/deployment-branch-policies",
    "/repos/acme/access/actions/variables",
    "/repos/acme/access/actions/secrets",
    "/repos/acme/access/actions/oidc/customization/sub",
    "/orgs/acme/teams/security/repos/acme/access",
]


def seed_settings(fake: FakeGitHub) -> int:
    """Files, rules, protection, an environment, variables, secrets, OIDC, team access;
    returns the id of the ruleset on main (and fills it into SETTINGS_PATHS' template)."""
    if REPO.lower() not in fake.repos:
        fake.add_repo(REPO)
    fake.put_file("policies/p.yaml", "description: x\n")
    fake.put_file("policies/sub/q.yaml", b"\x00\xff binary too")
    fake.put_file("policies/p.yaml", "on another branch\n", branch="other")
    main = fake.add_ruleset("main", [{"type": "deletion"}, {"type": "pull_request", "parameters": {
        "required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True,
        "require_code_owner_review": True, "require_last_push_approval": True,
        "required_review_thread_resolution": False}}],
        bypass_actors=[{"actor_id": 1, "actor_type": "OrganizationAdmin",
                        "bypass_mode": "always"}])
    fake.add_ruleset("audit", [{"type": "non_fast_forward"}], include=["refs/heads/audit-*"])
    fake.add_ruleset("off", [{"type": "creation"}], include=["~ALL"], enforcement="disabled")
    fake.protect_branch("main", FakeProtection(required_checks=[("jitflow check / check", 15368)],
                                               pull_request_reviews=True, bypass_users=["dave"]))
    fake.add_environment("jitflow-apply", "custom", [("main", "branch"), ("v*", "tag")])
    for index in range(35):
        fake.set_variable(f"V{index:02}", str(index))
    fake.add_secret("TOKEN")
    fake.set_oidc_customization({"use_default": False, "include_claim_keys": ["repo"]})
    if ("acme", "security") not in fake.teams:
        fake.add_team("acme", "security", {})
    fake.grant_team("acme", "security", "maintain")
    SETTINGS_PATHS[3] = f"/repos/acme/access/rulesets/{main.id}"
    return main.id


def get(gh: github.Github, path: str, **headers: str) -> Any:
    try:
        return gh.requester.requestJsonAndCheck("GET", path, headers=headers or None)[1]
    except github.GithubException as error:
        return error.status


def test_contents_of_a_file_and_a_folder_at_a_ref(fake_github: FakeGitHub) -> None:
    seed_settings(fake_github)
    gh = gh_for(fake_github)
    file = get(gh, "/repos/acme/access/contents/policies/p.yaml")
    assert (file["type"], file["encoding"], file["path"]) == ("file", "base64", "policies/p.yaml")
    assert base64.b64decode(file["content"]) == b"description: x\n"
    other = get(gh, "/repos/acme/access/contents/policies/p.yaml?ref=other")
    assert base64.b64decode(other["content"]) == b"on another branch\n"
    folder = get(gh, "/repos/acme/access/contents/policies?ref=refs/heads/main")
    assert [(e["path"], e["type"]) for e in folder] == [("policies/p.yaml", "file"),
                                                         ("policies/sub", "dir")]
    assert get(gh, "/repos/acme/access/contents/nothing") == 404
    assert get(gh, "/repos/acme/access/contents/policies?ref=nope") == 404


def test_rules_follow_the_rulesets_conditions_and_enforcement(fake_github: FakeGitHub) -> None:
    main_id = seed_settings(fake_github)
    gh = gh_for(fake_github)
    rules = get(gh, "/repos/acme/access/rules/branches/main")
    assert [(r["type"], r["ruleset_id"]) for r in rules] == [("deletion", main_id),
                                                             ("pull_request", main_id)]
    assert [r["type"] for r in get(gh, "/repos/acme/access/rules/branches/audit-log")] == [
        "non_fast_forward"]
    assert get(gh, "/repos/acme/access/rules/branches/feature") == []
    ruleset = get(gh, f"/repos/acme/access/rulesets/{main_id}")
    assert ruleset["bypass_actors"] == [{"actor_id": 1, "actor_type": "OrganizationAdmin",
                                         "bypass_mode": "always"}]
    assert get(gh, "/repos/acme/access/rulesets/99999") == 404


def test_branch_protection_and_its_absence(fake_github: FakeGitHub) -> None:
    seed_settings(fake_github)
    gh = gh_for(fake_github)
    protection = get(gh, "/repos/acme/access/branches/main/protection")
    assert protection["required_status_checks"]["checks"] == [
        {"context": "jitflow check / check", "app_id": 15368}]
    allowances = protection["required_pull_request_reviews"]["bypass_pull_request_allowances"]
    assert [u["login"] for u in allowances["users"]] == ["dave"]
    assert protection["enforce_admins"]["enabled"] is False
    assert get(gh, "/repos/acme/access/branches/other/protection") == 404


def test_environment_and_its_branch_policies(fake_github: FakeGitHub) -> None:
    seed_settings(fake_github)
    gh = gh_for(fake_github)
    environment = get(gh, "/repos/acme/access/environments/jitflow-apply")
    assert environment["deployment_branch_policy"] == {"protected_branches": False,
                                                       "custom_branch_policies": True}
    listed = get(gh, "/repos/acme/access/environments/jitflow-apply/deployment-branch-policies")
    assert listed["total_count"] == 2
    assert [(p["name"], p["type"]) for p in listed["branch_policies"]] == [("main", "branch"),
                                                                           ("v*", "tag")]
    fake_github.add_environment("open")
    assert get(gh, "/repos/acme/access/environments/open")["deployment_branch_policy"] is None
    assert get(gh, "/repos/acme/access/environments/none") == 404


def test_variables_and_secrets_are_paginated_lists_in_an_object(fake_github: FakeGitHub) -> None:
    seed_settings(fake_github)
    gh = gh_for(fake_github)
    first = get(gh, "/repos/acme/access/actions/variables?per_page=100")
    assert first["total_count"] == 35
    assert len(first["variables"]) == 30  # GitHub lists at most 30 variables a page
    assert first["variables"][0] == {"name": "V00", "value": "0",
                                     "created_at": "2020-01-01T00:00:00Z",
                                     "updated_at": "2020-01-01T00:00:00Z"}
    second = get(gh, "/repos/acme/access/actions/variables?per_page=100&page=2")
    assert [v["name"] for v in second["variables"]] == [f"V{i}" for i in range(30, 35)]
    secrets = get(gh, "/repos/acme/access/actions/secrets")
    assert [s["name"] for s in secrets["secrets"]] == ["TOKEN"]
    assert "value" not in secrets["secrets"][0]


def test_oidc_customisation_defaults_to_githubs_own(fake_github: FakeGitHub) -> None:
    fake_github.add_repo(REPO)
    gh = gh_for(fake_github)
    assert get(gh, "/repos/acme/access/actions/oidc/customization/sub")["use_default"] is True
    fake_github.set_oidc_customization({"use_default": False, "include_claim_keys": ["repo"]})
    found = get(gh, "/repos/acme/access/actions/oidc/customization/sub")
    assert found["include_claim_keys"] == ["repo"]


def test_team_access_answers_by_media_type(fake_github: FakeGitHub) -> None:
    seed_settings(fake_github)
    fake_github.add_team("acme", "readers", {}, privacy="secret")
    gh = gh_for(fake_github)
    path = "/orgs/acme/teams/security/repos/acme/access"
    assert get(gh, path) is None  # 204: it has access, and no body says which
    assert fake_github.served[-1].status == 204
    repo = get(gh, path, Accept=REPOSITORY_MEDIA)
    assert repo["permissions"] == {"pull": True, "triage": True, "push": True,
                                   "maintain": True, "admin": False}
    assert repo["role_name"] == "maintain"
    assert get(gh, "/orgs/acme/teams/readers/repos/acme/access") == 404  # no access
    assert get(gh, "/orgs/acme/teams/nope/repos/acme/access") == 404
    assert get(gh, "/orgs/acme/teams/readers")["privacy"] == "secret"
    with pytest.raises(FakeGitHubError):
        fake_github.grant_team("acme", "readers", "owner")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Responses: URLs, unknown paths, setup errors
# --------------------------------------------------------------------------------------------


def _urls(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _urls(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _urls(v, key)
    elif isinstance(node, str) and (key == "url" or key.endswith("_url") or key == "href"):
        yield key, node


def test_every_url_in_every_response_points_back_at_the_fake(fake_github: FakeGitHub) -> None:
    number = seed(fake_github)
    fake_github.merge_pull(number, MERGE_SHA)
    gh = gh_for(fake_github)
    repo = gh.get_repo(REPO)
    pull = repo.get_pull(number)
    list(pull.get_reviews())
    list(pull.get_commits())
    list(pull.get_files())
    pull.create_issue_comment("x").edit("y")
    list(pull.get_issue_comments())
    list(gh_for(fake_github, lazy=True).get_repo(REPO).get_commit(MERGE_SHA).get_pulls())
    list(repo.get_pulls(state="closed"))
    team_state(gh, "acme", "security", "bob")
    team = gh.get_organization("acme").get_team_by_slug("security")
    list(github.PaginatedList.PaginatedList(
        github.NamedUser.NamedUser, team.requester, "/orgs/acme/teams/security/members", None))
    gh.get_user("alice")
    seed_settings(fake_github)
    for path in SETTINGS_PATHS:
        gh.requester.requestJsonAndCheck("GET", path, headers={"Accept": REPOSITORY_MEDIA})
    templates = {s.template for s in fake_github.served}
    assert templates == {r.template for r in ROUTES}
    count = 0
    for record in fake_github.served:
        for key, value in _urls(record.body):
            count += 1
            if key == "documentation_url":
                continue  # errors link GitHub's documentation, as GitHub does
            if key == "git_url" and value.startswith("git://"):  # a repository's clone URL
                assert value.startswith(f"git://{fake_github.url.removeprefix('http://')}/")
                continue
            if key == "ssh_url":
                assert value == f"git@127.0.0.1:{REPO}.git"
                continue
            assert value.startswith(fake_github.url + "/"), (record.path, key, value)
    assert count > 500


@pytest.mark.fake_github_unknown_paths
def test_unknown_paths_and_methods_are_404_with_githubs_error_body(
    fake_github: FakeGitHub,
) -> None:
    seed(fake_github)
    for method, path in [("GET", "/repos/acme/access/git/trees/x"), ("DELETE", "/orgs/acme"),
                         ("GET", "/repos/acme/access/pulls/not-a-number")]:
        req = urllib.request.Request(  # noqa: S310
            fake_github.url + path, method=method, headers={"Authorization": "token t"}
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)  # noqa: S310
        assert err.value.code == 404
        assert json.load(err.value) == {
            "message": "Not Found", "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        }
    assert [s.template for s in fake_github.served] == [None, None, None]


def test_the_fixture_check_flags_unserved_paths_unless_marked() -> None:
    record = Served("GET", "/repos/a/b/contents/x", None, 404,
                    {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
    assert len(served_problems([record])) == 1
    assert served_problems([record], allow_unknown_paths=True) == []
    crashed = Served("GET", "/users/x", "/users/{username}", 500, {"message": "boom"})
    assert "the fake failed" in served_problems([crashed])[0]


def test_setup_mistakes_are_loud() -> None:
    fake = FakeGitHub()
    with pytest.raises(FakeGitHubError):
        fake.open_pull(author="a", head_sha=SHA1, base_sha=BASE_SHA)  # no repository yet
    fake.add_repo(REPO)
    fake.add_repo("acme/other")
    with pytest.raises(FakeGitHubError, match="say which repository"):
        fake.open_pull(author="a", head_sha=SHA1, base_sha=BASE_SHA)
    number = fake.open_pull(author="a", head_sha=SHA1, base_sha=BASE_SHA, repo=REPO)
    with pytest.raises(FakeGitHubError):
        fake.add_review(number, "b", "LGTM", repo=REPO)  # type: ignore[arg-type]
    with pytest.raises(FakeGitHubError):
        fake.add_review(99, "b", "APPROVED", repo=REPO)
    with pytest.raises(FakeGitHubError):
        fake.add_review(number, "b", "APPROVED", repo=REPO,
                        submitted_at=datetime(2026, 1, 1))
    fake.merge_pull(number, MERGE_SHA, repo=REPO)
    with pytest.raises(FakeGitHubError):
        fake.merge_pull(number, MERGE_SHA, repo=REPO)


def test_review_defaults_to_the_current_head_and_can_target_an_older_commit(
    fake_github: FakeGitHub,
) -> None:
    number = seed(fake_github)
    old = fake_github.add_review(number, "carol", "APPROVED", commit_id=SHA1)
    gone = fake_github.add_review(number, "dave", "APPROVED", commit_id=None)
    reviews = {r.id: r for r in gh_for(fake_github).get_repo(REPO).get_pull(number).get_reviews()}
    assert reviews[old].commit_id == SHA1
    assert reviews[gone].commit_id is None  # GitHub: the reviewed commit was garbage-collected


# --------------------------------------------------------------------------------------------
# The validator has teeth
# --------------------------------------------------------------------------------------------


def test_githubs_own_examples_validate_except_where_they_break_githubs_schema() -> None:
    assert validate_response("/repos/{owner}/{repo}/pulls/{pull_number}/commits", "GET", 200,
                             example("commit-items")) == []
    assert validate_response("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "GET", 200,
                             example("pull-request-review-items")) == []
    assert validate_response("/repos/{owner}/{repo}/issues/{issue_number}/comments", "POST", 201,
                             example("issue-comment")) == []
    # GitHub's own pull-request example omits a required field of its team objects
    assert validate_response(PR, "GET", 200, example("pull-request")) == [
        f"GET {PR} -> 200: $.requested_teams[0]: 'type' is a required property"
    ]


def served_pull(fake: FakeGitHub) -> dict[str, Any]:
    number = seed(fake)
    with fake:
        gh_for(fake).get_repo(REPO).get_pull(number)
    body: dict[str, Any] = copy.deepcopy(fake.served[-1].body)
    assert validate_response(PR, "GET", 200, body) == []
    return body


def test_validator_rejects_a_pull_request_without_number() -> None:
    body = served_pull(FakeGitHub())
    del body["number"]
    errors = validate_response(PR, "GET", 200, body)
    assert any("'number' is a required property" in e for e in errors), errors


def test_validator_rejects_merged_as_a_string() -> None:
    body = served_pull(FakeGitHub())
    body["merged"] = "true"
    errors = validate_response(PR, "GET", 200, body)
    assert errors == [
        f"GET {PR} -> 200: $.merged: 'true' is not of type 'boolean'"
    ]


def test_validator_rejects_null_where_github_never_sends_null_and_bad_formats() -> None:
    body = served_pull(FakeGitHub())
    body["title"] = None
    body["created_at"] = "yesterday"
    body["html_url"] = "not a url"
    body["head"]["repo"]["owner"]["id"] = "7"
    errors = "\n".join(validate_response(PR, "GET", 200, body))
    assert "$.title: None for not nullable" in errors
    assert "$.created_at: 'yesterday' is not a 'date-time'" in errors
    assert "$.html_url: 'not a url' is not a 'uri'" in errors
    assert "$.head.repo.owner.id: '7' is not of type 'integer'" in errors


def test_validator_accepts_null_only_where_github_documents_it() -> None:
    body = served_pull(FakeGitHub())
    body["merged_at"] = None
    body["body"] = None
    body["milestone"] = None
    assert validate_response(PR, "GET", 200, body) == []
    commits = "/repos/{owner}/{repo}/pulls/{pull_number}/commits"
    items = example("commit-items")
    items[0]["author"] = None  # documented nullable beside oneOf: see NULLABLE_REWRITES
    assert validate_response(commits, "GET", 200, items) == []
    items[0]["author"] = {"login": "half a user"}
    assert validate_response(commits, "GET", 200, items) != []
    spec()
    assert NULLABLE_REWRITES == [
        "#/components/schemas/commit/properties/author",
        "#/components/schemas/commit/properties/committer",
        "#/components/schemas/repository-ruleset/properties/conditions",  # jitflow doctor's
    ]


def test_validator_rejects_fields_github_does_not_declare() -> None:
    body = served_pull(FakeGitHub())
    body["approved"] = True
    body["user"]["is_owner"] = False
    errors = validate_response(PR, "GET", 200, body)
    assert sorted(errors) == [
        f"GET {PR} -> 200: $.approved: not declared by GitHub's schema (a field GitHub never "
        "sends)",
        f"GET {PR} -> 200: $.user.is_owner: not declared by GitHub's schema (a field GitHub "
        "never sends)",
    ]


def test_validator_checks_statuses_and_operations() -> None:
    body = served_pull(FakeGitHub())
    assert validate_response(PR, "GET", 201, body) == [
        f"GET {PR} -> 201: GET {PR} documents no 201 response"
    ]
    assert validate_response(PR, "DELETE", 200, body) == [
        f"DELETE {PR} -> 200: DELETE {PR} is not in GitHub's OpenAPI subset"
    ]
    error = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
    assert validate_response(PR, "GET", 401, error) == []  # undocumented 4xx: GitHub's error
    assert validate_response(PR, "GET", 401, {"message": 401}) != []
    assert validate_response(None, "GET", 404, error) == []
    assert validate_response(None, "GET", 200, {}) != []
    membership = "/orgs/{org}/teams/{team_slug}/memberships/{username}"
    assert validate_response(membership, "GET", 404, error) == []  # documented without body


def test_fixture_validation_would_fail_a_test_on_a_drifted_response() -> None:
    fake = FakeGitHub()
    body = served_pull(fake)
    body["state"] = "merged"  # GitHub's enum is open|closed
    drifted = Served("GET", f"/repos/{REPO}/pulls/1", PR, 200, body)
    problems = served_problems([*fake.served, drifted])
    assert len(problems) == 1
    assert "$.state: 'merged' is not one of ['open', 'closed']" in problems[0]
