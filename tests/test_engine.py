"""The grant engine against moto in-process (`mock_aws`), through the real jitflow.aws adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from jitflow import grants
from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts
from jitflow.cli import main
from jitflow.commands.support import actor_from_env
from jitflow.engine import Approval, Check, Engine, Outcome
from jitflow.errors import AwsError, Rejected
from jitflow.loader import load_and_check, load_policy_set
from jitflow.model import Policy, PolicySet, Request, Settings
from jitflow.plan import build_plan, document_sha256
from jitflow.tree import FsTree

# DeletePolicy answers DeleteConflict as IAM does (moto deletes an attached policy).
pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")

ACCOUNT = "123456789012"  # moto's default account
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/alice-data"

POLICY_YAML = f"""\
description: Raw analytics landing bucket
account: "{ACCOUNT}"
buckets: [analytics-raw]
prefixes: [clickstream/, backfill/]
actions: [s3:PutObject, s3:DeleteObject]
max_duration: 4h
approvers: ["erin"]
min_approvals: 1
"""
IDENTITIES_YAML = f"alice:\n  - {ROLE_ARN}\n  - arn:aws:iam::{ACCOUNT}:user/alice\n"


def request_yaml(prefix: str = "clickstream/2026/11/27/", duration: str = "2h",
                 principal: str = ROLE_ARN) -> str:
    return f"""\
requester: alice
principal: {principal}
reason: Backfill the clickstream partition after job 4411 failed
duration: {duration}
access:
  - bucket: analytics-raw
    prefix: {prefix}
    actions: [s3:PutObject]
