"""`jitflow demo`: the whole lifecycle on this machine, narrated and checked, in two acts.

A moto server (IAM enforcement on; `jitflow.sandbox.moto`) stands in for AWS, the fake GitHub
(`jitflow.sandbox.github`) for GitHub, and a bare repository on disk for the access
repository. moto alone ignores bucket policies and most conditions, so the demo has moto decide
every enforced request with jitflow's policy evaluator (`jitflow.sandbox.moto_eval`): identity
and bucket policies, conditions, and `aws:CurrentTime` from the story's clock. That one
`SettableClock` also stamps the fake GitHub's pull requests and reviews, and every jitflow step
gets its time as `--at`; the demo moves it instead of waiting an hour.

Every jitflow step runs the `run:` line of the real workflow file in a subprocess, with the
environment GitHub Actions would give it: the demo exercises the workflows, not a parallel code
path. Each expectation prints ✔ or ✘; the first ✘ ends the story with exit 1.

Act I (identity-policy, the ml-models example): alice asks for her own role, two approvers
approve, the grant is an IAM policy, it expires and is revoked. Act II (bucket-policy, the
analytics-raw example): alice and bob share one role, alice's grant is a statement in the
bucket's own policy that admits only her session; it stops by its condition at the expiry,
before the revoke removes it. Act III (break-glass): alice's emergency request is merged by her,
unreviewed, and granted; the revoke run fails once its post-hoc review is overdue, and passes
again when erin approves the merged pull request.

This is an adapter-level tool (servers, git, subprocesses); nothing runs at import time and moto
is imported only when the demo starts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from jitflow.clock import iso, parse_time
from jitflow.errors import ConfigError, JitflowError, UsageError
from jitflow.model import Settings
from jitflow.sandbox.moto import enforce_iam, moto_server

if TYPE_CHECKING:
    from jitflow.sandbox.moto_eval import DecisionLog, SettableClock

REPOSITORY = "acme/access"  # the access repository's name in the fake GitHub
IDENTITY_EXAMPLE = "ml-models"  # act I: the example policy granting in IAM policies
BUCKET_EXAMPLE = "analytics-raw"  # act II: the example policy granting in bucket policies
# The fake accepts any token; this one acts as github-actions[bot]. Not a secret.
TOKEN = "demo-actions-token"  # noqa: S105
RUN_ID = "4242"
AUDIT_BRANCH = "jitflow-audit"  # the example jitflow.yaml's (the default)
# The team-reading token, in the hub's AWS Secrets Manager (moto), as the workflows find it
# through the repository variable JITFLOW_TEAMS_TOKEN_SECRET. The fake accepts any token.
TEAMS_SECRET = "jitflow/teams-token"  # noqa: S105 (a name, not a secret)
READ_ACTIONS = ("s3:GetObject", "s3:ListBucket")
# Act II's bucket already has a policy someone else wrote: jitflow must leave it as it was.
FOREIGN_SID = "ReportingReadsRaw"
# The teams of the fake organisation and their members (act I's approvers are teams).
TEAMS: dict[str, dict[str, str]] = {
    "data-platform": {}, "data-eng": {}, "ml-leads": {"grace": "active"},
    "security": {"erin": "active"},
}


class DemoFailed(JitflowError):
    """An expectation of the story did not hold (the narration says which)."""


# ------------------------------------------------------------------------- small helpers


@dataclass(frozen=True)
class Creds:
    key: str
    secret: str
    token: str | None = None

    def env(self) -> dict[str, str]:
        values = {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret}
        if self.token:
            values["AWS_SESSION_TOKEN"] = self.token
        return values


SETUP = Creds("AKIADEMOSETUP0000000", "setup")  # any key works while enforcement is off


@dataclass(frozen=True)
class Ran:
    """A finished subprocess: exit code and the combined output."""

    code: int
    output: str


@dataclass
class Ask:
    """One request's way through the story: the file, its pull request and its grant."""

    policy: str
    name: str
    text: str  # the request file
    title: str  # the pull request's
    approvers: tuple[str, ...]  # who approves it, in order
    pr: int = 0
    base_sha: str = ""
    head_sha: str = ""
    merge_sha: str = ""
    expiry: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.policy}/{self.name}"

    @property
    def path(self) -> str:
        return f"requests/{self.policy}/{self.name}.yaml"

    @property
    def branch(self) -> str:
        return f"request/{self.name}"


@dataclass(frozen=True)
class Examples:
    """What the story takes from the repository's example policies and identities."""

    ml_account: str
    ml_bucket: str
    ml_prefix: str  # a policy prefix of ml-models
    alice_ml: str  # alice's own role in the ML account
    account: str  # analytics-raw's
    buckets: tuple[str, ...]
    prefix: str  # a policy prefix of analytics-raw
    shared_role: str  # the role alice and bob share
    alice_session: str
    bob_session: str


@dataclass
class Story:
    """Everything the steps share; filled in as the story goes."""

    root: Path
    source: Path
    out: TextIO
    endpoint: str = ""
    region: str = "us-east-1"
    examples: Examples | None = None
    fake: Any = None  # FakeGitHub
    clock: SettableClock | None = None
    decisions: DecisionLog | None = None
    operator: Creds = SETUP
    alice: Creds = SETUP
    bob: Creds = SETUP
    ask: Ask | None = None
    policy_before: dict[str, Any] | None = None  # act II's bucket policy before the grant
    granted_statements: list[dict[str, Any]] = field(default_factory=list)
    teams_secret: str = ""  # the ARN of the team-reading token's secret (moto)
    _clients: dict[tuple[str, Creds, str | None], Any] = field(default_factory=dict)

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def ex(self) -> Examples:
        assert self.examples is not None  # read before the first step  # noqa: S101
        return self.examples

    @property
    def current(self) -> Ask:
        assert self.ask is not None  # set by the act's pull-request step  # noqa: S101
        return self.ask

    def now(self) -> datetime:
        assert self.clock is not None  # set when the sandbox starts  # noqa: S101
        return self.clock()

    def set_time(self, at: datetime) -> None:
        assert self.clock is not None  # noqa: S101
        self.clock.set_time(at)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def show(self, text: str, indent: str = "    │ ") -> None:
        for line in text.rstrip().splitlines():
            self.say(indent + line)

    def expect(self, label: str, held: bool, expected: str, seen: str) -> None:
        """One checked expectation: ✔, or ✘ with expected vs seen and the story stops."""
        if held:
            self.say(f"  ✔ {label}")
            return
        self.say(f"  ✘ {label}")
        self.say(f"    expected: {expected}")
        self.show(f"seen: {seen}", indent="    ")
        raise DemoFailed(f"the demo failed at: {label}")

    def client(self, service: str, creds: Creds, account: str | None = None) -> Any:
        """A boto3 client on moto. `account`: moto's header choosing the account, for the
        setup calls (a principal's own keys already belong to their account)."""
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        key = (service, creds, account)
        if key not in self._clients:
            client = boto3.session.Session().client(  # type: ignore[call-overload]
                service,
                region_name=self.region,
                endpoint_url=self.endpoint,
                aws_access_key_id=creds.key,
                aws_secret_access_key=creds.secret,
                aws_session_token=creds.token,
                config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
            )
            if account is not None:
                client.meta.events.register("before-sign.*.*", _in_account(account))
            self._clients[key] = client
        return self._clients[key]


