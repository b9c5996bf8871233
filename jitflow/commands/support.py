"""What the commands share: argument helpers, the repository, the clock, the engine's ports.

Imports no command module (an import-linter contract keeps it so). Adapters that pull in
boto3 or PyGithub are imported inside the functions that need them, so `jitflow validate` and
`jitflow plan` never load them.
"""

from __future__ import annotations

import argparse
import getpass
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from jitflow.clock import iso, parse_time, system_clock
from jitflow.consistency import repository_problems
from jitflow.errors import AuditError, ConfigError, GitError, JitflowError, Rejected, UsageError
from jitflow.gitcmd import Git
from jitflow.loader import (
    IDENTITIES,
    NOT_A_REQUEST,
    REQUESTS_README,
    YAML_SUFFIXES,
    is_stray,
    judge_request,
    load_policy_set,
)
from jitflow.model import Duty, PolicySet, Request, Settings
from jitflow.problems import Problem
from jitflow.rules import check_request
from jitflow.settings import SETTINGS_FILE, load_settings
from jitflow.tree import FsTree, GitTree, find_repo_root

if TYPE_CHECKING:
    from jitflow.audit.ledger import AuditStore
    from jitflow.audit.store import AuditLog
    from jitflow.auditrepo import AuditRepo
    from jitflow.breakglass import Due
    from jitflow.engine import ApprovalSource, Engine, Outcome
    from jitflow.gh import GitHubClient
    from jitflow.notify.requested import Polled, PullLister

def add_policies_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        metavar="DIR",
        type=Path,
        default=None,
        help="policies folder (default: policies/ at the repository root)",
    )


