"""The one GitHub adapter: PyGithub in, plain jitflow values out.

Only this module imports `github`; commands import this module lazily (inside `run`), so
`jitflow validate` and `jitflow plan` never load PyGithub. No PyGithub object leaves this module.
Every failure becomes a `jitflow.errors.GitHubError` with a message for a person.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jitflow.approvals import OpenPull, PullFacts, PullSummary, Review
from jitflow.doctor.facts import (
    PERMISSION_ORDER,
    Environment,
    Protection,
    RepositoryFacts,
    Rule,
    Ruleset,
    TeamFacts,
)
from jitflow.errors import ConfigError, GitHubError

if TYPE_CHECKING:
    from github.Repository import Repository
    from urllib3.util.retry import Retry

__all__ = [
    "COMMENT_LIMIT",
    "STICKY_MARKER",
    "GitHubClient",
    "GitHubHttpError",
    "PullSummary",
    "contributors_of",
    "truncate_comment",
]

DEFAULT_API_URL = "https://api.github.com"
STICKY_MARKER = "<!-- jitflow:check -->"
COMMENT_LIMIT = 65_536  # GitHub refuses longer issue and PR comment bodies (422)
ACTIONS_BOT = "github-actions[bot]"
# GitHub lists at most this many commits of a pull request; beyond it authorship is unknowable.
PULL_COMMITS_LISTED = 250
TIMEOUT_SECONDS = 15
TRUNCATION_NOTE = (
    "\n\n> [!NOTE]\n> This comment was cut at GitHub's {limit:,}-character limit: "
    "the full report is in the job summary of this check run.\n"
)

_NEXT_PAGE = re.compile(r'<(?P<url>[^>]+)>;\s*rel="next"')
REPOSITORY_MEDIA_TYPE = "application/vnd.github.v3.repository+json"
_CO_AUTHOR = re.compile(r"^\s*co-authored-by:\s*(?P<name>[^<]*?)\s*<(?P<email>[^>]*)>\s*$", re.I)
_NOREPLY = re.compile(r"^(?:\d+\+)?(?P<login>[^@+]+)@users\.noreply\.github\.com$", re.I)


def _default_retry() -> Retry:
    from urllib3.util.retry import Retry  # noqa: PLC0415

    # A CLI in a workflow: a few quick retries of idempotent reads on 5xx, never a POST or
    # PATCH (a retried comment could post twice), and no minutes-long backoff.
    return Retry(
        total=3,
        backoff_factor=0.5,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )


def _stderr_warning(message: str) -> None:
    print(f"jitflow: warning: {message}", file=sys.stderr)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


def _login_of_email(email: str) -> str | None:
    found = _NOREPLY.match(email.strip())
    return found.group("login").lower() if found else None


def contributors_of(
    commits: list[tuple[str | None, str | None, str, str, str, str, str]],
) -> frozenset[str]:
    """Everyone who wrote part of a PR, lower-cased, from its commits.

    Each commit is (author login, committer login, author name, author e-mail, committer name,
    committer e-mail, message). Logins come from GitHub's accounts and from noreply e-mails;
    identities GitHub cannot map (plain e-mails, names in Co-authored-by trailers) are kept as
    they are, lower-cased: a reviewer matching any of them does not count (fail closed).
    """
    found: set[str] = set()

    def identity(name: str, email: str) -> None:
        login = _login_of_email(email)
        if login:
            found.add(login)
        found.update(part.strip().lower() for part in (name, email) if part.strip())

    for a_login, c_login, a_name, a_email, c_name, c_email, message in commits:
        found.update(login.lower() for login in (a_login, c_login) if login)
        if not a_login:
            identity(a_name, a_email)
        if not c_login:
            identity(c_name, c_email)
        for mapped in (_login_of_email(a_email), _login_of_email(c_email)):
            if mapped:
                found.add(mapped)
        for line in message.splitlines():
            trailer = _CO_AUTHOR.match(line)
            if trailer:
                identity(trailer.group("name"), trailer.group("email"))
    return frozenset(found)


def truncate_comment(body: str, limit: int = COMMENT_LIMIT) -> str:
    """`body` if it fits; otherwise cut on a line boundary, close an open code fence, add a note."""
    if len(body) <= limit:
        return body
    note = TRUNCATION_NOTE.format(limit=limit)
    room = limit - len(note) - len("\n```")
    kept = body[:room]
    cut = kept.rfind("\n")
    kept = kept[:cut] if cut > 0 else kept
    # An unclosed ``` would swallow the note into a code block.
    fences = sum(1 for line in kept.splitlines() if line.lstrip().startswith("```"))
    if fences % 2:
        kept += "\n```"
    return kept + note


@dataclass(frozen=True)
class _Commit:
    author_login: str | None
    committer_login: str | None
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    message: str


class GitHubHttpError(GitHubError):
    """GitHub answered with an HTTP error; `status` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class GitHubClient:
    """Typed access to the handful of GitHub endpoints jitflow uses, for one repository."""

    def __init__(
        self,
        repository: str,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: int = TIMEOUT_SECONDS,
        retry: Retry | int | None = None,
        comment_author: str | None = ACTIONS_BOT,
        warn: Callable[[str], None] = _stderr_warning,
        pace: bool = True,
        teams_token: str | None = None,
    ) -> None:
        """`comment_author`: whose comments may be the sticky one (None: anyone's).
        `pace`: keep PyGithub's spacing between calls (0.25 s, 1 s between writes), which
        GitHub's secondary rate limits ask for; tests against a local fake turn it off.
        `teams_token`: a token that can read organisation team memberships (the Actions
        `GITHUB_TOKEN` cannot); used for team look-ups only.
        """
        from github import Auth, Consts, Github  # noqa: PLC0415

        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"GITHUB_REPOSITORY must be owner/name, not {repository!r}")
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.comment_author = comment_author
        self.warn = warn
        def connect(secret: str | None) -> Github:
            return Github(
                base_url=self.api_url,
                auth=Auth.Token(secret) if secret else None,
                timeout=timeout,
                retry=retry if retry is not None else _default_retry(),
                per_page=100,
                lazy=True,  # build objects from URLs without fetching them first
                seconds_between_requests=Consts.DEFAULT_SECONDS_BETWEEN_REQUESTS if pace else None,
                seconds_between_writes=Consts.DEFAULT_SECONDS_BETWEEN_WRITES if pace else None,
            )

        self._github = connect(token)
        self._teams_github = connect(teams_token) if teams_token else self._github
        # True with a token of its own for teams: GITHUB_TOKEN cannot read an org's teams.
        self.reads_teams = bool(teams_token)
        self._membership: dict[tuple[str, str, str], bool] = {}
        self._teams: dict[tuple[str, str], bool | None] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> GitHubClient:
        """From the GitHub Actions variables `GITHUB_REPOSITORY`, `GITHUB_TOKEN`, `GITHUB_API_URL`;
        `JITFLOW_COMMENT_AUTHOR` names the sticky comment's author when not github-actions[bot];
        `JITFLOW_TEAMS_TOKEN` is used for team membership look-ups when set;
        `JITFLOW_GITHUB_PACE=0` turns PyGithub's pacing off (for a local stand-in only).
        """
        env = os.environ if environ is None else environ
        repository = env.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise ConfigError("GITHUB_REPOSITORY is not set: it names the owner/repository")
        if "JITFLOW_COMMENT_AUTHOR" in env and "comment_author" not in options:
            options["comment_author"] = env["JITFLOW_COMMENT_AUTHOR"] or None
        if env.get("JITFLOW_TEAMS_TOKEN") and "teams_token" not in options:
            options["teams_token"] = env["JITFLOW_TEAMS_TOKEN"]
        if env.get("JITFLOW_GITHUB_PACE") == "0" and "pace" not in options:
            # Only for a local GitHub stand-in (tests, `jitflow demo`): api.github.com asks
            # clients to space their calls, and PyGithub's default pacing does that.
            options["pace"] = False
        return cls(
            repository,
            env.get("GITHUB_TOKEN") or None,
            env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            **options,
        )

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn PyGithub and transport failures into GitHubError naming what was attempted."""
        from github import GithubException  # noqa: PLC0415

        from requests import RequestException  # noqa: PLC0415

        try:
            yield
        except GithubException as error:
            detail = error.message or (error.data if isinstance(error.data, str) else "")
            hint = {
                401: " (is GITHUB_TOKEN set and valid?)",
                403: " (the token lacks a permission, or a rate limit was hit)",
                404: " (not found, or the token cannot see it)",
            }.get(error.status, "")
            raise GitHubHttpError(
                f"GitHub: {what} failed: HTTP {error.status} {detail}".rstrip() + hint,
                error.status,
            ) from None
        except RequestException as error:
            raise GitHubError(
                f"GitHub: {what} failed: cannot reach {self.api_url}: {type(error).__name__}"
            ) from None

    def _repo(self) -> Repository:
        return self._github.get_repo(self.repository)

    # -- pull requests ------------------------------------------------------------------------

    def pull_facts(self, number: int) -> PullFacts:
        """Everything the approval rules need about pull request `number`."""
        with self._calling(f"reading pull request #{number} of {self.repository}"):
            pull = self._repo().get_pull(number)
            author = pull.user.login if pull.user is not None else ""
            head_sha, base_sha = pull.head.sha, pull.base.sha
            created_at = _utc(pull.created_at)
            facts_merged, merged_at = bool(pull.merged), _utc(pull.merged_at)
            merge_commit_sha, commit_count = pull.merge_commit_sha, pull.commits
            merged_by = pull.merged_by.login if pull.merged_by is not None else None
            commits = [
                _Commit(
                    c.author.login if c.author is not None else None,
                    c.committer.login if c.committer is not None else None,
                    c.commit.author.name or "",
                    c.commit.author.email or "",
                    c.commit.committer.name or "",
                    c.commit.committer.email or "",
                    c.commit.message or "",
                )
                for c in pull.get_commits()
            ]
            reviews = tuple(
                Review(
                    login=r.user.login if r.user is not None else "ghost",
                    state=r.state or "",
                    commit_id=r.commit_id or None,
                    submitted_at=_utc(r.submitted_at),
                )
                for r in pull.get_reviews()
            )
        if created_at is None or not author or not head_sha:
            raise GitHubError(f"GitHub: pull request #{number} came back without author or head")
        if commit_count is not None and len(commits) < commit_count:
            # Unlisted commits could hide an approver's own push: refuse to judge.
            raise GitHubError(
                f"pull request #{number} has {commit_count} commits but GitHub lists only "
                f"{len(commits)} (at most {PULL_COMMITS_LISTED}): split it into smaller PRs"
            )
        contributors = contributors_of(
            [
                (
                    c.author_login,
                    c.committer_login,
                    c.author_name,
                    c.author_email,
                    c.committer_name,
                    c.committer_email,
                    c.message,
                )
                for c in commits
            ]
        )
        return PullFacts(
            number=number,
            author=author,
            head_sha=head_sha,
            base_sha=base_sha,
            created_at=created_at,
            merged=facts_merged,
            merged_at=merged_at,
            merge_commit_sha=merge_commit_sha,
            contributors=contributors | {author.lower()},
            reviews=reviews,
            merged_by=merged_by,
        )

    def pulls_for_commit(self, sha: str) -> list[PullSummary]:
        """The pull requests GitHub associates with commit `sha` (for a default-branch commit:
        the merged PR that introduced it); empty for a direct push."""
        summaries: list[PullSummary] = []
        with self._calling(f"listing the pull requests of commit {sha[:12]}"):
            for pull in self._repo().get_commit(sha).get_pulls():
                # The list holds "simple" PRs without `merged`: merged_at says it (and reading
                # `merged` would make PyGithub fetch every PR again).
                merged_at = _utc(pull.merged_at)
                created_at = _utc(pull.created_at)
                if created_at is None:
                    raise GitHubError(f"GitHub: pull request #{pull.number} has no created_at")
                summaries.append(
                    PullSummary(
                        number=pull.number,
                        merged=merged_at is not None,
                        merge_commit_sha=pull.merge_commit_sha,
                        head_sha=pull.head.sha,
                        created_at=created_at,
                        merged_at=merged_at,
                    )
                )
        return summaries

    def open_pulls(self, base: str) -> list[OpenPull]:
        """The open pull requests into branch `base`, newest first."""
        items = self._pages(self._repo_path("/pulls"), "listing the open pull requests",
                            query={"state": "open", "base": base})
        with _readable("the open pull requests"):
            return [OpenPull(number=int(item["number"]), author=str(item["user"]["login"]),
                             head_sha=str(item["head"]["sha"]), draft=bool(item.get("draft")))
                    for item in items]

    def pull_file_changes(self, number: int) -> list[tuple[str, str]]:
        """(path, status) of each file pull request `number` changes (GitHub lists 3000 at
        most; a request PR is far smaller)."""
        items = self._pages(self._repo_path(f"/pulls/{number}/files"),
                            f"listing the files of pull request #{number}")
        with _readable(f"the files of pull request #{number}"):
            return [(str(item["filename"]), str(item["status"])) for item in items]

    # -- teams (TeamResolver) -----------------------------------------------------------------

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        """`GET /orgs/{org}/teams/{team_slug}/memberships/{username}`: state `active` only.

        Called on that exact endpoint: PyGithub's team objects follow the team's own URL form
        instead. 404 means not a member; 403 is an error (the token cannot read the org's teams,
        which must not read as "not a member" silently).
        """
        from github import UnknownObjectException  # noqa: PLC0415

        key = (org.lower(), team_slug.lower(), login.lower())
        if key in self._membership:
            return self._membership[key]
        path = "/orgs/{}/teams/{}/memberships/{}".format(
            *(quote(part, safe="") for part in (org, team_slug, login))
        )
        active = False
        with self._calling(f"reading @{org}/{team_slug} membership of {login}"):
            try:
                _headers, data = self._teams_github.requester.requestJsonAndCheck("GET", path)
            except UnknownObjectException:
                data = None
            active = isinstance(data, dict) and data.get("state") == "active"
        self._membership[key] = active
        return active

    def team_members(self, org: str, team_slug: str) -> list[str]:
        """`GET /orgs/{org}/teams/{team_slug}/members` (every page): the logins of the team's
        members, which GitHub lists without pending invitations and with the members of its
        child teams. For the team snapshot (jitflow.teamsnapshot); a missing team is an error."""
        from github.NamedUser import NamedUser  # noqa: PLC0415
        from github.PaginatedList import PaginatedList  # noqa: PLC0415

        path = "/orgs/{}/teams/{}/members".format(
            *(quote(part, safe="") for part in (org, team_slug)))
        requester = self._teams_github.requester
        with self._calling(f"listing the members of @{org}/{team_slug}"):
            listed = PaginatedList(NamedUser, requester, path, {"per_page": 100})
            return sorted({user.login.lower() for user in listed})

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        """`GET /orgs/{org}/teams/{team_slug}`: True when it answers, False on 404 (no such
        team, or a secret one the token cannot see: neither can be a code owner), None on
        401/403 (the token cannot read the organisation's teams: a fork's check cannot tell,
        and must not call a real team missing)."""
        from github import GithubException  # noqa: PLC0415

        key = (org.lower(), team_slug.lower())
        if key not in self._teams:
            path = "/orgs/{}/teams/{}".format(*(quote(part, safe="") for part in (org, team_slug)))
            found: bool | None = True
            with self._calling(f"reading team @{org}/{team_slug}"):
                try:
                    self._teams_github.requester.requestJsonAndCheck("GET", path)
                except GithubException as error:
                    if error.status not in (401, 403, 404):
                        raise
                    found = False if error.status == 404 else None
            self._teams[key] = found
        return self._teams[key]

    # -- repository settings (jitflow doctor) ---------------------------------------------------

    def _get(self, path: str, what: str, *, teams: bool = False,
             parameters: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
        """GET `path` (an API path, or a full URL GitHub gave): (data, response headers);
        (None, {}) on 404. Raw requests: PyGithub has no objects for most of these."""
        from github import GithubException  # noqa: PLC0415

        github = self._teams_github if teams else self._github
        with self._calling(what):
            try:
                response, data = github.requester.requestJsonAndCheck(
                    "GET", path, parameters=parameters, headers=headers)
            except GithubException as error:
                if error.status != 404:
                    raise
                return None, {}
        return data, response

    def _pages(self, path: str, what: str, key: str | None = None,
               query: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a paginated list (`key`: the list inside an object answer; `query`:
        filters for the first page, which GitHub carries over into its next-page links)."""
        items: list[Any] = []
        url: str | None = path
        parameters: dict[str, Any] | None = {**(query or {}), "per_page": 100}
        while url is not None:
            data, headers = self._get(url, what, parameters=parameters)
            page = (data or {}).get(key) if key is not None else data
            if not isinstance(page, list):
                raise GitHubError(f"GitHub: {what} came back without a list")
            items += page
            found = _NEXT_PAGE.search(headers.get("link", ""))
            url, parameters = (found.group("url") if found else None), None
        return items

    def _repo_path(self, suffix: str = "") -> str:
        owner, name = self.repository.split("/", 1)
        return "/repos/{}/{}".format(*_quoted(owner, name)) + suffix

    def repository_facts(self) -> RepositoryFacts:
        """`GET /repos/{owner}/{repo}`: its numeric ids and default branch."""
        data, _headers = self._get(self._repo_path(), f"reading {self.repository}")
        if data is None:
            raise GitHubHttpError(f"GitHub: {self.repository} not found, or the token cannot "
                                  "see it", 404)
        with _readable(f"reading {self.repository}"):
            return RepositoryFacts(data["full_name"], int(data["owner"]["id"]), int(data["id"]),
                                   data["default_branch"])

    def contents(self, path: str, ref: str) -> Any:
        """`GET .../contents/{path}?ref=`: a file's object, a folder's list, None (404)."""
        data, _headers = self._get(self._repo_path(f"/contents/{quote(path.strip('/'))}"),
                                  f"reading {path} at {ref}", parameters={"ref": ref})
        return data

    def tree(self, ref: str) -> ContentsTree:
        return ContentsTree(self, ref)

    def rules_for_branch(self, branch: str) -> tuple[Rule, ...]:
        """`GET .../rules/branches/{branch}`: the active rules of every ruleset on it."""
        items = self._pages(self._repo_path(f"/rules/branches/{quote(branch, safe='')}"),
                            f"reading the rules of {branch}")
        with _readable(f"reading the rules of {branch}"):
            return tuple(Rule(item["type"], dict(item.get("parameters") or {}),
                              item.get("ruleset_id")) for item in items)

    def ruleset(self, ruleset_id: int) -> Ruleset | None:
        """`GET .../rulesets/{id}`: its bypass list (absent unless the token may edit it)."""
        data, _headers = self._get(self._repo_path(f"/rulesets/{int(ruleset_id)}"),
                                  f"reading ruleset {ruleset_id}")
        if data is None:
            return None
        with _readable(f"reading ruleset {ruleset_id}"):
            actors = data.get("bypass_actors")
            return Ruleset(int(data["id"]), data.get("name", ""),
                           None if actors is None else tuple(map(_bypass_actor, actors)))

    def branch_protection(self, branch: str) -> Protection | None:
        """`GET .../branches/{branch}/protection`; None when the branch is not protected."""
        data, _headers = self._get(self._repo_path(f"/branches/{quote(branch, safe='')}"
                                                  "/protection"),
                                  f"reading the branch protection of {branch}")
        with _readable(f"reading the branch protection of {branch}"):
            return None if data is None else _protection(data)

    def environment(self, name: str) -> Environment | None:
        """The environment and, when it has custom ones, its deployment branch policies."""
        path = self._repo_path(f"/environments/{quote(name, safe='')}")
        data, _headers = self._get(path, f"reading the environment {name}")
        if data is None:
            return None
        with _readable(f"reading the environment {name}"):
            policy = data.get("deployment_branch_policy")
            if policy is None:
                return Environment(name)
            custom = bool(policy.get("custom_branch_policies"))
            policies = self._pages(f"{path}/deployment-branch-policies",
                                   f"reading the deployment branches of {name}",
                                   "branch_policies") if custom else []
            return Environment(name, bool(policy.get("protected_branches")), custom,
                               tuple((p.get("name", ""), p.get("type", "branch"))
                                     for p in policies))

    def variables(self) -> dict[str, str]:
        """The Actions repository variables, name -> value."""
        items = self._pages(self._repo_path("/actions/variables"),
                            "reading the repository variables", "variables")
        with _readable("reading the repository variables"):
            return {item["name"]: item.get("value", "") for item in items}

    def secret_names(self) -> tuple[str, ...]:
        """The names of the Actions repository secrets (GitHub never shows their values)."""
        items = self._pages(self._repo_path("/actions/secrets"),
                            "listing the repository secrets", "secrets")
        with _readable("listing the repository secrets"):
            return tuple(item["name"] for item in items)

    def oidc_customization(self) -> dict[str, Any]:
        """`GET .../actions/oidc/customization/sub`."""
        data, _headers = self._get(self._repo_path("/actions/oidc/customization/sub"),
                                  "reading the OIDC subject customisation")
        with _readable("reading the OIDC subject customisation"):
            # PyGithub adds the request's "url" to a GET answer without one; GitHub sent none.
            return {key: value for key, value in (data or {}).items() if key != "url"}

    def team(self, org: str, team_slug: str) -> TeamFacts:
        """Does `@org/team_slug` exist, is it visible, and what may it do here? Asked with
        the teams token when there is one (organisation reads)."""
        handle = f"@{org}/{team_slug}"
        base = "/orgs/{}/teams/{}".format(*_quoted(org, team_slug))
        team, _headers = self._get(base, f"reading team {handle}", teams=True)
        if team is None:
            return TeamFacts(handle, exists=False)
        owner, name = self.repository.split("/", 1)
        repo, _headers = self._get(base + "/repos/{}/{}".format(*_quoted(owner, name)),
                                  f"reading the access of {handle} to {self.repository}",
                                  teams=True, headers={"Accept": REPOSITORY_MEDIA_TYPE})
        with _readable(f"reading team {handle}"):
            permissions = (repo or {}).get("permissions") or {}
            granted = [level for level in PERMISSION_ORDER if permissions.get(level)]
            return TeamFacts(handle, True, team.get("privacy") != "secret",
                             granted[-1] if granted else None)

    # -- comments -----------------------------------------------------------------------------

    def comment(self, number: int, body: str) -> None:
        """Post a new comment on pull request `number` (cut to GitHub's limit)."""
        with self._calling(f"commenting on pull request #{number}"):
            self._repo().get_issue(number).create_comment(truncate_comment(body))

    def upsert_sticky_comment(self, number: int, marker: str, body: str) -> None:
        """Create or update our one comment carrying `marker`; never a second one.

        A 403 (a fork's read-only token) only warns: the check's verdict must not depend on
        whether it could comment.
        """
        text = truncate_comment(body if marker in body else f"{marker}\n{body}")
        try:
            with self._calling(f"updating the comment on pull request #{number}"):
                issue = self._repo().get_issue(number)
                ours = None
                for existing in issue.get_comments():
                    author = existing.user.login if existing.user is not None else ""
                    mine = self.comment_author is None or author == self.comment_author
                    # Someone else's comment quoting the marker is never edited.
                    if mine and marker in (existing.body or ""):
                        ours = existing
                        break
                if ours is None:
                    issue.create_comment(text)
                elif ours.body != text:
                    ours.edit(text)
        except GitHubHttpError as error:
            if error.status == 403:
                self.warn(
                    f"cannot comment on pull request #{number} (HTTP 403: a fork's read-only "
                    "token?); the job summary has the report"
                )
                return
            raise


