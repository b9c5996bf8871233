"""`jitflow apply` the workflow's way: verify the merge GITHUB_SHA, grant, comment, commit.

Real git repository, the fake GitHub over HTTP, moto in-process for IAM and S3; the CLI runs
through its real entry point (`jitflow.cli.main`) in this process so moto's mock covers boto3.
Every test runs for both example policies of the repository: analytics-raw grants in the
bucket's own policy (alice's session on the shared data-engineers role), ml-models in an IAM
policy attached to alice's own role.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from jitflow.audit import chain
from jitflow.audit.anchor import Head, head_value
from jitflow.audit.store import AuditLog
from jitflow.cli import main
from jitflow.clock import parse_time
from jitflow.notify import render
from jitflow.sandbox.github import FakeGitHub
from testing.check_repo import NEW, Repo, dump, request_data, run_git
from testing.foundation import ml_request_data
from testing.moto_server import (
    ANCHOR,
    FaultInjector,
    create_anchor,
    instrument_clients,
    no_retry_sleep,
)
from testing.receiver import receiver, unreachable_url

REPOSITORY = "acme/access"


@dataclass(frozen=True)
class Example:
    """One example policy: the request alice makes under it, who approves it, and what AWS
    holds once it is granted."""

    mode: str
    account: str
    path: str
    text: str
    approvers: tuple[str, ...]
    teams: dict[str, dict[str, Any]]
    seen_in_comment: str
    setup: Callable[[Any, Any], None]  # (iam, s3) -> the principal and buckets
    granted: Callable[[Any, Any], list[str]]  # (iam, s3) -> what jitflow granted, by name


def _trust(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}]})


def _bucket_setup(iam: Any, s3: Any) -> None:
    # A shared role names a person by session only if callers cannot pick the session name.
    trust = json.loads(_trust("111122223333"))
    trust["Statement"][0]["Condition"] = {
        "StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
    iam.create_role(RoleName="data-engineers", AssumeRolePolicyDocument=json.dumps(trust))
    for bucket in ("analytics-raw", "analytics-raw-eu"):  # the policy's buckets
        s3.create_bucket(Bucket=bucket)


def _bucket_granted(iam: Any, s3: Any) -> list[str]:
    """The statements in analytics-raw's policy, as "Sid for aws:userid"; checks the userid is
    alice's session on the role as AWS knows it."""
    try:
        text = s3.get_bucket_policy(Bucket="analytics-raw")["Policy"]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchBucketPolicy"
        return []
    role_id = iam.get_role(RoleName="data-engineers")["Role"]["RoleId"]
    found = []
    for statement in json.loads(text)["Statement"]:
        userid = statement["Condition"]["StringEquals"]["aws:userid"]
        assert userid == f"{role_id}:alice@acme.example"
        found.append(f"{statement['Sid']} for {userid.split(':', 1)[1]}")
    return found


def _identity_setup(iam: Any, s3: Any) -> None:
    iam.create_role(RoleName="alice-ml", AssumeRolePolicyDocument=_trust("444455556666"))


def _identity_granted(iam: Any, s3: Any) -> list[str]:
    attached = iam.list_attached_role_policies(RoleName="alice-ml")["AttachedPolicies"]
    return [p["PolicyName"] for p in attached]


BUCKET = Example(
    mode="bucket-policy",
    account="111122223333",
    path=NEW,
    text=dump(request_data()),
    approvers=("erin",),
    teams={"data-platform": {}},
    # jitflow.markdown breaks "@" mentions with a zero-width space
    seen_in_comment="**In the bucket policy of:** `analytics-raw`; it admits only the session "
                    "alice@\u200bacme.example of arn:aws:iam::111122223333:role/data-engineers",
    setup=_bucket_setup,
    granted=_bucket_granted,
)
IDENTITY = Example(
    mode="identity-policy",
    account="444455556666",
    path="requests/ml-models/alice-new-model.yaml",
    text=dump(ml_request_data()),
    approvers=("erin", "grace"),  # two of @acme/ml-leads, @acme/security
    teams={"ml-leads": {"grace": "active"}, "security": {"erin": "active"}},
    seen_in_comment="arn:aws:iam::444455556666:role/alice-ml",
    setup=_identity_setup,
    granted=_identity_granted,
)
GRANTED = {
    "bucket-policy": ["JitflowGanalyticsHrawSaliceHnewHbackfillE1O for alice@acme.example"],
    "identity-policy": ["jitflow.ml-models.alice-new-model"],
}


