"""The AWS side of `jitflow doctor`: pure checks over the jitflow roles as IAM shows them.

- **Trust.** Every Allow of a role's trust policy must be GitHub's OIDC provider, with
  `StringEquals` on the audience (`sts.amazonaws.com`) and on the subject, which must be
  exactly the one its caller workflow gets (`jitflow.doctor.workflows`). A second Allow
  (another principal, a `StringLike` subject) would widen who can assume the role.
- **No more than the bootstrap gives.** A deterministic reading, not an IAM evaluation: no
  inline policy; only managed policies of the role's own account under `/jitflow-bootstrap/`
  (where the stack creates them); and in their Allow statements, no `NotAction` or
  `NotResource`, no IAM action but reads (`Get*`, `List*`) unless on `/jitflow/` policies
  (or an attach or detach pinned to them by `iam:PolicyARN`), and no `sts:AssumeRole*` but
  of `/jitflow/` roles. Deny statements only take away, so they are not read.
- **Notifications.** When `jitflow.yaml`'s notification targets name a Secrets Manager
  secret, an SNS topic or an EventBridge bus, each role has an unconditional Allow of the
  action it needs on it (`secretsmanager:GetSecretValue`, `sns:Publish`, `events:PutEvents`)
  and no Deny of it: the stack's `Notification*Arns`. Otherwise those deliveries only ever
  fail into the outbox.
- **Identities.** Each principal of `policies/identities.yaml` in the roles' account must be
  matched by a resource of the apply role's `iam:GetRole`/`GetUser` (bucket-policy mode) or
  `iam:Attach*Policy` (identity-policy mode) statements, the stack's `AllowedPrincipalArns`,
  and must not be a jitflow role.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jitflow.doctor.expected import (
    BOOTSTRAP_POLICY_PATH,
    JITFLOW_PATH,
    OIDC_AUDIENCE,
    OIDC_PROVIDER,
    ROLE_VARIABLES,
)
from jitflow.doctor.facts import AwsFacts, RoleState
from jitflow.doctor.findings import Finding, failed, passed
from jitflow.model import Identities, NotificationTarget
from jitflow.oidc import Subject

ARN = re.compile(r"arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):"
                 r"(?P<kind>role|user|policy)/(?P<path>(?:[^/]+/)*)(?P<name>[^/]+)")
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
READ_PREFIXES = ("get", "list")
ATTACH_DETACH = {f"iam:{verb}{kind}Policy".lower() for verb in ("Attach", "Detach")
                 for kind in ("Role", "User", "Group")}
PRINCIPAL_ACTIONS = ("iam:GetRole", "iam:GetUser", "iam:AttachRolePolicy", "iam:AttachUserPolicy")


def as_list(value: Any) -> list[Any]:
    """IAM's "one or a list" fields as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: `*` any run of characters (`/` too), `?` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _allows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in _statements(document) if s.get("Effect") == "Allow"]


def _label(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement.get('Sid') or index + 1}"


def _name(state: RoleState) -> str:
    return f"the {state.duty} role" + (f" {state.arn}" if state.arn else "")


# -- the role itself ------------------------------------------------------------------------


def role_found(state: RoleState) -> Finding:
    variable = ROLE_VARIABLES[state.duty]
    if state.arn is None:
        return failed("role", f"the {state.duty} role is not named: {variable} is not set")
    if state.unread is not None:
        return failed("role", f"{_name(state)} was not read: {state.unread}")
    if state.role is None:
        return failed("role", f"{_name(state)} does not exist")
    if state.role.arn != state.arn:
        return failed("role", f"{variable} names {state.arn}, but the role is {state.role.arn}")
    return passed("role", f"{_name(state)} exists")


def _unchecked(item: str, state: RoleState, what: str) -> Finding | None:
    if state.role is None:
        return failed(item, f"{what} of {_name(state)}: not checked, the role was not read")
    return None


# -- trust ----------------------------------------------------------------------------------


def _condition(statement: Mapping[str, Any], operator: str, key: str) -> list[Any]:
    block = statement.get("Condition") or {}
    values = {k.lower(): v for k, v in (block.get(operator) or {}).items()}
    return as_list(values.get(key.lower()))


def _github_provider_only(principal: Any) -> bool:
    if not isinstance(principal, Mapping) or set(principal) != {"Federated"}:
        return False
    federated = as_list(principal["Federated"])
    return bool(federated) and all(str(f).endswith(f":oidc-provider/{OIDC_PROVIDER}")
                                   for f in federated)