@contextmanager
def _readable(what: str) -> Iterator[None]:
    """An answer without the fields GitHub documents is GitHub's failure (exit 3), not a bug."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise GitHubError(f"GitHub: {what} came back unreadable ({type(error).__name__}: "
                          f"{error})") from None


def _quoted(*parts: str) -> tuple[str, ...]:
    return tuple(quote(part, safe="") for part in parts)


def _protection(data: Mapping[str, Any]) -> Protection:
    """Classic branch protection as `jitflow.doctor` reads it."""
    checks = data.get("required_status_checks") or {}
    reviews = data.get("required_pull_request_reviews")
    allowances = (reviews or {}).get("bypass_pull_request_allowances") or {}
    bypass = [f"{kind[:-1]} {entry.get('login') or entry.get('slug') or entry.get('name')}"
              for kind in ("users", "teams", "apps") for entry in allowances.get(kind) or ()]
    return Protection(
        required_checks=tuple((c.get("context", ""), c.get("app_id"))
                              for c in checks.get("checks") or ()),
        reviews_required=reviews is not None,
        dismiss_stale_reviews=bool((reviews or {}).get("dismiss_stale_reviews")),
        require_code_owner_reviews=bool((reviews or {}).get("require_code_owner_reviews")),
        require_last_push_approval=bool((reviews or {}).get("require_last_push_approval")),
        bypass_allowances=tuple(bypass),
        enforce_admins=bool((data.get("enforce_admins") or {}).get("enabled")),
        allow_force_pushes=bool((data.get("allow_force_pushes") or {}).get("enabled")),
        allow_deletions=bool((data.get("allow_deletions") or {}).get("enabled")),
    )


def _bypass_actor(actor: Mapping[str, Any]) -> str:
    return f"{actor.get('actor_type')} {actor.get('actor_id')} ({actor.get('bypass_mode')})"


class ContentsTree:
    """A `jitflow.tree.Tree` over the contents API at one ref: the access repository's files
    as merged, read without a checkout. One request per file read or folder listed."""

    def __init__(self, client: GitHubClient, ref: str) -> None:
        self.client = client
        self.ref = ref

    def read(self, path: str) -> bytes | None:
        data = self.client.contents(path, self.ref)
        if not isinstance(data, dict) or data.get("type") != "file":
            return None
        if data.get("encoding") != "base64":
            raise GitHubError(f"GitHub: {path} at {self.ref} is too large to read through the "
                              "contents API")
        try:
            return base64.b64decode(data.get("content") or "")
        except (binascii.Error, ValueError):
            raise GitHubError(f"GitHub: {path} at {self.ref} came back unreadable") from None

    def list(self, directory: str) -> list[str]:
        data = self.client.contents(directory, self.ref)
        if not isinstance(data, list):
            return []
        found: list[str] = []
        for entry in data:
            if entry.get("type") == "file":
                found.append(entry["path"])
            elif entry.get("type") == "dir":
                found += self.list(entry["path"])
        return sorted(found)
