"""Grants as AWS sees them: names, paths, tags and classification. Pure: no I/O, no boto3.

One customer-managed policy per request:

- name `jitflow.<policy>.<name>` (request ids are `<policy>/<name>`, neither part contains "." or
  "/", so the mapping is reversible and unique; at most 8 + 32 + 1 + 63 = 104 characters);
- path `/jitflow/<expiry as YYYYMMDDTHHMMSSZ>/`, so `ListPolicies(PathPrefix=/jitflow/)` alone
  tells which grants have expired — ListPolicies returns neither tags nor descriptions;
- tags carrying the grant's evidence (request, requester, principal, expiry, commit, PR,
  approvers, sha256 of the uploaded document).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jitflow.clock import iso
from jitflow.errors import AwsError
from jitflow.model import PARTITION_PATTERN

PATH_ROOT = "/jitflow/"
NAME_PREFIX = "jitflow."
_EXPIRY_FORMAT = "%Y%m%dT%H%M%SZ"
_POLICY_PART = r"[a-z0-9][a-z0-9-]{0,31}"
_NAME_PART = r"[a-z0-9][a-z0-9-]{0,62}"
_REQUEST_ID = re.compile(rf"({_POLICY_PART})/({_NAME_PART})")
_POLICY_NAME = re.compile(rf"jitflow\.({_POLICY_PART})\.({_NAME_PART})")
_POLICY_PATH = re.compile(r"/jitflow/(\d{8}T\d{6}Z)/")
_PRINCIPAL = re.compile(
    rf"arn:({PARTITION_PATTERN}):iam::(\d{{12}}):(role|user)"
    r"((?:/[\x21-\x7e]+)*)/([\w+=,.@-]{1,64})"
)
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]", re.ASCII)

# IAM tag values allow [\p{L}\p{Z}\p{N}_.:/=+\-@]* up to 256 characters. We keep to the ASCII
# part and escape anything else as =HH (UTF-8 bytes), so a role name with "," survives the trip.
TAG_VALUE_MAX = 256
_TAG_SAFE = re.compile(r"[A-Za-z0-9 _.:/+\-@]")
_TAG_ESCAPE = re.compile(r"=([0-9A-F]{2})")

TAG_REQUEST = "jitflow:request"
TAG_REQUESTER = "jitflow:requester"
TAG_PRINCIPAL = "jitflow:principal"
TAG_EXPIRY = "jitflow:expiry"
TAG_COMMIT = "jitflow:commit"
TAG_PR = "jitflow:pr"
TAG_APPROVERS = "jitflow:approvers"
TAG_SHA256 = "jitflow:sha256"
TAG_KEYS = (
    TAG_REQUEST,
    TAG_REQUESTER,
    TAG_PRINCIPAL,
    TAG_EXPIRY,
    TAG_COMMIT,
    TAG_PR,
    TAG_APPROVERS,
    TAG_SHA256,
)


# --- errors the IAM port raises for the outcomes the engine must tell apart -----------------


class NoSuchEntityError(AwsError):
    """The policy, role or user does not exist (already deleted, already detached...)."""


class EntityExistsError(AwsError):
    """A policy with this name already exists in the account."""


class DeleteConflictError(AwsError):
    """The policy still has attachments or non-default versions."""


class QuotaExceededError(AwsError):
    """The principal cannot take another managed policy."""


# --- values exchanged with the IAM port ------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """An IAM role or user that grants are attached to, parsed from its ARN."""

    arn: str
    account: str
    kind: str  # "role" | "user"
    name: str
    partition: str = "aws"


@dataclass(frozen=True)
class ListedPolicy:
    """One entry of ListPolicies: exactly what the sweep gets without further calls."""

    arn: str
    name: str
    path: str
    attachment_count: int
    default_version_id: str = "v1"


@dataclass(frozen=True)
class RoleFacts:
    """What a bucket-policy grant needs to know of a role: its ARN, its RoleId (what
    `aws:userid` starts with) and who may assume it, and how (its trust policy)."""

    name: str
    arn: str
    role_id: str
    trust: dict[str, Any]


@dataclass(frozen=True)
class Entities:
    """ListEntitiesForPolicy: names of the roles, users and groups a policy is attached to."""

    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.roles or self.users or self.groups)


@dataclass(frozen=True)
class GrantTags:
    """The evidence tags of a grant, decoded."""

    request: str
    requester: str
    principal: str
    expiry: datetime
    commit: str
    pr: int
    approvers: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class Grant:
    """A /jitflow/ policy whose name and path parse: a grant of `request_id` until `expiry`."""

    listed: ListedPolicy
    request_id: str
    expiry: datetime

    @property
    def arn(self) -> str:
        return self.listed.arn


@dataclass(frozen=True)
class Sweep:
    """ListPolicies output sorted into live grants, expired grants and unparseable policies."""

    live: tuple[Grant, ...]
    expired: tuple[Grant, ...]
    malformed: tuple[ListedPolicy, ...]  # under /jitflow/ but not ours in shape: orphans


# --- naming -----------------------------------------------------------------------------------


def check_request_id(request_id: str) -> tuple[str, str]:
    match = _REQUEST_ID.fullmatch(request_id)
    if match is None:
        raise ValueError(f"not a request id (<policy>/<name>): {request_id!r}")
    return match.group(1), match.group(2)


def policy_name(request_id: str) -> str:
    """The deterministic IAM policy name of a request's grant."""
    policy, name = check_request_id(request_id)
    return f"{NAME_PREFIX}{policy}.{name}"


def request_id_from_name(name: str) -> str | None:
    match = _POLICY_NAME.fullmatch(name)
    return None if match is None else f"{match.group(1)}/{match.group(2)}"


