"""A fake GitHub REST API server. This is a TEST DOUBLE, not GitHub.

It exists for jitflow's test suite and for `jitflow demo`: a stdlib HTTP server on 127.0.0.1
(port 0) that PyGithub talks to through `base_url` / `GITHUB_API_URL`. It serves exactly the
GitHub endpoints jitflow uses, answers from state that tests set from Python (users, orgs,
teams, repositories, pull requests, commits, reviews, issue comments), and records every
response it serves in `FakeGitHub.served`.

It cannot drift from GitHub silently: the test suite validates every recorded response against
GitHub's official REST OpenAPI description (`tests/data/github-openapi-subset.json`, from
`@octokit/openapi`), and every route below is an operation of that description. Nothing here
grants anything or is trusted by jitflow; never point production code at it.

Served (and nothing else; any other path is a 404 with GitHub's error body):

    GET   /repos/{owner}/{repo}
    GET   /repos/{owner}/{repo}/pulls/{pull_number}
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/reviews        (paginated)
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/commits        (paginated)
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/files          (paginated)
    GET   /repos/{owner}/{repo}/commits/{commit_sha}/pulls         (paginated)
    GET   /repos/{owner}/{repo}/issues/{issue_number}/comments     (paginated)
    POST  /repos/{owner}/{repo}/issues/{issue_number}/comments
    PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}
    GET   /orgs/{org}
    GET   /orgs/{org}/teams/{team_slug}
    GET   /orgs/{org}/teams/{team_slug}/memberships/{username}    (404 when not a member)
    GET   /users/{username}

Every `*_url` / `href` in a response points back at this server (`FakeGitHub.url`), because
PyGithub follows them. Team objects carry GitHub's own team URL form
(`/organizations/{org_id}/team/{team_id}`), which this fake does NOT serve: code that
follows a team's `url` (PyGithub's non-lazy `get_team_by_slug(...).get_team_membership(...)`)
would leave the documented endpoint, and the tests show it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from jitflow.clock import Clock, iso, system_clock

Json = dict[str, Any]
MembershipState = Literal["active", "pending"]
TeamRole = Literal["member", "maintainer"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]
MergeMethod = Literal["merge", "squash", "rebase"]
FileStatus = Literal["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]
UserType = Literal["User", "Bot"]

ACTIONS_BOT = "github-actions[bot]"
ACTIONS_BOT_ID = 41898282  # GitHub's id for github-actions[bot]
COMMENT_MAX_CHARS = 65536  # GitHub refuses longer issue/PR comment bodies with 422
DOCS = "https://docs.github.com/rest"
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
_MERGE_METHODS = ("merge", "squash", "rebase")
_DEFAULT_PER_PAGE = 30
_MAX_PER_PAGE = 100


# --------------------------------------------------------------------------------------------
# State (plain mutable records; tests may inspect them, and tweak them if they must)
# --------------------------------------------------------------------------------------------


@dataclass
class FakeUser:
    login: str
    id: int
    name: str | None = None
    email: str | None = None
    type: UserType = "User"
    site_admin: bool = False

    @property
    def noreply_email(self) -> str:
        """GitHub's per-user noreply address, the default commit e-mail of this user."""
        return f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass
class FakeOrg:
    login: str
    id: int
    name: str | None = None
    description: str | None = None


@dataclass
class FakeTeam:
    org: str
    slug: str
    id: int
    name: str
    description: str | None = None
    members: dict[str, MembershipState] = field(default_factory=dict)
    roles: dict[str, TeamRole] = field(default_factory=dict)  # default "member"


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = True
    description: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class FakeCommit:
    sha: str
    author_login: str | None  # None: the author e-mail is linked to no GitHub account
    author_name: str
    author_email: str
    committer_login: str | None
    committer_name: str
    committer_email: str
    message: str
    date: datetime


@dataclass
class FakeReview:
    id: int
    user: str
    state: ReviewState
    commit_id: str | None  # None when GitHub garbage-collected the reviewed commit
    submitted_at: datetime
    body: str = ""


@dataclass
class FakeFile:
    filename: str
    status: FileStatus = "added"
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    previous_filename: str | None = None


@dataclass
class FakeComment:
    id: int
    repo: str  # full name
    number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class FakePull:
    repo: str  # full name
    number: int
    id: int
    title: str
    user: str
    body: str | None
    head_sha: str
    head_ref: str
    base_sha: str
    base_ref: str
    created_at: datetime
    state: Literal["open", "closed"] = "open"
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    merge_method: MergeMethod | None = None
    closed_at: datetime | None = None
    commits: list[FakeCommit] = field(default_factory=list)
    reviews: list[FakeReview] = field(default_factory=list)
    files: list[FakeFile] = field(default_factory=list)


@dataclass(frozen=True)
class Served:
    """One response the fake sent: what the test suite validates against GitHub's OpenAPI."""

    method: str
    path: str  # as requested, with query
    template: str | None  # the OpenAPI path template served; None when no route matched
    status: int
    body: Any  # the JSON exactly as sent (parsed back from the bytes on the wire)


class FakeGitHubError(ValueError):
    """A test set up impossible state (unknown pull request, bad review state, ...)."""


# --------------------------------------------------------------------------------------------
# JSON builders: one small function per GitHub object
# --------------------------------------------------------------------------------------------


