"""Test helpers: a moto server on 127.0.0.1, an effective-access harness, AWS fault injection.

Owned by the AWS proof work (tests/test_aws_access.py, tests/test_aws_faults.py, bench/).
Import the fixtures into a test module with
`from testing.moto_server import moto_server  # noqa: F401` (pytest puts tests/ on sys.path).

Why a server and not `mock_aws`: the effective-access proof must go through real HTTP, real
SigV4 signatures and moto's IAM enforcement, with the principal's own keys.

The server itself is started by `jitflow.sandbox.moto` (the launcher `jitflow demo` uses too).
moto's enforcement switch (`INITIAL_NO_AUTH_ACTION_COUNT`) is process-global and the threaded
server runs in this process, so every helper that turns it on restores "off" afterwards:
other test modules using `mock_aws` must never see enforcement on.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.loaders import create_loader
from botocore.retries import standard
from moto.iam.exceptions import DeleteConflictException, EntityAlreadyExists
from moto.iam.models import IAMBackend

from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts
from jitflow.engine import Engine
from jitflow.model import AccessEntry, Policy, PolicySet, Request, Settings
from jitflow.sandbox import moto as sandbox_moto
from testing import builders

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ANCHOR = Settings(admins=(), accounts={}).audit_anchor  # the default audit anchor parameter


def create_anchor(ssm: Any, name: str = ANCHOR) -> None:
    """The audit anchor parameter as the bootstrap creates it: a String holding `unset`
    (jitflow.audit.anchor)."""
    ssm.put_parameter(Name=name, Value="unset", Type="String")


@dataclass(frozen=True)
class Creds:
    """One principal's credentials, as AWS would hand them out."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """The standard AWS environment for these credentials (what jitflow reads)."""
        values = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


# Keys moto accepts while enforcement is off (any non-empty value works then).
SETUP_CREDS = Creds("AKIASETUPSETUPSETUP0", "setup-secret")


@dataclass
class MotoServer:
    """A running moto server; `endpoint` is http://127.0.0.1:<real port>."""

    endpoint: str
    region: str = REGION
    # One session for every client: it caches the service models, which makes a new client
    # cheap (credentials are passed per client, so sharing it mixes nothing up).
    _session: boto3.session.Session = field(default_factory=boto3.session.Session)

    def client(self, service: str, creds: Creds = SETUP_CREDS, retries: int = 1) -> Any:
        """A boto3 client for `service` against this server, signed with `creds`.

        Few attempts by default: a test must see a denial at once, not after backoff.
        """
        config = Config(
            retries={"mode": "standard", "total_max_attempts": retries},
            s3={"addressing_style": "path"},
        )
        return self._session.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=config,
        )

    def _post(self, path: str, body: bytes = b"") -> dict[str, Any]:
        # Not form-encoded: Flask would swallow the body into `form` and moto reads `data`.
        request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
            self.endpoint + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        result: dict[str, Any] = json.loads(text) if text else {}
        return result

    def enforce_iam(self, on: bool) -> None:
        """Switch moto's IAM enforcement on (every call checked) or off (every call allowed)."""
        sandbox_moto.enforce_iam(self.endpoint, on)

    def reset(self) -> None:
        """Forget every resource (and turn enforcement off, since no identity survives)."""
        self.enforce_iam(False)
        self._post("/moto-api/reset")

    def env(self, creds: Creds) -> dict[str, str]:
        """The standard AWS environment pointing jitflow at this server with `creds`."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **creds.env(),
        }


@contextmanager
def running_server() -> Iterator[MotoServer]:
    """Start a threaded moto server on a free port; always stop it and turn enforcement off."""
    with sandbox_moto.moto_server() as endpoint:
        handle = MotoServer(endpoint=endpoint)
        try:
            yield handle
        finally:
            handle.reset()


@contextmanager
def enforcing(server: MotoServer) -> Iterator[None]:
    """IAM enforcement on for the block; always off again afterwards."""
    server.enforce_iam(True)
    try:
        yield
    finally:
        server.enforce_iam(False)


# ---------------------------------------------------------------- effective-access harness

READ_ACTIONS = ("s3:GetObject", "s3:ListBucket")


def read_only_document(buckets: tuple[str, ...]) -> dict[str, Any]:
    resources = [f"arn:aws:s3:::{b}" for b in buckets] + [f"arn:aws:s3:::{b}/*" for b in buckets]
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": resources}],
    }


ADMIN_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class World:
    """An account with buckets, an admin (jitflow's identity), a user and a role it can assume.

    `user` has read-only access to every bucket and may assume `role_arn`; the role has the
    same read-only access. Nobody but the admin can write, until a grant says otherwise.
    """

    server: MotoServer
    admin: Creds
    user: Creds
    user_name: str
    user_arn: str
    role_name: str
    role_arn: str
    buckets: tuple[str, ...]
    _sessions: int = field(default=0)

    def user_s3(self) -> Any:
        return self.server.client("s3", self.user)

    def role_creds(self) -> Creds:
        """A fresh role session opened with the user's own keys (sts:AssumeRole, trust checked)."""
        self._sessions += 1
        sts = self.server.client("sts", self.user)
        answer = sts.assume_role(RoleArn=self.role_arn, RoleSessionName=f"t{self._sessions}")
        c = answer["Credentials"]
        return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    def role_s3(self, creds: Creds | None = None) -> Any:
        return self.server.client("s3", creds or self.role_creds())

    def admin_client(self, service: str) -> Any:
        return self.server.client(service, self.admin)


def build_world(
    server: MotoServer,
    buckets: tuple[str, ...] = ("data-lake", "other-bucket"),
    objects: tuple[str, ...] = ("clickstream/seed.txt", "clickstream-old/seed.txt", "seed.txt"),
    enforce: bool = True,
) -> World:
    """Reset the server, build the account (enforcement off), then turn enforcement on."""
    server.reset()
    iam = server.client("iam")
    s3 = server.client("s3")
    create_anchor(server.client("ssm"))
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        for key in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=b"seed")

    iam.create_user(UserName="jitflow-admin")
    iam.put_user_policy(
        UserName="jitflow-admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_DOCUMENT)
    )
    admin_key = iam.create_access_key(UserName="jitflow-admin")["AccessKey"]

    read = iam.create_policy(
        PolicyName="read-only", PolicyDocument=json.dumps(read_only_document(buckets))
    )["Policy"]["Arn"]
    user_arn = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=read)
    user_key = iam.create_access_key(UserName="alice")["AccessKey"]

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName="analyst", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    iam.attach_role_policy(RoleName="analyst", PolicyArn=read)
    assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
    }
    iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=json.dumps(assume))

    if enforce:
        server.enforce_iam(True)
    return World(
        server=server,
        admin=Creds(admin_key["AccessKeyId"], admin_key["SecretAccessKey"]),
        user=Creds(user_key["AccessKeyId"], user_key["SecretAccessKey"]),
        user_name="alice",
        user_arn=user_arn,
        role_name="analyst",
        role_arn=role_arn,
        buckets=buckets,
    )


