"""What a requester needs before a pull request: which policy covers a bucket (`jitflow
policies`), and a request file drafted from a policy (`jitflow new`). Pure.

A draft is meant to be valid as written: its requester, principal, bucket, prefix, actions and
duration are chosen from what the policy and identities.yaml allow, the other choices are left
as comments beside them, and `jitflow new` judges the text as `jitflow validate` would before
writing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jitflow import actions as catalogue
from jitflow.durations import format_duration
from jitflow.errors import ConfigError
from jitflow.model import Identity, Policy, PolicySet
from jitflow.plan import approvals_needed
from jitflow.rules import ARN, requester_allowed

DEFAULT_DURATION = timedelta(hours=1)
PLACEHOLDER_REASON = "Say here why you need this access, for the approvers (10-1000 characters)"
_PREFERRED_ACTION = "s3:PutObject"


def covering(policies: PolicySet, bucket: str | None) -> list[Policy]:
    """The policies that cover `bucket` (every policy when None), by name."""
    return [policies.policies[name] for name in sorted(policies.policies)
            if bucket is None or bucket in policies.policies[name].buckets]


def policy_facts(policy: Policy) -> dict[str, Any]:
    """A policy as `jitflow policies --format json` shows it (see README, "jitflow policies")."""
    return {
        "policy": policy.name,
        "description": policy.description,
        "path": policy.path,
        "request_folder": f"requests/{policy.name}/",
        "grant": policy.grant,
        "account": policy.account,
        "buckets": list(policy.buckets),
        "prefixes": list(policy.prefixes),
        "actions": list(policy.actions),
        "max_duration": format_duration(policy.max_duration),
        "approvers": list(policy.approvers),
        "min_approvals": max(1, policy.min_approvals),
        "requesters": None if policy.requesters is None else list(policy.requesters),
        "require_ticket": policy.require_ticket,
        "ticket_pattern": policy.ticket_pattern,
    }


def usable_principals(policy: Policy, entries: tuple[Identity, ...]) -> list[str]:
    """The principals (as a request names them) of these identities.yaml entries that a
    request under `policy` may ask for: in its account; one person's session on a shared
    role, or a permission set, only where the grant is written in the bucket's policy."""
    usable = []
    for entry in entries:
        if entry.permission_set is not None:
            account = entry.account
        else:
            match = ARN.fullmatch(entry.principal)
            account = match["account"] if match else None
        scoped = entry.session is not None or entry.permission_set is not None
        if account == policy.account and (policy.in_bucket_policy or not scoped):
            usable.append(entry.principal)
    return usable


@dataclass(frozen=True)
class Draft:
    """A new request file's text, and what the requester should know about it."""

    text: str
    notes: tuple[str, ...]


def _quoted(value: str) -> str:
    # JSON strings are YAML double-quoted scalars: nothing in a value can add structure.
    return json.dumps(value, ensure_ascii=False)


def _one_line(text: str) -> str:
    # A comment must stay one line, whatever the policy's description holds.
    return " ".join(text.split())


def _listed(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_quoted(v) if v == "" else v for v in values)


def _default_access(policy: Policy) -> tuple[str, list[str]]:
    """A prefix and actions valid under the policy: its first prefix, and s3:PutObject (or
    its first object action); the whole bucket only when that is all the policy allows."""
    prefix = next((p for p in policy.prefixes if p), "")
    if _PREFERRED_ACTION in policy.actions:
        return prefix, [_PREFERRED_ACTION]
    objects = [a for a in policy.actions if (i := catalogue.lookup(a)) and i.resource == "object"]
    if objects or prefix:
        return prefix, objects[:1] or list(policy.actions[:1])
    return "", list(policy.actions[:1])


