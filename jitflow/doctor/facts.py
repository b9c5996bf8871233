"""What `jitflow doctor` knows of a live setup: plain values, gathered by the adapters.

`jitflow.gh` turns GitHub's answers into these, `jitflow.aws` IAM's; the checks
(`jitflow.doctor.github`, `jitflow.doctor.iam`) only read them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jitflow.audit.record import AuditRecord
from jitflow.grants import RoleFacts


@dataclass(frozen=True)
class RepositoryFacts:
    """`GET /repos/{owner}/{repo}`: the numeric ids the OIDC subject names, and the default
    branch every rule is checked on."""

    full_name: str
    owner_id: int
    repository_id: int
    default_branch: str


@dataclass(frozen=True)
class Rule:
    """One rule that applies to a branch (`GET .../rules/branches/{branch}`), with the
    ruleset it comes from."""

    type: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    ruleset_id: int | None = None


@dataclass(frozen=True)
class Ruleset:
    """A ruleset's bypass list: `None` when GitHub did not show it (only to a token with
    write access to the ruleset), which doctor must not read as "nobody"."""

    id: int
    name: str
    bypass_actors: tuple[str, ...] | None


@dataclass(frozen=True)
class Protection:
    """Classic branch protection (`GET .../branches/{branch}/protection`)."""

    required_checks: tuple[tuple[str, int | None], ...] = ()  # (context, app id)
    reviews_required: bool = False
    dismiss_stale_reviews: bool = False
    require_code_owner_reviews: bool = False
    require_last_push_approval: bool = False
    bypass_allowances: tuple[str, ...] = ()  # who may skip the pull request rules
    enforce_admins: bool = False  # "Do not allow bypassing the above settings"
    allow_force_pushes: bool = False
    allow_deletions: bool = False


@dataclass(frozen=True)
class BranchRules:
    """Everything that protects one branch: the rules of every active ruleset that applies
    to it, those rulesets' bypass lists, and classic protection (None: none)."""

    branch: str
    rules: tuple[Rule, ...] = ()
    rulesets: Mapping[int, Ruleset] = field(default_factory=dict)
    protection: Protection | None = None


@dataclass(frozen=True)
class Environment:
    """A deployment environment and its deployment branch policy. `protected_branches` and
    `custom_branch_policies` are None when it has no policy (any branch may deploy)."""

    name: str
    protected_branches: bool | None = None
    custom_branch_policies: bool | None = None
    branch_policies: tuple[tuple[str, str], ...] = ()  # (name pattern, "branch" | "tag")


PERMISSION_ORDER = ("pull", "triage", "push", "maintain", "admin")


@dataclass(frozen=True)
class TeamFacts:
    """An `@org/team` named as an approver or code owner, as GitHub knows it."""

    handle: str  # "@org/team", as the policies or CODEOWNERS spell it
    exists: bool
    visible: bool = True  # privacy "closed"; a secret team cannot be a code owner
    permission: str | None = None  # its highest permission on the repository; None: none

    @property
    def can_write(self) -> bool:
        order = PERMISSION_ORDER
        return self.permission in order and order.index(self.permission) >= order.index("push")


@dataclass(frozen=True)
class GitHubFacts:
    """The access repository as GitHub shows it, with its files on the default branch."""

    repository: RepositoryFacts
    default_rules: BranchRules
    audit_rules: BranchRules
    environment: Environment | None  # the apply environment; None: it does not exist
    oidc_customization: Mapping[str, Any]
    variables: Mapping[str, str]
    secrets: tuple[str, ...]
    teams: tuple[TeamFacts, ...]
    callers: Mapping[str, bytes | None]  # duty -> its caller workflow file (None: missing)
    # the audit log's records on the audit branch, as far as they parse (for the break-glass
    # reviews still due)
    audit_records: tuple[AuditRecord, ...] = ()


@dataclass(frozen=True)
class ManagedPolicy:
    """A managed policy attached to a role, with its default version's document."""

    arn: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class RoleState:
    """One jitflow role as IAM shows it. `arn` is what the repository variable names (None:
    the variable is missing); `unread` says why the role was not read (then `role` is None
    too); `role` is None when IAM has no such role."""

    duty: str
    arn: str | None
    role: RoleFacts | None = None
    inline_policies: tuple[str, ...] = ()
    attached: tuple[ManagedPolicy, ...] = ()
    unread: str | None = None


@dataclass(frozen=True)
class AwsFacts:
    """The jitflow roles, read with the caller's credentials in `account`."""

    account: str
    roles: tuple[RoleState, ...]
