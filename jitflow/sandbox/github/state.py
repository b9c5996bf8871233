"""What the fake GitHub knows: accounts, teams, repositories, pull requests, reviews, comments,
and a repository's settings (files per branch, rulesets, branch protection, environments,
Actions variables and secrets, the OIDC subject customisation, teams' access).

Plain mutable records; tests may inspect them, and tweak them if they must. `GitHubState` holds
them and is the Python side of `FakeGitHub` (`server.py`), which serves them over HTTP. Nothing
here talks HTTP or builds GitHub's JSON (`payloads.py` does).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from jitflow.clock import Clock, system_clock

MembershipState = Literal["active", "pending"]
TeamRole = Literal["member", "maintainer"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"]
MergeMethod = Literal["merge", "squash", "rebase"]
FileStatus = Literal["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]
UserType = Literal["User", "Bot"]
TeamPrivacy = Literal["closed", "secret"]
Permission = Literal["pull", "triage", "push", "maintain", "admin"]
Enforcement = Literal["active", "disabled", "evaluate"]
BranchPolicy = Literal["all", "protected", "custom"]
PERMISSIONS: tuple[Permission, ...] = ("pull", "triage", "push", "maintain", "admin")

ACTIONS_BOT = "github-actions[bot]"
ACTIONS_BOT_ID = 41898282  # GitHub's id for github-actions[bot]
_REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
_MERGE_METHODS = ("merge", "squash", "rebase")


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
    privacy: TeamPrivacy = "closed"  # "closed" is visible to the organisation
    repos: dict[str, Permission] = field(default_factory=dict)  # lower-cased full name ->


@dataclass
class FakeRuleset:
    """A repository ruleset. `rules` are GitHub's rule objects as the API spells them
    (`{"type": "pull_request", "parameters": {...}}`); `include`/`exclude` are its
    `ref_name` conditions (`~DEFAULT_BRANCH`, `~ALL`, `refs/heads/<pattern>`)."""

    id: int
    name: str
    rules: list[dict[str, Any]]
    include: list[str] = field(default_factory=lambda: ["~DEFAULT_BRANCH"])
    exclude: list[str] = field(default_factory=list)
    bypass_actors: list[dict[str, Any]] = field(default_factory=list)
    enforcement: Enforcement = "active"


@dataclass
class FakeProtection:
    """Classic branch protection of one branch (what `GET .../protection` shows)."""

    required_checks: list[tuple[str, int | None]] = field(default_factory=list)  # context, app
    pull_request_reviews: bool = False  # "Require a pull request before merging"
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    require_last_push_approval: bool = False
    bypass_users: list[str] = field(default_factory=list)  # may skip the pull request rules
    enforce_admins: bool = False
    allow_force_pushes: bool = False
    allow_deletions: bool = False


@dataclass
class FakeEnvironment:
    """A deployment environment. `branch_policy`: "all" (no rule), "protected" (protected
    branches) or "custom" (`branch_policies`, each (name pattern, "branch"|"tag"))."""

    id: int
    name: str
    branch_policy: BranchPolicy = "all"
    branch_policies: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = True
    description: str | None = None
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # branch -> path -> bytes
    rulesets: dict[int, FakeRuleset] = field(default_factory=dict)
    protections: dict[str, FakeProtection] = field(default_factory=dict)  # branch ->
    environments: dict[str, FakeEnvironment] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # Actions repository variables
    secrets: list[str] = field(default_factory=list)  # Actions repository secrets (names)
    oidc_sub: dict[str, Any] = field(default_factory=lambda: {"use_default": True})

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
    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    merge_method: MergeMethod | None = None
    closed_at: datetime | None = None
    commits: list[FakeCommit] = field(default_factory=list)
    reviews: list[FakeReview] = field(default_factory=list)
    files: list[FakeFile] = field(default_factory=list)


class FakeGitHubError(ValueError):
    """A test set up impossible state (unknown pull request, bad review state, ...)."""


class GitHubState:
    """The fake's world, set from Python (`FakeGitHub` inherits this; use it through that).

    The public methods take `_lock`: the server thread reads this state while tests set it.
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self.clock = clock
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
        privacy: TeamPrivacy = "closed",
    ) -> FakeTeam:
        """Add team `org/slug` (creating the org) with `{login: "active"|"pending"}`."""
        with self._lock:
            found = self.add_org(org)
            team = FakeTeam(found.login, slug, self._new_id(), name or slug, privacy=privacy)
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
        draft: bool = False,
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
                draft=draft,
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

    # -- state: repository settings ------------------------------------------------------

    def put_file(self, path: str, content: bytes | str, *, branch: str | None = None,
                 repo: str | None = None) -> None:
        """A file on `branch` (default: the default branch), as the contents API serves it."""
        with self._lock:
            found = self._repo(repo)
            data = content.encode() if isinstance(content, str) else content
            found.files.setdefault(branch or found.default_branch, {})[path.strip("/")] = data

    def add_ruleset(self, name: str, rules: Sequence[dict[str, Any]], *,
                    include: Sequence[str] = ("~DEFAULT_BRANCH",), exclude: Sequence[str] = (),
                    bypass_actors: Sequence[dict[str, Any]] = (),
                    enforcement: Enforcement = "active", repo: str | None = None) -> FakeRuleset:
        with self._lock:
            found = self._repo(repo)
            ruleset = FakeRuleset(self._new_id(), name, copy.deepcopy(list(rules)),
                                  list(include), list(exclude),
                                  copy.deepcopy(list(bypass_actors)), enforcement)
            found.rulesets[ruleset.id] = ruleset
            return ruleset

    def protect_branch(self, branch: str, protection: FakeProtection, *,
                       repo: str | None = None) -> None:
        with self._lock:
            for login in protection.bypass_users:
                self.user(login)
            self._repo(repo).protections[branch] = protection

    def add_environment(self, name: str, branch_policy: BranchPolicy = "all",
                        branch_policies: Sequence[tuple[str, str]] = (), *,
                        repo: str | None = None) -> FakeEnvironment:
        with self._lock:
            environment = FakeEnvironment(self._new_id(), name, branch_policy,
                                          list(branch_policies))
            self._repo(repo).environments[name] = environment
            return environment

    def set_variable(self, name: str, value: str | None, *, repo: str | None = None) -> None:
        """Set (None: delete) an Actions repository variable."""
        with self._lock:
            variables = self._repo(repo).variables
            if value is None:
                variables.pop(name, None)
            else:
                variables[name] = value

    def add_secret(self, name: str, *, repo: str | None = None) -> None:
        """An Actions repository secret (the API shows names only)."""
        with self._lock:
            secrets = self._repo(repo).secrets
            if name not in secrets:
                secrets.append(name)

    def set_oidc_customization(self, body: dict[str, Any], *, repo: str | None = None) -> None:
        """What `PUT .../actions/oidc/customization/sub` with `body` would leave."""
        with self._lock:
            self._repo(repo).oidc_sub = dict(body)

    def grant_team(self, org: str, slug: str, permission: Permission | None, *,
                   repo: str | None = None) -> None:
        """Give the team `permission` on the repository (None: remove its access)."""
        if permission is not None and permission not in PERMISSIONS:
            raise FakeGitHubError(f"permission must be one of {PERMISSIONS}, not {permission!r}")
        with self._lock:
            team, key = self._team(org, slug), self._repo(repo).full_name.lower()
            if permission is None:
                team.repos.pop(key, None)
            else:
                team.repos[key] = permission

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

    def _team(self, org: str, slug: str) -> FakeTeam:
        found = self.teams.get((org.lower(), slug.lower()))
        if found is None:
            raise FakeGitHubError(f"no team {org}/{slug}: add_team() it first")
        return found


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise FakeGitHubError(f"{at!r} has no time zone: use an aware UTC datetime")
    return at.astimezone(UTC).replace(microsecond=0)
