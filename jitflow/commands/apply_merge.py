"""`jitflow apply` in the apply workflow: verify the merge GITHUB_SHA, then grant and revoke.

Every check runs before any AWS call. A refusal still leaves evidence: a `rejected` audit
record, a comment on the pull request, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitflow import markdown as md
from jitflow.clock import iso
from jitflow.commands.apply import (
    actor_from_env,
    commit_audit,
    open_engine,
    print_outcomes,
    summary_message,
)
from jitflow.durations import humanize
from jitflow.errors import JitflowError, Rejected, UsageError
from jitflow.model import Settings

if TYPE_CHECKING:
    from jitflow.engine import Outcome
    from jitflow.gh import GitHubClient
    from jitflow.verify import VerifiedMerge


def push_before(env: dict[str, str] | os._Environ[str]) -> str | None:
    """The push event's `before` commit, when the event payload is available."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        payload: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    before = payload.get("before") if isinstance(payload, dict) else None
    return before if isinstance(before, str) else None


def granted_comment(outcome: Outcome, merge: VerifiedMerge, now: datetime) -> str:
    request = next(p.request for p in merge.result.plans if p.request.id == outcome.request_id)
    lines = [
        f"### :unlock: Granted {md.code(request.id)}",
        "",
        f"- **Principal:** {md.code(request.principal)}",
        f"- **Until:** {iso(now + request.duration)} ({humanize(request.duration)}); AWS ends "
        "the access at that second by itself.",
        f"- **Policy:** {md.code(outcome.policy_arn)}",
        "",
        "| Bucket | Prefix | Actions |",
        "|---|---|---|",
    ]
    lines += [
        f"| {md.code(e.bucket)} | {md.code(e.prefix)} | {', '.join(e.actions)} |"
        for e in request.access
    ]
    first = request.access[0]
    lines += [
        "",
        f"Use it with the principal's usual credentials, e.g. `aws s3 cp FILE "
        f"s3://{first.bucket}/{first.prefix}FILE`. Give it back early by deleting "
        f"{md.code(request.path)} in a new pull request.",
    ]
    return "\n".join(lines)


def rejected_comment(reason: str) -> str:
    return (
        f"### :no_entry: jitflow did not grant this request\n\n{md.text(reason)}\n\nNothing was "
        "changed in AWS. Fix the cause and open a new pull request with a new request file."
    )


def _comment(client: GitHubClient | None, number: int | None, body: str) -> None:
    if client is None or number is None:
        return
    try:
        client.comment(number, body)
    except JitflowError as error:  # the grant stands; the comment is a courtesy
        print(f"jitflow: warning: could not comment on #{number}: {error.message}", file=sys.stderr)


def _record_rejection(
    root: Path,
    settings: Settings,
    args: argparse.Namespace,
    *,
    sha: str,
    reason: str,
    now: datetime,
) -> None:
    from jitflow.auditlog import AuditLog  # noqa: PLC0415

    log = AuditLog(root / settings.audit_dir)
    log.append("rejected", {"commit": sha, "reason": reason, "actor": actor_from_env()}, now)
    if args.commit:
        commit_audit(root, log, f"jitflow apply: rejected {sha[:12]}\n\n{reason}\n")


def apply_merge(args: argparse.Namespace, root: Path, settings: Settings, now: datetime) -> int:
    from jitflow.gh import GitHubClient  # noqa: PLC0415
    from jitflow.gitcmd import Git  # noqa: PLC0415
    from jitflow.verify import verify_merge  # noqa: PLC0415

    sha = os.environ.get("GITHUB_SHA")
    if not sha:
        raise UsageError("give request paths, or run in the apply workflow (GITHUB_SHA unset)")
    git = Git(root)
    client = GitHubClient.from_env()
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
            _record_rejection(root, settings, args, sha=sha, reason=error.message, now=now)
            numbers = [p.number for p in client.pulls_for_commit(sha)]
            _comment(client, numbers[0] if numbers else None, rejected_comment(error.message))
        return 1
    engine, log = open_engine(root, settings, args.dry_run)
    pairs = [(plan.request, plan.policy) for plan in merge.result.plans]
    outcomes = engine.apply_requests(pairs, merge, now)
    reason = f"request file deleted by pull request #{merge.pull.number}"
    outcomes += [engine.revoke_request(rid, reason, now) for rid in merge.result.deleted]
    print_outcomes(outcomes)
    if not args.dry_run:
        for outcome in outcomes:
            if outcome.action == "granted":
                _comment(client, merge.pull.number, granted_comment(outcome, merge, now))
            elif outcome.action == "rejected":
                _comment(client, merge.pull.number, rejected_comment(outcome.detail))
        if args.commit:
            commit_audit(
                root,
                log,
                summary_message(f"jitflow apply: #{merge.pull.number} ({sha[:12]})", outcomes),
            )
    return 1 if any(o.action == "rejected" for o in outcomes) else 0