def _in_account(account: str) -> Callable[..., None]:
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    return add_header


def find_source() -> Path:
    """The example access repository the demo is seeded from: package data, so an installed
    wheel needs no checkout. It copies this repository's own policies, settings and workflows
    (tools/sync_demo_repo.py writes it; a test keeps it in sync)."""
    example = resources.files("jitflow.sandbox") / "example_repo"
    if not isinstance(example, Path) or not (example / "jitflow.yaml").is_file():
        raise ConfigError(f"jitflow demo's example repository is missing ({example}): "
                          "reinstall jitflow")
    return example


def git(cwd: Path, *args: str, who: tuple[str, str] | None = None) -> str:
    """Run git in `cwd` as `who` (name, e-mail); its stdout, or GitError's message on failure."""
    name, email = who or ("jitflow demo", "demo@example.com")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name,
               GIT_COMMITTER_EMAIL=email, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    options = ["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    result = subprocess.run(["git", *options, *args], cwd=cwd, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        from jitflow.errors import GitError  # noqa: PLC0415

        raise GitError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def person(login: str) -> tuple[str, str]:
    return login, f"{login}@users.noreply.github.com"


def denied(call: Callable[[], object]) -> str:
    """'OK' when AWS accepted the call, else the error code (AccessDenied...)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        call()
    except ClientError as error:
        return str(error.response.get("Error", {}).get("Code", "error"))
    return "OK"


def session_creds(story: Story, who: Creds, role_arn: str, session: str) -> Creds:
    """A fresh session of `role_arn` named `session`, assumed with `who`'s own keys."""
    answer = story.client("sts", who).assume_role(RoleArn=role_arn, RoleSessionName=session)
    c = answer["Credentials"]
    return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


@dataclass(frozen=True)
class Attempt:
    """One PutObject: 'OK' or the error code, and the evaluator's reasoning for it."""

    seen: str
    why: str

    def line(self, bucket: str, key: str) -> str:
        return f"    s3://{bucket}/{key} → {self.seen}"


def put(story: Story, who: Creds, role_arn: str, session: str, *, bucket: str, key: str
        ) -> Attempt:
    """`who` assumes `role_arn` as `session` and puts one object."""
    s3 = story.client("s3", session_creds(story, who, role_arn, session))
    log = story.decisions.decisions if story.decisions is not None else []
    before = len(log)
    seen = denied(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"demo"))
    mine = [d for d in log[before:] if d.request.action.lower() == "s3:putobject"]
    why = ""
    if mine:
        decided = mine[-1]
        why = str(decided.evaluation) if decided.evaluation else f"denied: {decided.error}"
    return Attempt(seen, why)


def tell(story: Story, attempt: Attempt, bucket: str, key: str, who: str = "") -> None:
    story.say(attempt.line(bucket, key) + (f"   ({who})" if who else ""))
    if attempt.why:
        story.say(f"      the evaluator: {attempt.why.splitlines()[0]}")


def alice_ml_put(story: Story, key: str) -> Attempt:
    """Act I: alice, in a fresh session of her own role, puts an object."""
    ex = story.ex
    return put(story, story.alice, ex.alice_ml, f"alice-{time.time_ns()}", bucket=ex.ml_bucket,
               key=key)


def shared_put(story: Story, who: str, key: str) -> Attempt:
    """Act II: alice or bob, in their own session of the shared role, puts an object."""
    ex = story.ex
    creds, session = ((story.alice, ex.alice_session) if who == "alice"
                      else (story.bob, ex.bob_session))
    return put(story, creds, ex.shared_role, session, bucket=ex.buckets[0], key=key)


# ----------------------------------------------------------------- workflows as the runner


def workflow_step(source: Path, workflow: str, step_id: str) -> tuple[str, tuple[str, ...]]:
    """The `run:` text and the `env:` names of the step with `id: step_id` (the jobs live in
    the reusable workflows, reusable-*.yml; the callers only call them)."""
    script, env = _step(source, workflow, step_id)
    return script, tuple(env)


def _step(source: Path, workflow: str, step_id: str) -> tuple[str, dict[str, str]]:
    path = source / ".github" / "workflows" / workflow
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    for job in document.get("jobs", {}).values():
        for step in job.get("steps", []):
            if step.get("id") == step_id:
                return str(step["run"]), {str(k): str(v) for k, v in
                                          (step.get("env", {}) or {}).items()}
    raise ConfigError(f"{path}: no step with id {step_id!r}")


def at_time(at: datetime) -> Callable[[str], str]:
    """Append `--at <at>` to every jitflow check/apply/revoke line of a step's script: the
    story's clock, not the machine's, is the time jitflow acts at."""
    def edit(script: str) -> str:
        pattern = r"^(\s*jitflow (?:check|apply|revoke)\b.*)$"
        edited, count = re.subn(pattern, rf"\1 --at {iso(at)}", script, flags=re.M)
        if count == 0:
            raise ConfigError(f"no jitflow check/apply/revoke line to give --at in:\n{script}")
        return edited

    return edit


def shim_bin(root: Path) -> Path:
    """A bin/ whose `jitflow` is this interpreter's jitflow, first on the steps' PATH."""
    directory = root / "bin"
    directory.mkdir(exist_ok=True)
    shim = directory / "jitflow"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m jitflow "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return directory


def base_env(story: Story) -> dict[str, str]:
    """The host environment without anything that could aim a step at real AWS or GitHub."""
    drop = ("AWS_", "GITHUB_", "JITFLOW_", "GIT_", "RUNNER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    path = f"{shim_bin(story.root)}{os.pathsep}{Path(sys.executable).parent}"
    env["PATH"] = path + os.pathsep + env.get("PATH", "")
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", LC_ALL="C.UTF-8", PYTHONUTF8="1")
    return env


def run_step(
    story: Story,
    workflow: str,
    step_id: str,
    cwd: Path,
    env: Mapping[str, str],
    *,
    edit: Callable[[str], str] = lambda text: text,
) -> Ran:
    """Run one workflow step's `run:` with bash as the runner does. A step env value the file
    spells out (a git identity) is taken as it is; one that is an expression comes from `env`,
    or is empty, like an unset variable."""
    script, step_env = _step(story.source, workflow, step_id)
    literal = {name: value for name, value in step_env.items() if "${{" not in value}
    unset = dict.fromkeys(set(step_env) - set(literal), "")
    full = {**base_env(story), **unset, **literal, **env}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", edit(script)],
        cwd=cwd, env=full, capture_output=True, text=True, check=False, timeout=120,
    )
    return Ran(result.returncode, (result.stdout + result.stderr).strip())


