"""AWS calls of bucket-policy grants against a moto server (reported, not a timed test).

    .venv/bin/python bench/bucket_bench.py [--grants N] [--buckets B]

Runs the real engine and boto3 adapter. Counts AWS calls per operation (botocore's
`before-call` event, not per retry attempt) for:
  - apply of one session-scoped grant into one bucket, and into two;
  - a revoke of N expired grants spread over B buckets: calls per bucket touched (target
    <= 3: GetBucketPolicy, Put- or DeleteBucketPolicy, the read-back), independent of N;
  - an early revoke of one grant.
Also prints the bucket policy's size as N grants share one bucket, against S3's 20 KB.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from jitflow import bucketpolicy as bp
from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts
from jitflow.engine import Approval, Engine
from jitflow.model import AccessEntry, Identities, Identity, Policy, PolicySet, Request, Settings
from jitflow.sandbox.moto import moto_server

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
ROLE = f"arn:aws:iam::{ACCOUNT}:role/data-engineers"
SETTINGS = Settings(admins=("admin",), accounts={ACCOUNT: None})


class Approvals:
    def approval_for(self, request: Request, policy: Policy) -> Approval:
        return Approval(request.id, ("erin",), 7, "c" * 40)


def policy(buckets: tuple[str, ...]) -> Policy:
    return Policy(name="lake", description="bench", account=ACCOUNT, buckets=buckets,
                  prefixes=("p/",), actions=("s3:PutObject",), max_duration=timedelta(hours=8),
                  approvers=("erin",), grant="bucket-policy")


def request(index: int, buckets: tuple[str, ...]) -> Request:
    return Request(policy="lake", name=f"r{index:04d}", requester=f"user{index}",
                   principal=ROLE, reason="bench", ticket=None, duration=timedelta(hours=1),
                   access=tuple(AccessEntry(b, f"p/{index}/", ("s3:PutObject",))
                                for b in buckets))


def identities(count: int) -> Identities:
    return Identities({f"user{i}": (Identity(ROLE, f"user{i}@acme.example"),)
                       for i in range(count)})


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count every AWS operation made by any boto3 client created meanwhile."""
    calls: Counter[str] = Counter()
    original = boto3.Session.client

    def client(self: boto3.Session, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-call", lambda model, **_: calls.update(
            [f"{made.meta.service_model.service_name}:{model.name}"]))
        return made

    boto3.Session.client = client  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        boto3.Session.client = original  # type: ignore[method-assign]


def engine(audit: Path, policies: PolicySet) -> Engine:
    return Engine(Accounts(SETTINGS, max_attempts=1), AuditLog(audit), SETTINGS, "local:bench",
                  policies=policies)


def run(grants: int, bucket_count: int, endpoint: str) -> None:
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    buckets = tuple(f"lake-{i}" for i in range(max(bucket_count, 2)))
    admin = boto3.client("s3", region_name=REGION)
    for bucket in buckets:
        admin.create_bucket(Bucket=bucket)
    boto3.client("iam", region_name=REGION).create_role(
        RoleName="data-engineers", AssumeRolePolicyDocument='{"Statement": []}')
    policies = PolicySet({"lake": policy(buckets)}, identities(grants + 3))
    with tempfile.TemporaryDirectory() as tmp:
        audit = Path(tmp)
        for label, targets in (("1 bucket", buckets[:1]), ("2 buckets", buckets[:2])):
            with counting() as calls:
                engine(audit, policies).apply(request(grants + len(targets), targets),
                                              policy(buckets), Approvals(), T0)
            print(f"apply of 1 session grant into {label}: {_shown(calls)}")
        spread = buckets[:bucket_count]
        for index in range(grants):
            engine(audit, policies).apply(request(index, (spread[index % len(spread)],)),
                                          policy(buckets), Approvals(), T0)
        size = len(admin.get_bucket_policy(Bucket=spread[0])["Policy"].encode())
        print(f"bucket policy of {spread[0]} with {grants // len(spread) + 2} grants: "
              f"{size:,} of {bp.BUCKET_POLICY_LIMIT:,} bytes")
        with counting() as calls:
            engine(audit, policies).revoke_request(request(0, spread[:1]).id, "bench", T0)
        print(f"early revoke of 1 grant: {_shown(calls)}")
        with counting() as calls:
            outcomes = engine(audit, policies).revoke(T0 + timedelta(hours=2))
        touched = len(buckets)
        s3_calls = sum(n for op, n in calls.items() if op.startswith("s3:"))
        print(f"revoke of {len(outcomes)} expired grants over {touched} buckets: {_shown(calls)}")
        print(f"  S3 calls per bucket touched: {s3_calls / touched:.2f} (target <= 3); "
              f"per grant: {s3_calls / max(len(outcomes), 1):.3f}")


def _shown(calls: Counter[str]) -> str:
    total = sum(n for op, n in calls.items() if op != "sts:GetCallerIdentity")
    parts = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
    return f"{total} calls besides one sts:GetCallerIdentity per run ({parts})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=60)
    parser.add_argument("--buckets", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with moto_server() as endpoint:
        run(args.grants, args.buckets, endpoint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
