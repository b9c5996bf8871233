"""`jitflow check`: the pull-request check (validity, scope, requester, approvals).

In GitHub Actions (`pull_request` and `pull_request_review` events) the PR number, author, base
and head come from `GITHUB_EVENT_PATH`; the approvals are read through `jitflow.gh`; problems
become annotations, the report goes to `GITHUB_STEP_SUMMARY` and to one sticky PR comment.
Locally, `--base REF --head REF [--author LOGIN]` check the same things except approvals.
Runs with a read-only token and no AWS credentials: it never grants anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitflow.auditrepo import AUDIT_REPO_HELP, AuditRepo, given_checkout, locate
from jitflow.clock import iso, parse_time, system_clock
from jitflow.errors import ConfigError, GitHubError, UsageError
from jitflow.gitcmd import Git
from jitflow.model import Settings
from jitflow.plan import render_text
from jitflow.pr.check import COMMENT_MARKER, check_changes, config_problems, is_config
from jitflow.pr.report import render_report, verdict
from jitflow.problems import Problem, render
from jitflow.settings import SETTINGS_FILE, load_settings
from jitflow.teamsnapshot import SNAPSHOT_FILE, SnapshotError, parse
from jitflow.tree import GitTree

if TYPE_CHECKING:
    from jitflow.approvals import TeamResolver
    from jitflow.gh import GitHubClient
    from jitflow.gitcmd import Git
    from jitflow.pr.check import CheckResult

PULL_EVENTS = ("pull_request", "pull_request_target", "pull_request_review")
CONFIG_NOTE = ("this pull request changes jitflow's configuration: judged at its head as "
               "`jitflow validate` and `jitflow codeowners --check` judge it")


@dataclass(frozen=True)
class PullEvent:
    """The parts of a pull_request / pull_request_review event payload the check uses."""

    number: int
    author: str
    base_sha: str
    head_sha: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the git repository (default: the current directory)",
    )
    parser.add_argument(
        "--base", metavar="REF", help="the base branch commit (default: from GITHUB_EVENT_PATH)"
    )
    parser.add_argument(
        "--head",
        metavar="REF",
        help="the pull request's head (default: from GITHUB_EVENT_PATH, else HEAD)",
    )
    parser.add_argument(
        "--author",
        metavar="LOGIN",
        help="the PR author's GitHub login (default: from the event, else the "
        "head commit's author)",
    )
    parser.add_argument("--at", metavar="TIME", help="show plans as applied at TIME (ISO 8601)")
    parser.add_argument(
        "--format",
        choices=("text", "github"),
        default=None,
        help="output format (default: github when GITHUB_ACTIONS=true)",
    )
    parser.add_argument("--audit-repo", type=Path, default=None, metavar="DIR",
                        help=AUDIT_REPO_HELP)


def read_event(env: Mapping[str, str]) -> PullEvent | None:
    """The pull request of the triggering event, or None outside a pull-request workflow."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or env.get("GITHUB_EVENT_NAME", "pull_request") not in PULL_EVENTS:
        return None
    try:
        payload: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(
            f"cannot read the event payload GITHUB_EVENT_PATH={path}: {error}"
        ) from None
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    if not isinstance(pull, dict):
        return None
    try:
        return PullEvent(
            number=int(pull["number"]),
            author=str(pull["user"]["login"]),
            base_sha=str(pull["base"]["sha"]),
            head_sha=str(pull["head"]["sha"]),
        )
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{path}: the pull_request in the event payload is incomplete") from None


def _author_from_git(git: Git, head: str) -> str:
    # Locally the best guess at a GitHub login: a noreply e-mail's login, else the author name.
    info = git.commit_info(head)
    local, _, domain = info.author_email.partition("@")
    if domain.lower() == "users.noreply.github.com":
        return local.split("+", 1)[-1]
    return info.author_name


def _line(text: str) -> str:
    # Untrusted text (file names, request fields) on one line that cannot start a workflow command.
    flat = " ".join(text.splitlines())
    return flat if not flat.lstrip().startswith("::") else " " + flat


def _print_result(result: CheckResult, fmt: str, github: bool) -> None:
    if result.problems:
        print(render(result.problems, fmt))
    for note in result.notes:
        print(_line(f"note: {note}"))
    for request_id, status in result.approvals.items():
        for text in status.summary().splitlines():
            print(_line(f"{request_id}: {text}"))
    for deletion in result.deletions:
        for text in deletion.approvals.summary().splitlines() if deletion.approvals else ():
            print(_line(f"deleting {deletion.request_id}: {text}"))
    if fmt == "text" and not github:
        for plan in result.plans:
            print(render_text(plan, result.budgets.get(plan.request.id, ())))
    print(_line(f"jitflow check: {verdict(result)}"), file=sys.stderr)


