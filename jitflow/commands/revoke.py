"""`jitflow revoke`: end expired grants and orphans, or one grant early (--request/--reason)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from jitflow.commands.support import (
    add_common_arguments,
    anchor_head,
    approval_source_from_env,
    audit_location,
    broken_log_error,
    commit_audit,
    default_branch_policies,
    default_branch_tree,
    finish_stopped_run,
    github_client,
    last_seq,
    notify_run,
    now_of,
    open_removal_engine,
    print_outcomes,
    raise_first,
    refresh_team_snapshot,
    repo_root,
    summary_message,
    teams_token,
)
from jitflow.engine import Check
from jitflow.engine.review import settle_reviews
from jitflow.errors import ExternalError, JitflowError, ReviewOverdue, UsageError
from jitflow.pr.merge import MergeHistorySource
from jitflow.settings import load_settings
from jitflow.tree import FsTree

if TYPE_CHECKING:
    from pathlib import Path

    from jitflow.auditrepo import AuditRepo
    from jitflow.breakglass import Due
    from jitflow.engine import Approval, ApprovalSource, Engine, Outcome
    from jitflow.gh import GitHubClient
    from jitflow.gitcmd import Git
    from jitflow.model import Policy, PolicySet, Request, Settings
    from jitflow.tree import GitTree


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--request", metavar="ID", help="revoke this request's grant now")
    parser.add_argument("--reason", metavar="TEXT", help="why (required with --request)")
    parser.add_argument("--no-reconcile", action="store_true",
                        help="only remove expired grants; skip the check against the "
                             "default branch")


@dataclass
class _LazySource:
    """Builds the approval source only when an unrecorded grant needs proof: its merge, re-
    verified against GitHub. Without GitHub access (GITHUB_TOKEN / GITHUB_REPOSITORY unset),
    that grant cannot be proven and is revoked (fail closed)."""

    git: Git
    ref: str
    settings: Settings
    now: datetime
    teams_token: str | None = None
    source: ApprovalSource | None = None

    def approval_for(self, request: Request, policy: Policy) -> Approval:
        if self.source is None:
            self.source = self._build()
        return self.source.approval_for(request, policy)

    def _build(self) -> ApprovalSource:
        if not _github_reachable():
            return approval_source_from_env()  # refuses: nothing to verify against
        return MergeHistorySource(self.git, self.ref, github_client(self.teams_token),
                                  now=self.now, request_ttl=self.settings.request_ttl)


def _github_reachable() -> bool:
    return bool(os.environ.get("GITHUB_REPOSITORY") and os.environ.get("GITHUB_TOKEN"))


def _teams_token(settings: Settings) -> str | None:
    """The team-reading token, or None: failing to read it never stops a revoke (it is needed
    only to re-verify an unrecorded grant, which then fails closed, and for the snapshot)."""
    try:
        return teams_token(settings)
    except JitflowError as error:
        print(f"jitflow: warning: no team-reading token: {error.message}", file=sys.stderr)
        return None


def _snapshot_client(token: str | None) -> GitHubClient | None:
    if token is None or not _github_reachable():
        return None
    return github_client(token)


def run(args: argparse.Namespace) -> int:
    if (args.request is None) != (args.reason is None):
        raise UsageError("--request and --reason go together")
    root = repo_root(args)
    now = now_of(args)
    settings = load_settings(FsTree(root))
    branch = default_branch_policies(root, settings)
    if branch is None and not (args.no_reconcile or args.request):
        default_branch_tree(root, settings)  # raises the GitError that says what is missing
    audit = audit_location(args, root, settings, write=not args.dry_run)
    token = _teams_token(settings)
    with audit.files() as log_dir:
        _revoke_in(args, root, settings, now, branch, audit=audit, log_dir=log_dir, token=token)
    return 0


def _revoke_in(args: argparse.Namespace, root: Path, settings: Settings, now: datetime,
               branch: tuple[GitTree, PolicySet] | None, *, audit: AuditRepo, log_dir: Path,
               token: str | None) -> None:
    """The run, with the log in `log_dir` (the audit branch's checkout, in the workflows)."""
    # A log that does not verify never stops the removal of access (jitflow.audit.segment).
    engine, log, problems = open_removal_engine(root, settings, args.dry_run,
                                                policies=branch[1] if branch else None,
                                                log_dir=log_dir)
    title = f"jitflow revoke: {args.request} early" if args.request is not None else \
        "jitflow revoke: expired and orphaned grants"
    if problems:
        title += " (the audit log does not verify: recorded apart, in a marked segment)"
    since = last_seq(engine)
    try:
        outcomes = _revoke(args, engine, branch, settings, now, token=token)
    except Exception as error:
        finish_stopped_run(audit, log, args, title, outcomes=engine.outcomes,
                           error=error, settings=settings)
        raise
    overdue, unsettled = ([], None) if args.dry_run or args.request else \
        _settle_reviews(engine, token, now)
    print_outcomes(outcomes)
    if not args.dry_run:
        notify_run(log, settings, since=since, now=now, overdue=overdue,
                   expiring=args.request is None,
                   pulls=None if args.request else _github(token))
    if args.commit and not args.dry_run:
        snapshot = refresh_team_snapshot(audit, branch[1] if branch else None,
                                         _snapshot_client(token), now)
        commit_audit(audit, log, summary_message(title, outcomes), also=snapshot)
    anchored = anchor_head(root, settings, log, args)  # after the commit: no record is lost
    review = None if not overdue else ReviewOverdue(
        "break-glass review overdue (approve the merged pull request, as one of the listed "
        "reviewers):\n" + "\n".join(due.text(now) for due in overdue))
    raise_first(broken_log_error(log, problems) if problems else None, anchored, unsettled,
                review)


def _settle_reviews(engine: Engine, token: str | None, now: datetime
                    ) -> tuple[list[Due], ExternalError | None]:
    """The break-glass reviews still overdue. GitHub out of reach never holds back the
    commit of the removals just made: the reviews are then judged from the log alone, and
    the run fails with the GitHub error (exit 3) after its commit."""
    try:
        return settle_reviews(engine.run.ledger, _github(token), now), None
    except ExternalError as error:
        print(f"jitflow: warning: break-glass reviews not checked on GitHub: {error.message}",
              file=sys.stderr)
        return settle_reviews(engine.run.ledger, None, now), error


def _github(token: str | None) -> GitHubClient | None:
    """GitHub, to find each break-glass grant's post-hoc review and the requests open pull
    requests ask for; None without access."""
    if not _github_reachable():
        return None
    return github_client(token)


def _revoke(args: argparse.Namespace, engine: Engine,
            branch: tuple[GitTree, PolicySet] | None, settings: Settings,
            now: datetime, *, token: str | None) -> list[Outcome]:
    if args.request is not None:
        return [engine.revoke_request(args.request, args.reason, now)]
    check = None
    if branch is not None and not args.no_reconcile:
        tree, policies = branch
        check = Check(tree, policies, _LazySource(tree.git, tree.ref, settings, now, token))
    return engine.revoke(now, check)
