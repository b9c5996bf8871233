"""Judging requests against policies, and policies against common sense. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from jitflow import actions as catalogue
from jitflow.bucketpolicy import (
    BUCKET_POLICY_LIMIT,
    PREFIX_LISTS,
    Subject,
    envelope_size,
    grant_statements,
    statements_size,
)
from jitflow.clock import iso
from jitflow.durations import format_duration
from jitflow.model import (
    PARTITION_PATTERN,
    PERMISSION_SET_PREFIX,
    AccessEntry,
    Policy,
    PolicySet,
    Request,
)
from jitflow.plan import build_plan, document_size
from jitflow.problems import Problem

IAM_MANAGED_POLICY_LIMIT = 6144
# Generous per-document and per-entry overheads of the plan's JSON (Sids, Effect, Condition,
# the Deny statement); tests/test_rules_request.py checks the bound is never below the size.
SIZE_BOUND_BASE, SIZE_BOUND_ENTRY = 1000, 400
BUCKET_STATEMENT_OVERHEAD = 600  # Sid, Effect, Condition keys, session, RoleId, SSO pattern
ARN = re.compile(rf"arn:(?P<partition>{PARTITION_PATTERN}):iam::(?P<account>[0-9]{{12}}):"
                 r"(?P<kind>role|user)/(?P<name>.+)")
# Characters allowed in a prefix: S3's "safe" set plus '=' (partition keys like dt=2026-11-27/).
# Everything else (wildcards, '$', braces, '%', '\', spaces, non-ASCII look-alikes) is refused.
PREFIX_CHARS = re.compile(r"[A-Za-z0-9!_.'()=+,@/-]*")  # used with fullmatch
WILDCARD_CHARS = "*?$}{"
# A scheduled start (`not_before`) is judged when the pull request is checked: it may lie in
# the past by at most the skew between clocks, and at most MAX_LEAD ahead, so an approval is
# never given for a window further off than a reviewer can judge (eligibility may change
# meanwhile; revoke ends a grant whose person lost it before its start).
NOT_BEFORE_SKEW = timedelta(minutes=5)
NOT_BEFORE_MAX_LEAD = timedelta(days=30)


class TeamResolver(Protocol):
    def is_active_member(self, org: str, team_slug: str, login: str) -> bool: ...


def prefix_problems(prefix: str) -> Iterator[str]:
    """Why a prefix is unsafe (nothing when it is fine). "" is the whole bucket."""
    if prefix == "":
        return
    bad = sorted({c for c in prefix if c in WILDCARD_CHARS})
    if bad:
        yield (
            f"prefix {prefix!r} contains {', '.join(repr(c) for c in bad)}: wildcards and "
            "policy variables are not allowed"
        )
    elif not PREFIX_CHARS.fullmatch(prefix):
        odd = sorted({c for c in prefix if not PREFIX_CHARS.fullmatch(c)})
        yield (
            f"prefix {prefix!r} contains {', '.join(repr(c) for c in odd)}: use letters, digits "
            "and ! _ . ' ( ) = + , @ - / only"
        )
    if prefix.startswith("/"):
        yield (
            f"prefix {prefix!r} starts with '/': S3 keys do not, so it would match nothing "
            "(or something else than you think)"
        )
    segments = prefix.rstrip("/").split("/")
    if any(s in (".", "..") for s in segments):
        yield f"prefix {prefix!r} has a '.' or '..' segment"
    if any(s == "" for s in segments[1:]) or "//" in prefix:
        yield f"prefix {prefix!r} has an empty segment ('//')"
    if not prefix.endswith("/"):
        yield (
            f"prefix {prefix!r} must end with '/': without it, it would also grant "
            f"{prefix + '-old/'!r} and any other key starting with {prefix!r}"
        )


def action_problems(name: str, policy: Policy | None = None) -> Iterator[str]:
    info = catalogue.lookup(name)
    if info is None:
        guess = catalogue.suggest(name)
        yield f"unknown S3 action {name!r}" + (f"; did you mean {guess!r}?" if guess else "")
        return
    if info.resource == "account":
        yield f"{name} is an account-level action and cannot be limited to a bucket"
    if policy is not None and name not in policy.actions:
        allowed = ", ".join(policy.actions)
        yield f"{name} is not allowed by policy {policy.name!r} (allowed: {allowed})"
    permits = policy.permissions_management if policy is not None else True
    if info.manages_permissions and not permits:
        yield (
            f"{name} is a permissions-management action (it can change who has access); "
            "the policy does not set permissions_management: true"
        )


def check_policy(policy: Policy) -> list[Problem]:
    """Sanity of a policy file: everything the schema cannot say."""
    found: list[Problem] = []

    def add(key: tuple[str | int, ...], message: str) -> None:
        found.append(Problem(policy.path, *policy.where(*key), message))

    for i, name in enumerate(policy.actions):
        info = catalogue.lookup(name)
        if info is None or info.resource == "account":
            for message in action_problems(name):
                add(("actions", i), message)
        elif info.manages_permissions and not policy.permissions_management:
            add(
                ("actions", i),
                f"{name} is a permissions-management action: set "
                "permissions_management: true (and min_approvals >= 2) to allow it",
            )
    if policy.permissions_management and policy.min_approvals < 2:
        add(
            ("min_approvals",),
            "a policy with permissions_management: true needs min_approvals >= 2",
        )
    found += _bucket_configuration_problems(policy)
    for i, prefix in enumerate(policy.prefixes):
        for message in prefix_problems(prefix):
            add(("prefixes", i), message)
    logins = [a for a in policy.approvers if not a.startswith("@")]
    if len(logins) == len(policy.approvers) and policy.min_approvals > len(logins):
        add(
            ("min_approvals",),
            f"min_approvals is {policy.min_approvals} but only "
            f"{len(logins)} approver(s) are listed: no request could ever be approved",
        )
    if policy.ticket_pattern is not None:
        try:
            re.compile(policy.ticket_pattern)
        except re.error as error:
            add(("ticket_pattern",), f"ticket_pattern is not a valid regular expression: {error}")
    found += _duration_problems(policy)
    if not policy.in_bucket_policy and (policy.enforce_read_only or policy.standing_writers):
        key = "enforce_read_only" if policy.enforce_read_only else "standing_writers"
        add((key,), f"{key} needs grant: bucket-policy (the bucket's own policy enforces it)")
    return found


def _duration_problems(policy: Policy) -> list[Problem]:
    found = []
    if policy.max_duration.total_seconds() <= 0:
        found.append(Problem(policy.path, *policy.where("max_duration"),
                             "max_duration must be more than zero"))
    if policy.break_glass is not None and policy.break_glass.max_duration > policy.max_duration:
        found.append(Problem(policy.path, *policy.where("break_glass", "max_duration"),
                             "break_glass.max_duration is over the policy's max_duration"))
    return found


def _bucket_configuration_problems(policy: Policy) -> list[Problem]:
    """Actions that change the bucket itself need the policy's explicit opt-in."""
    found = []
    for i, name in enumerate(policy.actions):
        info = catalogue.lookup(name)
        if info is not None and info.configures_bucket and not policy.bucket_configuration:
            found.append(Problem(policy.path, *policy.where("actions", i),
                                 f"{name} changes the bucket itself, whatever the prefix, and "
                                 "outlives the grant: set bucket_configuration: true (and "
                                 "min_approvals >= 2) to allow it"))
    if policy.bucket_configuration and policy.min_approvals < 2:
        found.append(Problem(policy.path, *policy.where("min_approvals"),
                             "a policy with bucket_configuration: true needs min_approvals >= 2"))
    return found


