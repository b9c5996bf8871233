"""Decide moto's IAM-enforced requests with `policy_eval` (identity + bucket policies, conditions).

moto 5.2.5 authorises an enforced request in `IAMRequestBase.check_action_permitted`
(moto/iam/access_control.py): identity policies only, `StringEquals` as its one condition
operator, no resource-based policies. Inside `with policy_evaluation(clock):` that method's
decision is made by `jitflow.sandbox.policy_eval.evaluate` instead, for every moto backend in
this process: `mock_aws` and a `moto.server.ThreadedMotoServer` started in-process alike
(a `moto_server` in another process is out of reach). Enforcement itself stays moto's switch
(`POST /moto-api/reset-auth`, `INITIAL_NO_AUTH_ACTION_COUNT`); this only changes how an
enforced request is decided.

The request context it builds:
- `aws:CurrentTime` (ISO 8601, whole seconds, UTC) and `aws:EpochTime` from `clock`;
- `aws:userid`: `<RoleId>:<RoleSessionName>` for a role session (RoleId: the moto role's
  `AROA…` id, as STS GetCallerIdentity reports it), the user's id for a user;
- `aws:PrincipalArn` (the role's ARN with its path, or the user's ARN), `aws:PrincipalAccount`,
  `aws:PrincipalType` (`AssumedRole` / `User`), `aws:username` (users only);
- `s3:prefix` for `s3:ListBucket` / `s3:ListBucketVersions` when the query string has `prefix`.
For S3 requests the bucket's policy is read from moto's S3 backend and the bucket's account is
the resource owner (a bucket that does not exist: no policy, the caller's account).

moto's S3 object handlers also ask `FakeBucket.get_permission` before authorising: a
principal-less reading of the bucket policy that answers any matching Deny with a bare 403
(Principal and Condition ignored), even with enforcement off. While active, that check stands
aside and the evaluator applies the bucket policy with the real requester; with enforcement
off nothing is checked at all, bucket-policy Denies included.

Kept as moto does it: `sts:GetCallerIdentity` is always allowed; for `sts:AssumeRole` on a
role, moto's trust-policy check must pass as well (the evaluator decides the identity side);
authentication and signatures are untouched. Not provided: session policies passed to
AssumeRole, permissions boundaries, group membership beyond what moto collects, other
services' resource policies, anonymous (unsigned) requests, multi-object delete (moto
authorises DeleteObjects against the bucket ARN), any other context key (an absent key fails
positive operators).
A policy document that does not parse or is malformed is answered with AccessDenied, as AWS
"closes" on evaluation errors.

Process-wide: the patch is on moto's class, so only one `policy_evaluation` may be active at a
time (a second one raises), and moto's method is restored on exit, also after an exception.
It reaches into moto internals (`IAMRequestBase._action`, `._access_key`, `._path`, …) named
in `_MOTO_HOOKS`; `policy_evaluation` checks those on entry, so a moto upgrade that renames
them fails loudly instead of silently deciding nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moto.iam.access_control import (
    AssumedRoleAccessKey,
    IAMRequestBase,
    IAMUserAccessKey,
    PermissionResult,
)
from moto.iam.models import Policy, iam_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from jitflow.sandbox.policy_eval import (
    ContextValue,
    Evaluation,
    MalformedPolicyError,
    RequestContext,
    evaluate,
)

Clock = Callable[[], datetime]

# moto internals this bridge relies on (class attributes; the instance ones are set in
# IAMRequestBase.__init__: _action, _access_key, _path, _region, account_id).
_MOTO_HOOKS = (
    (IAMRequestBase, "check_action_permitted"),
    (IAMRequestBase, "_raise_access_denied"),
    (IAMRequestBase, "_is_assuming_role_operation"),
    (IAMRequestBase, "_check_role_trust_relationship"),
    (FakeBucket, "get_permission"),
)
_LIST_ACTIONS_WITH_PREFIX = frozenset({"s3:listbucket", "s3:listbucketversions"})


def system_clock() -> datetime:
    return datetime.now(UTC)


class SettableClock:
    """A clock tests move by hand: `set_time(expiry + 1 s)`, `advance(timedelta(...))`."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def __call__(self) -> datetime:
        return self._at

    def set_time(self, at: datetime) -> None:
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


@dataclass(frozen=True)
class Decided:
    """One enforced request as the evaluator saw it (for test messages)."""

    request: RequestContext
    evaluation: Evaluation | None  # None: a policy could not be evaluated (denied)
    error: str | None = None

    def __str__(self) -> str:
        what = str(self.evaluation) if self.evaluation else f"denied: {self.error}"
        return f"{self.request.principal_arn} {self.request.action} {self.request.resource}: {what}"


@dataclass
class DecisionLog:
    """Every decision made while `policy_evaluation` was active, oldest first."""

    decisions: list[Decided] = field(default_factory=list)

    def last(self, action: str) -> Decided:
        """The latest decision on `action` (e.g. "s3:PutObject")."""
        for decided in reversed(self.decisions):
            if decided.request.action.lower() == action.lower():
                return decided
        raise LookupError(f"no {action} request was decided")


_install_lock = threading.Lock()
_active: list[DecisionLog] = []  # at most one: the patches are process-wide


@contextmanager
def policy_evaluation(clock: Clock = system_clock) -> Iterator[DecisionLog]:
    """Decide moto's enforced requests with the policy evaluator while the block runs."""
    _check_moto_hooks()
    with _install_lock:
        if _active:
            raise RuntimeError("policy_evaluation is already active in this process")
        log = DecisionLog()
        replaced = _replacements(clock, log)
        originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in replaced]
        for owner, name, replacement in replaced:
            setattr(owner, name, replacement)
        _active.append(log)
    try:
        yield log
    finally:
        with _install_lock:
            for owner, name, original in originals:
                setattr(owner, name, original)
            _active.clear()


