"""A fake GitHub REST API server. This is a TEST DOUBLE, not GitHub.

It exists for jitflow's test suite and for `jitflow demo`: a stdlib HTTP server on 127.0.0.1
(port 0) that PyGithub talks to through `base_url` / `GITHUB_API_URL`. It serves exactly the
GitHub endpoints jitflow uses, answers from state that tests set from Python (users, orgs,
teams, repositories, pull requests, commits, reviews, issue comments: `state.py`) with GitHub's
JSON (`payloads.py`), and records every response it serves in `FakeGitHub.served`. This module
is the serving part: routing, the HTTP handler, and `FakeGitHub` with its endpoint handlers.

It cannot drift from GitHub silently: the test suite validates every recorded response against
GitHub's official REST OpenAPI description (`tests/data/github-openapi-subset.json`, from
`@octokit/openapi`), and every route below is an operation of that description. Nothing here
grants anything or is trusted by jitflow; never point production code at it.

Served (and nothing else; any other path is a 404 with GitHub's error body):

    GET   /repos/{owner}/{repo}
    GET   /repos/{owner}/{repo}/pulls/{pull_number}
    GET   /repos/{owner}/{repo}/pulls                              (paginated; state, base)
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/reviews        (paginated)
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/commits        (paginated)
    GET   /repos/{owner}/{repo}/pulls/{pull_number}/files          (paginated)
    GET   /repos/{owner}/{repo}/commits/{commit_sha}/pulls         (paginated)
    GET   /repos/{owner}/{repo}/issues/{issue_number}/comments     (paginated)
    POST  /repos/{owner}/{repo}/issues/{issue_number}/comments
    PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}
    GET   /orgs/{org}
    GET   /orgs/{org}/teams/{team_slug}
    GET   /orgs/{org}/teams/{team_slug}/members                   (paginated; active members)
    GET   /orgs/{org}/teams/{team_slug}/memberships/{username}    (404 when not a member)
    GET   /users/{username}

and a repository's settings, as `jitflow doctor` reads them:

    GET   /repos/{owner}/{repo}/contents/{path}                    (?ref=BRANCH; file or dir)
    GET   /repos/{owner}/{repo}/rules/branches/{branch}            (paginated)
    GET   /repos/{owner}/{repo}/rulesets/{ruleset_id}
    GET   /repos/{owner}/{repo}/branches/{branch}/protection       (404 when not protected)
    GET   /repos/{owner}/{repo}/environments/{environment_name}
    GET   /repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies
    GET   /repos/{owner}/{repo}/actions/variables                  (paginated, 30 at most)
    GET   /repos/{owner}/{repo}/actions/secrets                    (paginated; names only)
    GET   /repos/{owner}/{repo}/actions/oidc/customization/sub
    GET   /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}       (204, or 200 with the
          repository and the team's permissions when asked for
          `application/vnd.github.v3.repository+json`; 404 without access)

Every `*_url` / `href` in a response points back at this server (`FakeGitHub.url`), because
PyGithub follows them. Team objects carry GitHub's own team URL form
(`/organizations/{org_id}/team/{team_id}`), which this fake does NOT serve: code that
follows a team's `url` (PyGithub's non-lazy `get_team_by_slug(...).get_team_membership(...)`)
would leave the documented endpoint, and the tests show it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from jitflow.clock import Clock, system_clock
from jitflow.sandbox.github.payloads import (
    Json,
    actions_secret_json,
    actions_variable_json,
    branch_protection_json,
    commit_json,
    content_entry_json,
    content_file_json,
    deployment_branch_policy_json,
    diff_entry_json,
    environment_json,
    error_json,
    full_repository_json,
    issue_comment_json,
    organization_json,
    public_user_json,
    pull_request_json,
    pull_request_simple_json,
    repository_json,
    review_json,
    ruleset_json,
    ruleset_rule_json,
    simple_user_json,
    team_json,
    team_membership_json,
    team_repository_json,
    validation_error_json,
)
from jitflow.sandbox.github.state import (
    ACTIONS_BOT,
    FakeComment,
    FakeOrg,
    FakePull,
    FakeRepo,
    FakeUser,
    GitHubState,
)

COMMENT_MAX_CHARS = 65536  # GitHub refuses longer issue/PR comment bodies with 422
_DEFAULT_PER_PAGE = 30
_MAX_PER_PAGE = 100
REPOSITORY_MEDIA_TYPE = "application/vnd.github.v3.repository+json"


@dataclass(frozen=True)
class Served:
    """One response the fake sent: what the test suite validates against GitHub's OpenAPI."""

    method: str
    path: str  # as requested, with query
    template: str | None  # the OpenAPI path template served; None when no route matched
    status: int
    body: Any  # the JSON exactly as sent (parsed back from the bytes on the wire)


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()
    paginate: bool = False  # body is the whole list; slice it by per_page/page
    wrap: str | None = None  # paginated into {"total_count": N, wrap: [page]}
    max_per_page: int = _MAX_PER_PAGE


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


