"""Ask GitHub and IAM, through narrow ports, for what `jitflow doctor` checks.

The ports are protocols (`jitflow.gh.GitHubClient` and `jitflow.aws.Iam` satisfy them); this
module decides what to ask, in which order, and turns the answers into `facts` values. It
reads the access repository's own files (`jitflow.yaml`, `policies/`, CODEOWNERS, the caller
workflows) from its default branch on GitHub: the live setup is what is merged there.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jitflow.audit.record import AuditRecord
from jitflow.audit.segment import log_file_order
from jitflow.codeowners import CODEOWNERS_PATH
from jitflow.doctor.expected import APPLY_ENVIRONMENT, ROLE_VARIABLES
from jitflow.doctor.facts import (
    AwsFacts,
    BranchRules,
    Environment,
    GitHubFacts,
    ManagedPolicy,
    Protection,
    RepositoryFacts,
    RoleState,
    Rule,
    Ruleset,
    TeamFacts,
)
from jitflow.doctor.workflows import caller_path
from jitflow.errors import ConfigError
from jitflow.grants import NoSuchEntityError, RoleFacts
from jitflow.loader import load_policy_set
from jitflow.model import PolicySet, Settings
from jitflow.problems import Problem
from jitflow.settings import load_settings
from jitflow.tree import Tree

# GitHub looks for CODEOWNERS in .github/, the root and docs/; the first found wins.
CODEOWNERS_PLACES = (CODEOWNERS_PATH, "CODEOWNERS", "docs/CODEOWNERS")
_TEAM = re.compile(r"@(?P<org>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<slug>[A-Za-z0-9][A-Za-z0-9_.-]*)")
ROLE_ARN = re.compile(r"arn:[a-z-]+:iam::(?P<account>[0-9]{12}):role/(?:[^/]+/)*(?P<name>[^/]+)")


class GitHubReader(Protocol):
    """The GitHub reads doctor makes (`jitflow.gh.GitHubClient`)."""

    def repository_facts(self) -> RepositoryFacts: ...
    def tree(self, ref: str) -> Tree: ...
    def rules_for_branch(self, branch: str) -> tuple[Rule, ...]: ...
    def ruleset(self, ruleset_id: int) -> Ruleset | None: ...
    def branch_protection(self, branch: str) -> Protection | None: ...
    def environment(self, name: str) -> Environment | None: ...
    def variables(self) -> dict[str, str]: ...
    def secret_names(self) -> tuple[str, ...]: ...
    def oidc_customization(self) -> dict[str, Any]: ...
    def team(self, org: str, team_slug: str) -> TeamFacts: ...


class IamReader(Protocol):
    """The IAM reads doctor makes, with the caller's credentials (`jitflow.aws.Iam`)."""

    account: str

    def role(self, name: str) -> RoleFacts: ...
    def inline_policy_names(self, role_name: str) -> list[str]: ...
    def attached_role_policies(self, role_name: str) -> list[tuple[str, str]]: ...
    def managed_policy_document(self, arn: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Setup:
    """The access repository's own files, as merged on its default branch."""

    settings: Settings
    policies: PolicySet
    problems: tuple[Problem, ...]  # the policies' and identities' own problems
    codeowners: str | None


def read_setup(tree: Tree) -> Setup:
    """jitflow.yaml (a ConfigError when it cannot be used), the policies and CODEOWNERS."""
    settings = load_settings(tree)
    policies, problems = load_policy_set(tree)
    text = next((raw for path in CODEOWNERS_PLACES if (raw := tree.read(path)) is not None), None)
    return Setup(settings, policies, tuple(problems),
                 text.decode("utf-8", errors="replace") if text is not None else None)


def team_handles(policies: PolicySet, codeowners: str | None) -> list[str]:
    """Every `@org/team` that approves (policies) or owns paths (CODEOWNERS), once each."""
    found = [entry.strip() for policy in policies.policies.values()
             for entry in policy.approvers]
    for line in (codeowners or "").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            found += line.split("#", 1)[0].split()[1:]
    unique: dict[str, str] = {}
    for handle in found:
        if _TEAM.fullmatch(handle):
            unique.setdefault(handle.lower(), handle)
    return sorted(unique.values(), key=str.lower)


def branch_rules(github: GitHubReader, branch: str) -> BranchRules:
    rules = github.rules_for_branch(branch)
    ids = sorted({rule.ruleset_id for rule in rules if rule.ruleset_id is not None})
    rulesets = {ruleset_id: found for ruleset_id in ids
                if (found := github.ruleset(ruleset_id)) is not None}
    return BranchRules(branch, rules, rulesets, github.branch_protection(branch))


def gather_github(github: GitHubReader) -> tuple[GitHubFacts, Setup]:
    repository = github.repository_facts()
    tree = github.tree(repository.default_branch)
    try:
        setup = read_setup(tree)
    except ConfigError as error:
        raise ConfigError(f"{repository.full_name}, branch {repository.default_branch}: "
                          f"{error.message}") from None
    teams = []
    for handle in team_handles(setup.policies, setup.codeowners):
        org, _, slug = handle[1:].partition("/")
        teams.append(github.team(org, slug))
    facts = GitHubFacts(
        repository=repository,
        default_rules=branch_rules(github, repository.default_branch),
        audit_rules=branch_rules(github, setup.settings.audit_branch),
        environment=github.environment(APPLY_ENVIRONMENT),
        oidc_customization=github.oidc_customization(),
        variables=github.variables(),
        secrets=github.secret_names(),
        teams=tuple(teams),
        callers={duty: tree.read(caller_path(duty)) for duty in ROLE_VARIABLES},
        audit_records=audit_records(github.tree(setup.settings.audit_branch),
                                    setup.settings.audit_dir),
    )
    return facts, setup


def audit_records(tree: Tree, audit_dir: str) -> tuple[AuditRecord, ...]:
    """The records of the month files and marked segments, in file order; a line that does
    not parse is skipped (`jitflow audit verify` is what judges the chain)."""
    records: list[AuditRecord] = []
    ordered = sorted((order, name) for name in tree.list(audit_dir)
                     if (order := log_file_order(name.rsplit("/", 1)[-1])) is not None)
    for _, name in ordered:
        path = name if "/" in name else f"{audit_dir}/{name}"
        for line in (tree.read(path) or b"").decode("utf-8", errors="replace").split("\n"):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                records.append(AuditRecord.from_json(json.loads(line)))
    return tuple(records)


def _role_state(iam: IamReader, duty: str, arn: str | None) -> RoleState:
    if not arn:
        return RoleState(duty, None)
    found = ROLE_ARN.fullmatch(arn)
    if found is None:
        return RoleState(duty, arn, unread="not a role ARN")
    if found["account"] != iam.account:
        return RoleState(duty, arn, unread=f"the AWS credentials are for account {iam.account}: "
                                           f"run doctor with read credentials in "
                                           f"{found['account']}")
    name = found["name"]
    try:
        role = iam.role(name)
    except NoSuchEntityError:
        return RoleState(duty, arn)
    attached = tuple(ManagedPolicy(policy_arn, iam.managed_policy_document(policy_arn))
                     for _name, policy_arn in iam.attached_role_policies(name))
    return RoleState(duty, arn, role, tuple(iam.inline_policy_names(name)), attached)


def gather_aws(iam: IamReader, variables: Mapping[str, str],
               duties: Iterable[str] = ROLE_VARIABLES) -> AwsFacts:
    """The jitflow roles the repository variables name, read in the caller's account."""
    return AwsFacts(iam.account, tuple(_role_state(iam, duty, variables.get(ROLE_VARIABLES[duty]))
                                       for duty in duties))
