"""An in-memory IAM: the second backend of `jitflow.engine.ports.IamPort` (the first is
jitflow.aws.Iam over boto3), so engine logic is tested without a server, the way pypa/build
tests its isolated environments against one protocol with two backends.

It answers as IAM does for the calls jitflow makes: NoSuchEntity for a missing policy or
principal, EntityAlreadyExists for a taken name, DeleteConflict while a policy is attached
or has non-default versions, LimitExceeded past the attached-policy quota. Every call is
counted in `calls`; `fail` makes the named call raise once (an AWS fault).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jitflow.bucketpolicy import NoSuchBucketError
from jitflow.errors import AwsError
from jitflow.grants import (
    DeleteConflictError,
    Entities,
    EntityExistsError,
    ListedPolicy,
    NoSuchEntityError,
    Principal,
    QuotaExceededError,
    RoleFacts,
)


@dataclass
class _Policy:
    name: str
    path: str
    document: str
    tags: dict[str, str]
    versions: list[str] = field(default_factory=lambda: ["v1"])
    holders: set[tuple[str, str]] = field(default_factory=set)  # (kind, name)


@dataclass
class MemoryIam:
    """One account's IAM. Create principals with `add_role` / `add_user` first."""

    account: str
    quota: int = 10
    partition: str = "aws"
    calls: list[str] = field(default_factory=list)
    fail: dict[str, AwsError] = field(default_factory=dict)
    policies: dict[str, _Policy] = field(default_factory=dict)
    principals: set[tuple[str, str]] = field(default_factory=set)
    # (kind, name) -> (ARN, unique id) as GetRole / GetUser answer
    ids: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    trusts: dict[str, dict[str, Any]] = field(default_factory=dict)  # role name -> trust

    def add_role(self, name: str, path: str = "/", trust: dict[str, Any] | None = None
                 ) -> Principal:
        """A role; by default assumable only as oneself (session name = the IAM user name)."""
        self.principals.add(("role", name))
        arn = f"arn:{self.partition}:iam::{self.account}:role{path}{name}"
        self.ids[("role", name)] = (arn, _unique_id("AROA", arn))
        self.trusts[name] = trust if trust is not None else PINNED_TRUST
        return Principal(arn=arn, account=self.account, kind="role", name=name,
                         partition=self.partition)

    def add_user(self, name: str) -> Principal:
        self.principals.add(("user", name))
        arn = f"arn:{self.partition}:iam::{self.account}:user/{name}"
        self.ids[("user", name)] = (arn, _unique_id("AIDA", arn))
        return Principal(arn=arn, account=self.account, kind="user", name=name,
                         partition=self.partition)

    def attached_to(self, kind: str, name: str) -> list[str]:
        """Names of the policies a principal holds (for assertions)."""
        return sorted(p.name for p in self.policies.values() if (kind, name) in p.holders)

    # --- the port ------------------------------------------------------------------------

    def _call(self, name: str) -> None:
        self.calls.append(name)
        error = self.fail.pop(name, None)
        if error is not None:
            raise error

    def _get(self, arn: str) -> _Policy:
        if arn not in self.policies:
            raise NoSuchEntityError(f"AWS iam: NoSuchEntity: policy {arn} does not exist")
        return self.policies[arn]

    def list_jitflow_policies(self) -> list[ListedPolicy]:
        self._call("ListPolicies")
        return [
            ListedPolicy(arn, p.name, p.path, len(p.holders), p.versions[0])
            for arn, p in sorted(self.policies.items())
            if p.path.startswith("/jitflow/")
        ]

    def list_attached(self, principal: Principal) -> list[tuple[str, str]]:
        self._call(f"ListAttached{principal.kind.title()}Policies")
        self._need(principal.kind, principal.name)
        return [(p.name, arn) for arn, p in sorted(self.policies.items())
                if (principal.kind, principal.name) in p.holders]

    def list_entities(self, arn: str) -> Entities:
        self._call("ListEntitiesForPolicy")
        holders = self._get(arn).holders
        by_kind = {kind: tuple(sorted(n for k, n in holders if k == kind))
                   for kind in ("role", "user", "group")}
        return Entities(by_kind["role"], by_kind["user"], by_kind["group"])

    def get_policy(self, arn: str) -> tuple[dict[str, str], str]:
        self._call("GetPolicy")
        policy = self._get(arn)
        return dict(policy.tags), policy.versions[0]

    def get_document(self, arn: str, version_id: str) -> str:
        self._call("GetPolicyVersion")
        document = json.loads(self._get(arn).document)
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    def list_versions(self, arn: str) -> list[tuple[str, bool]]:
        self._call("ListPolicyVersions")
        versions = self._get(arn).versions
        return [(v, i == 0) for i, v in enumerate(versions)]

    def create_policy(self, name: str, path: str, document_json: str,
                      tags: list[dict[str, str]]) -> str:
        self._call("CreatePolicy")
        if any(p.name == name for p in self.policies.values()):
            raise EntityExistsError(f"AWS iam: EntityAlreadyExists: policy {name}")
        arn = f"arn:{self.partition}:iam::{self.account}:policy{path}{name}"
        self.policies[arn] = _Policy(name, path, document_json,
                                     {t["Key"]: t["Value"] for t in tags})
        return arn

    def attach(self, principal: Principal, arn: str) -> None:
        self._call(f"Attach{principal.kind.title()}Policy")
        self._need(principal.kind, principal.name)
        policy = self._get(arn)
        held = sum((principal.kind, principal.name) in p.holders for p in self.policies.values())
        if held >= self.quota:
            raise QuotaExceededError("AWS iam: LimitExceeded: attached policy quota")
        policy.holders.add((principal.kind, principal.name))

    def detach(self, kind: str, name: str, arn: str) -> None:
        self._call(f"Detach{kind.title()}Policy")
        policy = self._get(arn)
        if (kind, name) not in policy.holders:
            raise NoSuchEntityError(f"AWS iam: NoSuchEntity: {arn} is not attached to {name}")
        policy.holders.discard((kind, name))

    def delete_version(self, arn: str, version_id: str) -> None:
        self._call("DeletePolicyVersion")
        versions = self._get(arn).versions
        if version_id not in versions[1:]:
            raise NoSuchEntityError(f"AWS iam: NoSuchEntity: version {version_id}")
        versions.remove(version_id)

    def delete_policy(self, arn: str) -> None:
        self._call("DeletePolicy")
        policy = self._get(arn)
        if policy.holders or len(policy.versions) > 1:
            raise DeleteConflictError("AWS iam: DeleteConflict: attached or has versions")
        del self.policies[arn]

    def role(self, name: str) -> RoleFacts:
        self._call("GetRole")
        self._need("role", name)
        return self._facts(name)

    def roles_under(self, path_prefix: str) -> list[RoleFacts]:
        self._call("ListRoles")
        prefix = f"arn:{self.partition}:iam::{self.account}:role{path_prefix}"
        return [self._facts(name) for kind, name in sorted(self.principals)
                if kind == "role" and self.ids[(kind, name)][0].startswith(prefix)]

    def _facts(self, name: str) -> RoleFacts:
        arn, role_id = self.ids[("role", name)]
        return RoleFacts(name, arn, role_id, self.trusts[name])

    def _need(self, kind: str, name: str) -> None:
        if (kind, name) not in self.principals:
            raise NoSuchEntityError(f"AWS iam: NoSuchEntity: {kind} {name} does not exist")


