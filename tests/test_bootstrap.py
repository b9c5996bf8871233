"""The AWS bootstrap template, read from `bootstrap/jitflow.yaml` itself.

The template is written in CloudFormation's long form (no YAML tags), so plain
`yaml.safe_load` reads it. A small evaluator resolves the intrinsic functions it uses for a set
of deployments (hub with the classic or the immutable OIDC subject, with and without the OIDC
provider, with member accounts, and an additional account), and the tests assert on the
resulting trust and permission documents: what AWS would actually be given.
(`cfn-lint` checks the template itself; `./dev.sh test` runs it.)
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "bootstrap" / "jitflow.yaml"
ACCOUNT = "999988887777"
PARTITION = "aws"
ALLOWED = ["arn:aws:iam::999988887777:role/data-*", "arn:aws:iam::999988887777:user/etl"]
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"
JITFLOW_POLICIES = f"arn:aws:iam::{ACCOUNT}:policy/jitflow/*"
JITFLOW_ROLES = f"arn:aws:iam::{ACCOUNT}:role/jitflow/*"

APPLY_ACTIONS = {
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:TagPolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyTags",
    "iam:ListPolicyVersions",
    "iam:DeletePolicyVersion",
    "iam:ListEntitiesForPolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:DetachUserPolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListPolicies",
}
REVOKE_ACTIONS = {
    "iam:ListPolicies",
    "iam:ListEntitiesForPolicy",
    "iam:GetPolicy",
    "iam:ListPolicyTags",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
    "iam:DetachRolePolicy",
    "iam:DetachUserPolicy",
    "iam:DetachGroupPolicy",
}
HUB_ONLY_ACTIONS = {"sts:AssumeRole", "secretsmanager:GetSecretValue"}


def load_template() -> dict[str, Any]:
    data = yaml.safe_load(TEMPLATE_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


TEMPLATE = load_template()


# ---- a minimal evaluator for the intrinsic functions the template uses ---------------------


class _NoValue:
    """AWS::NoValue: the enclosing property or list item disappears."""


NO_VALUE = _NoValue()


@dataclass
class Deployment:
    name: str
    parameters: dict[str, Any]
    template: dict[str, Any] = field(default_factory=lambda: TEMPLATE)
    conditions: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params: dict[str, Any] = {}
        for key, spec in self.template["Parameters"].items():
            if key in self.parameters:
                params[key] = self.parameters[key]
            elif "Default" in spec:
                default = spec["Default"]
                is_list = spec["Type"] == "CommaDelimitedList"
                params[key] = default.split(",") if is_list else default
            else:
                raise AssertionError(f"{self.name}: parameter {key} has no value")
        self.parameters = params
        for key, spec in self.template["Parameters"].items():
            pattern = spec.get("AllowedPattern")
            values = params[key] if isinstance(params[key], list) else [params[key]]
            for value in values:
                assert pattern is None or re.fullmatch(pattern, value), (key, value)
        for name in self.template["Conditions"]:
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            result = self.evaluate(self.template["Conditions"][name])
            assert isinstance(result, bool), name
            self.conditions[name] = result
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION, "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template["Resources"][name]
        assert self.resource_exists(name), f"Ref to {name}, which is not created"
        if resource["Type"] == "AWS::IAM::OIDCProvider":
            return OIDC_ARN
        if resource["Type"] == "AWS::IAM::Role":
            return resource["Properties"]["RoleName"]
        raise AssertionError(f"unexpected Ref {name}")

    def resource_exists(self, name: str) -> bool:
        condition = self.template["Resources"][name].get("Condition")
        return condition is None or self.condition(condition)

    def sub(self, template: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                value = variables[key]
            elif "." in key:
                resource, attribute = key.split(".", 1)
                value = self.get_att(resource, attribute)
            else:
                value = self.ref(key)
            assert isinstance(value, str), (key, value)
            return value

        return re.sub(r"\$\{([^}!]+)\}", replace, template)

    def get_att(self, resource: str, attribute: str) -> str:
        assert attribute == "Arn", attribute
        assert self.resource_exists(resource), f"GetAtt of {resource}, which is not created"
        props = self.template["Resources"][resource]["Properties"]
        return f"arn:aws:iam::{ACCOUNT}:role{props['Path']}{props['RoleName']}"

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.evaluate(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.evaluate(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.evaluate(a) for a in arg)
                return bool(left == right)
            if key == "Fn::Not":
                return not self.evaluate(arg[0])
            if key == "Fn::And":
                return all(self.evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self.evaluate(a) for a in arg)
            if key == "Fn::Join":
                separator, items = arg
                assert isinstance(separator, str), "Fn::Join needs a literal separator"
                return separator.join(self.evaluate(items))
            if key == "Fn::Split":
                separator, text = arg
                return self.evaluate(text).split(separator)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                template, variables = arg
                return self.sub(template, {k: self.evaluate(v) for k, v in variables.items()})
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            assert not key.startswith("Fn::"), f"evaluator does not know {key}"
        result = {key: self.evaluate(value) for key, value in node.items()}
        return {key: value for key, value in result.items() if value is not NO_VALUE}

    def resources(self) -> dict[str, dict[str, Any]]:
        return {
            name: self.evaluate(resource)
            for name, resource in self.template["Resources"].items()
            if self.resource_exists(name)
        }

    def with_template(self, template: dict[str, Any]) -> Deployment:
        return Deployment(self.name, dict(self.parameters), template)

    def role(self, name: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resources()[name]["Properties"]
        return props

    @property
    def is_hub(self) -> bool:
        return self.condition("IsHub")

    @property
    def roles(self) -> list[str]:
        return ["ApplyRole", "RevokeRole"] if self.is_hub else ["GrantRole"]

    @property
    def apply_role(self) -> str:
        return "ApplyRole" if self.is_hub else "GrantRole"


HUB = {"GitHubOrg": "acme", "GitHubRepo": "access", "AllowedPrincipalArns": ALLOWED}
DEPLOYMENTS = [
    Deployment("hub", dict(HUB)),
    Deployment("hub-immutable-subject", {**HUB, "GitHubOwnerId": "123", "GitHubRepoId": "456"}),
    Deployment("hub-existing-provider", {**HUB, "CreateOidcProvider": "false"}),
    Deployment("hub-other-names", {**HUB, "EnvironmentName": "grants", "DefaultBranch": "trunk"}),
    Deployment(
        "hub-with-members-and-push-secret",
        {
            **HUB,
            "MemberAccountIds": ["111111111111", "222222222222"],
            "AuditPushSecretArn": (
                f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jitflow/push-AbCdEf"
            ),
        },
    ),
    Deployment("member", {"AllowedPrincipalArns": ALLOWED, "HubAccountId": "123456789012"}),
]
HUBS = [d for d in DEPLOYMENTS if d.is_hub]


def by_name(deployments: list[Deployment]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("deployment", deployments, ids=[d.name for d in deployments])


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def permission_policies(deployment: Deployment, role: str) -> list[dict[str, Any]]:
    """The evaluated properties of every policy the role gets (managed and inline)."""
    role_name = deployment.role(role)["RoleName"]
    found = [
        resource["Properties"]
        for resource in deployment.resources().values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        and role_name in resource["Properties"].get("Roles", [])
    ]
    return found + list(deployment.role(role).get("Policies", []))


def permission_statements(deployment: Deployment, role: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for policy in permission_policies(deployment, role):
        result += statements(policy["PolicyDocument"])
    return result


def allows(deployment: Deployment, role: str) -> Iterator[dict[str, Any]]:
    return (s for s in permission_statements(deployment, role) if s["Effect"] == "Allow")


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


# ---- the checks (each a function of a deployment, so it can be shown to fail) --------------


def expected_repository(deployment: Deployment) -> str:
    p = deployment.parameters
    if p["GitHubOwnerId"]:
        return f"{p['GitHubOrg']}@{p['GitHubOwnerId']}/{p['GitHubRepo']}@{p['GitHubRepoId']}"
    return f"{p['GitHubOrg']}/{p['GitHubRepo']}"


def trust_statement(deployment: Deployment, role: str) -> dict[str, Any]:
    (statement,) = statements(deployment.role(role)["AssumeRolePolicyDocument"])
    return statement


def check_hub_trust(deployment: Deployment, role: str, subject: str) -> None:
    statement = trust_statement(deployment, role)
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement.get("Condition") == {
        "StringEquals": {AUD: "sts.amazonaws.com", SUB: f"repo:{subject}"}
    }


def check_apply_trust(deployment: Deployment) -> None:
    env = deployment.parameters["EnvironmentName"]
    check_hub_trust(deployment, "ApplyRole", f"{expected_repository(deployment)}:environment:{env}")


def check_revoke_trust(deployment: Deployment) -> None:
    branch = deployment.parameters["DefaultBranch"]
    check_hub_trust(
        deployment, "RevokeRole", f"{expected_repository(deployment)}:ref:refs/heads/{branch}"
    )


def check_trust_has_no_wildcards(deployment: Deployment) -> None:
    for role in deployment.roles:
        trust = deployment.role(role)["AssumeRolePolicyDocument"]
        for statement in statements(trust):
            assert "NotPrincipal" not in statement
            for operator in statement.get("Condition", {}):
                assert operator == "StringEquals", (role, operator)
            subject = statement.get("Condition", {}).get("StringEquals", {}).get(SUB)
            if subject is not None:
                assert isinstance(subject, str)  # one value, not a list of alternatives
                assert "*" not in subject and "?" not in subject, subject
                assert ":pull_request" not in subject, subject
            for principal in as_list(statement["Principal"].get("AWS", [])):
                assert "*" not in principal, principal
        text = repr(trust)
        assert "pull_request" not in text
        assert "StringLike" not in text and "ForAnyValue" not in text


def check_template_text(template: dict[str, Any]) -> None:
    """Also the branches of Fn::If that no test deployment takes."""
    roles = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    assert roles
    for role in roles:
        raw = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
        text = repr(raw)
        assert "StringLike" not in text
        assert "pull_request" not in text
        for node in walk(raw):
            if isinstance(node, str) and node.startswith("repo:"):
                assert "*" not in node and "?" not in node, node


def check_member_trust(deployment: Deployment) -> None:
    hub = deployment.parameters["HubAccountId"]
    resources = deployment.resources()
    assert "GitHubOidcProvider" not in resources
    assert "ApplyRole" not in resources and "RevokeRole" not in resources
    statement = trust_statement(deployment, "GrantRole")
    assert statement == {
        "Sid": statement.get("Sid"),
        "Effect": "Allow",
        "Principal": {
            "AWS": [
                f"arn:aws:iam::{hub}:role/jitflow/jitflow-apply",
                f"arn:aws:iam::{hub}:role/jitflow/jitflow-revoke",
            ]
        },
        "Action": "sts:AssumeRole",
    }
    actions = {a for s in allows(deployment, "GrantRole") for a in as_list(s["Action"])}
    assert not actions & HUB_ONLY_ACTIONS


def check_roles_under_jitflow_path(deployment: Deployment) -> None:
    for role in deployment.roles:
        arn = deployment.get_att(role, "Arn")
        assert fnmatch.fnmatchcase(arn, JITFLOW_ROLES), arn


def check_permission_policies_out_of_reach(deployment: Deployment) -> None:
    """The roles may delete /jitflow/ policies: their own permissions must live elsewhere."""
    for role in deployment.roles:
        policies = permission_policies(deployment, role)
        assert policies, role
        for policy in policies:
            path = policy.get("Path", "/")
            arn = f"arn:aws:iam::{ACCOUNT}:policy{path}{policy.get('ManagedPolicyName', 'x')}"
            assert not fnmatch.fnmatchcase(arn, JITFLOW_POLICIES), arn


def check_own_roles_denied(deployment: Deployment) -> None:
    for role in deployment.roles:
        policies = permission_policies(deployment, role)
        for policy in policies:  # every policy carries the deny, whoever it is attached to
            denies = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
            denied = {a for s in denies for a in as_list(s["Action"])}
            resources = {r for s in denies for r in as_list(s["Resource"])}
            assert {
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePolicy",
                "iam:UpdateAssumeRolePolicy",
            } <= denied, role
            assert resources == {JITFLOW_ROLES}, role
            assert all("Condition" not in s for s in denies)  # unconditional
        for own in deployment.roles:
            assert fnmatch.fnmatchcase(deployment.get_att(own, "Arn"), JITFLOW_ROLES)


def check_attach_scope(deployment: Deployment) -> None:
    """Attach only /jitflow/ policies, only to the allowed principals; detach only /jitflow/."""
    seen = False
    for role in deployment.roles:
        for statement in allows(deployment, role):
            actions = set(as_list(statement["Action"]))
            if any(a.startswith("iam:Attach") for a in actions):
                seen = True
                assert as_list(statement["Resource"]) == ALLOWED
            if any(a.startswith(("iam:Attach", "iam:Detach")) for a in actions):
                condition = statement.get("Condition")
                assert condition == {"ArnLike": {"iam:PolicyARN": JITFLOW_POLICIES}}, statement
            for action in actions & {"iam:CreatePolicy", "iam:DeletePolicy", "iam:TagPolicy"}:
                assert as_list(statement["Resource"]) == [JITFLOW_POLICIES], action
    assert seen


def check_apply_actions(deployment: Deployment) -> None:
    role = deployment.apply_role
    actions = {a for s in allows(deployment, role) for a in as_list(s["Action"])}
    expected = APPLY_ACTIONS if deployment.is_hub else APPLY_ACTIONS | REVOKE_ACTIONS
    assert actions - HUB_ONLY_ACTIONS == expected


def check_revoke_actions(deployment: Deployment) -> None:
    actions = {a for s in allows(deployment, "RevokeRole") for a in as_list(s["Action"])}
    for action in actions:
        verb = action.split(":", 1)[1]
        assert not verb.startswith(("Create", "Attach", "Put", "Tag", "Update", "Add")), action
    assert actions - HUB_ONLY_ACTIONS == REVOKE_ACTIONS


def check_resources_scoped(deployment: Deployment) -> None:
    for role in deployment.roles:
        for statement in permission_statements(deployment, role):
            assert "NotAction" not in statement and "NotResource" not in statement
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), actions
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    assert actions == ["iam:ListPolicies"], (role, statement.get("Sid"))
                    continue
                assert resource.startswith("arn:aws"), resource
                account = resource.split(":")[4]
                assert re.fullmatch(r"[0-9]{12}", account), resource  # no wildcard account


# ---- the tests -----------------------------------------------------------------------------


@by_name(HUBS)
def test_apply_role_trusts_exactly_the_apply_environment(deployment: Deployment) -> None:
    check_apply_trust(deployment)


@by_name(HUBS)
def test_revoke_role_trusts_exactly_the_default_branch(deployment: Deployment) -> None:
    check_revoke_trust(deployment)


def test_the_documented_subjects_are_exact() -> None:
    hub, immutable = DEPLOYMENTS[0], DEPLOYMENTS[1]
    subject = trust_statement(hub, "ApplyRole")["Condition"]["StringEquals"][SUB]
    assert subject == "repo:acme/access:environment:jitflow-apply"
    subject = trust_statement(hub, "RevokeRole")["Condition"]["StringEquals"][SUB]
    assert subject == "repo:acme/access:ref:refs/heads/main"
    subject = trust_statement(immutable, "ApplyRole")["Condition"]["StringEquals"][SUB]
    assert subject == "repo:acme@123/access@456:environment:jitflow-apply"
    subject = trust_statement(immutable, "RevokeRole")["Condition"]["StringEquals"][SUB]
    assert subject == "repo:acme@123/access@456:ref:refs/heads/main"
    outputs = hub.evaluate(
        {k: v for k, v in TEMPLATE["Outputs"].items() if hub.condition(v.get("Condition", "IsHub"))}
    )
    assert outputs["ApplySubject"]["Value"] == "repo:acme/access:environment:jitflow-apply"
    assert outputs["RevokeSubject"]["Value"] == "repo:acme/access:ref:refs/heads/main"


@by_name(DEPLOYMENTS)
def test_no_trust_policy_uses_stringlike_wildcards_or_pull_request(
    deployment: Deployment,
) -> None:
    check_trust_has_no_wildcards(deployment)


def test_template_text_has_no_stringlike_or_pull_request_anywhere() -> None:
    check_template_text(TEMPLATE)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("GitHubOrg", "*"),
        ("GitHubOrg", "acme/*"),
        ("GitHubOrg", "ac?me"),
        ("GitHubRepo", "*"),
        ("GitHubRepo", "access:*"),
        ("GitHubRepo", "a/b"),
        ("EnvironmentName", "*"),
        ("EnvironmentName", "jitflow-apply*"),
        ("EnvironmentName", ""),
        ("DefaultBranch", "*"),
        ("DefaultBranch", "main*"),
        ("DefaultBranch", ""),
        ("GitHubOwnerId", "1*"),
        ("GitHubRepoId", "*"),
        ("HubAccountId", "*"),
        ("AllowedPrincipalArns", "*"),
        ("AllowedPrincipalArns", "arn:aws:iam::*:role/x"),
        ("AllowedPrincipalArns", "arn:aws:s3:::bucket"),
        ("AuditPushSecretArn", "*"),
        ("MemberAccountIds", "*"),
    ],
)
def test_parameters_cannot_smuggle_wildcards_into_subjects_or_accounts(
    parameter: str, value: str
) -> None:
    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    assert re.fullmatch(pattern, value) is None


def test_member_account_role_trusts_only_the_hub_roles() -> None:
    (member,) = [d for d in DEPLOYMENTS if not d.is_hub]
    check_member_trust(member)


@by_name(HUBS)
def test_the_oidc_provider_is_github_with_the_sts_audience(deployment: Deployment) -> None:
    resources = deployment.resources()
    if deployment.parameters["CreateOidcProvider"] == "true":
        provider = resources["GitHubOidcProvider"]["Properties"]
        assert provider["Url"] == "https://token.actions.githubusercontent.com"
        assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    else:
        assert "GitHubOidcProvider" not in resources


@by_name(DEPLOYMENTS)
def test_roles_live_under_the_jitflow_path(deployment: Deployment) -> None:
    check_roles_under_jitflow_path(deployment)


@by_name(DEPLOYMENTS)
def test_roles_cannot_delete_their_own_permissions(deployment: Deployment) -> None:
    check_permission_policies_out_of_reach(deployment)


@by_name(DEPLOYMENTS)
def test_apply_role_cannot_change_its_own_roles(deployment: Deployment) -> None:
    check_own_roles_denied(deployment)


@by_name(DEPLOYMENTS)
def test_attaches_only_jitflow_policies_only_to_allowed_principals(
    deployment: Deployment,
) -> None:
    check_attach_scope(deployment)


@by_name(DEPLOYMENTS)
def test_apply_role_has_exactly_the_documented_actions(deployment: Deployment) -> None:
    check_apply_actions(deployment)


@by_name(HUBS)
def test_revoke_role_can_only_list_detach_and_delete(deployment: Deployment) -> None:
    check_revoke_actions(deployment)


@by_name(DEPLOYMENTS)
def test_every_resource_is_scoped_except_list_policies(deployment: Deployment) -> None:
    check_resources_scoped(deployment)


def test_hub_assumes_exactly_the_member_roles_and_reads_only_the_push_secret() -> None:
    (deployment,) = [d for d in DEPLOYMENTS if d.name == "hub-with-members-and-push-secret"]
    secret = deployment.parameters["AuditPushSecretArn"]
    for role in ("ApplyRole", "RevokeRole"):
        found = list(allows(deployment, role))
        assume = [s for s in found if s["Action"] == "sts:AssumeRole"]
        assert [s["Resource"] for s in assume] == [
            [
                "arn:aws:iam::111111111111:role/jitflow/jitflow-grant",
                "arn:aws:iam::222222222222:role/jitflow/jitflow-grant",
            ]
        ]
        read = [s for s in found if s["Action"] == "secretsmanager:GetSecretValue"]
        assert [s["Resource"] for s in read] == [secret]


def test_without_members_or_secret_the_hub_has_neither_permission() -> None:
    actions = {a for s in allows(DEPLOYMENTS[0], "ApplyRole") for a in as_list(s["Action"])}
    actions |= {a for s in allows(DEPLOYMENTS[0], "RevokeRole") for a in as_list(s["Action"])}
    assert not actions & HUB_ONLY_ACTIONS


@by_name(DEPLOYMENTS)
def test_outputs_name_the_role_arns(deployment: Deployment) -> None:
    outputs = deployment.evaluate(
        {
            name: output
            for name, output in TEMPLATE["Outputs"].items()
            if "Condition" not in output or deployment.condition(output["Condition"])
        }
    )
    if deployment.is_hub:
        assert outputs["ApplyRoleArn"]["Value"] == (
            f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
        )
        assert outputs["RevokeRoleArn"]["Value"] == (
            f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-revoke"
        )
        assert "GrantRoleArn" not in outputs
    else:
        assert set(outputs) == {"GrantRoleArn"}
        assert outputs["GrantRoleArn"]["Value"] == (
            f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-grant"
        )


# ---- each check can fail: run it against a mutated template --------------------------------

POLICY_OF = {"ApplyRole": "ApplyPermissions", "RevokeRole": "RevokePermissions"}


def _trust(template: dict[str, Any], role: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ][0]
    return found


def _policy(template: dict[str, Any], role: str) -> list[Any]:
    found: list[Any] = template["Resources"][POLICY_OF[role]]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    return found


def _sid(template: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    (statement,) = [s for s in _policy(template, role) if s.get("Sid") == sid]
    assert isinstance(statement, dict)
    return statement


def _string_like(t: dict[str, Any]) -> None:
    cond = _trust(t, "ApplyRole")["Condition"]
    cond["StringLike"] = cond.pop("StringEquals")


def _wildcard_subject(t: dict[str, Any]) -> None:
    _trust(t, "RevokeRole")["Condition"]["StringEquals"][SUB]["Fn::Sub"][0] = "repo:${Repository}:*"


def _pull_request_subject(t: dict[str, Any]) -> None:
    sub = _trust(t, "ApplyRole")["Condition"]["StringEquals"][SUB]["Fn::Sub"]
    sub[0] = "repo:${Repository}:pull_request"


def _branch_instead_of_environment(t: dict[str, Any]) -> None:
    sub = _trust(t, "ApplyRole")["Condition"]["StringEquals"][SUB]["Fn::Sub"]
    sub[0] = "repo:${Repository}:ref:refs/heads/${DefaultBranch}"


def _no_audience(t: dict[str, Any]) -> None:
    del _trust(t, "RevokeRole")["Condition"]["StringEquals"][AUD]


def _subject_list(t: dict[str, Any]) -> None:
    cond = _trust(t, "ApplyRole")["Condition"]["StringEquals"]
    cond[SUB] = [cond[SUB], "repo:acme/access:ref:refs/heads/dev"]


def _drop_deny(t: dict[str, Any]) -> None:
    found = _policy(t, "ApplyRole")
    found[:] = [s for s in found if s.get("Effect") != "Deny"]


def _role_outside_path(t: dict[str, Any]) -> None:
    t["Resources"]["ApplyRole"]["Properties"]["Path"] = "/"


def _permissions_inside_jitflow_path(t: dict[str, Any]) -> None:
    t["Resources"]["RevokePermissions"]["Properties"]["Path"] = "/jitflow/"


def _attach_anywhere(t: dict[str, Any]) -> None:
    _sid(t, "ApplyRole", "AttachJitflowPoliciesToAllowedPrincipalsOnly")["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
    }


def _attach_any_policy(t: dict[str, Any]) -> None:
    del _sid(t, "ApplyRole", "AttachJitflowPoliciesToAllowedPrincipalsOnly")["Condition"]


def _detach_any_policy(t: dict[str, Any]) -> None:
    del _sid(t, "RevokeRole", "DetachJitflowPoliciesFromWhoeverHasThem")["Condition"]


def _extra_apply_action(t: dict[str, Any]) -> None:
    _sid(t, "ApplyRole", "ManageJitflowPolicies")["Action"].append("iam:CreatePolicyVersion")


def _revoke_can_attach(t: dict[str, Any]) -> None:
    _sid(t, "RevokeRole", "DetachJitflowPoliciesFromWhoeverHasThem")["Action"].append(
        "iam:AttachRolePolicy"
    )


def _revoke_can_create(t: dict[str, Any]) -> None:
    _sid(t, "RevokeRole", "ReadAndDeleteJitflowPolicies")["Action"].append("iam:CreatePolicy")


def _bare_star(t: dict[str, Any]) -> None:
    _sid(t, "RevokeRole", "ReadAndDeleteJitflowPolicies")["Resource"] = "*"


def _any_account(t: dict[str, Any]) -> None:
    _sid(t, "ApplyRole", "ManageJitflowPolicies")["Resource"] = "arn:aws:iam::*:policy/jitflow/*"


def _action_wildcard(t: dict[str, Any]) -> None:
    _sid(t, "ApplyRole", "ManageJitflowPolicies")["Action"] = "iam:*"


def _member_trusts_anyone(t: dict[str, Any]) -> None:
    _trust(t, "GrantRole")["Principal"] = {"AWS": "*"}


def _member_trusts_the_hub_account(t: dict[str, Any]) -> None:
    _trust(t, "GrantRole")["Principal"] = {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}
    }


MUTATIONS: list[tuple[str, Any, Any, str]] = [
    ("stringlike", _string_like, check_apply_trust, "hub"),
    ("stringlike-anywhere", _string_like, check_trust_has_no_wildcards, "hub"),
    ("wildcard-subject", _wildcard_subject, check_trust_has_no_wildcards, "hub"),
    ("pull-request-subject", _pull_request_subject, check_trust_has_no_wildcards, "hub"),
    ("pull-request-subject-text", _pull_request_subject, check_template_text, ""),
    ("apply-trusts-a-branch", _branch_instead_of_environment, check_apply_trust, "hub"),
    ("no-audience", _no_audience, check_revoke_trust, "hub"),
    ("subject-list", _subject_list, check_trust_has_no_wildcards, "hub"),
    ("no-deny", _drop_deny, check_own_roles_denied, "hub"),
    ("no-deny-member", _drop_deny, check_own_roles_denied, "member"),
    ("role-outside-path", _role_outside_path, check_roles_under_jitflow_path, "hub"),
    ("permissions-deletable", _permissions_inside_jitflow_path,
     check_permission_policies_out_of_reach, "hub"),
    ("attach-anywhere", _attach_anywhere, check_attach_scope, "hub"),
    ("attach-any-policy", _attach_any_policy, check_attach_scope, "hub"),
    ("detach-any-policy", _detach_any_policy, check_attach_scope, "hub"),
    ("extra-apply-action", _extra_apply_action, check_apply_actions, "hub"),
    ("extra-member-action", _extra_apply_action, check_apply_actions, "member"),
    ("revoke-can-attach", _revoke_can_attach, check_revoke_actions, "hub"),
    ("revoke-can-create", _revoke_can_create, check_revoke_actions, "hub"),
    ("bare-star", _bare_star, check_resources_scoped, "hub"),
    ("any-account", _any_account, check_resources_scoped, "hub"),
    ("action-wildcard", _action_wildcard, check_resources_scoped, "hub"),
    ("member-trusts-anyone", _member_trusts_anyone, check_member_trust, "member"),
    ("member-trusts-anyone-wildcard", _member_trusts_anyone, check_trust_has_no_wildcards,
     "member"),
    ("member-trusts-hub-root", _member_trusts_the_hub_account, check_member_trust, "member"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "check", "deployment_name"),
    [pytest.param(m, c, d, id=name) for name, m, c, d in MUTATIONS],
)
def test_each_check_fails_on_a_mutated_template(
    mutate: Any, check: Any, deployment_name: str
) -> None:
    template = copy.deepcopy(TEMPLATE)
    mutate(template)
    if not deployment_name:  # a check of the template text itself
        with pytest.raises(AssertionError):
            check(template)
        check(TEMPLATE)
        return
    (base,) = [d for d in DEPLOYMENTS if d.name == deployment_name]
    with pytest.raises(AssertionError):
        check(base.with_template(template))
    check(base)  # and the same check passes on the real template
