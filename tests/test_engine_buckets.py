"""Bucket-policy grants in the engine, over the in-memory IAM and S3 doubles and a real audit
log. What AWS then allows or denies is proven against the moto server in
test_aws_bucket_access.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow import bucketpolicy as bp
from jitflow.audit.record import AuditRecord
from jitflow.audit.store import AuditLog
from jitflow.engine import Check, Engine
from jitflow.errors import AwsError
from jitflow.model import AccessEntry, Identities, Identity, PolicySet, Settings
from jitflow.tree import FsTree
from testing.builders import ACCOUNT, T0, Approvals, make_policy, make_request
from testing.memory_iam import SAML_TRUST, MemoryAccounts, MemoryBuckets, MemoryIam

SHARED = f"arn:aws:iam::{ACCOUNT}:role/shared-data"
APPLY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
ALICE, BOB = "alice@acme.example", "bob@acme.example"
POLICY = make_policy(grant="bucket-policy", buckets=("lake", "other"),
                     actions=("s3:PutObject", "s3:DeleteObject"))
IDENTITIES = Identities({
    "alice": (Identity(SHARED, ALICE), Identity("permission-set/DataEngineer", ALICE, ACCOUNT)),
    "bob": (Identity(SHARED, BOB),),
})
FOREIGN = {"Sid": "Replication", "Effect": "Allow",
           "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/replicator"},
           "Action": "s3:ReplicateObject", "Resource": "arn:aws:s3:::lake/*"}
PRE_JITFLOW = json.dumps({"Version": "2012-10-17", "Id": "Theirs", "Statement": [FOREIGN]},
                         indent=4)
EXPIRY = T0 + timedelta(hours=2)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.iam = MemoryIam(ACCOUNT)
        self.iam.add_role("shared-data")
        self.s3 = MemoryBuckets(ACCOUNT, buckets={"lake", "other"})
        self.accounts = MemoryAccounts({ACCOUNT: self.iam}, {ACCOUNT: self.s3})
        self.log_dir = tmp_path / "audit"
        self.settings = Settings(admins=("@acme/security",), accounts={ACCOUNT: None},
                                 baseline_exempt={ACCOUNT: (APPLY_ROLE,)},
                                 jitflow_roles={ACCOUNT: (APPLY_ROLE,)})
        self.policies = PolicySet({"data-fix": POLICY}, IDENTITIES)

    def engine(self, policies: PolicySet | None = None, dry_run: bool = False) -> Engine:
        return Engine(self.accounts, AuditLog(self.log_dir), self.settings, "local:test",
                      dry_run=dry_run, policies=policies or self.policies)

    def grant(self, name: str = "fix", requester: str = "alice",
              prefix: str = "p/2026/", policy: Any = POLICY) -> str:
        request = make_request(name=name, requester=requester, principal=SHARED,
                               access=(AccessEntry("lake", prefix, ("s3:PutObject",)),))
        outcome = self.engine().apply(request, policy, Approvals(), T0)
        assert outcome.action == "granted", outcome
        return request.id

    def statements(self, bucket: str = "lake") -> list[dict[str, Any]]:
        return bp.statements_of(self.s3.document(bucket))

    def sids(self, bucket: str = "lake") -> list[str | None]:
        return [s.get("Sid") for s in self.statements(bucket)]

    def records(self) -> list[AuditRecord]:
        return [AuditRecord.from_json(r) for r in AuditLog(self.log_dir).records()]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_apply_writes_one_session_statement_and_records_the_role_id(world: World) -> None:
    world.grant()
    statement = world.statements()[0]
    role_id = world.iam.ids[("role", "shared-data")][1]
    assert statement["Sid"] == "JitflowGdataHfixSfixE1O"
    assert statement["Condition"] == {
        "DateLessThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
        "StringEquals": {"aws:userid": f"{role_id}:{ALICE}"}}
    assert world.iam.calls == ["GetRole"]
    assert world.s3.calls == ["GetBucketPolicy lake", "PutBucketPolicy lake",
                              "GetBucketPolicy lake"]
    (record,) = world.records()
    assert (record.event, record.grant_mode, record.session, record.role_id) == (
        "granted", "bucket-policy", ALICE, role_id)
    assert record.buckets is not None and record.buckets[0].sids == (statement["Sid"],)


def test_foreign_statements_stay_and_two_grants_keep_each_other(world: World) -> None:
    world.s3.policies["lake"] = PRE_JITFLOW
    alice, bob = world.grant("fix"), world.grant("bobs", requester="bob", prefix="p/bob/")
    assert world.sids() == ["Replication", bp.grant_sid(alice, 1, "O"), bp.grant_sid(bob, 1, "O")]
    assert world.statements()[0] == FOREIGN
    assert world.s3.document("lake")["Id"] == "Theirs"  # type: ignore[index]


def test_a_rerun_changes_nothing(world: World) -> None:
    world.grant()
    before = dict(world.s3.policies)
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))
    again = world.engine().apply(request, POLICY, Approvals(), T0 + timedelta(minutes=5))
    assert again.action == "unchanged" and world.s3.policies == before
    assert len(world.records()) == 1


def test_expiry_removes_only_its_statements_and_restores_the_policy(world: World) -> None:
    world.s3.policies["lake"] = PRE_JITFLOW
    world.grant()
    outcomes = world.engine().revoke(EXPIRY)
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", "data-fix/fix")]
    assert world.s3.document("lake") == json.loads(PRE_JITFLOW)
    assert [r.event for r in world.records()] == ["granted", "expired"]


def test_a_bucket_without_a_policy_before_has_none_after(world: World) -> None:
    world.grant()
    world.engine().revoke(EXPIRY)
    assert "lake" not in world.s3.policies
    assert world.s3.calls[-2:] == ["DeleteBucketPolicy lake", "GetBucketPolicy lake"]


def test_revoke_costs_three_calls_per_bucket_touched_not_per_grant(world: World) -> None:
    for index in range(5):
        world.grant(f"g{index}", prefix=f"p/{index}/")
    world.s3.calls.clear()
    outcomes = world.engine().revoke(EXPIRY)
    assert len(outcomes) == 5
    assert world.s3.calls == ["GetBucketPolicy lake", "GetBucketPolicy other",
                              "DeleteBucketPolicy lake", "GetBucketPolicy lake"]


def test_nothing_is_removed_one_second_before_the_expiry(world: World) -> None:
    world.grant()
    before = dict(world.s3.policies)
    assert world.engine().revoke(EXPIRY - timedelta(seconds=1)) == []
    assert world.s3.policies == before


def test_early_revoke_removes_the_grant_at_once(world: World) -> None:
    world.s3.policies["lake"] = PRE_JITFLOW
    world.grant()
    outcome = world.engine().revoke_request("data-fix/fix", "done", T0 + timedelta(minutes=30))
    assert outcome.action == "early_revoked" and outcome.buckets == ("lake",)
    assert world.s3.document("lake") == json.loads(PRE_JITFLOW)


def test_a_statement_changed_in_aws_is_removed_as_drift(world: World) -> None:
    world.grant()
    document = world.s3.document("lake")
    assert document is not None
    document["Statement"][0]["Resource"] = "arn:aws:s3:::lake/*"  # widened by hand
    world.s3.policies["lake"] = json.dumps(document)
    outcomes = world.engine().revoke(T0 + timedelta(minutes=1))
    assert [(o.action, o.detail) for o in outcomes] == [
        ("orphan_revoked", "its statements in bucket lake changed since they were granted")]
    assert "lake" not in world.s3.policies


def test_an_unrecorded_jitflow_statement_is_swept_by_reconcile(
    world: World, tmp_path: Path
) -> None:
    forged = bp.grant_statements(make_request(name="forged", principal=SHARED),
                                 bp.Subject(SHARED, ACCOUNT), EXPIRY)["b"]
    world.s3.policies["lake"] = json.dumps({"Statement": [FOREIGN, *forged]})
    assert world.engine().revoke(T0) == []  # without the default branch: kept, not judged
    check = Check(FsTree(tmp_path), world.policies, Approvals())
    outcomes = world.engine().revoke(T0, check)
    assert [(o.action, o.detail) for o in outcomes] == [
        ("orphan_revoked", "no request file for it on main")]
    assert world.sids() == ["Replication"]


def test_over_a_forged_log_revoke_removes_expired_and_forged_statements(
    world: World, tmp_path: Path
) -> None:
    """The log breaks at a forged `granted` record for forged statements: revoke trusts only
    the records before the break, removes the expired grant and the forged statements, and
    records both in a marked segment (jitflow.audit.segment)."""
    expired = world.grant()
    later = T0 + timedelta(hours=8)
    forged = bp.grant_statements(make_request(name="forged", principal=SHARED),
                                 bp.Subject(SHARED, ACCOUNT), later)["b"]
    world.s3.policies["lake"] = json.dumps(
        {"Statement": [*world.statements(), *forged]})
    month = next(world.log_dir.glob("*.jsonl"))
    record = json.loads(month.read_text().splitlines()[-1])
    claim = {**record, "seq": 2, "prev_hash": record["hash"], "request": "data-fix/forged"}
    month.write_text(month.read_text() + json.dumps(claim) + "\n")  # its hash is record's
    engine = Engine(world.accounts, AuditLog(world.log_dir).for_removals(), world.settings,
                    "local:test", policies=world.policies)
    outcomes = engine.revoke(EXPIRY, Check(FsTree(tmp_path), world.policies, Approvals()))
    assert [(o.action, o.request_id) for o in outcomes] == [
        ("expired", expired), ("orphan_revoked", "data-fix/forged")]
    assert "lake" not in world.s3.policies
    segment = [json.loads(line)
               for line in (world.log_dir / "segment-1.jsonl").read_text().splitlines()]
    assert [(r["event"], r["request"]) for r in segment] == [
        ("chain_started", None), ("expired", expired), ("orphan_revoked", "data-fix/forged")]


def test_a_grant_that_does_not_fit_changes_nothing(world: World) -> None:
    filler = [dict(FOREIGN, Sid=f"S{i}") for i in range(200)]
    while bp.size_of({"Statement": filler}) > bp.BUCKET_POLICY_LIMIT - 100:
        filler.pop()  # a policy S3 accepts, with less room left than one grant needs
    world.s3.policies["lake"] = bp.to_json({"Statement": filler})
    before = dict(world.s3.policies)
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    outcomes = world.engine().apply_requests([(request, POLICY)], Approvals(), T0)
    assert outcomes[0].action == "rejected" and "20,480" in outcomes[0].detail
    assert world.s3.policies == before
    assert not [c for c in world.s3.calls if c.startswith("Put")]


def test_a_concurrent_writer_fails_the_run_and_a_rerun_converges(world: World) -> None:
    def someone_else(bucket: str) -> None:
        world.s3.policies[bucket] = PRE_JITFLOW  # overwrote ours right after our put
        world.s3.after_put = None

    world.s3.after_put = someone_else
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    with pytest.raises(AwsError, match="read back"):
        world.engine().apply(request, POLICY, Approvals(), T0)
    assert world.records() == []
    assert world.engine().apply(request, POLICY, Approvals(), T0).action == "granted"
    assert world.sids() == ["Replication", "JitflowGdataHfixSfixE1O"]


def test_a_sweep_stopped_by_a_bucket_records_the_grants_removed_before(world: World) -> None:
    """Each changed bucket is written once, then the grants are recorded; when a bucket's
    write fails, the grants whose buckets were all written are recorded before the run stops
    (the one in the failed bucket is left to the rerun)."""
    lake = world.grant()
    request = make_request(name="elsewhere", principal=SHARED,
                           access=(AccessEntry("other", "p/", ("s3:PutObject",)),))
    assert world.engine().apply(request, POLICY, Approvals(), T0).action == "granted"
    theirs = {**FOREIGN, "Resource": "arn:aws:s3:::other/*"}  # so "other" takes a Put
    world.s3.policies["other"] = json.dumps(
        {**json.loads(world.s3.policies["other"]),
         "Statement": [*world.statements("other"), theirs]})
    world.s3.fail["PutBucketPolicy"] = AwsError("AWS s3:PutBucketPolicy failed: InternalError")
    with pytest.raises(AwsError, match="PutBucketPolicy"):
        world.engine().revoke(EXPIRY)
    assert "lake" not in world.s3.policies  # lake was written (deleted) before other failed
    assert [(r.event, r.request) for r in world.records()][2:] == [("expired", lake)]
    assert [o.action for o in world.engine().revoke(EXPIRY)] == ["expired"]  # the rerun
    assert [(r.event, r.request) for r in world.records()][2:] == [
        ("expired", lake), ("expired", request.id)]


def test_a_permission_set_resolves_to_its_one_identity_center_role(world: World) -> None:
    world.iam.add_role("AWSReservedSSO_DataEngineer_0123456789abcdef",
                       path="/aws-reserved/sso.amazonaws.com/eu-west-1/", trust=SAML_TRUST)
    world.iam.add_role("AWSReservedSSO_DataEngineerX_0123456789abcdef",
                       path="/aws-reserved/sso.amazonaws.com/")
    request = make_request(principal="permission-set/DataEngineer",
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    assert world.engine().apply(request, POLICY, Approvals(), T0).action == "granted"
    role_id = world.iam.ids[("role", "AWSReservedSSO_DataEngineer_0123456789abcdef")][1]
    condition = world.statements()[0]["Condition"]
    assert condition["StringEquals"] == {"aws:userid": f"{role_id}:{ALICE}"}
    assert world.statements()[0]["Principal"] == {"AWS": "*"}


def test_a_permission_set_not_in_the_account_is_refused(world: World) -> None:
    request = make_request(principal="permission-set/DataEngineer",
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    outcome = world.engine().apply_requests([(request, POLICY)], Approvals(), T0)[0]
    assert outcome.action == "rejected" and "has 0 roles" in outcome.detail
    assert world.s3.policies == {}


def test_a_principal_in_another_account_is_refused(world: World) -> None:
    request = make_request(principal="arn:aws:iam::444455556666:role/elsewhere",
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    outcome = world.engine().apply_requests([(request, POLICY)], Approvals(), T0)[0]
    assert outcome.action == "rejected" and "identity-side grant" in outcome.detail


# --- the read-only baseline ---------------------------------------------------------------------

GUARDED = replace(POLICY, enforce_read_only=True,
                  standing_writers=(f"arn:aws:iam::{ACCOUNT}:role/etl",))


def baseline(world: World) -> dict[str, Any]:
    return next(s for s in world.statements() if s["Sid"] == "JitflowBaselinedataHfix")


def test_the_baseline_exempts_the_granted_session_until_its_grant_ends(world: World) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    world.grant(policy=GUARDED)
    role_id = world.iam.ids[("role", "shared-data")][1]
    assert baseline(world)["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": sorted([APPLY_ROLE,
                                                     f"arn:aws:iam::{ACCOUNT}:role/etl"])},
        "StringNotEquals": {"aws:userid": [f"{role_id}:{ALICE}"]}}
    world.engine().revoke(EXPIRY)
    assert world.sids() == ["JitflowBaselinedataHfix"]
    assert "StringNotEquals" not in baseline(world)["Condition"]
    assert world.s3.document("other") is not None  # the baseline covers every bucket


def test_a_baseline_without_jitflow_roles_refuses_the_grant_but_never_the_revoke(
    world: World
) -> None:
    world.policies = PolicySet({"data-fix": POLICY}, IDENTITIES)
    world.grant()  # granted before the policy turned the baseline on
    # Only the break-glass role declared: jitflow's own roles would be denied.
    world.settings = replace(world.settings, jitflow_roles={},
                             baseline_exempt={ACCOUNT: ("arn:aws:iam::1:role/BreakGlass",)})
    guarded = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    request = make_request(name="later", principal=SHARED,
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    refused = world.engine(guarded).apply_requests([(request, GUARDED)], Approvals(), T0)[0]
    assert refused.action == "rejected" and "lock jitflow out" in refused.detail
    outcomes = world.engine(guarded).revoke(EXPIRY)
    assert {o.action for o in outcomes} == {"expired", "baseline_skipped"}
    assert "lake" not in world.s3.policies


def test_a_baseline_goes_when_its_policy_no_longer_asks_for_it(world: World) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    world.grant(policy=GUARDED)
    world.engine(PolicySet({"data-fix": POLICY}, IDENTITIES)).revoke(EXPIRY)
    assert "lake" not in world.s3.policies


def test_status_shows_the_session_and_who_the_baseline_exempts(world: World) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    world.grant(policy=GUARDED)
    rows = [r for r in world.engine().status(T0) if r.bucket == "lake"]
    grant, guard = rows
    assert (grant.request_id, grant.session, grant.expiry, grant.problems) == (
        "data-fix/fix", ALICE, EXPIRY, ())
    assert APPLY_ROLE in guard.exempts and any(ALICE in e for e in guard.exempts)


def test_statements_gone_from_aws_get_their_record(world: World) -> None:
    world.grant()
    world.s3.policies.clear()
    outcomes = world.engine().revoke(T0 + timedelta(minutes=1))
    assert [(o.action, o.detail) for o in outcomes] == [
        ("revoked", "no longer in AWS; record written")]
    assert world.records()[-1].reconciled


def test_an_approved_grant_without_its_record_is_recorded_and_stays_exempt(
    world: World, tmp_path: Path
) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    request_file = tmp_path / "branch" / "requests" / "data-fix" / "fix.yaml"
    request_file.parent.mkdir(parents=True)
    request_file.write_text(
        f"requester: alice\nprincipal: {SHARED}\nreason: Backfill after job 4411 failed\n"
        "duration: 2h\naccess:\n  - bucket: lake\n    prefix: p/2026/\n"
        "    actions: [s3:PutObject]\n")
    role_id = world.iam.ids[("role", "shared-data")][1]
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))
    granted = bp.grant_statements(request, bp.Subject(SHARED, ACCOUNT, ALICE, role_id), EXPIRY)
    world.s3.policies["lake"] = json.dumps({"Statement": granted["lake"]})  # the log lost it
    check = Check(FsTree(tmp_path / "branch"), world.policies, Approvals())
    outcomes = world.engine().revoke(T0, check)
    assert [(o.action, o.request_id) for o in outcomes] == [("reconciled", "data-fix/fix")]
    (record,) = world.records()
    assert (record.event, record.reconciled, record.role_id) == ("granted", True, role_id)
    assert baseline(world)["Condition"]["StringNotEquals"] == {"aws:userid": [f"{role_id}:{ALICE}"]}
    assert world.engine().revoke(T0, check) == []  # recorded now: nothing more to do


def test_an_early_revoke_of_a_bucket_grant_never_asks_iam(world: World) -> None:
    """A bucket-policy account's roles may not list IAM policies: deleting the file of a
    request whose grant already ended is answered from the log and the bucket alone."""
    world.grant()
    world.engine().revoke(EXPIRY)
    world.iam.calls.clear()
    outcome = world.engine().revoke_request("data-fix/fix", "file deleted", EXPIRY)
    assert outcome.action == "none" and world.iam.calls == []


def test_a_bucket_that_does_not_exist_refuses_the_grant_and_never_stops_the_sweep(
    world: World
) -> None:
    world.grant()
    world.s3.buckets.discard("other")  # a policy names a bucket that is not (or no longer) there
    outcomes = world.engine().revoke(EXPIRY)
    assert sorted((o.action, o.buckets) for o in outcomes) == [
        ("bucket_missing", ("other",)), ("expired", ("lake",))]
    request = make_request(name="later", principal=SHARED,
                           access=(AccessEntry("other", "p/", ("s3:PutObject",)),))
    refused = world.engine().apply_requests([(request, POLICY)], Approvals(), EXPIRY)[0]
    assert refused.action == "rejected" and "bucket other does not exist" in refused.detail


def test_a_shared_role_whose_callers_pick_their_session_name_is_refused(world: World) -> None:
    """On a role anyone may assume under any session name, `<RoleId>:alice` names no one:
    bob could call his session alice. The role's trust must pin the session name."""
    world.iam.trusts["shared-data"] = {"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]}
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/", ("s3:PutObject",)),))
    refused = world.engine().apply_requests([(request, POLICY)], Approvals(), T0)[0]
    assert refused.action == "rejected"
    assert "chooses the session name" in refused.detail
    assert "without pinning sts:RoleSessionName to ${aws:username}" in refused.detail
    assert world.s3.policies == {}


def test_a_statement_added_while_the_apply_writes_another_bucket_is_kept(world: World) -> None:
    """Between reading `other` and writing it, the apply writes `lake`: someone adds a
    statement to `other` meanwhile. It is read again before the put, and kept."""
    def someone_else(bucket: str) -> None:
        if bucket == "lake":
            world.s3.policies["other"] = PRE_JITFLOW
    world.s3.after_put = someone_else
    request = make_request(principal=SHARED, access=(
        AccessEntry("lake", "p/", ("s3:PutObject",)),
        AccessEntry("other", "p/", ("s3:PutObject",))))
    assert world.engine().apply(request, POLICY, Approvals(), T0).action == "granted"
    assert world.sids("other") == ["Replication", "JitflowGdataHfixSfixE2O"]
    assert world.s3.calls.count("GetBucketPolicy other") == 3  # read, read again, read back
    assert world.s3.calls.count("GetBucketPolicy lake") == 2  # nothing happened in between


def _request_on_branch(tmp_path: Path, buckets: tuple[str, ...] = ("lake",),
                       not_before: str = "") -> FsTree:
    request_file = tmp_path / "branch" / "requests" / "data-fix" / "fix.yaml"
    request_file.parent.mkdir(parents=True, exist_ok=True)
    entries = "".join(f"  - bucket: {b}\n    prefix: p/2026/\n    actions: [s3:PutObject]\n"
                      for b in buckets)
    start = f"not_before: {not_before}\n" if not_before else ""
    request_file.write_text(f"requester: alice\nprincipal: {SHARED}\n"
                            f"reason: Backfill after job 4411 failed\nduration: 2h\n{start}"
                            f"access:\n{entries}")
    return FsTree(tmp_path / "branch")


def test_statements_with_a_later_expiry_than_any_apply_are_not_adopted(
    world: World, tmp_path: Path
) -> None:
    """An approved request never applied: someone writes its exact statements, but to
    last a year. Reconcile refuses to adopt them as approved."""
    role_id = world.iam.ids[("role", "shared-data")][1]
    request = make_request(principal=SHARED,
                           access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))
    forged = bp.grant_statements(request, bp.Subject(SHARED, ACCOUNT, ALICE, role_id),
                                 T0 + timedelta(days=365))
    world.s3.policies["lake"] = json.dumps({"Statement": forged["lake"]})
    check = Check(_request_on_branch(tmp_path), world.policies, Approvals())
    outcomes = world.engine().revoke(T0, check)
    assert [(o.action, o.detail) for o in outcomes] == [("orphan_revoked", (
        "its expiry is later than the request's duration from any apply so far"))]
    assert "lake" not in world.s3.policies


