"""ARNs in the partition of jitflow.yaml's region (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b).

`Settings.partition` (from `region`, through `jitflow.model.partition_of`) is the one source:
plans of both grant modes are built in it, the schemas and rules accept the known partitions
and refuse a principal outside it, and `jitflow check`, `validate`, `plan` and the engine pass
it on. The aws partition's documents stay byte for byte what they were (grants on record carry
their sha256)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from jitflow import schema
from jitflow.audit.store import AuditLog
from jitflow.bucketpolicy import (
    Exempted,
    Subject,
    baseline_sid,
    baseline_statements,
    envelope_size,
    grant_sid,
    granted_resources,
    statements_size,
)
from jitflow.budget import budgets
from jitflow.cli import main
from jitflow.clock import iso
from jitflow.engine import Check, Engine
from jitflow.errors import ConfigError, Rejected
from jitflow.gitcmd import Git
from jitflow.grants import parse_principal
from jitflow.loader import judge_request, parse_yaml
from jitflow.model import (
    PARTITION_PATTERN,
    PARTITIONS,
    AccessEntry,
    Identities,
    Identity,
    PolicySet,
    Request,
    Settings,
    partition_of,
)
from jitflow.plan import build_plan, document_sha256, document_size, subject_for
from jitflow.pr.check import check_changes
from jitflow.problems import Problem
from jitflow.rules import bucket_size_upper_bound, check_request, size_upper_bound
from jitflow.settings import load_settings
from jitflow.tree import FsTree
from testing.builders import ACCOUNT, T0, Approvals, make_policy, make_request
from testing.check_repo import Repo
from testing.foundation import (
    dump,
    example_policies,
    judge,
    messages,
    ml_request_data,
    valid_request_data,
)
from testing.memory_iam import MemoryAccounts, MemoryBuckets, MemoryIam

OTHER = ["aws-cn", "aws-us-gov"]


# ---- where the partition comes from ---------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("ap-southeast-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_the_partition_of_a_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition
    assert Settings(admins=(), accounts={}, region=region).partition == partition


def test_the_default_settings_are_in_the_aws_partition() -> None:
    assert Settings(admins=(), accounts={}).partition == "aws"


def test_the_partition_pattern_matches_exactly_the_known_partitions() -> None:
    for partition in PARTITIONS:
        assert re.fullmatch(PARTITION_PATTERN, partition), partition
    for other in ["", "aws-", "aws-xx", "aws-cnx", "aws-cn-north", "aws-iso-c", "AWS", "cn"]:
        assert re.fullmatch(PARTITION_PATTERN, other) is None, other


# ---- plans: every ARN in the partition --------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/alice-data"
SESSION = "alice@acme.example"
BOTH_KINDS = (AccessEntry("b", "p/2026/", ("s3:PutObject", "s3:ListBucket")),
              AccessEntry("c", "", ("s3:PutObject",)))
BUCKET_POLICY = make_policy(grant="bucket-policy", buckets=("b", "c"), prefixes=("p/", ""),
                            actions=("s3:PutObject", "s3:ListBucket"), enforce_read_only=True)


def in_partition(arn: str, partition: str) -> str:
    assert arn.startswith("arn:aws:"), arn
    return f"arn:{partition}:{arn.removeprefix('arn:aws:')}"


def arns_in(value: Any) -> list[str]:
    """Every string in `value` that is an ARN (or an ARN pattern)."""
    if isinstance(value, dict):
        return [arn for item in value.values() for arn in arns_in(item)]
    if isinstance(value, list | tuple):
        return [arn for item in value for arn in arns_in(item)]
    return [value] if isinstance(value, str) and value.startswith("arn:") else []


def assert_only_in(value: Any, partition: str) -> None:
    found = arns_in(value)
    assert found, "no ARN at all: nothing was checked"
    assert all(arn.startswith(f"arn:{partition}:") for arn in found), found
    assert "arn:aws:" not in json.dumps(value)


@pytest.mark.parametrize("partition", OTHER)
def test_an_identity_policy_plan_names_only_its_partition(partition: str) -> None:
    request = make_request(principal=in_partition(ROLE, partition), access=BOTH_KINDS)
    plan = build_plan(request, make_policy(buckets=("b", "c")), T0, partition=partition)
    assert [s["Sid"] for s in plan.document["Statement"]] == [
        "Objects1", "Bucket1", "Objects2", "DenyPermissionsManagement"]
    assert_only_in(plan.document, partition)
    deny = plan.document["Statement"][-1]
    assert deny["Resource"] == [f"arn:{partition}:s3:::{b}{s}" for b in "bc" for s in ("", "/*")]


@pytest.mark.parametrize("partition", OTHER)
@pytest.mark.parametrize("principal", [ROLE, "permission-set/DataEngineer"])
def test_a_bucket_policy_plan_names_only_its_partition(partition: str, principal: str) -> None:
    if principal.startswith("arn:"):
        principal = in_partition(principal, partition)
    identities = Identities({"alice": (Identity(principal, SESSION, ACCOUNT),)})
    request = make_request(principal=principal, access=BOTH_KINDS)
    subject = subject_for(request, BUCKET_POLICY, identities, partition=partition)
    plan = build_plan(request, BUCKET_POLICY, T0, subject, partition=partition)
    assert sorted(plan.bucket_statements) == ["b", "c"]
    assert [s["Sid"][-1] for s in plan.document["Statement"]] == ["O", "L", "O"]
    assert_only_in(plan.document, partition)
    if principal.startswith("permission-set/"):  # the pinned Identity Center role pattern
        pattern = plan.document["Statement"][0]["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert pattern.startswith(f"arn:{partition}:iam::{ACCOUNT}:role/aws-reserved/")
    # the Denies a read-only baseline holds the grantee to, counted in the size budget
    assert plan.subject is not None
    actions = {a for e in request.access if e.bucket == "b" for a in e.actions}
    grantee = Exempted(plan.subject, granted_resources(request.access, "b", partition),
                       tuple(sorted(actions)), iso(plan.expiry))
    limits = baseline_statements(BUCKET_POLICY, "b", [], [grantee], partition)[1:]
    assert_only_in(limits, partition)
    assert budgets(plan, {})[0].adds == (
        statements_size(plan.bucket_statements["b"]) + statements_size(limits))


@pytest.mark.parametrize("partition", OTHER)
def test_a_bucket_policy_plan_without_a_subject_admits_the_principal_in_its_partition(
    partition: str,
) -> None:
    request = make_request(principal=in_partition(ROLE, partition), access=BOTH_KINDS)
    plan = build_plan(request, BUCKET_POLICY, T0, partition=partition)
    assert plan.subject is not None and plan.subject.partition == partition
    assert_only_in(plan.document, partition)


def test_a_subject_of_another_partition_than_the_plan_is_a_bug() -> None:
    request = make_request(principal=in_partition(ROLE, "aws-cn"))
    subject = Subject(request.principal, ACCOUNT, partition="aws-cn")
    with pytest.raises(ValueError, match="partition aws-cn, the plan in aws"):
        build_plan(request, BUCKET_POLICY, T0, subject)


def test_the_aws_partition_keeps_the_documents_and_hashes_on_record() -> None:
    """Grants made before the partition was threaded carry these sha256 in their tags and audit
    records: reconcile and the apply re-run compare against them."""
    policies = example_policies()
    ml, _ = judge(dump(ml_request_data()), "requests/ml-models/alice-churn.yaml")
    shared, _ = judge(dump(valid_request_data()))
    assert ml is not None and shared is not None
    identity = build_plan(ml, policies.policies["ml-models"], T0)
    assert identity.document == build_plan(ml, policies.policies["ml-models"], T0,
                                           partition="aws").document
    assert document_sha256(identity.document_json()) == (
        "e675fc58cdc8487718e152b0e76db1eedfbf14fc148be390c88afe72303fbb39")
    policy = policies.policies["analytics-raw"]
    bucket = build_plan(shared, policy, T0, subject_for(shared, policy, policies.identities))
    assert document_sha256(bucket.document_json()) == (
        "eb33f1e67edb2416a59552dac624d020b5f8746431b898310c04bf3b7ff7b239")


# ---- schemas and rules: the known partitions, and only jitflow's --------------------------

SCHEMA_ARN = f"arn:{PARTITION_PATTERN}:iam::"
EXAMPLE = "arn:aws:iam::111122223333:role/data-engineers"


def schema_problems(name: str, data: dict[str, Any]) -> list[Problem]:
    """The compiled validator's and jsonschema's findings (both must agree)."""
    text = yaml.safe_dump(data).encode()
    doc, problems = parse_yaml(text, f"{name}.yaml", name)
    assert (doc is not None) == schema.validator(name).is_valid(data), (name, problems)
    return problems


def documents(arn: str) -> dict[str, dict[str, Any]]:
    """One document of each schema naming `arn` wherever that schema takes an ARN."""
    request = {**valid_request_data(), "principal": arn}
    identities = {"alice": [arn, {"principal": arn, "session": SESSION}]}
    policy = {"description": "x", "grant": "bucket-policy", "account": "111122223333",
              "buckets": ["lake"], "prefixes": ["p/"], "actions": ["s3:PutObject"],
              "max_duration": "1h", "approvers": ["erin"], "enforce_read_only": True,
              "standing_writers": [arn]}
    settings = {"admins": ["@acme/security"], "region": "cn-north-1", "accounts": {
        "111122223333": {"role": arn, "revoke_role": arn, "jitflow_roles": [arn],
                         "break_glass_role": arn}}}
    return {"request": request, "identities": identities, "policy": policy,
            "settings": settings}


def test_every_arn_pattern_of_the_schemas_takes_the_known_partitions() -> None:
    for name in ("request", "identities", "policy", "settings"):
        text = schema.schema_text(name)
        patterns = re.findall(r'"pattern": "([^"]*iam::[^"]*)"', text)
        assert patterns, name
        for pattern in patterns:
            assert SCHEMA_ARN in pattern, (name, pattern)
        assert "arn:aws:iam::" not in "".join(patterns), name


@pytest.mark.parametrize("partition", PARTITIONS)
def test_the_schemas_accept_arns_of_every_known_partition(partition: str) -> None:
    for name, data in documents(in_partition(EXAMPLE, partition)).items():
        assert schema_problems(name, data) == [], name


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws-xx:iam::111122223333:role/data-engineers",
        "arn:aws-cn-north-1:iam::111122223333:role/data-engineers",
        "arn:AWS:iam::111122223333:role/data-engineers",
        "arn::iam::111122223333:role/data-engineers",
        "arn:*:iam::111122223333:role/data-engineers",
    ],
)
def test_the_schemas_refuse_an_unknown_partition(arn: str) -> None:
    for name, data in documents(arn).items():
        assert schema_problems(name, data), name


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_principal_of_a_known_partition_parses(partition: str) -> None:
    principal = parse_principal(in_partition(ROLE, partition))
    assert (principal.partition, principal.account, principal.name) == (
        partition, ACCOUNT, "alice-data")
    with pytest.raises(ValueError, match="arn:<partition>:iam::"):
        parse_principal(ROLE.replace("arn:aws:", "arn:aws-xx:"))


def cn_policies() -> PolicySet:
    """The examples, with alice on the shared role in aws-cn as in aws."""
    policies = example_policies()
    return PolicySet(policies.policies, Identities({"alice": (
        Identity(EXAMPLE, SESSION), Identity(in_partition(EXAMPLE, "aws-cn"), SESSION))}))


@pytest.mark.parametrize(("principal", "partition"), [
    (in_partition(EXAMPLE, "aws-cn"), "aws"),
    (EXAMPLE, "aws-cn"),
])
def test_a_principal_outside_jitflows_partition_is_refused(principal: str, partition: str) -> None:
    policies = cn_policies()
    data = {**valid_request_data(), "principal": principal}
    request, problems = judge_request(dump(data), "requests/analytics-raw/x.yaml", policies,
                                      partial(check_request, partition=partition))
    assert request is None
    assert messages(problems) == (
        f"principal is in partition {principal.split(':')[1]}, but jitflow grants in partition "
        f"{partition} (the partition of the region in jitflow.yaml)")
    right = principal.split(":")[1]  # the same request where jitflow grants in its partition
    assert judge_request(dump(data), "requests/analytics-raw/x.yaml", policies,
                         partial(check_request, partition=right))[1] == []


def test_check_request_grants_in_the_aws_partition_by_default() -> None:
    request = make_request(principal=in_partition(ROLE, "aws-cn"))
    policies = PolicySet({"data-fix": make_policy()},
                         Identities({"alice": (Identity(request.principal),)}))
    assert "partition aws-cn" in messages(check_request(request, policies))
    assert check_request(request, policies, partition="aws-cn") == []


@pytest.mark.parametrize("grant", ["identity-policy", "bucket-policy"])
def test_the_size_bounds_hold_in_the_longest_partition(grant: str) -> None:
    partition = max(PARTITIONS, key=len)
    request = make_request(principal=in_partition(ROLE, partition), access=tuple(
        AccessEntry(f"bucket-{i:02d}-" + "x" * 40, f"p/{i}/" + "y" * 60 + "/",
                    ("s3:PutObject", "s3:ListBucket", "s3:DeleteObject"))
        for i in range(20)), not_before=T0 + timedelta(days=1))  # a start in every statement
    policy = make_policy(grant=grant)
    if grant == "identity-policy":
        size = document_size(build_plan(request, policy, T0, partition=partition).document)
        assert size <= size_upper_bound(request)
    else:
        subject = Subject(request.principal, ACCOUNT, "s" * 64, "AROA" + "X" * 17, partition)
        plan = build_plan(request, policy, T0, subject, partition=partition)
        real = max(envelope_size() + statements_size(s) for s in plan.bucket_statements.values())
        assert real <= bucket_size_upper_bound(request)


# ---- the engine grants in Settings.partition ------------------------------------------------

REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
REQUEST_YAML = """\
requester: alice
principal: {principal}
reason: Backfill the partition after job 4411 failed
duration: 2h
access:
  - bucket: lake
    prefix: p/2026/
    actions: [s3:PutObject]