def assume_role(server: MotoServer, by: Creds, role_arn: str, session: str) -> Creds:
    """A role session opened with `by`'s own keys (sts:AssumeRole; moto checks the trust)."""
    answer = server.client("sts", by).assume_role(RoleArn=role_arn, RoleSessionName=session)
    c = answer["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def create_user(iam: Any, name: str, *statements: dict[str, Any]) -> tuple[Creds, str]:
    """A user with its own keys and (if given) one inline policy: (creds, ARN)."""
    arn: str = iam.create_user(UserName=name)["User"]["Arn"]
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(key["AccessKeyId"], key["SecretAccessKey"]), arn


def _allowed(call: Callable[[], object]) -> bool:
    """True when AWS accepted the call, False on AccessDenied; anything else is a test bug."""
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] == "AccessDenied":
            return False
        raise
    return True


def can_put(s3: Any, bucket: str, key: str) -> bool:
    return _allowed(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"))


def can_list(s3: Any, bucket: str, prefix: str | None = None) -> bool:
    """ListObjectsV2, with `Prefix` only when one is given (no prefix: no `s3:prefix` key)."""
    extra = {} if prefix is None else {"Prefix": prefix}
    return _allowed(lambda: s3.list_objects_v2(Bucket=bucket, **extra))


def can_get(s3: Any, bucket: str, key: str) -> bool:
    def read() -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    return _allowed(read)


# ------------------------------------------------------------------- call counting / faults


def _op_name(event_name: str) -> str:
    # "before-call.iam.ListPolicies" -> "iam.ListPolicies"
    return ".".join(event_name.split(".")[1:3])


@dataclass
class CallLog:
    """Every AWS operation (not attempt) made by clients created while installed.

    `targets` names the same operations with the bucket of an S3 call
    ("s3.GetBucketPolicy data-lake"), from botocore's request context."""

    calls: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def attach(self, client: BaseClient) -> None:
        client.meta.events.register("before-call.*.*", self._before_call)

    def _before_call(self, event_name: str, context: dict[str, Any] | None = None,
                     **_: Any) -> None:
        op = _op_name(event_name)
        self.calls.append(op)
        bucket = (context or {}).get("input_params", {}).get("Bucket")
        self.targets.append(f"{op} {bucket}" if bucket else op)

    def count(self, prefix: str = "") -> int:
        return sum(1 for c in self.calls if c.startswith(prefix))


# throttle / server-error / connection: the request never reaches AWS, on any attempt.
# lost-response: AWS made the change, but the caller sees a failure (the ambiguous case).
FAULT_KINDS = ("throttle", "server-error", "connection", "lost-response")


@dataclass
class FaultInjector:
    """Fail the Nth AWS operation (1-based, counted across every client) on every attempt.

    The failure is persistent for that operation, so botocore's retry mode retries it and
    gives up: the caller sees exactly what it would see after retries are exhausted. Later
    operations succeed. `attempts` records how many times the doomed operation was sent.
    """

    fail_at: int | None = None
    kind: str = "throttle"
    log: CallLog = field(default_factory=CallLog)
    attempts: int = 0
    failed_op: str | None = None
    op: str = ""  # when set, `fail_at` counts only the calls of this operation ("sts.AssumeRole")
    _doomed: bool = False
    _counted: int = 0

    def attach(self, client: BaseClient) -> None:
        client.meta.events.register("before-call.*.*", self._before_call)
        client.meta.events.register("before-send.*.*", self._before_send)
        client.meta.events.register("after-call.*.*", self._after_call)

    def _before_call(self, event_name: str, **_: Any) -> None:
        self.log.calls.append(_op_name(event_name))
        self._counted += not self.op or _op_name(event_name) == self.op
        self._doomed = self._counted == self.fail_at and (
            not self.op or _op_name(event_name) == self.op)
        if self._doomed:
            self.failed_op = _op_name(event_name)

    # botocore's stubs type handlers as returning None; a before-send handler may return a
    # response to short-circuit the HTTP call.
    def _before_send(self, request: Any, **_: Any) -> Any:
        if not self._doomed or self.kind == "lost-response":
            return None
        self.attempts += 1
        if self.kind == "connection":
            raise EndpointConnectionError(endpoint_url=str(request.url))
        if self.kind == "throttle":
            status, code = 400, "Throttling"
        else:
            status, code = 500, "InternalFailure"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>injected {code}</Message></Error>"
            "<RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "text/xml"
        return AWSResponse(str(request.url), status, headers, _Raw(body))

    def _after_call(self, event_name: str, **_: Any) -> None:
        if self._doomed and self.kind == "lost-response":
            self.attempts += 1
            raise ClientError(
                {"Error": {"Code": "InternalFailure", "Message": "injected: response lost"}},
                event_name.rsplit(".", maxsplit=1)[-1],
            )


class _Raw:
    """The minimal raw-body object AWSResponse reads from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ClientHook(Protocol):
    """Anything that attaches itself to a new botocore client (CallLog, FaultInjector,
    OnCall, testing.cloudtrail.StubbedHistory)."""

    def attach(self, client: BaseClient) -> None: ...


@contextmanager
def instrument_clients(hook: ClientHook) -> Iterator[None]:
    """Attach `hook` to every botocore client created inside the block (however it is made)."""
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        hook.attach(client)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


@contextmanager
def delete_conflicts() -> Iterator[None]:
    """Make moto's DeletePolicy answer like IAM: DeleteConflict while the policy is attached
    to anything or has a version besides the default, and nothing deleted.

    moto 5 deletes such a policy (leaving dangling attachments), which would let an engine
    that deletes before detaching everything pass every test. The engine relies on this
    answer, so the tests and the benchmark run with it (in-process: `mock_aws` and the
    threaded server share the backend class)."""
    original = IAMBackend.delete_policy

    def delete_policy(self: IAMBackend, policy_arn: str) -> None:
        policy = self.get_policy(policy_arn)
        if policy.attachment_count > 0:
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        if len(policy.versions) > 1:
            raise DeleteConflictException(
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's versions. The default version is deleted with the policy."
            )
        original(self, policy_arn)

    IAMBackend.delete_policy = delete_policy  # type: ignore[method-assign]
    try:
        yield
    finally:
        IAMBackend.delete_policy = original  # type: ignore[method-assign]


@contextmanager
def no_retry_sleep() -> Iterator[None]:
    """Keep botocore's real retry decisions but skip the backoff sleeps (fast fault matrix)."""
    original = standard.ExponentialBackoff.delay_amount
    standard.ExponentialBackoff.delay_amount = lambda self, context: 0  # type: ignore[method-assign]
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]


