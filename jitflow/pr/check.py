"""The pull-request check as a value: which files changed, is each request valid, approved?

`jitflow check` (on a PR) and `jitflow apply` (re-verifying a merge against its first parent)
both call `check_changes`, so the two can never judge a request, or a deletion
(`jitflow.pr.deletion`), differently. Everything a PR could influence is read from git at
explicit refs: policies, identities and settings come from the *base* ref (`GitTree(git,
base)`), never from the PR's own copies; added request files come from the head ref, deleted
ones from the base. No clock, no network: the caller passes the time, the PR facts and the team
resolver (gathered by `jitflow.gh`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from jitflow.approvals import ApprovalStatus, PullFacts, TeamResolver, judge
from jitflow.bucketpolicy import BUCKET_POLICY_LIMIT, Budget
from jitflow.budget import budgets
from jitflow.codeowners import CODEOWNERS_PATH, generate
from jitflow.consistency import is_jitflow_workflow, repository_problems
from jitflow.errors import ConfigError
from jitflow.loader import (
    NOT_A_REQUEST,
    REQUESTS_README,
    YAML_SUFFIXES,
    judge_request,
    load_policy_set,
)
from jitflow.model import PolicySet, Request, Settings
from jitflow.overlap import LiveGrant, already_live, track_grant
from jitflow.plan import Plan, build_plan, subject_for
from jitflow.pr.deletion import Deletion, judge_deletion
from jitflow.problems import Problem
from jitflow.rules import check_request
from jitflow.settings import SETTINGS_FILE, load_settings
from jitflow.tree import GitTree, Tree

if TYPE_CHECKING:
    from jitflow.gitcmd import Git

REQUESTS_DIR = "requests"
COMMENT_MARKER = "<!-- jitflow:check -->"  # the same as jitflow.gh.STICKY_MARKER
SPLIT_HINT = (
    "a request pull request may change only request files under requests/: "
    "split it into one PR for the request and another for everything else"
)
IMMUTABLE_HINT = "requests are immutable; add a new file to extend"


class ChangeLike(Protocol):
    """What `jitflow.gitcmd.Change` offers: a git name-status letter and a path."""

    @property
    def status(self) -> str: ...

    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class CheckResult:
    """Everything the check found; `ok` is the verdict."""

    base: str
    head: str
    changed: tuple[str, ...] = ()  # every changed path, merge base..head
    problems: tuple[Problem, ...] = ()
    requests: tuple[Request, ...] = ()  # added and valid
    plans: tuple[Plan, ...] = ()
    deleted: tuple[str, ...] = ()  # request ids whose file the PR deletes (early revoke)
    deletions: tuple[Deletion, ...] = ()  # each deleted request file, judged
    approvals: dict[str, ApprovalStatus] = field(default_factory=dict)  # request id ->
    approvals_checked: bool = False  # False when no PR facts were given (a local run)
    notes: tuple[str, ...] = ()
    policies: PolicySet | None = None  # the base branch's, that judged the requests
    budgets: dict[str, tuple[Budget, ...]] = field(default_factory=dict)  # bucket-policy grants

    @property
    def touches_requests(self) -> bool:
        return any(is_request_area(p) for p in self.changed)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def merge_errors(self) -> tuple[Problem, ...]:
        """The errors that refuse a whole merge at apply: all but a deletion's own verdict,
        which apply records and comments on for that request alone (nothing of it is revoked;
        the rest of the merge is judged on its own, as an unapproved grant is)."""
        verdicts = {d.problem() for d in self.deletions}
        return tuple(p for p in self.errors if p not in verdicts)

    @property
    def approved(self) -> bool:
        return all(status.ok for status in self.approvals.values())

    @property
    def ok(self) -> bool:
        """Valid, and (when approvals were checked) every added request is approved and every
        deletion allowed (a deletion that is not is an error: `Deletion.problem`)."""
        return not self.errors and self.approved


def is_request_area(path: str) -> bool:
    """Under requests/ and not its README: a file that is (or pretends to be) a request."""
    parts = PurePosixPath(path).parts
    return len(parts) >= 2 and parts[0] == REQUESTS_DIR and path != REQUESTS_README


def request_id_of(path: str) -> str | None:
    """`policy/name` for `requests/<policy>/<name>.yaml|yml`; None for any other path."""
    pure = PurePosixPath(path)
    if len(pure.parts) != 3 or pure.parts[0] != REQUESTS_DIR or pure.suffix not in YAML_SUFFIXES:
        return None
    return f"{pure.parts[1]}/{pure.stem}"


def _problem(path: str, message: str, line: int | None = 1) -> Problem:
    # Line 1 by default so the GitHub annotation lands on the file in the PR's diff view.
    return Problem(path, line, None, message)


def scope_problems(changes: Sequence[ChangeLike]) -> list[Problem]:
    """A PR that touches a request must touch nothing else; and only well-placed requests."""
    problems: list[Problem] = []
    request_area = [c for c in changes if is_request_area(c.path)]
    if not request_area:
        return problems
    for change in changes:
        if not is_request_area(change.path):
            problems.append(
                _problem(change.path, f"this pull request also changes {change.path}: {SPLIT_HINT}")
            )
        elif request_id_of(change.path) is None:
            problems.append(_problem(change.path, NOT_A_REQUEST))
    return problems


# A string-valued "request" key, as a line without escapes holds it: within a line JSON puts
# only spaces, tabs and carriage returns around the colon, and the value is the text up to its
# closing quote. A line ends at "\n" only, as `AuditLog` reads it (a record may hold U+2028).
_REQUEST_KEY = re.compile(r'"request"[ \t\r]*:[ \t\r]*"([^"\\\n]*)"')


def _record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a broken log is `jitflow audit verify`'s finding, not this check's
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class _Log:
    """The base's audit log as the check reads it: its files' text, in order, read once.

    Both questions are answered without parsing every record, as the log grows with every
    grant and end (bench/README.md, "check"): in a line with no backslash (no JSON escape)
    every string is written as it is, so a record naming request `x` holds `"request"`, a
    colon and `"x"` literally, and one measuring bucket `b` holds `"b"`; a line with an escape
    is parsed."""

    texts: tuple[str, ...]

    @classmethod
    def of(cls, contents: Iterable[bytes | None]) -> _Log:
        return cls(tuple((data or b"").decode("utf-8", errors="replace") for data in contents))

    def request_ids(self) -> frozenset[str]:
        """Every request id a record names. A superset of what parsing each line finds: a
        broken line, or a nested "request" key, can add an id (refusing more), never hide one."""
        ids: set[str] = set()
        for text in self.texts:
            lines = text.split("\n") if "\\" in text else [text]
            for line in lines:
                if "\\" not in line:
                    ids.update(_REQUEST_KEY.findall(line))
                elif (record := _record(line)) is not None and isinstance(
                        record.get("request"), str):
                    ids.add(record["request"])
        return frozenset(ids)

    def last_sizes(self, buckets: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Bucket -> (its policy's size, when) from the last record that measured it, for
        `buckets` only: read from the end, parsing only the lines that can name one of them
        (its name in quotes, or an escape), stopping when each is found."""
        missing, found = set(buckets), {}
        for text in reversed(self.texts):
            wanted = {b for b in missing if "\\" in text or f'"{b}"' in text}
            for line in reversed(text.split("\n") if wanted else ()):
                if "\\" not in line and not any(f'"{b}"' in line for b in wanted):
                    continue
                sizes = _sizes_of(record) if (record := _record(line)) is not None else {}
                for bucket in wanted & sizes.keys():
                    found[bucket] = sizes[bucket]
                missing -= sizes.keys()
                wanted -= sizes.keys()
                if not wanted:
                    break
            if not missing:
                break
        return found

    def live_grants(self, principals: Iterable[str]) -> dict[str, LiveGrant]:
        """Request id -> a grant to one of `principals` the log shows as not ended. Only the
        lines that can name one (the ARN in quotes, or an escape) are parsed: every record
        about a grant, its ends too, carries the grant's principal."""
        quoted = [f'"{principal}"' for principal in principals]
        live: dict[str, LiveGrant] = {}
        for text in self.texts if quoted else ():
            for line in text.split("\n"):
                if ("\\" in line or any(q in line for q in quoted)) and \
                        (record := _record(line)) is not None:
                    track_grant(live, record)
        return live


