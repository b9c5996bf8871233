"""A healthy jitflow setup, for `jitflow doctor` to find nothing wrong with: the fake GitHub's
repository, rules, environment, variables and teams, and the two roles in moto's IAM.

`HealthySetup.build` makes everything right (the project's own jitflow.yaml, policies and
CODEOWNERS on `main`, the caller workflows calling pinned reusable ones); a test then changes
one thing and expects exactly that item to fail. The role documents follow bootstrap/'s
bucket-policy mode (one managed policy under /jitflow-bootstrap/ for both roles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jitflow.doctor.expected import (
    APPLY_ENVIRONMENT,
    GITHUB_ACTIONS_APP_ID,
    REGION_VARIABLE,
    REQUIRED_CHECK,
    ROLE_VARIABLES,
)
from jitflow.oidc import CALLERS, REUSABLE, WORKFLOWS_DIR, customization_body, expected_subject
from jitflow.sandbox.github import FakeGitHub, FakeRepo, FakeRuleset
from testing.foundation import ROOT

REPOSITORY = "acme/access"
ACCOUNT = "111122223333"  # the example policies' hub account (set MOTO_ACCOUNT_ID to it)
MEMBER_ACCOUNT = "444455556666"
REGION = "us-east-1"
REUSABLE_REPOSITORY = "jitflow/jitflow"
REUSABLE_SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"
TEAMS = ("data-platform", "ml-leads", "security")  # every team the example files name
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
PERMISSIONS_POLICY = "jitflow-bucket-permissions"
ALLOWED_PRINCIPALS = [f"arn:aws:iam::{ACCOUNT}:role/data-*",
                      f"arn:aws:iam::{ACCOUNT}:role/erin-admin"]
PULL_REQUEST_RULE: dict[str, Any] = {"type": "pull_request", "parameters": {
    "required_approving_review_count": 1,
    "dismiss_stale_reviews_on_push": True,
    "require_code_owner_review": True,
    "require_last_push_approval": True,
    "required_review_thread_resolution": False,
}}
STATUS_CHECK_RULE: dict[str, Any] = {"type": "required_status_checks", "parameters": {
    "strict_required_status_checks_policy": False,
    "required_status_checks": [{"context": REQUIRED_CHECK,
                                "integration_id": GITHUB_ACTIONS_APP_ID}],
}}


def caller_text(duty: str, uses: str | None = None) -> str:
    """A caller workflow delegating its one job (pinned reusable workflow by default)."""
    target = uses or f"{REUSABLE_REPOSITORY}/{WORKFLOWS_DIR}/{REUSABLE[duty]}@{REUSABLE_SHA}"
    return (f"name: jitflow {duty}\non:\n  push:\n    branches: [main]\npermissions: {{}}\n"
            f"jobs:\n  {duty}:\n    uses: {target}\n    permissions:\n"
            "      id-token: write\n      contents: read\n")


def trust_policy(subject: str) -> dict[str, Any]:
    """A role's trust as bootstrap/ writes it: GitHub's OIDC provider, one exact subject."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "GitHubActionsOneWorkflowOnly", "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject,
        }},
    }]}


def bucket_permissions() -> dict[str, Any]:
    """bootstrap/'s bucket-policy mode permissions for the example policies' hub account."""
    own_roles = f"arn:aws:iam::{ACCOUNT}:role/jitflow/*"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadAndWriteTheGovernedBucketPolicies", "Effect": "Allow",
         "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
         "Resource": ["arn:aws:s3:::analytics-raw", "arn:aws:s3:::analytics-raw-eu"],
         "Condition": {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}},
        {"Sid": "ReadTheIdsOfAllowedPrincipals", "Effect": "Allow",
         "Action": ["iam:GetRole", "iam:GetUser"], "Resource": ALLOWED_PRINCIPALS},
        {"Sid": "FindIdentityCenterRoles", "Effect": "Allow", "Action": "iam:ListRoles",
         "Resource": "*"},
        {"Sid": "NeverChangeTheJitflowRoles", "Effect": "Deny",
         "Action": ["iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"],
         "Resource": own_roles},
        {"Sid": "AssumeTheGrantRoleInMemberAccounts", "Effect": "Allow",
         "Action": "sts:AssumeRole",
         "Resource": f"arn:aws:iam::{MEMBER_ACCOUNT}:role/jitflow/jitflow-grant"},
    ]}