"""


class Account:
    """One account in `partition`, as the in-memory IAM and S3 doubles answer there."""

    def __init__(self, tmp_path: Path, partition: str, grant: str = "identity-policy") -> None:
        self.partition = partition
        self.iam = MemoryIam(ACCOUNT, partition=partition)
        self.iam.add_role("alice-data")
        self.s3 = MemoryBuckets(ACCOUNT, buckets={"lake"})
        self.accounts = MemoryAccounts({ACCOUNT: self.iam}, {ACCOUNT: self.s3})
        self.root = tmp_path
        apply_role = f"arn:{partition}:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
        self.settings = Settings(admins=("@acme/security",), accounts={ACCOUNT: None},
                                 region=REGION[partition],
                                 baseline_exempt={ACCOUNT: (apply_role,)},
                                 jitflow_roles={ACCOUNT: (apply_role,)})
        self.principal = f"arn:{partition}:iam::{ACCOUNT}:role/alice-data"
        session = SESSION if grant == "bucket-policy" else None
        self.policy = make_policy(grant=grant, buckets=("lake",),
                                  enforce_read_only=grant == "bucket-policy")
        self.policies = PolicySet({"data-fix": self.policy},
                                  Identities({"alice": (Identity(self.principal, session),)}))

    def engine(self, dry_run: bool = False) -> Engine:
        return Engine(self.accounts, AuditLog(self.root / "audit"), self.settings, "local:test",
                      dry_run=dry_run, policies=self.policies)

    def request(self, principal: str | None = None) -> Request:
        return make_request(principal=principal or self.principal,
                            access=(AccessEntry("lake", "p/2026/", ("s3:PutObject",)),))

    def on_default_branch(self) -> FsTree:
        path = self.root / "repo" / "requests" / "data-fix" / "fix.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(REQUEST_YAML.format(principal=self.principal))
        return FsTree(self.root / "repo")

    def forget_the_records(self) -> None:
        """As if the run that granted died before writing its audit record."""
        for log in (self.root / "audit").iterdir():
            log.unlink()


@pytest.mark.parametrize("partition", OTHER)
def test_an_identity_policy_grant_is_made_confirmed_and_reconciled_in_the_partition(
    tmp_path: Path, partition: str
) -> None:
    account = Account(tmp_path, partition)
    dry = account.engine(dry_run=True).apply(account.request(), account.policy, Approvals(), T0)
    assert dry.policy_arn.startswith(f"arn:{partition}:iam::{ACCOUNT}:policy/jitflow/")
    granted = account.engine().apply(account.request(), account.policy, Approvals(), T0)
    assert granted.action == "granted", granted
    (arn, stored), = account.iam.policies.items()
    assert arn == dry.policy_arn
    assert_only_in(json.loads(stored.document), partition)
    # the re-run compares against the plan the tags hash: rebuilt in the same partition
    again = account.engine().apply(account.request(), account.policy, Approvals(), T0)
    assert again.action == "unchanged", again
    account.forget_the_records()
    found = account.engine().reconcile(account.on_default_branch(), account.policies,
                                       Approvals(), T0)
    assert [(o.action, o.policy_arn) for o in found] == [("reconciled", arn)]


@pytest.mark.parametrize("partition", OTHER)
def test_a_bucket_policy_grant_and_its_baseline_are_written_in_the_partition(
    tmp_path: Path, partition: str
) -> None:
    account = Account(tmp_path, partition, "bucket-policy")
    granted = account.engine().apply(account.request(), account.policy, Approvals(), T0)
    assert granted.action == "granted", granted
    written = account.s3.document("lake")
    assert written is not None
    baseline = baseline_sid("data-fix")
    assert [s["Sid"] for s in written["Statement"]] == [
        grant_sid("data-fix/fix", 1, "O"), baseline, f"{baseline}U1T", f"{baseline}U1R",
        f"{baseline}U1A"]
    assert_only_in(written, partition)
    again = account.engine().apply(account.request(), account.policy, Approvals(), T0)
    assert again.action == "unchanged", again
    # statements without a record stay only when the request re-verifies (in the partition)
    account.forget_the_records()
    tree = account.on_default_branch()
    found = account.engine().revoke(T0, Check(tree, account.policies, Approvals()))
    assert [o.action for o in found] == ["reconciled"], found
    assert account.s3.document("lake") == written


@pytest.mark.parametrize("grant", ["identity-policy", "bucket-policy"])
@pytest.mark.parametrize(("principal_in", "settings_in"), [("aws-cn", "aws"), ("aws", "aws-cn")])
def test_the_engine_refuses_a_principal_outside_the_settings_partition(
    tmp_path: Path, grant: str, principal_in: str, settings_in: str
) -> None:
    account = Account(tmp_path, settings_in, grant)
    principal = f"arn:{principal_in}:iam::{ACCOUNT}:role/alice-data"
    with pytest.raises(Rejected, match=f"is in partition {principal_in}, but jitflow grants "
                                       f"in partition {settings_in}"):
        account.engine().apply(account.request(principal), account.policy, Approvals(), T0)
    assert account.iam.policies == {} and account.s3.policies == {}


# ---- jitflow check reads the partition from the base branch's jitflow.yaml ------------------


def china(repo: Repo) -> None:
    """Move the base branch to aws-cn: region, role and identities."""
    for name in ("jitflow.yaml", "policies/identities.yaml"):
        text = (repo.path / name).read_text().replace("arn:aws:", "arn:aws-cn:")
        repo.on_main(name, text.replace("region: us-east-1", "region: cn-north-1"))


def test_the_check_plans_in_the_base_branchs_partition(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    china(repo)
    repo.git("merge", "--quiet", "main")
    repo.add_request(principal="arn:aws-cn:iam::111122223333:role/data-engineers")
    result = check_changes(Git(repo.path), "main", "pr", "alice", applied_at=T0)
    assert result.ok, [p.message for p in result.problems]
    (plan,) = result.plans
    assert plan.subject is not None and plan.subject.partition == "aws-cn"
    assert_only_in(plan.document, "aws-cn")


def test_the_check_refuses_a_principal_outside_the_base_branchs_partition(
    tmp_path: Path,
) -> None:
    repo = Repo(tmp_path / "repo")
    china(repo)
    repo.git("merge", "--quiet", "main")
    repo.add_request()  # arn:aws:... as before the move
    result = check_changes(Git(repo.path), "main", "pr", "alice", applied_at=T0)
    assert not result.ok and not result.plans
    assert "principal is in partition aws, but jitflow grants in partition aws-cn" in "\n".join(
        p.message for p in result.problems)


# ---- jitflow validate and plan read it from jitflow.yaml beside the policies -------------


def local_repo(root: Path, region: str, principal_in: str) -> Path:
    partition = partition_of(region)
    role = f"arn:{principal_in}:iam::{ACCOUNT}:role/alice-data"
    apply_role = f"arn:{partition}:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
    (root / ".git").mkdir(parents=True)
    (root / "policies").mkdir()
    (root / "policies" / "data-fix.yaml").write_text(
        f'description: x\ngrant: bucket-policy\naccount: "{ACCOUNT}"\nbuckets: [lake]\n'
        "prefixes: [p/]\nactions: [s3:PutObject]\nmax_duration: 4h\napprovers: [erin]\n"
        "enforce_read_only: true\n")
    (root / "policies" / "identities.yaml").write_text(
        f"alice:\n  - principal: {role}\n    session: {SESSION}\n")
    (root / "jitflow.yaml").write_text(
        f'admins: ["@acme/security"]\nregion: {region}\naccounts:\n  "{ACCOUNT}":\n'
        f"    jitflow_roles: [{apply_role}]\n")
    (root / "requests" / "data-fix").mkdir(parents=True)
    (root / "requests" / "data-fix" / "fix.yaml").write_text(REQUEST_YAML.format(principal=role))
    return root


@pytest.mark.parametrize("partition", OTHER)
def test_validate_and_plan_work_in_the_partition_of_jitflow_yaml(
    tmp_path: Path, partition: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = local_repo(tmp_path, REGION[partition], partition)
    assert main(["validate", str(root / "requests")]) == 0
    capsys.readouterr()
    assert main(["plan", "--format", "json", str(root / "requests")]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert_only_in(shown["bucket_policy_statements"], partition)
    assert main(["plan", "--format", "json", str(root / "policies" / "data-fix.yaml")]) == 0
    (baseline,) = json.loads(capsys.readouterr().out)
    assert_only_in(baseline["baseline_statements"], partition)


def test_validate_refuses_a_principal_outside_the_partition_of_jitflow_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = local_repo(tmp_path, "us-gov-west-1", "aws")
    assert main(["validate", str(root / "requests")]) == 1
    assert "principal is in partition aws, but jitflow grants in partition aws-us-gov" in (
        capsys.readouterr().out)


# ---- jitflow.yaml: every role it names is in its region's partition --------------------------


@pytest.mark.parametrize("key", ["role", "revoke_role", "jitflow_roles", "break_glass_role"])
def test_settings_refuse_a_role_outside_the_regions_partition(tmp_path: Path, key: str) -> None:
    def settings(role: str) -> Settings:
        value = f"[{role}]" if key == "jitflow_roles" else role
        # role and revoke_role come together; the other one is a valid role of the region
        pair = {"role": "revoke_role", "revoke_role": "role"}.get(key)
        other = f"    {pair}: arn:aws-cn:iam::{ACCOUNT}:role/jitflow/other\n" if pair else ""
        (tmp_path / "jitflow.yaml").write_text(
            f'admins: ["@acme/security"]\nregion: cn-north-1\naccounts:\n  "{ACCOUNT}":\n'
            f"    {key}: {value}\n{other}")
        return load_settings(FsTree(tmp_path))

    role = f"arn:aws-cn:iam::{ACCOUNT}:role/jitflow/jitflow-grant"
    assert settings(role).partition == "aws-cn"
    with pytest.raises(ConfigError, match=(
            f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-grant is in partition aws, but "
            "region cn-north-1 is in partition aws-cn")):
        settings(role.replace("arn:aws-cn:", "arn:aws:"))