def test_an_approved_apply_that_failed_half_way_is_kept_for_its_rerun(
    world: World, tmp_path: Path
) -> None:
    request = make_request(principal=SHARED, access=(
        AccessEntry("lake", "p/2026/", ("s3:PutObject",)),
        AccessEntry("other", "p/2026/", ("s3:PutObject",))))
    world.s3.fail["PutBucketPolicy"] = AwsError("AWS s3:PutBucketPolicy failed: SlowDown")
    world.s3.after_put = lambda bucket: world.s3.fail.update(
        {"PutBucketPolicy": AwsError("AWS s3:PutBucketPolicy failed: SlowDown")})
    world.s3.fail.clear()  # the first put succeeds, the second fails
    with pytest.raises(AwsError):
        world.engine().apply(request, POLICY, Approvals(), T0)
    assert world.sids("lake") and "other" not in world.s3.policies and world.records() == []
    world.s3.after_put = None
    check = Check(_request_on_branch(tmp_path, ("lake", "other")), world.policies, Approvals())
    assert world.engine().revoke(T0 + timedelta(minutes=5), check) == []  # kept, not revoked
    assert world.sids("lake")
    rerun = world.engine().apply(request, POLICY, Approvals(), T0 + timedelta(minutes=6))
    assert rerun.action == "granted" and world.sids("other")


