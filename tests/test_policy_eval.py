"""The pure policy evaluator (jitflow/sandbox/policy_eval.py) against AWS's documented examples.

Each test names the IAM User Guide page and section its policies and expected answers come
from; the jitflow-shaped tests at the end use the statements jitflow writes into bucket
policies. Every expected decision is one the evaluator could get wrong: most tests check a
request that is allowed next to a near-identical one that is not.
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jitflow.sandbox.policy_eval import (
    ContextValue,
    Decision,
    Evaluation,
    MalformedPolicyError,
    RequestContext,
    evaluate,
    wildcard_match,
)

ALLOW, EXPLICIT, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
ACCOUNT = "123456789012"
CARLOS = f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"


def doc(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(
    action: str,
    resource: str = "*",
    principal: str = CARLOS,
    account: str = ACCOUNT,
    session: str | None = None,
    *,
    context: Mapping[str, ContextValue] | None = None,
) -> RequestContext:
    return RequestContext(action, resource, principal, account, session, dict(context or {}))


def decide(
    req: RequestContext,
    identity: Sequence[Mapping[str, Any]] = (),
    resource_policy: Mapping[str, Any] | None = None,
    owner: str | None = None,
) -> Evaluation:
    return evaluate(req, identity, resource_policy, owner)


def assert_decision(result: Evaluation, expected: Decision) -> None:
    assert result.decision is expected, str(result)


def condition_allows(condition: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    """Whether an identity Allow with only this condition grants a request with `context`."""
    policy = doc(allow("s3:ListBucket", "arn:aws:s3:::b", Condition=condition))
    result = decide(request("s3:ListBucket", "arn:aws:s3:::b", context=context), [policy])
    assert result.decision is not EXPLICIT, str(result)
    return result.allowed


# ------------------------------------------------------------ IAM User Guide: evaluation logic

CARLOS_IDENTITY = doc(
    allow(
        [
            "s3:GetBucketLocation",
            "s3:GetAccountPublicAccessBlock",
            "s3:ListAccessPoints",
            "s3:ListAllMyBuckets",
        ],
        "arn:aws:s3:::*",
        Sid="AllowS3ListRead",
    ),
    allow(
        "s3:*",
        ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
        Sid="AllowS3Self",
    ),
    deny("s3:*", "arn:aws:s3:::*log*", Sid="DenyS3Logs"),
)
CARLOS_BUCKET_POLICY = doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": CARLOS},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    }
)


def test_carlos_same_account_deny_in_identity_policy_wins() -> None:
    """Policy evaluation logic, "Example identity-based and resource-based policy evaluation":
    saving to carlossalazar-logs is denied by DenyS3Logs; to carlossalazar it is allowed."""
    to_logs = decide(
        request("s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f.txt"),
        [CARLOS_IDENTITY],
        CARLOS_BUCKET_POLICY,
    )
    assert_decision(to_logs, EXPLICIT)
    assert to_logs.statements[0].sid == "DenyS3Logs"
    to_own = decide(
        request("s3:PutObject", "arn:aws:s3:::carlossalazar/f.txt"),
        [CARLOS_IDENTITY],
        CARLOS_BUCKET_POLICY,
    )
    assert_decision(to_own, ALLOW)


def test_carlos_same_account_either_policy_alone_allows() -> None:
    """Policy evaluation logic, same section: "If one of the policy types allows the request
    and the other doesn't, the request is still allowed" (within one account)."""
    put = request("s3:PutObject", "arn:aws:s3:::carlossalazar/f.txt")
    identity_without_self = doc(*CARLOS_IDENTITY["Statement"][::2])  # AllowS3ListRead, DenyS3Logs
    assert_decision(decide(put, [identity_without_self], CARLOS_BUCKET_POLICY), ALLOW)
    assert_decision(decide(put, [CARLOS_IDENTITY], None), ALLOW)
    assert_decision(decide(put, [identity_without_self], None), IMPLICIT)


def test_explicit_and_implicit_denies() -> None:
    """Policy evaluation logic, "The difference between explicit and implicit denies":
    AllowGetList allows iam:Get*/List*, iam:CreatePolicy is implicitly denied, and a
    report action stays explicitly denied even when another policy allows it."""
    policy = doc(
        allow(["iam:Get*", "iam:List*"], Sid="AllowGetList"),
        deny("iam:*Report", Sid="DenyReports"),
    )
    assert_decision(decide(request("iam:GetUser"), [policy]), ALLOW)
    assert_decision(decide(request("iam:ListRoles"), [policy]), ALLOW)
    assert_decision(decide(request("iam:CreatePolicy"), [policy]), IMPLICIT)
    assert_decision(decide(request("iam:GetOrganizationsAccessReport"), [policy]), EXPLICIT)
    extra = doc(allow("iam:GenerateCredentialReport"))
    assert_decision(decide(request("iam:GenerateCredentialReport"), [extra]), ALLOW)
    assert_decision(decide(request("iam:GenerateCredentialReport"), [policy, extra]), EXPLICIT)