def _replacements(clock: Clock, log: DecisionLog) -> list[tuple[type, str, Any]]:
    def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
        _decide(self, resource, clock, log)

    def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
        # moto's S3 object handlers ask this before authorising, with no principal, and
        # answer a bucket-policy Deny with a bare 403 whatever its Principal or Condition.
        # The evaluator applies the bucket policy with the requester, so stand aside.
        return PermissionResult.NEUTRAL

    return [
        (IAMRequestBase, "check_action_permitted", check_action_permitted),
        (FakeBucket, "get_permission", get_permission),
    ]


def _check_moto_hooks() -> None:
    missing = [f"{o.__name__}.{n}" for o, n in _MOTO_HOOKS if not hasattr(o, n)]
    if missing:
        raise RuntimeError(f"this moto lacks {', '.join(missing)}: update jitflow's moto_eval")


# ----------------------------------------------------------------------------- one decision


@dataclass(frozen=True)
class _Principal:
    arn: str  # as aws:PrincipalArn sees it
    account: str
    userid: str
    kind: str  # aws:PrincipalType
    session_arn: str | None = None
    username: str | None = None


def _decide(iam_request: Any, resource: str, clock: Clock, log: DecisionLog) -> None:
    action: str = iam_request._action
    if action == "sts:GetCallerIdentity":  # moto: always allowed, even under an explicit Deny
        return
    principal = _principal(iam_request)
    context = RequestContext(
        action=action,
        resource=resource,
        principal_arn=principal.arn,
        principal_account=principal.account,
        session_arn=principal.session_arn,
        context=_context_keys(principal, action, iam_request._path, clock()),
    )
    allowed = _evaluate_and_log(iam_request, context, log)
    if allowed and iam_request._is_assuming_role_operation(resource):
        allowed = iam_request._check_role_trust_relationship(resource)
    if not allowed:
        iam_request._raise_access_denied()


def _evaluate_and_log(iam_request: Any, context: RequestContext, log: DecisionLog) -> bool:
    partition = get_partition(iam_request._region)
    try:
        identity = [_document(p) for p in iam_request._access_key.collect_policies()]
        bucket_policy, owner = _bucket_policy(context.resource, partition)
        evaluation = evaluate(context, identity, bucket_policy, owner)
    except (MalformedPolicyError, json.JSONDecodeError) as error:
        log.decisions.append(Decided(context, None, str(error)))
        return False
    log.decisions.append(Decided(context, evaluation))
    return evaluation.allowed


def _principal(iam_request: Any) -> _Principal:
    key = iam_request._access_key
    account: str = iam_request.account_id
    partition = get_partition(iam_request._region)
    iam = iam_backends[account][partition]
    if isinstance(key, AssumedRoleAccessKey):
        session = _assumed_role(key, account, partition)
        role = iam.get_role_by_arn(session.role_arn)
        return _Principal(
            arn=role.arn,
            account=account,
            userid=f"{role.id}:{session.session_name}",
            kind="AssumedRole",
            session_arn=session.arn,
        )
    if isinstance(key, IAMUserAccessKey):
        user = iam.get_user(key._owner_user_name)
        return _Principal(user.arn, account, user.id, "User", username=user.name)
    raise TypeError(f"unexpected moto access key {type(key).__name__}")


def _assumed_role(key: Any, account: str, partition: str) -> Any:
    for session in sts_backends[account][partition].assumed_roles:
        if session.access_key_id == key._access_key_id:
            return session
    raise LookupError("the role session behind this access key is gone")


def _context_keys(
    principal: _Principal, action: str, path: str, now: datetime
) -> dict[str, ContextValue]:
    now = now.astimezone(UTC).replace(microsecond=0)
    keys: dict[str, ContextValue] = {
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:userid": principal.userid,
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": principal.kind,
    }
    if principal.username:
        keys["aws:username"] = principal.username
    if action.lower() in _LIST_ACTIONS_WITH_PREFIX:
        prefix = parse_qs(urlsplit(path).query, keep_blank_values=True).get("prefix")
        if prefix:
            keys["s3:prefix"] = prefix[0]
    return keys


def _document(policy: Any) -> dict[str, Any]:
    """moto hands policies over as managed Policy objects, inline dicts or JSON text."""
    if isinstance(policy, Policy):
        text = next(v.document for v in policy.versions if v.is_default)
    elif isinstance(policy, str):
        text = policy
    else:
        text = policy["policy_document"]
    document = json.loads(text) if isinstance(text, str) else text
    if not isinstance(document, dict):
        raise MalformedPolicyError("a policy document must be a JSON object")
    return document


def _bucket_policy(resource: str, partition: str) -> tuple[dict[str, Any] | None, str | None]:
    """The bucket policy and the bucket's account for an S3 resource ARN (else None, None)."""
    prefix = f"arn:{partition}:s3:::"
    if not resource.startswith(prefix):
        return None, None
    bucket_name = resource.removeprefix(prefix).split("/", 1)[0]
    located = s3_backends.bucket_accounts.get(bucket_name)
    if located is None:
        return None, None
    bucket_partition, owner = located
    bucket = s3_backends[owner][bucket_partition].buckets.get(bucket_name)
    if bucket is None or bucket.policy is None:
        return None, owner
    return _document(bucket.policy.decode()), owner