def github_env(story: Story, event: Path, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": story.fake.url,
        "GITHUB_SERVER_URL": story.fake.url,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_RUN_ID": RUN_ID,
        # Not from GitHub: the fake is local, so PyGithub's pacing between calls (which
        # api.github.com asks for) would only slow the story down.
        "JITFLOW_GITHUB_PACE": "0",
        **extra,
    }


def aws_env(story: Story) -> dict[str, str]:
    """What the credentials step and the caller's inputs give the apply and revoke steps."""
    return {"AWS_ENDPOINT_URL": story.endpoint, "AWS_REGION": story.region,
            "AWS_DEFAULT_REGION": story.region, **story.operator.env(),
            "JITFLOW_TEAMS_TOKEN_SECRET": story.teams_secret}


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- the examples


def read_examples(source: Path) -> Examples:
    """Accounts, buckets, prefixes and principals, from the example policies and identities."""
    def load(name: str) -> Any:
        return yaml.safe_load((source / "policies" / f"{name}.yaml").read_text(encoding="utf-8"))

    ml, raw, identities = load(IDENTITY_EXAMPLE), load(BUCKET_EXAMPLE), load("identities")
    if ml.get("grant", "identity-policy") != "identity-policy":
        raise ConfigError(f"policies/{IDENTITY_EXAMPLE}.yaml must grant in identity policies")
    if raw.get("grant") != "bucket-policy":
        raise ConfigError(f"policies/{BUCKET_EXAMPLE}.yaml must grant in bucket policies")
    ml_account, account = str(ml["account"]), str(raw["account"])

    def own_role(login: str) -> str:
        for entry in identities.get(login, ()):
            if isinstance(entry, str) and f"::{ml_account}:role/" in entry:
                return entry
        raise ConfigError(f"policies/identities.yaml gives {login} no role in {ml_account}")

    def shared(login: str) -> tuple[str, str]:
        for entry in identities.get(login, ()):
            if (isinstance(entry, dict) and "principal" in entry
                    and f"::{account}:role/" in entry["principal"]):
                return str(entry["principal"]), str(entry["session"])
        raise ConfigError(f"policies/identities.yaml gives {login} no session on a shared "
                          f"role in {account}")

    alice_role, alice_session = shared("alice")
    bob_role, bob_session = shared("bob")
    if bob_role != alice_role:
        raise ConfigError("policies/identities.yaml: alice and bob must share one role")
    return Examples(
        ml_account=ml_account, ml_bucket=str(ml["buckets"][0]), ml_prefix=str(ml["prefixes"][0]),
        alice_ml=own_role("alice"), account=account, buckets=tuple(raw["buckets"]),
        prefix=str(raw["prefixes"][0]), shared_role=alice_role, alice_session=alice_session,
        bob_session=bob_session)


def read_only(buckets: tuple[str, ...]) -> str:
    resources = [f"arn:aws:s3:::{b}" for b in buckets] + [f"arn:aws:s3:::{b}/*" for b in buckets]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": resources}]})


def allow(action: str, resource: str | list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resource}]})


def trust(*arns: str, pinned: bool = False) -> str:
    """Who may assume a role. `pinned`: each only under their own IAM user name as session
    name, which a shared role needs before a session can name one person (jitflow checks;
    moto does not evaluate trust conditions, so the demo's people still pick their names)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": list(arns)},
                                 "Action": "sts:AssumeRole"}
    if pinned:
        statement["Condition"] = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def foreign_policy(account: str, bucket: str) -> dict[str, Any]:
    """The policy act II's bucket has before jitflow: one statement someone else owns."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": FOREIGN_SID, "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:role/reporting"},
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}


# ------------------------------------------------------------------------------ seeding


def seed_other_accounts(story: Story, operator_arn: str) -> None:
    """The grant roles jitflow.yaml names in other accounts (apply's `role`, revoke's
    `revoke_role`), assumable by the operator."""
    settings: Any = yaml.safe_load((story.source / "jitflow.yaml").read_text())
    for account, config in (settings.get("accounts") or {}).items():
        for key in ("role", "revoke_role"):
            role = (config or {}).get(key)
            if not role:
                continue
            iam = story.client("iam", SETUP, str(account))
            path, _, name = str(role).split(":role", 1)[1].rpartition("/")
            iam.create_role(RoleName=name, Path=f"{path}/",
                            AssumeRolePolicyDocument=trust(operator_arn))
            iam.put_role_policy(RoleName=name, PolicyName="admin",
                                PolicyDocument=allow("*", "*"))