def requester_allowed(login: str, policy: Policy, teams: TeamResolver | None) -> bool | None:
    """True/False, or None when only a team could admit them and no resolver was given."""
    if policy.requesters is None:
        return True
    if login.lower() in {r.lower() for r in policy.requesters if not r.startswith("@")}:
        return True
    team_entries = [r[1:].split("/", 1) for r in policy.requesters if r.startswith("@")]
    if not team_entries:
        return False
    if teams is None:
        return None
    return any(teams.is_active_member(org, slug, login) for org, slug in team_entries)


def _principal_problems(request: Request, policy: Policy, policies: PolicySet,
                        partition: str) -> Iterator[str]:
    permission_set = request.principal.startswith(PERMISSION_SET_PREFIX)
    match = ARN.fullmatch(request.principal)
    if (match is None and not permission_set) or any(c in request.principal for c in "*?"):
        yield f"principal {request.principal!r} is not an IAM role or user ARN (no wildcards)"
        return
    if match is not None and match["partition"] != partition:
        yield (
            f"principal is in partition {match['partition']}, but jitflow grants in partition "
            f"{partition} (the partition of the region in jitflow.yaml)"
        )
    if match is not None and match["account"] != policy.account:
        yield (
            f"principal is in account {match['account']}, but policy {policy.name!r} grants "
            f"only in account {policy.account}"
            + (" (a principal in another account would also need an identity-side grant)"
               if policy.in_bucket_policy else "")
        )
    identity = policies.identities.identity(request.requester, request.principal, policy.account)
    if identity is None:
        where = f" in account {policy.account}" if permission_set else ""
        yield (
            f"principal {request.principal}{where} is not mapped to {request.requester!r} in "
            "policies/identities.yaml"
        )
    elif not policy.in_bucket_policy and (identity.session or permission_set):
        yield (
            f"{request.requester!r} may use {request.principal} only as one session "
            f"({identity.session}) of a shared role: an IAM policy on the role would reach "
            f"everyone on it; policy {policy.name!r} needs grant: bucket-policy"
        )