def request_files(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked for every file under a requests/ folder but the README
    at its top (a file that is not a request there is reported, as the PR check does)."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            inside = "requests" in path.absolute().parts
            found += sorted(
                p
                for p in path.rglob("*")
                if not _is_readme(p)
                and (inside or "requests" in p.relative_to(path).parent.parts)
                and p.is_file()
            )
        else:
            raise UsageError(f"{path}: no such file or directory")
    return found


def scan_request_files(paths: list[Path]) -> tuple[Path | None, Iterator[Path]]:
    """The files `request_files(paths)` lists, one at a time and in directory order rather
    than sorted, with the first file of that list (it locates the policies folder).

    For a caller to whom the order does not matter (`validate`: `render` sorts problems)
    and that should not hold every name: a folder's files stream from `os.scandir`, and
    only subdirectory names are held. Every path is checked to exist before anything else."""
    for path in paths:
        if not path.is_file() and not path.is_dir():
            raise UsageError(f"{path}: no such file or directory")
    first: Path | None = None
    for path in paths:
        first = path if path.is_file() else _first_file(path, _inside_requests(path))
        if first is not None:
            break
    return first, _scan_paths(paths)


def _inside_requests(folder: Path) -> bool:
    return "requests" in folder.absolute().parts


def _is_readme(path: Path) -> bool:
    """requests/README.md, the one file under requests/ that is not judged."""
    return path.name == "README.md" and path.parent.name == "requests"




def _scan_paths(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from _scan(path, _inside_requests(path))
        else:
            raise UsageError(f"{path}: no such file or directory")


def _entries(folder: Path, under_requests: bool) -> Iterator[tuple[Path, bool]]:
    """(path, is a request file) for every entry of `folder` that is a request file or a
    directory rglob would enter (not a symlink); nothing for a folder it may not read."""
    readme = "README.md" if folder.name == "requests" else None  # the one file not judged
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if under_requests and entry.name != readme and _file(entry):
                    yield folder / entry.name, True
                elif _real_directory(entry):
                    yield folder / entry.name, False
    except PermissionError:
        return


def _file(entry: os.DirEntry[str]) -> bool:
    """A file, or a symlink to one (as Path.is_file says)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _scan(folder: Path, under_requests: bool) -> Iterator[Path]:
    """The request files below `folder` (those `request_files` finds), unordered."""
    subfolders: list[Path] = []
    for path, is_file in _entries(folder, under_requests):
        if is_file:
            yield path
        else:
            subfolders.append(path)
    for path in subfolders:
        yield from _scan(path, under_requests or path.name == "requests")


def _first_file(folder: Path, under_requests: bool) -> Path | None:
    """The first of `request_files([folder])` (sorted), found holding only the smallest file
    name of each folder and its subfolder names: a subfolder sorts before a file when its
    name does, and all its files sort at its name's place."""
    smallest: Path | None = None
    subfolders: list[Path] = []
    for path, is_file in _entries(folder, under_requests):
        if not is_file:
            subfolders.append(path)
        elif smallest is None or path.name < smallest.name:
            smallest = path
    for path in sorted(subfolders):
        if smallest is not None and path.name > smallest.name:
            break
        found = _first_file(path, under_requests or path.name == "requests")
        if found is not None:
            return found
    return smallest


def _real_directory(entry: os.DirEntry[str]) -> bool:
    """A directory that is not a symlink to one (rglob enters only those)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _policies_directory(policies_dir: Path | None, anchor: Path) -> Path:
    return policies_dir if policies_dir is not None else find_repo_root(anchor) / "policies"


def repository_root(policies_dir: Path | None, anchor: Path) -> Path:
    """The repository `load_policies` reads from: the policies folder's parent."""
    return _policies_directory(policies_dir, anchor).resolve().parent


def repository_problems_near(policies_dir: Path | None, anchor: Path,
                             policy_set: PolicySet) -> list[Problem]:
    """jitflow.yaml beside the policies folder and what must agree with it (nothing without
    one), each path shown as `load_policies` shows the policies'."""
    directory = _policies_directory(policies_dir, anchor)
    found = repository_problems(FsTree(directory.resolve().parent), policy_set)
    return [replace(p, path=str(directory.parent / p.path)) for p in found]


def relative_to_root(problems: Iterable[Problem], root: Path) -> list[Problem]:
    """Problems with repository-relative paths (GitHub attaches annotations only to those);
    a path outside `root` stays as it is."""
    bases = (root, root.resolve())
    shown = []
    for problem in problems:
        full = Path(os.path.abspath(problem.path))
        base = next((b for b in bases if full.is_relative_to(b)), None)
        shown.append(problem if base is None else
                     replace(problem, path=full.relative_to(base).as_posix()))
    return shown


def _broken_policies(policy_set: PolicySet, problems: list[Problem]) -> set[str]:
    """The policies whose file is there but could not be loaded (its problems say why)."""
    names = {PurePath(p.path).stem for p in problems
             if p.severity == "error" and PurePath(p.path).suffix in YAML_SUFFIXES}
    return names - set(policy_set.policies) - {IDENTITIES}


def load_policies(policies_dir: Path | None, anchor: Path) -> tuple[PolicySet, list[Problem]]:
    """The policy set from --policies, or from policies/ at the repository holding `anchor`."""
    directory = _policies_directory(policies_dir, anchor)
    if not directory.is_dir():
        raise UsageError(f"{directory}: policies folder not found (use --policies DIR)")
    root = directory.resolve().parent
    policy_set, problems = load_policy_set(FsTree(root), directory.resolve().name)
    # Name policy files as the user would (relative to where they pointed us).
    shown = [
        Problem(str(directory / Path(p.path).name), p.line, p.col, p.message, p.severity)
        for p in problems
    ]
    return policy_set, shown


def partition_near(policies_dir: Path | None, anchor: Path) -> str:
    """The partition jitflow grants in, from the jitflow.yaml beside the policies folder
    `load_policies` reads; the default region's (aws) when there is none or it is invalid
    (validate and plan judge requests, not the settings)."""
    root = _policies_directory(policies_dir, anchor).resolve().parent
    if (root / SETTINGS_FILE).is_file():
        try:
            return load_settings(FsTree(root)).partition
        except ConfigError:
            pass
    return Settings(admins=(), accounts={}).partition


def display_path(path: Path) -> str:
    """The request's path as jitflow reasons about it: `requests/<policy>/<name>.yaml`."""
    parts = path.absolute().parts
    if "requests" in parts:
        start = len(parts) - 1 - parts[::-1].index("requests")
        return "/".join(parts[start:])
    return path.as_posix()


def judge_files(
    files: Iterable[Path],
    policies_dir: Path | None,
    keep_valid: bool = True,
    first: Path | None = None,
) -> tuple[PolicySet, list[Request], list[Problem]]:
    """Load every file and judge it: (policy set, valid requests, every problem found).

    The policies are looked for from `first` (default: the first of `files`). With
    `keep_valid` False the valid requests are judged and dropped (an empty list comes back):
    a caller that only reports problems, given an iterator of files, then holds neither the
    files nor the requests in memory."""
    files = iter(files)
    if first is None:
        first = next(files, None)
        files = itertools.chain([] if first is None else [first], files)
    anchor = first if first is not None else Path.cwd()
    policy_set, problems = load_policies(policies_dir, anchor)
    partition = partition_near(policies_dir, anchor)
    # A request under a policy whose file is broken is judged for its own shape only: the
    # policy's problems are reported once, not as "there is no policy" again per request.
    broken = _broken_policies(policy_set, problems)

    def check(request: Request, policies: PolicySet) -> list[Problem]:
        return [] if request.policy in broken else check_request(request, policies,
                                                                 partition=partition)

    valid: list[Request] = []
    for path in files:
        shown = display_path(path)
        if shown == REQUESTS_README:
            continue  # named by hand (`requests/*`): the one file there that is no request
        if is_stray(shown):
            problems.append(Problem(str(path), None, None, NOT_A_REQUEST))
            continue
        try:
            raw = path.read_bytes()
        except OSError as error:
            problems.append(Problem(str(path), None, None, f"cannot read: {error.strerror}"))
            continue
        # Judge by the canonical requests/<policy>/<name> location; report by the given path.
        request, found = judge_request(raw, shown, policy_set, check)
        if request is not None and keep_valid and request.policy not in broken:
            valid.append(request)
        problems += [Problem(str(path), p.line, p.col, p.message, p.severity) for p in found]
    return policy_set, valid, problems


# --- the grant commands (apply, revoke, status) ---------------------------------------


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
                        help="commit the audit log change where the log lives (the audit "
                        "branch checkout, see --audit-repo)")
    add_audit_repo_argument(parser)


def add_audit_repo_argument(parser: argparse.ArgumentParser) -> None:
    # Here, not at the top: `jitflow validate` shares this module and stays light.
    from jitflow.auditrepo import AUDIT_REPO_HELP  # noqa: PLC0415

    parser.add_argument("--audit-repo", type=Path, default=None, metavar="DIR",
                        help=AUDIT_REPO_HELP)


def audit_location(args: argparse.Namespace, root: Path, settings: Settings, *,
                   write: bool) -> AuditRepo:
    """Where the audit log is for this command (jitflow.auditrepo.locate): the checkout given
    by --audit-repo / JITFLOW_AUDIT_REPO (created when a writing command finds it missing),
    else the clone's origin/<audit_branch> (read only), else the working tree's."""
    from jitflow.auditrepo import given_checkout, locate  # noqa: PLC0415

    return locate(root, settings, given_checkout(getattr(args, "audit_repo", None)),
                  write=write)


def repo_root(args: argparse.Namespace) -> Path:

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


def open_engine(root: Path, settings: Settings, dry_run: bool, verify: bool = True,
                policies: PolicySet | None = None, *, log_dir: Path, duty: Duty = "apply"
                ) -> tuple[Engine, AuditLog]:
    """The engine with the real ports, for a run that may grant. The log (in `log_dir`) must
    verify before anything changes in AWS: a grant whose record could not be appended would
    be a grant without evidence, and a grant judged by a forged log is no better.
    `policies` (the default or base branch's) are what bucket-policy grants are judged by;
    `duty` picks the role assumed in other accounts (a read-only run passes "revoke")."""
    log = _audit_log(log_dir)
    problems = log.verify() if verify else []
    if problems:
        raise AuditError(f"the audit log does not verify: new grants wait until an admin "
                         f"repairs it (jitflow audit verify shows every problem; revoke goes "
                         f"on removing grants meanwhile). Nothing was changed: "
                         f"{_shown(problems)}")
    return _engine(root, settings, log, dry_run, policies, duty=duty), log


def open_removal_engine(root: Path, settings: Settings, dry_run: bool,
                        policies: PolicySet | None = None, *, log_dir: Path
                        ) -> tuple[Engine, AuditLog, list[Problem]]:
    """The engine for `jitflow revoke`, with the log's problems: a log that does not verify
    never stops the removal of access. Its records past the break are not trusted, and what
    the run records goes into a marked segment (jitflow.audit.segment)."""
    log = _audit_log(log_dir)
    problems = log.verify()
    if not problems:
        return _engine(root, settings, log, dry_run, policies, duty="revoke"), log, problems
    print(f"jitflow: warning: the audit log does not verify; revoking anyway, recording in a "
          f"marked segment: {_shown(problems)}", file=sys.stderr)
    return (_engine(root, settings, log.for_removals(), dry_run, policies, duty="revoke"),
            log, problems)


def _audit_log(directory: Path) -> AuditLog:
    # Here, not at the top: `jitflow validate` and `jitflow plan` share this module and must
    # not pay for the engine, boto3 or the audit log.
    from jitflow.audit.store import AuditLog  # noqa: PLC0415

    return AuditLog(directory)


def _engine(root: Path, settings: Settings, store: AuditStore, dry_run: bool,
            policies: PolicySet | None, *, duty: Duty) -> Engine:
    from jitflow.aws import Accounts  # noqa: PLC0415
    from jitflow.engine import Engine  # noqa: PLC0415

    return Engine(Accounts(settings, duty=duty), store, settings, actor_from_env(),
                  dry_run=dry_run, policies=policies)


def _shown(problems: list[Problem]) -> str:
    return "; ".join(p.text() for p in problems[:5]) + (
        f"; and {len(problems) - 5} more" if len(problems) > 5 else "")


def broken_log_error(log: AuditLog, problems: list[Problem]) -> AuditError:
    """How a revoke over a broken log ends (exit 1), after its removals are recorded."""
    changed = log.changed_files()
    segments = [p.name for p in changed if p in log.segment_files()]
    where = "none: nothing was recorded" if not changed else \
        f"in the marked segment {', '.join(segments)}" if segments else \
        "in the month files, whose chain is intact"
    breaks = [p for p in problems if p.severity == "error"]
    return AuditError(
        f"the audit log does not verify ({len(breaks)} problem{'s' if len(breaks) != 1 else ''}"
        f"; jitflow audit verify shows each); the records of the removals above: {where}. New "
        "grants wait until an admin repairs the log (docs/setup.md, \"A broken audit log\")")


def print_outcomes(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        print(outcome.text())
    if not outcomes:
        print("nothing to do")


def commit_audit(audit: AuditRepo, log: AuditLog, message: str, also: Iterable[Path] = ()
                 ) -> None:
    """Commit the records this run appended (and `also`: the team snapshot) where the log
    lives: the audit branch's checkout, or the working tree of a repository without one."""
    extra = list(also)
    changed = [*log.changed_files(), *extra]
    if extra:
        message += "".join(f"\nupdated {path.name}" for path in extra) + "\n"
    if changed:
        commit = audit.commit(changed, message)
        if commit:
            print(f"committed {commit[:12]} in {audit.describe()}: {message.splitlines()[0]}",
                  file=sys.stderr)


def anchor_head(root: Path, settings: Settings, log: AuditLog,
                args: argparse.Namespace) -> JitflowError | None:
    """After the audit commit (so that nothing can lose a record): write the log's new head to
    the audit anchor (jitflow.audit.anchor), when this run committed records (--commit, not
    --dry-run). The failure, if any, comes back for the caller to raise once the rest of its
    work is done: an unreachable SSM is exit 3, a log that disagrees with the anchor exit 1."""
    if not args.commit or args.dry_run or not log.changed_files():
        return None
    from jitflow.audit.anchor import advance  # noqa: PLC0415
    from jitflow.aws import AnchorParameter  # noqa: PLC0415

    try:
        head = advance(AnchorParameter.from_settings(settings), log)
    except JitflowError as error:
        return error
    if head is not None:
        print(f"audit anchor {settings.audit_anchor}: {head.text()}", file=sys.stderr)
    return None


def require_anchored_log(settings: Settings, log_dir: Path) -> None:
    """Before apply grants: the log in `log_dir` must hold the audit anchor's head
    (jitflow.audit.anchor.require_anchored); an unreachable SSM is exit 3, and nothing is
    granted either way."""
    from jitflow.audit.anchor import require_anchored  # noqa: PLC0415
    from jitflow.audit.store import AuditLog  # noqa: PLC0415
    from jitflow.aws import AnchorParameter  # noqa: PLC0415

    require_anchored(AnchorParameter.from_settings(settings), AuditLog(log_dir))


def raise_first(*errors: JitflowError | None) -> None:
    """Raise the first of `errors` that is not None (its exit code wins), after printing the
    others, so that no failure goes unreported."""
    found = [error for error in errors if error is not None]
    for later in found[1:]:
        print(f"jitflow: error: {later.message}", file=sys.stderr)
    if found:
        raise found[0]


def summary_message(title: str, outcomes: list[Outcome]) -> str:
    lines = [o.text() for o in outcomes if not o.dry_run and o.action not in ("none", "kept")]
    return f"{title}\n\n" + "\n".join(lines) + "\n"


def finish_stopped_run(audit: AuditRepo, log: AuditLog, args: argparse.Namespace, title: str, *,
                       outcomes: list[Outcome], error: Exception,
                       settings: Settings | None = None) -> None:
    """A run that stopped part-way (an AWS or GitHub failure, or a bug): print what it did
    and, with --commit, commit the records it wrote, so that every AWS change it made reaches
    the repository in this run (the workflows push the commit even after a failed step), and
    (given `settings`) anchor the new head. The caller raises `error` again: the exit code
    stays the failure's. A failure to commit or to anchor is reported and never hides
    `error`."""
    for outcome in outcomes:
        print(outcome.text())
    if not args.commit or args.dry_run or not log.changed_files():
        return
    reason = error.message if isinstance(error, JitflowError) else \
        f"internal error: {type(error).__name__}: {error}"
    message = (summary_message(f"{title} (stopped part-way)", outcomes)
               + f"\nStopped by: {reason}\nEach change listed above was made in AWS and is "
               "recorded; a rerun completes the rest (and records the step that failed, "
               "marked reconciled if AWS made it).\n")
    try:
        commit_audit(audit, log, message)
    except JitflowError as failed:
        print(f"jitflow: warning: the audit records of this stopped run are not committed: "
              f"{failed.message}", file=sys.stderr)
        return
    anchored = anchor_head(audit.root, settings, log, args) if settings is not None else None
    if anchored is not None:
        print(f"jitflow: warning: the audit anchor was not written: {anchored.message}",
              file=sys.stderr)


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


def default_branch_policies(root: Path, settings: Settings) -> tuple[GitTree, PolicySet] | None:
    """The default branch and its policies, or None outside a git checkout of it."""
    try:
        tree = default_branch_tree(root, settings)
    except GitError:
        return None
    return tree, load_policy_set(tree)[0]  # broken files: each request is judged on its own


def default_branch_tree(root: Path, settings: Settings) -> GitTree:

    git = Git(root)
    for ref in (settings.default_branch, f"origin/{settings.default_branch}"):
        try:
            git.rev_parse(ref)
        except GitError:
            continue
        return GitTree(git, ref)
    raise GitError(f"cannot find the default branch {settings.default_branch} in {root}")




def notify_run(log: AuditLog, settings: Settings, *, since: int, now: datetime,
               overdue: Sequence[Due] = (), expiring: bool = False,
               pulls: PullLister | None = None) -> None:
    """Send the lifecycle notifications of the records no run announced yet (after the
    outbox's cursor; the first run ever: after seq `since`, where it started), of grants
    about to end (`expiring`: the revoke run), of overdue break-glass reviews and of the
    requests open pull requests ask for (`pulls`: GitHub, in the revoke run), plus the
    retries of earlier failures; record every attempt in the outbox beside the log. A
    notification never fails a grant or a revoke: anything that goes wrong here is reported
    on stderr and left for the next run."""
    if not settings.notification_targets:
        return
    from jitflow import notify  # noqa: PLC0415 (only runs that notify pay for it)
    from jitflow.audit.ledger import open_grant  # noqa: PLC0415
    from jitflow.audit.record import AuditRecord  # noqa: PLC0415
    from jitflow.notify.outbox import OUTBOX_FILE, cursor, cursor_line, parse  # noqa: PLC0415
    from jitflow.notify.transport import Transport  # noqa: PLC0415

    try:
        records = [AuditRecord.from_json(r) for r in log.records()]
        earlier = parse(log.read_side_file(OUTBOX_FILE))
        start = cursor(earlier)
        start = since if start is None else start
        events = notify.from_records(r for r in records if r.seq > start)
        events += notify.review_overdue(overdue, now)
        if expiring:
            by_request: dict[str, list[AuditRecord]] = {}
            for record in records:
                by_request.setdefault(record.request or "", []).append(record)
            live = [g for h in by_request.values() if (g := open_grant(h)) is not None]
            events += notify.expiring_soon(live, now, settings.expiring_soon_lead)
        polled = _poll_requests(pulls, settings, earlier, now)
        done = notify.dispatch(settings.notification_targets, [*polled.events, *events],
                               earlier, Transport(os.environ, settings.region), time=iso(now),
                               repository_url=_repository_url(os.environ))
        last = records[-1].seq if records else start
        log.append_side_lines(OUTBOX_FILE, [*polled.lines, *done.lines,
                                            cursor_line(last, iso(now))])
    except Exception as error:  # a notification must never fail the run
        print(f"jitflow: warning: notifications not sent ({type(error).__name__}: {error}); "
              "the next run sends them", file=sys.stderr)
        return
    for line in done.failures:
        print(f"jitflow: warning: notification {line['id']} to {line['target']} "
              f"{line['status']}: {line['error']}", file=sys.stderr)


def last_seq(engine: Engine) -> int:
    """The seq of the log's last record as the run starts (0: an empty log)."""
    records = engine.run.ledger.load()
    return records[-1].seq if records else 0


def _repository_url(env: Mapping[str, str]) -> str | None:
    repository = env.get("GITHUB_REPOSITORY")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return f"{server}/{repository}" if repository else None


# --- the team-reading token and the team snapshot (docs/setup.md, "The team lookup token") --

# Names of environment variables, not secrets.
TEAMS_TOKEN_ENV = "JITFLOW_TEAMS_TOKEN"  # noqa: S105  (the token itself: local runs only)
TEAMS_SECRET_ENV = "JITFLOW_TEAMS_TOKEN_SECRET"  # noqa: S105  (the workflows: where it is)


def _poll_requests(pulls: PullLister | None, settings: Settings,
                   earlier: Sequence[dict[str, Any]], now: datetime) -> Polled:
    """The `requested` events of open pull requests, when a target wants them. GitHub out
    of reach costs only these: the run's other events still go out, and the next run polls
    again (no head is remembered as looked at)."""
    from jitflow.notify.requested import Polled, poll  # noqa: PLC0415

    if pulls is None or not any(t.wants("requested") for t in settings.notification_targets):
        return Polled([], [])
    try:
        return poll(pulls, settings.default_branch, earlier, now)
    except JitflowError as error:
        print(f"jitflow: warning: open pull requests not read, `requested` not sent this "
              f"run: {error.message}", file=sys.stderr)
        return Polled([], [])


def teams_token(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """The token that may read the organisation's teams: JITFLOW_TEAMS_TOKEN when set (a local
    run), else the AWS Secrets Manager secret JITFLOW_TEAMS_TOKEN_SECRET names, read with the
    job's own AWS credentials (the apply and revoke workflows: no workflow holds it as a
    GitHub secret); None when neither is set. Masked in the job's log."""
    environ = os.environ if env is None else env
    token = environ.get(TEAMS_TOKEN_ENV, "")
    secret = environ.get(TEAMS_SECRET_ENV, "")
    if not token and secret:
        from jitflow.aws import read_secret  # noqa: PLC0415

        token = read_secret(secret, settings.region)
    if token:
        from jitflow.aws import mask_secret  # noqa: PLC0415

        mask_secret(token, environ)
    return token or None


def github_client(token: str | None, env: Mapping[str, str] | None = None) -> GitHubClient:
    """The GitHub adapter from the Actions environment, reading teams with `token`."""
    from jitflow.gh import GitHubClient  # noqa: PLC0415

    return GitHubClient.from_env(env, teams_token=token)


def refresh_team_snapshot(audit: AuditRepo, policies: PolicySet | None,
                          client: GitHubClient | None, now: datetime) -> list[Path]:
    """Write `teams.json` on the audit branch (jitflow.teamsnapshot) when the membership of
    the teams the policies name changed, or the last snapshot is a day old; the files to
    commit. Only in an audit-branch checkout, with a client holding a team-reading token.
    Never fails the run (it already changed AWS): a failure is a warning, the old snapshot
    stays, and the check's "as of" says how old it is."""
    from jitflow import teamsnapshot  # noqa: PLC0415

    path = audit.snapshot_path
    named = teamsnapshot.teams_named(policies) if policies is not None else []
    if path is None or client is None or not named:
        return []
    try:
        members = {team: _members(client, *team) for team in named}
    except JitflowError as error:
        print(f"jitflow: warning: the team snapshot is not refreshed: {error.message}",
              file=sys.stderr)
        return []
    new = teamsnapshot.take(members, at=now, by=actor_from_env())
    try:
        raw = audit.read_snapshot()
        old = teamsnapshot.parse(raw, str(path)) if raw is not None else None
    except teamsnapshot.SnapshotError:
        old = None  # unreadable: replaced
    if not teamsnapshot.needs_writing(old, new):
        return []
    path.write_bytes(new.render())
    print(f"team snapshot: {len(named)} team(s) as of {iso(now)} in {path.name}",
          file=sys.stderr)
    return [path]


def _members(client: GitHubClient, org: str, slug: str) -> list[str] | None:
    """A team's members; None for a team GitHub does not know (a typo in a policy): the check
    then reports it missing, and no approval counts for it, as in apply."""
    from jitflow.gh import GitHubHttpError  # noqa: PLC0415

    try:
        return client.team_members(org, slug)
    except GitHubHttpError as error:
        if error.status != 404:
            raise
        print(f"jitflow: warning: the policies name @{org}/{slug}, which GitHub does not know "
              "(or the team token cannot see): the team snapshot records it as missing",
              file=sys.stderr)
        return None