# ------------------------------------------------------------------ grant engine scenarios
# Requests and policies are built from the model dataclasses directly: these tests judge the
# engine and AWS, not the loader.

T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
GRANT_PREFIX = "clickstream/"


def make_policy(buckets: tuple[str, ...] = ("data-lake", "other-bucket")) -> Policy:
    """The data-lake policy of the moto tests (testing.builders.make_policy, their values)."""
    return builders.make_policy(
        name="lake", description="the data lake", buckets=buckets,
        prefixes=("clickstream/", "clickstream-old/", "backfill/"),
        actions=("s3:PutObject", "s3:DeleteObject"), max_duration=timedelta(hours=8))


def make_request(
    name: str,
    principal: str,
    prefix: str = GRANT_PREFIX,
    bucket: str = "data-lake",
    duration: timedelta = timedelta(hours=2),
) -> Request:
    """A request of `make_policy()` (testing.builders.make_request, their values)."""
    return builders.make_request(
        policy="lake", name=name, principal=principal,
        reason="backfill after job 4411 failed", duration=duration, path="",
        access=(AccessEntry(bucket=bucket, prefix=prefix, actions=("s3:PutObject",)),))


def jitflow_settings(quota: int = 10) -> Settings:
    return Settings(admins=("admin",), accounts={ACCOUNT: None}, attached_policy_quota=quota)


