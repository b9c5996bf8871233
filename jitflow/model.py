"""The request, policy, identities and settings model: frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

Positions = dict[tuple[str | int, ...], tuple[int, int]]


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
    path: str = ""  # where it was read from, for messages
    # (line, col) of each field, keyed like ("access", 0, "bucket"); only for messages
    positions: Positions = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.policy}/{self.name}"

    def where(self, *key: str | int) -> tuple[int | None, int | None]:
        return nearest_position(self.positions, key)


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
    path: str = ""
    positions: Positions = field(default_factory=dict, compare=False, repr=False)

    def where(self, *key: str | int) -> tuple[int | None, int | None]:
        return nearest_position(self.positions, key)

    @property
    def allows_whole_bucket(self) -> bool:
        return "" in self.prefixes


@dataclass(frozen=True)
class Identities:
    """`policies/identities.yaml`: GitHub login -> IAM principals it may receive grants on."""

    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    path: str = ""

    def allows(self, login: str, principal: str) -> bool:
        return principal in self.principals.get(login.lower(), ())

    def knows(self, login: str) -> bool:
        return login.lower() in self.principals


@dataclass(frozen=True)
class PolicySet:
    """Every policy under `policies/` by name, and the identities beside them."""

    policies: dict[str, Policy] = field(default_factory=dict)
    identities: Identities = field(default_factory=Identities)


@dataclass(frozen=True)
class Settings:
    """`jitflow.yaml` at the repository root."""

    admins: tuple[str, ...]  # owners of the control paths in CODEOWNERS
    accounts: dict[str, str | None]  # account id -> role to assume there (None: own account)
    default_branch: str = "main"
    region: str = "us-east-1"
    request_ttl: timedelta = timedelta(days=7)
    revoke_interval: timedelta = timedelta(minutes=15)
    attached_policy_quota: int = 10
    audit_dir: str = "audit"
    path: str = ""
