"""AWS benchmark of the grant engine against a moto server (reported, not a timed test).

    .venv/bin/python bench/aws_bench.py [--grants N]

Prints, for the real engine and boto3 adapter:
  - apply of one grant: AWS calls (target <= 3 IAM calls);
  - revoke of N expired grants: AWS calls per grant (target <= 3), list calls (target <= 1 per
    1,000 grants), and wall time as a ratio to a minimal boto3 script that makes only the
    necessary detach and delete calls for the same N grants, measured in the same run
    (target <= 1.2x).
Calls are counted through botocore's event system (`before-call`), per operation, not per attempt.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts
from jitflow.engine import Approval, Engine
from jitflow.model import AccessEntry, Policy, Request, Settings
from jitflow.sandbox.moto import moto_server

# The tests' helper that makes moto's DeletePolicy answer DeleteConflict like IAM.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from testing.moto_server import delete_conflicts  # type: ignore[import-not-found,unused-ignore]

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
PER_ROLE = 10  # IAM's default attached managed policy quota per role
POLICY = Policy(
    name="lake",
    description="bench",
    account=ACCOUNT,
    buckets=("data-lake",),
    prefixes=("clickstream/",),
    actions=("s3:PutObject",),
    max_duration=timedelta(hours=8),
    approvers=("erin",),
)
SETTINGS = Settings(admins=("admin",), accounts={ACCOUNT: None})


class _Approvals:
    def approval_for(self, request: Request, policy: Policy) -> Approval:
        return Approval(request.id, ("erin",), 7, "c" * 40)


def _request(index: int, role: str) -> Request:
    return Request(
        policy="lake",
        name=f"grant-{index:05d}",
        requester="alice",
        principal=f"arn:aws:iam::{ACCOUNT}:role/{role}",
        reason="bench",
        ticket=None,
        duration=timedelta(hours=1),
        access=(AccessEntry("data-lake", f"clickstream/{index}/", ("s3:PutObject",)),),
    )


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count every AWS operation made by clients created inside the block."""
    calls: Counter[str] = Counter()
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)

        def before_call(event_name: str, **_: Any) -> None:
            calls[".".join(event_name.split(".")[1:3])] += 1

        client.meta.events.register("before-call.*.*", before_call)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def _iam(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "iam",
        region_name=REGION,
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
    )


def _reset(endpoint: str, roles: int) -> None:
    request = urllib.request.Request(endpoint + "/moto-api/reset", data=b"", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310 (127.0.0.1)
    iam = _iam(endpoint)
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}'  # noqa: E501
    for r in range(roles):
        iam.create_role(RoleName=f"bench-{r:04d}", AssumeRolePolicyDocument=trust)


def _engine(audit: Path) -> Engine:
    return Engine(Accounts(SETTINGS), AuditLog(audit), SETTINGS, actor="local:bench")


def _apply_all(grants: int, audit: Path) -> None:
    engine = _engine(audit)
    for index in range(grants):
        engine.apply(_request(index, f"bench-{index // PER_ROLE:04d}"), POLICY, _Approvals(), T0)


def _fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))


def _start_server() -> tuple[str, contextlib.ExitStack]:
    """A moto server on 127.0.0.1 whose DeletePolicy answers DeleteConflict while the policy
    is attached, as IAM does (moto deletes it); the stack stops both."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    stack = contextlib.ExitStack()
    endpoint = stack.enter_context(moto_server())
    stack.enter_context(delete_conflicts())
    return endpoint, stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=1000)
    args = parser.parse_args()
    grants: int = args.grants
    roles = -(-grants // PER_ROLE)

    endpoint, stack = _start_server()
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            # 1. apply of one grant
            _reset(endpoint, 1)
            with counting() as calls:
                _engine(Path(tmp, "one")).apply(_request(0, "bench-0000"), POLICY, _Approvals(), T0)
            iam_calls = sum(n for op, n in calls.items() if op.startswith("iam."))
            print(f"apply, 1 grant: {sum(calls.values())} AWS calls ({_fmt(calls)})")
            print(f"  IAM calls: {iam_calls} (target <= 3)")

            # 2a. baseline: the same grants, removed by a minimal script that knows every
            #     ARN and attachment already (no list calls, no audit): detach + delete.
            audit = Path(tmp, "base")
            _reset(endpoint, roles)
            _apply_all(grants, audit)
            owned = [
                (p["Arn"], e["RoleName"])
                for p in _iam(endpoint).list_policies(
                    Scope="Local", PathPrefix="/jitflow/", MaxItems=1000
                )["Policies"]
                for e in _iam(endpoint).list_entities_for_policy(PolicyArn=p["Arn"])["PolicyRoles"]
            ]
            assert len(owned) == min(grants, 1000), len(owned)
            iam = _iam(endpoint)
            started = time.perf_counter()
            for arn, role in owned:
                iam.detach_role_policy(RoleName=role, PolicyArn=arn)
                iam.delete_policy(PolicyArn=arn)
            baseline = time.perf_counter() - started

            # 2b. jitflow revoke of the same number of expired grants
            audit = Path(tmp, "jitflow")
            _reset(endpoint, roles)
            _apply_all(grants, audit)
            engine = _engine(audit)
            with counting() as calls:
                started = time.perf_counter()
                outcomes = engine.revoke_expired(T0 + timedelta(hours=2))
                elapsed = time.perf_counter() - started
            assert sum(o.action == "expired" for o in outcomes) == grants, outcomes[:3]
            assert not _iam(endpoint).list_policies(Scope="Local", PathPrefix="/jitflow/")[
                "Policies"
            ]
            per_grant_ops = {op: n for op, n in calls.items() if op != "iam.ListPolicies"}
            non_list = sum(n for op, n in per_grant_ops.items() if op.startswith("iam."))
            print(
                f"revoke, {grants} expired grants: {sum(calls.values())} AWS calls ({_fmt(calls)})"
            )
            print(
                f"  IAM calls per grant (excluding the sweep's list): {non_list / grants:.2f} "
                "(target <= 3)"
            )
            print(f"  list calls: {calls['iam.ListPolicies']} (target <= 1 per 1,000 grants)")
            print(
                f"  wall: jitflow {elapsed:.2f}s, minimal boto3 detach+delete {baseline:.2f}s, "
                f"ratio {elapsed / baseline:.2f}x (target <= 1.2x)"
            )
            print(f"  audit records written: {len(AuditLog(audit).records()) - grants}")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