def user_with_keys(iam: Any, name: str) -> tuple[str, Creds]:
    arn = str(iam.create_user(UserName=name)["User"]["Arn"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, Creds(key["AccessKeyId"], key["SecretAccessKey"])


def seed_aws(story: Story) -> None:
    ex = story.ex
    iam, s3 = story.client("iam", SETUP, ex.account), story.client("s3", SETUP, ex.account)
    operator_arn, story.operator = user_with_keys(iam, "jitflow-operator")
    iam.put_user_policy(UserName="jitflow-operator", PolicyName="admin",
                        PolicyDocument=allow("*", "*"))
    # IAM user names equal to the session names identities.yaml gives them: the shared role's
    # trust lets each assume it only under their own name.
    alice_arn, story.alice = user_with_keys(iam, ex.alice_session)
    bob_arn, story.bob = user_with_keys(iam, ex.bob_session)
    # Act II: the analytics buckets (one with a policy of its own) and the role alice and
    # bob share, read-only; reporting is the principal of the foreign statement.
    for bucket in ex.buckets:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=ex.buckets[0], Key=f"{ex.prefix}2026/11/26/part-0000.json", Body=b"{}")
    s3.put_bucket_policy(Bucket=ex.buckets[0],
                         Policy=json.dumps(foreign_policy(ex.account, ex.buckets[0])))
    iam.create_role(RoleName="reporting", AssumeRolePolicyDocument=trust(operator_arn))
    shared = ex.shared_role.rsplit("/", 1)[-1]
    iam.create_role(RoleName=shared,
                    AssumeRolePolicyDocument=trust(alice_arn, bob_arn, pinned=True))
    iam.put_role_policy(RoleName=shared, PolicyName="read-only",
                        PolicyDocument=read_only(ex.buckets))
    # Act I: the ML bucket and alice's own role there, read-only, assumed across accounts.
    ml_iam = story.client("iam", SETUP, ex.ml_account)
    story.client("s3", SETUP, ex.ml_account).create_bucket(Bucket=ex.ml_bucket)
    own = ex.alice_ml.rsplit("/", 1)[-1]
    ml_iam.create_role(RoleName=own, AssumeRolePolicyDocument=trust(alice_arn))
    ml_iam.put_role_policy(RoleName=own, PolicyName="read-only",
                           PolicyDocument=read_only((ex.ml_bucket,)))
    iam.put_user_policy(UserName=ex.alice_session, PolicyName="assume",
                        PolicyDocument=allow("sts:AssumeRole", [ex.alice_ml, ex.shared_role]))
    iam.put_user_policy(UserName=ex.bob_session, PolicyName="assume",
                        PolicyDocument=allow("sts:AssumeRole", ex.shared_role))
    seed_other_accounts(story, operator_arn)
    secrets = story.client("secretsmanager", SETUP, ex.account)
    story.teams_secret = secrets.create_secret(Name=TEAMS_SECRET,
                                               SecretString="demo-teams-token")["ARN"]
    seed_anchor(story)


def seed_anchor(story: Story) -> None:
    """The audit anchor parameter, as the bootstrap creates it: `unset` until the first run
    that records something writes the log's head (jitflow.audit.anchor)."""
    settings: Any = yaml.safe_load((story.source / "jitflow.yaml").read_text())
    name = settings.get("audit_anchor") or Settings(admins=(), accounts={}).audit_anchor
    story.client("ssm", SETUP, story.ex.account).put_parameter(Name=name, Value="unset",
                                                               Type="String")


def seed_github(story: Story) -> None:
    fake = story.fake
    fake.set_token(TOKEN)
    org = REPOSITORY.split("/", maxsplit=1)[0]
    for team, members in TEAMS.items():
        fake.add_team(org, team, members)
    fake.add_repo(REPOSITORY)


def seed_repository(story: Story) -> None:
    git(story.root, "init", "--quiet", "--bare", "origin.git")
    git(story.root, "clone", "--quiet", str(story.origin), "work")
    shutil.copytree(story.source, story.work, dirs_exist_ok=True)
    git(story.work, "checkout", "--quiet", "-b", "main")
    git(story.work, "add", "--all")
    git(story.work, "commit", "--quiet", "-m", "Access repository: policies and workflows",
        who=person("admin"))
    git(story.work, "push", "--quiet", "origin", "main")


def step_setup(story: Story) -> None:
    ex = story.ex
    story.say("Setting the scene: two pretend AWS accounts (moto) and a pretend GitHub, locally.")
    seed_aws(story)
    enforce_iam(story.endpoint, True)
    seed_github(story)
    seed_repository(story)
    story.say("    moto decides every request with jitflow's policy evaluator, a model of AWS's "
              "own evaluation:")
    story.say("    identity and bucket policies, conditions, and aws:CurrentTime from the "
              "story's clock.")
    story.say(f"    The clock reads {iso(story.now())}; it also stamps the fake GitHub, and "
              "each jitflow step gets it as --at.")
    seen = alice_ml_put(story, f"{ex.ml_prefix}seed-check").seen
    story.expect(f"accounts {ex.ml_account} and {ex.account}; alice can assume "
                 f"{ex.alice_ml.split(':')[-1]}, alice and bob {ex.shared_role.split(':')[-1]}; "
                 "IAM enforcement is on", seen == "AccessDenied", "AccessDenied",
                 "writes allowed before anything was granted")
    story.say(f"The revoke workflow's first scheduled run: nothing to revoke yet. It reads the "
              f"team-reading token from AWS Secrets Manager ({TEAMS_SECRET}), writes the team "
              f"snapshot and creates the audit branch, {AUDIT_BRANCH}:")
    first_revoke(story)


# ------------------------------------------------------------------- pull requests


def open_pull_request(story: Story, ask: Ask) -> None:
    story.ask = ask
    git(story.work, "checkout", "--quiet", "main")
    git(story.work, "pull", "--quiet", "origin", "main")
    ask.base_sha = git(story.work, "rev-parse", "HEAD")
    git(story.work, "checkout", "--quiet", "-b", ask.branch)
    path = story.work / ask.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ask.text, encoding="utf-8")
    git(story.work, "add", ask.path)
    git(story.work, "commit", "--quiet", "-m", ask.title, who=person("alice"))
    git(story.work, "push", "--quiet", "origin", ask.branch)
    ask.head_sha = git(story.work, "rev-parse", "HEAD")
    fake = story.fake
    ask.pr = fake.open_pull(author="alice", head_sha=ask.head_sha, base_sha=ask.base_sha,
                            head_ref=ask.branch, title=ask.title)
    fake.add_commit_to_pull(ask.pr, ask.head_sha, author="alice")
    fake.add_file_to_pull(ask.pr, ask.path, additions=len(ask.text.splitlines()))
    story.say(f"    PR #{ask.pr}: {ask.path} (head {ask.head_sha[:12]})")


def pull_event(story: Story, name: str) -> Path:
    ask = story.current
    pull = {"number": ask.pr, "user": {"login": "alice"},
            "base": {"sha": ask.base_sha, "ref": "main"},
            "head": {"sha": ask.head_sha, "ref": ask.branch}}
    return write_json(story.root / f"event-{ask.pr}-{name}.json",
                      {"action": "submitted" if "review" in name else "opened",
                       "pull_request": pull})


def run_check(story: Story, event_name: str) -> tuple[Ran, str]:
    """The check job: tool/ and pr/ checkouts, then the `id: check` step. (code, summary)."""
    ask = story.current
    job = story.root / f"check-{ask.pr}-{event_name}"
    job.mkdir()
    checkout_tool(story, job)
    # pr/: the head as data, with every branch (the audit branch's log and team snapshot).
    git(job, "clone", "--quiet", "--no-checkout", str(story.origin), "pr")
    git(job / "pr", "fetch", "--quiet", "origin", ask.head_sha)
    git(job / "pr", "checkout", "--quiet", ask.head_sha)
    summary = job / "summary.md"
    kind = "pull_request_review" if "review" in event_name else "pull_request"
    env = github_env(story, pull_event(story, event_name), GITHUB_EVENT_NAME=kind,
                     GITHUB_STEP_SUMMARY=str(summary), BASE_SHA=ask.base_sha,
                     HEAD_SHA=ask.head_sha)
    ran = run_step(story, "reusable-check.yml", "check", job, env, edit=at_time(story.now()))
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    return ran, text


def approvals_line(output: str) -> str:
    found = re.search(r"approvals: \d+ of \d+", output)
    return found.group(0) if found else "(no approvals line)"


def show_check(story: Story, expect_in_plan: tuple[str, ...], needed: int) -> None:
    story.say("The check workflow runs its `jitflow check` step in tool/ + pr/ checkouts (its pip "
              "install steps are skipped: this jitflow is already installed); it holds no "
              "secret, and counts team approvals from the team snapshot on the audit branch:")
    ran, summary = run_check(story, "opened")
    shown = summary.split("<details>")[0].rstrip()
    story.show(shown + "\n(the exact policy document follows in the summary)"
               if summary else ran.output)
    story.expect("the plan is in the job summary", all(t in summary for t in expect_in_plan),
                 f"a plan naming {', '.join(expect_in_plan)}", summary or ran.output)
    story.expect(f"the check fails: approvals: 0 of {needed}",
                 ran.code == 1 and approvals_line(ran.output) == f"approvals: 0 of {needed}",
                 f"exit 1 and approvals: 0 of {needed}", f"exit {ran.code}\n{ran.output}")