def _trust_statement_problems(statement: Mapping[str, Any], subject: str) -> Iterator[str]:
    principal = statement.get("Principal")
    if "NotPrincipal" in statement or not _github_provider_only(principal):
        yield f"it trusts {principal or statement.get('NotPrincipal')!r}, not GitHub's OIDC " \
              "provider alone"
    if "NotAction" in statement or as_list(statement.get("Action")) != [WEB_IDENTITY]:
        yield f"it allows {statement.get('Action') or statement.get('NotAction')!r}, not " \
              f"{WEB_IDENTITY} alone"
    subjects = _condition(statement, "StringEquals", f"{OIDC_PROVIDER}:sub")
    if subjects != [subject]:
        loose = _condition(statement, "StringLike", f"{OIDC_PROVIDER}:sub")
        shown = subjects or (f"StringLike {loose}" if loose else "unset")
        yield f"its StringEquals subject is {shown}, not exactly {subject!r}"
    audiences = _condition(statement, "StringEquals", f"{OIDC_PROVIDER}:aud")
    if audiences != [OIDC_AUDIENCE]:
        yield f"its StringEquals audience is {audiences or 'unset'}, not {OIDC_AUDIENCE!r}"


def role_trust(state: RoleState, subject: Subject | str) -> Finding:
    unchecked = _unchecked("role-trust", state, "the trust")
    if unchecked is not None or state.role is None:
        return unchecked or failed("role-trust", "not checked")
    if isinstance(subject, str):
        return failed("role-trust", f"the trust of {_name(state)}: not checked, the expected "
                                    f"subject is unknown: {subject}")
    expected = subject.render()
    allows = _allows(state.role.trust)
    problems = [f"{_label(s, i)}: {why}" for i, s in enumerate(allows)
                for why in _trust_statement_problems(s, expected)]
    if not allows:
        problems.append("it allows nobody")
    if problems:
        return failed("role-trust", f"the trust of {_name(state)} is wrong: "
                                    + "; ".join(problems))
    return passed("role-trust", f"{_name(state)} trusts exactly {expected}")


# -- permissions ----------------------------------------------------------------------------


def _under(arn: str, kind: str, account: str, path: str) -> bool:
    found = ARN.fullmatch(arn)
    return (found is not None and found["kind"] == kind and found["account"] == account
            and f"/{found['path']}".startswith(path))


def _is_iam_read(action: str) -> bool:
    service, _, name = action.lower().partition(":")
    return service == "iam" and name.startswith(READ_PREFIXES)


def _pinned_to_jitflow_policies(statement: Mapping[str, Any], account: str) -> bool:
    values = [value for operator in ("ArnLike", "ArnEquals", "StringLike", "StringEquals")
              for value in _condition(statement, operator, "iam:PolicyARN")]
    return bool(values) and all(_under(str(v), "policy", account, JITFLOW_PATH) for v in values)


def _action_problem(action: str, statement: Mapping[str, Any], account: str) -> str | None:
    """What an allowed action gives beyond the bootstrap, or None."""
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    if action.lower().startswith("iam:") or wildcard(action, "iam:PutRolePolicy",
                                                     ignore_case=True):
        if _is_iam_read(action):
            return None
        if all(_under(r, "policy", account, JITFLOW_PATH) for r in resources):
            return None
        if action.lower() in ATTACH_DETACH and _pinned_to_jitflow_policies(statement, account):
            return None
        return f"{action} on {', '.join(resources)}"
    if action.lower().startswith("sts:assumerole") or wildcard(action, "sts:AssumeRole",
                                                               ignore_case=True):
        outside = [r for r in resources if not _role_under_jitflow(r)]
        return f"{action} on {', '.join(outside)}" if outside else None
    return None


def _role_under_jitflow(arn: str) -> bool:
    found = ARN.fullmatch(arn)
    return found is not None and found["kind"] == "role" and \
        found["path"].startswith(JITFLOW_PATH.strip("/") + "/") and "*" not in found["account"]


def _document_problems(policy_arn: str, document: Mapping[str, Any], account: str
                       ) -> Iterator[str]:
    for index, statement in enumerate(_allows(document)):
        where = f"{policy_arn} {_label(statement, index)}"
        if "NotAction" in statement or "NotResource" in statement:
            yield f"{where} uses NotAction or NotResource"
            continue
        for action in as_list(statement.get("Action")):
            problem = _action_problem(str(action), statement, account)
            if problem:
                yield f"{where} allows {problem}"


def role_permissions(state: RoleState, account: str) -> Finding:
    unchecked = _unchecked("role-permissions", state, "the permissions")
    if unchecked is not None:
        return unchecked
    problems = [f"inline policy {name!r}" for name in state.inline_policies]
    for policy in state.attached:
        if not _under(policy.arn, "policy", account, BOOTSTRAP_POLICY_PATH):
            problems.append(f"{policy.arn} is not a policy the bootstrap creates "
                            f"({BOOTSTRAP_POLICY_PATH} in account {account})")
        problems += _document_problems(policy.arn, policy.document, account)
    if problems:
        return failed("role-permissions", f"{_name(state)} holds more than the bootstrap gives "
                                          "it: " + "; ".join(problems))
    return passed("role-permissions", f"{_name(state)} holds only what the bootstrap gives it "
                                      f"({len(state.attached)} {BOOTSTRAP_POLICY_PATH} "
                                      "policies, no inline policy, no IAM write outside "
                                      f"{JITFLOW_PATH})")


# -- identities -----------------------------------------------------------------------------


