"""`jitflow audit verify [DIR]`, `jitflow audit show` and `jitflow audit trail ID`: check and
read the audit log, and what a grant's identity did in AWS (jitflow.trail)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jitflow.audit.anchor import AGREE, NO_HEAD, AnchorReport
from jitflow.audit.store import AuditLog
from jitflow.auditrepo import AUDIT_REPO_HELP, AuditRepo, given_checkout, locate
from jitflow.clock import iso, parse_time
from jitflow.errors import AwsError, InvalidInput, UsageError
from jitflow.problems import Problem
from jitflow.tree import find_worktree_root

if TYPE_CHECKING:
    from jitflow.audit.history import HistoryReport
    from jitflow.model import Settings

DEFAULT_DIR = "audit"
SETTINGS_FILE = "jitflow.yaml"  # jitflow.settings.SETTINGS_FILE (a test keeps them equal)
DIR_HELP = f"audit directory (default: audit_dir of ./jitflow.yaml, else {DEFAULT_DIR})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="check the hash chain; every broken record is reported as FILE:LINE",
        description="Check the audit log's hash chain across all month files and, when the "
        "directory is in a git repository, that every commit to it (and the working tree) only "
        "appended to it. Exit 0 when it is intact, 1 with every problem as FILE:LINE: message.",
    )
    verify.add_argument("dir", nargs="?", metavar="DIR", help=DIR_HELP)
    verify.add_argument("--anchor", action="store_true",
                        help="also compare the log's head with the audit anchor in AWS (the SSM "
                             "parameter audit_anchor of ./jitflow.yaml, in its region) and with "
                             "every head the anchor held since its last reset; exit 3 when AWS "
                             "cannot be reached")
    repair = actions.add_parser(
        "repair",
        help="re-chain the marked segments revoke wrote while the log was broken",
        description="For an admin, once the broken lines of the month files are restored from "
        "git history: re-chain the records of each marked segment (segment-<n>.jsonl) onto the "
        "month files, remove the segment files, and verify. Refuses, changing nothing, while "
        "anything is still wrong. Commit the result in a pull request the admins review.",
    )
    repair.add_argument("dir", nargs="?", metavar="DIR", help=DIR_HELP)
    show = actions.add_parser(
        "show",
        help="print audit records (the chain is verified first)",
        description="Print audit records, oldest first. Refuses a log that does not verify.",
    )
    show.add_argument("--dir", help=DIR_HELP)
    show.add_argument("--request", metavar="ID", help="only records of this request (policy/name)")
    show.add_argument("--since", metavar="TIME",
                      help="only records at or after this time (ISO 8601 with zone)")
    show.add_argument("--format", choices=("text", "json"), default="text")
    trail = actions.add_parser(
        "trail", help="list the CloudTrail events a grant's identity made in its window",
        description="List the management events (CloudTrail LookupEvents) that a grant's "
        "principal, or in bucket-policy mode its session, made between its grant and its end, "
        "as the audit log records them. Needs jitflow.yaml and cloudtrail:LookupEvents in the "
        "grant's account.")
    _trail_arguments(trail)
    for action in (verify, repair, show, trail):
        action.add_argument("--audit-repo", type=Path, default=None, metavar="DIR",
                            help=AUDIT_REPO_HELP)


@contextmanager
def _directory(args: argparse.Namespace) -> Iterator[str]:
    """The directory named on the command line; else where jitflow.auditrepo finds the log:
    the --audit-repo checkout, the clone's origin/<audit_branch> (a temporary copy, its
    problems named as FILE on that branch), or the working tree's audit_dir."""
    if args.dir is not None:
        yield args.dir
        return
    # trail reads the repository's settings (--repo, else the one holding the current
    # directory); verify, show and repair the current directory's.
    trail = args.audit_action == "trail"
    root = _repo_root(args.repo or Path.cwd()) if trail else Path.cwd()
    settings = _settings(root)
    audit = locate(root, settings, given_checkout(args.audit_repo),
                   write=args.audit_action == "repair")
    args.audit_location = audit  # where the history check reads the log's git history
    if audit.kind == "tree":
        yield str(root / settings.audit_dir) if trail else settings.audit_dir
        return
    print(f"audit log: {audit.describe()}", file=sys.stderr)
    with audit.files() as directory:
        if audit.kind == "checkout":
            yield str(directory)
            return
        label = f"{audit.describe().split(' ')[0]}:{settings.audit_dir}"
        try:
            yield str(directory)
        except InvalidInput as error:  # name each problem as FILE on the branch, not the copy
            raise InvalidInput(
                [Problem(p.path.replace(str(directory), label), p.line, p.col, p.message,
                         p.severity) for p in error.problems],
                error.message.replace(str(directory), label)) from None


