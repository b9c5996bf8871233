"""Every refusal of `jitflow validate` for request files, one named test each."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jitflow.rules import check_request
from testing.foundation import (
    dump,
    example_policies,
    judge,
    messages,
    ml_request_data,
    valid_request_data,
)


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(valid_request_data())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_entry(**changes: Any) -> dict[str, Any]:
    data = valid_request_data()
    data["access"][0].update(changes)
    return data


def refused(data: dict[str, Any], expected: str, path: str | None = None) -> str:
    request, problems = judge(dump(data), path) if path else judge(dump(data))
    assert request is None, "expected the request to be refused"
    text = messages(problems)
    assert expected in text, text
    return text


def test_valid_example_is_accepted() -> None:
    request, problems = judge(dump(valid_request_data()))
    assert problems == []
    assert request is not None
    assert request.id == "analytics-raw/alice-backfill"


def test_unknown_key() -> None:
    refused(with_changes(approved="yes-by-me"), "unknown key 'approved'")


def test_unknown_key_in_access_entry() -> None:
    refused(with_entry(condition="none"), "unknown key 'condition'")


@pytest.mark.parametrize("key", ["requester", "principal", "reason", "duration", "access"])
def test_missing_required_field(key: str) -> None:
    refused(with_changes(**{key: None}), f"missing required key: '{key}'")


def test_wrong_type_number_for_text() -> None:
    refused(with_changes(requester=12345), "expected string")


def test_yaml11_boolean_is_not_silently_a_boolean() -> None:
    raw = dump(valid_request_data()).replace(b"ticket: OPS-1234", b"ticket: yes")
    _, problems = judge(raw)
    assert "ambiguous value 'yes'" in messages(problems)


def test_duplicate_key() -> None:
    raw = dump(valid_request_data()) + b"duration: 4h\n"
    _, problems = judge(raw)
    assert "duplicate" in messages(problems).lower()


def test_more_than_one_document() -> None:
    raw = dump(valid_request_data()) + b"---\n" + dump(valid_request_data())
    _, problems = judge(raw)
    assert "document" in messages(problems).lower()


@pytest.mark.parametrize(
    "snippet",
    [b"x: &a 1\n", b"x: *a\n", b"<<: {duration: 4h}\n", b"y: !!python/object:os.system x\n"],
    ids=["anchor", "alias", "merge-key", "tag"],
)
def test_anchors_aliases_merge_keys_and_tags(snippet: bytes) -> None:
    request, problems = judge(dump(valid_request_data()) + snippet)
    assert request is None
    assert problems


def test_file_over_64_kib() -> None:
    raw = dump(valid_request_data()) + b"#" * (64 * 1024)
    _, problems = judge(raw)
    assert "64" in messages(problems) or "large" in messages(problems).lower()


@pytest.mark.parametrize("char", [b"\x00", b"\x07", b"\x1b", b"\x7f"])
def test_nul_and_control_characters(char: bytes) -> None:
    raw = dump(valid_request_data()).replace(b"job 4411", b"job" + char + b"4411")
    request, problems = judge(raw)
    assert request is None
    assert problems[0].line == 3


def test_invalid_utf8() -> None:
    raw = dump(valid_request_data()).replace(b"job 4411", b"job \xff\xfe 4411")
    request, problems = judge(raw)
    assert request is None
    assert "UTF-8" in messages(problems)


@pytest.mark.parametrize("bucket", ["Analytics-Raw", "ab", "analytics_raw", "192.168.1.1", "a..b"])
def test_bucket_not_a_valid_s3_name(bucket: str) -> None:
    refused(with_entry(bucket=bucket), "S3 bucket name")


def test_bucket_not_in_policy() -> None:
    refused(with_entry(bucket="finance-ledger"), "not covered by policy")


def test_bucket_homoglyph_is_refused() -> None:
    refused(with_entry(bucket="analytics-r\u0430w"), "S3 bucket name")  # Cyrillic a


@pytest.mark.parametrize("action", ["s3:*", "s3:Put*", "s3:PutObjec?", "*"])
def test_action_wildcards(action: str) -> None:
    refused(with_entry(actions=[action]), "wildcards are not allowed")


def test_unknown_action_gets_did_you_mean() -> None:
    refused(with_entry(actions=["s3:PutObjekt"]), "did you mean 's3:PutObject'")


def test_action_case_mismatch_suggests_exact_name() -> None:
    refused(with_entry(actions=["s3:putobject"]), "did you mean 's3:PutObject'")


def test_action_not_allowed_by_policy() -> None:
    refused(with_entry(actions=["s3:PutObjectTagging"]), "not allowed by policy 'analytics-raw'")


def test_permissions_management_action_without_opt_in() -> None:
    refused(with_entry(actions=["s3:PutBucketPolicy"]), "permissions-management action")


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("clickstream/*/", "wildcards"),
        ("clickstream/?/", "wildcards"),
        ("clickstream/${aws:username}/", "wildcards"),
        ("clickstream/{a}/", "wildcards"),
        ("/clickstream/", "starts with '/'"),
        ("clickstream/../backfill/", "'..' segment"),
        ("clickstream/./x/", "'..' segment"),
        ("clickstream", "must end with '/'"),
        ("clickstream//x/", "empty segment"),
        ("clickstream/%2A/", "'%'"),
        ("clickstream/caf\u00e9/", "printable ASCII"),
        ("finance/", "outside policy"),
        ("", "whole bucket"),
    ],
)
def test_prefix_refusals(prefix: str, expected: str) -> None:
    refused(with_entry(prefix=prefix), expected)


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("alice-data", "IAM role or user ARN"),
        ("arn:aws:iam::111122223333:role/*", "IAM role or user ARN"),
        ("arn:aws:iam::111122223333:root", "IAM role or user ARN"),
        ("arn:aws:iam::111122223333:group/data", "IAM role or user ARN"),
        ("arn:aws:iam::999999999999:role/alice-data", "grants only in account 111122223333"),
        ("arn:aws:iam::111122223333:role/erin-admin", "not mapped to 'alice'"),
    ],
)
def test_principal_refusals(principal: str, expected: str) -> None:
    refused(with_changes(principal=principal), expected)


def test_requester_without_identity() -> None:
    refused(with_changes(requester="mallory"), "no entry in policies/identities.yaml")


class Teams:
    def __init__(self, members: set[tuple[str, str, str]]) -> None:
        self.members = members

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        return (org, team_slug, login) in self.members


ERIN = {"requester": "erin", "principal": "arn:aws:iam::111122223333:role/erin-admin"}


def test_requester_outside_policy_requesters() -> None:
    request = judge(dump(with_changes(**ERIN)))[0]
    assert request is not None
    problems = check_request(request, example_policies(), Teams(set()))
    assert "may not request under policy 'analytics-raw'" in messages(problems)


def test_requester_admitted_through_a_team() -> None:
    request = judge(dump(with_changes(**ERIN)))[0]
    assert request is not None
    teams = Teams({("acme", "data-eng", "erin")})
    assert check_request(request, example_policies(), teams) == []


def test_team_only_requester_is_a_warning_offline() -> None:
    request, problems = judge(dump(with_changes(**ERIN)))
    assert request is not None
    assert [p.severity for p in problems] == ["warning"]
    assert "checked against GitHub" in problems[0].message


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("2 hours", "duration"),
        ("0m", "more than zero"),
        ("-1h", "duration"),
        ("5h", "over the policy"),
    ],
)
def test_duration_refusals(duration: str, expected: str) -> None:
    refused(with_changes(duration=duration), expected)


@pytest.mark.parametrize("reason", ["too short", "x" * 1001])
def test_reason_length(reason: str) -> None:
    refused(with_changes(reason=reason), "reason")


def test_ticket_not_matching_pattern() -> None:
    refused(with_changes(ticket="ops 1234"), "ticket")


def test_ticket_required_by_policy() -> None:
    data = with_changes(
        ticket=None,
        principal="arn:aws:iam::444455556666:role/alice-ml",
        duration="1h",
        access=[{"bucket": "acme-ml-models", "prefix": "models/x/", "actions": ["s3:PutObject"]}],
    )
    refused(data, "requires a ticket", path="requests/ml-models/alice-model.yaml")


def test_more_than_20_access_entries() -> None:
    data = valid_request_data()
    data["access"] = [copy.deepcopy(data["access"][0]) for _ in range(21)]
    refused(data, "access")


def test_plan_over_iam_size_limit() -> None:
    """ml-models grants in an IAM policy: IAM's managed-policy size limit applies."""
    data = ml_request_data()
    data["access"] = [
        {
            "bucket": "acme-ml-models",
            "prefix": f"models/{'p' * 240}{i}/",
            "actions": ["s3:PutObject"],
        }
        for i in range(20)
    ]
    refused(data, "over IAM's limit of 6144", path="requests/ml-models/alice-big.yaml")