def test_a_record_ending_a_grant_measures_the_policy_it_left(world: World) -> None:
    """The next size budget counts from what is there now, not from the grant's time."""
    world.s3.policies["lake"] = PRE_JITFLOW
    world.grant()
    world.engine().revoke(EXPIRY)
    granted, expired = world.records()
    assert granted.buckets is not None and expired.buckets is not None
    assert expired.buckets[0].policy_bytes == len(world.s3.policies["lake"].encode())
    assert expired.buckets[0].policy_bytes < granted.buckets[0].policy_bytes


def test_an_early_revoke_goes_on_when_one_of_its_buckets_is_gone(world: World) -> None:
    request = make_request(principal=SHARED, access=(
        AccessEntry("lake", "p/", ("s3:PutObject",)),
        AccessEntry("other", "p/", ("s3:PutObject",))))
    world.engine().apply(request, POLICY, Approvals(), T0)
    world.s3.buckets.discard("other")
    outcome = world.engine().revoke_request(request.id, "done", T0 + timedelta(minutes=1))
    assert outcome.action == "early_revoked" and outcome.buckets == ("lake",)
    assert "lake" not in world.s3.policies


# --- a scheduled start --------------------------------------------------------------------

START = T0 + timedelta(days=2)


def _scheduled(world: World, name: str = "fix") -> str:
    request = make_request(name=name, principal=SHARED, not_before=START,
                           access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))
    outcome = world.engine().apply(request, GUARDED, Approvals(), T0)
    assert (outcome.action, outcome.detail) == (
        "granted", "from 2026-11-30T09:00:00Z until 2026-11-30T11:00:00Z")
    return request.id