# Who may assume a role, as a shared role must say it: each user as themselves only.
PINNED_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}}]}
# What IAM Identity Center's roles trust: its SAML provider, which names the session.
SAML_TRUST: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/x"},
    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"]}]}


def _unique_id(prefix: str, arn: str) -> str:
    return prefix + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()


@dataclass
class MemoryBuckets:
    """One account's S3 bucket policies, stored as the text put (S3 keeps what it is given).
    `after_put` runs after each put: a test's concurrent writer."""

    account: str
    policies: dict[str, str] = field(default_factory=dict)
    buckets: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, AwsError] = field(default_factory=dict)
    after_put: Callable[[str], None] | None = None

    def _call(self, name: str, bucket: str) -> None:
        self.calls.append(f"{name} {bucket}")
        error = self.fail.pop(name, None)
        if error is not None:
            raise error
        if bucket not in self.buckets:
            raise NoSuchBucketError(f"AWS s3:{name} failed: NoSuchBucket: {bucket}")

    def get_policy(self, bucket: str) -> str | None:
        self._call("GetBucketPolicy", bucket)
        return self.policies.get(bucket)

    def put_policy(self, bucket: str, text: str) -> None:
        self._call("PutBucketPolicy", bucket)
        json.loads(text)  # S3 refuses a malformed policy
        self.policies[bucket] = text
        if self.after_put is not None:
            self.after_put(bucket)

    def delete_policy(self, bucket: str) -> None:
        self._call("DeleteBucketPolicy", bucket)
        self.policies.pop(bucket, None)

    def document(self, bucket: str) -> dict[str, Any] | None:
        """The policy as a value (for assertions)."""
        text = self.policies.get(bucket)
        return None if text is None else dict(json.loads(text))


@dataclass
class MemoryAccounts:
    """`AccountsPort` over one MemoryIam (and MemoryBuckets) per account."""

    iams: dict[str, MemoryIam]
    s3: dict[str, MemoryBuckets] = field(default_factory=dict)

    def iam(self, account: str, label: str = "run") -> MemoryIam:
        if account not in self.iams:
            raise AwsError(f"account {account} is not configured")
        return self.iams[account]

    def buckets(self, account: str, label: str = "run") -> MemoryBuckets:
        if account not in self.s3:
            raise AwsError(f"account {account} is not configured")
        return self.s3[account]