def approve(story: Story, login: str, count: int, needed: int, why: str) -> None:
    story.say(f"{login}, {why}, approves the head commit.")
    story.fake.add_review(story.current.pr, login, "APPROVED")
    ran, _ = run_check(story, f"review-{login}")
    story.show("\n".join(line for line in ran.output.splitlines() if "approv" in line))
    done = count == needed
    story.expect(f"the check {'passes' if done else 'still waits'}: approvals: {count} of {needed}",
                 ran.code == (0 if done else 1)
                 and approvals_line(ran.output) == f"approvals: {count} of {needed}",
                 f"exit {0 if done else 1} and approvals: {count} of {needed}",
                 f"exit {ran.code}\n{ran.output}")


def merge(story: Story, merged_by: str = "erin") -> None:
    ask = story.current
    git(story.work, "checkout", "--quiet", "main")
    git(story.work, "pull", "--quiet", "origin", "main")
    git(story.work, "merge", "--quiet", "--no-ff", ask.branch, "-m",
        f"Merge pull request #{ask.pr} from alice/{ask.branch}", who=person("erin"))
    git(story.work, "push", "--quiet", "origin", "main")
    ask.merge_sha = git(story.work, "rev-parse", "HEAD")
    story.fake.merge_pull(ask.pr, ask.merge_sha, merged_by=merged_by)


def origin_branch(story: Story, branch: str) -> tuple[str, str]:
    """(sha, subject) of `branch` in origin; ("", "") when it does not exist."""
    if not git(story.origin, "branch", "--list", branch):
        return "", ""
    line = git(story.origin, "log", "-1", "--format=%H %s", branch)
    sha, _, subject = line.partition(" ")
    return sha, subject


def checkout_main(story: Story, name: str) -> Path:
    git(story.root, "clone", "--quiet", str(story.origin), name)
    return story.root / name


def checkout_tool(story: Story, job: Path) -> None:
    """tool/: jitflow at the reusable workflow's own commit. Here only its scripts are used
    (the push); the steps run this interpreter's jitflow."""
    shutil.copytree(story.source / ".github", job / "tool" / ".github")


@dataclass(frozen=True)
class AwsJob:
    """The workspace of an apply or revoke job, as the runner lays it out."""

    root: Path  # the workspace: the steps run here

    @property
    def access(self) -> Path:  # the default branch, full history and every branch
        return self.root / "access"

    @property
    def audit(self) -> Path:  # JITFLOW_AUDIT_REPO: `${{ runner.temp }}/jitflow-audit`
        return self.root / "runner-temp" / "jitflow-audit"


def aws_job(story: Story, name: str) -> AwsJob:
    job = AwsJob(story.root / name)
    job.root.mkdir()
    git(job.root, "clone", "--quiet", str(story.origin), "access")
    checkout_tool(story, job.root)
    return job


def push_audit(story: Story, workflow: str, job: AwsJob, env: Mapping[str, str]) -> None:
    main_before = origin_branch(story, "main")[0]
    ran = run_step(story, workflow, "push", job.root, env)
    sha, subject = origin_branch(story, AUDIT_BRANCH)
    story.say(f"    origin/{AUDIT_BRANCH} is now {sha[:12]} {subject!r}")
    story.expect(f"the audit commit is pushed to {AUDIT_BRANCH}, main is untouched",
                 ran.code == 0 and sha == git(job.audit, "rev-parse", "HEAD")
                 and origin_branch(story, "main")[0] == main_before,
                 f"push step exit 0, origin/{AUDIT_BRANCH} = the audit commit, main unchanged",
                 f"exit {ran.code}\n{ran.output}")


def granted_expiry(audit: Path, request_id: str) -> datetime | None:
    from jitflow.audit.store import AuditLog  # noqa: PLC0415

    for record in AuditLog(audit / "audit").records():
        details = record.get("details") if isinstance(record.get("details"), dict) else record
        if (record.get("event") == "granted" and isinstance(details, dict)
                and details.get("request") == request_id):
            return parse_time(str(details.get("expiry")))
    return None


def merge_and_apply(story: Story, merged_by: str = "erin") -> None:
    """Merge, run the apply workflow's `jitflow apply` and push its audit commit."""
    ask = story.current
    merge(story, merged_by)
    job = aws_job(story, f"apply-{ask.pr}")
    event = write_json(story.root / f"event-push-{ask.pr}.json",
                       {"ref": "refs/heads/main", "before": ask.base_sha, "after": ask.merge_sha})
    env = {**github_env(story, event, GITHUB_SHA=ask.merge_sha, GITHUB_EVENT_NAME="push",
                        GITHUB_REF_NAME="main"), **aws_env(story),
           "JITFLOW_AUDIT_REPO": str(job.audit)}
    story.say(f"    (`jitflow apply --commit --repo access --at {iso(story.now())}`: the "
              "story's clock)")
    ran = run_step(story, "reusable-apply.yml", "apply", job.root, env,
                   edit=at_time(story.now()))
    story.show(ran.output)
    story.expect("approvals verified again and the grant made",
                 ran.code == 0 and f"granted: {ask.id}" in ran.output,
                 f"exit 0 and granted: {ask.id}", f"exit {ran.code}\n{ran.output}")
    comments = [c.body for c in story.fake.comments(ask.pr) if "Granted" in c.body]
    story.say(f"    comment on PR #{ask.pr}:")
    story.show(comments[-1] if comments else "(none)")
    story.expect("the PR has the grant comment", bool(comments), "a 'Granted' comment",
                 "no such comment")
    push_audit(story, "reusable-apply.yml", job, env)
    ask.expiry = granted_expiry(job.audit, ask.id)
    story.expect("the audit log records the grant with its expiry", ask.expiry is not None,
                 f"a granted record of {ask.id} with an expiry", "none")


def revoke_job(story: Story, name: str, at: datetime) -> tuple[Ran, AwsJob, dict[str, str]]:
    """The revoke workflow on its schedule at `at`: its `jitflow revoke` step."""
    job = aws_job(story, name)
    event = write_json(story.root / f"event-schedule-{name}.json",
                       {"schedule": "7,22,37,52 * * * *"})
    env = {**github_env(story, event, GITHUB_EVENT_NAME="schedule", GITHUB_REF_NAME="main"),
           **aws_env(story), "REQUEST": "", "REASON": "", "JITFLOW_AUDIT_REPO": str(job.audit)}
    ran = run_step(story, "reusable-revoke.yml", "revoke", job.root, env, edit=at_time(at))
    return ran, job, env


def run_revoke(story: Story, at: datetime) -> Ran:
    """The revoke workflow on its schedule at `at`, and its audit push."""
    ran, job, env = revoke_job(story, f"revoke-{story.current.pr}", at)
    story.show(ran.output)
    story.expect("the expired grant is removed",
                 ran.code == 0 and f"expired: {story.current.id}" in ran.output,
                 f"exit 0 and expired: {story.current.id}", f"exit {ran.code}\n{ran.output}")
    push_audit(story, "reusable-revoke.yml", job, env)
    return ran