def test_a_scheduled_grant_is_recorded_with_its_start_and_held_off_until_then(
    world: World
) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    _scheduled(world)
    (record,) = world.records()
    assert (record.starts, record.expiry) == ("2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z")
    grant = next(s for s in world.statements() if bp.parse_grant_sid(s["Sid"]))
    assert grant["Condition"]["DateGreaterThan"] == {"aws:CurrentTime": "2026-11-30T09:00:00Z"}
    held = next(s for s in world.statements() if s["Sid"] == "JitflowBaselinedataHfixU1S")
    assert held["Condition"]["DateLessThanEquals"] == {"aws:CurrentTime": "2026-11-30T09:00:00Z"}
    # Once it has started, the sweep's baseline no longer needs the hold before the start.
    assert world.engine().revoke(START + timedelta(minutes=1)) == []
    assert "JitflowBaselinedataHfixU1S" not in world.sids()
    assert "JitflowBaselinedataHfixU1T" in world.sids()


def test_two_windows_of_one_person_leave_the_gap_between_them_held_off(world: World) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    world.grant(policy=GUARDED)  # T0 to T0 + 2h, started
    _scheduled(world, "later")  # two days later
    gap = next(s for s in world.statements() if s["Sid"] == "JitflowBaselinedataHfixU1G1")
    assert gap["Condition"]["DateGreaterThanEquals"] == {"aws:CurrentTime": "2026-11-28T11:00:00Z"}
    assert gap["Condition"]["DateLessThanEquals"] == {"aws:CurrentTime": "2026-11-30T09:00:00Z"}
    assert "JitflowBaselinedataHfixU1S" not in world.sids()  # one of its grants has begun


