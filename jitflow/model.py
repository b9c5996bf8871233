"""The request, policy, identities and settings model: frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Positions = dict[tuple[str | int, ...], tuple[int, int]]

IDENTITY_POLICY = "identity-policy"
BUCKET_POLICY = "bucket-policy"
PERMISSION_SET_PREFIX = "permission-set/"
# What a run does in AWS, which decides the role it assumes in another account: apply grants
# (and ends grants whose files a merge deleted); revoke only removes.
Duty = Literal["apply", "revoke"]
# The AWS partitions jitflow knows, and the region prefixes that put a region in one; every
# other region is in the standard partition, "aws". An ARN's partition is its first field.
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b")
PARTITION_PATTERN = "aws(?:-cn|-us-gov|-iso|-iso-b)?"
_REGION_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-iso-", "aws-iso"),
                      ("us-isob-", "aws-iso-b"))


def partition_of(region: str) -> str:
    """The AWS partition of `region` (cn-north-1: aws-cn; us-gov-west-1: aws-us-gov)."""
    for prefix, partition in _REGION_PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


def nearest_position(
    positions: Positions, key: tuple[str | int, ...]
) -> tuple[int | None, int | None]:
    """Position of a field, or of its nearest located ancestor, for a Problem."""
    while key:
        if key in positions:
            return positions[key]
        key = key[:-1]
    return (1, 1) if positions else (None, None)


@dataclass(frozen=True)
class AccessEntry:
    """One bucket + prefix + actions triple of a request."""

    bucket: str
    prefix: str  # "" means the whole bucket; otherwise ends with "/"
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    """A parsed request file `requests/<policy>/<name>.yaml`."""

    policy: str
    name: str
    requester: str
    principal: str
    reason: str
    ticket: str | None
    duration: timedelta
    access: tuple[AccessEntry, ...]
    break_glass: bool = False  # granted on merge without approvals, reviewed after the fact
    path: str = ""  # where it was read from, for messages
    # (line, col) of each field, keyed like ("access", 0, "bucket"); only for messages
    positions: Positions = field(default_factory=dict, compare=False, repr=False)
    not_before: datetime | None = None  # a scheduled start (UTC); None: starts at apply

    @property
    def id(self) -> str:
        return f"{self.policy}/{self.name}"

    def start(self, applied_at: datetime) -> datetime:
        """When a grant applied at `applied_at` starts: at `not_before`, or at the apply if
        that is later. The duration counts from here."""
        if self.not_before is None or self.not_before <= applied_at:
            return applied_at
        return self.not_before

    def where(self, *key: str | int) -> tuple[int | None, int | None]:
        return nearest_position(self.positions, key)


@dataclass(frozen=True)
class BreakGlass:
    """A policy's break-glass terms: how long an emergency grant may last, who reviews it
    after the fact, and how soon."""

    max_duration: timedelta
    reviewers: tuple[str, ...]  # "login" or "@org/team"
    review_within: timedelta


@dataclass(frozen=True)
class Policy:
    """A parsed policy file `policies/<name>.yaml`."""

    name: str
    description: str
    account: str
    buckets: tuple[str, ...]
    prefixes: tuple[str, ...]
    actions: tuple[str, ...]
    max_duration: timedelta
    approvers: tuple[str, ...]  # "login" or "@org/team"
    min_approvals: int = 1
    requesters: tuple[str, ...] | None = None  # None: anyone with an identity
    require_ticket: bool = False
    ticket_pattern: str | None = None
    permissions_management: bool = False
    # Allows actions that change the bucket itself (they outlive the grant); needs >= 2 approvals
    bucket_configuration: bool = False
    # Where the grant is written: an IAM policy on the principal, or the bucket's own policy.
    grant: str = IDENTITY_POLICY
    # bucket-policy only: one Deny in each bucket for every write not granted or declared.
    enforce_read_only: bool = False
    standing_writers: tuple[str, ...] = ()  # role/user ARNs the baseline leaves writing
    break_glass: BreakGlass | None = None  # None: no break-glass requests under this policy
    path: str = ""
    positions: Positions = field(default_factory=dict, compare=False, repr=False)

    def where(self, *key: str | int) -> tuple[int | None, int | None]:
        return nearest_position(self.positions, key)

    @property
    def allows_whole_bucket(self) -> bool:
        return "" in self.prefixes

    @property
    def in_bucket_policy(self) -> bool:
        return self.grant == BUCKET_POLICY


@dataclass(frozen=True)
class Identity:
    """One principal a person may receive grants on, as `policies/identities.yaml` says.

    `principal` is a role or user ARN, or `permission-set/<Name>` for an IAM Identity Center
    permission set in `account`. `session` names the person on a shared role (the role
    session name, e.g. their Identity Center user name): a grant then reaches that session
    only, never the others on the role.
    """

    principal: str
    session: str | None = None
    account: str | None = None  # permission sets only

    @property
    def permission_set(self) -> str | None:
        prefix = PERMISSION_SET_PREFIX
        return self.principal[len(prefix):] if self.principal.startswith(prefix) else None


@dataclass(frozen=True)
class Identities:
    """`policies/identities.yaml`: GitHub login -> the principals it may receive grants on."""

    principals: dict[str, tuple[Identity, ...]] = field(default_factory=dict)
    path: str = ""

    def identity(self, login: str, principal: str, account: str | None = None) -> Identity | None:
        """The login's entry for `principal` (a permission set must also be in `account`)."""
        for entry in self.principals.get(login.lower(), ()):
            if entry.principal == principal and (
                entry.account is None or account is None or entry.account == account
            ):
                return entry
        return None

    def knows(self, login: str) -> bool:
        return login.lower() in self.principals