def test_bucket_policy_grants_are_not_held_to_the_iam_limit() -> None:
    """analytics-raw grants in the bucket policy: the request IAM's limit refuses above is
    accepted here, as its statements fit S3's 20 KB bucket policy."""
    data = valid_request_data()
    data["access"] = [
        {
            "bucket": "analytics-raw",
            "prefix": f"clickstream/{'p' * 240}{i}/",
            "actions": ["s3:PutObject"],
        }
        for i in range(20)
    ]
    request, problems = judge(dump(data))
    assert problems == [] and request is not None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("requests/analytics-raw/Alice.yaml", "request name"),
        ("requests/analytics-raw/" + "a" * 64 + ".yaml", "request name"),
        ("requests/analytics-raw/alice.json", "must end in .yaml"),
        ("requests/analytics-raw/alice\n.yaml", "request name"),
        ("requests/analytics\n/alice.yaml", "policy folder"),
        ("requests/alice.yaml", "requests/<policy>/<name>.yaml"),
        ("requests/analytics-raw/sub/alice.yaml", "requests/<policy>/<name>.yaml"),
        ("requests/no-such-policy/alice.yaml", "there is no policy 'no-such-policy'"),
    ],
)
def test_request_location_refusals(path: str, expected: str) -> None:
    refused(valid_request_data(), expected, path=path)


def test_errors_are_collected_not_just_the_first() -> None:
    data = with_entry(bucket="finance-ledger", prefix="clickstream", actions=["s3:PutObjekt"])
    data["duration"] = "9h"
    text = refused(data, "not covered by policy")
    for expected in ("must end with '/'", "did you mean", "over the policy"):
        assert expected in text


def test_problems_point_at_the_offending_line() -> None:
    raw = dump(with_entry(bucket="finance-ledger"))
    _, problems = judge(raw)
    line = next(
        i for i, text in enumerate(raw.decode().splitlines(), 1) if "finance-ledger" in text
    )
    assert [p.line for p in problems] == [line]
