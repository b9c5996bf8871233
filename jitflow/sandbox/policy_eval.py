"""A small, pure evaluator of AWS IAM policy evaluation logic (identity + resource policies).

Why it exists: moto 5.2.5 (`moto/iam/access_control.py`) evaluates identity policies only,
knows one condition operator (StringEquals; any other is treated as satisfied) and never
evaluates resource-based policies such as S3 bucket policies. jitflow's bucket-policy grants
rely on exactly those (`aws:userid`, `DateLessThan aws:CurrentTime`, `ArnNotLike` exemptions),
so their tests need an evaluator that follows the IAM User Guide.

Research verdict (details in docs/policy-evaluator.md): no maintained Python package evaluates
a request against identity and resource policies with conditions. `policyuniverse`,
`parliament` and `cloudsplaining` parse, lint or score policies but decide no request;
`iam-ape` folds a principal's identity policies into one effective policy and carries
conditions along unevaluated; `policyglass` (last release 2022) keeps conditions symbolic and
does not import with pydantic 2; `iamspy` on PyPI is an empty 0.0.1 (the GitHub project is a
Z3 model marked work in progress); `principalmapper` 1.1.5 and its fork `principalmapper-0ca`
have a local simulator but do not import on Python 3.11 (`collections.Mapping`), are
unmaintained since 2022 and AGPL-3.0. The one maintained full evaluator found,
`@cloud-copilot/iam-simulate`, is TypeScript (npm). Hence this module: stdlib only, no moto
import, so it could go upstream to moto.

What is modelled (IAM User Guide, "Policy evaluation logic", "Cross-account policy evaluation
logic", "Condition operators", "Conditions with multiple context keys or values"):
- an explicit Deny in any policy wins; then, in the same account, an Allow in an identity
  policy OR a resource-policy Allow whose Principal names the requester (role ARN, role
  session ARN, user ARN, or "*"); a Principal naming only the account (its id or its `:root`
  ARN) delegates to the account, so the identity policy must allow too. Across accounts
  both the identity policy and the resource policy must allow;
- Action/NotAction (case-insensitive), Resource/NotResource (case-sensitive), `*` and `?`;
- conditions: operators ANDed, keys ANDed, values ORed (NOR for negated operators);
  String*, Numeric*, Date* (ISO 8601 or epoch seconds), Bool, Null, IpAddress/NotIpAddress,
  Arn* (component by component), `...IfExists`, `ForAllValues:` / `ForAnyValue:`; a missing
  key makes a positive operator false and a negated one true; condition key names are
  case-insensitive.

Not modelled, and failing closed: an unknown operator (including BinaryEquals), a policy
variable (`${...}`) in a Resource or a condition value, NotPrincipal, a string Principal other
than "*". A statement using one never grants (an Allow does not apply) and always denies (a
Deny applies), so a gap can make a test stricter than AWS, never looser; the choice is
reported in `Evaluation.notes`. Structurally invalid documents (no Statement, an Effect other
than Allow/Deny, no Action, no Resource, no Principal in a resource policy) raise
`MalformedPolicyError`, as AWS would refuse to store them. Not modelled at all: permissions
boundaries, session policies, SCPs/RCPs, ACLs, VPC endpoint policies, service principals.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache
from typing import Any

ContextValue = str | Sequence[str]
PolicyDocument = Mapping[str, Any]


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


class MalformedPolicyError(ValueError):
    """A policy AWS would refuse to store; an enforcer should deny (AWS "closes" on errors)."""


class UnsupportedPolicyError(ValueError):
    """A valid policy feature this evaluator does not model (handled fail-closed)."""


@dataclass(frozen=True)
class RequestContext:
    """What AWS knows about one request.

    `principal_arn` is the ARN `aws:PrincipalArn` holds: the role's ARN (with its path) for a
    role session, the user's ARN for a user. `session_arn` is the assumed-role session ARN
    (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`), if any. `aws:PrincipalArn` and
    `aws:PrincipalAccount` are filled in from these unless `context` gives them.
    """

    action: str
    resource: str
    principal_arn: str
    principal_account: str
    session_arn: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class StatementRef:
    """Where a statement is: `policy` is "identity policy N" or "resource policy"."""

    policy: str
    index: int
    sid: str | None

    def __str__(self) -> str:
        name = f"{self.policy}, statement {self.index}"
        return f"{name} ({self.sid})" if self.sid else name


@dataclass(frozen=True)
class Evaluation:
    """The decision, the statements that made it, and why (for test failure messages)."""

    decision: Decision
    statements: tuple[StatementRef, ...]
    reason: str
    notes: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def __str__(self) -> str:
        where = "; ".join(str(s) for s in self.statements) or "no statement"
        text = f"{self.decision.value}: {self.reason} [{where}]"
        return text + "".join(f"\n  note: {n}" for n in self.notes)


def evaluate(
    request: RequestContext,
    identity_policies: Sequence[PolicyDocument],
    resource_policy: PolicyDocument | None = None,
    resource_account: str | None = None,
) -> Evaluation:
    """Decide `request` the way AWS does for identity policies plus one resource policy.

    `resource_account` owns the resource (default: the principal's account).
    """
    owner = resource_account or request.principal_account
    run = _Run(request)
    identity_allow = None
    for number, document in enumerate(identity_policies, start=1):
        for ref, statement in _statements(document, f"identity policy {number}"):
            if not run.applies(statement, ref):
                continue
            if _effect(statement, ref) == "Deny":
                return run.result(Decision.EXPLICIT_DENY, (ref,), "an identity policy denies")
            identity_allow = identity_allow or ref
    direct_allow, account_allow = None, None
    for ref, statement in _statements(resource_policy, "resource policy"):
        scope = run.principal_scope(statement, ref)
        if scope is _Scope.NONE or not run.applies(statement, ref):
            continue
        if _effect(statement, ref) == "Deny":
            return run.result(Decision.EXPLICIT_DENY, (ref,), "the resource policy denies")
        if scope is _Scope.DIRECT:
            direct_allow = direct_allow or ref
        else:
            account_allow = account_allow or ref
    if owner == request.principal_account:
        return _same_account(run, identity_allow, direct_allow)
    return _cross_account(run, identity_allow, direct_allow or account_allow, owner)


def _same_account(
    run: _Run, identity_allow: StatementRef | None, direct_allow: StatementRef | None
) -> Evaluation:
    granted = tuple(ref for ref in (identity_allow, direct_allow) if ref)
    if granted:
        return run.result(Decision.ALLOW, granted, "allowed (same account: either policy)")
    return run.result(
        Decision.IMPLICIT_DENY,
        (),
        "no identity-policy Allow, and no resource-policy Allow naming this principal",
    )


def _cross_account(
    run: _Run,
    identity_allow: StatementRef | None,
    resource_allow: StatementRef | None,
    owner: str,
) -> Evaluation:
    if identity_allow and resource_allow:
        return run.result(
            Decision.ALLOW, (identity_allow, resource_allow), "allowed (cross account: both)"
        )
    missing = "an identity-policy Allow" if not identity_allow else "a resource-policy Allow"
    return run.result(
        Decision.IMPLICIT_DENY,
        tuple(ref for ref in (identity_allow, resource_allow) if ref),
        f"cross account (resource in {owner}) needs both policies; {missing} is missing",
    )


# ------------------------------------------------------------------------------ statements


class _Scope(Enum):
    NONE = "no match"
    ACCOUNT = "the principal's account"  # delegation: the identity policy must allow too
    DIRECT = "the principal itself"


def _statements(
    document: PolicyDocument | None, label: str
) -> Iterator[tuple[StatementRef, Mapping[str, Any]]]:
    if document is None:
        return
    body = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list) or not all(isinstance(s, Mapping) for s in body):
        raise MalformedPolicyError(f"{label}: Statement must be an object or a list of them")
    for index, statement in enumerate(body):
        sid = statement.get("Sid")
        yield StatementRef(label, index, sid if isinstance(sid, str) else None), statement


def _effect(statement: Mapping[str, Any], ref: StatementRef) -> str:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(f"{ref}: Effect must be Allow or Deny, not {effect!r}")
    return str(effect)


def _element(
    statement: Mapping[str, Any], positive: str, negative: str, ref: StatementRef
) -> tuple[list[str], bool]:
    """The values of Action/NotAction (or Resource/NotResource) and whether it is negated."""
    present = [name for name in (positive, negative) if name in statement]
    if len(present) != 1:
        raise MalformedPolicyError(f"{ref}: needs exactly one of {positive} / {negative}")
    values = statement[present[0]]
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise MalformedPolicyError(f"{ref}: {present[0]} must be a string or a list of strings")
    return values, present[0] == negative


class _Run:
    """One evaluation: the request, its context keys, and the fail-closed notes so far."""

    def __init__(self, request: RequestContext) -> None:
        self.request = request
        defaults: dict[str, ContextValue] = {
            "aws:PrincipalArn": request.principal_arn,
            "aws:PrincipalAccount": request.principal_account,
        }
        merged = {k.lower(): v for k, v in defaults.items()}
        merged.update({k.lower(): v for k, v in request.context.items()})
        self.context = {k: _as_values(v) for k, v in merged.items()}
        self.notes: list[str] = []

    def result(
        self, decision: Decision, statements: tuple[StatementRef, ...], reason: str
    ) -> Evaluation:
        return Evaluation(decision, statements, reason, tuple(self.notes))

    def applies(self, statement: Mapping[str, Any], ref: StatementRef) -> bool:
        """Action, resource and condition all match; an unsupported feature fails closed."""
        effect = _effect(statement, ref)
        actions, not_action = _element(statement, "Action", "NotAction", ref)
        resources, not_resource = _element(statement, "Resource", "NotResource", ref)
        condition = statement.get("Condition", {})
        if not isinstance(condition, Mapping):
            raise MalformedPolicyError(f"{ref}: Condition must be an object")
        try:
            return (
                _any_action(actions, self.request.action) != not_action
                and _any_resource(resources, self.request.resource) != not_resource
                and _conditions_hold(condition, self.context)
            )
        except UnsupportedPolicyError as error:
            applies = effect == "Deny"
            outcome = "applies (fail closed)" if applies else "grants nothing (fail closed)"
            self.notes.append(f"{ref}: {error}; this {effect} {outcome}")
            return applies

    def principal_scope(self, statement: Mapping[str, Any], ref: StatementRef) -> _Scope:
        """Whom a resource-policy statement names, seen from the requester."""
        if "NotPrincipal" in statement:
            applies = _effect(statement, ref) == "Deny"
            self.notes.append(f"{ref}: NotPrincipal is not modelled; treated as naming everyone "
                              f"for a Deny and no one for an Allow (fail closed)")
            return _Scope.DIRECT if applies else _Scope.NONE
        if "Principal" not in statement:
            raise MalformedPolicyError(f"{ref}: a resource policy statement needs a Principal")
        return _principal_scope(statement["Principal"], self.request, ref)


def _principal_scope(principal: Any, request: RequestContext, ref: StatementRef) -> _Scope:
    if principal == "*":
        return _Scope.DIRECT
    if not isinstance(principal, Mapping):
        raise MalformedPolicyError(f"{ref}: Principal must be \"*\" or an object")
    named = principal.get("AWS", [])
    named = [named] if isinstance(named, str) else named
    if not isinstance(named, list):
        raise MalformedPolicyError(f"{ref}: Principal.AWS must be a string or a list")
    # Exact names only: AWS allows no partial wildcards in Principal, only "*" alone.
    direct = {"*", request.principal_arn, request.session_arn}
    if any(name in direct for name in named):
        return _Scope.DIRECT
    account = request.principal_account
    arn_parts = request.principal_arn.split(":")
    partition = arn_parts[1] if len(arn_parts) > 1 else "aws"
    if account in named or f"arn:{partition}:iam::{account}:root" in named:
        return _Scope.ACCOUNT
    return _Scope.NONE


# ------------------------------------------------------------------------------- wildcards


@lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's glob: `*` any run of characters (also `/` and `:`), `?` exactly one."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def _any_action(patterns: list[str], action: str) -> bool:
    return any(wildcard_match(p, action, ignore_case=True) for p in patterns)


def _any_resource(patterns: list[str], resource: str) -> bool:
    with_variables = [p for p in patterns if "${" in p]
    if any(wildcard_match(p, resource) for p in patterns if p not in with_variables):
        return True
    if with_variables:
        raise UnsupportedPolicyError(f"policy variable in Resource {with_variables[0]!r}")
    return False


# ------------------------------------------------------------------------------ conditions

Compare = Callable[[str, str], bool]  # (request value, policy value) -> match


@dataclass(frozen=True)
class _Operator:
    name: str
    compare: Compare | None  # None: the Null operator
    negated: bool
    if_exists: bool
    qualifier: str | None  # "ForAllValues", "ForAnyValue" or None


Maybe = bool | None  # None: undecidable here (a policy variable, a value that does not parse)


def _any3(items: Iterable[Maybe]) -> Maybe:
    undecided = False
    for item in items:
        if item:
            return True
        undecided = undecided or item is None
    return None if undecided else False


def _all3(items: Iterable[Maybe]) -> Maybe:
    undecided = False
    for item in items:
        if item is False:
            return False
        undecided = undecided or item is None
    return None if undecided else True


def _conditions_hold(block: Mapping[str, Any], context: dict[str, tuple[str, ...]]) -> bool:
    """Operators ANDed, keys ANDed. A definite mismatch decides (false AND unknown is false);
    otherwise an undecidable part makes the block undecidable (raised, to fail closed)."""
    undecided: list[str] = []
    for operator_name, keys in block.items():
        if not isinstance(keys, Mapping):
            raise MalformedPolicyError(f"condition {operator_name!r} must map keys to values")
        for key, raw_values in keys.items():
            holds, reason = _one_condition(str(operator_name), str(key), raw_values, context)
            if holds is False:
                return False
            if holds is None:
                undecided.append(reason)
    if undecided:
        raise UnsupportedPolicyError("; ".join(undecided))
    return True


def _one_condition(
    operator_name: str, key: str, raw_values: Any, context: dict[str, tuple[str, ...]]
) -> tuple[Maybe, str]:
    try:
        operator = _parse_operator(operator_name)
    except UnsupportedPolicyError as error:
        return None, str(error)
    holds = _operator_holds(operator, context.get(key.lower(), ()), _policy_values(raw_values))
    return holds, f"{operator_name} on {key}: a policy variable or a value that does not parse"


def _operator_holds(operator: _Operator, found: tuple[str, ...], wanted: list[str]) -> Maybe:
    if operator.compare is None:
        return _null_holds(found, wanted)
    if not found:  # the key is absent (or an empty set)
        if operator.if_exists or operator.qualifier == "ForAllValues":
            return True
        return False if operator.qualifier == "ForAnyValue" else operator.negated
    compare = operator.compare

    def value_ok(value: str) -> Maybe:
        matched = _any3(_compare(compare, value, w) for w in wanted)
        return None if matched is None else matched != operator.negated

    if operator.qualifier == "ForAllValues" or (operator.qualifier is None and operator.negated):
        return _all3(value_ok(v) for v in found)  # negated, unqualified: NOR over all pairs
    return _any3(value_ok(v) for v in found)


def _compare(compare: Compare, found: str, wanted: str) -> Maybe:
    if "${" in wanted:
        return None
    try:
        return compare(found, wanted)
    except UnsupportedPolicyError:
        return None


def _null_holds(found: tuple[str, ...], wanted: list[str]) -> Maybe:
    try:
        expectations = {_parse_bool(w) for w in wanted}
    except UnsupportedPolicyError:
        return None
    return (not found) in expectations


@lru_cache(maxsize=256)
def _parse_operator(name: str) -> _Operator:
    qualifier, _, base = name.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedPolicyError(f"unknown set qualifier in condition operator {name!r}")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        if if_exists or qualifier:
            raise UnsupportedPolicyError(f"{name!r}: Null takes no qualifier or IfExists")
        return _Operator(name, None, False, False, None)
    known = _BASE_OPERATORS.get(base)
    if known is None:
        raise UnsupportedPolicyError(f"condition operator {name!r} is not modelled")
    compare, negated = known
    return _Operator(name, compare, negated, if_exists, qualifier or None)


def _policy_values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            values.append(str(item))
        else:
            raise MalformedPolicyError(f"condition value {item!r} is not a string/number/bool")
    return values


def _as_values(value: ContextValue) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


# ------------------------------------------------------------------------------ comparisons


def _string_equals(found: str, wanted: str) -> bool:
    return found == wanted


def _string_equals_ignore_case(found: str, wanted: str) -> bool:
    return found.casefold() == wanted.casefold()


def _string_like(found: str, wanted: str) -> bool:
    return wildcard_match(wanted, found)


def _parse_number(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise UnsupportedPolicyError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise UnsupportedPolicyError(f"{text!r} is not a finite number")
    return number


_EPOCH = re.compile(r"-?\d+(\.\d+)?")


def _parse_date(text: str) -> datetime:
    """ISO 8601 (a time without zone is UTC) or epoch seconds, as IAM accepts."""
    candidate = text.strip()
    if _EPOCH.fullmatch(candidate):
        return datetime.fromtimestamp(float(candidate), UTC)
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise UnsupportedPolicyError(f"{text!r} is not an ISO 8601 or epoch time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise UnsupportedPolicyError(f"{text!r} is not true or false")
    return lowered == "true"


def _numeric(test: Callable[[Decimal, Decimal], bool]) -> Compare:
    return lambda found, wanted: test(_parse_number(found), _parse_number(wanted))


def _date(test: Callable[[datetime, datetime], bool]) -> Compare:
    return lambda found, wanted: test(_parse_date(found), _parse_date(wanted))


def _bool_equals(found: str, wanted: str) -> bool:
    return _parse_bool(found) == _parse_bool(wanted)


def _ip_in(found: str, wanted: str) -> bool:
    try:
        network = ipaddress.ip_network(wanted.strip(), strict=False)
        address = ipaddress.ip_address(found.strip())
    except ValueError:
        raise UnsupportedPolicyError(f"{found!r} / {wanted!r} is not an IP or CIDR") from None
    return address.version == network.version and address in network


_ARN_PARTS = 6  # arn:partition:service:region:account:resource


def _arn_like(found: str, wanted: str) -> bool:
    """Each of the six colon-separated ARN components matched on its own (the last one
    keeps any further colons), so a `*` cannot run across components."""
    wanted_parts = wanted.split(":", _ARN_PARTS - 1)
    if len(wanted_parts) != _ARN_PARTS:
        raise UnsupportedPolicyError(f"{wanted!r} is not an ARN pattern")
    found_parts = found.split(":", _ARN_PARTS - 1)
    if len(found_parts) != _ARN_PARTS:
        return False
    return all(wildcard_match(w, f) for w, f in zip(wanted_parts, found_parts, strict=True))


_BASE_OPERATORS: dict[str, tuple[Compare, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
    "DateEquals": (_date(lambda a, b: a == b), False),
    "DateNotEquals": (_date(lambda a, b: a == b), True),
    "DateLessThan": (_date(lambda a, b: a < b), False),
    "DateLessThanEquals": (_date(lambda a, b: a <= b), False),
    "DateGreaterThan": (_date(lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_date(lambda a, b: a >= b), False),
    "Bool": (_bool_equals, False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}