@dataclass(frozen=True)
class PolicySet:
    """Every policy under `policies/` by name, and the identities beside them."""

    policies: dict[str, Policy] = field(default_factory=dict)
    identities: Identities = field(default_factory=Identities)

    def policy_of(self, request_id: str) -> Policy | None:
        """The policy a request id (`<policy>/<name>`) is judged by, if it exists."""
        return self.policies.get(request_id.split("/", 1)[0])


@dataclass(frozen=True)
class NotificationTarget:
    """Where lifecycle events go (`notifications.targets` in jitflow.yaml). Secrets are never
    in the file: a webhook's signing key and a Slack webhook URL (itself a credential) are
    read from the environment variable, or the AWS Secrets Manager secret, named here (the
    schema admits exactly one of the two)."""

    kind: str  # webhook | slack | sns | eventbridge
    url: str | None = None  # webhook
    secret_env: str | None = None  # webhook: env var holding the HMAC key
    secret_arn: str | None = None  # webhook: Secrets Manager secret holding the HMAC key
    url_env: str | None = None  # slack: env var holding the incoming-webhook URL
    url_secret_arn: str | None = None  # slack: Secrets Manager secret holding that URL
    topic_arn: str | None = None  # sns
    event_bus: str | None = None  # eventbridge: bus name or ARN
    events: tuple[str, ...] = ()  # the event kinds it wants; empty: all

    @property
    def label(self) -> str:
        """A stable name for the outbox: the kind and where it points (never a secret: a
        Slack URL is one, so a Slack target is named by where its URL is kept)."""
        where = (self.url or self.url_env or self.url_secret_arn or self.topic_arn
                 or self.event_bus or "")
        return f"{self.kind}:{where}"

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


@dataclass(frozen=True)
class Settings:
    """`jitflow.yaml` at the repository root."""

    admins: tuple[str, ...]  # owners of the control paths in CODEOWNERS
    # account id -> the role apply assumes there (None: the caller's own account)
    accounts: dict[str, str | None]
    default_branch: str = "main"
    region: str = "us-east-1"
    request_ttl: timedelta = timedelta(days=7)
    attached_policy_quota: int = 10
    audit_dir: str = "audit"
    audit_branch: str = "jitflow-audit"  # the audit log's own branch, never the default one
    audit_anchor: str = "/jitflow/audit-head"  # SSM parameter holding the chain head
    notification_targets: tuple[NotificationTarget, ...] = ()
    expiring_soon_lead: timedelta = timedelta(hours=1)  # the "expiring soon" warning's lead
    # account id -> role ARNs a read-only baseline never denies: jitflow's own roles there
    # and the declared break-glass admin role.
    baseline_exempt: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # account id -> jitflow's own roles there (a baseline needs them, or jitflow locks itself out)
    jitflow_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # account id -> the role revoke (and status) assumes there: another role than apply's, so
    # that a revoke run can never create or attach (`revoke_role` in jitflow.yaml)
    revoke_roles: dict[str, str | None] = field(default_factory=dict)
    path: str = ""

    def role_for(self, account: str, duty: Duty) -> str | None:
        """The role a run of `duty` assumes in `account` (None: the caller's own account)."""
        return self.revoke_roles.get(account) if duty == "revoke" else self.accounts[account]

    @property
    def partition(self) -> str:
        """The partition of `region`: every ARN jitflow builds, and every principal it grants
        to, is in it."""
        return partition_of(self.region)