def test_a_person_removed_before_the_start_loses_the_grant_at_the_next_revoke(
    world: World
) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    rid = _scheduled(world)
    alice_gone = PolicySet({"data-fix": GUARDED}, Identities({"bob": IDENTITIES.principals["bob"]}))
    outcomes = world.engine(alice_gone).revoke(T0 + timedelta(hours=1))
    assert [(o.action, o.request_id, o.detail) for o in outcomes] == [(
        "revoked", rid, "lost eligibility before its start at 2026-11-30T09:00:00Z: alice is no "
        "longer in policies/identities.yaml")]
    assert not any(bp.parse_grant_sid(s["Sid"]) for s in world.statements())
    assert "StringNotEquals" not in baseline(world)["Condition"]  # no longer exempt either
    assert world.records()[-1].event == "revoked"


@pytest.mark.parametrize(("at", "ended"), [(START - timedelta(seconds=1), True),
                                          (START, False), (START + timedelta(hours=1), False)])
def test_a_requester_dropped_from_the_policy_loses_only_a_grant_not_yet_started(
    world: World, at: datetime, ended: bool
) -> None:
    world.policies = PolicySet({"data-fix": GUARDED}, IDENTITIES)
    rid = _scheduled(world)
    not_a_requester = PolicySet({"data-fix": replace(GUARDED, requesters=("bob",))}, IDENTITIES)
    outcomes = world.engine(not_a_requester).revoke(at)
    assert [(o.action, o.request_id) for o in outcomes] == ([("revoked", rid)] if ended else [])
    assert any(bp.parse_grant_sid(s["Sid"]) for s in world.statements()) is not ended


def test_an_unrecorded_scheduled_grant_is_adopted_when_it_matches_its_request(
    world: World, tmp_path: Path
) -> None:
    """The statements of a scheduled grant whose record was lost: their start lies after
    now, as only a not_before can make it."""
    role_id = world.iam.ids[("role", "shared-data")][1]
    request = make_request(principal=SHARED, not_before=START,
                           access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))
    granted = bp.grant_statements(request, bp.Subject(SHARED, ACCOUNT, ALICE, role_id),
                                  START + timedelta(hours=2), START)
    world.s3.policies["lake"] = json.dumps({"Statement": granted["lake"]})
    check = Check(_request_on_branch(tmp_path, not_before="2026-11-30T09:00:00Z"),
                  world.policies, Approvals())
    outcomes = world.engine().revoke(T0, check)
    assert [(o.action, o.request_id) for o in outcomes] == [("reconciled", "data-fix/fix")]
    assert world.records()[-1].starts == "2026-11-30T09:00:00Z"