@dataclass
class HealthySetup:
    """Everything doctor reads, right. `iam` is a boto3 IAM client inside `mock_aws`."""

    fake: FakeGitHub
    iam: Any
    repo: FakeRepo
    main_rules: FakeRuleset
    audit_rules: FakeRuleset

    @classmethod
    def build(cls, fake: FakeGitHub, iam: Any) -> HealthySetup:
        repo = fake.add_repo(REPOSITORY)
        for name in ("jitflow.yaml", ".github/CODEOWNERS"):
            fake.put_file(name, (ROOT / name).read_bytes())
        for path in sorted((ROOT / "policies").glob("*.yaml")):
            fake.put_file(f"policies/{path.name}", path.read_bytes())
        for duty in ROLE_VARIABLES:
            fake.put_file(f"{WORKFLOWS_DIR}/{CALLERS[duty]}", caller_text(duty))
        for team in TEAMS:
            fake.add_team("acme", team, {})
            fake.grant_team("acme", team, "push")
        main_rules = fake.add_ruleset("jitflow: protect main", [
            {"type": "deletion"}, {"type": "non_fast_forward"}, PULL_REQUEST_RULE,
            STATUS_CHECK_RULE])
        audit_rules = fake.add_ruleset("jitflow: the audit log only grows", [
            {"type": "deletion"}, {"type": "non_fast_forward"}],
            include=["refs/heads/jitflow-audit"])
        fake.add_environment(APPLY_ENVIRONMENT, "custom", [("main", "branch")])
        fake.set_oidc_customization(customization_body())
        for duty, variable in ROLE_VARIABLES.items():
            fake.set_variable(variable, role_arn(duty))
        fake.set_variable(REGION_VARIABLE, REGION)
        fake.set_variable("JITFLOW_TEAMS_TOKEN_SECRET",
                          f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:jitflow/teams")
        fake.add_secret("SOMETHING_ELSE")  # names are listed; only jitflow's old ones fail
        setup = cls(fake, iam, repo, main_rules, audit_rules)
        setup.create_roles()
        return setup

    def subject(self, duty: str, *, reusable_repository: str | None = REUSABLE_REPOSITORY,
                reusable_ref: str | None = REUSABLE_SHA) -> str:
        owner = self.fake.orgs[self.repo.owner.lower()]
        return expected_subject(owner_id=str(owner.id), repository_id=str(self.repo.id),
                                repository=REPOSITORY, branch=self.repo.default_branch,
                                duty=duty, reusable_repository=reusable_repository,
                                reusable_ref=reusable_ref).render()

    def create_roles(self) -> None:
        policy_arn = self.iam.create_policy(
            PolicyName=PERMISSIONS_POLICY, Path="/jitflow-bootstrap/",
            PolicyDocument=json.dumps(bucket_permissions()))["Policy"]["Arn"]
        for duty in ROLE_VARIABLES:
            self.iam.create_role(RoleName=f"jitflow-{duty}", Path="/jitflow/",
                                 AssumeRolePolicyDocument=json.dumps(
                                     trust_policy(self.subject(duty))))
            self.iam.attach_role_policy(RoleName=f"jitflow-{duty}", PolicyArn=policy_arn)

    def set_trust(self, duty: str, document: dict[str, Any]) -> None:
        self.iam.update_assume_role_policy(RoleName=f"jitflow-{duty}",
                                           PolicyDocument=json.dumps(document))

    def put_file(self, path: str, text: str) -> None:
        self.fake.put_file(path, text)

    def rule(self, kind: str) -> dict[str, Any]:
        """The default branch ruleset's rule of `kind` (a test may change its parameters)."""
        return next(rule for rule in self.main_rules.rules if rule["type"] == kind)


def role_arn(duty: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-{duty}"