def _sizes_of(record: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """The bucket policy sizes a record measured (none from a malformed one)."""
    items, time = record.get("buckets"), record.get("time")
    if not isinstance(items, list) or not isinstance(time, str):
        return {}
    return {item["bucket"]: (item["policy_bytes"], time) for item in items
            if isinstance(item, dict) and isinstance(item.get("bucket"), str)
            and type(item.get("policy_bytes")) is int and item["policy_bytes"] >= 0}


def _base_settings(base: Tree) -> Settings:
    """The base branch's jitflow.yaml; the defaults (audit/, the aws partition) when it has
    none or an invalid one (a request PR may not change it: that is another check's)."""
    default = Settings(admins=(), accounts={})
    if base.read(SETTINGS_FILE) is None:
        return default
    try:
        return load_settings(base)
    except ConfigError:
        return default


@dataclass(frozen=True)
class _BaseIds:
    """What the base branch says about the added request ids, read once per check and shared
    by every added file: their files at its tip, and the ids its audit log names (`used`).

    Why an id is never reused: the engine keys a grant's whole story on its request id (a
    recorded end refuses a replay, an open grant turns an apply into a confirmation of that
    grant, a revoke copies its facts), so a new request under an old id would be taken for the
    old grant. The audit log is therefore the authority: every id that reached AWS or was
    refused at apply has a record there, and ids still on the base are refused as existing.
    An id once on the base that no record names (its merge refused as a whole, its file
    deleted before any apply) left nothing to be confused with, and is free. AWS state an
    apply left unrecorded (a crash before its record) gets its record from the early revoke
    of its deletion or the next revoke's reconcile; before that, an apply of a new request
    under the id adopts it only when it is exactly that request's grant (identity-policy) or
    replaces it with that request's statements, a leftover making the revoke end the grant.

    This replaces a `git log` over the history of the request folders, whose cost grew with
    commits x files per folder (bench/README.md, "check"); the log is read anyway (for the
    bucket policy sizes) and gives the ids from the same read."""

    on_tip: dict[str, str]  # added request id -> its path on the base
    used: frozenset[str]  # request ids the base's audit log names
    log: _Log  # the base's audit log (for the bucket policy sizes too)

    @classmethod
    def read(cls, git: Git, base: GitTree, added: Iterable[str], audit_dir: str,
             audit_log: Iterable[bytes] | None = None) -> _BaseIds:
        """`added`: the ids the pull request adds; only their paths are looked up on the base,
        not the whole (ever growing) requests/ tree. `audit_log`: the log's files where it
        lives (its own branch); None: the log in the base's own tree."""
        paths = {f"{REQUESTS_DIR}/{rid}{suffix}": rid for rid in added for suffix in YAML_SUFFIXES}
        on_tip: dict[str, str] = {}
        for path in sorted(git.blob_ids(base.ref, list(paths))):
            on_tip[paths[path]] = path  # x.yml wins over x.yaml, as `sorted` put them before
        if audit_log is None:
            logs = git.list_blobs(base.ref, audit_dir)
            audit_log = git.read_blobs(
                [oid for path, oid in logs.items() if path.endswith(".jsonl")]).values()
        log = _Log.of(audit_log)
        return cls(on_tip, log.request_ids(), log)


def _base_policy_problems(problems: Iterable[Problem], policy: str) -> list[Problem]:
    """The base branch's own findings that make this request's policy unusable."""
    relevant = {f"policies/{policy}{s}" for s in YAML_SUFFIXES} | {
        f"policies/identities{s}" for s in YAML_SUFFIXES
    }
    return [
        Problem(p.path, p.line, p.col, f"on the base branch: {p.message}", p.severity)
        for p in problems
        if p.severity == "error" and (p.path in relevant or p.path == "policies")
    ]


@dataclass
class _Acc:
    problems: list[Problem] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    approvals: dict[str, ApprovalStatus] = field(default_factory=dict)
    budgets: dict[str, list[Budget]] = field(default_factory=dict)


def judge_added(
    raw: bytes,
    path: str,
    author: str,
    policies: PolicySet,
    teams: TeamResolver | None,
    *,
    partition: str = "aws",
    now: datetime | None = None,
    merged: bool = False,
) -> tuple[Request | None, list[Problem]]:
    """An added request file, judged against the base's policies (granting in `partition`);
    the author must request it. With `now`, its `not_before` is judged at that time (before
    or after the merge: `rules.schedule_problems`)."""

    def check(request: Request, policy_set: PolicySet) -> list[Problem]:
        return check_request(request, policy_set, teams, partition, now=now, merged=merged)

    request, problems = judge_request(raw, path, policies, check)
    if request is not None and request.requester.lower() != author.lower():
        problems.append(
            Problem(
                path,
                *request.where("requester"),
                f"the pull request is by {author!r} but the requester is "
                f"{request.requester!r}: only the requester may open their request",
            )
        )
        request = None
    return request, problems


def check_changes(
    git: Git,
    base: str,
    head: str,
    author: str,
    *,
    applied_at: datetime,
    pull: PullFacts | None = None,
    teams: TeamResolver | None = None,
    audit_log: Iterable[bytes] | None = None,
) -> CheckResult:
    """Judge the changes of merge-base(base, head)..head as a request pull request by `author`.

    Plans are shown as if applied at `applied_at`. Approvals are evaluated only when `pull`
    and `teams` are given (on GitHub); a local run leaves `approvals_checked` False.
    `audit_log`: the `.jsonl` files of the audit log on its own branch (jitflow.auditrepo),
    read lazily; None reads the log in the base's tree.
    """
    changes = list(git.changed_files(git.merge_base(base, head), head))
    changed = tuple(c.path for c in changes)
    result = CheckResult(base=base, head=head, changed=changed)
    if not result.touches_requests:
        note = "no file under requests/ changed: there is no request to check"
        return CheckResult(base=base, head=head, changed=changed, notes=(note,))

    base_tree = GitTree(git, base)
    settings = _base_settings(base_tree)
    policies, policy_problems = load_policy_set(base_tree)
    added_ids = {c.path: rid for c in changes if c.status == "A" and (rid := request_id_of(c.path))}
    base_ids = _BaseIds.read(git, base_tree, added_ids.values(), settings.audit_dir, audit_log)
    contents = git.show_many(head, list(added_ids))  # every added request file, in one read
    acc = _Acc(problems=scope_problems(changes))
    added = _Added(author, policies, policy_problems, teams, base_ids, contents, acc,
                   settings.partition, applied_at, merged=pull is not None and pull.merged)
    for change in changes:
        rid = request_id_of(change.path)
        if rid is None or change.status == "D":
            continue  # reported by scope_problems; judged below
        if change.status != "A":
            acc.problems.append(
                _problem(
                    change.path,
                    f"{change.path} is an existing request: {IMMUTABLE_HINT}",
                )
            )
        else:
            added.check(change.path, rid)
    deleted = {c.path: rid for c in changes if c.status == "D" and (rid := request_id_of(c.path))}
    deletions = _judge_deletions(
        git, base, deleted, author=author, policies=policies, pull=pull, teams=teams
    )
    acc.problems += [p for d in deletions if (p := d.problem()) is not None]
    acc.notes += [n for d in deletions if (n := d.note()) is not None]
    if pull is not None and teams is not None:
        for request in acc.requests:
            acc.approvals[request.id] = judge(pull, policies.policies[request.policy], teams,
                                              break_glass=request.break_glass)
    sizes = base_ids.log.last_sizes({e.bucket for r in acc.requests for e in r.access})
    live = base_ids.log.live_grants({r.principal for r in acc.requests}).values()
    for request in acc.requests:
        policy = policies.policies[request.policy]
        subject = subject_for(request, policy, policies.identities,
                              partition=settings.partition) if policy.in_bucket_policy else None
        plan = build_plan(request, policy, applied_at, subject, partition=settings.partition)
        plan = replace(plan, risks=plan.risks + already_live(plan, live))
        acc.plans.append(plan)
        acc.budgets[request.id] = _budget(plan, sizes, acc.problems)
        acc.problems += _baseline_problems(plan, settings)
    return CheckResult(
        base=base,
        head=head,
        changed=changed,
        problems=tuple(sorted(set(acc.problems), key=_order)),
        requests=tuple(acc.requests),
        plans=tuple(acc.plans),
        deleted=tuple(d.request_id for d in deletions),
        deletions=deletions,
        approvals=acc.approvals,
        approvals_checked=pull is not None and teams is not None,
        notes=tuple(acc.notes),
        policies=policies,
        budgets={rid: tuple(found) for rid, found in acc.budgets.items() if found},
    )


def is_config(path: str) -> bool:
    """A file that decides what jitflow grants or who reviews it: the policies, jitflow.yaml,
    CODEOWNERS and jitflow's workflows."""
    return (path.startswith("policies/") or path in (SETTINGS_FILE, CODEOWNERS_PATH)
            or is_jitflow_workflow(path))


def config_problems(git: Git, head: str) -> list[Problem]:
    """A pull request that changes the configuration, judged at its head as `jitflow
    validate` and `jitflow codeowners --check` judge the working tree: the policies and
    identities, jitflow.yaml and what must agree with it, and CODEOWNERS as generated from
    them. Read as data from the head (nothing of it runs)."""
    tree = GitTree(git, head)
    policies, loaded = load_policy_set(tree)
    problems = [p for p in loaded if p.severity == "error"] + repository_problems(tree, policies)
    if problems or tree.read(SETTINGS_FILE) is None:
        return problems
    try:
        expected = generate(policies.policies, load_settings(tree))
    except ConfigError as error:
        return [Problem(CODEOWNERS_PATH, None, None, error.message)]
    committed = tree.read(CODEOWNERS_PATH)
    if committed is None or committed.decode("utf-8", errors="replace") != expected:
        return [_problem(CODEOWNERS_PATH, f"{CODEOWNERS_PATH} is out of date with the policies "
                         "or settings: run `jitflow codeowners` and commit the result")]
    return []


def _baseline_problems(plan: Plan, settings: Settings) -> list[Problem]:
    """A grant under `enforce_read_only` is refused at apply while jitflow.yaml names no
    jitflow roles for the account (the baseline would lock jitflow out), and so is one in an
    account jitflow.yaml does not name: say so before merge."""
    policy = plan.policy
    if settings.path and policy.account not in settings.accounts:
        return [Problem(plan.request.path, *plan.request.where("principal"),
                        f"policy {policy.name}'s account {policy.account} is not among the "
                        f"accounts of jitflow.yaml on the base branch: apply would refuse the "
                        "grant; an admin must add the account first")]
    if not (policy.in_bucket_policy and policy.enforce_read_only):
        return []
    if settings.jitflow_roles.get(policy.account):
        return []
    return [Problem(plan.request.path, *plan.request.where("access"),
                    f"policy {policy.name} sets enforce_read_only, but jitflow.yaml on the base "
                    f"branch lists no jitflow_roles for account {policy.account}: apply would "
                    "refuse the grant (the baseline would lock jitflow out); an admin must add "
                    "them first")]


def _judge_deletions(
    git: Git,
    base: str,
    deleted: dict[str, str],
    *,
    author: str,
    policies: PolicySet,
    pull: PullFacts | None,
    teams: TeamResolver | None,
) -> tuple[Deletion, ...]:
    """Every deleted request file (path -> id), judged on its content at the base (one read)."""
    if not deleted:
        return ()
    contents = git.show_many(base, list(deleted))
    return tuple(
        judge_deletion(rid, path, contents.get(path), author, policies, pull=pull, teams=teams)
        for path, rid in deleted.items()
    )


def _budget(plan: Plan, sizes: dict[str, tuple[int, str]], problems: list[Problem]
            ) -> list[Budget]:
    """The size budget of a bucket-policy grant, from the log's last recorded sizes plus the
    grants this pull request adds before it; over S3's limit, a problem (refused before
    merge, as apply would refuse it after)."""
    found = budgets(plan, sizes)
    for budget in found:
        sizes[budget.bucket] = (budget.total, "this pull request")
        if budget.over:
            problems.append(Problem(
                plan.request.path, *plan.request.where("access"),
                f"the bucket policy of {budget.bucket} would be about {budget.total:,} bytes, "
                f"over S3's limit of {BUCKET_POLICY_LIMIT:,} ({budget.text()}): wait for "
                "grants to end, or ask for fewer entries"))
    return found


@dataclass
class _Added:
    """Judges the added request files of one check (state shared across files)."""

    author: str
    policies: PolicySet
    policy_problems: list[Problem]
    teams: TeamResolver | None
    base: _BaseIds
    contents: dict[str, bytes | None]  # added path -> its bytes at the head (None: unreadable)
    acc: _Acc
    partition: str
    now: datetime  # when `not_before` is judged
    merged: bool = False  # at merge (apply, reconcile) a start in the past is fine
    seen: dict[str, str] = field(default_factory=dict)  # request id -> path added

    def check(self, path: str, rid: str) -> None:
        acc = self.acc
        policy = rid.split("/", 1)[0]
        # The same id under another suffix (x.yaml vs x.yml) is the same request.
        if rid in self.seen:
            acc.problems.append(
                _problem(path, f"request {rid} is added twice ({self.seen[rid]} and {path})")
            )
            return
        self.seen[rid] = path
        existing = self.base.on_tip.get(rid)
        if existing is not None:
            acc.problems.append(
                _problem(
                    path,
                    f"request {rid} already exists on the base branch ({existing}): "
                    f"{IMMUTABLE_HINT}",
                )
            )
            return
        if rid in self.base.used:
            acc.problems.append(
                _problem(
                    path,
                    f"request id {rid} was already used (the audit log records it): request "
                    "ids are never reused; pick a new file name",
                )
            )
            return
        raw = self.contents.get(path)
        if raw is None:
            acc.problems.append(_problem(path, "cannot read the file at the pull request's head"))
            return
        base_broken = _base_policy_problems(self.policy_problems, policy)
        request, problems = judge_added(raw, path, self.author, self.policies, self.teams,
                                        partition=self.partition, now=self.now,
                                        merged=self.merged)
        acc.problems.extend(problems + base_broken)
        if request is not None and not base_broken:
            acc.requests.append(request)


def _order(problem: Problem) -> tuple[str, int, int, str]:
    return (problem.path, problem.line or 0, problem.col or 0, problem.message)