def first_revoke(story: Story) -> None:
    """The revoke workflow's first run: nothing to revoke yet; it creates the audit branch (an
    orphan, never the default branch) and writes the team snapshot the check reads."""
    ran, job, env = revoke_job(story, "revoke-first", story.now())
    story.show(ran.output)
    snapshot = job.audit / "teams.json"
    story.expect("the team snapshot is written, from the token in AWS Secrets Manager",
                 ran.code == 0 and snapshot.is_file(),
                 "exit 0 and teams.json in the audit checkout", f"exit {ran.code}\n{ran.output}")
    story.show(snapshot.read_text(encoding="utf-8"))
    push_audit(story, "reusable-revoke.yml", job, env)


# ------------------------------------------------------- act I: a grant in an IAM policy


ML_REQUEST = """\
requester: alice
principal: {principal}
reason: Publish the retrained churn model after the 2026-11 feature fix
ticket: ML-4411
duration: 1h
access:
  - bucket: {bucket}
    prefix: {prefix}
    actions: [s3:PutObject]
"""


def ml_key(story: Story, name: str) -> str:
    return f"{story.ex.ml_prefix}churn/{name}"


def step_denied_at_first(story: Story) -> None:
    ex = story.ex
    story.say(f"alice has read-only access through her own role {ex.alice_ml.split(':')[-1]}. "
              "She tries to publish her model anyway…")
    key = ml_key(story, "model-v7.bin")
    attempt = alice_ml_put(story, key)
    tell(story, attempt, ex.ml_bucket, key)
    story.expect("the upload is refused", attempt.seen == "AccessDenied", "AccessDenied",
                 attempt.seen)


def step_pull_request(story: Story) -> None:
    ex = story.ex
    story.say(f"alice adds a request file under {IDENTITY_EXAMPLE} (grant: identity-policy, two "
              "approvals) and opens a pull request.")
    text = ML_REQUEST.format(principal=ex.alice_ml, bucket=ex.ml_bucket,
                             prefix=ml_key(story, ""))
    open_pull_request(story, Ask(IDENTITY_EXAMPLE, "alice-churn-model", text,
                                 "Write access: publish the churn model", ("grace", "erin")))
    show_check(story, ("s3:PutObject", ml_key(story, "")), needed=2)


def step_approvals(story: Story) -> None:
    story.say("alice approves her own pull request (she shouldn't, and it won't count)…")
    story.fake.add_review(story.current.pr, "alice", "APPROVED")
    ran, _ = run_check(story, "review-alice")
    story.show("\n".join(line for line in ran.output.splitlines() if "approv" in line))
    story.expect("self-approval not counted: still approvals: 0 of 2",
                 ran.code == 1 and approvals_line(ran.output) == "approvals: 0 of 2",
                 "exit 1 and approvals: 0 of 2", f"exit {ran.code}\n{ran.output}")
    approve(story, "grace", 1, 2, "of @acme/ml-leads")
    approve(story, "erin", 2, 2, "of @acme/security")


def step_merge_and_apply(story: Story) -> None:
    story.say("The pull request is merged. The apply workflow runs on the push to main:")
    merge_and_apply(story)


def step_use_the_grant(story: Story) -> None:
    ex = story.ex
    story.say("alice publishes her model again, with her usual credentials.")
    inside = ml_key(story, "model-v7.bin")
    attempt = alice_ml_put(story, inside)
    tell(story, attempt, ex.ml_bucket, inside)
    story.expect("inside the granted prefix: allowed", attempt.seen == "OK", "OK", attempt.seen)
    outside = f"{ex.ml_prefix}fraud/model-v2.bin"
    attempt = alice_ml_put(story, outside)
    tell(story, attempt, ex.ml_bucket, outside)
    story.expect("outside the prefix: still refused", attempt.seen == "AccessDenied",
                 "AccessDenied", attempt.seen)


def step_expiry(story: Story) -> None:
    expiry = story.current.expiry
    assert expiry is not None  # set by merge_and_apply  # noqa: S101
    at = expiry + timedelta(minutes=1)
    story.set_time(at)
    story.say(f"The clock moves past expiry to {iso(at)}: the revoke workflow runs, and since "
              f"we can't wait an hour, the demo appends `--at {iso(at)}` to its "
              "`jitflow revoke` line.")
    run_revoke(story, at)


def step_after(story: Story) -> None:
    ex = story.ex
    story.say("alice tries once more, after the expiry.")
    key = ml_key(story, "model-v8.bin")
    attempt = alice_ml_put(story, key)
    tell(story, attempt, ex.ml_bucket, key)
    story.expect("the upload is refused again", attempt.seen == "AccessDenied", "AccessDenied",
                 attempt.seen)


# ------------------------------------------- act II: one role, two people, a bucket policy


RAW_REQUEST = """\
requester: alice
principal: {principal}
reason: Backfill the 2026-11-27 clickstream partition after job 4411 failed
duration: 1h
access:
  - bucket: {bucket}
    prefix: {prefix}
    actions: [s3:PutObject]
"""


def grant_prefix(story: Story) -> str:
    return f"{story.ex.prefix}2026/11/27/"


