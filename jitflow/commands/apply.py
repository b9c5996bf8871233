"""`jitflow apply`: grant approved requests in AWS and record them in the audit log.

In the apply workflow (no paths): verify the merge GITHUB_SHA against GitHub, then grant what
it added and early-revoke what it deleted (a deletion of another person's request only with
its policy's approvals). Every check runs before any AWS call. A refusal still leaves
evidence: a `rejected` audit record, a comment on the pull request, and a non-zero exit.
It takes no request paths: a file given by hand carries no approval.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jitflow.audit.store import AuditLog
from jitflow.auditrepo import AuditRepo
from jitflow.commands.support import (
    actor_from_env,
    add_common_arguments,
    anchor_head,
    audit_location,
    commit_audit,
    default_branch_policies,
    finish_stopped_run,
    github_client,
    last_seq,
    notify_run,
    now_of,
    open_engine,
    print_outcomes,
    push_before,
    raise_first,
    refresh_team_snapshot,
    repo_root,
    require_anchored_log,
    summary_message,
    teams_token,
)
from jitflow.errors import JitflowError, Rejected, UsageError
from jitflow.gitcmd import Git
from jitflow.model import Settings
from jitflow.pr.comments import granted_comment, rejected_comment, unrevoked_comment
from jitflow.pr.merge import VerifiedMerge, verify_merge
from jitflow.settings import load_settings
from jitflow.tree import FsTree

if TYPE_CHECKING:
    from jitflow.engine import Engine, Outcome
    from jitflow.gh import GitHubClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "In the apply workflow: verify the merge commit GITHUB_SHA against GitHub (its pull "
        "request, reviews and check), then grant the requests it added and early-revoke the "
        "ones it deleted. It takes no request paths: a file given by hand carries no "
        "approval (`jitflow plan PATH` shows what a request would get).")
    add_common_arguments(parser)
    # Accepted only to refuse with a reason: granting from a path given by hand is gone.
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)


def _comment(client: GitHubClient | None, number: int | None, body: str) -> None:
    if client is None or number is None:
        return
    try:
        client.comment(number, body)
    except JitflowError as error:  # the grant stands; the comment is a courtesy
        print(f"jitflow: warning: could not comment on #{number}: {error.message}", file=sys.stderr)


def _record_rejection(
    audit: AuditRepo,
    log_dir: Path,
    settings: Settings,
    args: argparse.Namespace,
    *,
    sha: str,
    reason: str,
    now: datetime,
) -> AuditLog:
    log = AuditLog(log_dir)
    record = log.append("rejected", {"commit": sha, "reason": reason, "actor": actor_from_env()},
                        now)
    notify_run(log, settings, since=int(record["seq"]) - 1, now=now)
    if args.commit:
        commit_audit(audit, log, f"jitflow apply: rejected {sha[:12]}\n\n{reason}\n")
    return log


def _end_deleted(engine: Engine, merge: VerifiedMerge, now: datetime) -> list[Outcome]:
    """Early-revoke each deleted request the merge may end (`Deletion.allowed`, decided by
    `jitflow.pr.deletion.judge_deletion` as the check did); record each it may not."""
    number = merge.pull.number
    outcomes: list[Outcome] = []
    for deletion in merge.result.deletions:
        if deletion.allowed:
            reason = f"request file deleted by pull request #{number}"
            outcomes.append(engine.revoke_request(deletion.request_id, reason, now))
        else:
            outcomes.append(engine.refuse_revoke(
                deletion.request_id, f"not revoked: {deletion.why_not()}", now,
                pr=number, commit=merge.sha))
    return outcomes


def apply_merge(args: argparse.Namespace, root: Path, settings: Settings, now: datetime) -> int:
    sha = os.environ.get("GITHUB_SHA")
    if not sha:
        raise UsageError("jitflow apply runs in the apply workflow: GITHUB_SHA (the merge to "
                         "apply) is unset")
    # Where the records go (the audit branch's checkout, created when missing), before
    # anything else: a run that cannot record must not grant.
    audit = audit_location(args, root, settings, write=not args.dry_run)
    client = github_client(teams_token(settings))
    with audit.files() as log_dir:
        if not args.dry_run:
            require_anchored_log(settings, log_dir)
        return _apply_merge(args, root, settings, now, sha=sha, audit=audit, log_dir=log_dir,
                            client=client)


def _apply_merge(args: argparse.Namespace, root: Path, settings: Settings, now: datetime, *,
                 sha: str, audit: AuditRepo, log_dir: Path, client: GitHubClient) -> int:
    git = Git(root)
    try:
        merge = verify_merge(
            git,
            git.rev_parse(sha),
            client,
            before=push_before(os.environ),
            now=now,
            request_ttl=settings.request_ttl,
        )
    except Rejected as error:
        print(f"jitflow: rejected: {error.message}", file=sys.stderr)
        if not args.dry_run:
            log = _record_rejection(audit, log_dir, settings, args, sha=sha,
                                    reason=error.message, now=now)
            numbers = [p.number for p in client.pulls_for_commit(sha)]
            _comment(client, numbers[0] if numbers else None, rejected_comment(error.message))
            raise_first(anchor_head(root, settings, log, args))
        return 1
    engine, log = open_engine(root, settings, args.dry_run, policies=merge.result.policies,
                              log_dir=log_dir)
    since = last_seq(engine)
    title = f"jitflow apply: #{merge.pull.number} ({sha[:12]})"
    try:
        outcomes = _grant_and_revoke(engine, merge, now)
    except Exception as error:
        if not args.dry_run:  # what was granted before the failure stands: say so
            _announce(client, merge, engine.outcomes, now)
        finish_stopped_run(audit, log, args, title, outcomes=engine.outcomes,
                           error=error, settings=settings)
        raise
    print_outcomes(outcomes)
    if not args.dry_run:
        _announce(client, merge, outcomes, now)
        notify_run(log, settings, since=since, now=now)
        if args.commit:
            branch = default_branch_policies(root, settings)
            snapshot = refresh_team_snapshot(audit, branch[1] if branch else None,
                                             client if client.reads_teams else None, now)
            commit_audit(audit, log, summary_message(title, outcomes), also=snapshot)
    raise_first(anchor_head(root, settings, log, args))  # after the commit: no record is lost
    return 1 if any(o.action == "rejected" for o in outcomes) else 0


def _grant_and_revoke(engine: Engine, merge: VerifiedMerge, now: datetime) -> list[Outcome]:
    """Grant what the merge added, then early-revoke what it deleted."""
    pairs = [(plan.request, plan.policy) for plan in merge.result.plans]
    return engine.apply_requests(pairs, merge, now) + _end_deleted(engine, merge, now)


def _announce(client: GitHubClient, merge: VerifiedMerge, outcomes: list[Outcome],
              now: datetime) -> None:
    """One comment on the pull request per grant made or refused, and per deletion refused."""
    deleted = {d.request_id for d in merge.result.deletions}
    for outcome in outcomes:
        if outcome.action == "granted":
            _comment(client, merge.pull.number, granted_comment(outcome, merge, now))
        elif outcome.action == "rejected" and outcome.request_id in deleted:
            _comment(client, merge.pull.number,
                     unrevoked_comment(outcome.request_id, outcome.detail))
        elif outcome.action == "rejected":
            _comment(client, merge.pull.number, rejected_comment(outcome.detail))


def run(args: argparse.Namespace) -> int:
    if args.paths:
        raise UsageError("jitflow apply takes no request paths: it grants only what a merge "
                         "added, verified against GitHub, in the apply workflow; `jitflow "
                         "plan PATH` shows what a request would get")
    root = repo_root(args)
    now = now_of(args)
    settings = load_settings(FsTree(root))
    return apply_merge(args, root, settings, now)