def _sha(*parts: object) -> str:
    """A stable, fake 40-hex object id derived from `parts`."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:40]


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_fake{number}"


def _host(base: str) -> str:
    return urlsplit(base).netloc


def simple_user_json(base: str, user: FakeUser | FakeOrg) -> Json:
    """`simple-user`: the user object embedded everywhere."""
    login = quote(user.login, safe="")
    api = f"{base}/users/{login}"
    is_org = isinstance(user, FakeOrg)
    kind = user.type if isinstance(user, FakeUser) else "Organization"
    html = (
        f"{base}/apps/{quote(user.login.removesuffix('[bot]'), safe='')}"
        if kind == "Bot"
        else f"{base}/{login}"
    )
    return {
        "login": user.login,
        "id": user.id,
        "node_id": _node_id("O" if is_org else ("BOT" if kind == "Bot" else "U"), user.id),
        "avatar_url": f"{base}/avatars/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": f"{api}/followers",
        "following_url": api + "/following{/other_user}",
        "gists_url": api + "/gists{/gist_id}",
        "starred_url": api + "/starred{/owner}{/repo}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": api + "/events{/privacy}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": user.site_admin if isinstance(user, FakeUser) else False,
    }


def public_user_json(base: str, user: FakeUser | FakeOrg, public_repos: int) -> Json:
    """`public-user`: GET /users/{username} as another account sees it."""
    name = user.name
    email = user.email if isinstance(user, FakeUser) else None
    return {
        **simple_user_json(base, user),
        "name": name,
        "company": None,
        "blog": None,
        "location": None,
        "email": email,
        "hireable": None,
        "bio": user.description if isinstance(user, FakeOrg) else None,
        "twitter_username": None,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
    }


def organization_json(base: str, org: FakeOrg, public_repos: int) -> Json:
    """`organization-full` (also valid as the `team-organization` inside a team)."""
    login = quote(org.login, safe="")
    api = f"{base}/orgs/{login}"
    out: Json = {
        "login": org.login,
        "id": org.id,
        "node_id": _node_id("O", org.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": api + "/members{/member}",
        "public_members_url": api + "/public_members{/member}",
        "avatar_url": f"{base}/avatars/u/{org.id}?v=4",
        "description": org.description,
        "html_url": f"{base}/{login}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "is_verified": False,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "archived_at": None,
    }
    if org.name is not None:
        out["name"] = org.name
    return out


def team_url(base: str, org: FakeOrg, team: FakeTeam) -> str:
    """GitHub's canonical team URL: outside the documented subset, never served here."""
    return f"{base}/organizations/{org.id}/team/{team.id}"


def team_json(base: str, org: FakeOrg, team: FakeTeam, public_repos: int) -> Json:
    """`team-full`: GET /orgs/{org}/teams/{team_slug}."""
    url = team_url(base, org, team)
    return {
        "id": team.id,
        "node_id": _node_id("T", team.id),
        "url": url,
        "html_url": f"{base}/orgs/{quote(org.login, safe='')}/teams/{quote(team.slug, safe='')}",
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": url + "/members{/member}",
        "repositories_url": f"{url}/repos",
        "type": "organization",
        "organization_id": org.id,
        "parent": None,
        "members_count": sum(1 for s in team.members.values() if s == "active"),
        "repos_count": 0,
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "organization": organization_json(base, org, public_repos),
    }


def team_membership_json(
    base: str, org: FakeOrg, team: FakeTeam, *, login: str, state: MembershipState, role: TeamRole
) -> Json:
    """`team-membership`."""
    return {
        "url": f"{team_url(base, org, team)}/memberships/{quote(login, safe='')}",
        "role": role,
        "state": state,
    }


def _repo_api(base: str, full_name: str) -> str:
    return f"{base}/repos/{full_name}"


def repository_json(base: str, repo: FakeRepo, owner: Json, open_issues: int) -> Json:
    """`repository`: the repository object embedded in pull requests."""
    r = _repo_api(base, repo.full_name)
    html = f"{base}/{repo.full_name}"
    host = _host(base)
    return {
        "id": repo.id,
        "node_id": _node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": owner,
        "html_url": html,
        "description": repo.description,
        "fork": False,
        "url": r,
        "archive_url": r + "/{archive_format}{/ref}",
        "assignees_url": r + "/assignees{/user}",
        "blobs_url": r + "/git/blobs{/sha}",
        "branches_url": r + "/branches{/branch}",
        "collaborators_url": r + "/collaborators{/collaborator}",
        "comments_url": r + "/comments{/number}",
        "commits_url": r + "/commits{/sha}",
        "compare_url": r + "/compare/{base}...{head}",
        "contents_url": r + "/contents/{+path}",
        "contributors_url": f"{r}/contributors",
        "deployments_url": f"{r}/deployments",
        "downloads_url": f"{r}/downloads",
        "events_url": f"{r}/events",
        "forks_url": f"{r}/forks",
        "git_commits_url": r + "/git/commits{/sha}",
        "git_refs_url": r + "/git/refs{/sha}",
        "git_tags_url": r + "/git/tags{/sha}",
        "git_url": f"git://{host}/{repo.full_name}.git",
        "hooks_url": f"{r}/hooks",
        "issue_comment_url": r + "/issues/comments{/number}",
        "issue_events_url": r + "/issues/events{/number}",
        "issues_url": r + "/issues{/number}",
        "keys_url": r + "/keys{/key_id}",
        "labels_url": r + "/labels{/name}",
        "languages_url": f"{r}/languages",
        "merges_url": f"{r}/merges",
        "milestones_url": r + "/milestones{/number}",
        "notifications_url": r + "/notifications{?since,all,participating}",
        "pulls_url": r + "/pulls{/number}",
        "releases_url": r + "/releases{/id}",
        "ssh_url": f"git@{urlsplit(base).hostname}:{repo.full_name}.git",  # scp form: no port
        "stargazers_url": f"{r}/stargazers",
        "statuses_url": r + "/statuses/{sha}",
        "subscribers_url": f"{r}/subscribers",
        "subscription_url": f"{r}/subscription",
        "tags_url": f"{r}/tags",
        "teams_url": f"{r}/teams",
        "trees_url": r + "/git/trees{/sha}",
        "clone_url": f"{html}.git",
        "mirror_url": None,
        "svn_url": html,
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": repo.default_branch,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if repo.private else "public",
        "pushed_at": iso(_EPOCH),
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "permissions": {
            "admin": False, "maintain": False, "push": True, "triage": True, "pull": True
        },
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "license": None,
    }