def policy_path(expiry: datetime) -> str:
    return f"{PATH_ROOT}{expiry.astimezone(UTC).strftime(_EXPIRY_FORMAT)}/"


def expiry_from_path(path: str) -> datetime | None:
    match = _POLICY_PATH.fullmatch(path)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), _EXPIRY_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13: looks like ours, is not
        return None


def policy_arn(account: str, expiry: datetime, request_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:policy{policy_path(expiry)}{policy_name(request_id)}"


def parse_principal(arn: str) -> Principal:
    """A role or user ARN; anything else (assumed-role sessions, groups...) is refused."""
    match = _PRINCIPAL.fullmatch(arn)
    if match is None:
        raise ValueError(
            f"principal {arn!r} is not an IAM role or user ARN "
            "(arn:<partition>:iam::<account>:role/<name> or :user/<name>)"
        )
    return Principal(arn=arn, account=match.group(2), kind=match.group(3), name=match.group(5),
                     partition=match.group(1))


def role_session_name(label: str) -> str:
    """`jitflow-<label>` within AssumeRole's RoleSessionName rules: [\\w+=,.@-]{2,64}."""
    return _SESSION_UNSAFE.sub(".", f"jitflow-{label}")[:64]


# --- tags -------------------------------------------------------------------------------------


def encode_tag_value(text: str) -> str:
    out = []
    for char in text:
        if _TAG_SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"={byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def decode_tag_value(value: str) -> str:
    """Inverse of encode_tag_value; raises ValueError on text it could not have produced."""
    out = bytearray()
    index = 0
    while index < len(value):
        char = value[index]
        if char == "=":
            match = _TAG_ESCAPE.match(value, index)
            if match is None:
                raise ValueError(f"bad escape in tag value {value!r}")
            out.append(int(match.group(1), 16))
            index = match.end()
        else:
            out.extend(char.encode("utf-8"))
            index += 1
    return out.decode("utf-8")


def _approvers_value(approvers: Sequence[str]) -> str:
    """Space-separated approvers; when they do not fit, as many as fit and `+N` for the rest
    (the audit log holds the full list; the tag is a pointer, not the only record)."""
    encoded = [encode_tag_value(a) for a in approvers]
    for keep in range(len(encoded), -1, -1):
        rest = len(encoded) - keep
        value = " ".join(encoded[:keep] + ([f"+{rest}"] if rest else []))
        if len(value) <= TAG_VALUE_MAX:
            return value
    return f"+{len(encoded)}"  # pragma: no cover - "+N" always fits


def build_tags(
    *,
    request_id: str,
    requester: str,
    principal: str,
    expiry: datetime,
    commit: str,
    pr: int,
    approvers: Sequence[str],
    sha256: str,
) -> list[dict[str, str]]:
    """The Tags list for CreatePolicy. Raises ValueError when a value cannot fit a tag."""
    values = {
        TAG_REQUEST: request_id,
        TAG_REQUESTER: encode_tag_value(requester),
        TAG_PRINCIPAL: encode_tag_value(principal),
        TAG_EXPIRY: iso(expiry),
        TAG_COMMIT: encode_tag_value(commit),
        TAG_PR: str(pr),
        TAG_APPROVERS: _approvers_value(approvers),
        TAG_SHA256: sha256,
    }
    for key, value in values.items():
        if len(value) > TAG_VALUE_MAX:
            raise ValueError(f"{key} is {len(value)} characters encoded; tags allow 256")
    return [{"Key": key, "Value": values[key]} for key in TAG_KEYS]


def tags_to_dict(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}


def parse_tags(tags: Mapping[str, str]) -> GrantTags | None:
    """Decode the evidence tags; None when any is missing or malformed (an orphan)."""
    if any(key not in tags for key in TAG_KEYS):
        return None
    try:
        expiry = datetime.strptime(tags[TAG_EXPIRY], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        pr = int(tags[TAG_PR])
        approvers = tuple(
            decode_tag_value(a) for a in tags[TAG_APPROVERS].split(" ") if a
        )
        return GrantTags(
            request=tags[TAG_REQUEST],
            requester=decode_tag_value(tags[TAG_REQUESTER]),
            principal=decode_tag_value(tags[TAG_PRINCIPAL]),
            expiry=expiry,
            commit=decode_tag_value(tags[TAG_COMMIT]),
            pr=pr,
            approvers=approvers,
            sha256=tags[TAG_SHA256],
        )
    except (ValueError, UnicodeDecodeError):
        return None


# --- classification ---------------------------------------------------------------------------


def as_grant(listed: ListedPolicy) -> Grant | None:
    request_id = request_id_from_name(listed.name)
    expiry = expiry_from_path(listed.path)
    if request_id is None or expiry is None:
        return None
    return Grant(listed=listed, request_id=request_id, expiry=expiry)


def sweep(listed: Iterable[ListedPolicy], now: datetime) -> Sweep:
    """Sort /jitflow/ policies by what they need: a grant whose expiry is <= now has expired
    (the document's DateLessThan condition already denies from that second on)."""
    live: list[Grant] = []
    expired: list[Grant] = []
    malformed: list[ListedPolicy] = []
    for item in listed:
        grant = as_grant(item)
        if grant is None:
            malformed.append(item)
        elif grant.expiry <= now:
            expired.append(grant)
        else:
            live.append(grant)
    return Sweep(tuple(live), tuple(expired), tuple(malformed))


def expires_in(expiry: datetime, now: datetime) -> str:
    """A human duration: `2d 3h`, `45m`, `expired 5m ago`."""
    seconds = int((expiry - now).total_seconds())
    ago = seconds <= 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    text = " ".join(parts[:2]) if parts else f"{secs}s"
    return f"expired {text} ago" if ago else text
