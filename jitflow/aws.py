"""The one boto3 adapter: sessions per account, the small IAM and S3 ports the engine uses,
and CloudTrail's event history for `jitflow audit trail`.

Retries are botocore's (`standard` mode: throttling, 5xx and connection errors with backoff);
there is no hand-written retry loop. The standard AWS environment is honoured as boto3 reads
it: AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, the credential chain and
AWS_MAX_ATTEMPTS (or the profile's max_attempts).
Every botocore failure leaves this module as a jitflow.errors.AwsError with a readable message.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from jitflow.audit.anchor import Stored
from jitflow.bucketpolicy import NoSuchBucketError
from jitflow.errors import AwsError, ConfigError
from jitflow.grants import (
    PATH_ROOT,
    DeleteConflictError,
    Entities,
    EntityExistsError,
    ListedPolicy,
    NoSuchEntityError,
    Principal,
    QuotaExceededError,
    RoleFacts,
    role_session_name,
)
from jitflow.model import Duty, Settings
from jitflow.trail import LookedUp

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sts.client import STSClient

DEFAULT_MAX_ATTEMPTS = 5
_T = TypeVar("_T")
_C = TypeVar("_C")


class NoSuchBucketPolicyError(AwsError):
    """The bucket has no policy (GetBucketPolicy's answer for a bucket without one)."""


class NoSuchParameterError(AwsError):
    """The SSM parameter does not exist."""


_CODE_ERRORS: dict[str, type[AwsError]] = {
    "NoSuchBucketPolicy": NoSuchBucketPolicyError,
    "NoSuchBucket": NoSuchBucketError,
    "NoSuchEntity": NoSuchEntityError,
    "EntityAlreadyExists": EntityExistsError,
    "DeleteConflict": DeleteConflictError,
    "LimitExceeded": QuotaExceededError,
    "ParameterNotFound": NoSuchParameterError,
}


def client_config(max_attempts: int | None = DEFAULT_MAX_ATTEMPTS) -> Config:
    """botocore's `standard` retry mode. `max_attempts` counts retries after the first attempt
    (botocore's Config semantics); None leaves the count to botocore, which then reads
    AWS_MAX_ATTEMPTS or the profile's `max_attempts` (total attempts) or uses its default."""
    if max_attempts is None:
        return Config(retries={"mode": "standard"})
    return Config(retries={"mode": "standard", "max_attempts": max_attempts})


def configured_max_attempts(session: boto3.Session) -> int | None:
    """`max_attempts` as the standard AWS environment sets it (AWS_MAX_ATTEMPTS, then the
    profile), or None. boto3 exposes the resolved value only on its botocore session."""
    value = session._session.get_config_variable("max_attempts")
    return None if value is None else int(value)


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore failures into AwsError subclasses the engine can tell apart."""
    try:
        yield
    except ClientError as error:
        info = error.response.get("Error", {})
        code = str(info.get("Code", "Unknown"))
        message = str(info.get("Message", "")).strip()
        cls = _CODE_ERRORS.get(code, AwsError)
        raise cls(f"AWS {what} failed: {code}{': ' + message if message else ''}") from error
    except BotoCoreError as error:  # no credentials, connection refused after retries...
        raise AwsError(f"AWS {what} failed: {error}") from error
    except ResponseParserError as error:  # an HTML 502 from a proxy: the service failed
        raise AwsError(f"AWS {what} failed: its answer could not be read ({error})") from error


def _unreadable_answers(cls: type[_C]) -> type[_C]:
    """Every public method of an adapter class: an answer that is not what AWS documents (an
    HTML page from a proxy parsed into nothing, a missing key) is an AwsError, "safe to
    rerun" (exit 3), not a bug in jitflow (exit 70)."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not callable(method):
            continue
        setattr(cls, name, _guarded(name, method))
    return cls


def _guarded(name: str, method: Callable[..., _T]) -> Callable[..., _T]:
    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> _T:
        try:
            return method(*args, **kwargs)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise AwsError(f"AWS answered {name} with something that cannot be read "
                           f"({type(error).__name__}: {error})") from error

    return guarded


def _call(what: str, fn: Callable[..., _T], **kwargs: Any) -> _T:
    with aws_errors(what):
        return fn(**kwargs)


@_unreadable_answers
class Iam:
    """Exactly the IAM calls the engine makes, typed, in one account."""

    def __init__(self, client: IAMClient, account: str) -> None:
        self.client = client
        self.account = account

    # reads
    def _pages(self, operation: str, **kwargs: Any) -> list[Any]:
        """Every page of an IAM list call, through botocore's paginator (1,000 per call)."""
        with aws_errors(f"iam:{operation}"):
            paginator = self.client.get_paginator(_snake(operation))  # type: ignore[call-overload]
            return list(paginator.paginate(**kwargs, PaginationConfig={"PageSize": 1000}))

    def list_jitflow_policies(self) -> list[ListedPolicy]:
        """Every customer-managed policy under /jitflow/: one call per 1,000 policies."""
        return [
            ListedPolicy(
                arn=p["Arn"],
                name=p["PolicyName"],
                path=p.get("Path", "/"),
                attachment_count=int(p.get("AttachmentCount", 1)),
                default_version_id=p.get("DefaultVersionId", "v1"),
            )
            for page in self._pages("ListPolicies", Scope="Local", PathPrefix=PATH_ROOT)
            for p in page.get("Policies", [])
        ]

    def list_attached(self, principal: Principal) -> list[tuple[str, str]]:
        """(name, arn) of the managed policies attached to a role or user."""
        if principal.kind == "role":
            pages = self._pages("ListAttachedRolePolicies", RoleName=principal.name)
        else:
            pages = self._pages("ListAttachedUserPolicies", UserName=principal.name)
        return [(p["PolicyName"], p["PolicyArn"]) for page in pages
                for p in page["AttachedPolicies"]]

    def list_entities(self, arn: str) -> Entities:
        pages = self._pages("ListEntitiesForPolicy", PolicyArn=arn)
        return Entities(
            tuple(r["RoleName"] for page in pages for r in page.get("PolicyRoles", [])),
            tuple(u["UserName"] for page in pages for u in page.get("PolicyUsers", [])),
            tuple(g["GroupName"] for page in pages for g in page.get("PolicyGroups", [])),
        )

    def get_policy(self, arn: str) -> tuple[dict[str, str], str]:
        """(tags, default version id). GetPolicy returns the tags; ListPolicies does not."""
        policy = _call("iam:GetPolicy", self.client.get_policy, PolicyArn=arn)["Policy"]
        tags = {t["Key"]: t["Value"] for t in policy.get("Tags", [])}
        return tags, policy.get("DefaultVersionId", "v1")

    def get_document(self, arn: str, version_id: str) -> str:
        """The policy document as compact canonical JSON (what jitflow uploaded and hashed)."""
        version = _call(
            "iam:GetPolicyVersion", self.client.get_policy_version,
            PolicyArn=arn, VersionId=version_id,
        )["PolicyVersion"]
        document: Any = version.get("Document", {})
        if isinstance(document, str):  # some endpoints return it URL-encoded
            document = json.loads(unquote(document))
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    def list_versions(self, arn: str) -> list[tuple[str, bool]]:
        page = _call("iam:ListPolicyVersions", self.client.list_policy_versions, PolicyArn=arn)
        return [(v["VersionId"], bool(v.get("IsDefaultVersion"))) for v in page["Versions"]]

    # changes
    def create_policy(
        self, name: str, path: str, document_json: str, tags: list[dict[str, str]]
    ) -> str:
        created = _call(
            "iam:CreatePolicy", self.client.create_policy,
            PolicyName=name, Path=path, PolicyDocument=document_json, Tags=tags,
            Description="jitflow grant; see tags",
        )
        return created["Policy"]["Arn"]

    def attach(self, principal: Principal, arn: str) -> None:
        if principal.kind == "role":
            _call("iam:AttachRolePolicy", self.client.attach_role_policy,
                  RoleName=principal.name, PolicyArn=arn)
        else:
            _call("iam:AttachUserPolicy", self.client.attach_user_policy,
                  UserName=principal.name, PolicyArn=arn)

    def detach(self, kind: str, name: str, arn: str) -> None:
        if kind == "role":
            _call("iam:DetachRolePolicy", self.client.detach_role_policy,
                  RoleName=name, PolicyArn=arn)
        elif kind == "user":
            _call("iam:DetachUserPolicy", self.client.detach_user_policy,
                  UserName=name, PolicyArn=arn)
        else:
            _call("iam:DetachGroupPolicy", self.client.detach_group_policy,
                  GroupName=name, PolicyArn=arn)

    def delete_version(self, arn: str, version_id: str) -> None:
        _call("iam:DeletePolicyVersion", self.client.delete_policy_version,
              PolicyArn=arn, VersionId=version_id)

    def delete_policy(self, arn: str) -> None:
        _call("iam:DeletePolicy", self.client.delete_policy, PolicyArn=arn)

    # who a bucket-policy grant admits (reads only)
    def role(self, name: str) -> RoleFacts:
        """The role's ARN, RoleId and trust policy (one iam:GetRole)."""
        return _role_facts(_call("iam:GetRole", self.client.get_role, RoleName=name)["Role"])

    def roles_under(self, path_prefix: str) -> list[RoleFacts]:
        """Every role under `path_prefix` (Identity Center's roles), with its facts."""
        return [_role_facts(role) for page in self._pages("ListRoles", PathPrefix=path_prefix)
                for role in page.get("Roles", [])]

    # what a role holds (`jitflow doctor`; reads only)
    def inline_policy_names(self, role_name: str) -> list[str]:
        return [name for page in self._pages("ListRolePolicies", RoleName=role_name)
                for name in page["PolicyNames"]]

    def attached_role_policies(self, role_name: str) -> list[tuple[str, str]]:
        """(name, arn) of the managed policies attached to the role."""
        return [(p["PolicyName"], p["PolicyArn"])
                for page in self._pages("ListAttachedRolePolicies", RoleName=role_name)
                for p in page["AttachedPolicies"]]

    def managed_policy_document(self, arn: str) -> dict[str, Any]:
        """The default version's document of a managed policy."""
        _tags, version = self.get_policy(arn)
        document: dict[str, Any] = json.loads(self.get_document(arn, version))
        return document


def caller_iam(region: str, session: boto3.Session | None = None,
               max_attempts: int | None = None) -> Iam:
    """The IAM port of the caller's own account, with the caller's own credentials (no
    role assumed): what `jitflow doctor` reads with. `region` when the environment names
    none (it picks the partition's endpoints)."""
    session = session or boto3.Session()
    if max_attempts is None and configured_max_attempts(session) is None:
        max_attempts = DEFAULT_MAX_ATTEMPTS
    config = client_config(max_attempts)
    region = session.region_name or region
    with aws_errors("sts client"):
        sts = session.client("sts", region_name=region, config=config)
    account = _call("sts:GetCallerIdentity", sts.get_caller_identity)["Account"]
    with aws_errors("iam client"):
        return Iam(session.client("iam", region_name=region, config=config), account)


def _snake(operation: str) -> str:
    """`ListRoles` -> `list_roles`: the name botocore's paginators go by."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _role_facts(role: Any) -> RoleFacts:
    trust: Any = role.get("AssumeRolePolicyDocument", {})
    if isinstance(trust, str):  # some endpoints return it URL-encoded
        trust = json.loads(unquote(trust))
    return RoleFacts(role["RoleName"], role["Arn"], role["RoleId"], dict(trust))


@_unreadable_answers
class Buckets:
    """The bucket-policy calls of one account. `ExpectedBucketOwner` makes S3 refuse a
    bucket that is not in the policy's account, so a grant can never land in someone else's
    bucket of the same name."""

    def __init__(self, client: S3Client, account: str) -> None:
        self.client = client
        self.account = account

    def get_policy(self, bucket: str) -> str | None:
        """The bucket's policy text, or None when it has none."""
        try:
            with aws_errors("s3:GetBucketPolicy"):
                return self.client.get_bucket_policy(
                    Bucket=bucket, ExpectedBucketOwner=self.account)["Policy"]
        except NoSuchBucketPolicyError:
            return None

    def put_policy(self, bucket: str, text: str) -> None:
        _call("s3:PutBucketPolicy", self.client.put_bucket_policy, Bucket=bucket, Policy=text,
              ExpectedBucketOwner=self.account)

    def delete_policy(self, bucket: str) -> None:
        _call("s3:DeleteBucketPolicy", self.client.delete_bucket_policy, Bucket=bucket,
              ExpectedBucketOwner=self.account)


@_unreadable_answers
class EventHistory:
    """CloudTrail's event history (LookupEvents) in one account and region: the management
    events of the last 90 days. AWS allows two LookupEvents calls per second per account and
    region; botocore's standard retry mode backs off on the ThrottlingException beyond."""

    def __init__(self, client: Any, region: str) -> None:
        self.client = client
        self.region = region

    def lookup(self, attribute: tuple[str, str], start: datetime, end: datetime
               ) -> list[LookedUp]:
        """Every event from `start` to `end` whose `attribute` (key, value) matches, through
        botocore's paginator (50 events per call, the most LookupEvents returns)."""
        key, value = attribute
        with aws_errors("cloudtrail:LookupEvents"):
            pages = list(self.client.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}],
                StartTime=start, EndTime=end, PaginationConfig={"PageSize": 50}))
        return [self._read(event) for page in pages for event in page.get("Events", [])]

    def _read(self, event: Any) -> LookedUp:
        return LookedUp(
            event_id=event["EventId"], time=event["EventTime"].astimezone(UTC),
            name=event.get("EventName", "?"), source=event.get("EventSource", "?"),
            username=event.get("Username"),
            resources=tuple(str(r.get("ResourceName", "?")) for r in event.get("Resources", [])),
            cloudtrail_event=event["CloudTrailEvent"], region=self.region)