"""


@dataclass
class FakeSource:
    """Approvals by request id; anything else is refused (fail closed)."""

    approved: dict[str, Approval] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def approve(self, request_id: str, pr: int = 7) -> None:
        self.approved[request_id] = Approval(request_id, ("erin",), pr, "c" * 40)

    def approval_for(self, request: Request, policy: Policy) -> Approval:
        self.asked.append(request.id)
        if request.id not in self.approved:
            raise Rejected(f"{request.id}: not approved")
        return self.approved[request.id]


@dataclass
class World:
    root: Path
    tree: FsTree
    settings: Settings
    accounts: Accounts
    audit: AuditLog
    source: FakeSource
    calls: list[str]

    def engine(self, dry_run: bool = False) -> Engine:
        return Engine(self.accounts, self.audit, self.settings, actor="local:test",
                      dry_run=dry_run)

    def policies(self) -> PolicySet:
        policy_set, problems = load_policy_set(self.tree)
        assert not problems, problems
        return policy_set

    def write_request(self, name: str, text: str) -> str:
        path = self.root / "requests" / "analytics-raw" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return f"analytics-raw/{name}"

    def request(self, name: str, text: str | None = None) -> tuple[Request, Policy]:
        if text is not None:
            self.write_request(name, text)
        policies = self.policies()
        request, problems = load_and_check(
            self.tree, f"requests/analytics-raw/{name}.yaml", policies)
        assert request is not None and not [p for p in problems if p.severity == "error"], problems
        return request, policies.policies["analytics-raw"]

    def events(self) -> list[tuple[str, str, bool]]:
        return [(r["event"], r["request"], r["reconciled"]) for r in self.audit.records()]

    def iam(self) -> Any:
        return boto3.client("iam", region_name="us-east-1")

    def jitflow_policies(self) -> list[dict[str, Any]]:
        return list(self.iam().list_policies(Scope="Local", PathPrefix="/jitflow/")["Policies"])

    def attached(self, role: str = "alice-data") -> list[str]:
        return [p["PolicyName"]
                for p in self.iam().list_attached_role_policies(RoleName=role)["AttachedPolicies"]]

    def iam_calls(self) -> list[str]:
        return [c for c in self.calls if c.startswith("iam.")]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "analytics-raw.yaml").write_text(POLICY_YAML)
    (tmp_path / "policies" / "identities.yaml").write_text(IDENTITIES_YAML)
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]})
        iam.create_role(RoleName="alice-data", AssumeRolePolicyDocument=trust)
        iam.create_user(UserName="alice")
        calls: list[str] = []
        session = boto3.Session()
        session.events.register(
            "before-call.*.*", lambda model, **_: calls.append(
                f"{model.service_model.endpoint_prefix}.{model.name}"))
        settings = Settings(admins=("@acme/security",), accounts={ACCOUNT: None})
        yield World(
            root=tmp_path, tree=FsTree(tmp_path), settings=settings,
            accounts=Accounts(settings, session=session, max_attempts=1),
            audit=AuditLog(tmp_path / "audit"), source=FakeSource(), calls=calls,
        )


# --- apply ------------------------------------------------------------------------------------


def test_apply_new_grant_in_three_iam_calls(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    outcome = world.engine().apply(request, policy, world.source, T0)

    assert outcome.action == "granted"
    assert world.iam_calls() == [
        "iam.ListAttachedRolePolicies", "iam.CreatePolicy", "iam.AttachRolePolicy"]
    expiry = T0 + timedelta(hours=2)
    assert outcome.policy_arn == grants.policy_arn(ACCOUNT, expiry, request.id)
    assert world.attached() == ["jitflow.analytics-raw.fix"]
    # The uploaded document is the plan's, and its tags carry the evidence.
    tags, version = world.accounts.iam(ACCOUNT).get_policy(outcome.policy_arn)
    parsed = grants.parse_tags(tags)
    plan = build_plan(request, policy, T0)
    assert parsed is not None
    assert (parsed.request, parsed.expiry, parsed.pr, parsed.approvers) == (
        request.id, expiry, 7, ("erin",))
    assert parsed.sha256 == document_sha256(plan.document_json())
    document = world.accounts.iam(ACCOUNT).get_document(outcome.policy_arn, version)
    assert document == plan.document_json()
    records = world.audit.records()
    assert [(r["event"], r["policy_arn"], r["expiry"], r["approvers"], r["actor"])
            for r in records] == [("granted", outcome.policy_arn, "2026-11-28T11:00:00Z",
                                   ["erin"], "local:test")]


def test_apply_to_a_user_principal(world: World) -> None:
    request, policy = world.request(
        "as-user", request_yaml(principal=f"arn:aws:iam::{ACCOUNT}:user/alice"))
    world.source.approve(request.id)
    world.engine().apply(request, policy, world.source, T0)
    attached = world.iam().list_attached_user_policies(UserName="alice")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["jitflow.analytics-raw.as-user"]


def test_no_approval_no_grant(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    with pytest.raises(Rejected, match="not approved"):
        world.engine().apply(request, policy, world.source, T0)
    assert world.iam_calls() == []
    assert world.jitflow_policies() == []


def test_approval_for_another_request_is_refused(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approved[request.id] = Approval("analytics-raw/other", ("erin",), 1, "c")
    with pytest.raises(Rejected, match="approval found is for"):
        world.engine().apply(request, policy, world.source, T0)
    assert world.jitflow_policies() == []


def test_reapply_is_a_noop_and_replay_after_revoke_is_refused(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    world.engine().apply(request, policy, world.source, T0)
    world.calls.clear()

    again = world.engine().apply(request, policy, world.source, T0 + timedelta(minutes=5))
    assert again.action == "unchanged"
    assert world.iam_calls() == ["iam.GetPolicy"]
    assert len(world.jitflow_policies()) == 1

    world.engine().revoke_request(request.id, "done early", T0 + timedelta(minutes=10))
    with pytest.raises(Rejected, match="no replay"):
        world.engine().apply(request, policy, world.source, T0 + timedelta(minutes=20))
    assert world.jitflow_policies() == []
    assert [e for e, _r, _c in world.events()] == ["granted", "early_revoked"]


def test_reapply_after_expiry_is_refused(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    world.engine().apply(request, policy, world.source, T0)
    with pytest.raises(Rejected, match="expired"):
        world.engine().apply(request, policy, world.source, T0 + timedelta(hours=3))


def test_reapply_of_a_changed_request_is_refused(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    world.engine().apply(request, policy, world.source, T0)
    wider, _ = world.request("fix", request_yaml(prefix="backfill/"))
    with pytest.raises(Rejected, match="changed since it was granted"):
        world.engine().apply(wider, policy, world.source, T0 + timedelta(minutes=1))


def test_quota_is_checked_before_creating(world: World) -> None:
    world.settings = replace(world.settings, attached_policy_quota=1)
    first, policy = world.request("one", request_yaml())
    second, _ = world.request("two", request_yaml(prefix="backfill/"))
    world.source.approve(first.id)
    world.source.approve(second.id)
    world.engine().apply(first, policy, world.source, T0)
    with pytest.raises(Rejected, match=r"already has 1 managed policies attached \(quota 1\)"):
        world.engine().apply(second, policy, world.source, T0)
    assert [p["PolicyName"] for p in world.jitflow_policies()] == ["jitflow.analytics-raw.one"]


def test_apply_requests_records_rejections_and_goes_on(world: World) -> None:
    good, policy = world.request("good", request_yaml())
    bad, _ = world.request("bad", request_yaml(prefix="backfill/"))
    world.source.approve(good.id)
    outcomes = world.engine().apply_requests([(bad, policy), (good, policy)], world.source, T0)
    assert [(o.action, o.request_id) for o in outcomes] == [
        ("rejected", bad.id), ("granted", good.id)]
    assert [(e, r) for e, r, _c in world.events()] == [("rejected", bad.id), ("granted", good.id)]


def test_dry_run_apply_changes_nothing(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    outcome = world.engine(dry_run=True).apply(request, policy, world.source, T0)
    assert (outcome.action, outcome.dry_run) == ("granted", True)
    assert outcome.text().startswith("would granted: analytics-raw/fix arn:aws:iam::")
    assert world.jitflow_policies() == []
    assert world.audit.records() == []


# --- revoke -----------------------------------------------------------------------------------


def _grant(world: World, name: str, prefix: str, duration: str = "2h",
           at: datetime = T0) -> Outcome:
    request, policy = world.request(name, request_yaml(prefix=prefix, duration=duration))
    world.source.approve(request.id)
    return world.engine().apply(request, policy, world.source, at)


def test_revoke_expired_only_touches_expired_grants(world: World) -> None:
    short = _grant(world, "short", "clickstream/a/", duration="1h")
    long = _grant(world, "long", "clickstream/b/", duration="3h")
    world.calls.clear()

    outcomes = world.engine().revoke(T0 + timedelta(hours=1))  # expiry <= now: expired
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", short.request_id)]
    # One list for the account; per expired grant: detach the recorded principal, delete.
    assert world.iam_calls() == [
        "iam.ListPolicies", "iam.DetachRolePolicy", "iam.DeletePolicy"]
    assert [p["Arn"] for p in world.jitflow_policies()] == [long.policy_arn]
    assert world.attached() == ["jitflow.analytics-raw.long"]
    expired = world.audit.records()[-1]
    assert (expired["event"], expired["requester"], expired["principal"], expired["pr"]) == (
        "expired", "alice", ROLE_ARN, 7)
    # Nothing left to do: a second run makes no change and writes nothing.
    assert world.engine().revoke(T0 + timedelta(hours=1)) == []
    assert len(world.audit.records()) == 3


def test_revoke_of_a_grant_held_by_someone_else_too_falls_back_to_listing(
        world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/", duration="1h")
    world.iam().attach_user_policy(UserName="alice", PolicyArn=granted.policy_arn)  # by hand
    world.calls.clear()
    outcomes = world.engine().revoke(T0 + timedelta(hours=1))
    assert [o.action for o in outcomes] == ["expired"]
    assert world.iam_calls() == [
        "iam.ListPolicies", "iam.DetachRolePolicy",
        "iam.DeletePolicy",  # DeleteConflict: the user still holds it
        "iam.ListEntitiesForPolicy", "iam.DetachUserPolicy", "iam.ListPolicyVersions",
        "iam.DeletePolicy"]
    assert world.jitflow_policies() == [] and world.attached() == []
    assert world.iam().list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []
    assert world.events() == [("granted", granted.request_id, False),
                              ("expired", granted.request_id, False)]


def test_revoke_of_a_grant_with_an_extra_version_deletes_the_version_first(
        world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/", duration="1h")
    world.iam().create_policy_version(
        PolicyArn=granted.policy_arn, SetAsDefault=False,
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                       '"Action":"s3:GetObject","Resource":"*"}]}')
    world.calls.clear()
    world.engine().revoke(T0 + timedelta(hours=1))
    assert world.iam_calls() == [
        "iam.ListPolicies", "iam.DetachRolePolicy", "iam.DeletePolicy",  # DeleteConflict
        "iam.ListEntitiesForPolicy", "iam.ListPolicyVersions", "iam.DeletePolicyVersion",
        "iam.DeletePolicy"]
    assert world.jitflow_policies() == [] and world.attached() == []


def test_revoke_without_an_open_record_lists_the_holders_first(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/", duration="1h")
    (world.root / "audit").rename(world.root / "audit-lost")  # the record is gone
    world.audit = AuditLog(world.root / "audit")
    world.calls.clear()
    world.engine().revoke(T0 + timedelta(hours=1))
    assert world.iam_calls() == [
        "iam.ListPolicies", "iam.ListEntitiesForPolicy", "iam.DetachRolePolicy",
        "iam.DeletePolicy"]
    assert world.jitflow_policies() == [] and world.attached() == []
    assert world.events() == [("expired", granted.request_id, False)]


def test_revoke_dry_run_changes_nothing(world: World) -> None:
    _grant(world, "short", "clickstream/a/", duration="1h")
    outcomes = world.engine(dry_run=True).revoke(T0 + timedelta(hours=2))
    assert [(o.action, o.dry_run) for o in outcomes] == [("expired", True)]
    assert len(world.jitflow_policies()) == 1
    assert [e for e, _r, _c in world.events()] == ["granted"]


def test_revoke_settles_a_grant_removed_without_its_record(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/", duration="1h")
    iam = world.iam()
    iam.detach_role_policy(RoleName="alice-data", PolicyArn=granted.policy_arn)
    iam.delete_policy(PolicyArn=granted.policy_arn)
    outcomes = world.engine().revoke(T0 + timedelta(hours=2))
    assert [o.action for o in outcomes] == ["expired"]
    assert world.events() == [("granted", granted.request_id, False),
                              ("expired", granted.request_id, True)]


def test_early_revoke(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/")
    outcome = world.engine().revoke_request(granted.request_id, "file deleted", T0)
    assert outcome.action == "early_revoked"
    assert world.jitflow_policies() == [] and world.attached() == []
    last = world.audit.records()[-1]
    assert (last["event"], last["reason"], last["policy_arn"]) == (
        "early_revoked", "file deleted", granted.policy_arn)
    again = world.engine().revoke_request(granted.request_id, "file deleted", T0)
    assert again.action == "none"
    assert len(world.audit.records()) == 2


def test_remove_handles_extra_versions_and_other_attachments(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/", duration="1h")
    iam = world.iam()
    iam.attach_user_policy(UserName="alice", PolicyArn=granted.policy_arn)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    iam.create_policy_version(PolicyArn=granted.policy_arn, PolicyDocument=doc,
                              SetAsDefault=False)
    world.engine().revoke(T0 + timedelta(hours=1))
    assert world.jitflow_policies() == []
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []


# --- faults: fail the Nth IAM call, rerun, converge ------------------------------------------


def _fail_nth_iam_call(world: World, n: int) -> None:
    count = {"iam": 0}

    def boom(model: Any, **_: Any) -> None:
        if model.service_model.endpoint_prefix == "iam":
            count["iam"] += 1
            if count["iam"] == n:
                raise EndpointConnectionError(endpoint_url="https://iam.amazonaws.com")

    world.accounts.session.events.register("before-call.iam.*", boom, unique_id="jitflow-boom")
    # A client copies the session's handlers when it is made, and Accounts caches its clients:
    # the failing run gets fresh ones, as a new process would.
    world.accounts = Accounts(world.settings, session=world.accounts.session, max_attempts=1)


def _stop_failing(world: World) -> None:
    world.accounts.session.events.unregister("before-call.iam.*", unique_id="jitflow-boom")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_apply_failing_at_any_call_converges_on_rerun(world: World, n: int) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    _fail_nth_iam_call(world, n)
    with pytest.raises(AwsError, match="failed"):
        world.engine().apply(request, policy, world.source, T0)
    assert world.audit.records() == []  # nothing recorded for something not done
    _stop_failing(world)
    world.accounts = Accounts(world.settings, session=world.accounts.session, max_attempts=1)
    outcome = world.engine().apply(request, policy, world.source, T0 + timedelta(minutes=1))
    assert outcome.action == "granted"
    assert world.attached() == ["jitflow.analytics-raw.fix"]
    assert world.events() == [("granted", request.id, False)]
    # Real IAM refuses a second policy of the same name (handled: remove the leftover, create
    # again); moto allows it, so a leftover may remain: unattached, it grants nothing, and the
    # sweep removes it at its expiry without recording a grant that never was.
    assert outcome.policy_arn in [p["Arn"] for p in world.jitflow_policies()]
    world.engine().revoke(T0 + timedelta(hours=3))
    assert world.jitflow_policies() == []
    assert world.events() == [("granted", request.id, False), ("expired", request.id, False)]


# Two expired grants: ListPolicies, then DetachRolePolicy + DeletePolicy each (5 calls).
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_revoke_failing_at_any_call_converges_on_rerun(world: World, n: int) -> None:
    _grant(world, "one", "clickstream/a/", duration="1h")
    _grant(world, "two", "clickstream/b/", duration="1h")
    world.calls.clear()
    now = T0 + timedelta(hours=1)
    _fail_nth_iam_call(world, n)
    with pytest.raises(AwsError):
        world.engine().revoke(now)
    _stop_failing(world)
    world.engine().revoke(now)
    assert world.jitflow_policies() == [] and world.attached() == []
    assert sorted(world.events()) == sorted([
        ("granted", "analytics-raw/one", False), ("granted", "analytics-raw/two", False),
        ("expired", "analytics-raw/one", False), ("expired", "analytics-raw/two", False)])


def test_crash_between_attach_and_record_is_adopted_not_granted_twice(world: World) -> None:
    request, policy = world.request("fix", request_yaml())
    world.source.approve(request.id)
    world.engine().apply(request, policy, world.source, T0)
    (world.root / "audit").rename(world.root / "audit-lost")  # the record never got written
    world.audit = AuditLog(world.root / "audit")
    outcome = world.engine().apply(request, policy, world.source, T0 + timedelta(minutes=3))
    assert outcome.action == "reconciled"
    assert len(world.jitflow_policies()) == 1
    record = world.audit.records()[0]
    assert (record["event"], record["reconciled"], record["expiry"]) == (
        "granted", True, "2026-11-28T11:00:00Z")  # the original expiry, not a new one


# --- reconcile --------------------------------------------------------------------------------


def _reconcile(world: World, at: datetime = T0) -> list[tuple[str, str, str]]:
    outcomes = world.engine().reconcile(world.tree, world.policies(), world.source, at)
    return [(o.action, o.request_id, o.detail) for o in outcomes]


def test_reconcile_keeps_legitimate_grants(world: World) -> None:
    _grant(world, "fix", "clickstream/a/")
    assert _reconcile(world) == []
    assert len(world.jitflow_policies()) == 1


def test_reconcile_revokes_a_grant_whose_request_file_is_gone(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/")
    (world.root / "requests" / "analytics-raw" / "fix.yaml").unlink()
    assert _reconcile(world) == [("orphan_revoked", granted.request_id,
                                  "no request file for it on main")]
    assert world.jitflow_policies() == [] and world.attached() == []
    assert world.events()[-1] == ("orphan_revoked", granted.request_id, False)


def test_reconcile_revokes_a_grant_whose_document_was_changed(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/")
    iam = world.iam()
    wide = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    iam.create_policy_version(PolicyArn=granted.policy_arn, PolicyDocument=wide,
                              SetAsDefault=True)
    assert _reconcile(world) == [("orphan_revoked", granted.request_id,
                                  "its document no longer matches its sha256 tag")]
    assert world.jitflow_policies() == []


def test_reconcile_revokes_untagged_and_malformed_policies(world: World) -> None:
    world.write_request("bare", request_yaml())
    iam = world.iam()
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})
    iam.create_policy(PolicyName="jitflow.analytics-raw.bare",
                      Path=grants.policy_path(T0 + timedelta(hours=1)), PolicyDocument=doc)
    iam.create_policy(PolicyName="sneaky", Path="/jitflow/", PolicyDocument=doc)
    found = sorted(_reconcile(world))
    assert found == [
        ("orphan_revoked", "", "not a jitflow grant name or path"),
        ("orphan_revoked", "analytics-raw/bare", "its evidence tags are missing or malformed"),
    ]
    assert world.jitflow_policies() == []


def test_reconcile_records_an_approved_grant_without_record(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/")
    (world.root / "audit").rename(world.root / "audit-lost")
    world.audit = AuditLog(world.root / "audit")
    assert _reconcile(world) == [("reconciled", granted.request_id,
                                  "approved grant without a record; record written")]
    assert world.events() == [("granted", granted.request_id, True)]
    assert len(world.jitflow_policies()) == 1


def test_reconcile_revokes_an_unrecorded_grant_without_approval(world: World) -> None:
    granted = _grant(world, "fix", "clickstream/a/")
    (world.root / "audit").rename(world.root / "audit-lost")
    world.audit = AuditLog(world.root / "audit")
    world.source.approved.clear()
    assert [a for a, _r, _d in _reconcile(world)] == ["orphan_revoked"]
    assert world.jitflow_policies() == []
    assert world.events() == [("orphan_revoked", granted.request_id, False)]


# --- status -----------------------------------------------------------------------------------


def test_status_lists_grants_and_problems(world: World) -> None:
    _grant(world, "fix", "clickstream/a/", duration="1h")
    _grant(world, "later", "clickstream/b/", duration="3h")
    (world.root / "requests" / "analytics-raw" / "later.yaml").unlink()
    rows = world.engine().status(T0 + timedelta(hours=2), world.tree, world.policies())
    by_request = {row.request_id: row for row in rows}
    assert by_request["analytics-raw/fix"].problems == ("expired but not yet revoked",)
    assert by_request["analytics-raw/later"].problems == ("orphan: no request file on main",)
    assert by_request["analytics-raw/fix"].principal == ROLE_ARN
    assert by_request["analytics-raw/fix"].access == (
        ("arn:aws:s3:::analytics-raw/clickstream/a/*", ("s3:PutObject",)),)


# --- the adapter ------------------------------------------------------------------------------


def test_caller_credentials_for_another_account_are_refused(world: World) -> None:
    settings = Settings(admins=(), accounts={"111122223333": None})
    with pytest.raises(AwsError, match="belong to account 123456789012"):
        Accounts(settings, session=world.accounts.session).iam("111122223333")


def test_other_accounts_are_reached_by_assuming_their_role(world: World) -> None:
    role = world.iam().create_role(
        RoleName="jitflow-grant",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    settings = Settings(admins=(), accounts={"210987654321": role})
    accounts = Accounts(settings, session=world.accounts.session)
    iam = accounts.iam("210987654321", "analytics-raw/fix")
    assert iam.list_jitflow_policies() == []
    assert "sts.AssumeRole" in world.calls
    with pytest.raises(AwsError, match="not configured"):
        accounts.iam("999999999999")


def test_clients_are_cached_one_per_run_in_the_own_account(world: World) -> None:
    accounts = Accounts(world.settings, session=world.accounts.session)
    first = accounts.iam(ACCOUNT, "analytics-raw/one")
    assert accounts.iam(ACCOUNT, "analytics-raw/two") is first  # no session name to keep
    assert accounts.iam(ACCOUNT, "revoke") is first
    assert world.calls.count("sts.GetCallerIdentity") == 1


def test_assumed_role_clients_are_cached_per_session_name(world: World) -> None:
    role = world.iam().create_role(
        RoleName="jitflow-grant",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    settings = Settings(admins=(), accounts={"210987654321": role})
    accounts = Accounts(settings, session=world.accounts.session)
    fix = accounts.iam("210987654321", "analytics-raw/fix")
    assert accounts.iam("210987654321", "analytics-raw/fix") is fix
    # Another request gets its own session name (jitflow-<request id> in CloudTrail).
    assert accounts.iam("210987654321", "analytics-raw/other") is not fix
    assert world.calls.count("sts.AssumeRole") == 2


def _total_attempts(accounts: Accounts) -> Any:
    config: Any = accounts.iam(ACCOUNT).client.meta.config  # the stubs omit `retries`
    return config.retries.get("total_max_attempts")


def test_max_attempts_comes_from_the_environment_unless_given(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's Config counts retries (total = n + 1); AWS_MAX_ATTEMPTS counts attempts.
    assert _total_attempts(Accounts(world.settings, session=boto3.Session())) == 6
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    assert _total_attempts(Accounts(world.settings, session=boto3.Session())) == 3
    explicit = Accounts(world.settings, session=boto3.Session(), max_attempts=1)
    assert _total_attempts(explicit) == 2


# --- one pass: expired + reconcile share one listing -----------------------------------------


def test_revoke_with_check_lists_once(world: World) -> None:
    _grant(world, "old", "clickstream/a/", duration="1h")
    _grant(world, "live", "clickstream/b/", duration="3h")
    world.calls.clear()
    check = Check(world.tree, world.policies(), world.source)
    outcomes = world.engine().revoke(T0 + timedelta(hours=2), check)
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", "analytics-raw/old")]
    assert world.iam_calls().count("iam.ListPolicies") == 1


# --- the commands -----------------------------------------------------------------------------


def _cli_repo(world: World) -> Path:
    (world.root / "jitflow.yaml").write_text(
        f'admins: ["@acme/security"]\naccounts:\n  "{ACCOUNT}": {{}}\n')
    world.write_request("fix", request_yaml())
    return world.root


def test_cli_apply_takes_no_request_paths(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    root = _cli_repo(world)
    code = main(["apply", "--repo", str(root), "requests/analytics-raw/fix.yaml"])
    assert code == 2
    assert "takes no request paths" in capsys.readouterr().err
    assert world.jitflow_policies() == [] and world.iam_calls() == []


def test_cli_revoke_and_status(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    root = _cli_repo(world)
    _grant(world, "fix", "clickstream/2026/11/27/", duration="1h")
    capsys.readouterr()

    assert main(["status", "--repo", str(root), "--at", "2026-11-28T09:30:00Z",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["request"], r["expires_in"], r["problems"]) for r in rows] == [
        ("analytics-raw/fix", "30m", [])]

    assert main(["revoke", "--repo", str(root), "--no-reconcile", "--dry-run",
                 "--at", "2026-11-28T10:00:00Z"]) == 0
    assert "would expired: analytics-raw/fix" in capsys.readouterr().out
    assert len(world.jitflow_policies()) == 1

    assert main(["revoke", "--repo", str(root), "--no-reconcile",
                 "--at", "2026-11-28T10:00:00Z"]) == 0
    assert world.jitflow_policies() == []
    assert [e for e, _r, _c in world.events()] == ["granted", "expired"]


def test_cli_revoke_over_a_broken_audit_log_still_removes_and_fails(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken log never blocks taking access away (jitflow.audit.segment): the only record
    is forged, so nothing before the break verifies; the expired grant goes all the same, its
    end is recorded in a marked segment, and the run fails (exit 1)."""
    root = _cli_repo(world)
    _grant(world, "fix", "clickstream/2026/11/27/", duration="1h")
    month = next((root / "audit").glob("*.jsonl"))
    month.write_text(month.read_text().replace('"alice"', '"mallory"'))
    code = main(["revoke", "--repo", str(root), "--no-reconcile", "--at", "2026-11-28T10:00:00Z"])
    assert code == 1
    assert "does not verify" in capsys.readouterr().err
    assert world.jitflow_policies() == []
    segment = (root / "audit" / "segment-1.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in segment] == ["chain_started", "expired"]
    assert json.loads(segment[0])["anchor"] == {"file": "", "line": 0, "seq": 0,
                                                "hash": "0" * 64}


def test_actor_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/access")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    assert actor_from_env() == "https://github.com/acme/access/actions/runs/42"
    monkeypatch.delenv("GITHUB_RUN_ID")
    assert actor_from_env().startswith("local:")


# --- a scheduled start --------------------------------------------------------------------

START = T0 + timedelta(days=2)


def _scheduled(world: World) -> Outcome:
    request, policy = world.request(
        "later", request_yaml().replace("duration: 2h\n",
                                        "duration: 2h\nnot_before: 2026-11-30T09:00:00Z\n"))
    world.source.approve(request.id)
    return world.engine().apply(request, policy, world.source, T0)


def test_a_scheduled_grant_is_written_now_and_starts_by_itself(world: World) -> None:
    outcome = _scheduled(world)
    assert (outcome.action, outcome.detail) == (
        "granted", "from 2026-11-30T09:00:00Z until 2026-11-30T11:00:00Z")
    assert "/jitflow/20261130T110000Z/" in outcome.policy_arn  # the sweep's expiry path
    version = world.iam().get_policy(PolicyArn=outcome.policy_arn)["Policy"]["DefaultVersionId"]
    document = world.iam().get_policy_version(PolicyArn=outcome.policy_arn,
                                              VersionId=version)["PolicyVersion"]["Document"]
    allow = document["Statement"][0]
    assert allow["Condition"]["DateGreaterThan"] == {"aws:CurrentTime": "2026-11-30T09:00:00Z"}
    record = world.audit.records()[-1]
    assert (record["starts"], record["expiry"]) == ("2026-11-30T09:00:00Z",
                                                    "2026-11-30T11:00:00Z")
    # The next apply of the same merge confirms it, and reconcile keeps it: its tags rebuild
    # the same plan from the recorded expiry and the request's not_before.
    assert _reconcile(world) == []


def _without_alice(world: World) -> PolicySet:
    (world.root / "policies" / "identities.yaml").write_text(
        f"bob:\n  - arn:aws:iam::{ACCOUNT}:user/bob\n")
    return world.policies()


def test_revoke_ends_a_grant_whose_person_left_before_its_start(world: World) -> None:
    granted = _scheduled(world)
    policies = _without_alice(world)
    engine = Engine(world.accounts, world.audit, world.settings, actor="t", policies=policies)
    outcomes = engine.revoke(T0 + timedelta(hours=1))
    assert [(o.action, o.request_id, o.detail) for o in outcomes] == [(
        "revoked", granted.request_id, "lost eligibility before its start at "
        "2026-11-30T09:00:00Z: alice is no longer in policies/identities.yaml")]
    assert world.jitflow_policies() == [] and world.attached() == []
    assert world.events()[-1] == ("revoked", granted.request_id, False)


def test_with_reconcile_the_rule_comes_first_and_the_grant_ends_once(world: World) -> None:
    granted = _scheduled(world)
    check = Check(world.tree, _without_alice(world), world.source)
    outcomes = world.engine().revoke(T0 + timedelta(hours=1), check)
    assert [(o.action, o.request_id) for o in outcomes] == [("revoked", granted.request_id)]


def test_once_started_the_grant_is_left_to_expire(world: World) -> None:
    _scheduled(world)
    engine = Engine(world.accounts, world.audit, world.settings, actor="t",
                    policies=_without_alice(world))
    assert engine.revoke(START + timedelta(seconds=1)) == []
    assert len(world.jitflow_policies()) == 1
