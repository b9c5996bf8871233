"""`jitflow apply`: grant approved requests in AWS and record them in the audit log.

Also holds what the grant commands share (repository, settings, ports, actor, commit).
Approval evidence comes from `approval_source_from_env()`: until GitHub verification is
configured it refuses, so this command grants nothing without approvals (fail closed).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jitflow.clock import parse_time, system_clock
from jitflow.errors import AuditError, InvalidInput, Rejected, UsageError
from jitflow.model import Policy, Request, Settings

if TYPE_CHECKING:
    from jitflow.auditlog import AuditLog
    from jitflow.engine import ApprovalSource, Engine, Outcome


def approval_source_from_env() -> ApprovalSource:
    """Request paths given by hand have no verifiable approval: refuse (fail closed).

    Approved grants come only from a merge, verified against GitHub (`jitflow apply` with no
    paths, in the apply workflow)."""
    raise Rejected("request paths given by hand carry no approval: grants are applied only "
                   "from a verified merge (run `jitflow apply` without paths in the workflow)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", type=Path, default=None, metavar="DIR",
                        help="repository root (default: the one holding the current directory)")
    parser.add_argument("--at", metavar="TIME", help="the time to act at (ISO 8601; default: now)")
    parser.add_argument("--dry-run", action="store_true",
                        help="make no change in AWS or the audit log; print what would be done")
    parser.add_argument("--commit", action="store_true",
                        help="commit the audit log change to the local git repository")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="request files to apply; without paths (the workflow's way), the "
                        "requests added by the merge commit GITHUB_SHA, verified against GitHub")


def repo_root(args: argparse.Namespace) -> Path:
    from jitflow.tree import find_repo_root  # noqa: PLC0415

    root: Path = args.repo if args.repo is not None else find_repo_root(Path.cwd())
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    return root.resolve()


def now_of(args: argparse.Namespace) -> datetime:
    return parse_time(args.at) if args.at else system_clock()


def actor_from_env() -> str:
    """The workflow run URL in GitHub Actions, else local:<user>."""
    server, repo, run_id = (os.environ.get(k) for k in (
        "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run_id:
        return f"{server}/{repo}/actions/runs/{run_id}"
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container with no USER and no passwd entry
        user = "unknown"
    return f"local:{user}"


def open_engine(root: Path, settings: Settings, dry_run: bool,
                verify: bool = True) -> tuple[Engine, AuditLog]:
    """The engine with the real ports. The log must verify before anything changes in AWS:
    a change whose record could not be appended would be a grant without evidence."""
    from jitflow.auditlog import AuditLog  # noqa: PLC0415
    from jitflow.aws import Accounts  # noqa: PLC0415
    from jitflow.engine import Engine  # noqa: PLC0415

    log = AuditLog(root / settings.audit_dir)
    problems = log.verify() if verify else []
    if problems:
        shown = "; ".join(p.text() for p in problems[:5])
        raise AuditError(f"the audit log does not verify, nothing was changed: {shown}")
    engine = Engine(Accounts(settings), log, settings, actor_from_env(), dry_run=dry_run)
    return engine, log


def print_outcomes(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        print(outcome.text())
    if not outcomes:
        print("nothing to do")


def commit_audit(root: Path, log: AuditLog, message: str) -> None:
    from jitflow.gitcmd import Git  # noqa: PLC0415

    changed = log.changed_files()
    if changed:
        commit = Git(root).commit_paths(changed, message)
        if commit:
            print(f"committed {commit[:12]}: {message.splitlines()[0]}", file=sys.stderr)


def summary_message(title: str, outcomes: list[Outcome]) -> str:
    lines = [o.text() for o in outcomes if not o.dry_run and o.action not in ("none", "kept")]
    return f"{title}\n\n" + "\n".join(lines) + "\n"


def load_requests(root: Path, paths: list[str]) -> list[tuple[Request, Policy]]:
    from jitflow.loader import load_and_check, load_policy_set  # noqa: PLC0415
    from jitflow.tree import FsTree  # noqa: PLC0415

    tree = FsTree(root)
    policies, problems = load_policy_set(tree)
    found: list[tuple[Request, Policy]] = []
    for given in paths:
        path = Path(given)
        relative = path.resolve().relative_to(root).as_posix() if path.is_absolute() or \
            path.resolve().is_relative_to(root) else given
        request, request_problems = load_and_check(tree, relative, policies)
        problems += request_problems
        if request is not None and request.policy in policies.policies:
            found.append((request, policies.policies[request.policy]))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidInput(problems, f"{len(errors)} error(s): nothing was applied")
    return found


def run(args: argparse.Namespace) -> int:
    from jitflow.settings import load_settings  # noqa: PLC0415
    from jitflow.tree import FsTree  # noqa: PLC0415

    root = repo_root(args)
    now = now_of(args)
    settings = load_settings(FsTree(root))
    if not args.paths:
        from jitflow.commands.apply_merge import apply_merge  # noqa: PLC0415

        return apply_merge(args, root, settings, now)
    pairs = load_requests(root, args.paths)
    source = approval_source_from_env()  # before any AWS call: no approvals, no run
    engine, log = open_engine(root, settings, args.dry_run)
    outcomes = engine.apply_requests(pairs, source, now)
    print_outcomes(outcomes)
    if args.commit and not args.dry_run:
        commit_audit(root, log, summary_message("jitflow apply: audit records", outcomes))
    return 1 if any(o.action == "rejected" for o in outcomes) else 0