_NUMERIC = {"pull_number", "issue_number", "comment_id", "ruleset_id"}
_SLASHED = {"path"}  # a file path: the rest of the URL


def _route(method: str, template: str, handler: str) -> Route:
    def group(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _SLASHED:
            return f"(?P<{name}>.+)"
        return f"(?P<{name}>\\d+)" if name in _NUMERIC else f"(?P<{name}>[^/]+)"

    regex = re.sub(r"\\\{(\w+)\\\}", group, re.escape(template))
    return Route(method, template, re.compile(f"^{regex}$"), handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/repos/{owner}/{repo}", "_get_repo"),
    _route("GET", "/repos/{owner}/{repo}/pulls", "_list_pulls"),
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
    _route("GET", "/orgs/{org}/teams/{team_slug}/members", "_list_team_members"),
    _route("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}", "_get_membership"),
    _route("GET", "/users/{username}", "_get_user"),
    _route("GET", "/repos/{owner}/{repo}/contents/{path}", "_get_contents"),
    _route("GET", "/repos/{owner}/{repo}/rules/branches/{branch}", "_list_branch_rules"),
    _route("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", "_get_ruleset"),
    _route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection", "_get_protection"),
    _route("GET", "/repos/{owner}/{repo}/environments/{environment_name}", "_get_environment"),
    _route("GET",
           "/repos/{owner}/{repo}/environments/{environment_name}/deployment-branch-policies",
           "_list_branch_policies"),
    _route("GET", "/repos/{owner}/{repo}/actions/variables", "_list_variables"),
    _route("GET", "/repos/{owner}/{repo}/actions/secrets", "_list_secrets"),
    _route("GET", "/repos/{owner}/{repo}/actions/oidc/customization/sub", "_get_oidc_sub"),
    _route("GET", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}", "_get_team_repo"),
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
            method, self.path, self.headers.get("Authorization"), raw,
            accept=self.headers.get("Accept") or "",
        )
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeGitHub(GitHubState):
    """The fake GitHub. Set state from Python, `start()`, point PyGithub at `.url`, `stop()`.

    Tokens: every request needs `Authorization: token X` or `Bearer X` (401 otherwise). Any
    token is accepted and acts as `github-actions[bot]` unless `set_token` says otherwise;
    tokens in `read_only_tokens` get 403 on POST/PATCH, like a fork's `GITHUB_TOKEN`.
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        super().__init__(clock=clock)
        self.served: list[Served] = []
        self.errors: list[str] = []  # tracebacks of the fake's own bugs (served as 500)
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

    # -- HTTP -----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, authorization: str | None, raw: bytes, accept: str = ""
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request: (status, headers, body bytes). Records it in `served`.
        `accept` is the request's Accept header (a few endpoints answer by media type)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query))
        route, params = _match(method, path)
        request = _Request(method, target, parts.path, query, route, params)
        try:
            with self._lock:
                reply = self._answer(request, authorization, raw, accept)
            return self._send(request, reply)
        except Exception:  # a bug in the fake: make it loud, never a plausible answer
            self.errors.append(traceback.format_exc())
            reply = _Reply(500, error_json(500, "the fake GitHub failed; see fake.errors"))
            return self._send(request, reply)

    def _answer(self, request: _Request, authorization: str | None, raw: bytes,
                accept: str = "") -> _Reply:
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
            return handler(params=request.params, query=request.query, body=body, login=login,
                           accept=accept)
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
            page, link = self._paginate(request.path, request.query, body, reply.max_per_page)
            body = page if reply.wrap is None else {"total_count": len(body), reply.wrap: page}
            if link:
                headers.append(("Link", link))
        payload = b"" if reply.status == 204 else json.dumps(body).encode()
        template = request.route.template if request.route else None
        record = Served(request.method, request.target, template, reply.status,
                        json.loads(payload) if payload else None)
        with self._lock:
            self.served.append(record)
        return reply.status, headers, payload

    def _paginate(self, path: str, query: dict[str, str], items: list[Any],
                  max_per_page: int = _MAX_PER_PAGE) -> tuple[Any, str]:
        per_page = _int(query.get("per_page"), min(_DEFAULT_PER_PAGE, max_per_page))
        per_page = min(max(per_page, 1), max_per_page)
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

    def _list_pulls(self, *, params: dict[str, str], query: dict[str, str],
                    **_: Any) -> _Reply:
        # GitHub: state open (default) | closed | all; `base` filters by base branch name;
        # sort=created, direction=desc by default (newest first).
        repo = self._route_repo(params)
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _Reply(422, validation_error_json("Validation Failed"))
        pulls = [p for (key, _), p in self.pulls.items()
                 if key == repo.full_name.lower() and state in ("all", p.state)
                 and query.get("base") in (None, p.base_ref)]
        pulls.sort(key=lambda p: p.created_at, reverse=query.get("direction") != "asc")
        return _Reply(200, [self._pull_simple_json(p) for p in pulls], paginate=True)

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

    def _list_team_members(self, *, params: dict[str, str], **_: Any) -> _Reply:
        """Active members only: a pending invitation is not a member (GitHub lists those
        under the team's invitations)."""
        team = self.teams.get((params["org"].lower(), params["team_slug"].lower()))
        if params["org"].lower() not in self.orgs or team is None:
            raise _NotFound
        items = [self._user_json(login) for login, state in team.members.items()
                 if state == "active"]
        return _Reply(200, items, paginate=True)

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

    # -- repository settings (what `jitflow doctor` reads) ----------------------------------

    def _get_contents(self, *, params: dict[str, str], query: dict[str, str],
                      **_: Any) -> _Reply:
        repo = self._route_repo(params)
        ref = query.get("ref") or repo.default_branch
        files = repo.files.get(ref.removeprefix("refs/heads/"))
        wanted = params["path"].strip("/")
        if files is None:
            return _Reply(404, error_json(404, f"No commit found for the ref {ref}"))
        if wanted in files:
            return _Reply(200, content_file_json(self.url, repo.full_name, wanted, ref,
                                                 files[wanted]))
        children: dict[str, bytes | None] = {}
        for name, data in files.items():
            if name.startswith(wanted + "/"):
                child, _sep, rest = name[len(wanted) + 1 :].partition("/")
                children[f"{wanted}/{child}"] = None if rest else data
        if not children:
            raise _NotFound
        items = [content_entry_json(self.url, repo.full_name, name, ref, children[name])
                 for name in sorted(children)]
        return _Reply(200, items)

    def _list_branch_rules(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        branch = params["branch"]
        items = [ruleset_rule_json(rule, ruleset, repo.full_name)
                 for ruleset in repo.rulesets.values()
                 if ruleset.enforcement == "active" and _applies(ruleset.include,
                                                                  ruleset.exclude, branch, repo)
                 for rule in ruleset.rules]
        return _Reply(200, items, paginate=True)

    def _get_ruleset(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        ruleset = repo.rulesets.get(int(params["ruleset_id"]))
        if ruleset is None:
            raise _NotFound
        return _Reply(200, ruleset_json(self.url, repo.full_name, ruleset))

    def _get_protection(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        protection = repo.protections.get(params["branch"])
        if protection is None:
            return _Reply(404, error_json(404, "Branch not protected"))
        users = [self._user_json(login) for login in protection.bypass_users]
        return _Reply(200, branch_protection_json(self.url, repo.full_name, params["branch"],
                                                  protection, users))

    def _get_environment(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        environment = repo.environments.get(params["environment_name"])
        if environment is None:
            raise _NotFound
        return _Reply(200, environment_json(self.url, repo.full_name, environment))

    def _list_branch_policies(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        environment = repo.environments.get(params["environment_name"])
        if environment is None:
            raise _NotFound
        items = [deployment_branch_policy_json(environment, index)
                 for index in range(len(environment.branch_policies))]
        return _Reply(200, items, paginate=True, wrap="branch_policies")

    def _list_variables(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        items = [actions_variable_json(name, value)
                 for name, value in sorted(repo.variables.items())]
        return _Reply(200, items, paginate=True, wrap="variables", max_per_page=30)

    def _list_secrets(self, *, params: dict[str, str], **_: Any) -> _Reply:
        repo = self._route_repo(params)
        items = [actions_secret_json(name) for name in sorted(repo.secrets)]
        return _Reply(200, items, paginate=True, wrap="secrets")

    def _get_oidc_sub(self, *, params: dict[str, str], **_: Any) -> _Reply:
        return _Reply(200, dict(self._route_repo(params).oidc_sub))

    def _get_team_repo(self, *, params: dict[str, str], accept: str = "", **_: Any) -> _Reply:
        team = self.teams.get((params["org"].lower(), params["team_slug"].lower()))
        repo = self._route_repo(params)
        permission = team.repos.get(repo.full_name.lower()) if team is not None else None
        if permission is None:
            raise _NotFound
        if REPOSITORY_MEDIA_TYPE not in accept:
            return _Reply(204, None)
        open_count = sum(1 for (key, _n), pull in self.pulls.items()
                         if key == repo.full_name.lower() and pull.state == "open")
        return _Reply(200, team_repository_json(self.url, repo, self._user_json(repo.owner),
                                                open_count, permission))


def _applies(include: list[str], exclude: list[str], branch: str, repo: FakeRepo) -> bool:
    """Does a ruleset's `ref_name` condition select `branch`?"""

    def matches(pattern: str) -> bool:
        if pattern == "~ALL":
            return True
        if pattern == "~DEFAULT_BRANCH":
            return branch == repo.default_branch
        return fnmatch.fnmatchcase(f"refs/heads/{branch}", pattern)

    return any(map(matches, include)) and not any(map(matches, exclude))


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