def _append_summary(env: Mapping[str, str], markdown: str) -> None:
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except OSError as error:
        print(f"jitflow: warning: cannot write the job summary {path}: {error}", file=sys.stderr)


def _base_settings(git: Git, base: str) -> Settings:
    """The base's jitflow.yaml (where the audit log lives); the defaults when it has none or
    an invalid one, as `jitflow.pr.check` judges it."""
    tree = GitTree(git, base)
    if tree.read(SETTINGS_FILE) is None:
        return Settings(admins=(), accounts={})
    try:
        return load_settings(tree)
    except ConfigError:
        return Settings(admins=(), accounts={})


class _NoTeams:
    """Team membership when the snapshot cannot be read: nobody is a member (fail closed)."""

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        return False

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        return None  # cannot tell


def _teams(audit: AuditRepo, branch: str, client: GitHubClient) -> tuple[TeamResolver, str]:
    """Who is in each team, for the check, and the note that says where that came from.

    The check holds no token that can read an organisation's teams (it runs in a workflow a
    pull request can edit): it counts team approvals from the snapshot jitflow apply and
    revoke keep on the audit branch (jitflow.teamsnapshot). Without one yet, it asks GitHub
    with the job's own token."""
    raw = audit.read_snapshot()
    if raw is None:
        return client, (f"no team snapshot on {branch} yet (jitflow apply and revoke write "
                        "it): team memberships were looked up with this job's token")
    try:
        snapshot = parse(raw, f"{SNAPSHOT_FILE} on {audit.describe()}")
    except SnapshotError as error:
        return _NoTeams(), f"{error.message}: no team approval is counted"
    return snapshot, (f"team membership as of {iso(snapshot.taken_at)}, from the snapshot "
                      f"jitflow apply and revoke keep on {branch}; jitflow apply verifies "
                      "every approval live again before it grants")


def run(args: argparse.Namespace) -> int:
    env = os.environ
    github = env.get("GITHUB_ACTIONS") == "true"
    fmt = args.format or ("github" if github else "text")
    event = read_event(env)
    git = Git(args.repo)
    base = args.base or (event.base_sha if event else None)
    if base is None:
        raise UsageError("give --base REF (and --head REF), or run in a pull_request workflow")
    head = args.head or (event.head_sha if event else "HEAD")
    author = args.author or (event.author if event else _author_from_git(git, head))
    applied_at = parse_time(args.at) if args.at else system_clock()

    settings = _base_settings(git, base)
    audit = locate(args.repo, settings, given_checkout(args.audit_repo), write=False)
    client = None
    teams: TeamResolver | None = None
    notes: tuple[str, ...] = ()
    pull = None
    extra: list[Problem] = []
    if event is not None:
        from jitflow.gh import GitHubClient  # noqa: PLC0415  (PyGithub only when needed)

        client = GitHubClient.from_env(env)
        teams, note = _teams(audit, settings.audit_branch, client)
        notes = (note,)
        pull = client.pull_facts(event.number)
        if pull.head_sha != git.rev_parse(head):
            # Approvals count only on the PR's current head: judging another commit's files
            # against them would approve what nobody reviewed.
            extra.append(
                Problem(
                    "(pull request)",
                    None,
                    None,
                    f"the pull request's head is now {pull.head_sha[:12]}, but this run checked "
                    f"{git.rev_parse(head)[:12]}: the newer run decides",
                )
            )
    result = check_changes(git, base, head, author, applied_at=applied_at, pull=pull,
                           teams=teams, audit_log=None if audit.kind == "tree" else
                           audit.log_texts())
    if not result.touches_requests and any(is_config(path) for path in result.changed):
        # No request, but what judges requests changed: judge it as validate would locally.
        extra += config_problems(git, head)
        result = replace(result, notes=(*result.notes, CONFIG_NOTE))
    if extra:
        result = replace(result, problems=result.problems + tuple(extra))
    if notes and result.touches_requests:
        result = replace(result, notes=result.notes + notes)
    _print_result(result, fmt, github)
    if not result.touches_requests:
        return 0 if result.ok else 1
    report = render_report(result, marker=COMMENT_MARKER)
    _append_summary(env, report)
    if client is not None and event is not None:
        try:
            client.upsert_sticky_comment(event.number, COMMENT_MARKER, report)
        except GitHubError as error:
            # The verdict must not depend on whether the comment could be written.
            print(f"jitflow: warning: {error.message}", file=sys.stderr)
    return 0 if result.ok else 1
