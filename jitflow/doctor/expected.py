"""What a sound jitflow setup has, by name: the one place to change when a name changes.

The workflows, the bootstrap stack and docs/setup.md use these names too; `jitflow doctor`
checks the live setup against them.
"""

from __future__ import annotations

# The required status check: the check job of jitflow-check.yml as GitHub names it (the
# calling job, then the reusable workflow's job), from GitHub Actions only.
REQUIRED_CHECK = "jitflow check / check"
GITHUB_ACTIONS_APP_ID = 15368  # the `integration_id` (`app_id`) of GitHub Actions

APPLY_ENVIRONMENT = "jitflow-apply"  # the apply job's environment: the default branch only

# Repository variables the workflows read (variables, not secrets: none of them is secret).
ROLE_VARIABLES = {"apply": "JITFLOW_APPLY_ROLE_ARN", "revoke": "JITFLOW_REVOKE_ROLE_ARN"}
REGION_VARIABLE = "JITFLOW_AWS_REGION"
REQUIRED_VARIABLES = (
    ROLE_VARIABLES["apply"], ROLE_VARIABLES["revoke"], REGION_VARIABLE,
    "JITFLOW_TEAMS_TOKEN_SECRET",
)
# Repository secrets that must be gone: any workflow a writer pushes (or a pull request's own
# edited workflow) can read a repository secret.
FORBIDDEN_SECRETS = ("JITFLOW_TEAMS_TOKEN", "JITFLOW_PUSH_TOKEN")

# What the roles trust: GitHub's OIDC provider, for AWS's audience.
OIDC_PROVIDER = "token.actions.githubusercontent.com"
OIDC_AUDIENCE = "sts.amazonaws.com"
# The roles' permissions come only from managed policies the bootstrap stack creates here.
BOOTSTRAP_POLICY_PATH = "/jitflow-bootstrap/"
# What jitflow's roles may write in IAM: their own grants' policies (and the roles under it,
# which they may assume in member accounts).
JITFLOW_PATH = "/jitflow/"