def bucket_policy(story: Story) -> dict[str, Any] | None:
    """Act II's bucket policy as AWS holds it (read by the operator), or None."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    s3 = story.client("s3", story.operator)
    try:
        text = s3.get_bucket_policy(Bucket=story.ex.buckets[0])["Policy"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return None
        raise
    value: dict[str, Any] = json.loads(text)
    return value


def sids(policy: Mapping[str, Any] | None) -> list[str]:
    return [str(s.get("Sid")) for s in (policy or {}).get("Statement", [])]


def jitflow_statements(policy: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in (policy or {}).get("Statement", [])
            if str(s.get("Sid", "")).startswith("JitflowG")]


def step_shared_role(story: Story) -> None:
    ex = story.ex
    role = ex.shared_role.split(":")[-1]
    story.say(f"alice and bob both work through one role, {role} (read-only), each assuming it "
              "with their own keys, under their own IAM user name as the session name: the "
              "role's trust pins sts:RoleSessionName to ${aws:username}, so nobody can take "
              "another's session (jitflow refuses a shared role without that pin; with IAM "
              "Identity Center, AWS itself names the session after the signed-in user):")
    for creds, session in ((story.alice, ex.alice_session), (story.bob, ex.bob_session)):
        me = story.client("sts", session_creds(story, creds, ex.shared_role, session))
        identity = me.get_caller_identity()
        story.say(f"    {identity['Arn']}  (aws:userid {identity['UserId']})")
    story.policy_before = bucket_policy(story)
    story.say(f"    s3://{ex.buckets[0]} already has a policy, written by someone else: "
              f"statements {sids(story.policy_before)}")
    key = f"{grant_prefix(story)}part-0000.json"
    for who in ("alice", "bob"):
        attempt = shared_put(story, who, key)
        tell(story, attempt, ex.buckets[0], key, who)
        story.expect(f"{who} cannot write", attempt.seen == "AccessDenied", "AccessDenied",
                     attempt.seen)


def step_bucket_request(story: Story) -> None:
    ex = story.ex
    story.say(f"alice asks under {BUCKET_EXAMPLE} (grant: bucket-policy) for the shared role: "
              "identities.yaml maps her to her session on it.")
    text = RAW_REQUEST.format(principal=ex.shared_role, bucket=ex.buckets[0],
                              prefix=grant_prefix(story))
    open_pull_request(story, Ask(BUCKET_EXAMPLE, "alice-demo-backfill", text,
                                 "Write access: clickstream backfill", ("erin",)))
    show_check(story, (ex.alice_session, grant_prefix(story)), needed=1)
    approve(story, "erin", 1, 1, "an approver of the policy")


def step_bucket_apply(story: Story) -> None:
    ex = story.ex
    story.say("The pull request is merged. The apply workflow runs on the push to main:")
    merge_and_apply(story)
    after = bucket_policy(story)
    story.granted_statements = jitflow_statements(after)
    story.say(f"    s3://{ex.buckets[0]}'s policy now: statements {sids(after)}")
    story.show(json.dumps(story.granted_statements, indent=2))
    iam = story.client("iam", story.operator)
    role_id = iam.get_role(RoleName=ex.shared_role.rsplit("/", 1)[-1])["Role"]["RoleId"]
    userid = f"{role_id}:{ex.alice_session}"
    conditions = [s.get("Condition", {}) for s in story.granted_statements]
    expiry = story.current.expiry
    until = iso(expiry) if expiry else "?"
    story.expect(f"one statement admits only aws:userid {userid} until {until}; "
                 f"{FOREIGN_SID} is kept",
                 len(conditions) == 1
                 and conditions[0].get("StringEquals") == {"aws:userid": userid}
                 and conditions[0].get("DateLessThan") == {"aws:CurrentTime": until}
                 and sids(after)[0] == FOREIGN_SID,
                 f"one statement for {userid} until {until}, after {FOREIGN_SID}",
                 json.dumps(after, indent=2))


def step_one_role_two_people(story: Story) -> None:
    ex = story.ex
    story.say("Both try to write under the granted prefix, on the same role:")
    key = f"{grant_prefix(story)}part-0000.json"
    attempt = shared_put(story, "alice", key)
    tell(story, attempt, ex.buckets[0], key, "alice")
    story.expect("alice is allowed, by the bucket policy's statement", attempt.seen == "OK",
                 "OK", attempt.seen)
    attempt = shared_put(story, "bob", key)
    tell(story, attempt, ex.buckets[0], key, "bob")
    story.expect("bob, on the same role, is denied", attempt.seen == "AccessDenied",
                 "AccessDenied", attempt.seen)


def step_bucket_expiry(story: Story) -> None:
    ex = story.ex
    expiry = story.current.expiry
    assert expiry is not None  # set by merge_and_apply  # noqa: S101
    key = f"{grant_prefix(story)}part-0001.json"
    story.set_time(expiry - timedelta(minutes=1))
    story.say(f"The clock moves to {iso(story.now())}, a minute before the expiry:")
    attempt = shared_put(story, "alice", key)
    tell(story, attempt, ex.buckets[0], key, "alice")
    story.expect("alice still writes", attempt.seen == "OK", "OK", attempt.seen)
    story.set_time(expiry + timedelta(minutes=1))
    story.say(f"The clock moves to {iso(story.now())}, a minute after it. No revoke has run: the "
              "statement is still in the bucket policy.")
    still = jitflow_statements(bucket_policy(story))
    story.expect("the bucket policy still holds the grant, unchanged",
                 still == story.granted_statements and bool(still),
                 json.dumps(story.granted_statements), json.dumps(still))
    attempt = shared_put(story, "alice", key)
    tell(story, attempt, ex.buckets[0], key, "alice")
    story.say("    AWS's own evaluation (modelled here by jitflow's evaluator) denies the write: "
              f"aws:CurrentTime {iso(story.now())} is not before the statement's "
              f"DateLessThan {iso(expiry)}.")
    story.expect("denied after the expiry by the condition alone, before any revoke",
                 attempt.seen == "AccessDenied", "AccessDenied", attempt.seen)


def step_bucket_revoke(story: Story) -> None:
    ex = story.ex
    at = story.now()
    story.say(f"The revoke workflow runs; the demo appends `--at {iso(at)}` to its "
              "`jitflow revoke` line.")
    run_revoke(story, at)
    after = bucket_policy(story)
    story.say(f"    s3://{ex.buckets[0]}'s policy now: statements {sids(after)}")
    story.expect("the bucket policy is as before the grant", after == story.policy_before,
                 json.dumps(story.policy_before), json.dumps(after))
    key = f"{grant_prefix(story)}part-0002.json"
    attempt = shared_put(story, "alice", key)
    tell(story, attempt, ex.buckets[0], key, "alice")
    story.expect("alice is refused", attempt.seen == "AccessDenied", "AccessDenied",
                 attempt.seen)


# ------------------------------------------- act III: break-glass, reviewed after the fact
INCIDENT_PREFIX = "2026/11/28/"


def step_break_glass_request(story: Story) -> None:
    ex = story.ex
    story.say(f"An incident: last night's partition is corrupt and must be rewritten now, with "
              f"no approver awake. {BUCKET_EXAMPLE} has a break_glass section, so alice marks "
              "her request break_glass: true (at most 1h). The check needs no approval; it "
              "says who may merge it and who reviews it afterwards:")
    text = RAW_REQUEST.format(principal=ex.shared_role, bucket=ex.buckets[0],
                              prefix=f"{ex.prefix}{INCIDENT_PREFIX}")
    text = text.replace("Backfill the 2026-11-27 clickstream partition after job 4411 failed",
                        "Incident INC-7, rewrite the corrupt 2026-11-28 partition") + \
        "break_glass: true\n"
    open_pull_request(story, Ask(BUCKET_EXAMPLE, "alice-incident-fix", text,
                                 "Break-glass: rewrite a corrupt partition", ()))
    ran, summary = run_check(story, "opened")
    story.show("\n".join(line for line in (summary or ran.output).splitlines()
                         if "BREAK-GLASS" in line or "jitflow check" in line))
    story.expect("the check passes and shows the break-glass terms",
                 ran.code == 0 and "BREAK-GLASS" in (summary + ran.output),
                 "exit 0 and BREAK-GLASS", f"exit {ran.code}\n{ran.output}")


def step_break_glass_apply(story: Story) -> None:
    ex = story.ex
    story.say("alice merges it herself, unreviewed (a requester of the policy; the ruleset lets "
              "the people on call merge without a review). apply checks who merged:")
    merge_and_apply(story, merged_by="alice")
    comments = [c.body for c in story.fake.comments(story.current.pr) if "Granted" in c.body]
    story.expect("the grant comment carries the BREAK-GLASS badge and mentions the reviewer",
                 bool(comments) and "BREAK-GLASS" in comments[-1] and "@erin" in comments[-1],
                 "BREAK-GLASS and @erin in the comment", comments[-1] if comments else "none")
    key = f"{ex.prefix}{INCIDENT_PREFIX}part-0000.json"
    attempt = shared_put(story, "alice", key)
    tell(story, attempt, ex.buckets[0], key, "alice")
    story.expect("alice writes the fix", attempt.seen == "OK", "OK", attempt.seen)


def revoke_at(story: Story, at: datetime, name: str) -> Ran:
    ran, job, env = revoke_job(story, name, at)
    story.show(ran.output)
    push_audit(story, "reusable-revoke.yml", job, env)
    return ran


def step_break_glass_review(story: Story) -> None:
    ask = story.current
    story.set_time(story.now() + timedelta(hours=25))
    story.say(f"A day later ({iso(story.now())}) nobody has reviewed it. The grant itself "
              "ended after its hour; the revoke run records that, then fails loudly:")
    ran = revoke_at(story, story.now(), "revoke-overdue")
    story.expect("revoke fails while the break-glass review is overdue",
                 ran.code == 1 and "break-glass review overdue" in ran.output,
                 "exit 1 and 'break-glass review overdue'", f"exit {ran.code}\n{ran.output}")
    story.say(f"erin reviews the merged pull request #{ask.pr} and approves it; the next run "
              "records her review and passes:")
    story.fake.add_review(ask.pr, "erin", "APPROVED")
    ran = revoke_at(story, story.now() + timedelta(minutes=15), "revoke-reviewed")
    git(story.root, "clone", "--quiet", "--branch", AUDIT_BRANCH, str(story.origin),
        "after-review")
    from jitflow.audit.store import AuditLog  # noqa: PLC0415

    reviewed = [r for r in AuditLog(story.root / "after-review" / "audit").records()
                if r.get("event") == "break_glass_reviewed" and r.get("request") == ask.id]
    story.expect("the review is recorded and revoke passes again",
                 ran.code == 0 and len(reviewed) == 1,
                 "exit 0 and one break_glass_reviewed record",
                 f"exit {ran.code}, {len(reviewed)} records\n{ran.output}")


def step_audit(story: Story) -> None:
    story.say("Anyone can check the audit trail of every act from a fresh clone:")
    checkout = checkout_main(story, "auditor")
    result = subprocess.run([sys.executable, "-m", "jitflow", "audit", "verify"], cwd=checkout,
                            env=base_env(story), capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    story.show(output)
    story.expect("jitflow audit verify: chain intact",
                 result.returncode == 0 and "audit chain intact" in output,
                 "exit 0 and 'audit chain intact'", f"exit {result.returncode}\n{output}")
    story.say("And, with AWS credentials that may read it, against the head each run wrote to "
              "the audit anchor in AWS (`--anchor`):")
    result = subprocess.run([sys.executable, "-m", "jitflow", "audit", "verify", "--anchor"],
                            cwd=checkout, env={**base_env(story), **aws_env(story)},
                            capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    story.show(output.splitlines()[-1] if result.returncode == 0 else output)
    story.expect("jitflow audit verify --anchor: the log's head is the anchored record",
                 result.returncode == 0 and "the log's head is the anchored record" in output,
                 "exit 0 and the anchored head", f"exit {result.returncode}\n{output}")


Step = tuple[str, Callable[[Story], None]]
ACTS: tuple[tuple[str, tuple[Step, ...]], ...] = (
    ("", (("0. the sandbox", step_setup),)),
    (f"Act I · {IDENTITY_EXAMPLE}: alice's own role, a grant in an IAM policy", (
        ("1. no access yet", step_denied_at_first),
        ("2. the pull request", step_pull_request),
        ("3. approvals", step_approvals),
        ("4. merge and apply", step_merge_and_apply),
        ("5. using the grant", step_use_the_grant),
        ("6. expiry", step_expiry),
        ("7. after", step_after),
    )),
    (f"Act II · {BUCKET_EXAMPLE}: one shared role, a grant in the bucket policy", (
        ("8. one role, two people", step_shared_role),
        ("9. alice's request", step_bucket_request),
        ("10. merge and apply", step_bucket_apply),
        ("11. alice writes, bob cannot", step_one_role_two_people),
        ("12. expiry, before any revoke", step_bucket_expiry),
        ("13. revoke", step_bucket_revoke),
    )),
    (f"Act III · {BUCKET_EXAMPLE}: break-glass, reviewed after the fact", (
        ("14. an emergency request", step_break_glass_request),
        ("15. merged unreviewed, granted", step_break_glass_apply),
        ("16. the review comes due", step_break_glass_review),
        ("17. the audit trail", step_audit),
    )),
)


# ------------------------------------------------------------------------------ driver


@contextmanager
def sandbox(keep: Path | None) -> Iterator[Path]:
    """A fresh directory: `keep` (created, must be empty) and left behind, or a temp dir."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="jitflow-demo-") as directory:
            yield Path(directory)
        return
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise UsageError(f"--keep {keep}: give a new or empty directory")
    keep.mkdir(parents=True, exist_ok=True)
    yield keep.resolve()