def _settings(root: Path | None = None) -> Settings:
    """ROOT/jitflow.yaml (default: ./jitflow.yaml), else the defaults (audit_dir audit,
    audit_branch jitflow-audit). Settings need YAML and the schemas: loaded only when they
    are read."""
    from jitflow.model import Settings  # noqa: PLC0415

    root = Path.cwd() if root is None else root
    if not (root / SETTINGS_FILE).is_file():
        return Settings(admins=(), accounts={}, audit_dir=DEFAULT_DIR)
    from jitflow.settings import load_settings  # noqa: PLC0415
    from jitflow.tree import FsTree  # noqa: PLC0415

    return load_settings(FsTree(root))


def _repo_root(given: Path) -> Path:
    from jitflow.tree import find_repo_root  # noqa: PLC0415

    return find_repo_root(given)


def _log(directory: str, named: bool) -> AuditLog:
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{directory} is not a directory")
    if named and not path.exists():
        # A mistyped directory must not read as "an intact, empty log".
        raise UsageError(f"{directory}: no such directory")
    return AuditLog(path)


def _verify(args: argparse.Namespace) -> int:
    log = _log(args.dir, args.named)
    summary = log.summary()  # one streaming pass
    history = _history(args.dir, getattr(args, "audit_location", None))
    anchor = _anchor(log) if getattr(args, "anchor", False) else None  # repair has none
    notes = (history.notes if not isinstance(history, str) else []) + \
        (anchor.history.notes if anchor is not None else [])
    problems = summary.problems + (history.problems if not isinstance(history, str)
                                   else []) + _anchor_problems(anchor)
    if problems:
        for note in notes:
            print(f"jitflow: note: {note}", file=sys.stderr)
        raise InvalidInput(problems, _verdict(args.dir, summary.problems, history, anchor))
    last = summary.last
    if last is None:
        print(f"audit chain intact: 0 records in 0 files (no audit records in {args.dir})")
    else:
        print(f"audit chain intact: {summary.records} records in {summary.files} files")
        print(f"last record: seq {last['seq']} at {last['time']}, hash {last['hash']}")
    print(history if isinstance(history, str) else history.summary())
    for note in notes:
        print(f"  note: {note}")
    if anchor is not None:
        print(f"audit anchor {anchor.name} ({anchor.stored.text()}): {anchor.verdict.message}")
    return 0


def _history(directory: str, audit: AuditRepo | None = None) -> HistoryReport | str:
    """The git history check of the audit directory, on HEAD and in the working tree; or why
    it was skipped. A log read from its branch's ref (jitflow.auditrepo) is checked on that
    ref's history, with no working tree."""
    if audit is not None and audit.kind == "ref" and audit.ref is not None:
        from jitflow.audit.history import check_history  # noqa: PLC0415
        from jitflow.gitcmd import DirectoryHistory, Git  # noqa: PLC0415

        with DirectoryHistory(Git(audit.root), audit.ref, audit.audit_dir) as source:
            return check_history(source, worktree=False)
    path = Path(directory).resolve()
    root = find_worktree_root(path if path.exists() else path.parent)
    if root is None:
        return f"history check skipped: {directory} is not in a git repository"
    # git only in a repository: outside one, `audit verify` stays as light as it was.
    from jitflow.audit.history import check_history  # noqa: PLC0415
    from jitflow.gitcmd import DirectoryHistory, Git  # noqa: PLC0415

    git = Git(root)
    if git.resolve("HEAD") is None:
        return f"history check skipped: the git repository at {root} has no commit yet"
    with DirectoryHistory(git, "HEAD", path.relative_to(root).as_posix()) as source:
        return check_history(source, worktree=True)


