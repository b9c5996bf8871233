"""The OIDC subject each jitflow role trusts: one workflow file, on the default branch.

GitHub's default subject (`repo:ORG/REPO:environment:NAME` or `…:ref:…`) admits any workflow
that reaches that environment or ref. With the repository's subject customised to the claim
keys below, the subject names the numeric owner and repository ids (which survive renames and
cannot be re-registered by someone else), the ref, the calling workflow file (`workflow_ref`)
and the workflow file that runs the job (`job_workflow_ref`: the reusable workflow when the
caller delegates to one). A role that trusts that exact string trusts one file at one ref.

This module is pure: the bootstrap's documentation, `jitflow doctor` and the tests build the
expected subject here, so there is one spelling of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Order matters: GitHub joins the claims in this order, `key:value` pairs separated by `:`.
CLAIM_KEYS: tuple[str, ...] = (
    "repository_owner_id", "repository_id", "ref", "workflow_ref", "job_workflow_ref",
)

WORKFLOWS_DIR = ".github/workflows"
# The caller workflow files in an access repository, and the reusable workflows they call.
CALLERS = {"check": "jitflow-check.yml", "apply": "jitflow-apply.yml",
           "revoke": "jitflow-revoke.yml"}
REUSABLE = {"check": "reusable-check.yml", "apply": "reusable-apply.yml",
            "revoke": "reusable-revoke.yml"}


def customization_body() -> dict[str, Any]:
    """The body of `PUT /repos/{owner}/{repo}/actions/oidc/customization/sub`."""
    return {"use_default": False, "include_claim_keys": list(CLAIM_KEYS)}


def branch_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def workflow_ref(repository: str, filename: str, ref: str) -> str:
    """`OWNER/REPO/.github/workflows/FILE@REF`, as GitHub spells `workflow_ref` and
    `job_workflow_ref`. `ref` is a full ref (`refs/heads/main`) or a commit SHA."""
    return f"{repository}/{WORKFLOWS_DIR}/{filename}@{ref}"


@dataclass(frozen=True)
class Subject:
    """The claims of one job's token that a jitflow role's trust pins."""

    owner_id: str  # repository_owner_id: numeric, survives renames
    repository_id: str  # numeric
    ref: str  # refs/heads/<default branch>
    workflow_ref: str  # the caller workflow file at `ref`
    job_workflow_ref: str  # the workflow file that runs the job (reusable, or the caller)

    def render(self) -> str:
        values = (self.owner_id, self.repository_id, self.ref, self.workflow_ref,
                  self.job_workflow_ref)
        return ":".join(f"{key}:{value}" for key, value in zip(CLAIM_KEYS, values, strict=True))


def expected_subject(*, owner_id: str, repository_id: str, repository: str, branch: str,
                     duty: str, reusable_repository: str | None = None,
                     reusable_ref: str | None = None) -> Subject:
    """The subject of the `duty` job (check, apply or revoke) of `repository` (`OWNER/REPO`)
    on `branch`. Its caller file calls the reusable workflow of `reusable_repository` at
    `reusable_ref` (a pinned SHA); both default to the access repository itself at `branch`,
    as when it calls its own `./.github/workflows/reusable-*.yml`."""
    ref = branch_ref(branch)
    return Subject(
        owner_id=owner_id,
        repository_id=repository_id,
        ref=ref,
        workflow_ref=workflow_ref(repository, CALLERS[duty], ref),
        job_workflow_ref=workflow_ref(reusable_repository or repository, REUSABLE[duty],
                                      reusable_ref or ref),
    )