def run_demo(keep: Path | None = None, out: TextIO | None = None) -> int:
    """Tell the whole story; 0 when every expectation held, 1 at the first that did not."""
    from jitflow.sandbox.github import FakeGitHub  # noqa: PLC0415

    stream = out or sys.stdout
    started = time.monotonic()
    with ExitStack() as stack:
        root = stack.enter_context(sandbox(keep))
        story = Story(root=root, source=find_source(), out=stream)
        story.examples = read_examples(story.source)
        # werkzeug logs every request of moto's server to stderr: not part of the story.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        story.endpoint = stack.enter_context(moto_server())
        from jitflow.sandbox.moto_eval import (  # noqa: PLC0415 (moto: the demo extra)
            SettableClock,
            policy_evaluation,
        )

        story.clock = SettableClock(datetime.now(UTC).replace(microsecond=0))
        story.decisions = stack.enter_context(policy_evaluation(story.clock))
        story.fake = stack.enter_context(FakeGitHub(clock=story.clock))
        try:
            for act, steps in ACTS:
                if act:
                    story.say(f"\n══ {act} " + "═" * max(0, 60 - len(act)))
                for title, step in steps:
                    story.say(f"\n── {title} " + "─" * max(0, 60 - len(title)))
                    began = time.monotonic()
                    step(story)
                    story.say(f"  ({time.monotonic() - began:.1f} s)")
        except DemoFailed as error:
            story.say(f"\n✘ {error.message}")
            return 1
        finally:
            if keep is not None:
                story.say(f"\nThe sandbox stays in {root}")
    elapsed = time.monotonic() - started
    stream.write(f"\n✔ Every step held: requested, approved, granted, used, expired, "
                 f"revoked, audited — in an IAM policy, in a bucket policy, and by "
                 f"break-glass with its review ({elapsed:.1f} s).\n")
    return 0