def _anchor(log: AuditLog) -> AnchorReport:
    """The log against the audit anchor in AWS (settings from ./jitflow.yaml, if any)."""
    from jitflow.audit.anchor import check_anchor  # noqa: PLC0415
    from jitflow.aws import AnchorParameter  # noqa: PLC0415

    settings = _settings()
    try:
        return check_anchor(AnchorParameter.from_settings(settings), log)
    except AwsError as error:
        raise AwsError(f"cannot read the audit anchor {settings.audit_anchor} in "
                       f"{settings.region}: {error.message}") from error


def _anchor_problems(anchor: AnchorReport | None) -> list[Problem]:
    if anchor is None or anchor.agrees:
        return []
    where = f"{anchor.name} ({anchor.stored.text()})"
    found = [] if anchor.verdict.kind in (AGREE, NO_HEAD) else [
        Problem(where, None, None, f"{anchor.verdict.kind}: {anchor.verdict.message}")]
    return found + [Problem(anchor.name, None, None, message)
                    for message in anchor.history.problems]


def _verdict(directory: str, chain: list[Problem], history: HistoryReport | str,
             anchor: AnchorReport | None) -> str:
    parts = [_broken(directory, chain)] if chain else []
    if not isinstance(history, str) and history.problems:
        parts.append(history.summary())
    if anchor is not None and not anchor.agrees:
        parts.append(f"the audit log disagrees with its anchor {anchor.name}")
    return "; ".join(parts)


def _broken(directory: str, problems: list[Problem]) -> str:
    """The verdict on a log that does not verify: its problems, and the marked segments that
    follow a break (reported as warnings: revoke went on recording removals there)."""
    count = sum(p.severity != "warning" for p in problems)
    segments = len(problems) - count
    verdict = f"audit chain in {directory} is broken: {count} problem{'s' if count != 1 else ''}"
    if segments:
        verdict += (f"; {segments} marked segment{'s' if segments != 1 else ''} of revoke's "
                    "records follow the break. New grants wait until an admin repairs the log: "
                    "restore the broken lines from git history, then run jitflow audit repair")
    return verdict


def _session(record: dict[str, Any]) -> str:
    role_id = record.get("role_id")
    return f"session {record['session']}" + (f" (aws:userid {role_id}:{record['session']})"
                                               if role_id else "")


def _buckets(record: dict[str, Any]) -> str:
    return "in the bucket policy of " + ", ".join(
        f"{b['bucket']} ({len(b['sids'])} statement{'s' if len(b['sids']) != 1 else ''})"
        for b in record["buckets"])


# How each field reads in one line of `audit show`, in this order; a field that is empty (or
# absent, in a record older than the field) is left out.
_SHOWN: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("request", lambda r: r["request"]),
    ("principal", lambda r: r["principal"]),
    ("session", _session),
    ("account", lambda r: f"account {r['account']}"),
    ("access", lambda r: "  ".join(f"s3://{i['bucket']}/{i['prefix']} {','.join(i['actions'])}"
                                    for i in r["access"])),
    ("buckets", _buckets),
    ("starts", lambda r: f"from {r['starts']}"),
    ("expiry", lambda r: f"until {r['expiry']}"),
    ("requester", lambda r: f"requested by {r['requester']}"),
    ("approvers", lambda r: f"approved by {', '.join(r['approvers'])}"),
    ("pr", lambda r: f"PR #{r['pr']}"),
    ("commit", lambda r: f"commit {r['commit'][:12]}"),
    ("reconciled", lambda r: "(reconciled)"),
    ("reason", lambda r: f"reason: {r['reason']}"),
    ("actor", lambda r: f"by {r['actor']}"),
)