def allowed_principals(state: RoleState) -> list[str]:
    """The resources of the statements that let the role read or attach to a principal."""
    found: list[str] = []
    for policy in state.attached:
        for statement in _allows(policy.document):
            actions = [str(a) for a in as_list(statement.get("Action"))]
            if any(wildcard(a, wanted, ignore_case=True)
                   for a in actions for wanted in PRINCIPAL_ACTIONS):
                found += [str(r) for r in as_list(statement.get("Resource"))]
    return list(dict.fromkeys(found))


def _identity_principals(identities: Identities) -> list[tuple[str, str]]:
    """(login, principal ARN) of every role or user entry; permission sets are found by
    `iam:ListRoles`, which takes no resource, so they have nothing to fall inside."""
    return [(login, entry.principal) for login, entries in sorted(identities.principals.items())
            for entry in entries if entry.permission_set is None]


def identities_within(state: RoleState, identities: Identities) -> Finding:
    unchecked = _unchecked("identities", state, "the principals")
    if unchecked is not None or state.role is None:
        return unchecked or failed("identities", "not checked")
    found = ARN.fullmatch(state.role.arn)
    account = found["account"] if found else ""
    patterns = allowed_principals(state)
    mine = [(login, arn) for login, arn in _identity_principals(identities)
            if (m := ARN.fullmatch(arn)) and m["account"] == account]
    outside = [f"{arn} ({login})" for login, arn in mine
               if _role_under_jitflow(arn) or not any(wildcard(p, arn) for p in patterns)]
    others = len(_identity_principals(identities)) - len(mine)
    elsewhere = f"; {others} in other accounts not checked here" if others else ""
    if outside:
        return failed("identities", f"identities outside the principals {_name(state)} may act "
                                    f"on ({', '.join(patterns) or 'none'}): "
                                    + ", ".join(outside) + elsewhere)
    return passed("identities", f"the {len(mine)} identities in account {account} fall inside "
                                f"the principals {_name(state)} may act on{elsewhere}")


# -- notifications --------------------------------------------------------------------------


def notification_needs(targets: Sequence[NotificationTarget], *, partition: str, region: str,
                       account: str) -> list[tuple[str, str]]:
    """(action, ARN) each role needs for the targets to be reached from the workflows: a bus
    named without an ARN is the one of that name in `region` of the roles' account."""
    needs: list[tuple[str, str]] = []
    for target in targets:
        for secret in (target.secret_arn, target.url_secret_arn):
            if secret:
                needs.append(("secretsmanager:GetSecretValue", secret))
        if target.topic_arn:
            needs.append(("sns:Publish", target.topic_arn))
        if target.event_bus:
            bus = target.event_bus if target.event_bus.startswith("arn:") else \
                f"arn:{partition}:events:{region}:{account}:event-bus/{target.event_bus}"
            needs.append(("events:PutEvents", bus))
    return list(dict.fromkeys(needs))


def _matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    return (any(wildcard(str(a), action, ignore_case=True)
                for a in as_list(statement.get("Action")))
            and any(wildcard(str(r), resource) for r in as_list(statement.get("Resource"))))


def _may(state: RoleState, action: str, resource: str) -> bool:
    """An unconditional Allow and no Deny (whatever its condition) in the attached policies."""
    found = [s for policy in state.attached for s in _statements(policy.document)
             if _matches(s, action, resource)]
    return (not any(s.get("Effect") == "Deny" for s in found)
            and any(s.get("Effect") == "Allow" and not s.get("Condition") for s in found))


def notification_access(state: RoleState, needs: Sequence[tuple[str, str]]) -> Finding:
    unchecked = _unchecked("notifications", state, "the notification targets")
    if unchecked is not None:
        return unchecked
    missing = [f"{action} on {arn}" for action, arn in needs if not _may(state, action, arn)]
    if missing:
        return failed("notifications", f"{_name(state)} may not reach what jitflow.yaml's "
                                       "notification targets name (the hub stack's "
                                       "Notification*Arns): " + "; ".join(missing))
    return passed("notifications", f"{_name(state)} may reach each secret, topic and bus "
                                   f"jitflow.yaml's notification targets name ({len(needs)})")


def notification_findings(facts: AwsFacts, targets: Sequence[NotificationTarget], *,
                          partition: str, region: str) -> list[Finding]:
    """One item per role; one line in all when no target needs an AWS permission."""
    needs = notification_needs(targets, partition=partition, region=region,
                               account=facts.account)
    if not needs:
        return [passed("notifications", "no notification target names a secret, a topic or "
                                        "a bus in AWS")]
    return [notification_access(state, needs) for state in facts.roles]


def aws_findings(facts: AwsFacts, subjects: Mapping[str, Subject | str],
                 identities: Identities) -> list[Finding]:
    """Every AWS item: each role, then the identities against the apply role."""
    findings: list[Finding] = []
    for state in facts.roles:
        findings += [role_found(state), role_trust(state, subjects[state.duty]),
                     role_permissions(state, facts.account)]
    apply: Sequence[RoleState] = [s for s in facts.roles if s.duty == "apply"]
    if apply:
        findings.append(identities_within(apply[0], identities))
    return findings