class Merge:
    def __init__(self, tmp_path: Path, fake: FakeGitHub, example: Example) -> None:
        self.repo = Repo(tmp_path / "repo")
        self.example = example
        # One account, the caller's own: no AssumeRole in this test.
        self.repo.git("checkout", "--quiet", "main")
        self.repo.write(
            "jitflow.yaml",
            f'admins: ["@acme/security"]\naccounts:\n  "{example.account}": {{}}\n',
        )
        self.repo.commit("one account")
        self.repo.git("checkout", "--quiet", "-B", "pr", "main")
        self.fake = fake
        fake.add_repo(REPOSITORY)
        for team, members in example.teams.items():
            fake.add_team("acme", team, members)

    def add_request(self) -> None:
        self.repo.write(self.example.path, self.example.text)
        self.repo.commit(f"request {self.example.path}")

    def approve(self, number: int) -> None:
        for login in self.example.approvers:
            self.fake.add_review(number, login, "APPROVED")

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

    def apply(self, sha: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
        self.actions_env(monkeypatch, sha)
        return main(["apply", "--repo", str(self.repo.path), "--commit", *extra])

    def actions_env(self, monkeypatch: pytest.MonkeyPatch, sha: str) -> None:
        """The environment of a jitflow job in GitHub Actions, talking to the fake."""
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

    def audit(self) -> list[dict[str, Any]]:
        lines = []
        for path in sorted((self.repo.path / "audit").glob("*.jsonl")):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines


@pytest.fixture(params=[BUCKET, IDENTITY], ids=lambda e: e.mode)
def example(request: pytest.FixtureRequest) -> Example:
    value: Example = request.param
    return value


@dataclass(frozen=True)
class Aws:
    iam: Any
    s3: Any
    example: Example

    def granted(self) -> list[str]:
        return self.example.granted(self.iam, self.s3)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, example: Example) -> Iterator[Aws]:
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
    monkeypatch.setenv("MOTO_ACCOUNT_ID", example.account)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        example.setup(iam, s3)
        create_anchor(boto3.client("ssm", region_name="us-east-1"))
        yield Aws(iam, s3, example)


@pytest.fixture
def world(tmp_path: Path, fake_github: FakeGitHub, example: Example) -> Merge:
    return Merge(tmp_path, fake_github, example)