def _text(record: dict[str, Any]) -> str:
    parts = [f"#{record['seq']}", record["time"], f"{record['event']:<14}"]
    parts += [shown(record) for key, shown in _SHOWN
              if record.get(key) or (key == "pr" and record.get("pr") is not None)]
    if record["event"] == "granted" and record.get("request"):
        parts.append(f"trail: jitflow audit trail {record['request']}")
    # One record, one line: a newline in a reason must not forge a second record.
    return "  ".join(str(p) for p in parts).replace("\r", "\\r").replace("\n", "\\n")


def _show(args: argparse.Namespace) -> int:
    since = iso(parse_time(args.since)) if args.since else None
    request = args.request

    def wanted(record: dict[str, Any]) -> bool:
        return (not request or record.get("request") == request) and (
            since is None or record["time"] >= since
        )

    # One pass verifies the chain and keeps only the records to show.
    records = _log(args.dir, args.named).select(wanted)
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    if not records:
        print("no audit records" + (" match" if args.request or since else f" in {args.dir}"))
        return 0
    for record in records:
        print(_text(record))
    return 0


def _repair(args: argparse.Namespace) -> int:
    # The clock and the actor only when repairing: verify and show stay light.
    from jitflow.clock import system_clock  # noqa: PLC0415
    from jitflow.commands.support import actor_from_env  # noqa: PLC0415

    log = _log(args.dir, args.named)
    done = log.repair(actor_from_env(), system_clock())
    for name, count in done:
        print(f"re-chained {count} record{'s' if count != 1 else ''} of {name} onto the month "
              f"files; removed {name}")
    if not done:
        print(f"no marked segment in {args.dir}: nothing to re-chain")
    return _verify(args)


def run(args: argparse.Namespace) -> int:
    args.named = args.dir is not None
    with _directory(args) as args.dir:
        if args.audit_action == "verify":
            return _verify(args)
        if args.audit_action == "repair":
            return _repair(args)
        if args.audit_action == "trail":
            return _trail(args)
        return _show(args)


def _trail_arguments(trail: argparse.ArgumentParser) -> None:
    trail.add_argument("request", metavar="REQUEST_ID", help="the request (policy/name)")
    trail.add_argument("--dir", help=DIR_HELP)
    trail.add_argument("--repo", type=Path, default=None, metavar="DIR",
                       help="repository root with jitflow.yaml (default: the one holding the "
                       "current directory)")
    trail.add_argument("--region", action="append", metavar="REGION",
                       help="look up in this region; repeat for more (default: jitflow.yaml's)")
    trail.add_argument("--at", metavar="TIME", help="now, for a grant still open (ISO 8601)")
    trail.add_argument("--format", choices=("text", "json"), default="text")


def _trail(args: argparse.Namespace) -> int:
    # AWS and the settings only here: verify and show stay light.
    from jitflow import trail  # noqa: PLC0415
    from jitflow.aws import Accounts  # noqa: PLC0415
    from jitflow.commands.support import now_of, repo_root  # noqa: PLC0415
    from jitflow.settings import load_settings  # noqa: PLC0415
    from jitflow.tree import FsTree  # noqa: PLC0415

    now = now_of(args)
    root = repo_root(args)
    settings = load_settings(FsTree(root))
    records = _log(args.dir, args.named).select(lambda r: r.get("request") == args.request)
    window = trail.window_of(args.request, records, now)
    regions = tuple(args.region or (settings.region,))
    accounts = Accounts(settings)
    looked_up = [event for region in regions for event in accounts.event_history(
        window.who.account, region).lookup(window.who.lookup_attribute(), window.start,
                                           window.end)]
    found = trail.trail_of(window, regions, looked_up, now)
    print(json.dumps(trail.as_json(found), indent=2) if args.format == "json"
          else trail.render_text(found))
    return 0
