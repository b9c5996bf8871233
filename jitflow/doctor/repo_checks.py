"""The GitHub side of `jitflow doctor`: pure checks over `GitHubFacts`, one `Finding` each.

Rules may come from rulesets (`GET .../rules/branches/{branch}`) or from classic branch
protection; either satisfies an item, and any bypass of either is reported on its own line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jitflow.audit.record import AuditRecord
from jitflow.breakglass import pending_reviews
from jitflow.doctor.expected import (
    APPLY_ENVIRONMENT,
    FORBIDDEN_SECRETS,
    GITHUB_ACTIONS_APP_ID,
    REGION_VARIABLE,
    REQUIRED_CHECK,
    REQUIRED_VARIABLES,
)
from jitflow.doctor.facts import BranchRules, Environment, GitHubFacts, Rule, TeamFacts
from jitflow.doctor.findings import Finding, failed, passed
from jitflow.model import Settings
from jitflow.oidc import customization_body
from jitflow.problems import Problem


def _rules(rules: BranchRules, kind: str) -> list[Rule]:
    return [rule for rule in rules.rules if rule.type == kind]


def _bypasses(rules: BranchRules, wanted: Iterable[Rule]) -> list[str]:
    """Why the rulesets behind `wanted` may be bypassed (or cannot be told not to be)."""
    found: list[str] = []
    for ruleset_id in sorted({rule.ruleset_id or 0 for rule in wanted}):
        ruleset = rules.rulesets.get(ruleset_id)
        if ruleset is None or ruleset.bypass_actors is None:
            found.append(f"the bypass list of ruleset {ruleset_id} is not visible to this token "
                         "(it needs admin rights on the repository)")
        elif ruleset.bypass_actors:
            found.append(f"ruleset {ruleset.name!r} lets {', '.join(ruleset.bypass_actors)} "
                         "bypass it")
    return found


def _protection_bypasses(rules: BranchRules) -> list[str]:
    protection = rules.protection
    if protection is None:
        return []
    found = [] if protection.enforce_admins else [
        "branch protection lets administrators bypass it (turn on \"Do not allow bypassing "
        "the above settings\")"]
    if protection.bypass_allowances:
        found.append("branch protection lets " + ", ".join(protection.bypass_allowances)
                     + " skip its pull request rules")
    return found


def default_branch_rules(rules: BranchRules) -> Finding:
    where = f"the default branch {rules.branch}"
    if not rules.rules and rules.protection is None:
        return failed("default-branch-rules", f"no ruleset or branch protection applies to "
                                              f"{where}")
    why = _bypasses(rules, rules.rules) + _protection_bypasses(rules)
    if why:
        return failed("default-branch-rules", f"{where} can be bypassed: " + "; ".join(why))
    return passed("default-branch-rules", f"{where} has rules, and nobody may bypass them")


def required_check(rules: BranchRules) -> Finding:
    wanted = (REQUIRED_CHECK, GITHUB_ACTIONS_APP_ID)
    pinned: set[tuple[str, int | None]] = set()
    for rule in _rules(rules, "required_status_checks"):
        for check in rule.parameters.get("required_status_checks") or ():
            pinned.add((check.get("context"), check.get("integration_id")))
    if rules.protection is not None:
        pinned.update(rules.protection.required_checks)
    what = f"the status check {REQUIRED_CHECK!r}"
    if wanted in pinned:
        return passed("required-check", f"{what} is required on {rules.branch}, from GitHub "
                                        "Actions only")
    if any(context == REQUIRED_CHECK for context, _app in pinned):
        return failed("required-check", f"{what} is required on {rules.branch} from any "
                                        f"source: pin it to GitHub Actions (integration id "
                                        f"{GITHUB_ACTIONS_APP_ID}), or anyone who can post a "
                                        "commit status can pass it")
    return failed("required-check", f"{what} is not required on {rules.branch}")


def _review_setting(rules: BranchRules, parameter: str, classic: str) -> bool:
    if any(rule.parameters.get(parameter) is True for rule in _rules(rules, "pull_request")):
        return True
    protection = rules.protection
    return bool(protection and protection.reviews_required and getattr(protection, classic))


def _review_finding(item: str, rules: BranchRules, parameter: str, classic: str,
                    what: str) -> Finding:
    if _review_setting(rules, parameter, classic):
        return passed(item, f"{rules.branch} requires {what}")
    return failed(item, f"{rules.branch} does not require {what}")


def code_owner_review(rules: BranchRules) -> Finding:
    return _review_finding("code-owner-review", rules, "require_code_owner_review",
                           "require_code_owner_reviews", "a review from the code owners")


def stale_reviews(rules: BranchRules) -> Finding:
    if _review_setting(rules, "dismiss_stale_reviews_on_push", "dismiss_stale_reviews"):
        return passed("stale-reviews", f"{rules.branch} dismisses approvals when new commits "
                                       "are pushed")
    return failed("stale-reviews", f"{rules.branch} keeps approvals when new commits are pushed")


def last_push_approval(rules: BranchRules) -> Finding:
    return _review_finding("last-push-approval", rules, "require_last_push_approval",
                           "require_last_push_approval",
                           "approval of the most recent push by someone else")


def apply_environment(environment: Environment | None, branch: str) -> Finding:
    name = f"the environment {APPLY_ENVIRONMENT}"
    if environment is None:
        return failed("apply-environment", f"{name} does not exist (GitHub would create it "
                                           "on first use, with no branch rule)")
    if environment.protected_branches is None and environment.custom_branch_policies is None:
        return failed("apply-environment", f"{name} admits every branch: limit it to {branch}")
    if environment.protected_branches:
        return failed("apply-environment", f"{name} admits every protected branch: limit it "
                                           f"to {branch} alone (selected branches)")
    policies = set(environment.branch_policies)
    if policies != {(branch, "branch")}:
        shown = ", ".join(f"{kind} {name!r}" for name, kind in sorted(policies)) or "nothing"
        return failed("apply-environment", f"{name} admits {shown}: it must admit the branch "
                                           f"{branch} and nothing else")
    return passed("apply-environment", f"{name} admits the branch {branch} only")


def oidc_subject(customization: Mapping[str, Any]) -> Finding:
    expected = customization_body()
    found = {key: customization.get(key) for key in expected}
    if found == expected:
        return passed("oidc-subject", "the OIDC subject is customised to "
                                      + ", ".join(expected["include_claim_keys"]))
    return failed("oidc-subject", f"the OIDC subject customisation is {found}, not {expected}")


def variables(found: Mapping[str, str]) -> Finding:
    missing = [name for name in REQUIRED_VARIABLES if not found.get(name)]
    if missing:
        return failed("variables", "repository variables missing or empty: " + ", ".join(missing))
    return passed("variables", "repository variables set: " + ", ".join(REQUIRED_VARIABLES))


def secrets(names: Sequence[str]) -> Finding:
    present = [name for name in FORBIDDEN_SECRETS if name in names]
    if present:
        return failed("secrets", "repository secrets any workflow on any branch can read are "
                                 "still there: " + ", ".join(present) + " (delete them)")
    return passed("secrets", "no repository secret named " + " or ".join(FORBIDDEN_SECRETS))


def team(facts: TeamFacts, repository: str) -> Finding:
    handle = facts.handle
    if not facts.exists:
        return failed("team", f"team {handle} does not exist (or this token cannot see it)")
    if not facts.visible:
        return failed("team", f"team {handle} is secret: a code owner team must be visible")
    if facts.permission is None:
        return failed("team", f"team {handle} has no access to {repository}")
    if not facts.can_write:
        return failed("team", f"team {handle} has {facts.permission} access to {repository}: "
                              "code owners need write access for their review to count")
    return passed("team", f"team {handle} exists and can write to {repository}")


def audit_branch(rules: BranchRules) -> Finding:
    """Deleting the audit branch, or rewriting it, must be impossible for everyone."""
    where = f"the audit branch {rules.branch}"
    missing, why = [], []
    for kind, what, allowed in (("deletion", "deletion", "allow_deletions"),
                                ("non_fast_forward", "force pushes", "allow_force_pushes")):
        found = _rules(rules, kind)
        protection = rules.protection
        if found:
            why += _bypasses(rules, found)
        elif protection is not None and not getattr(protection, allowed):
            why += _protection_bypasses(rules)
        else:
            missing.append(what)
    if missing:
        return failed("audit-branch", f"no rule forbids {' or '.join(missing)} on {where}")
    if why:
        return failed("audit-branch", f"{where} can be rewritten or deleted: "
                                      + "; ".join(dict.fromkeys(why)))
    return passed("audit-branch", f"{where} cannot be deleted or force-pushed, by anyone")


def settings(found: Settings, facts: GitHubFacts) -> Finding:
    """jitflow.yaml says the default branch and the region once more: they must agree."""
    wrong = []
    branch = facts.repository.default_branch
    if found.default_branch != branch:
        wrong.append(f"default_branch is {found.default_branch!r}, but GitHub's is {branch!r}")
    region = facts.variables.get(REGION_VARIABLE)
    if region and region != found.region:
        wrong.append(f"region is {found.region!r}, but {REGION_VARIABLE} is {region!r}")
    if wrong:
        return failed("settings", "jitflow.yaml disagrees with GitHub: " + "; ".join(wrong))
    return passed("settings", f"jitflow.yaml agrees with GitHub (default branch {branch}, "
                              f"region {found.region})")


def policies(problems: Sequence[Problem], branch: str) -> Finding:
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        shown = "; ".join(f"{p.path}: {p.message}" for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return failed("policies", f"the policies on {branch} do not load: {shown}{more}")
    return passed("policies", f"the policies and identities on {branch} load")


def break_glass_reviews(records: Sequence[AuditRecord], now: datetime) -> Finding:
    """Break-glass grants whose post-hoc review is past its deadline (from the audit log on
    the audit branch; the revoke run records each review it finds)."""
    dues = pending_reviews(records)
    overdue = [due for due in dues if due.overdue(now)]
    if overdue:
        return failed("break-glass", "; ".join(due.text(now) for due in overdue))
    later = f" ({len(dues)} due later)" if dues else ""
    return passed("break-glass", f"no break-glass review is overdue{later}")


def github_findings(facts: GitHubFacts, found_settings: Settings,
                    policy_problems: Sequence[Problem], now: datetime) -> list[Finding]:
    """Every GitHub item, in the order of the setup guide."""
    branch = facts.repository.default_branch
    rules = facts.default_rules
    repository = facts.repository.full_name
    return [
        policies(policy_problems, branch),
        settings(found_settings, facts),
        default_branch_rules(rules),
        required_check(rules),
        code_owner_review(rules),
        stale_reviews(rules),
        last_push_approval(rules),
        apply_environment(facts.environment, branch),
        oidc_subject(facts.oidc_customization),
        variables(facts.variables),
        secrets(facts.secrets),
        *([team(t, repository) for t in facts.teams]
          or [passed("team", "no approver or code owner is a team")]),
        audit_branch(facts.audit_rules),
        break_glass_reviews(facts.audit_records, now),
    ]
