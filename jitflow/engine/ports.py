"""What the engine talks to: narrow ports, each with a real adapter and a test double.

- `IamPort`: the IAM calls of one account (jitflow.aws.Iam; testing.memory_iam.MemoryIam);
- `AccountsPort`: an IamPort per configured account (jitflow.aws.Accounts);
- `ApprovalSource`: evidence that a request was approved (jitflow.pr.merge, from GitHub);
- the audit log behind `jitflow.audit.ledger.Ledger`.
Errors from a port are jitflow.errors.AwsError, with the jitflow.grants.*Error subclasses for
the outcomes the engine tells apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from jitflow import grants
from jitflow.grants import Entities, ListedPolicy, Principal, RoleFacts
from jitflow.loader import YAML_SUFFIXES
from jitflow.model import Policy, PolicySet, Request
from jitflow.tree import Tree


@dataclass(frozen=True)
class Approval:
    """Evidence that a request was approved: who, in which PR, merged as which commit."""

    request_id: str
    approvers: tuple[str, ...]
    pr: int
    commit: str
    # A break-glass grant: nobody approved; `merged_by` (a requester or approver of the
    # policy) merged it, and a reviewer approves the merged PR after the fact.
    merged_by: str | None = None
    review_due: str | None = None  # break-glass: the post-hoc review is due by then
    reviewers: tuple[str, ...] = ()  # break-glass: who may give it

    @property
    def break_glass(self) -> bool:
        return self.merged_by is not None

    def record_facts(self) -> dict[str, Any]:
        """What a `granted` record says about the approval."""
        facts: dict[str, Any] = {"approvers": list(self.approvers), "pr": self.pr,
                                 "commit": self.commit}
        if self.break_glass:
            facts["break_glass"] = {"merged_by": self.merged_by, "review_due": self.review_due,
                                    "reviewers": list(self.reviewers)}
        return facts


class ApprovalSource(Protocol):
    def approval_for(self, request: Request, policy: Policy) -> Approval:
        """The approval of `request`; raises jitflow.errors.Rejected when there is none."""
        ...


class IamPort(Protocol):
    """The IAM calls of one account."""

    def list_jitflow_policies(self) -> list[ListedPolicy]: ...
    def list_attached(self, principal: Principal) -> list[tuple[str, str]]: ...
    def list_entities(self, arn: str) -> Entities: ...
    def get_policy(self, arn: str) -> tuple[dict[str, str], str]: ...
    def get_document(self, arn: str, version_id: str) -> str: ...
    def list_versions(self, arn: str) -> list[tuple[str, bool]]: ...
    def create_policy(
        self, name: str, path: str, document_json: str, tags: list[dict[str, str]]
    ) -> str: ...
    def attach(self, principal: Principal, arn: str) -> None: ...
    def detach(self, kind: str, name: str, arn: str) -> None: ...
    def delete_version(self, arn: str, version_id: str) -> None: ...
    def delete_policy(self, arn: str) -> None: ...
    # reads that tell who a bucket-policy grant admits
    def role(self, name: str) -> RoleFacts: ...
    def roles_under(self, path_prefix: str) -> list[RoleFacts]: ...


class BucketPort(Protocol):
    """The bucket-policy calls of one account (jitflow.aws.Buckets; MemoryBuckets)."""

    def get_policy(self, bucket: str) -> str | None: ...
    def put_policy(self, bucket: str, text: str) -> None: ...
    def delete_policy(self, bucket: str) -> None: ...


class AccountsPort(Protocol):
    def iam(self, account: str, label: str = "run") -> IamPort: ...
    def buckets(self, account: str, label: str = "run") -> BucketPort: ...


@dataclass(frozen=True)
class Check:
    """What reconcile compares AWS with: the default branch and the approvals."""

    tree: Tree
    policies: PolicySet
    source: ApprovalSource


def request_paths(request_id: str) -> list[str]:
    """Where a request's file may be: `requests/<policy>/<name>.yaml` or `.yml`."""
    policy, name = grants.check_request_id(request_id)
    return [f"requests/{policy}/{name}{suffix}" for suffix in YAML_SUFFIXES]