def test_action_match_is_case_insensitive_resource_match_is_not() -> None:
    """IAM JSON policy elements: Action ("action names are not case sensitive") and Resource
    (ARNs are case sensitive)."""
    policy = doc(allow("S3:putobject", "arn:aws:s3:::bucket/Data/*"))
    assert_decision(decide(request("s3:PutObject", "arn:aws:s3:::bucket/Data/x"), [policy]), ALLOW)
    assert_decision(
        decide(request("s3:PutObject", "arn:aws:s3:::bucket/data/x"), [policy]), IMPLICIT
    )


def test_not_action_and_not_resource() -> None:
    """IAM JSON policy elements: NotAction / NotResource (match everything except)."""
    policy = doc(
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::open/*"},
    )
    assert_decision(decide(request("ec2:DescribeVpcs"), [policy]), ALLOW)
    assert_decision(decide(request("iam:GetUser"), [policy]), IMPLICIT)
    assert_decision(decide(request("s3:GetObject", "arn:aws:s3:::open/a"), [policy]), ALLOW)
    assert_decision(decide(request("s3:GetObject", "arn:aws:s3:::closed/a"), [policy]), EXPLICIT)


# ---------------------------------------------- same account: who the resource policy names

ROLE = f"arn:aws:iam::{ACCOUNT}:role/examplerole"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/examplerole/examplerolesessionname"


def _bucket_allow(principal: Any) -> dict[str, Any]:
    return doc(
        {
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket/*",
        }
    )


def _role_get(owner: str = ACCOUNT, identity: Sequence[Mapping[str, Any]] = ()) -> Any:
    def run(principal: Any) -> Evaluation:
        req = request("s3:GetObject", "arn:aws:s3:::bucket/k", ROLE, ACCOUNT, SESSION)
        return decide(req, identity, _bucket_allow(principal), owner)

    return run


@pytest.mark.parametrize(
    "principal",
    [{"AWS": ROLE}, {"AWS": SESSION}, {"AWS": "*"}, "*", {"AWS": ["arn:aws:iam::1:user/x", ROLE]}],
)
def test_resource_policy_naming_the_principal_grants_on_its_own(principal: Any) -> None:
    """Policy evaluation logic, "Determining whether a request is allowed or denied within an
    account", Resource-based policies: an Allow naming the IAM role, the role session (or
    everyone) allows without any identity-policy Allow, within one account."""
    assert_decision(_role_get()(principal), ALLOW)


@pytest.mark.parametrize("principal", [{"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}])
def test_resource_policy_naming_the_account_only_delegates(principal: Any) -> None:
    """IAM JSON policy elements: Principal, "AWS account principals": naming the account
    delegates to it; the account's identity policies must still allow the request."""
    assert_decision(_role_get()(principal), IMPLICIT)
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*"))]
    assert_decision(_role_get(identity=identity)(principal), ALLOW)


def test_resource_policy_naming_someone_else_does_not_apply() -> None:
    """Policy evaluation logic (same section): the Allow grants to the principal it names."""
    other_session = f"arn:aws:sts::{ACCOUNT}:assumed-role/examplerole/someone-else"
    assert_decision(_role_get()({"AWS": other_session}), IMPLICIT)
    assert_decision(_role_get()({"AWS": "999999999999"}), IMPLICIT)
    assert_decision(_role_get()({"Service": "s3.amazonaws.com"}), IMPLICIT)


def test_resource_policy_deny_naming_the_account_denies_its_principals() -> None:
    """Policy evaluation logic, "Deny evaluation": an explicit Deny in any policy that applies
    to the request wins; a Deny naming the account applies to every principal in it."""
    bucket = doc(
        {"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"}
    )
    identity = [doc(allow("s3:*"))]
    req = request("s3:GetObject", "arn:aws:s3:::bucket/k", ROLE, ACCOUNT, SESSION)
    assert_decision(decide(req, identity, bucket), EXPLICIT)
    other = request("s3:GetObject", "arn:aws:s3:::bucket/k", "arn:aws:iam::5:user/u", "5")
    assert_decision(decide(other, identity, bucket, owner=ACCOUNT), IMPLICIT)


# ------------------------------------------------------ IAM User Guide: cross-account logic

CARLOS_ELSEWHERE = "arn:aws:iam::111111111111:user/carlossalazar"
CROSS_IDENTITY = doc(
    allow("s3:ListAllMyBuckets", Sid="AllowS3ListRead"),
    allow("s3:*Object*", "arn:aws:s3:::Production/*", Sid="AllowS3ProductionObjectActions"),
    deny("s3:*", ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"], Sid="DenyS3Logs"),
)
PRODUCTION_POLICY = doc(
    {
        "Effect": "Allow",
        "Action": ["s3:GetObject*", "s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject"],
        "Principal": {"AWS": CARLOS_ELSEWHERE},
        "Resource": "arn:aws:s3:::Production/*",
    }
)


def _cross(action: str, resource: str, identity: Mapping[str, Any] = CROSS_IDENTITY) -> Evaluation:
    req = request(action, resource, CARLOS_ELSEWHERE, "111111111111")
    return decide(req, [identity], PRODUCTION_POLICY, owner="222222222222")


def test_cross_account_example() -> None:
    """Cross-account policy evaluation logic, "Example cross-account policy evaluation":
    Production-logs is denied by DenyS3Logs; Production is allowed by both policies; the
    bucket policy lets Carlos create and edit but not delete objects."""
    assert_decision(_cross("s3:PutObject", "arn:aws:s3:::Production-logs/f"), EXPLICIT)
    allowed = _cross("s3:PutObject", "arn:aws:s3:::Production/f")
    assert_decision(allowed, ALLOW)
    assert {ref.policy for ref in allowed.statements} == {"identity policy 1", "resource policy"}
    assert_decision(_cross("s3:DeleteObject", "arn:aws:s3:::Production/f"), IMPLICIT)


def test_cross_account_needs_the_identity_policy_too() -> None:
    """Cross-account policy evaluation logic, "Determining whether a cross-account request is
    allowed": both the trusted and the trusting account must allow."""
    no_objects = doc(allow("s3:ListAllMyBuckets"))
    assert_decision(_cross("s3:PutObject", "arn:aws:s3:::Production/f", no_objects), IMPLICIT)


def test_cross_account_account_principal_counts_as_the_resource_side_allow() -> None:
    """Cross-account policy evaluation logic: the resource policy "can specify the entire
    account"; with the identity policy allowing, the request is allowed."""
    bucket = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::Production/*",
        }
    )
    req = request("s3:PutObject", "arn:aws:s3:::Production/f", CARLOS_ELSEWHERE, "111111111111")
    assert_decision(decide(req, [CROSS_IDENTITY], bucket, "222222222222"), ALLOW)
    assert_decision(decide(req, [CROSS_IDENTITY], None, "222222222222"), IMPLICIT)


# ------------------------------------------------- IAM User Guide: condition operators


def test_missing_key_is_false_for_positive_and_true_for_negated_operators() -> None:
    """Condition operators, the "Important" note at the top: a key absent from the request
    context makes StringEquals false and StringNotLike / ArnNotLike true."""
    tag = "aws:PrincipalTag/job-category"
    assert not condition_allows({"StringEquals": {tag: "iamuser-admin"}}, {})
    assert condition_allows({"StringEquals": {tag: "iamuser-admin"}}, {tag: "iamuser-admin"})
    assert condition_allows({"StringNotLike": {tag: "admin*"}}, {})
    assert not condition_allows({"StringNotLike": {tag: "admin*"}}, {tag: "admin-x"})
    assert condition_allows({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}, {})


def test_string_like_s3_prefix_home_directory() -> None:
    """Condition operators, "String condition operators": the StringLike s3:prefix example
    ("", "home/", "home/${aws:username}/"). The policy variable is not modelled, so only the
    literal values decide; a prefix that only the variable could match fails closed."""
    condition = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}
    assert condition_allows(condition, {"s3:prefix": ""})
    assert condition_allows(condition, {"s3:prefix": "home/"})
    assert not condition_allows(condition, {"s3:prefix": "home/carlos/"})
    assert not condition_allows(condition, {})


def test_string_equals_ignore_case_and_like_wildcards() -> None:
    """Condition operators, "String condition operators": StringEquals is case sensitive,
    ...IgnoreCase is not; StringLike takes * and ? anywhere."""
    key = "aws:PrincipalTag/team"
    assert not condition_allows({"StringEquals": {key: "Data"}}, {key: "data"})
    assert condition_allows({"StringEqualsIgnoreCase": {key: "Data"}}, {key: "data"})
    assert not condition_allows({"StringNotEqualsIgnoreCase": {key: "Data"}}, {key: "DATA"})
    assert condition_allows({"StringLike": {key: "d?t*"}}, {key: "data-eng"})
    assert not condition_allows({"StringLike": {key: "d?t*"}}, {key: "dta"})


def test_numeric_less_than_equals_max_keys() -> None:
    """Condition operators, "Numeric condition operators": NumericLessThanEquals s3:max-keys
    10 lists up to 10 objects at a time."""
    condition = {"NumericLessThanEquals": {"s3:max-keys": "10"}}
    assert condition_allows(condition, {"s3:max-keys": "10"})
    assert condition_allows(condition, {"s3:max-keys": "2.5"})
    assert not condition_allows(condition, {"s3:max-keys": "11"})
    assert not condition_allows(condition, {})
    assert condition_allows({"NumericNotEquals": {"s3:max-keys": ["1", "2"]}}, {"s3:max-keys": "3"})
    assert not condition_allows({"NumericGreaterThan": {"s3:max-keys": 5}}, {"s3:max-keys": "5"})


def test_date_greater_than_token_issue_time() -> None:
    """Condition operators, "Date condition operators": DateGreaterThan aws:TokenIssueTime
    2020-01-01T00:00:01Z; the key is absent for long-term access keys, so they are denied."""
    condition = {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
    assert condition_allows(condition, {"aws:TokenIssueTime": "2020-06-01T12:00:00Z"})
    assert not condition_allows(condition, {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"})
    assert not condition_allows(condition, {"aws:TokenIssueTime": "2019-12-31T23:59:59Z"})
    assert not condition_allows(condition, {})


def test_date_operators_take_iso_8601_and_epoch_alike() -> None:
    """Condition operators, "Date condition operators": values in a W3C ISO 8601 form or in
    epoch (UNIX) time. 1798761600 is 2027-01-01T00:00:00Z."""
    now = {"aws:CurrentTime": "2026-12-31T23:59:59Z"}
    assert condition_allows({"DateLessThan": {"aws:CurrentTime": "1798761600"}}, now)
    assert not condition_allows({"DateLessThan": {"aws:CurrentTime": "1798761599"}}, now)
    assert condition_allows({"DateLessThanEquals": {"aws:CurrentTime": "1798761599"}}, now)
    assert condition_allows({"DateEquals": {"aws:CurrentTime": "2027-01-01T00:59:59+01:00"}}, now)
    assert condition_allows({"DateGreaterThanEquals": {"aws:CurrentTime": "2026-12-31"}}, now)
    assert not condition_allows({"DateNotEquals": {"aws:CurrentTime": 1798761599}}, now)


def test_bool_secure_transport_deny() -> None:
    """Condition operators, "Boolean condition operators": Deny all S3 actions when
    aws:SecureTransport is false."""
    policy = doc(
        allow("s3:*"),
        deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}, Sid="BooleanExample"),
    )
    plain = request("s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SecureTransport": "false"})
    tls = request("s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SecureTransport": "true"})
    assert_decision(decide(plain, [policy]), EXPLICIT)
    assert_decision(decide(tls, [policy]), ALLOW)
    assert condition_allows({"Bool": {"aws:MultiFactorAuthPresent": True}},
                            {"aws:MultiFactorAuthPresent": "true"})


def test_ip_address_ipv4_and_ipv6() -> None:
    """Condition operators, "IP address condition operators": 203.0.113.0/24 and
    2001:DB8:1234:5678::/64 together; NotIpAddress negates."""
    condition = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}
    assert condition_allows(condition, {"aws:SourceIp": "203.0.113.7"})
    assert condition_allows(condition, {"aws:SourceIp": "2001:db8:1234:5678::1"})
    assert not condition_allows(condition, {"aws:SourceIp": "198.51.100.1"})
    assert not condition_allows({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                                {"aws:SourceIp": "203.0.113.9"})


def test_arn_like_matches_component_by_component_unlike_string_like() -> None:
    """Condition operators, "Amazon Resource Name (ARN) condition operators": the pattern
    arn:aws:someservice:*:111122223333:finance/* matches the given value with StringLike
    but not with ArnLike, whose * stays within one component."""
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = {"aws:SourceArn": (
        "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    )}
    assert condition_allows({"StringLike": {"aws:SourceArn": pattern}}, value)
    assert not condition_allows({"ArnLike": {"aws:SourceArn": pattern}}, value)
    same_account = {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/d.txt"}
    assert condition_allows({"ArnLike": {"aws:SourceArn": pattern}}, same_account)
    assert condition_allows({"ArnEquals": {"aws:SourceArn": pattern}}, same_account)
    assert not condition_allows({"ArnNotEquals": {"aws:SourceArn": pattern}}, same_account)


def test_if_exists_instance_type() -> None:
    """Condition operators, "...IfExists condition operators": StringLikeIfExists
    ec2:InstanceType t1.*/t2.*/m3.* applies only where the key exists, while plain
    StringLike ("THISPOLICYDOESNOTWORK") fails for resources without the key."""
    types = ["t1.*", "t2.*", "m3.*"]
    works = {"StringLikeIfExists": {"ec2:InstanceType": types}}
    broken = {"StringLike": {"ec2:InstanceType": types}}
    assert condition_allows(works, {})
    assert condition_allows(works, {"ec2:InstanceType": "t2.micro"})
    assert not condition_allows(works, {"ec2:InstanceType": "m5.large"})
    assert not condition_allows(broken, {})
    assert condition_allows(broken, {"ec2:InstanceType": "t2.micro"})


def test_negated_if_exists_deny_still_denies_when_key_missing() -> None:
    """Condition operators, "...IfExists": with Effect Deny and StringNotEqualsIfExists "the
    request is still denied even if the tag is missing"."""
    policy = doc(
        allow("ec2:*"),
        deny("ec2:*", Condition={"StringNotEqualsIfExists": {"aws:ResourceTag/env": "dev"}}),
    )
    missing = request("ec2:StartInstances")
    dev = request("ec2:StartInstances", context={"aws:ResourceTag/env": "dev"})
    prod = request("ec2:StartInstances", context={"aws:ResourceTag/env": "prod"})
    assert_decision(decide(missing, [policy]), EXPLICIT)
    assert_decision(decide(dev, [policy]), ALLOW)
    assert_decision(decide(prod, [policy]), EXPLICIT)


def test_null_token_issue_time() -> None:
    """Condition operators, "Condition operator to check existence of condition keys":
    Null aws:TokenIssueTime true allows only requests made without temporary credentials."""
    condition = {"Null": {"aws:TokenIssueTime": "true"}}
    assert condition_allows(condition, {})
    assert not condition_allows(condition, {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"})
    assert condition_allows({"Null": {"aws:TokenIssueTime": False}},
                            {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"})


def test_condition_key_names_are_case_insensitive() -> None:
    """IAM JSON policy elements: Condition, "Condition key names are not case-sensitive"."""
    assert condition_allows({"StringEquals": {"AWS:USERID": "AIDAX"}}, {"aws:userid": "AIDAX"})


# ------------------------------------ IAM User Guide: multiple context keys or values


def test_operators_and_keys_are_anded_values_are_ored() -> None:
    """Conditions with multiple context keys or values, "Evaluation logic for multiple context
    keys or values": operators AND, keys AND, values of one key OR."""
    condition = {
        "StringEquals": {
            "aws:PrincipalTag/department": ["finance", "hr", "legal"],
            "aws:PrincipalTag/role": ["audit", "security"],
        },
        "ArnLike": {"aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:user/Ana*"]},
    }
    good = {
        "aws:PrincipalTag/department": "hr",
        "aws:PrincipalTag/role": "audit",
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/Ana-Maria",
    }
    assert condition_allows(condition, good)
    for key, wrong in [
        ("aws:PrincipalTag/department", "sales"),
        ("aws:PrincipalTag/role", "dev"),
        ("aws:PrincipalArn", f"arn:aws:iam::{ACCOUNT}:user/Bo"),
    ]:
        assert not condition_allows(condition, {**good, key: wrong}), key


def test_negated_operator_with_several_values_is_a_nor() -> None:
    """Conditions with multiple context keys or values, "Evaluation logic for negated matching
    condition operators": several values of StringNotEquals combine as a logical NOR."""
    condition = {"StringNotEquals": {"aws:PrincipalTag/role": ["audit", "security"]}}
    assert not condition_allows(condition, {"aws:PrincipalTag/role": "audit"})
    assert not condition_allows(condition, {"aws:PrincipalTag/role": "security"})
    assert condition_allows(condition, {"aws:PrincipalTag/role": "dev"})


ATTRIBUTES = "dynamodb:requestedAttributes"


def test_for_all_values_string_like_requested_attributes() -> None:
    """Multivalued context keys / set operators, "Examples of condition set operators":
    ForAllValues:StringLike allows only PostDateTime, Message, Tags; a request including
    UserName or ID fails; an empty set satisfies ForAllValues."""
    condition = {"ForAllValues:StringLike": {ATTRIBUTES: ["PostDateTime", "Message", "Tags"]}}
    assert condition_allows(condition, {ATTRIBUTES: ["PostDateTime", "Message"]})
    assert not condition_allows(condition, {ATTRIBUTES: ["PostDateTime", "UserName"]})
    assert not condition_allows(condition, {ATTRIBUTES: ["ID"]})
    assert condition_allows(condition, {ATTRIBUTES: []})
    assert condition_allows(condition, {})


def test_for_any_value_deny_requested_attributes() -> None:
    """Set operators, same page: a Deny with ForAnyValue:StringLike [ID, PostDateTime] denies
    PutItem of UserName, Message, PostDateTime, and does not deny UserName alone; an empty
    set never satisfies ForAnyValue."""
    policy = doc(
        allow("dynamodb:PutItem"),
        deny("dynamodb:PutItem", Condition={"ForAnyValue:StringLike": {ATTRIBUTES: [
            "ID", "PostDateTime"]}}),
    )

    def put(attributes: list[str]) -> Evaluation:
        return decide(request("dynamodb:PutItem", context={ATTRIBUTES: attributes}), [policy])

    assert_decision(put(["UserName", "Message", "PostDateTime"]), EXPLICIT)
    assert_decision(put(["UserName"]), ALLOW)
    assert_decision(put([]), ALLOW)


def test_negated_set_operators() -> None:
    """Multivalued context keys: ForAllValues:StringNotEquals holds when no request value is
    listed (vacuously when the key is absent); ForAnyValue:StringNotEquals when at least one
    request value is not listed, and never when the key is absent."""
    listed = ["DataClass", "Owner"]
    all_not = {"ForAllValues:StringNotEquals": {"aws:TagKeys": listed}}
    any_not = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": listed}}
    assert condition_allows(all_not, {})
    assert condition_allows(all_not, {"aws:TagKeys": ["Dept", "SIC"]})
    assert not condition_allows(all_not, {"aws:TagKeys": ["Dept", "DataClass"]})
    assert not condition_allows(any_not, {})
    assert not condition_allows(any_not, {"aws:TagKeys": ["DataClass", "Owner"]})
    assert condition_allows(any_not, {"aws:TagKeys": ["Dept", "DataClass"]})


# ---------------------------------------------------------- fail closed, never silently pass


def test_unknown_operator_never_grants() -> None:
    """moto treats an unknown operator as satisfied; here an Allow using one grants nothing
    and says so in the notes."""
    result = decide(
        request("s3:GetObject", "arn:aws:s3:::b/k"),
        [doc(allow("s3:GetObject", Condition={"StringFancy": {"aws:userid": "x"}}))],
    )
    assert_decision(result, IMPLICIT)
    assert "StringFancy" in result.notes[0]


def test_unknown_operator_in_a_deny_applies() -> None:
    """The conservative choice for Deny: an undecidable Deny applies (denies)."""
    policy = doc(allow("s3:*"), deny("s3:*", Condition={"BinaryEquals": {"k": "QQ=="}}))
    result = decide(request("s3:GetObject", "arn:aws:s3:::b/k"), [policy])
    assert_decision(result, EXPLICIT)
    assert "BinaryEquals" in result.notes[0]


def test_a_definite_mismatch_beats_an_unknown_operator() -> None:
    """false AND unknown is false: a Deny whose other condition fails does not apply."""
    condition = {
        "BinaryEquals": {"k": "QQ=="},
        "StringEquals": {"aws:PrincipalAccount": "999999999999"},
    }
    policy = doc(allow("s3:*"), deny("s3:*", Condition=condition))
    assert_decision(decide(request("s3:GetObject", "arn:aws:s3:::b/k"), [policy]), ALLOW)


def test_policy_variable_in_resource_fails_closed() -> None:
    """Policy variables are not modelled: an Allow with one in Resource grants nothing, a Deny
    with one denies, unless another listed resource decides without the variable."""
    key = "arn:aws:s3:::b/home/carlos/x"
    var = "arn:aws:s3:::b/home/${aws:username}/*"
    assert_decision(decide(request("s3:PutObject", key), [doc(allow("s3:*", var))]), IMPLICIT)
    both = doc(allow("s3:*", [var, "arn:aws:s3:::b/*"]))
    assert_decision(decide(request("s3:PutObject", key), [both]), ALLOW)
    denying = doc(allow("s3:*"), deny("s3:*", var))
    assert_decision(decide(request("s3:PutObject", key), [denying]), EXPLICIT)


def test_not_principal_fails_closed() -> None:
    """NotPrincipal is not modelled: an Allow with it names no one, a Deny names everyone."""
    bucket_allow = doc({"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "s3:*",
                        "Resource": "*"})
    bucket_deny = doc({"Effect": "Deny", "NotPrincipal": {"AWS": CARLOS}, "Action": "s3:*",
                       "Resource": "*"})
    req = request("s3:GetObject", "arn:aws:s3:::b/k")
    assert_decision(decide(req, [], bucket_allow), IMPLICIT)
    assert_decision(decide(req, [doc(allow("s3:*"))], bucket_deny), EXPLICIT)


def test_unparseable_date_fails_closed() -> None:
    """A date that does not parse cannot decide a DateLessThan: the Allow grants nothing."""
    condition = {"DateLessThan": {"aws:CurrentTime": "next tuesday"}}
    assert not condition_allows(condition, {"aws:CurrentTime": "2026-01-01T00:00:00Z"})


@pytest.mark.parametrize(
    "document",
    [
        {"Statement": "nope"},
        doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
        doc({"Effect": "Allow", "Resource": "*"}),
        doc({"Effect": "Allow", "Action": "s3:*"}),
        doc({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}),
        doc(allow("s3:*", Condition={"StringEquals": "x"})),
    ],
)
def test_malformed_policies_raise(document: dict[str, Any]) -> None:
    """Documents AWS refuses to store are errors (an enforcer denies on them), not guesses."""
    with pytest.raises(MalformedPolicyError):
        decide(request("s3:GetObject", "arn:aws:s3:::b/k"), [document])


def test_resource_policy_statement_without_principal_is_malformed() -> None:
    with pytest.raises(MalformedPolicyError):
        decide(request("s3:GetObject", "arn:aws:s3:::b/k"), [], doc(allow("s3:*")))


# ----------------------------------------------------------------------- jitflow's shapes

SHARED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/data-engineer"
ROLE_ID = "AROAEXAMPLE"
EXPIRY = "2026-12-01T12:00:00Z"


def _session(name: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/data-engineer/{name}"


def _jitflow_grant() -> dict[str, Any]:
    return doc(
        {
            "Sid": "jitflow-grant-r42",
            "Effect": "Allow",
            "Principal": {"AWS": SHARED_ROLE},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::data-lake/backfill/*",
            "Condition": {
                "StringEquals": {"aws:userid": f"{ROLE_ID}:alice@acme.example"},
                "DateLessThan": {"aws:CurrentTime": EXPIRY},
            },
        }
    )


def _put(person: str, key: str, now: str) -> Evaluation:
    req = request(
        "s3:PutObject",
        f"arn:aws:s3:::data-lake/{key}",
        SHARED_ROLE,
        ACCOUNT,
        _session(person),
        context={"aws:userid": f"{ROLE_ID}:{person}", "aws:CurrentTime": now},
    )
    read_only = doc(allow(["s3:GetObject", "s3:ListBucket"], "arn:aws:s3:::data-lake*"))
    return decide(req, [read_only], _jitflow_grant())


def test_jitflow_grant_allows_only_alice_under_the_prefix_until_expiry() -> None:
    """A jitflow bucket-policy grant: the role ARN as Principal, scoped to one session by
    aws:userid, ending by itself with DateLessThan aws:CurrentTime."""
    before = "2026-12-01T11:59:59Z"
    granted = _put("alice@acme.example", "backfill/part-0.parquet", before)
    assert_decision(granted, ALLOW)
    assert granted.statements[0].sid == "jitflow-grant-r42"
    assert_decision(_put("bob@acme.example", "backfill/part-0.parquet", before), IMPLICIT)
    assert_decision(_put("alice@acme.example", "raw/part-0.parquet", before), IMPLICIT)
    assert_decision(_put("alice@acme.example", "backfill/part-0.parquet", EXPIRY), IMPLICIT)
    assert_decision(
        _put("alice@acme.example", "backfill/part-0.parquet", "2026-12-01T12:00:01Z"), IMPLICIT
    )


SSO_PATTERN = (
    "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_DataEngineer_*"
)


def _sso_put(principal_arn: str) -> Evaluation:
    bucket = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::lake/backfill/*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": SSO_PATTERN}},
        }
    )
    req = request("s3:PutObject", "arn:aws:s3:::lake/backfill/x", principal_arn, "111122223333",
                  session="arn:aws:sts::111122223333:assumed-role/r/alice@acme.example")
    return decide(req, [], bucket)


def test_identity_center_permission_set_by_principal_arn() -> None:
    """A grant to everyone on an Identity Center permission set: Principal "*", ArnLike on
    aws:PrincipalArn with the aws-reserved path (with or without a region segment)."""
    base = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/"
    assert_decision(_sso_put(base + "AWSReservedSSO_DataEngineer_0123456789abcdef"), ALLOW)
    assert_decision(
        _sso_put(base + "eu-west-1/AWSReservedSSO_DataEngineer_0123456789abcdef"), ALLOW
    )
    assert_decision(_sso_put(base + "AWSReservedSSO_Analyst_0123456789abcdef"), IMPLICIT)
    assert_decision(
        _sso_put("arn:aws:iam::444455556666:role/aws-reserved/sso.amazonaws.com/"
                 "AWSReservedSSO_DataEngineer_0123456789abcdef"),
        IMPLICIT,
    )


def test_list_bucket_limited_by_s3_prefix() -> None:
    """A jitflow ListBucket grant: StringLike s3:prefix backfill/* (and the prefix itself)."""
    bucket = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": SHARED_ROLE},
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::data-lake",
            "Condition": {"StringLike": {"s3:prefix": ["backfill/", "backfill/*"]}},
        }
    )

    def listing(prefix: str | None) -> Evaluation:
        context = {} if prefix is None else {"s3:prefix": prefix}
        req = request("s3:ListBucket", "arn:aws:s3:::data-lake", SHARED_ROLE, ACCOUNT,
                      _session("alice@acme.example"), context=context)
        return decide(req, [], bucket)

    assert_decision(listing("backfill/"), ALLOW)
    assert_decision(listing("backfill/2026/"), ALLOW)
    assert_decision(listing("raw/"), IMPLICIT)
    assert_decision(listing("backfill"), IMPLICIT)
    assert_decision(listing(None), IMPLICIT)


EXEMPT_USERIDS = ["AROAADMIN:breakglass@acme.example", "AIDAJITFLOW"]
EXEMPT_ARNS = [f"arn:aws:iam::{ACCOUNT}:role/jitflow-*", f"arn:aws:iam::{ACCOUNT}:role/admin"]


def _baseline_put(principal_arn: str, userid: str) -> Evaluation:
    baseline = doc(
        {
            "Sid": "jitflow-baseline-deny",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::data-lake/*",
            "Condition": {
                "StringNotEquals": {"aws:userid": EXEMPT_USERIDS},
                "ArnNotLike": {"aws:PrincipalArn": EXEMPT_ARNS},
            },
        }
    )
    writer = doc(allow("s3:PutObject", "arn:aws:s3:::data-lake/*"))
    req = request("s3:PutObject", "arn:aws:s3:::data-lake/k", principal_arn, ACCOUNT,
                  context={"aws:userid": userid})
    return decide(req, [writer], baseline)


def test_baseline_deny_with_exemptions() -> None:
    """A baseline Deny for everyone except listed user ids or principal ARNs: it denies a
    principal whose own identity policy allows s3:PutObject, and exempts by either list."""
    denied = _baseline_put(f"arn:aws:iam::{ACCOUNT}:user/etl", "AIDAETL")
    assert_decision(denied, EXPLICIT)
    assert denied.statements[0].sid == "jitflow-baseline-deny"
    assert_decision(_baseline_put(f"arn:aws:iam::{ACCOUNT}:user/jitflow", "AIDAJITFLOW"), ALLOW)
    assert_decision(
        _baseline_put(f"arn:aws:iam::{ACCOUNT}:role/jitflow-apply", "AROAAPPLY:run-7"), ALLOW
    )
    # Within the last ARN component * also crosses a path's "/"; "jitflow/" is not "jitflow-".
    assert_decision(
        _baseline_put(f"arn:aws:iam::{ACCOUNT}:role/jitflow-ci/deploy", "AROAN:s"), ALLOW
    )
    assert_decision(
        _baseline_put(f"arn:aws:iam::{ACCOUNT}:role/jitflow/nested", "AROAN:s"), EXPLICIT
    )
    assert_decision(_baseline_put(f"arn:aws:iam::{ACCOUNT}:role/admins", "AROAX:s"), EXPLICIT)


# ------------------------------------------------------------------------------ properties

GLOB_ALPHABET = "ab/:*?"


@given(
    pattern=st.text(alphabet=GLOB_ALPHABET, max_size=8),
    value=st.text(alphabet="ab/:", max_size=8),
)
def test_wildcards_agree_with_fnmatch_on_star_and_question_mark(pattern: str, value: str) -> None:
    """With only * and ?, IAM's glob is fnmatch's (which also crosses / and :)."""
    assert wildcard_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


@given(
    value=st.text(alphabet=string.ascii_lowercase, max_size=3),
    listed=st.lists(st.text(alphabet=string.ascii_lowercase, max_size=3), min_size=1, max_size=3),
)
def test_negated_operator_is_the_complement_for_a_present_key(
    value: str, listed: list[str]
) -> None:
    key = "aws:PrincipalTag/x"
    equals = condition_allows({"StringEquals": {key: listed}}, {key: value})
    not_equals = condition_allows({"StringNotEquals": {key: listed}}, {key: value})
    assert equals != not_equals
    assert equals == (value in listed)


@given(
    allow_first=st.booleans(),
    in_resource_policy=st.booleans(),
)
def test_an_applicable_deny_always_wins(allow_first: bool, in_resource_policy: bool) -> None:
    grant = allow("s3:*")
    refusal = deny("s3:GetObject", "arn:aws:s3:::b/*")
    bucket = None
    if in_resource_policy:
        identity = [doc(grant)]
        bucket = doc({**refusal, "Principal": "*"})
    else:
        identity = [doc(grant, refusal) if allow_first else doc(refusal, grant)]
    result = decide(request("s3:GetObject", "arn:aws:s3:::b/k"), identity, bucket)
    assert_decision(result, EXPLICIT)
