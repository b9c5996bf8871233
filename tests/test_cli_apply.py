"""`jitflow apply` the workflow's way: verify the merge GITHUB_SHA, grant, comment, commit.

Real git repository, the fake GitHub over HTTP, moto in-process for IAM; the CLI runs through
its real entry point (`jitflow.cli.main`) in this process so moto's mock covers boto3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from check_repo import NEW, Repo
from moto import mock_aws

from jitflow.cli import main
from jitflow.sandbox.github import FakeGitHub

REPOSITORY = "acme/access"
ACCOUNT = "111122223333"


class Merge:
    def __init__(self, tmp_path: Path, fake: FakeGitHub) -> None:
        self.repo = Repo(tmp_path / "repo")
        # One account, the caller's own: no AssumeRole in this test.
        self.repo.git("checkout", "--quiet", "main")
        self.repo.write(
            "jitflow.yaml", f'admins: ["@acme/security"]\naccounts:\n  "{ACCOUNT}": {{}}\n'
        )
        self.repo.commit("one account")
        self.repo.git("checkout", "--quiet", "-B", "pr", "main")
        self.fake = fake
        fake.add_repo(REPOSITORY)
        fake.add_team("acme", "data-platform", {})

    def pull(self, author: str = "alice") -> int:
        base = self.repo.git("rev-parse", "main").strip()
        head = self.repo.git("rev-parse", "HEAD").strip()
        number = self.fake.open_pull(author=author, head_sha=head, base_sha=base)
        self.fake.add_commit_to_pull(number, head, author=author)
        return number

    def merge(self, number: int) -> str:
        self.repo.git("checkout", "--quiet", "main")
        self.repo.git("merge", "--quiet", "--no-ff", "-m", f"Merge #{number}", "pr")
        sha = self.repo.git("rev-parse", "HEAD").strip()
        self.fake.merge_pull(number, sha, "merge")
        return sha

    def apply(self, sha: str, monkeypatch: pytest.MonkeyPatch) -> int:
        for key, value in {
            "GITHUB_SHA": sha,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": self.fake.url,
            "GITHUB_TOKEN": "t",
            "JITFLOW_GITHUB_PACE": "0",
            "GIT_AUTHOR_NAME": "bot",
            "GIT_AUTHOR_EMAIL": "bot@example.com",
            "GIT_COMMITTER_NAME": "bot",
            "GIT_COMMITTER_EMAIL": "bot@example.com",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
        return main(["apply", "--repo", str(self.repo.path), "--commit"])

    def audit(self) -> list[dict[str, Any]]:
        lines = []
        for path in sorted((self.repo.path / "audit").glob("*.jsonl")):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        iam.create_role(RoleName="alice-data", AssumeRolePolicyDocument=trust)
        yield iam


@pytest.fixture
def world(tmp_path: Path, fake_github: FakeGitHub) -> Merge:
    return Merge(tmp_path, fake_github)


def attached(iam: Any) -> list[str]:
    return [
        p["PolicyName"]
        for p in iam.list_attached_role_policies(RoleName="alice-data")["AttachedPolicies"]
    ]


def test_approved_merge_is_granted_commented_and_committed(
    world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.repo.add_request()
    number = world.pull()
    world.fake.add_review(number, "erin", "APPROVED")
    assert world.apply(world.merge(number), monkeypatch) == 0
    assert attached(aws) == ["jitflow.analytics-raw.alice-new-backfill"]
    [record] = world.audit()
    assert (record["event"], record["approvers"], record["pr"]) == ("granted", ["erin"], number)
    [comment] = world.fake.comments(number)
    assert "Granted" in comment.body and "arn:aws:iam::111122223333:role/alice-data" in comment.body
    assert "jitflow apply" in world.repo.git("log", "-1", "--format=%s")

    # The requester gives the access back: a later PR deletes the file -> early revoke.
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(NEW)
    world.repo.commit("give my access back")
    second = world.pull()
    assert world.apply(world.merge(second), monkeypatch) == 0
    assert attached(aws) == []
    assert [r["event"] for r in world.audit()] == ["granted", "early_revoked"]


def test_unapproved_merge_is_rejected_with_record_and_comment(
    world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.repo.add_request()
    number = world.pull()
    world.fake.add_review(number, "alice", "APPROVED")  # self-approval; an admin merged anyway
    assert world.apply(world.merge(number), monkeypatch) == 1
    assert attached(aws) == []
    [record] = world.audit()
    assert record["event"] == "rejected" and "not approved" in record["reason"]
    [comment] = world.fake.comments(number)
    assert "did not grant" in comment.body


def test_direct_push_is_rejected_and_recorded(
    world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.repo.add_request()
    world.repo.git("checkout", "--quiet", "main")
    world.repo.git("merge", "--quiet", "--ff-only", "pr")
    sha = world.repo.git("rev-parse", "HEAD").strip()
    assert world.apply(sha, monkeypatch) == 1
    assert attached(aws) == []
    [record] = world.audit()
    assert record["event"] == "rejected" and record["commit"] == sha
    assert "not introduced by a pull request" in capsys.readouterr().err


def lose_the_audit_commit(world: Merge) -> None:
    """As if the apply run died between AWS and its audit record."""
    world.repo.git("reset", "--quiet", "--hard", "HEAD~1")
    assert world.audit() == []


def approved_and_granted(world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world.repo.add_request()
    number = world.pull()
    world.fake.add_review(number, "erin", "APPROVED")
    assert world.apply(world.merge(number), monkeypatch) == 0
    assert attached(aws) == ["jitflow.analytics-raw.alice-new-backfill"]


def test_revoke_keeps_an_unrecorded_grant_whose_merge_verifies(
    world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    lose_the_audit_commit(world)
    assert main(["revoke", "--repo", str(world.repo.path)]) == 0
    assert attached(aws) == ["jitflow.analytics-raw.alice-new-backfill"]
    [record] = world.audit()
    assert (record["event"], record["reconciled"], record["approvers"]) == (
        "granted",
        True,
        ["erin"],
    )


def test_revoke_without_github_cannot_prove_it_and_revokes(
    world: Merge, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    lose_the_audit_commit(world)
    monkeypatch.delenv("GITHUB_TOKEN")
    assert main(["revoke", "--repo", str(world.repo.path)]) == 0
    assert attached(aws) == []
    [record] = world.audit()
    assert record["event"] == "orphan_revoked" and "not approved" in record["reason"]