def test_approved_merge_is_granted_commented_and_committed(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.add_request()
    number = world.pull()
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 0
    assert aws.granted() == GRANTED[world.example.mode]
    [record] = world.audit()
    assert (record["event"], record["approvers"], record["pr"]) == (
        "granted", list(world.example.approvers), number)
    [comment] = world.fake.comments(number)
    assert "Granted" in comment.body and world.example.seen_in_comment in comment.body
    assert "jitflow apply" in world.repo.git("log", "-1", "--format=%s")
    # After its commit, apply wrote the log's new head to the audit anchor.
    head = AuditLog(world.repo.path / "audit").view([]).head
    assert head is not None and head.seq == 1
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.get_parameter(Name=ANCHOR)["Parameter"]["Value"] == head_value(head)

    # The requester gives the access back: a later PR deletes the file -> early revoke.
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(world.example.path)
    world.repo.commit("give my access back")
    second = world.pull()
    assert world.apply(world.merge(second), monkeypatch) == 0
    assert aws.granted() == []
    assert [r["event"] for r in world.audit()] == ["granted", "early_revoked"]


def test_apply_grants_nothing_onto_a_log_without_the_anchored_head(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The anchor holds seq 3, which the log does not have (cut off, or rewritten): an approved
    merge is not granted, nothing is recorded, and the anchor stays as evidence."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    gone = head_value(Head("2026-11.jsonl", 3, "d" * 64))
    ssm.put_parameter(Name=ANCHOR, Value=gone, Overwrite=True)
    world.add_request()
    number = world.pull()
    world.approve(number)
    capsys.readouterr()
    assert world.apply(world.merge(number), monkeypatch) == 1
    err = capsys.readouterr().err
    assert f"not granting: the audit log disagrees with its anchor {ANCHOR} (behind)" in err
    assert aws.granted() == []
    assert world.audit() == []
    assert world.fake.comments(number) == []
    assert ssm.get_parameter(Name=ANCHOR)["Parameter"]["Value"] == gone
    # Once an admin has restored the log, or reset the anchor, the rerun grants.
    ssm.put_parameter(Name=ANCHOR, Value="unset", Overwrite=True)
    assert world.apply(world.repo.git("rev-parse", "main").strip(), monkeypatch) == 0
    assert aws.granted() == GRANTED[world.example.mode]


def test_apply_grants_when_the_anchor_only_missed_a_write(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose anchor write failed leaves the anchor behind the log's head (`ahead`):
    nothing is lost, so the next apply grants and moves the anchor on."""
    approved_and_granted(world, aws, monkeypatch)
    ssm = boto3.client("ssm", region_name="us-east-1")
    first = ssm.get_parameter(Name=ANCHOR)["Parameter"]["Value"]
    AuditLog(world.repo.path / "audit").append(  # a run whose anchor write then failed
        "rejected", {"commit": "0" * 40, "reason": "not approved", "actor": "bot"},
        datetime.now(UTC))
    world.repo.commit("a record the anchor missed")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(world.example.path)
    world.repo.commit("give my access back")
    assert world.apply(world.merge(world.pull()), monkeypatch) == 0
    assert aws.granted() == []
    assert ssm.get_parameter(Name=ANCHOR)["Parameter"]["Value"] != first


def test_unapproved_merge_is_rejected_with_record_and_comment(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_request()
    number = world.pull()
    world.fake.add_review(number, "alice", "APPROVED")  # self-approval; an admin merged anyway
    assert world.apply(world.merge(number), monkeypatch) == 1
    assert aws.granted() == []
    [record] = world.audit()
    assert record["event"] == "rejected" and "not approved" in record["reason"]
    [comment] = world.fake.comments(number)
    assert "did not grant" in comment.body


def test_direct_push_is_rejected_and_recorded(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_request()
    world.repo.git("checkout", "--quiet", "main")
    world.repo.git("merge", "--quiet", "--ff-only", "pr")
    sha = world.repo.git("rev-parse", "HEAD").strip()
    assert world.apply(sha, monkeypatch) == 1
    assert aws.granted() == []
    [record] = world.audit()
    assert record["event"] == "rejected" and record["commit"] == sha
    assert "not introduced by a pull request" in capsys.readouterr().err


def deletion_pull(world: Merge, path: str, author: str) -> int:
    """A pull request by `author` that deletes `path` from main."""
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(path)
    world.repo.commit(f"delete {path}")
    return world.pull(author=author)


def test_deleting_another_persons_request_without_approvals_revokes_nothing(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    # An approver of the policy deletes alice's request and approves it herself: as for a
    # grant, the author's own review does not count, so it falls one approval short.
    author = world.example.approvers[0]
    number = deletion_pull(world, world.example.path, author=author)
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 1  # an admin merged it anyway
    assert aws.granted() == GRANTED[world.example.mode]  # alice keeps her access
    record = world.audit()[-1]
    rid = world.example.path.removeprefix("requests/").removesuffix(".yaml")
    assert (record["event"], record["request"], record["requester"], record["pr"]) == (
        "rejected", rid, "alice", number)
    assert record["account"] == world.example.account
    assert f"not revoked: deleting {world.example.path} ends alice's request ({rid}) and needs" \
        in record["reason"]
    assert "early_revoked" not in [r["event"] for r in world.audit()]
    [comment] = world.fake.comments(number)
    assert f"did not revoke `{rid}`" in comment.body and "needs" in comment.body
    assert "rejected:" in capsys.readouterr().out
    assert f"not counted: @{author}: self-approval by the PR author" in record["reason"]


def test_deleting_another_persons_request_with_the_policys_approvals_revokes_it(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    number = deletion_pull(world, world.example.path, author="bob")
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 0
    assert aws.granted() == []
    assert [r["event"] for r in world.audit()] == ["granted", "early_revoked"]


@pytest.mark.parametrize("approved", [False, True], ids=["unapproved", "approved"])
def test_deleting_a_file_unreadable_on_main_needs_the_policys_approvals(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, approved: bool
) -> None:
    broken = world.example.path.rsplit("/", 1)[0] + "/alice-broken.yaml"
    world.repo.git("checkout", "--quiet", "main")
    world.repo.write(broken, "requester: [alice\n")  # names nobody
    world.repo.commit("a broken file, pushed past the check")
    number = deletion_pull(world, broken, author="alice")
    if approved:
        world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == (0 if approved else 1)
    events = [(r["event"], r["reason"]) for r in world.audit()]
    if approved:
        assert events == []  # nothing was granted, so the allowed revoke found nothing
    else:
        [(event, reason)] = events
        assert event == "rejected" and "cannot be read on the base branch" in reason


def test_a_refused_deletion_does_not_hold_back_the_requesters_own(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    broken = world.example.path.rsplit("/", 1)[0] + "/alice-broken.yaml"
    world.repo.write(broken, "requester: [alice\n")
    world.repo.commit("a broken file, pushed past the check")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(broken)
    world.repo.remove(world.example.path)
    world.repo.commit("give my access back, and remove the broken file")
    number = world.pull()
    assert world.apply(world.merge(number), monkeypatch) == 1
    assert aws.granted() == []  # her own deletion needs no approval: revoked
    assert sorted(r["event"] for r in world.audit()) == ["early_revoked", "granted", "rejected"]


def test_deleting_a_request_whose_policy_is_gone_is_refused_even_approved(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = "requests/retired/alice-old.yaml"
    world.repo.git("checkout", "--quiet", "main")
    world.repo.write(gone, "requester: [alice\n")  # unreadable; no policies/retired.yaml
    world.repo.commit("a file of a policy that is gone")
    number = deletion_pull(world, gone, author="alice")
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 1
    [record] = world.audit()
    assert (record["event"], record["request"]) == ("rejected", "retired/alice-old")
    assert "policy retired is not on the base branch" in record["reason"]
    [comment] = world.fake.comments(number)
    assert "did not revoke" in comment.body


def lose_the_audit_commit(world: Merge) -> None:
    """As if the apply run died between AWS and its audit record."""
    world.repo.git("reset", "--quiet", "--hard", "HEAD~1")
    assert world.audit() == []


def approved_and_granted(world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_request()
    number = world.pull()
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 0
    assert aws.granted() == GRANTED[world.example.mode]


def test_revoke_keeps_an_unrecorded_grant_whose_merge_verifies(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    lose_the_audit_commit(world)
    assert main(["revoke", "--repo", str(world.repo.path)]) == 0
    assert aws.granted() == GRANTED[world.example.mode]
    [record] = world.audit()
    assert (record["event"], record["reconciled"], record["approvers"]) == (
        "granted",
        True,
        list(world.example.approvers),
    )


def test_revoke_without_github_cannot_prove_it_and_revokes(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    approved_and_granted(world, aws, monkeypatch)
    lose_the_audit_commit(world)
    monkeypatch.delenv("GITHUB_TOKEN")
    assert main(["revoke", "--repo", str(world.repo.path)]) == 0
    assert aws.granted() == []
    [record] = world.audit()
    assert record["event"] == "orphan_revoked" and "not approved" in record["reason"]


# The second grant's first write, per mode: the call that fails (every attempt).
SECOND_WRITE = {"bucket-policy": "s3.PutBucketPolicy", "identity-policy": "iam.CreatePolicy"}


def test_apply_stopped_by_a_later_request_commits_the_earlier_grant(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A merge adds two requests; AWS fails the second one's write. The first grant stands: it
    is recorded, commented and committed in this run (exit 3, no traceback), and a rerun of
    the same merge grants the second."""
    world.add_request()
    second = world.example.path.replace(".yaml", "-second.yaml")
    world.repo.write(second, world.example.text)
    world.repo.commit(f"request {second}")
    number = world.pull()
    world.approve(number)
    sha = world.merge(number)
    injector = FaultInjector(fail_at=2, kind="server-error", op=SECOND_WRITE[world.example.mode])
    with no_retry_sleep(), instrument_clients(injector):
        code = world.apply(sha, monkeypatch)
    err = capsys.readouterr().err
    assert injector.failed_op is not None
    assert code == 3, err
    assert "jitflow: error: AWS" in err and "Traceback" not in err, err
    [record] = world.audit()
    assert record["event"] == "granted"
    message = world.repo.git("log", "-1", "--format=%B")
    assert "(stopped part-way)" in message and f"granted: {record['request']}" in message
    assert world.repo.git("status", "--porcelain", "audit").strip() == ""
    [comment] = world.fake.comments(number)
    assert "Granted" in comment.body

    assert world.apply(sha, monkeypatch) == 0  # the rerun grants the second request
    assert [r["event"] for r in world.audit()] == ["granted", "granted"]
    assert len(world.fake.comments(number)) == 2


def test_apply_over_a_broken_log_refuses_new_grants(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only revoke goes on over a log that does not verify (tests/test_cli_broken_log.py);
    a new grant waits until an admin repairs it: nothing in AWS, no record, no segment."""
    world.add_request()
    number = world.pull()
    world.approve(number)
    sha = world.merge(number)
    audit = world.repo.path / "audit"
    audit.mkdir()
    record = chain.next_record(None, at=datetime(2026, 11, 1, tzinfo=UTC), event="rejected",
                               details={"reason": "the truth"})
    forged = chain.dumps({**record, "reason": "something else"})  # does not hash to its hash
    (audit / "2026-11.jsonl").write_text(forged + "\n")
    assert world.apply(sha, monkeypatch) == 1
    err = capsys.readouterr().err
    assert "the audit log does not verify: new grants wait until an admin repairs it" in err
    assert "2026-11.jsonl:1: record was edited" in err
    assert aws.granted() == []
    assert sorted(p.name for p in audit.iterdir()) == ["2026-11.jsonl"]
    assert (audit / "2026-11.jsonl").read_text() == forged + "\n"
    assert world.fake.comments(number) == []


# -- the audit log's own branch (docs/threat-model.md, "The audit log's own branch") ----------

PUSH_SCRIPT = Path(__file__).resolve().parent.parent / ".github" / "scripts" / "push-audit.sh"
AUDIT_BRANCH = "jitflow-audit"


def with_origin(world: Merge, root: Path) -> Path:
    """A bare origin holding the repository's main, as the workflows' checkout has it."""
    origin = root / "origin.git"
    world.repo.git("init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    world.repo.git("remote", "add", "origin", str(origin))
    world.repo.git("push", "--quiet", "origin", "main")
    return origin


def push_audit(checkout: Path) -> None:
    """The workflows' push step: the audit checkout, pushed with the script."""
    done = subprocess.run(["bash", str(PUSH_SCRIPT)], env={**os.environ,
                          "JITFLOW_AUDIT_REPO": str(checkout)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_apply_records_on_the_audit_branch_and_never_on_main(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The first run creates the audit branch as an orphan checkout, records and commits there,
    and the push creates the branch; main gains nothing. The next run, in a checkout made from
    origin's branch, appends to the same chain, and a fresh clone verifies it from the branch.
    With a team-reading token, the run also writes the team snapshot beside the log."""
    origin = with_origin(world, tmp_path)
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN", "org-reader")  # a local run's team token
    first = tmp_path / "run-1" / "audit-log"
    world.add_request()
    number = world.pull()
    world.approve(number)
    sha = world.merge(number)
    assert world.apply(sha, monkeypatch, "--audit-repo", str(first)) == 0
    assert aws.granted() == GRANTED[world.example.mode]
    assert run_git(first, "symbolic-ref", "--short", "HEAD").strip() == AUDIT_BRANCH
    assert run_git(first, "rev-list", "--count", "HEAD").strip() == "1"  # an orphan
    assert sorted(run_git(first, "ls-tree", "-r", "--name-only", "HEAD").split()) == [
        f"audit/{datetime.now(UTC):%Y-%m}.jsonl", "teams.json"]
    snapshot = json.loads((first / "teams.json").read_text())
    # Every team the repository's policies name, as approvers or requesters; one GitHub does
    # not know has no members.
    assert set(snapshot["teams"]) == {"acme/data-platform", "acme/data-eng", "acme/ml-leads",
                                      "acme/security"}
    for team, members in world.example.teams.items():
        assert snapshot["teams"][f"acme/{team}"] == sorted(
            login for login, state in members.items() if state == "active")
    assert not (world.repo.path / "audit").exists()
    assert world.repo.git("log", "-1", "--format=%s", "main").startswith("Merge #")
    push_audit(first)
    assert world.repo.git("ls-remote", "--heads", str(origin)).count("refs/heads/") == 2

    # The deletion PR: a new run's checkout comes from origin's audit branch.
    world.repo.git("fetch", "--quiet", "origin")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(world.example.path)
    world.repo.commit("give my access back")
    second = tmp_path / "run-2" / "audit-log"
    assert world.apply(world.merge(world.pull()), monkeypatch, "--audit-repo", str(second)) == 0
    push_audit(second)
    clone = tmp_path / "fresh-clone"
    world.repo.git("clone", "--quiet", str(origin), str(clone))
    verified = subprocess.run([sys.executable, "-m", "jitflow", "audit", "verify"], cwd=clone,
                              capture_output=True, text=True, timeout=60, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact: 2 records" in verified.stdout
    assert f"audit log: {AUDIT_BRANCH}" not in verified.stdout  # where it read: on stderr
    assert f"origin/{AUDIT_BRANCH} (" in verified.stderr


def test_apply_beside_an_audit_branch_needs_its_checkout(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Records appended to the working tree while the log lives on its branch would fork the
    log: apply refuses before anything reaches AWS."""
    with_origin(world, tmp_path)
    world.repo.git("push", "--quiet", "origin", f"main:refs/heads/{AUDIT_BRANCH}")
    world.repo.git("fetch", "--quiet", "origin")
    world.add_request()
    number = world.pull()
    world.approve(number)
    assert world.apply(world.merge(number), monkeypatch) == 1
    assert "give a checkout of it with --audit-repo DIR" in capsys.readouterr().err
    assert aws.granted() == []
    assert not (world.repo.path / "audit").exists()


def test_the_team_token_is_read_from_secrets_manager_and_masked(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No workflow holds the team-reading token: apply reads it from the AWS Secrets Manager
    secret JITFLOW_TEAMS_TOKEN_SECRET names, with its own AWS credentials, and masks it."""
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = secrets.create_secret(Name="jitflow/teams-token",
                                SecretString="ghs_team-reader")["ARN"]
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN_SECRET", arn)  # its region, not AWS_REGION's
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with_origin(world, tmp_path)
    checkout = tmp_path / "audit-log"
    approved_sha = _approved_merge(world)
    assert world.apply(approved_sha, monkeypatch, "--audit-repo", str(checkout)) == 0
    assert "::add-mask::ghs_team-reader\n" in capsys.readouterr().out
    assert (checkout / "teams.json").is_file()  # written only with a team-reading token

    secrets.put_secret_value(SecretId=arn, SecretString=" ")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    world.repo.remove(world.example.path)
    world.repo.commit("give my access back")
    sha = world.merge(world.pull())
    assert world.apply(sha, monkeypatch, "--audit-repo", str(checkout)) == 3  # before AWS
    assert "holds no text" in capsys.readouterr().err
    assert aws.granted() == GRANTED[world.example.mode]


def _approved_merge(world: Merge) -> str:
    world.add_request()
    number = world.pull()
    world.approve(number)
    return world.merge(number)


def test_revoke_records_in_the_audit_checkout_and_needs_no_team_token(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Revoke records where apply did, refreshes the team snapshot with a team token, and goes
    on without one: a token it cannot read is a warning, never a reason to keep access."""
    with_origin(world, tmp_path)
    checkout = tmp_path / "audit-log"
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN", "org-reader")
    assert world.apply(_approved_merge(world), monkeypatch, "--audit-repo", str(checkout)) == 0
    snapshot = json.loads((checkout / "teams.json").read_text())
    monkeypatch.delenv("JITFLOW_TEAMS_TOKEN")
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN_SECRET", "jitflow/no-such-secret")
    capsys.readouterr()
    later = "2099-01-01T00:00:00Z"
    assert main(["revoke", "--repo", str(world.repo.path), "--commit", "--at", later,
                 "--audit-repo", str(checkout)]) == 0
    out, err = capsys.readouterr()
    assert "expired: " in out
    assert "warning: no team-reading token: AWS secretsmanager:GetSecretValue" in err
    assert [json.loads(line)["event"] for path in sorted((checkout / "audit").glob("*.jsonl"))
            for line in path.read_text().splitlines()] == ["granted", "expired"]
    assert run_git(checkout, "status", "--porcelain").strip() == ""  # committed there
    assert json.loads((checkout / "teams.json").read_text()) == snapshot  # not refreshed
    assert aws.granted() == []
    assert not (world.repo.path / "audit").exists()

    # With the token again, a membership change reaches the snapshot on the next run.
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN", "org-reader")
    world.fake.add_team("acme", "data-eng", {"newcomer": "active"})
    assert main(["revoke", "--repo", str(world.repo.path), "--commit", "--at", later,
                 "--audit-repo", str(checkout)]) == 0
    refreshed = json.loads((checkout / "teams.json").read_text())
    assert refreshed["teams"]["acme/data-eng"] == ["newcomer"]
    assert refreshed["taken_at"] == later
    assert run_git(checkout, "status", "--porcelain").strip() == ""


# ------------------------------------------------------------------------ break-glass
# Who may merge a break-glass request of each example: analytics-raw lists alice among its
# requesters; ml-models has no requesters, so only its approvers' teams (grace: ml-leads).
ELIGIBLE_MERGER = {"bucket-policy": "alice", "identity-policy": "grace"}
BREAK_GLASS = 'break_glass: {max_duration: 1h, reviewers: ["sam"], review_within: 24h}\n'


def break_glass_merge(world: Merge, merged_by: str) -> tuple[int, str]:
    """The example's policy allows break-glass (on main); alice's request uses it; the PR is
    merged by `merged_by` with no review at all."""
    policy = f"policies/{world.example.path.split('/')[1]}.yaml"
    world.repo.git("checkout", "--quiet", "main")
    kept = [line for line in (world.repo.path / policy).read_text().splitlines()
            if not line.startswith("break_glass:")]  # the example's own terms, replaced
    world.repo.write(policy, "\n".join(kept) + "\n" + BREAK_GLASS)
    world.repo.commit("allow break-glass")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")
    text = world.example.text.replace("duration: 2h", "duration: 1h") + "break_glass: true\n"
    world.repo.write(world.example.path, text)
    world.repo.commit("break-glass request")
    number = world.pull()
    world.repo.git("checkout", "--quiet", "main")
    world.repo.git("merge", "--quiet", "--no-ff", "-m", f"Merge #{number}", "pr")
    sha = world.repo.git("rev-parse", "HEAD").strip()
    world.fake.merge_pull(number, sha, "merge", merged_by=merged_by)
    return number, sha


def test_a_break_glass_request_is_granted_on_merge_by_one_of_the_policys_people(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    merger = ELIGIBLE_MERGER[world.example.mode]
    number, sha = break_glass_merge(world, merger)
    assert world.apply(sha, monkeypatch) == 0
    assert aws.granted() == GRANTED[world.example.mode]
    [record] = world.audit()
    terms = record["break_glass"]
    assert (terms["merged_by"], terms["reviewers"], record["approvers"]) == (merger, ["sam"], [])
    assert terms["review_due"] > record["time"]
    [comment] = world.fake.comments(number)
    assert "BREAK-GLASS" in comment.body and "@sam" in comment.body


def test_a_break_glass_request_merged_by_someone_outside_the_policy_grants_nothing(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    _number, sha = break_glass_merge(world, "mallory")
    assert world.apply(sha, monkeypatch) == 1
    assert aws.granted() == []
    [record] = world.audit()
    assert record["event"] == "rejected" and "mallory" in record["reason"]


def test_an_overdue_break_glass_review_fails_revoke_until_a_reviewer_approves(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    number, sha = break_glass_merge(world, ELIGIBLE_MERGER[world.example.mode])
    assert world.apply(sha, monkeypatch) == 0
    later = ["--at", (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")]
    revoke = ["revoke", "--repo", str(world.repo.path), "--commit", *later]
    capsys.readouterr()
    assert main(revoke) == 1
    assert "break-glass review overdue" in capsys.readouterr().err
    assert main(["status", "--repo", str(world.repo.path), *later]) == 1
    assert "OVERDUE" in capsys.readouterr().out

    world.fake.add_review(number, "alice", "APPROVED")  # the requester's own: never counts
    assert main(revoke) == 1
    world.fake.add_review(number, "sam", "APPROVED")
    assert main(revoke) == 0
    reviewed = [r for r in world.audit() if r["event"] == "break_glass_reviewed"]
    assert [(r["break_glass"]["reviewer"], r["pr"]) for r in reviewed] == [("sam", number)]
    assert "after its deadline" not in reviewed[0]["reason"]  # reviewed at real time, in time
    assert main(revoke) == 0  # settled for good


def test_github_out_of_reach_never_holds_back_the_commit_of_the_removals(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    _number, sha = break_glass_merge(world, ELIGIBLE_MERGER[world.example.mode])
    assert world.apply(sha, monkeypatch) == 0
    monkeypatch.setenv("GITHUB_API_URL", unreachable_url())
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    capsys.readouterr()
    code = main(["revoke", "--repo", str(world.repo.path), "--commit", "--no-reconcile",
                 "--at", later])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "break-glass reviews not checked on GitHub" in err
    assert [r["event"] for r in world.audit()][-1] == "expired"  # recorded ...
    assert world.repo.git("status", "--porcelain").strip() == ""  # ... and committed
    assert "jitflow revoke" in world.repo.git("log", "-1", "--format=%s")


# ---------------------------------------------------------------------- notifications
def notifying(world: Merge, url: str, key: str = "secret_env: HOOK_SECRET",
              more: str = "") -> None:
    """jitflow.yaml on main sends every event to a webhook at `url` signed with `key` (and
    to the targets `more` lists)."""
    world.repo.git("checkout", "--quiet", "main")
    text = (world.repo.path / "jitflow.yaml").read_text()
    world.repo.write("jitflow.yaml", text + "notifications:\n  expiring_soon: 30m\n  targets:\n"
                     f"    - {{type: webhook, url: '{url}', {key}}}\n{more}")
    world.repo.commit("notify")
    world.repo.git("checkout", "--quiet", "-B", "pr", "main")


def test_apply_and_revoke_notify_each_lifecycle_event_once_and_commit_the_outbox(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    with receiver(b"k") as hook:  # checks every signature and the schema
        notifying(world, hook.url)
        approved_and_granted(world, aws, monkeypatch)
        assert [r.headers[render.EVENT_HEADER] for r in hook.received] == ["approved", "granted"]
        expiry = parse_time(world.audit()[-1]["expiry"])
        revoke = ["revoke", "--repo", str(world.repo.path), "--commit", "--at"]
        soon = (expiry - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert main([*revoke, soon]) == 0
        assert main([*revoke, soon]) == 0  # a second run does not warn again
        hook.status = 500  # the receiver is down when the grant expires
        after = (expiry + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert main([*revoke, after]) == 0  # a failed notification never fails the run
        hook.status = 200
        assert main([*revoke, after]) == 0  # ... and the next run delivers it
    kinds = [r.headers[render.EVENT_HEADER] for r in hook.received]
    assert kinds == ["approved", "granted", "expiring_soon", "expired", "expired"]
    assert hook.received[3].body == hook.received[4].body
    assert hook.refused == []
    assert world.repo.git("status", "--porcelain").strip() == ""  # the outbox is committed
    statuses = [json.loads(line)["status"] for line in
                (world.repo.path / "audit" / "notifications.ndjson").read_text().splitlines()]
    assert statuses.count("failed") == 1 and statuses.count("delivered") == 4


FILES_OF_A_PULL = "/repos/{owner}/{repo}/pulls/{pull_number}/files"


def test_revoke_announces_each_request_an_open_pull_request_asks_for_once(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    with receiver(b"k") as hook:  # checks every signature and the schema
        notifying(world, hook.url)
        world.add_request()
        number = world.pull()
        world.fake.add_file_to_pull(number, world.example.path)
        world.fake.add_file_to_pull(number, "requests/README.md", status="modified")
        draft = world.fake.open_pull(author="bob", head_sha="d" * 40, base_sha="e" * 40,
                                     draft=True)
        world.fake.add_file_to_pull(draft, "requests/data-fix/bob-1.yaml")
        world.actions_env(monkeypatch, "f" * 40)
        revoke = ["revoke", "--repo", str(world.repo.path), "--commit"]
        assert main(revoke) == 0
        assert main(revoke) == 0  # the same head is not looked at, nor announced, again
        world.fake.pull(draft).draft = False  # marked ready for review
        assert main(revoke) == 0
    documents = [json.loads(r.body) for r in hook.received]
    assert [(d["event"], d["request"], d["pull_request"]["number"], d["requester"])
            for d in documents] == [
        ("requested", world.example.path.removeprefix("requests/").removesuffix(".yaml"),
         number, "alice"),
        ("requested", "data-fix/bob-1", draft, "bob")]
    assert documents[0]["pull_request"]["url"] == f"https://github.com/{REPOSITORY}/pull/{number}"
    assert hook.refused == []
    files_read = [s for s in world.fake.served if s.template == FILES_OF_A_PULL]
    assert [s.path.split("?")[0].split("/")[-2] for s in files_read] == [str(number), str(draft)]
    assert world.repo.git("status", "--porcelain").strip() == ""  # what was looked at: committed


def test_github_out_of_reach_costs_only_the_requested_events(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    with receiver(b"k") as hook:  # checks every signature and the schema
        notifying(world, hook.url)
        approved_and_granted(world, aws, monkeypatch)
        number = world.fake.open_pull(author="bob", head_sha="d" * 40, base_sha="e" * 40)
        world.fake.add_file_to_pull(number, "requests/data-fix/bob-1.yaml")
        reachable = os.environ["GITHUB_API_URL"]
        monkeypatch.setenv("GITHUB_API_URL", unreachable_url())
        after = (parse_time(world.audit()[-1]["expiry"]) + timedelta(minutes=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        revoke = ["revoke", "--repo", str(world.repo.path), "--commit", "--no-reconcile",
                  "--at", after]
        capsys.readouterr()
        assert main(revoke) == 0  # expired and announced, GitHub or not
        assert "open pull requests not read" in capsys.readouterr().err
        monkeypatch.setenv("GITHUB_API_URL", reachable)
        assert main(revoke) == 0  # ... and the next run polls again
    kinds = [r.headers[render.EVENT_HEADER] for r in hook.received]
    assert kinds == ["approved", "granted", "expired", "requested"]
    assert hook.refused == []


def test_in_the_workflows_the_notification_credentials_come_from_secrets_manager(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No environment variable holds the key: apply reads it from the secret the target
    names, with its own AWS credentials, and masks it; a Slack URL whose secret does not
    exist is a failed delivery in the committed outbox, and the grant goes through."""
    arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="jitflow/webhook-key", SecretString="k3y")["ARN"]
    gone = f"arn:aws:secretsmanager:us-east-1:{world.example.account}:secret:jitflow/slack-AbCdEf"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with receiver(b"k3y") as hook:  # checks every signature and the schema
        notifying(world, hook.url, f"secret_arn: '{arn}'",
                  f"    - {{type: slack, url_secret_arn: '{gone}'}}\n")
        approved_and_granted(world, aws, monkeypatch)  # exit 0, and granted
    assert [r.headers[render.EVENT_HEADER] for r in hook.received] == ["approved", "granted"]
    assert hook.refused == []
    assert "::add-mask::k3y\n" in capsys.readouterr().out
    lines = [json.loads(line) for line in
             (world.repo.path / "audit" / "notifications.ndjson").read_text().splitlines()]
    failed = [line for line in lines if line["status"] == "failed"]
    assert [line["target"] for line in failed] == [f"slack:{gone}"] * 2
    assert "secretsmanager:GetSecretValue" in failed[0]["error"]
    assert world.repo.git("status", "--porcelain").strip() == ""  # the outbox is committed


def test_a_break_glass_grant_announces_itself_instead_of_an_approval(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k")
    with receiver(b"k") as hook:  # checks every signature and the schema
        notifying(world, hook.url)
        _number, sha = break_glass_merge(world, ELIGIBLE_MERGER[world.example.mode])
        assert world.apply(sha, monkeypatch) == 0
    kinds = [r.headers[render.EVENT_HEADER] for r in hook.received]
    assert kinds == ["break_glass_used", "granted"]
    assert hook.refused == []
    assert json.loads(hook.received[0].body)["reviewers"] == ["sam"]


def test_apply_counts_team_approvals_live_whatever_the_snapshot_says(
    world: Merge, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The team snapshot on the audit branch, which the check counts from, may be stale or
    forged (anyone with write access can append to the branch): it says pete is a member.
    GitHub says his membership is pending: apply, asking GitHub, grants nothing."""
    team = "data-platform" if world.example.mode == "bucket-policy" else "ml-leads"
    world.fake.add_team("acme", team, {"pete": "pending"})
    with_origin(world, tmp_path)
    checkout = tmp_path / "audit-log"
    world.repo.git("checkout", "--quiet", "--orphan", AUDIT_BRANCH)
    world.repo.git("rm", "-r", "--quiet", "--cached", ".")
    world.repo.write("teams.json", json.dumps({
        "version": 1, "taken_at": "2026-11-30T08:00:00Z", "by": "a forger",
        "teams": {f"acme/{team}": ["pete"], "acme/security": ["erin"]}}))
    world.repo.git("add", "teams.json")
    world.repo.git("commit", "--quiet", "-m", "a snapshot")
    world.repo.git("push", "--quiet", "origin", AUDIT_BRANCH)
    world.repo.git("checkout", "--quiet", "--force", "pr")
    world.repo.git("fetch", "--quiet", "origin")
    world.add_request()
    number = world.pull()
    for login in ("pete",) if world.example.mode == "bucket-policy" else ("pete", "erin"):
        world.fake.add_review(number, login, "APPROVED")
    monkeypatch.setenv("JITFLOW_TEAMS_TOKEN", "org-reader")
    assert world.apply(world.merge(number), monkeypatch, "--audit-repo", str(checkout)) == 1
    assert aws.granted() == []
    records = [json.loads(line) for line in
               next((checkout / "audit").glob("*.jsonl")).read_text().splitlines()]
    assert [r["event"] for r in records] == ["rejected"]
    assert "not approved" in records[0]["reason"]