def point_env_at(monkeypatch: pytest.MonkeyPatch, server: MotoServer, creds: Creds) -> None:
    """The standard AWS environment jitflow reads, aimed at `server` as `creds`."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for name, value in server.env(creds).items():
        monkeypatch.setenv(name, value)


_LOADER = create_loader()


def fresh_session() -> boto3.session.Session:
    """A new boto3 session (credentials, endpoint and region read from the environment now),
    sharing one model loader: creating clients is then ~4x cheaper, and the matrix stays fast."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


def make_engine(audit_dir: Path, settings: Settings | None = None, max_attempts: int = 2,
                policies: PolicySet | None = None) -> Engine:
    """The real engine with the real boto3 adapter, credentials from the environment.
    `policies` (the default branch's) are what bucket-policy grants need."""
    settings = settings or jitflow_settings()
    accounts = Accounts(settings, session=fresh_session(), max_attempts=max_attempts)
    return Engine(accounts, AuditLog(audit_dir), settings, actor="local:test",
                  policies=policies)


def audit_events(audit_dir: Path) -> list[tuple[str, str, bool]]:
    """(event, request, reconciled) of every record, after checking the chain verifies."""
    log = AuditLog(audit_dir)
    assert log.verify() == []
    return [(str(r["event"]), str(r["request"]), bool(r.get("reconciled"))) for r in log.records()]


# ------------------------------------------------------- races (owned by tests/test_races.py)


@dataclass
class OnCall:
    """Run `action` once, around the `nth` call of `op` ("iam.ListPolicies"), made by any
    client created while installed: a deterministic interleaving of two runs.

    `before=True` runs it before the call is sent, else after its answer came back. The
    action's own calls do not count (it has fired by then), so it may run a whole engine."""

    op: str
    action: Callable[[], object]
    nth: int = 1
    before: bool = False
    seen: int = 0
    fired: bool = False

    def attach(self, client: BaseClient) -> None:
        event = "before-call.*.*" if self.before else "after-call.*.*"
        client.meta.events.register(event, self._hook)

    def _hook(self, event_name: str, **_: Any) -> None:
        if self.fired or _op_name(event_name) != self.op:
            return
        self.seen += 1
        if self.seen == self.nth:
            self.fired = True
            self.action()


@contextmanager
def unique_policy_names() -> Iterator[None]:
    """Make moto's CreatePolicy answer like IAM: a customer-managed policy name is unique in
    the account whatever its path (moto 5 only refuses the same ARN, so two concurrent
    applies of one request at different times would both succeed there and nowhere else)."""
    original = IAMBackend.create_policy

    def create_policy(  # noqa: PLR0917 (moto's own signature)
        self: IAMBackend, description: str, path: str, policy_document: str,
        policy_name: str, tags: list[dict[str, str]],
    ) -> Any:
        for existing in self.managed_policies.values():
            if existing.name == policy_name and existing.arn.split(":")[4] == self.account_id:
                raise EntityAlreadyExists(
                    f"A policy called {policy_name} already exists. Duplicate names are not "
                    "allowed.")
        return original(self, description, path, policy_document, policy_name, tags)

    IAMBackend.create_policy = create_policy  # type: ignore[method-assign]
    try:
        yield
    finally:
        IAMBackend.create_policy = original  # type: ignore[method-assign]