@_unreadable_answers
class Accounts:
    """IAM ports per configured account: assume the account's role for the run's duty from
    settings (apply: `role`, revoke: `revoke_role`), or use the caller's own credentials when
    the account is the caller's (one GetCallerIdentity per run). A revoke run thus never holds
    another account's apply permissions, and the hub's revoke role may assume nothing else.

    Clients are cached, because making one costs 0.1-0.5 s. In the caller's own account the
    session name means nothing (no AssumeRole), so there is one IAM client per run whatever
    the label. In an assumed-role account the client is cached per (account, label): the
    label becomes the role session name `jitflow-<label>`, which CloudTrail records on every
    call, so an apply or early revoke made under `jitflow-<request id>` can be traced to its
    request without the audit log (and the issue asks for that name). Runs over many grants
    (the expiry sweep, reconcile, status) use one run-level label per account, so they assume
    once per account, not once per grant.

    Retries: an explicit `max_attempts` wins (tests, the benchmark); otherwise
    AWS_MAX_ATTEMPTS or the profile's `max_attempts` when set, else DEFAULT_MAX_ATTEMPTS."""

    def __init__(
        self,
        settings: Settings,
        session: boto3.Session | None = None,
        max_attempts: int | None = None,
        duty: Duty = "apply",
    ) -> None:
        self.settings = settings
        self.duty: Duty = duty
        self.session = session or boto3.Session()
        if max_attempts is None and configured_max_attempts(self.session) is None:
            max_attempts = DEFAULT_MAX_ATTEMPTS
        self.config = client_config(max_attempts)
        self._caller: str | None = None
        self._sts_client: STSClient | None = None
        self._ports: dict[tuple[str, str], Iam] = {}
        self._buckets: dict[tuple[str, str], Buckets] = {}
        self._sessions: dict[tuple[str, str], boto3.Session] = {}

    @property
    def region(self) -> str:
        return self.session.region_name or self.settings.region

    def _sts(self) -> STSClient:
        if self._sts_client is None:
            with aws_errors("sts client"):
                self._sts_client = self.session.client(
                    "sts", region_name=self.region, config=self.config)
        return self._sts_client

    def caller_account(self) -> str:
        if self._caller is None:
            identity = _call("sts:GetCallerIdentity", self._sts().get_caller_identity)
            self._caller = identity["Account"]
        return self._caller

    def iam(self, account: str, label: str = "run") -> Iam:
        """The IAM port for `account`; `label` names the assumed-role session (jitflow-<label>)."""
        key = self._key(account, label)
        if key not in self._ports:
            self._ports[key] = Iam(self._client("iam", account, label), account)
        return self._ports[key]

    def buckets(self, account: str, label: str = "run") -> Buckets:
        """The bucket-policy port for `account` (sessions as for `iam`)."""
        key = self._key(account, label)
        if key not in self._buckets:
            self._buckets[key] = Buckets(self._client("s3", account, label), account)
        return self._buckets[key]

    def event_history(self, account: str, region: str | None = None) -> EventHistory:
        """CloudTrail's event history of `account` in `region` (default: the run's), read as
        a session named jitflow-trail where the account's role is assumed."""
        where = region or self.region
        return EventHistory(self._client("cloudtrail", account, "trail", where), where)

    def _client(self, service: Literal["iam", "s3", "cloudtrail"], account: str, label: str,
                region: str | None = None) -> Any:
        with aws_errors(f"{service} client"):
            return self._session_for(account, label).client(
                service, region_name=region or self.region, config=self.config)

    def _key(self, account: str, label: str) -> tuple[str, str]:
        if account not in self.settings.accounts:
            raise AwsError(
                f"account {account} is not configured in jitflow.yaml (accounts: "
                f"{', '.join(sorted(self.settings.accounts)) or 'none'})"
            )
        # Own account: the label names no session, so one client serves every label.
        return (account, "" if self.caller_account() == account else label)

    def _session_for(self, account: str, label: str) -> boto3.Session:
        """The caller's own session in its own account; else the account's role, assumed once
        per (account, label)."""
        key = self._key(account, label)
        if key in self._sessions:
            return self._sessions[key]
        role = self.settings.role_for(account, self.duty)
        caller = self.caller_account()
        if caller == account:
            session = self.session
        elif role is None:
            # Fail before touching anything: the credentials are for another account, and a
            # same-named role there must never receive the grant.
            raise AwsError(
                f"jitflow.yaml names no role for {self.duty} in account {account} "
                f"({'role' if self.duty == 'apply' else 'revoke_role'}), so it would use the "
                f"caller's own credentials, but they belong to account {caller}"
            )
        else:
            creds = _call(
                "sts:AssumeRole", self._sts().assume_role,
                RoleArn=role, RoleSessionName=role_session_name(label),
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=self.region,
            )
        self._sessions[key] = session
        return session