def _requester_notes(policy: Policy, requester: str, policies: PolicySet) -> list[str]:
    if not policies.identities.knows(requester):
        raise ConfigError(f"{requester!r} has no entry in policies/identities.yaml: an admin "
                          "must add you first (or pass --requester LOGIN if that is not you)")
    allowed = requester_allowed(requester, policy, None)
    if allowed is False:
        raise ConfigError(f"{requester!r} may not request under policy {policy.name!r} "
                          f"(requesters: {', '.join(policy.requesters or ())})")
    if allowed is None:
        return [f"policy {policy.name} admits {requester} only through a team: `jitflow "
                "check` confirms the membership on the pull request"]
    return []


def _choose_principal(policy: Policy, requester: str, policies: PolicySet,
                      wanted: str | None) -> tuple[str, list[str]]:
    entries = policies.identities.principals.get(requester.lower(), ())
    usable = usable_principals(policy, entries)
    if not usable:
        raise ConfigError(
            f"policies/identities.yaml gives {requester!r} no principal that policy "
            f"{policy.name!r} can grant to (account {policy.account}"
            + ("" if policy.in_bucket_policy else "; a whole role or user, not a session")
            + "): an admin must add one")
    if wanted is None:
        return usable[0], usable[1:]
    if wanted not in usable:
        raise ConfigError(f"{wanted} is not among {requester}'s principals under policy "
                          f"{policy.name!r}: {', '.join(usable)}")
    return wanted, [p for p in usable if p != wanted]


def draft_request(policies: PolicySet, policy_name: str, requester: str, *,
                  principal: str | None = None, reason: str | None = None,
                  ticket: str | None = None, duration: timedelta | None = None) -> Draft:
    """The text of a new request under `policy_name` by `requester` (ConfigError when no
    valid request can be drafted: say why)."""
    policy = policies.policies.get(policy_name)
    if policy is None:
        known = ", ".join(sorted(policies.policies)) or "none"
        raise ConfigError(f"there is no policy {policy_name!r} (policies: {known}); "
                          "`jitflow policies --bucket BUCKET` finds the one for a bucket")
    if policy.require_ticket and not ticket:
        raise ConfigError(f"policy {policy.name!r} requires a ticket: pass --ticket "
                          + (f"(matching {policy.ticket_pattern})" if policy.ticket_pattern
                             else "ID"))
    notes = _requester_notes(policy, requester, policies)
    chosen, others = _choose_principal(policy, requester, policies, principal)
    asked = duration or min(DEFAULT_DURATION, policy.max_duration)
    if asked > policy.max_duration:
        notes.append(f"duration capped at the policy's maximum, "
                     f"{format_duration(policy.max_duration)}")
        asked = policy.max_duration
    if reason is None:
        notes.append("the reason is a placeholder: write yours before opening the pull request")
    prefix, actions = _default_access(policy)
    lines = [
        f"# A request for write access under policy {policy.name} ({policy.path}):",
        f"#   {_one_line(policy.description)}",
        "# Keep only what you need, say why, check it with `jitflow validate`, then open a pull",
        f"# request that adds only this file. It {approvals_needed(policy)}.",
        f"requester: {_quoted(requester)}",
        f"principal: {_quoted(chosen)}",
    ]
    lines += [f"#   or: {p}" for p in others]
    lines.append(f"reason: {_quoted(reason or PLACEHOLDER_REASON)}")
    if ticket:
        lines.append(f"ticket: {_quoted(ticket)}")
    lines += [
        f"duration: {_quoted(format_duration(asked))}   # at most "
        f"{format_duration(policy.max_duration)} (30m, 2h, 1h30m), counted from the grant",
        "access:",
        f"  - bucket: {_quoted(policy.buckets[0])}",
        f"    #   buckets of this policy: {_listed(policy.buckets)}",
        f"    prefix: {_quoted(prefix)}",
        f"    #   must start with one of: {_listed(policy.prefixes)} (and end in '/')",
        f"    actions: [{', '.join(_quoted(a) for a in actions)}]",
        f"    #   actions of this policy: {_listed(policy.actions)}",
    ]
    return Draft("\n".join(lines) + "\n", tuple(notes))
