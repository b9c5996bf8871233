"""Policy and identities files are validated too: schema plus sanity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jitflow.loader import load_policy_set
from jitflow.tree import FsTree
from testing.foundation import ROOT, messages

BASE_POLICY = (ROOT / "policies" / "analytics-raw.yaml").read_text()
IDENTITIES = (ROOT / "policies" / "identities.yaml").read_text()


def policy_problems(tmp_path: Path, text: str, identities: str = IDENTITIES) -> str:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(text)
    (tmp_path / "policies" / "identities.yaml").write_text(identities)
    _, problems = load_policy_set(FsTree(tmp_path))
    return messages(problems)


def replace(old: str, new: str) -> str:
    assert old in BASE_POLICY
    return BASE_POLICY.replace(old, new)


def test_example_policies_are_valid() -> None:
    _, problems = load_policy_set(FsTree(ROOT))
    assert problems == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("s3:AbortMultipartUpload]", "s3:*]", "wildcards are not allowed"),
        ("s3:AbortMultipartUpload]", "s3:PutObjekt]", "did you mean 's3:PutObject'"),
        ("s3:AbortMultipartUpload]", "s3:PutBucketPolicy]", "set permissions_management: true"),
        ("s3:AbortMultipartUpload]", "s3:CreateJob]", "account-level action"),
        (
            "permissions_management: false",
            "permissions_management: true",
            "needs min_approvals >= 2",
        ),
        ("[clickstream/, backfill/]", "[clickstream/, 'backfill']", "must end with '/'"),
        ("[clickstream/, backfill/]", "['*']", "wildcards"),
        ('"^[A-Z]+-[0-9]+$"', '"^[A-Z]+-[0-9+$("', "not a valid regular expression"),
        ('account: "111122223333"', "account: 111122223333", "account id must be quoted"),
        ("min_approvals: 1", "min_approvals: 3\napprovers_note: x", "unknown key 'approvers_note'"),
        (
            "buckets: [analytics-raw, analytics-raw-eu]",
            "buckets: ['analytics-*']",
            "S3 bucket name",
        ),
        (
            'approvers: ["@acme/data-platform", "erin"]',
            'approvers: ["erin"]\nmin_approvals_x: 1',
            "unknown key",
        ),
    ],
)
def test_policy_sanity(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in policy_problems(tmp_path, replace(old, new))


def test_min_approvals_above_listed_logins(tmp_path: Path) -> None:
    text = replace('approvers: ["@acme/data-platform", "erin"]', 'approvers: ["erin"]')
    text = text.replace("min_approvals: 1", "min_approvals: 2")
    assert "no request could ever be approved" in policy_problems(tmp_path, text)


def test_permissions_management_opt_in_with_two_approvals_is_accepted(tmp_path: Path) -> None:
    text = replace("s3:AbortMultipartUpload]", "s3:PutObjectAcl]")
    text = text.replace("permissions_management: false", "permissions_management: true")
    text = text.replace("min_approvals: 1", "min_approvals: 2")
    assert policy_problems(tmp_path, text) == ""


@pytest.mark.parametrize(
    "identities",
    [
        {"alice": ["arn:aws:iam::111122223333:role/*"]},
        {"alice": ["arn:aws:iam::111122223333:root"]},
        {"not a login": ["arn:aws:iam::111122223333:role/x"]},
        {"alice": []},
    ],
)
def test_identities_refusals(tmp_path: Path, identities: dict[str, list[str]]) -> None:
    assert policy_problems(tmp_path, BASE_POLICY, yaml.safe_dump(identities)) != ""


def test_identities_login_twice_case_insensitive(tmp_path: Path) -> None:
    text = "alice: [arn:aws:iam::111122223333:role/a]\nAlice: [arn:aws:iam::111122223333:role/b]\n"
    assert "listed twice" in policy_problems(tmp_path, BASE_POLICY, text)


def test_missing_identities_file(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(BASE_POLICY)
    _, problems = load_policy_set(FsTree(tmp_path))
    assert "identities.yaml is missing" in messages(problems)