def read_secret(secret_id: str, default_region: str, session: boto3.Session | None = None
                ) -> str:
    """The text of an AWS Secrets Manager secret (name or ARN), read with the credentials the
    job already has: the team-reading token lives there, never in a GitHub secret (a workflow
    a pull request can edit could print one). The region of an ARN wins over
    `default_region`. Failing, or an empty secret, is an AwsError."""
    fields = secret_id.split(":")
    region = fields[3] if secret_id.startswith("arn:") and len(fields) > 6 and fields[3] \
        else default_region
    session = session or boto3.Session()
    with aws_errors(f"secretsmanager:GetSecretValue of {secret_id}"):
        client = session.client("secretsmanager", region_name=region, config=client_config())
        answer = client.get_secret_value(SecretId=secret_id)
    value = answer.get("SecretString")
    if not isinstance(value, str) or not value.strip():
        raise AwsError(f"the AWS Secrets Manager secret {secret_id} holds no text")
    return value.strip()


def mask_secret(value: str, environ: Mapping[str, str]) -> None:
    """In GitHub Actions, have the runner hide `value` wherever the job's log would show it
    (the team token, a webhook key, a Slack URL): each line on its own, as the runner prints
    a multi-line value line by line; `%` escaped, as the runner unescapes a command's data."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    for line in value.splitlines():
        if line.strip():
            print(f"::add-mask::{line.replace('%', '%25')}", flush=True)


@_unreadable_answers
class AnchorParameter:
    """The SSM parameter that holds the audit chain's head (jitflow.audit.anchor): named by
    `audit_anchor` in jitflow.yaml, in `region`, in the account of the caller's own
    credentials (the hub account; never an assumed role). A String parameter the bootstrap
    creates with the value `unset`; jitflow reads it, its history, and overwrites it."""

    def __init__(self, client: Any, name: str, region: str) -> None:
        self.client = client
        self.name = name
        self.region = region

    @classmethod
    def from_settings(cls, settings: Settings, session: boto3.Session | None = None,
                      max_attempts: int | None = None) -> AnchorParameter:
        """Retries as `Accounts` sets them: an explicit `max_attempts`, else AWS_MAX_ATTEMPTS
        or the profile's, else DEFAULT_MAX_ATTEMPTS."""
        session = session or boto3.Session()
        if max_attempts is None and configured_max_attempts(session) is None:
            max_attempts = DEFAULT_MAX_ATTEMPTS
        with aws_errors("ssm client"):
            client = session.client("ssm", region_name=settings.region,
                                    config=client_config(max_attempts))
        return cls(client, settings.audit_anchor, settings.region)

    def _missing(self) -> ConfigError:
        return ConfigError(f"the audit anchor parameter {self.name} does not exist in "
                           f"{self.region}: the bootstrap creates it with the value unset "
                           "(docs/setup.md, \"The audit anchor\")")

    def read(self) -> Stored:
        """The current value and its version (ssm:GetParameter)."""
        try:
            found = _call("ssm:GetParameter", self.client.get_parameter, Name=self.name)
        except NoSuchParameterError:
            raise self._missing() from None
        parameter = found["Parameter"]
        return Stored(str(parameter["Value"]), int(parameter["Version"]),
                      parameter.get("LastModifiedDate"))

    def write(self, value: str) -> int:
        """Overwrite the value (ssm:PutParameter); the new version."""
        written = _call("ssm:PutParameter", self.client.put_parameter, Name=self.name,
                        Value=value, Overwrite=True)
        return int(written["Version"])

    def history(self) -> list[Stored]:
        """Every version SSM keeps (the last 100), oldest first (ssm:GetParameterHistory)."""
        try:
            with aws_errors("ssm:GetParameterHistory"):
                paginator = self.client.get_paginator("get_parameter_history")
                pages = list(paginator.paginate(Name=self.name,
                                                PaginationConfig={"PageSize": 50}))
        except NoSuchParameterError:
            raise self._missing() from None
        versions = [Stored(str(v["Value"]), int(v["Version"]), v.get("LastModifiedDate"),
                           v.get("LastModifiedUser"))
                    for page in pages for v in page["Parameters"]]
        return sorted(versions, key=lambda v: v.version)