def full_repository_json(
    base: str, repo: FakeRepo, owner: Json, open_issues: int, organization: Json | None
) -> Json:
    """`full-repository`: GET /repos/{owner}/{repo}."""
    out = repository_json(base, repo, owner, open_issues)
    out.update(
        {
            "network_count": 0,
            "subscribers_count": 0,
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "allow_update_branch": False,
            "delete_branch_on_merge": False,
            "use_squash_pr_title_as_default": False,
            "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
            "squash_merge_commit_message": "COMMIT_MESSAGES",
            "merge_commit_title": "MERGE_MESSAGE",
            "merge_commit_message": "PR_TITLE",
            "custom_properties": {},
        }
    )
    if organization is not None:
        out["organization"] = organization
    return out


def _pull_branch_json(ref: str, sha: str, repo: Json) -> Json:
    return {
        "label": f"{repo['owner']['login']}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": repo["owner"],
        "repo": repo,
    }


def pull_request_simple_json(
    base: str, pull: FakePull, user: Json, repo: Json, author_association: str
) -> Json:
    """`pull-request-simple`: a pull request in a list (e.g. /commits/{sha}/pulls)."""
    full = pull.repo
    api = f"{_repo_api(base, full)}/pulls/{pull.number}"
    issue = f"{_repo_api(base, full)}/issues/{pull.number}"
    html = f"{base}/{full}/pull/{pull.number}"
    statuses = f"{_repo_api(base, full)}/statuses/{pull.head_sha}"
    review_comment = _repo_api(base, full) + "/pulls/comments{/number}"
    updated = max(
        [pull.created_at]
        + [t for t in (pull.merged_at, pull.closed_at) if t is not None]
        + [r.submitted_at for r in pull.reviews]
        + [c.date for c in pull.commits]
    )
    return {
        "url": api,
        "id": pull.id,
        "node_id": _node_id("PR", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": review_comment,
        "comments_url": f"{issue}/comments",
        "statuses_url": statuses,
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user,
        "body": pull.body,
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(pull.created_at),
        "updated_at": iso(updated),
        "closed_at": iso(pull.closed_at) if pull.closed_at else None,
        "merged_at": iso(pull.merged_at) if pull.merged_at else None,
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _pull_branch_json(pull.head_ref, pull.head_sha, repo),
        "base": _pull_branch_json(pull.base_ref, pull.base_sha, repo),
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": review_comment},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": author_association,
        "auto_merge": None,
        "draft": False,
    }


def pull_request_json(
    base: str,
    pull: FakePull,
    user: Json,
    repo: Json,
    author_association: str,
    *,
    merged_by: Json | None,
    comment_count: int,
) -> Json:
    """`pull-request`: GET /repos/{owner}/{repo}/pulls/{pull_number}."""
    out = pull_request_simple_json(base, pull, user, repo, author_association)
    is_open = pull.state == "open"
    out.update(
        {
            "merged": pull.merged,
            "mergeable": True if is_open else None,
            "rebaseable": True if is_open else None,
            "mergeable_state": "clean" if is_open else "unknown",
            "merged_by": merged_by,
            "comments": comment_count,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(pull.commits),
            "additions": sum(f.additions for f in pull.files),
            "deletions": sum(f.deletions for f in pull.files),
            "changed_files": len(pull.files),
        }
    )
    return out


def review_json(
    base: str, pull: FakePull, review: FakeReview, user: Json, author_association: str
) -> Json:
    """`pull-request-review`."""
    html = f"{base}/{pull.repo}/pull/{pull.number}#pullrequestreview-{review.id}"
    pull_api = f"{_repo_api(base, pull.repo)}/pulls/{pull.number}"
    return {
        "id": review.id,
        "node_id": _node_id("PRR", review.id),
        "user": user,
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_api,
        "author_association": author_association,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
        "submitted_at": iso(review.submitted_at),
        "commit_id": review.commit_id,
    }


def commit_json(
    base: str,
    full_name: str,
    commit: FakeCommit,
    *,
    parents: Sequence[str],
    author: Json | None,
    committer: Json | None,
) -> Json:
    """`commit`: an entry of GET /repos/{owner}/{repo}/pulls/{pull_number}/commits."""
    r = _repo_api(base, full_name)
    tree = _sha("tree", commit.sha)
    return {
        "url": f"{r}/commits/{commit.sha}",
        "sha": commit.sha,
        "node_id": f"C_fake{commit.sha[:12]}",
        "html_url": f"{base}/{full_name}/commit/{commit.sha}",
        "comments_url": f"{r}/commits/{commit.sha}/comments",
        "commit": {
            "url": f"{r}/git/commits/{commit.sha}",
            "author": {
                "name": commit.author_name,
                "email": commit.author_email,
                "date": iso(commit.date),
            },
            "committer": {
                "name": commit.committer_name,
                "email": commit.committer_email,
                "date": iso(commit.date),
            },
            "message": commit.message,
            "tree": {"sha": tree, "url": f"{r}/git/trees/{tree}"},
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": author,
        "committer": committer,
        "parents": [
            {"sha": p, "url": f"{r}/commits/{p}", "html_url": f"{base}/{full_name}/commit/{p}"}
            for p in parents
        ],
    }


def diff_entry_json(base: str, full_name: str, head_sha: str, entry: FakeFile) -> Json:
    """`diff-entry`: an entry of GET /repos/{owner}/{repo}/pulls/{pull_number}/files."""
    path = quote(entry.filename)
    out: Json = {
        "sha": _sha("blob", head_sha, entry.filename),
        "filename": entry.filename,
        "status": entry.status,
        "additions": entry.additions,
        "deletions": entry.deletions,
        "changes": entry.additions + entry.deletions,
        "blob_url": f"{base}/{full_name}/blob/{head_sha}/{path}",
        "raw_url": f"{base}/{full_name}/raw/{head_sha}/{path}",
        "contents_url": f"{_repo_api(base, full_name)}/contents/{path}?ref={head_sha}",
    }
    if entry.patch is not None:
        out["patch"] = entry.patch
    if entry.previous_filename is not None:
        out["previous_filename"] = entry.previous_filename
    return out


def issue_comment_json(
    base: str, comment: FakeComment, user: Json, author_association: str
) -> Json:
    """`issue-comment`."""
    r = _repo_api(base, comment.repo)
    url = f"{r}/issues/comments/{comment.id}"
    return {
        "id": comment.id,
        "node_id": _node_id("IC", comment.id),
        "url": url,
        "html_url": f"{base}/{comment.repo}/pull/{comment.number}#issuecomment-{comment.id}",
        "issue_url": f"{r}/issues/{comment.number}",
        "body": comment.body,
        "user": user,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "author_association": author_association,
        "performed_via_github_app": None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "confused": 0,
            "heart": 0,
            "hooray": 0,
            "eyes": 0,
            "rocket": 0,
        },
    }


def error_json(status: int, message: str, documentation_url: str = DOCS) -> Json:
    """`basic-error`: GitHub's error body for 401/403/404/..."""
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def validation_error_json(message: str, errors: Sequence[Json] = ()) -> Json:
    """`validation-error`: GitHub's 422 body."""
    out: Json = {"message": message, "documentation_url": DOCS}
    if errors:
        out["errors"] = list(errors)
    return out


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()
    paginate: bool = False  # body is the whole list; slice it by per_page/page


class _NotFound(Exception):
    pass


@dataclass(frozen=True)
class _Request:
    method: str
    target: str  # path and query, as requested
    path: str
    query: dict[str, str]
    route: Route | None
    params: dict[str, str]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # exactly the OpenAPI path template
    pattern: re.Pattern[str]
    handler: str  # name of a FakeGitHub method


_NUMERIC = {"pull_number", "issue_number", "comment_id"}


def _route(method: str, template: str, handler: str) -> Route:
    def group(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"(?P<{name}>\\d+)" if name in _NUMERIC else f"(?P<{name}>[^/]+)"

    regex = re.sub(r"\\\{(\w+)\\\}", group, re.escape(template))
    return Route(method, template, re.compile(f"^{regex}$"), handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/repos/{owner}/{repo}", "_get_repo"),
    _route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", "_get_pull"),
    _route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "_list_reviews"),
    _route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits", "_list_commits"),
    _route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", "_list_files"),
    _route("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls", "_list_commit_pulls"),
    _route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "_list_comments"),
    _route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "_create_comment"),
    _route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "_update_comment"),
    _route("GET", "/orgs/{org}", "_get_org"),
    _route("GET", "/orgs/{org}/teams/{team_slug}", "_get_team"),
    _route("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}", "_get_membership"),
    _route("GET", "/users/{username}", "_get_user"),
)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `fake.served` instead

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        status, headers, payload = self.server.fake.handle(
            method, self.path, self.headers.get("Authorization"), raw
        )
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeGitHub:
    """The fake GitHub. Set state from Python, `start()`, point PyGithub at `.url`, `stop()`.

    Tokens: every request needs `Authorization: token X` or `Bearer X` (401 otherwise). Any
    token is accepted and acts as `github-actions[bot]` unless `set_token` says otherwise;
    tokens in `read_only_tokens` get 403 on POST/PATCH, like a fork's `GITHUB_TOKEN`.
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.served: list[Served] = []
        self.errors: list[str] = []  # tracebacks of the fake's own bugs (served as 500)
        self.read_only_tokens: set[str] = set()
        self.token_users: dict[str, str] = {}
        self.users: dict[str, FakeUser] = {}
        self.orgs: dict[str, FakeOrg] = {}
        self.teams: dict[tuple[str, str], FakeTeam] = {}
        self.repos: dict[str, FakeRepo] = {}
        self.pulls: dict[tuple[str, int], FakePull] = {}
        self._comments: dict[int, FakeComment] = {}
        self._associations: dict[tuple[str, str], list[int]] = {}
        self._next_number: dict[str, int] = {}
        self._ids = 1000
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        if self._server is not None:
            raise RuntimeError("the fake GitHub is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL, e.g. `http://127.0.0.1:PORT` (use as PyGithub `base_url`)."""
        if self._server is None:
            raise RuntimeError("the fake GitHub is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state: accounts ------------------------------------------------------------------

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        type: UserType = "User",
        site_admin: bool = False,
    ) -> FakeUser:
        with self._lock:
            if login.lower() in self.orgs:
                raise FakeGitHubError(f"{login!r} is an organization")
            user_id = ACTIONS_BOT_ID if login == ACTIONS_BOT else self._new_id()
            user = FakeUser(login, user_id, name, email, type, site_admin)
            self.users[login.lower()] = user
            return user

    def user(self, login: str) -> FakeUser:
        """The user `login`, created on first mention (bots end in `[bot]`)."""
        with self._lock:
            found = self.users.get(login.lower())
            if found is None:
                kind: UserType = "Bot" if login.endswith("[bot]") else "User"
                found = self.add_user(login, type=kind)
            return found

    def add_org(
        self, login: str, *, name: str | None = None, description: str | None = None
    ) -> FakeOrg:
        with self._lock:
            if login.lower() in self.users:
                raise FakeGitHubError(f"{login!r} is a user")
            org = self.orgs.get(login.lower())
            if org is None:
                org = FakeOrg(login, self._new_id(), name, description)
                self.orgs[login.lower()] = org
            return org

    def add_team(
        self,
        org: str,
        slug: str,
        members: Mapping[str, MembershipState] | None = None,
        *,
        name: str | None = None,
        maintainers: Iterable[str] = (),
    ) -> FakeTeam:
        """Add team `org/slug` (creating the org) with `{login: "active"|"pending"}`."""
        with self._lock:
            found = self.add_org(org)
            team = FakeTeam(found.login, slug, self._new_id(), name or slug)
            self.teams[(org.lower(), slug.lower())] = team
            for login, state in (members or {}).items():
                self.set_membership(org, slug, login, state)
            for login in maintainers:
                team.roles[login] = "maintainer"
            return team

    def set_membership(
        self, org: str, slug: str, login: str, state: MembershipState | None
    ) -> None:
        """Make `login` an active or pending member of the team, or (None) remove them."""
        with self._lock:
            team = self._team(org, slug)
            if state is None:
                team.members.pop(login, None)
                return
            if state not in ("active", "pending"):
                raise FakeGitHubError(f"membership state must be active or pending, not {state!r}")
            self.user(login)
            team.members[login] = state

    def set_token(self, token: str, *, login: str = ACTIONS_BOT, read_only: bool = False) -> None:
        """Requests with `token` act as `login`; `read_only` ones get 403 on POST/PATCH."""
        with self._lock:
            self.user(login)
            self.token_users[token] = login
            if read_only:
                self.read_only_tokens.add(token)
            else:
                self.read_only_tokens.discard(token)

    # -- state: repositories and pull requests --------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = True,
        description: str | None = None,
    ) -> FakeRepo:
        """Add `owner/name`; the owner is the user of that login, else an organization."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise FakeGitHubError(f"repository must be owner/name, not {full_name!r}")
        with self._lock:
            if owner.lower() not in self.users:
                owner = self.add_org(owner).login
            else:
                owner = self.users[owner.lower()].login
            repo = FakeRepo(owner, name, self._new_id(), default_branch, private, description)
            self.repos[repo.full_name.lower()] = repo
            self._next_number.setdefault(repo.full_name.lower(), 1)
            return repo

    def _repo(self, repo: str | None) -> FakeRepo:
        if repo is None:
            if len(self.repos) != 1:
                raise FakeGitHubError(
                    f"say which repository (there are {len(self.repos)}): pass repo='owner/name'"
                )
            return next(iter(self.repos.values()))
        found = self.repos.get(repo.lower())
        if found is None:
            raise FakeGitHubError(f"no repository {repo!r}: add_repo() it first")
        return found

    def pull(self, number: int, *, repo: str | None = None) -> FakePull:
        """The live pull-request record (tests may inspect or adjust it)."""
        with self._lock:
            full = self._repo(repo).full_name
            found = self.pulls.get((full.lower(), number))
            if found is None:
                raise FakeGitHubError(f"no pull request #{number} in {full}")
            return found

    def open_pull(
        self,
        *,
        author: str,
        head_sha: str,
        base_sha: str,
        head_ref: str = "request",
        base_ref: str | None = None,
        title: str = "Access request",
        body: str | None = None,
        created_at: datetime | None = None,
        number: int | None = None,
        repo: str | None = None,
    ) -> int:
        """Open a pull request; returns its number (issue numbers are shared with it)."""
        with self._lock:
            found = self._repo(repo)
            key = found.full_name.lower()
            if number is None:
                number = self._next_number[key]
            if (key, number) in self.pulls:
                raise FakeGitHubError(f"pull request #{number} already exists")
            self._next_number[key] = max(self._next_number[key], number + 1)
            self.user(author)
            self.pulls[(key, number)] = FakePull(
                repo=found.full_name,
                number=number,
                id=self._new_id(),
                title=title,
                user=author,
                body=body,
                head_sha=head_sha,
                head_ref=head_ref,
                base_sha=base_sha,
                base_ref=base_ref or found.default_branch,
                created_at=_utc(created_at) if created_at else self.clock(),
            )
            return number

    def add_commit_to_pull(
        self,
        number: int,
        sha: str,
        *,
        author: str | None,
        message: str = "Request access",
        committer: str | None = None,
        co_authors: Sequence[str] = (),
        author_name: str | None = None,
        author_email: str | None = None,
        committer_name: str | None = None,
        committer_email: str | None = None,
        date: datetime | None = None,
        move_head: bool = True,
        repo: str | None = None,
    ) -> FakeCommit:
        """Push a commit to the PR (it becomes the head unless `move_head=False`).

        `author=None` is a commit whose e-mail maps to no GitHub account (then give
        `author_name`/`author_email`). `committer` defaults to the author. `co_authors` are
        logins appended as `Co-authored-by:` trailers (with their noreply e-mail unless the
        user has an e-mail set), as GitHub writes them.
        """
        with self._lock:
            pull = self.pull(number, repo=repo)
            a_user = self.user(author) if author else None
            c_login = committer if committer is not None else author
            c_user = self.user(c_login) if c_login else None
            if co_authors:
                trailers = []
                for login in co_authors:
                    co = self.user(login)
                    trailers.append(
                        f"Co-authored-by: {co.name or co.login} <{co.email or co.noreply_email}>"
                    )
                message = message.rstrip("\n") + "\n\n" + "\n".join(trailers)
            commit = FakeCommit(
                sha=sha,
                author_login=a_user.login if a_user else None,
                author_name=author_name or (a_user.name or a_user.login if a_user else "Someone"),
                author_email=author_email
                or (a_user.email or a_user.noreply_email if a_user else "someone@example.com"),
                committer_login=c_user.login if c_user else None,
                committer_name=committer_name
                or (c_user.name or c_user.login if c_user else author_name or "Someone"),
                committer_email=committer_email
                or (
                    c_user.email or c_user.noreply_email
                    if c_user
                    else author_email or "someone@example.com"
                ),
                message=message,
                date=_utc(date) if date else self.clock(),
            )
            pull.commits.append(commit)
            if move_head:
                pull.head_sha = sha
            self._associate(pull.repo, sha, number)
            return commit

    def add_file_to_pull(
        self,
        number: int,
        filename: str,
        *,
        status: FileStatus = "added",
        additions: int = 0,
        deletions: int = 0,
        patch: str | None = None,
        previous_filename: str | None = None,
        repo: str | None = None,
    ) -> None:
        with self._lock:
            self.pull(number, repo=repo).files.append(
                FakeFile(filename, status, additions, deletions, patch, previous_filename)
            )

    def add_review(
        self,
        number: int,
        user: str,
        state: ReviewState,
        *,
        commit_id: str | None = "",
        submitted_at: datetime | None = None,
        body: str = "",
        repo: str | None = None,
    ) -> int:
        """Submit a review; `commit_id` defaults to the PR's current head. Returns its id."""
        if state not in _REVIEW_STATES:
            raise FakeGitHubError(f"review state must be one of {_REVIEW_STATES}, not {state!r}")
        with self._lock:
            pull = self.pull(number, repo=repo)
            self.user(user)
            review = FakeReview(
                id=self._new_id(),
                user=user,
                state=state,
                commit_id=pull.head_sha if commit_id == "" else commit_id,
                submitted_at=_utc(submitted_at) if submitted_at else self.clock(),
                body=body,
            )
            pull.reviews.append(review)
            # GitHub lists reviews chronologically
            pull.reviews.sort(key=lambda r: (r.submitted_at, r.id))
            return review.id

    def merge_pull(
        self,
        number: int,
        merge_commit_sha: str,
        method: MergeMethod = "merge",
        *,
        merged_by: str | None = None,
        merged_at: datetime | None = None,
        rebased_shas: Sequence[str] = (),
        repo: str | None = None,
    ) -> None:
        """Merge an open PR. `merge_commit_sha` is the merge commit (merge), the squashed
        commit (squash) or the last rebased commit (rebase; list every rebased commit in
        `rebased_shas`). Those commits then lead back to this PR in /commits/{sha}/pulls.
        """
        if method not in _MERGE_METHODS:
            raise FakeGitHubError(f"merge method must be one of {_MERGE_METHODS}")
        with self._lock:
            pull = self.pull(number, repo=repo)
            if pull.state != "open":
                raise FakeGitHubError(f"pull request #{number} is not open")
            when = _utc(merged_at) if merged_at else self.clock()
            pull.state = "closed"
            pull.merged = True
            pull.merged_at = pull.closed_at = when
            pull.merged_by = self.user(merged_by or pull.user).login
            pull.merge_commit_sha = merge_commit_sha
            pull.merge_method = method
            for sha in [*rebased_shas, merge_commit_sha]:
                self._associate(pull.repo, sha, number)

    def close_pull(
        self, number: int, *, closed_at: datetime | None = None, repo: str | None = None
    ) -> None:
        """Close a PR without merging it."""
        with self._lock:
            pull = self.pull(number, repo=repo)
            pull.state = "closed"
            pull.closed_at = _utc(closed_at) if closed_at else self.clock()

    def associate_commit(self, sha: str, pull_number: int, *, repo: str | None = None) -> None:
        """Make GET /commits/{sha}/pulls list this PR (merges and PR commits do it already)."""
        with self._lock:
            self._associate(self.pull(pull_number, repo=repo).repo, sha, pull_number)

    def _associate(self, full_name: str, sha: str, number: int) -> None:
        numbers = self._associations.setdefault((full_name.lower(), sha), [])
        if number not in numbers:
            numbers.append(number)

    # -- state: comments ------------------------------------------------------------------

    def add_comment(
        self,
        number: int,
        body: str,
        *,
        user: str = ACTIONS_BOT,
        created_at: datetime | None = None,
        repo: str | None = None,
    ) -> int:
        """Seed an existing comment (e.g. a sticky comment from an earlier run)."""
        with self._lock:
            pull = self.pull(number, repo=repo)
            return self._new_comment(pull, self.user(user).login, body, created_at).id

    def comments(self, number: int, *, repo: str | None = None) -> list[FakeComment]:
        """The PR's issue comments, oldest first."""
        with self._lock:
            pull = self.pull(number, repo=repo)
            return [
                c
                for c in sorted(self._comments.values(), key=lambda c: c.id)
                if c.repo == pull.repo and c.number == number
            ]

    def _new_comment(
        self, pull: FakePull, login: str, body: str, when: datetime | None = None
    ) -> FakeComment:
        at = _utc(when) if when else self.clock()
        comment = FakeComment(self._new_id(), pull.repo, pull.number, login, body, at, at)
        self._comments[comment.id] = comment
        return comment

    # -- HTTP -----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, authorization: str | None, raw: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request: (status, headers, body bytes). Records it in `served`."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query))
        route, params = _match(method, path)
        request = _Request(method, target, parts.path, query, route, params)
        try:
            with self._lock:
                reply = self._answer(request, authorization, raw)
            return self._send(request, reply)
        except Exception:  # a bug in the fake: make it loud, never a plausible answer
            self.errors.append(traceback.format_exc())
            reply = _Reply(500, error_json(500, "the fake GitHub failed; see fake.errors"))
            return self._send(request, reply)

    def _answer(self, request: _Request, authorization: str | None, raw: bytes) -> _Reply:
        route, method = request.route, request.method
        token = _token(authorization)
        if token is None:
            return _Reply(401, error_json(401, "Requires authentication"))
        if route is None:
            return _Reply(404, error_json(404, "Not Found"))
        login = self.token_users.get(token, ACTIONS_BOT)
        if method in ("POST", "PATCH") and token in self.read_only_tokens:
            return _Reply(403, error_json(403, "Resource not accessible by integration"))
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _Reply(400, error_json(400, "Problems parsing JSON"))
        handler: Callable[..., _Reply] = getattr(self, route.handler)
        try:
            return handler(params=request.params, query=request.query, body=body, login=login)
        except _NotFound:
            return _Reply(404, error_json(404, "Not Found"))

    def _send(self, request: _Request, reply: _Reply) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-GitHub-Api-Version-Selected", "2022-11-28"),
            *reply.headers,
        ]
        body = reply.body
        if reply.paginate:
            body, link = self._paginate(request.path, request.query, body)
            if link:
                headers.append(("Link", link))
        payload = json.dumps(body).encode()
        template = request.route.template if request.route else None
        record = Served(request.method, request.target, template, reply.status, json.loads(payload))
        with self._lock:
            self.served.append(record)
        return reply.status, headers, payload

    def _paginate(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[Any, str]:
        per_page = _int(query.get("per_page"), _DEFAULT_PER_PAGE)
        per_page = min(max(per_page, 1), _MAX_PER_PAGE)
        page = max(_int(query.get("page"), 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)

        def link(to: int) -> str:
            q = {**query, "per_page": str(per_page), "page": str(to)}
            return f"<{self.url}{path}?{urlencode(q)}>"

        links = []
        if page < last:
            links += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            links += [f'{link(1)}; rel="first"', f'{link(min(page - 1, last))}; rel="prev"']
        start = (page - 1) * per_page
        return items[start : start + per_page], ", ".join(links)

    # -- rendering with lookups -----------------------------------------------------------

    def _account(self, login: str) -> FakeUser | FakeOrg:
        return self.orgs.get(login.lower()) or self.user(login)

    def _user_json(self, login: str) -> Json:
        return simple_user_json(self.url, self._account(login))

    def _association(self, repo: FakeRepo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        org = repo.owner.lower()
        for (team_org, _), team in self.teams.items():
            if team_org == org and team.members.get(login) == "active":
                return "MEMBER"
        return "NONE"

    def _repo_json(self, repo: FakeRepo, *, full: bool = False) -> Json:
        owner = self._user_json(repo.owner)
        open_count = sum(
            1 for (key, _), p in self.pulls.items()
            if key == repo.full_name.lower() and p.state == "open"
        )
        if not full:
            return repository_json(self.url, repo, owner, open_count)
        org = self.orgs.get(repo.owner.lower())
        return full_repository_json(
            self.url, repo, owner, open_count,
            organization=owner if org is not None else None,
        )

    def _pull_simple_json(self, pull: FakePull) -> Json:
        repo = self._repo(pull.repo)
        return pull_request_simple_json(
            self.url, pull, self._user_json(pull.user), self._repo_json(repo),
            self._association(repo, pull.user),
        )

    def _comment_json(self, comment: FakeComment) -> Json:
        repo = self._repo(comment.repo)
        return issue_comment_json(
            self.url, comment, self._user_json(comment.user),
            self._association(repo, comment.user),
        )

    def _public_repos(self, owner: str) -> int:
        return sum(
            1 for r in self.repos.values() if r.owner.lower() == owner.lower() and not r.private
        )

    # -- lookups for routes (raise _NotFound) ---------------------------------------------

    def _route_repo(self, params: Mapping[str, str]) -> FakeRepo:
        found = self.repos.get(f"{params['owner']}/{params['repo']}".lower())
        if found is None:
            raise _NotFound
        return found

    def _route_pull(self, params: Mapping[str, str], key: str = "pull_number") -> FakePull:
        repo = self._route_repo(params)
        found = self.pulls.get((repo.full_name.lower(), int(params[key])))
        if found is None:
            raise _NotFound
        return found

    def _team(self, org: str, slug: str) -> FakeTeam:
        found = self.teams.get((org.lower(), slug.lower()))
        if found is None:
            raise FakeGitHubError(f"no team {org}/{slug}: add_team() it first")
        return found

    # -- route handlers -------------------------------------------------------------------

    def _get_repo(self, *, params: dict[str, str], **_: Any) -> _Reply:
        return _Reply(200, self._repo_json(self._route_repo(params), full=True))

    def _get_pull(self, *, params: dict[str, str], **_: Any) -> _Reply:
        pull = self._route_pull(params)
        repo = self._repo(pull.repo)
        return _Reply(
            200,
            pull_request_json(
                self.url, pull, self._user_json(pull.user), self._repo_json(repo),
                self._association(repo, pull.user),
                merged_by=self._user_json(pull.merged_by) if pull.merged_by else None,
                comment_count=len(self.comments(pull.number, repo=pull.repo)),
            ),
        )

    def _list_reviews(self, *, params: dict[str, str], **_: Any) -> _Reply:
        pull = self._route_pull(params)
        repo = self._repo(pull.repo)
        items = [
            review_json(self.url, pull, r, self._user_json(r.user), self._association(repo, r.user))
            for r in pull.reviews
        ]
        return _Reply(200, items, paginate=True)

    def _list_commits(self, *, params: dict[str, str], **_: Any) -> _Reply:
        pull = self._route_pull(params)
        items = []
        parent = pull.base_sha
        for c in pull.commits:
            items.append(
                commit_json(
                    self.url, pull.repo, c, parents=[parent],
                    author=self._user_json(c.author_login) if c.author_login else None,
                    committer=self._user_json(c.committer_login) if c.committer_login else None,
                )
            )
            parent = c.sha
        return _Reply(200, items, paginate=True)

    def _list_files(self, *, params: dict[str, str], **_: Any) -> _Reply:
        pull = self._route_pull(params)
        items = [diff_entry_json(self.url, pull.repo, pull.head_sha, f) for f in pull.files]
        return _Reply(200, items, paginate=True)

    def _list_commit_pulls(self, *, params: dict[str, str], **_: Any) -> _Reply:
        # GitHub: for a commit on the default branch, the merged PR(s) that introduced it;
        # otherwise the open and merged PRs containing it. Unknown commits: an empty list.
        repo = self._route_repo(params)
        numbers = self._associations.get((repo.full_name.lower(), params["commit_sha"]), [])
        pulls = [self.pulls[(repo.full_name.lower(), n)] for n in numbers]
        merged = [p for p in pulls if p.merged]
        items = [self._pull_simple_json(p) for p in (merged or pulls)]
        return _Reply(200, items, paginate=True)

    def _list_comments(self, *, params: dict[str, str], **_: Any) -> _Reply:
        pull = self._route_pull(params, "issue_number")
        items = [self._comment_json(c) for c in self.comments(pull.number, repo=pull.repo)]
        return _Reply(200, items, paginate=True)

    def _comment_body(self, body: Any) -> str | _Reply:
        if not isinstance(body, dict) or "body" not in body:
            message = 'Invalid request.\n\n"body" wasn\'t supplied.'
            return _Reply(422, validation_error_json(message))
        text = body["body"]
        if not isinstance(text, str):
            return _Reply(422, validation_error_json("Invalid request.\n\nFor 'properties/body', "
                                                     f"{json.dumps(text)} is not a string."))
        if len(text) > COMMENT_MAX_CHARS:
            return _Reply(
                422,
                validation_error_json(
                    "Validation Failed",
                    [{
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {COMMENT_MAX_CHARS} characters)",
                    }],
                ),
            )
        return text

    def _create_comment(self, *, params: dict[str, str], body: Any, login: str, **_: Any) -> _Reply:
        pull = self._route_pull(params, "issue_number")
        text = self._comment_body(body)
        if isinstance(text, _Reply):
            return text
        comment = self._new_comment(pull, login, text)
        out = self._comment_json(comment)
        return _Reply(201, out, headers=(("Location", out["url"]),))

    def _update_comment(self, *, params: dict[str, str], body: Any, **_: Any) -> _Reply:
        repo = self._route_repo(params)
        comment = self._comments.get(int(params["comment_id"]))
        if comment is None or comment.repo != repo.full_name:
            raise _NotFound
        text = self._comment_body(body)
        if isinstance(text, _Reply):
            return text
        comment.body = text
        comment.updated_at = max(self.clock(), comment.created_at)
        return _Reply(200, self._comment_json(comment))

    def _get_org(self, *, params: dict[str, str], **_: Any) -> _Reply:
        org = self.orgs.get(params["org"].lower())
        if org is None:
            raise _NotFound
        return _Reply(200, organization_json(self.url, org, self._public_repos(org.login)))

    def _get_team(self, *, params: dict[str, str], **_: Any) -> _Reply:
        org = self.orgs.get(params["org"].lower())
        team = self.teams.get((params["org"].lower(), params["team_slug"].lower()))
        if org is None or team is None:
            raise _NotFound
        return _Reply(200, team_json(self.url, org, team, self._public_repos(org.login)))

    def _get_membership(self, *, params: dict[str, str], **_: Any) -> _Reply:
        org = self.orgs.get(params["org"].lower())
        team = self.teams.get((params["org"].lower(), params["team_slug"].lower()))
        if org is None or team is None:
            raise _NotFound
        wanted = params["username"].lower()
        for login, state in team.members.items():
            if login.lower() == wanted:
                role = team.roles.get(login, "member")
                out = team_membership_json(self.url, org, team, login=login, state=state, role=role)
                return _Reply(200, out)
        raise _NotFound

    def _get_user(self, *, params: dict[str, str], **_: Any) -> _Reply:
        login = params["username"].lower()
        account: FakeUser | FakeOrg | None = self.users.get(login) or self.orgs.get(login)
        if account is None:
            raise _NotFound
        return _Reply(200, public_user_json(self.url, account, self._public_repos(account.login)))


def _match(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        if route.method != method:
            continue
        m = route.pattern.match(path)
        if m:
            return route, {k: unquote(v) for k, v in m.groupdict().items()}
    return None, {}


def _token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in ("token", "bearer") or not token:
        return None
    return token


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise FakeGitHubError(f"{at!r} has no time zone: use an aware UTC datetime")
    return at.astimezone(UTC).replace(microsecond=0)