def _entry_problems(
    entry: AccessEntry, policy: Policy
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if entry.bucket not in policy.buckets:
        yield (
            ("bucket",),
            f"bucket {entry.bucket!r} is not covered by policy {policy.name!r} "
            f"(allowed: {', '.join(policy.buckets)})",
        )
    unsafe = list(prefix_problems(entry.prefix))
    for message in unsafe:
        yield ("prefix",), message
    if entry.prefix == "" and not policy.allows_whole_bucket:
        yield (
            ("prefix",),
            'the whole bucket (prefix "") is not allowed by policy '
            f"{policy.name!r}; ask for one of: {', '.join(policy.prefixes)}",
        )
    elif (
        not unsafe and entry.prefix and not any(entry.prefix.startswith(p) for p in policy.prefixes)
    ):
        yield (
            ("prefix",),
            f"prefix {entry.prefix!r} is outside policy {policy.name!r} "
            f"(allowed prefixes: {', '.join(repr(p) for p in policy.prefixes)})",
        )
    for i, name in enumerate(entry.actions):
        for message in action_problems(name, policy):
            yield ("actions", i), message
        info = catalogue.lookup(name)
        if (info is not None and entry.prefix and info.resource == "bucket"
                and info.access_level == "List" and name not in PREFIX_LISTS):
            yield (
                ("actions", i),
                f"{name} lists the whole bucket {entry.bucket}, whatever the prefix (IAM cannot "
                'narrow it): ask for the whole bucket (prefix: "")',
            )
        if info is not None and info.configures_bucket and entry.prefix:
            yield (
                ("actions", i),
                f"{name} changes the whole bucket {entry.bucket}, whatever the prefix: ask for "
                'the whole bucket (prefix: "") so reviewers see what it reaches',
            )


def check_request(
    request: Request, policies: PolicySet, teams: TeamResolver | None = None,
    partition: str = "aws", *, now: datetime | None = None, merged: bool = False,
) -> list[Problem]:
    """Every reason `request` may not be granted under its policy (empty list: valid), when
    jitflow grants in `partition` (`Settings.partition`).

    With `now` (the PR check, and its re-run at merge), its `not_before` is judged too:
    `schedule_problems`."""
    found: list[Problem] = []

    def add(key: tuple[str | int, ...], message: str, severity: str = "error") -> None:
        found.append(Problem(request.path, *request.where(*key), message, severity))

    policy = policies.policies.get(request.policy)
    if policy is None:
        add(
            (),
            f"there is no policy {request.policy!r} (policies/{request.policy}.yaml); the "
            "folder a request is in names the policy that judges it",
        )
        return found
    if not policies.identities.knows(request.requester):
        add(
            ("requester",),
            f"requester {request.requester!r} has no entry in policies/identities.yaml",
        )
    allowed = requester_allowed(request.requester, policy, teams)
    if allowed is False:
        add(
            ("requester",),
            f"{request.requester!r} may not request under policy {policy.name!r} "
            f"(requesters: {', '.join(policy.requesters or ())})",
        )
    elif allowed is None:
        add(
            ("requester",),
            f"{request.requester!r} is admitted only through a team of policy "
            f"{policy.name!r}; membership is checked against GitHub by `jitflow check`",
            "warning",
        )
    for message in _principal_problems(request, policy, policies, partition):
        add(("principal",), message)
    if request.duration.total_seconds() <= 0:
        add(("duration",), "duration must be more than zero")
    elif request.duration > policy.max_duration:
        add(
            ("duration",),
            f"duration {format_duration(request.duration)} is over the policy's "
            f"max_duration of {format_duration(policy.max_duration)}",
        )
    found += _ticket_problems(request, policy)
    if now is not None:
        found += schedule_problems(request, now, merged=merged)
    for i, entry in enumerate(request.access):
        for key, message in _entry_problems(entry, policy):
            add(("access", i, *key), message)
    for key, message in break_glass_problems(request, policy):
        add(key, message)
    if not any(p.severity == "error" for p in found):
        found += _size_problems(request, policy, partition)
    return found


def break_glass_problems(request: Request, policy: Policy
                         ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """A break-glass request skips the approvals, so it gets less: only under a policy that
    opts in, no longer than the policy's break-glass maximum, and nothing whose effect
    outlives the grant (bucket configuration, permissions management)."""
    if not request.break_glass:
        return
    terms = policy.break_glass
    if terms is None:
        yield ("break_glass",), (f"policy {policy.name!r} does not allow break-glass requests "
                                 "(it has no break_glass section)")
        return
    if request.duration > terms.max_duration:
        yield ("duration",), (f"a break-glass grant lasts at most "
                              f"{format_duration(terms.max_duration)} under policy "
                              f"{policy.name!r}, not {format_duration(request.duration)}")
    for i, entry in enumerate(request.access):
        for j, name in enumerate(entry.actions):
            info = catalogue.lookup(name)
            if info is not None and (info.configures_bucket or info.manages_permissions):
                yield ("access", i, "actions", j), (
                    f"{name} outlives the grant or changes who has access: never by break-glass")


def schedule_problems(request: Request, now: datetime, *, merged: bool = False
                      ) -> list[Problem]:
    """A `not_before` judged at `now`: at most NOT_BEFORE_MAX_LEAD ahead; and before the
    merge (`merged` False) not in the past by more than NOT_BEFORE_SKEW. After the merge a
    start in the past is fine: the grant then starts at apply."""
    start = request.not_before
    if start is None:
        return []
    where = request.where("not_before")
    if start > now + NOT_BEFORE_MAX_LEAD:
        return [Problem(request.path, *where,
                        f"not_before {iso(start)} is more than "
                        f"{format_duration(NOT_BEFORE_MAX_LEAD)} ahead (checked at {iso(now)}): "
                        "ask closer to the time")]
    if not merged and start < now - NOT_BEFORE_SKEW:
        return [Problem(request.path, *where,
                        f"not_before {iso(start)} is in the past (checked at {iso(now)}): "
                        "set a later start, or remove not_before to start at apply")]
    return []


def eligibility_problem(requester: str, principal: str, policy: Policy | None,
                        policies: PolicySet, session: str | None = None) -> str | None:
    """Why `requester` may no longer receive `principal` (as `session`, for a session
    grant) under `policy` as the default branch has it now; None while they still may.

    A requester admitted only through a team is not judged here (no team look-up offline):
    they stay eligible."""
    if policy is None:
        return "its policy no longer exists"
    if not policies.identities.knows(requester):
        return f"{requester} is no longer in policies/identities.yaml"
    identity = policies.identities.identity(requester, principal, policy.account)
    if identity is None:
        return f"{principal} is no longer mapped to {requester} in policies/identities.yaml"
    if session is not None and identity.session != session:
        return (f"session {session} of {principal} is no longer {requester}'s in "
                "policies/identities.yaml")
    if requester_allowed(requester, policy, None) is False:
        return f"{requester} is no longer one of policy {policy.name}'s requesters"
    return None


def _ticket_problems(request: Request, policy: Policy) -> list[Problem]:
    where = request.where("ticket")
    if request.ticket is None:
        if policy.require_ticket:
            return [Problem(request.path, *where, f"policy {policy.name!r} requires a ticket")]
        return []
    if policy.ticket_pattern and not re.fullmatch(policy.ticket_pattern, request.ticket):
        return [
            Problem(
                request.path,
                *where,
                f"ticket {request.ticket!r} does not match the "
                f"policy's ticket_pattern {policy.ticket_pattern!r}",
            )
        ]
    return []


def size_upper_bound(request: Request) -> int:
    """A cheap bound on the plan's size, so only large requests pay for building the plan."""
    return SIZE_BOUND_BASE + sum(
        SIZE_BOUND_ENTRY
        + 4 * len(e.bucket)
        + 2 * len(e.prefix)
        + 2 * sum(len(a) + 3 for a in e.actions)
        for e in request.access
    )


def _size_problems(request: Request, policy: Policy, partition: str) -> list[Problem]:
    if policy.in_bucket_policy:
        return _bucket_size_problems(request, policy, partition)
    if size_upper_bound(request) <= IAM_MANAGED_POLICY_LIMIT:  # most requests: far below
        return []
    # The expiry's text has a fixed width, so any time gives the real size.
    plan = build_plan(request, policy, datetime(2000, 1, 1, tzinfo=UTC), partition=partition)
    size = document_size(plan.document)
    if size > IAM_MANAGED_POLICY_LIMIT:
        return [
            Problem(
                request.path,
                *request.where("access"),
                f"the IAM policy for this request "
                f"would be {size} characters, over IAM's limit of {IAM_MANAGED_POLICY_LIMIT}; "
                "split it into several requests",
            )
        ]
    return []


def bucket_size_upper_bound(request: Request) -> int:
    """A cheap bound on the bucket statements' size (up to 3 statements per entry, each with
    the principal, a 64-character session, an SSO role pattern and the conditions)."""
    per_statement = BUCKET_STATEMENT_OVERHEAD + 2 * len(request.principal)
    return envelope_size() + sum(
        3 * (per_statement + 2 * len(e.bucket) + 2 * len(e.prefix))
        + sum(len(a) + 3 for a in e.actions)
        for e in request.access
    )


def _bucket_size_problems(request: Request, policy: Policy, partition: str) -> list[Problem]:
    """A request whose own statements cannot fit one bucket policy (other grants and the
    statements jitflow does not own are counted by `jitflow check` and at apply)."""
    if bucket_size_upper_bound(request) <= BUCKET_POLICY_LIMIT:  # most requests
        return []
    subject = Subject(request.principal, policy.account, session="x" * 64, unique_id="A" * 21,
                      partition=partition)
    per_bucket = grant_statements(request, subject, datetime(2000, 1, 1, tzinfo=UTC))
    return [
        Problem(request.path, *request.where("access"),
                f"the statements for bucket {bucket} would be {size:,} bytes, over S3's "
                f"bucket policy limit of {BUCKET_POLICY_LIMIT:,}; split the request")
        for bucket, statements in per_bucket.items()
        if (size := envelope_size() + statements_size(statements)) > BUCKET_POLICY_LIMIT
    ]
