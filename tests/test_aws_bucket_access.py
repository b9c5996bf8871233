"""Bucket-policy grants proven against a moto server, through jitflow's real engine and its
boto3 adapter (`jitflow.aws.Accounts`).

Real HTTP and SigV4, moto's IAM enforcement on, and `policy_evaluation` deciding every
enforced request (bucket policies and every condition, on a clock the tests set by hand);
each principal signs with its own credentials. The world: a shared role `shared-data` whose
own policy only reads, with alice@acme.example and bob@acme.example as two sessions of it;
`etl`, a user whose own policy allows s3:PutObject anywhere; `loader`, the same but a standing
writer; `replicator`, who writes only through a statement jitflow does not own; and jitflow's
own role `/jitflow/jitflow-apply`, whose session runs the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jitflow import bucketpolicy as bp
from jitflow.cli import main
from jitflow.clock import parse_time
from jitflow.engine import Engine
from jitflow.model import AccessEntry, Identities, Identity, Policy, PolicySet, Request, Settings
from jitflow.sandbox.github import FakeGitHub
from jitflow.sandbox.moto_eval import DecisionLog, SettableClock, policy_evaluation
from jitflow.sandbox.policy_eval import Decision
from testing.builders import Approvals
from testing.check_repo import EXISTING, Repo, dump
from testing.moto_server import (
    ACCOUNT,
    T0,
    CallLog,
    Creds,
    MotoServer,
    assume_role,
    audit_events,
    can_get,
    can_put,
    create_anchor,
    create_user,
    enforcing,
    instrument_clients,
    make_engine,
    make_policy,
    make_request,
    point_env_at,
)

# DeletePolicy answers DeleteConflict as IAM does (moto deletes an attached policy).
pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")

LAKE, OTHER = "data-lake", "other-bucket"
ALICE, BOB = "alice@acme.example", "bob@acme.example"
PREFIX = "clickstream/"
OBJECT = f"{PREFIX}2026/11/28/part-0.json"
PERMISSION_SET = "permission-set/DataEngineer"
SSO_ROLE, SSO_PATH = "AWSReservedSSO_DataEngineer_0123456789abcdef", f"{bp.SSO_PATH}eu-west-1/"
EVERYTHING: dict[str, Any] = {"Effect": "Allow", "Action": "*", "Resource": "*"}
WRITE_ANYWHERE: dict[str, Any] = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# A shared role's trust must pin the session name (jitflow refuses a role whose callers pick
# it). moto does not evaluate trust conditions, so here `idp`, standing in for the identity
# provider that names sessions, still assumes the role as alice or bob.
PINNED = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}


def _role(iam: Any, name: str, path: str, trusted: str, *statements: dict[str, Any]) -> str:
    trust = _document({"Effect": "Allow", "Principal": {"AWS": trusted},
                       "Action": "sts:AssumeRole", "Condition": PINNED})
    arn: str = iam.create_role(RoleName=name, Path=path,
                               AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=_document(*statements))
    return arn


@dataclass
class Sandbox:
    server: MotoServer
    clock: SettableClock
    decisions: DecisionLog
    audit: Path
    admin: Creds  # "*" on everything, not exempt from any baseline: reads for the assertions
    jitflow: Creds  # a session of jitflow's own role: the engine runs with it
    jitflow_role: str
    shared_role: str
    sso_role: str  # permission set DataEngineer's role, as Identity Center makes it
    alice: Creds
    bob: Creds
    idp: Creds  # may assume the shared role (stands in for Identity Center)
    etl: Creds
    etl_arn: str
    loader: Creds
    loader_arn: str
    replicator: Creds
    replicator_arn: str

    def s3(self, creds: Creds) -> Any:
        return self.server.client("s3", creds)

    def policy_text(self, bucket: str) -> str | None:
        """The bucket's policy exactly as S3 returns it, or None when it has none."""
        try:
            text: str = self.s3(self.admin).get_bucket_policy(Bucket=bucket)["Policy"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchBucketPolicy":
                return None
            raise
        return text

    def sids(self, bucket: str) -> list[str | None]:
        text = self.policy_text(bucket)
        return [s.get("Sid") for s in bp.statements_of(bp.parse_policy(text))]

    def identities(self) -> Identities:
        return Identities({"alice": (Identity(self.shared_role, ALICE),
                                     Identity(PERMISSION_SET, ALICE, ACCOUNT)),
                           "bob": (Identity(self.shared_role, BOB),),
                           "carol": (Identity(self.etl_arn),)})  # etl, as a whole user

    def settings(self) -> Settings:
        return Settings(admins=("admin",), accounts={ACCOUNT: None},
                        baseline_exempt={ACCOUNT: (self.jitflow_role,)},
                        jitflow_roles={ACCOUNT: (self.jitflow_role,)})

    def engine(self, *policies: Policy) -> Engine:
        """jitflow's engine over the real adapter, as jitflow's role, with `policies` as the
        default branch's (and the identities above)."""
        known = PolicySet({p.name: p for p in policies}, self.identities())
        return make_engine(self.audit, self.settings(), policies=known)

    def request(self, name: str, who: str = "alice", prefix: str = PREFIX,
                buckets: tuple[str, ...] = (LAKE,), hours: int = 2) -> Request:
        """A request by `who` for their session of the shared role."""
        base = make_request(name, self.shared_role, duration=timedelta(hours=hours))
        access = tuple(AccessEntry(b, prefix, ("s3:PutObject",)) for b in buckets)
        return replace(base, requester=who, access=access)

    def last_put(self) -> str:
        return str(self.decisions.last("s3:PutObject"))


def bucket_mode(**changes: Any) -> Policy:
    """moto_server's `lake` policy (data-lake and other-bucket) granting in bucket policies."""
    return replace(make_policy(), grant="bucket-policy", **changes)


def build(server: MotoServer, audit: Path) -> dict[str, Any]:
    """The account, built with enforcement off."""
    server.reset()
    iam, s3 = server.client("iam"), server.client("s3")
    create_anchor(server.client("ssm"))
    for bucket in (LAKE, OTHER):
        s3.create_bucket(Bucket=bucket)
        for key in ("clickstream/seed.txt", "backfill/seed.txt", "seed.txt"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"seed")
    admin, _ = create_user(iam, "admin", EVERYTHING)
    ci, ci_arn = create_user(iam, "ci")  # stands in for GitHub's OIDC token
    jitflow_role = _role(iam, "jitflow-apply", "/jitflow/", ci_arn, EVERYTHING)
    idp, idp_arn = create_user(iam, "idp")
    read = [
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [f"arn:aws:s3:::{LAKE}/*", f"arn:aws:s3:::{OTHER}/*"]},
        {"Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": [f"arn:aws:s3:::{LAKE}", f"arn:aws:s3:::{OTHER}"]},
    ]
    shared_role = _role(iam, "shared-data", "/", idp_arn, *read)
    sso_role = _role(iam, SSO_ROLE, SSO_PATH, idp_arn, *read)
    iam.put_user_policy(UserName="idp", PolicyName="own", PolicyDocument=_document(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": [shared_role, sso_role]}))
    etl, etl_arn = create_user(iam, "etl", WRITE_ANYWHERE)
    loader, loader_arn = create_user(iam, "loader", WRITE_ANYWHERE)
    replicator, replicator_arn = create_user(iam, "replicator")
    return {
        "server": server, "audit": audit, "admin": admin,
        "jitflow": assume_role(server, ci, jitflow_role, "jitflow-run"),
        "jitflow_role": jitflow_role, "shared_role": shared_role,
        "alice": assume_role(server, idp, shared_role, ALICE),
        "bob": assume_role(server, idp, shared_role, BOB), "idp": idp, "sso_role": sso_role,
        "etl": etl, "etl_arn": etl_arn, "loader": loader, "loader_arn": loader_arn,
        "replicator": replicator, "replicator_arn": replicator_arn,
    }


@pytest.fixture
def sandbox(moto_server: MotoServer, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """Built with enforcement off; then enforcement and the evaluator on for the test, the
    clock at T0, and the standard AWS environment aimed at the server as jitflow's role."""
    parts = build(moto_server, tmp_path / "audit")
    point_env_at(monkeypatch, moto_server, parts["jitflow"])
    clock = SettableClock(T0)
    with policy_evaluation(clock) as decisions, enforcing(moto_server):
        yield Sandbox(clock=clock, decisions=decisions, **parts)


# ------------------------------------------------------------------ 1, 2: who and where


def test_alice_on_the_shared_role_writes_and_bob_on_the_same_role_cannot(
    sandbox: Sandbox,
) -> None:
    alice, bob = sandbox.s3(sandbox.alice), sandbox.s3(sandbox.bob)
    for s3 in (alice, bob):
        assert can_get(s3, LAKE, "clickstream/seed.txt")  # both sessions work and can read
        assert not can_put(s3, LAKE, OBJECT)  # the role's own policy cannot write

    request = sandbox.request("alice-backfill")
    outcome = sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    assert (outcome.action, outcome.buckets) == ("granted", (LAKE,))

    assert can_put(alice, LAKE, OBJECT), sandbox.last_put()
    decided = sandbox.decisions.last("s3:PutObject").evaluation
    assert decided is not None
    assert [ref.sid for ref in decided.statements] == [bp.grant_sid(request.id, 1, "O")]
    assert not can_put(bob, LAKE, OBJECT), sandbox.last_put()
    # A session alice opens after the grant is hers too; one bob opens is not.
    assert can_put(sandbox.s3(assume_role(sandbox.server, sandbox.idp, sandbox.shared_role,
                                          ALICE)), LAKE, OBJECT)
    assert not can_put(sandbox.s3(assume_role(sandbox.server, sandbox.idp, sandbox.shared_role,
                                              BOB)), LAKE, OBJECT)


def test_outside_the_granted_prefix_is_denied(sandbox: Sandbox) -> None:
    request = sandbox.request("alice-backfill")
    sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    alice = sandbox.s3(sandbox.alice)
    assert can_put(alice, LAKE, OBJECT)  # the same session, inside the prefix
    assert not can_put(alice, LAKE, "clickstream-old/part-0.json"), sandbox.last_put()  # sibling
    assert not can_put(alice, LAKE, "backfill/part-0.json")  # another prefix of the policy
    assert not can_put(alice, LAKE, "part-0.json")  # the bucket root
    assert not can_put(alice, OTHER, OBJECT)  # the policy's other bucket, not requested


def test_a_permission_set_grant_admits_only_the_requesters_session(sandbox: Sandbox) -> None:
    """Identity Center's role for the permission set, found by its path and name pattern
    (iam:ListRoles), then narrowed to alice's session by its RoleId."""
    alice = sandbox.s3(assume_role(sandbox.server, sandbox.idp, sandbox.sso_role, ALICE))
    bob = sandbox.s3(assume_role(sandbox.server, sandbox.idp, sandbox.sso_role, BOB))
    assert not can_put(alice, LAKE, OBJECT)
    request = replace(sandbox.request("alice-sso"), principal=PERMISSION_SET)
    outcome = sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    assert outcome.action == "granted"
    assert can_put(alice, LAKE, OBJECT), sandbox.last_put()
    assert not can_put(bob, LAKE, OBJECT), sandbox.last_put()
    assert not can_put(sandbox.s3(sandbox.alice), LAKE, OBJECT), sandbox.last_put()  # other role


# ------------------------------------------------------- 3: expiry by the condition alone


def test_a_bucket_grant_ends_by_its_condition_before_any_revoke(sandbox: Sandbox) -> None:
    request = sandbox.request("alice-backfill", hours=2)
    sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    expiry = T0 + timedelta(hours=2)
    granted = sandbox.policy_text(LAKE)
    alice = sandbox.s3(sandbox.alice)

    sandbox.clock.set_time(expiry - timedelta(seconds=1))
    assert can_put(alice, LAKE, OBJECT), sandbox.last_put()
    sandbox.clock.set_time(expiry + timedelta(seconds=1))
    assert not can_put(alice, LAKE, OBJECT), sandbox.last_put()
    late = sandbox.decisions.last("s3:PutObject").evaluation
    assert late is not None and late.decision is Decision.IMPLICIT_DENY, sandbox.last_put()

    assert sandbox.policy_text(LAKE) == granted  # byte for byte: nothing removed it
    assert sandbox.sids(LAKE) == [bp.grant_sid(request.id, 1, "O")]
    assert audit_events(sandbox.audit) == [("granted", request.id, False)]  # no revoke ran


def _managed_grant(sandbox: Sandbox) -> tuple[list[dict[str, str]], Any]:
    """The managed policies on the shared role and the jitflow one's default document."""
    iam = sandbox.server.client("iam", sandbox.admin)
    attached = iam.list_attached_role_policies(RoleName="shared-data")["AttachedPolicies"]
    arn = next(p["PolicyArn"] for p in attached if ":policy/jitflow/" in p["PolicyArn"])
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
    return attached, document["Document"]


def test_an_identity_grant_ends_by_its_condition_before_any_revoke(sandbox: Sandbox) -> None:
    """`grant: identity-policy`: a managed policy on the whole role. moto alone ignores its
    DateLessThan; with the evaluator the expiry holds without the revoke deleting it."""
    request = sandbox.request("role-backfill", hours=2)
    identity_mode = make_policy()
    alice = sandbox.s3(sandbox.alice)
    assert not can_put(alice, LAKE, OBJECT)
    outcome = sandbox.engine().apply(request, identity_mode, Approvals(), T0)
    assert outcome.action == "granted" and outcome.policy_arn
    expiry = T0 + timedelta(hours=2)
    granted = _managed_grant(sandbox)

    sandbox.clock.set_time(expiry - timedelta(seconds=1))
    assert can_put(alice, LAKE, OBJECT), sandbox.last_put()
    # The contrast with bucket mode: an identity grant reaches every session of the role.
    assert can_put(sandbox.s3(sandbox.bob), LAKE, OBJECT), sandbox.last_put()
    sandbox.clock.set_time(expiry + timedelta(seconds=1))
    assert not can_put(alice, LAKE, OBJECT), sandbox.last_put()
    late = sandbox.decisions.last("s3:PutObject").evaluation
    assert late is not None and late.decision is Decision.IMPLICIT_DENY, sandbox.last_put()

    assert _managed_grant(sandbox) == granted  # still attached, the same document
    assert audit_events(sandbox.audit) == [("granted", request.id, False)]


# ---------------------------------------------------------------- 4: the read-only baseline


def test_read_only_baseline_leaves_only_standing_writers_and_live_grants_writing(
    sandbox: Sandbox,
) -> None:
    guarded = bucket_mode(enforce_read_only=True, standing_writers=(sandbox.loader_arn,))
    etl, loader = sandbox.s3(sandbox.etl), sandbox.s3(sandbox.loader)
    alice, bob = sandbox.s3(sandbox.alice), sandbox.s3(sandbox.bob)
    jitflow = sandbox.s3(sandbox.jitflow)
    for s3 in (etl, loader, jitflow):  # their own policies let them write, for now
        assert can_put(s3, LAKE, OBJECT), sandbox.last_put()

    first = sandbox.request("alice-backfill", hours=2)
    assert sandbox.engine(guarded).apply(first, guarded, Approvals(), T0).action == "granted"
    baseline = bp.baseline_sid(guarded.name)
    # The Deny, then alice's session held to her grant: again from its end (T), outside the
    # resources (R) and for the actions (A) it was granted.
    limits = [f"{baseline}U1T", f"{baseline}U1R", f"{baseline}U1A"]
    assert sandbox.sids(LAKE) == [bp.grant_sid(first.id, 1, "O"), baseline, *limits]
    # An apply writes the buckets it grants in; the revoke sweep guards the policy's others.
    assert sandbox.sids(OTHER) == []
    assert sandbox.engine(guarded).revoke(T0) == []
    assert sandbox.sids(OTHER) == [baseline]

    for bucket, key in ((LAKE, OBJECT), (LAKE, "backfill/x.json"), (OTHER, OBJECT)):
        assert not can_put(etl, bucket, key), sandbox.last_put()
        denied = sandbox.decisions.last("s3:PutObject").evaluation
        assert denied is not None and denied.decision is Decision.EXPLICIT_DENY
        assert [ref.sid for ref in denied.statements] == [baseline]
    assert can_put(loader, LAKE, OBJECT), sandbox.last_put()  # a standing writer
    assert can_put(loader, OTHER, "backfill/x.json"), sandbox.last_put()
    assert can_put(jitflow, LAKE, OBJECT), sandbox.last_put()  # jitflow's role: exempt
    assert can_put(alice, LAKE, OBJECT), sandbox.last_put()  # the live grant
    assert not can_put(bob, LAKE, OBJECT), sandbox.last_put()

    # jitflow's role is not locked out: a second apply and a revoke rewrite the policy.
    later = T0 + timedelta(hours=1)
    second = sandbox.request("bob-backfill", who="bob", prefix="backfill/", hours=4)
    assert sandbox.engine(guarded).apply(second, guarded, Approvals(), later).action == "granted"
    assert can_put(bob, LAKE, "backfill/x.json"), sandbox.last_put()
    assert not can_put(bob, LAKE, OBJECT), sandbox.last_put()

    ended = T0 + timedelta(hours=2, seconds=1)
    sandbox.clock.set_time(ended)
    outcomes = sandbox.engine(guarded).revoke(ended)
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", first.id)]
    assert sandbox.sids(LAKE) == [bp.grant_sid(second.id, 1, "O"), baseline, *limits]
    assert not can_put(alice, LAKE, OBJECT), sandbox.last_put()  # no longer exempt either
    assert can_put(bob, LAKE, "backfill/y.json"), sandbox.last_put()
    assert not can_put(etl, LAKE, OBJECT), sandbox.last_put()

    sandbox.engine(guarded).revoke_request(second.id, "done", ended)
    assert not can_put(bob, LAKE, "backfill/z.json"), sandbox.last_put()
    assert sandbox.sids(LAKE) == [baseline]  # the policy still asks for it
    assert can_put(loader, LAKE, OBJECT) and can_put(jitflow, LAKE, OBJECT)


def _etl_guarded(sandbox: Sandbox) -> tuple[Policy, Request, Any]:
    """The baseline in place (a sweep writes it), then a grant for etl, whose own policy
    may write anywhere: (policy, request, etl's S3 client)."""
    guarded = bucket_mode(enforce_read_only=True)
    etl = sandbox.s3(sandbox.etl)
    assert sandbox.engine(guarded).revoke(T0) == []
    assert not can_put(etl, LAKE, OBJECT), sandbox.last_put()
    request = replace(sandbox.request("etl-backfill", who="carol", hours=2),
                      principal=sandbox.etl_arn)
    assert sandbox.engine(guarded).apply(request, guarded, Approvals(), T0).action == "granted"
    return guarded, request, etl


def test_a_writer_holding_a_live_grant_writes_until_the_sweep_ends_it(sandbox: Sandbox) -> None:
    guarded, request, etl = _etl_guarded(sandbox)
    assert can_put(etl, LAKE, OBJECT), sandbox.last_put()
    ended = T0 + timedelta(hours=2)
    sandbox.clock.set_time(ended)
    outcomes = sandbox.engine(guarded).revoke(ended)
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", request.id)]
    assert not can_put(etl, LAKE, OBJECT), sandbox.last_put()


def test_a_live_grant_lifts_the_baseline_only_under_its_prefix(sandbox: Sandbox) -> None:
    """The baseline lets a grantee through only where it was granted (its `U<n>R` Deny):
    its own identity policy that writes anywhere gains nothing elsewhere in the bucket."""
    _guarded, _request, etl = _etl_guarded(sandbox)
    assert can_put(etl, LAKE, OBJECT), sandbox.last_put()
    assert not can_put(etl, LAKE, "backfill/x.json"), sandbox.last_put()


def test_an_expired_grant_no_longer_lifts_the_baseline_before_any_revoke(
    sandbox: Sandbox,
) -> None:
    """The exemption ends by itself with the grant (its `U<n>T` Deny), not at the sweep."""
    _guarded, _request, etl = _etl_guarded(sandbox)
    sandbox.clock.set_time(T0 + timedelta(hours=2, seconds=1))
    assert not can_put(etl, LAKE, OBJECT), sandbox.last_put()


# --------------------------------------------- 5: statements jitflow does not own are kept

REPLICATION = {
    "Sid": "Replication", "Effect": "Allow", "Principal": {"AWS": "REPLICATOR"},
    "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{LAKE}/replica/*",
}


def test_revokes_keep_foreign_statements_and_restore_the_pre_jitflow_policy(
    sandbox: Sandbox,
) -> None:
    foreign = dict(REPLICATION, Principal={"AWS": sandbox.replicator_arn})
    pre_jitflow = bp.to_json({"Version": "2012-10-17", "Id": "Theirs", "Statement": [foreign]})
    sandbox.s3(sandbox.admin).put_bucket_policy(Bucket=LAKE, Policy=pre_jitflow)
    replicator = sandbox.s3(sandbox.replicator)
    assert can_put(replicator, LAKE, "replica/a.json"), sandbox.last_put()
    assert not can_put(replicator, LAKE, OBJECT)

    both = sandbox.request("alice-both", buckets=(LAKE, OTHER), hours=2)
    bobs = sandbox.request("bob-backfill", who="bob", prefix="backfill/", hours=4)
    for request in (both, bobs):
        sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    held = bp.parse_policy(sandbox.policy_text(LAKE))
    assert held is not None and held["Id"] == "Theirs"
    assert held["Statement"][0] == foreign
    assert can_put(replicator, LAKE, "replica/b.json"), sandbox.last_put()

    # The expiry sweep ends alice's grant: other-bucket had no policy before and has none.
    ended = T0 + timedelta(hours=2)
    outcomes = sandbox.engine(bucket_mode()).revoke(ended)
    assert [(o.action, o.request_id) for o in outcomes] == [("expired", both.id)]
    assert sandbox.policy_text(OTHER) is None
    held = bp.parse_policy(sandbox.policy_text(LAKE))
    assert held is not None
    assert held["Statement"] == [foreign, *bp.statements_of(held)[1:]]
    assert sandbox.sids(LAKE) == ["Replication", bp.grant_sid(bobs.id, 1, "O")]
    sandbox.clock.set_time(ended)
    assert can_put(replicator, LAKE, "replica/c.json"), sandbox.last_put()
    assert can_put(sandbox.s3(sandbox.bob), LAKE, "backfill/x.json"), sandbox.last_put()

    # An early revoke ends the last jitflow statement: the policy is the pre-jitflow one.
    sandbox.engine(bucket_mode()).revoke_request(bobs.id, "done early", ended)
    assert sandbox.policy_text(LAKE) == pre_jitflow
    assert not can_put(sandbox.s3(sandbox.bob), LAKE, "backfill/y.json"), sandbox.last_put()
    assert can_put(replicator, LAKE, "replica/d.json"), sandbox.last_put()
    assert [e for e, _r, _c in audit_events(sandbox.audit)] == [
        "granted", "granted", "expired", "early_revoked"]


# ----------------------------------------------------------------- 6: the engine's calls


def _jitflow_calls(log: CallLog) -> list[str]:
    """The IAM and S3 calls (the one sts:GetCallerIdentity per run is counted apart)."""
    return [t for t in log.targets if not t.startswith("sts.")]


def test_apply_makes_get_role_then_get_put_get_per_bucket(sandbox: Sandbox) -> None:
    request = sandbox.request("alice-both", buckets=(LAKE, OTHER))
    log = CallLog()
    with instrument_clients(log):
        outcome = sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    assert outcome.action == "granted"
    assert _jitflow_calls(log) == [
        "iam.GetRole",
        f"s3.GetBucketPolicy {LAKE}", f"s3.GetBucketPolicy {OTHER}",  # all read first
        f"s3.PutBucketPolicy {LAKE}", f"s3.GetBucketPolicy {LAKE}",
        # read again: it was read before the first bucket was written
        f"s3.GetBucketPolicy {OTHER}", f"s3.PutBucketPolicy {OTHER}", f"s3.GetBucketPolicy {OTHER}",
    ]
    assert log.calls.count("sts.GetCallerIdentity") == 1


def test_revoke_makes_get_put_or_delete_get_per_bucket_touched_not_per_grant(
    sandbox: Sandbox,
) -> None:
    foreign = dict(REPLICATION, Principal={"AWS": sandbox.replicator_arn})
    sandbox.s3(sandbox.admin).put_bucket_policy(Bucket=LAKE, Policy=_document(foreign))
    engine = sandbox.engine(bucket_mode())
    for name, who, prefix, buckets in (
        ("alice-both", "alice", PREFIX, (LAKE, OTHER)),
        ("alice-more", "alice", "backfill/", (LAKE, OTHER)),
        ("bob-backfill", "bob", "backfill/", (LAKE,)),
    ):
        request = sandbox.request(name, who=who, prefix=prefix, buckets=buckets)
        assert engine.apply(request, bucket_mode(), Approvals(), T0).action == "granted"

    sweep = CallLog()
    with instrument_clients(sweep):
        outcomes = sandbox.engine(bucket_mode()).revoke(T0 + timedelta(hours=2))
    assert len(outcomes) == 3 and {o.action for o in outcomes} == {"expired"}
    assert _jitflow_calls(sweep) == [  # no IAM listing: this account grants in buckets only
        f"s3.GetBucketPolicy {LAKE}", f"s3.GetBucketPolicy {OTHER}",
        f"s3.PutBucketPolicy {LAKE}", f"s3.GetBucketPolicy {LAKE}",  # the foreign one stays
        f"s3.GetBucketPolicy {OTHER}",  # read again: a bucket was written since its first read
        f"s3.DeleteBucketPolicy {OTHER}", f"s3.GetBucketPolicy {OTHER}",
    ]

    again = sandbox.request("alice-again", buckets=(LAKE, OTHER), hours=3)
    later = T0 + timedelta(hours=2, minutes=1)
    sandbox.engine(bucket_mode()).apply(again, bucket_mode(), Approvals(), later)
    early = CallLog()
    with instrument_clients(early):
        ended = sandbox.engine(bucket_mode()).revoke_request(again.id, "done", later)
    assert ended.action == "early_revoked"
    assert _jitflow_calls(early) == [
        f"s3.GetBucketPolicy {LAKE}", f"s3.GetBucketPolicy {OTHER}",
        f"s3.PutBucketPolicy {LAKE}", f"s3.GetBucketPolicy {LAKE}",
        f"s3.GetBucketPolicy {OTHER}",
        f"s3.DeleteBucketPolicy {OTHER}", f"s3.GetBucketPolicy {OTHER}",
    ]
    assert sandbox.sids(LAKE) == ["Replication"] and sandbox.policy_text(OTHER) is None


# ------------------------------------------------------------ 7: a scheduled start

START = T0 + timedelta(days=1)
END = START + timedelta(hours=2)


def _puts_along_the_window(sandbox: Sandbox, s3: Any) -> list[tuple[str, bool]]:
    """(when, allowed) for a write at each edge of the window [START, END]."""
    found = []
    for label, at in (("apply", T0), ("start - 1s", START - timedelta(seconds=1)),
                      ("start", START), ("start + 1s", START + timedelta(seconds=1)),
                      ("end - 1s", END - timedelta(seconds=1)), ("end", END),
                      ("end + 1s", END + timedelta(seconds=1))):
        sandbox.clock.set_time(at)
        found.append((label, can_put(s3, LAKE, OBJECT)))
    return found


INSIDE_ONLY = [("apply", False), ("start - 1s", False), ("start", False), ("start + 1s", True),
               ("end - 1s", True), ("end", False), ("end + 1s", False)]


def test_a_scheduled_bucket_grant_allows_only_inside_its_window(sandbox: Sandbox) -> None:
    request = replace(sandbox.request("alice-later", hours=2), not_before=START)
    outcome = sandbox.engine(bucket_mode()).apply(request, bucket_mode(), Approvals(), T0)
    assert outcome.action == "granted"
    alice = sandbox.s3(sandbox.alice)
    assert _puts_along_the_window(sandbox, alice) == INSIDE_ONLY, sandbox.last_put()
    assert not can_put(sandbox.s3(sandbox.bob), LAKE, OBJECT)  # nor bob, ever
    assert audit_events(sandbox.audit) == [("granted", request.id, False)]  # no revoke ran


def test_a_scheduled_identity_grant_allows_only_inside_its_window(sandbox: Sandbox) -> None:
    request = replace(sandbox.request("role-later", hours=2), not_before=START)
    outcome = sandbox.engine().apply(request, make_policy(), Approvals(), T0)
    assert outcome.action == "granted" and outcome.policy_arn
    alice = sandbox.s3(sandbox.alice)
    assert _puts_along_the_window(sandbox, alice) == INSIDE_ONLY, sandbox.last_put()


def test_under_the_baseline_a_scheduled_writer_writes_nothing_before_its_start(
    sandbox: Sandbox,
) -> None:
    """etl's own policy writes anywhere. The baseline exempts it for its grant, but holds it
    off before the start (`U1S`) as after the end (`U1T`): explicit Denies."""
    guarded = bucket_mode(enforce_read_only=True)
    etl = sandbox.s3(sandbox.etl)
    assert sandbox.engine(guarded).revoke(T0) == []  # the baseline is in place
    request = replace(sandbox.request("etl-later", who="carol", hours=2),
                      principal=sandbox.etl_arn, not_before=START)
    assert sandbox.engine(guarded).apply(request, guarded, Approvals(), T0).action == "granted"
    assert _puts_along_the_window(sandbox, etl) == INSIDE_ONLY, sandbox.last_put()
    held = bp.baseline_sid(guarded.name)
    for at, sid in ((START, f"{held}U1S"), (END, f"{held}U1T")):
        sandbox.clock.set_time(at)
        assert not can_put(etl, LAKE, OBJECT)
        denied = sandbox.decisions.last("s3:PutObject").evaluation
        assert denied is not None and denied.decision is Decision.EXPLICIT_DENY
        assert sid in [ref.sid for ref in denied.statements], sandbox.last_put()


# --------------------------------------------------------- the CLI, the workflow's way

REPOSITORY = "acme/access"
REQUEST = "requests/lake/alice-backfill.yaml"
REQUEST_ID = "lake/alice-backfill"


def _policy_yaml() -> str:
    return dump({
        "description": "The data lake, granted in its own bucket policy",
        "account": ACCOUNT, "buckets": [LAKE, OTHER], "prefixes": [PREFIX, "backfill/"],
        "actions": ["s3:PutObject", "s3:DeleteObject"], "max_duration": "4h",
        "approvers": ["erin"], "grant": "bucket-policy",
    })


class Workflow:
    """A repository whose main holds one `grant: bucket-policy` policy and alice's and bob's
    sessions of the shared role; the fake GitHub; `jitflow` run through its real entry point
    in this process (so the in-process moto server and its evaluator decide)."""

    def __init__(self, path: Path, fake: FakeGitHub, shared_role: str) -> None:
        self.repo = Repo(path)
        self.fake = fake
        self.repo.git("checkout", "--quiet", "main")
        for old in (EXISTING, "policies/analytics-raw.yaml", "policies/ml-models.yaml"):
            self.repo.remove(old)
        self.repo.write("jitflow.yaml", dump({"admins": ["@acme/security"],
                                              "accounts": {ACCOUNT: {}}}))
        self.repo.write("policies/lake.yaml", _policy_yaml())
        self.repo.write("policies/identities.yaml", dump({
            "alice": [{"principal": shared_role, "session": ALICE}],
            "bob": [{"principal": shared_role, "session": BOB}]}))
        self.repo.commit("one account, one bucket-policy policy")
        self.repo.git("checkout", "--quiet", "-B", "pr", "main")
        fake.add_repo(REPOSITORY)

    def add_request(self, shared_role: str) -> None:
        self.repo.write(REQUEST, dump({
            "requester": "alice", "principal": shared_role,
            "reason": "Backfill the 2026-11-28 clickstream partition", "duration": "2h",
            "access": [{"bucket": LAKE, "prefix": "clickstream/2026/",
                        "actions": ["s3:PutObject"]}]}))
        self.repo.commit("request access")

    def merge_approved(self) -> tuple[int, str]:
        base = self.repo.git("rev-parse", "main").strip()
        head = self.repo.git("rev-parse", "HEAD").strip()
        number = self.fake.open_pull(author="alice", head_sha=head, base_sha=base)
        self.fake.add_commit_to_pull(number, head, author="alice")
        self.fake.add_review(number, "erin", "APPROVED")
        self.repo.git("checkout", "--quiet", "main")
        self.repo.git("merge", "--quiet", "--no-ff", "-m", f"Merge #{number}", "pr")
        sha = self.repo.git("rev-parse", "HEAD").strip()
        self.fake.merge_pull(number, sha, "merge")
        return number, sha

    def jitflow(self, *argv: str) -> int:
        return main([*argv, "--repo", str(self.repo.path)])

    def audit(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for path in sorted((self.repo.path / "audit").glob("*.jsonl")):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines


def _github_env(monkeypatch: pytest.MonkeyPatch, fake: FakeGitHub, sha: str) -> None:
    for key, value in {
        "GITHUB_SHA": sha, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": fake.url,
        "GITHUB_TOKEN": "t", "JITFLOW_GITHUB_PACE": "0",
        "GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
        "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "bot@example.com",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)


def test_cli_applies_shows_and_revokes_a_shared_role_session(
    sandbox: Sandbox, tmp_path: Path, fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    flow = Workflow(tmp_path / "repo", fake_github, sandbox.shared_role)
    flow.add_request(sandbox.shared_role)
    number, sha = flow.merge_approved()
    _github_env(monkeypatch, fake_github, sha)
    alice, bob = sandbox.s3(sandbox.alice), sandbox.s3(sandbox.bob)
    target = "clickstream/2026/11/28/part-0.json"
    assert not can_put(alice, LAKE, target)

    assert flow.jitflow("apply", "--commit") == 0
    [granted] = flow.audit()
    assert (granted["event"], granted["session"], granted["grant_mode"]) == (
        "granted", ALICE, "bucket-policy")
    expiry = parse_time(granted["expiry"])
    sandbox.clock.set_time(expiry - timedelta(minutes=30))
    assert can_put(alice, LAKE, target), sandbox.last_put()
    assert not can_put(bob, LAKE, target), sandbox.last_put()
    assert not can_put(alice, LAKE, "clickstream/2025/part-0.json"), sandbox.last_put()
    [comment] = fake_github.comments(number)
    shown = comment.body.replace("\u200b", "")  # the comment breaks @-mentions up
    assert f"admits only the session {ALICE} of {sandbox.shared_role}" in shown
    assert f"In the bucket policy of:** `{LAKE}`" in shown

    capsys.readouterr()
    at = (expiry - timedelta(minutes=30)).isoformat()
    assert flow.jitflow("status", "--format", "json", "--at", at) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["request"] == REQUEST_ID]
    assert [(r["bucket"], r["session"], r["problems"]) for r in rows] == [(LAKE, ALICE, [])]

    after = expiry + timedelta(seconds=1)
    assert flow.jitflow("revoke", "--at", after.isoformat(), "--commit") == 0
    assert sandbox.policy_text(LAKE) is None  # its one statement gone, and it had no policy
    assert [r["event"] for r in flow.audit()] == ["granted", "expired"]
    sandbox.clock.set_time(after)
    assert not can_put(alice, LAKE, target), sandbox.last_put()
    capsys.readouterr()
    assert main(["audit", "verify", str(flow.repo.path / "audit")]) == 0
    assert "jitflow revoke" in flow.repo.git("log", "-1", "--format=%s")


def test_cli_plan_json_shows_one_statement_list_per_bucket(
    tmp_path: Path, fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str],
) -> None:
    shared_role = f"arn:aws:iam::{ACCOUNT}:role/shared-data"
    flow = Workflow(tmp_path / "repo", fake_github, shared_role)
    flow.repo.write(REQUEST, dump({
        "requester": "alice", "principal": shared_role, "reason": "Backfill both buckets",
        "duration": "2h", "access": [
            {"bucket": LAKE, "prefix": "clickstream/2026/", "actions": ["s3:PutObject"]},
            {"bucket": OTHER, "prefix": "backfill/", "actions": ["s3:PutObject"]}]}))
    at = datetime(2026, 12, 1, 10, 0, tzinfo=T0.tzinfo)
    capsys.readouterr()
    assert main(["plan", "--format", "json", "--at", at.isoformat(),
                 str(flow.repo.path / REQUEST)]) == 0
    [plan] = json.loads(capsys.readouterr().out)
    statements = plan["bucket_policy_statements"]
    assert sorted(statements) == [LAKE, OTHER]
    for bucket, prefix, index in ((LAKE, "clickstream/2026/", 1), (OTHER, "backfill/", 2)):
        [statement] = statements[bucket]
        assert statement["Sid"] == bp.grant_sid(REQUEST_ID, index, "O")
        assert statement["Principal"] == {"AWS": shared_role}
        assert statement["Resource"] == f"arn:aws:s3:::{bucket}/{prefix}*"
        assert statement["Condition"] == {
            "DateLessThan": {"aws:CurrentTime": "2026-12-01T12:00:00Z"},
            "StringEquals": {"aws:userid": f"${{RoleId}}:{ALICE}"},
        }
    assert plan["admits"]["userid"] == f"${{RoleId}}:{ALICE}"
