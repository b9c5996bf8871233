"""AWS benchmark of the grant engine against a moto server (reported, not a timed test).

    .venv/bin/python bench/aws_bench.py [--grants N] [--rounds R]     # default 300 x 4

Prints, for the real engine and boto3 adapter:
  - apply of one grant: AWS calls (target <= 3 IAM calls);
  - revoke of N expired grants: AWS calls per grant (target <= 3), list calls (target <= 1 per
    1,000 grants), and wall time as a ratio to a minimal boto3 script (target <= 1.2x).

The minimal script does the same AWS work inside its timer as jitflow does inside its own:
list the /jitflow/ policies (every page), then detach each from its role and delete it. It
knows each policy's role from the bench's own layout (grant i is on role i // 10), as jitflow
knows it from its audit log; it keeps no audit log. Every round sets up both sides alike
(fresh moto state, N grants applied through the engine, untimed) and times them in turn, the
order alternating from round to round; the ratio is reported per round, with its median and
range. Each side's time is split into AWS calls (botocore's `_make_api_call`, timed by the
same wrapper on both sides) and, for jitflow, audit appends, the log read and the rest. As the
AWS call time of one side varies from round to round by about as much as the gap, the bench
also reports each side's time outside AWS calls and the ratio jitflow would have with the
baseline's AWS call time (same calls, same server): a steadier measure of what jitflow adds.
Calls are counted through botocore's event system (`before-call`), per operation, not per
attempt.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
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
from botocore.client import BaseClient
from botocore.config import Config

from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts
from jitflow.engine import Approval, Engine
from jitflow.model import AccessEntry, Policy, Request, Settings
from jitflow.sandbox.moto import moto_server

# The tests' helper that makes moto's DeletePolicy answer DeleteConflict like IAM (testing/ is
# repo-only: the repository root goes on the path when this runs as a script).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testing.moto_server import delete_conflicts

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


def _role_of(policy_name: str) -> str:
    """The role a bench grant is attached to, from its policy name (jitflow.lake.grant-00042)."""
    return f"bench-{int(policy_name.rsplit('-', 1)[1]) // PER_ROLE:04d}"


def _baseline_revoke(endpoint: str) -> int:
    """The minimal script: list every /jitflow/ policy, then detach and delete each."""
    iam = _iam(endpoint)
    listed: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Scope": "Local", "PathPrefix": "/jitflow/", "MaxItems": 1000}
    while True:
        page = iam.list_policies(**kwargs)
        listed += page["Policies"]
        if not page.get("IsTruncated"):
            break
        kwargs["Marker"] = page["Marker"]
    for policy in listed:
        iam.detach_role_policy(RoleName=_role_of(policy["PolicyName"]), PolicyArn=policy["Arn"])
        iam.delete_policy(PolicyArn=policy["Arn"])
    return len(listed)


@contextmanager
def time_spent() -> Iterator[dict[str, float]]:
    """Seconds spent, while the block runs, in AWS calls (botocore's `_make_api_call`, the
    whole request and response, retries included), in AuditLog.append_unless and in
    AuditLog.records. The same wrapper times both sides' AWS calls."""
    spent = {"aws": 0.0, "append": 0.0, "read": 0.0}
    targets: dict[str, tuple[Any, str]] = {
        "aws": (BaseClient, "_make_api_call"),
        "append": (AuditLog, "append_unless"),
        "read": (AuditLog, "records"),
    }
    originals = {kind: getattr(owner, name) for kind, (owner, name) in targets.items()}

    def timed(kind: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[kind](*args, **kwargs)
            finally:
                spent[kind] += time.perf_counter() - start

        return wrapper

    for kind, (owner, name) in targets.items():
        setattr(owner, name, timed(kind))
    try:
        yield spent
    finally:
        for kind, (owner, name) in targets.items():
            setattr(owner, name, originals[kind])


class Round:
    """One side of one round: fresh state, N grants applied (untimed), then the timed revoke."""

    def __init__(self, endpoint: str, grants: int, tmp: Path) -> None:
        self.endpoint, self.grants, self.tmp = endpoint, grants, tmp
        self.runs = 0

    def _setup(self) -> Path:
        self.runs += 1
        audit = self.tmp / f"audit-{self.runs}"
        _reset(self.endpoint, -(-self.grants // PER_ROLE))
        _apply_all(self.grants, audit)
        return audit

    def baseline(self) -> tuple[float, dict[str, float]]:
        self._setup()
        with time_spent() as spent:
            started = time.perf_counter()
            removed = _baseline_revoke(self.endpoint)
            elapsed = time.perf_counter() - started
        assert removed == self.grants, removed
        return elapsed, spent

    def jitflow(self) -> tuple[float, Counter[str], dict[str, float]]:
        audit = self._setup()
        engine = _engine(audit)
        with counting() as calls, time_spent() as spent:
            started = time.perf_counter()
            outcomes = engine.revoke(T0 + timedelta(hours=2))
            elapsed = time.perf_counter() - started
        assert sum(o.action == "expired" for o in outcomes) == self.grants, outcomes[:3]
        assert not _iam(self.endpoint).list_policies(Scope="Local", PathPrefix="/jitflow/")[
            "Policies"
        ]
        assert len(AuditLog(audit).records()) == 2 * self.grants
        return elapsed, calls, spent


def _report_calls(calls: Counter[str], grants: int) -> None:
    per_grant_ops = {op: n for op, n in calls.items() if op != "iam.ListPolicies"}
    non_list = sum(n for op, n in per_grant_ops.items() if op.startswith("iam."))
    print(f"revoke, {grants} expired grants: {sum(calls.values())} AWS calls ({_fmt(calls)})")
    print(f"  IAM calls per grant (excluding the sweep's list): {non_list / grants:.2f} "
          "(target <= 3)")
    print(f"  list calls: {calls['iam.ListPolicies']} (target <= 1 per 1,000 grants)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    grants: int = args.grants

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

            # 2. revoke of N expired grants, both sides in every round, order alternating
            side = Round(endpoint, grants, Path(tmp))
            ratios: list[float] = []
            equalised: list[float] = []  # jitflow's own time on the baseline's AWS call time
            own: list[tuple[float, float]] = []  # (jitflow, baseline) time not in AWS calls
            for round_ in range(args.rounds):
                if round_ % 2 == 0:
                    baseline, base_spent = side.baseline()
                    elapsed, calls, spent = side.jitflow()
                else:
                    elapsed, calls, spent = side.jitflow()
                    baseline, base_spent = side.baseline()
                if round_ == 0:
                    _report_calls(calls, grants)
                ratios.append(elapsed / baseline)
                own.append((elapsed - spent["aws"], baseline - base_spent["aws"]))
                equalised.append((base_spent["aws"] + own[-1][0]) / baseline)
                first = "baseline" if round_ % 2 == 0 else "jitflow"
                print(
                    f"  round {round_ + 1} ({first} first): jitflow {elapsed:.2f}s (AWS calls "
                    f"{spent['aws']:.2f}s, audit appends {spent['append']:.2f}s, log read "
                    f"{spent['read']:.2f}s, rest {elapsed - sum(spent.values()):.2f}s), minimal "
                    f"boto3 {baseline:.2f}s (AWS calls {base_spent['aws']:.2f}s), "
                    f"ratio {elapsed / baseline:.2f}x"
                )
            print(
                f"  ratio over {args.rounds} rounds: median {statistics.median(ratios):.2f}x, "
                f"range {min(ratios):.2f}-{max(ratios):.2f}x (target <= 1.2x)"
            )
            mine = statistics.median(o[0] for o in own) * 1000 / grants
            theirs = statistics.median(o[1] for o in own) * 1000 / grants
            print(
                f"  time outside AWS calls per grant: jitflow {mine:.2f} ms, minimal boto3 "
                f"{theirs:.2f} ms; ratio with jitflow's own time on the baseline's AWS call time: "
                f"median {statistics.median(equalised):.2f}x, range "
                f"{min(equalised):.2f}-{max(equalised):.2f}x"
            )
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
