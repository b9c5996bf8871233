"""`jitflow demo`: the whole lifecycle on this machine, narrated and checked.

A moto server (IAM enforcement on; `jitflow.sandbox.moto`) stands in for AWS, the fake GitHub
(`jitflow.sandbox.github`) for GitHub, and a bare repository on disk for the access
repository. Every jitflow step runs the `run:` line of the real workflow file in a subprocess,
with the environment GitHub Actions would give it: the demo exercises the workflows, not a
parallel code path. Each expectation prints ✔ or ✘; the first ✘ ends the story with exit 1.

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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from jitflow.clock import iso, parse_time
from jitflow.errors import ConfigError, JitflowError, UsageError
from jitflow.sandbox.moto import enforce_iam, moto_server

REPOSITORY = "acme/access"  # the access repository's name in the fake GitHub
POLICY = "analytics-raw"  # the example policy the story requests access under
REQUEST_NAME = "alice-demo-backfill"
GRANT_PREFIX = "clickstream/2026/11/27/"
# The fake accepts any token; this one acts as github-actions[bot]. Not a secret.
TOKEN = "demo-actions-token"  # noqa: S105
RUN_ID = "4242"
SEED_PATHS = ("policies", "jitflow.yaml", ".github", "requests/README.md")
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
READ_ACTIONS = ("s3:GetObject", "s3:ListBucket")


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
class Story:
    """Everything the steps share; filled in as the story goes."""

    root: Path
    source: Path
    out: TextIO
    endpoint: str = ""
    region: str = "us-east-1"
    account: str = ""
    principal: str = ""
    buckets: tuple[str, ...] = ()
    fake: Any = None  # FakeGitHub
    operator: Creds = SETUP
    alice: Creds = SETUP
    pr: int = 0
    base_sha: str = ""
    head_sha: str = ""
    merge_sha: str = ""
    expiry: datetime | None = None
    _clients: dict[tuple[str, Creds, str | None], Any] = field(default_factory=dict)

    @property
    def origin(self) -> Path:
        return self.root / "origin.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def request_path(self) -> str:
        return f"requests/{POLICY}/{REQUEST_NAME}.yaml"

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
    """This repository's checkout: the examples the demo repository is seeded from."""
    here = Path(__file__).resolve().parent.parent
    missing = [p for p in SEED_PATHS if not (here / p).exists()]
    if missing:
        raise ConfigError(
            f"jitflow demo seeds its repository from a jitflow checkout, but {here} lacks "
            f"{', '.join(missing)}: run it from a clone (./dev.sh demo)"
        )
    return here


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


def upload(story: Story, key: str) -> str:
    """alice, in a fresh session of her role, puts an object: 'OK' or the error code."""
    sts = story.client("sts", story.alice)
    session = sts.assume_role(RoleArn=story.principal, RoleSessionName=f"alice-{time.time_ns()}")
    c = session["Credentials"]
    s3 = story.client("s3", Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    return denied(lambda: s3.put_object(Bucket=story.buckets[0], Key=key, Body=b"demo"))


# ----------------------------------------------------------------- workflows as the runner


def workflow_step(source: Path, workflow: str, step_id: str) -> tuple[str, tuple[str, ...]]:
    """The `run:` text and the `env:` names of the step with `id: step_id`."""
    path = source / ".github" / "workflows" / workflow
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    for job in document.get("jobs", {}).values():
        for step in job.get("steps", []):
            if step.get("id") == step_id:
                return str(step["run"]), tuple(step.get("env", {}) or {})
    raise ConfigError(f"{path}: no step with id {step_id!r}")


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
    """Run one workflow step's `run:` with bash as the runner does; step env names not
    given in `env` are empty, like an unset secret or variable."""
    script, names = workflow_step(story.source, workflow, step_id)
    full = {**base_env(story), **{n: "" for n in names}, **env}
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
    return {"AWS_ENDPOINT_URL": story.endpoint, "AWS_REGION": story.region,
            "AWS_DEFAULT_REGION": story.region, **story.operator.env(),
            "GIT_AUTHOR_NAME": BOT_NAME, "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME, "GIT_COMMITTER_EMAIL": BOT_EMAIL}


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------- story


def read_examples(story: Story) -> None:
    """Account, buckets and alice's principal, from the example policy and identities."""
    policy: Any = yaml.safe_load((story.source / "policies" / f"{POLICY}.yaml").read_text())
    identities: Any = yaml.safe_load((story.source / "policies" / "identities.yaml").read_text())
    story.account = str(policy["account"])
    story.buckets = tuple(policy["buckets"])
    mine = [arn for arn in identities["alice"] if f"::{story.account}:role/" in arn]
    if not mine:
        raise ConfigError(f"policies/identities.yaml gives alice no role in {story.account}")
    story.principal = mine[0]


def read_only(buckets: tuple[str, ...]) -> str:
    resources = [f"arn:aws:s3:::{b}" for b in buckets] + [f"arn:aws:s3:::{b}/*" for b in buckets]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": resources}]})


def allow(action: str, resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resource}]})


def seed_other_accounts(story: Story, operator_arn: str) -> None:
    """The grant roles jitflow.yaml names in other accounts, assumable by the operator."""
    settings: Any = yaml.safe_load((story.source / "jitflow.yaml").read_text())
    for account, config in (settings.get("accounts") or {}).items():
        role = (config or {}).get("role")
        if not role or str(account) == story.account:
            continue
        iam = story.client("iam", SETUP, str(account))
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": operator_arn}, "Action": "sts:AssumeRole"}]})
        path, _, name = str(role).split(":role", 1)[1].rpartition("/")
        iam.create_role(RoleName=name, Path=f"{path}/", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=name, PolicyName="admin", PolicyDocument=allow("*", "*"))


def seed_aws(story: Story) -> None:
    iam = story.client("iam", SETUP, story.account)
    s3 = story.client("s3", SETUP, story.account)
    for bucket in story.buckets:
        s3.create_bucket(Bucket=bucket)
    operator_arn = iam.create_user(UserName="jitflow-operator")["User"]["Arn"]
    iam.put_user_policy(UserName="jitflow-operator", PolicyName="admin",
                        PolicyDocument=allow("*", "*"))
    key = iam.create_access_key(UserName="jitflow-operator")["AccessKey"]
    story.operator = Creds(key["AccessKeyId"], key["SecretAccessKey"])
    read = iam.create_policy(PolicyName="read-only",
                             PolicyDocument=read_only(story.buckets))["Policy"]["Arn"]
    alice_arn = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=read)
    iam.put_user_policy(UserName="alice", PolicyName="assume",
                        PolicyDocument=allow("sts:AssumeRole", story.principal))
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    story.alice = Creds(key["AccessKeyId"], key["SecretAccessKey"])
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": alice_arn}, "Action": "sts:AssumeRole"}]})
    role = story.principal.rsplit("/", 1)[-1]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName=role, PolicyArn=read)
    seed_other_accounts(story, operator_arn)


def seed_github(story: Story) -> None:
    fake = story.fake
    fake.set_token(TOKEN)
    org = REPOSITORY.split("/", maxsplit=1)[0]
    for team in ("data-platform", "data-eng", "security"):
        fake.add_team(org, team, {})
    fake.add_repo(REPOSITORY)


def step_setup(story: Story) -> None:
    story.say("Setting the scene: a pretend AWS account (moto) and a pretend GitHub, locally.")
    seed_aws(story)
    enforce_iam(story.endpoint, True)
    seed_github(story)
    story.expect(f"account {story.account}: buckets {', '.join(story.buckets)}; alice can "
                 f"assume {story.principal.split(':')[-1]}; IAM enforcement is on",
                 upload(story, "seed-check") == "AccessDenied", "AccessDenied",
                 "writes allowed before anything was granted")


def step_denied_at_first(story: Story) -> None:
    story.say("alice has read-only access. She tries to upload her backfill anyway…")
    seen = upload(story, f"{GRANT_PREFIX}part-0000.json")
    story.say(f"    s3://{story.buckets[0]}/{GRANT_PREFIX}part-0000.json → {seen}")
    story.expect("the upload is refused", seen == "AccessDenied", "AccessDenied", seen)


def seed_repository(story: Story) -> None:
    git(story.root, "init", "--quiet", "--bare", "origin.git")
    git(story.root, "clone", "--quiet", str(story.origin), "work")
    for relative in SEED_PATHS:
        src, dst = story.source / relative, story.work / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    git(story.work, "checkout", "--quiet", "-b", "main")
    git(story.work, "add", "--all")
    git(story.work, "commit", "--quiet", "-m", "Access repository: policies and workflows",
        who=person("admin"))
    git(story.work, "push", "--quiet", "origin", "main")
    story.base_sha = git(story.work, "rev-parse", "HEAD")


REQUEST_TEXT = """\
requester: alice
principal: {principal}
reason: Backfill the 2026-11-27 clickstream partition after job 4411 failed
duration: 1h
access:
  - bucket: {bucket}
    prefix: {prefix}
    actions: [s3:PutObject]
"""


def open_pull_request(story: Story) -> None:
    branch = f"request/{REQUEST_NAME}"
    git(story.work, "checkout", "--quiet", "-b", branch)
    path = story.work / story.request_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REQUEST_TEXT.format(principal=story.principal, bucket=story.buckets[0],
                                        prefix=GRANT_PREFIX), encoding="utf-8")
    git(story.work, "add", story.request_path)
    git(story.work, "commit", "--quiet", "-m", "Request write access for the backfill",
        who=person("alice"))
    git(story.work, "push", "--quiet", "origin", branch)
    story.head_sha = git(story.work, "rev-parse", "HEAD")
    fake = story.fake
    story.pr = fake.open_pull(author="alice", head_sha=story.head_sha, base_sha=story.base_sha,
                              head_ref=branch, title="Write access: clickstream backfill")
    fake.add_commit_to_pull(story.pr, story.head_sha, author="alice")
    fake.add_file_to_pull(story.pr, story.request_path, additions=9)


def pull_event(story: Story, name: str) -> Path:
    pull = {"number": story.pr, "user": {"login": "alice"},
            "base": {"sha": story.base_sha, "ref": "main"},
            "head": {"sha": story.head_sha, "ref": f"request/{REQUEST_NAME}"}}
    return write_json(story.root / f"event-{name}.json",
                      {"action": "submitted" if "review" in name else "opened",
                       "pull_request": pull})


def run_check(story: Story, event_name: str) -> tuple[Ran, str]:
    """The check job: base/ and pr/ checkouts, then the `id: check` step. (code, summary)."""
    job = story.root / f"check-{event_name}"
    job.mkdir()
    git(job, "clone", "--quiet", "--no-checkout", str(story.origin), "base")
    git(job / "base", "checkout", "--quiet", story.base_sha)
    git(job, "clone", "--quiet", "--no-checkout", str(story.origin), "pr")
    git(job / "pr", "fetch", "--quiet", "origin", story.head_sha)
    git(job / "pr", "checkout", "--quiet", story.head_sha)
    summary = job / "summary.md"
    kind = "pull_request_review" if "review" in event_name else "pull_request"
    env = github_env(story, pull_event(story, event_name), GITHUB_EVENT_NAME=kind,
                     GITHUB_STEP_SUMMARY=str(summary), BASE_SHA=story.base_sha,
                     HEAD_SHA=story.head_sha)
    ran = run_step(story, "jitflow-check.yml", "check", job, env)
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    return ran, text


def approvals_line(output: str) -> str:
    found = re.search(r"approvals: \d+ of \d+", output)
    return found.group(0) if found else "(no approvals line)"


def step_pull_request(story: Story) -> None:
    story.say("alice adds a request file on a branch and opens a pull request.")
    seed_repository(story)
    open_pull_request(story)
    story.say(f"    PR #{story.pr}: {story.request_path} (head {story.head_sha[:12]})")
    story.say("The check workflow runs its `jitflow check` step in base/ + pr/ checkouts (its pip "
              "install steps are skipped: this jitflow is already installed):")
    ran, summary = run_check(story, "opened")
    shown = summary.split("<details>")[0].rstrip()
    story.show(shown + "\n(the exact IAM policy document follows in the summary)"
               if summary else ran.output)
    story.expect("the plan is in the job summary", "s3:PutObject" in summary
                 and GRANT_PREFIX in summary, f"a plan for {GRANT_PREFIX}", summary or ran.output)
    story.expect("the check fails: approvals: 0 of 1",
                 ran.code == 1 and approvals_line(ran.output) == "approvals: 0 of 1",
                 "exit 1 and approvals: 0 of 1", f"exit {ran.code}\n{ran.output}")


def step_approvals(story: Story) -> None:
    story.say("alice approves her own pull request (she shouldn't, and it won't count)…")
    story.fake.add_review(story.pr, "alice", "APPROVED")
    ran, _ = run_check(story, "review-alice")
    story.show("\n".join(line for line in ran.output.splitlines() if "approv" in line))
    story.expect("self-approval not counted: still approvals: 0 of 1",
                 ran.code == 1 and approvals_line(ran.output) == "approvals: 0 of 1",
                 "exit 1 and approvals: 0 of 1", f"exit {ran.code}\n{ran.output}")
    story.say("erin, an approver of the policy, approves the head commit.")
    story.fake.add_review(story.pr, "erin", "APPROVED")
    ran, _ = run_check(story, "review-erin")
    story.show("\n".join(line for line in ran.output.splitlines() if "approv" in line))
    story.expect("the check passes: approvals: 1 of 1",
                 ran.code == 0 and approvals_line(ran.output) == "approvals: 1 of 1",
                 "exit 0 and approvals: 1 of 1", f"exit {ran.code}\n{ran.output}")


def merge(story: Story) -> None:
    git(story.work, "checkout", "--quiet", "main")
    git(story.work, "merge", "--quiet", "--no-ff", f"request/{REQUEST_NAME}", "-m",
        f"Merge pull request #{story.pr} from alice/request/{REQUEST_NAME}", who=person("erin"))
    git(story.work, "push", "--quiet", "origin", "main")
    story.merge_sha = git(story.work, "rev-parse", "HEAD")
    story.fake.merge_pull(story.pr, story.merge_sha, merged_by="erin")


def origin_main(story: Story) -> tuple[str, str]:
    """(sha, subject) of main in origin."""
    line = git(story.origin, "log", "-1", "--format=%H %s", "main")
    sha, _, subject = line.partition(" ")
    return sha, subject


def checkout_main(story: Story, name: str) -> Path:
    git(story.root, "clone", "--quiet", str(story.origin), name)
    return story.root / name


def push_audit(story: Story, workflow: str, cwd: Path, env: Mapping[str, str]) -> None:
    ran = run_step(story, workflow, "push", cwd, env)
    sha, subject = origin_main(story)
    story.say(f"    origin/main is now {sha[:12]} {subject!r}")
    story.expect("the audit commit is pushed to origin",
                 ran.code == 0 and sha == git(cwd, "rev-parse", "HEAD"),
                 "push step exit 0 and origin/main = the audit commit",
                 f"exit {ran.code}\n{ran.output}")


def granted_expiry(checkout: Path) -> datetime | None:
    from jitflow.audit.store import AuditLog  # noqa: PLC0415

    for record in AuditLog(checkout / "audit").records():
        details = record.get("details") if isinstance(record.get("details"), dict) else record
        if record.get("event") == "granted" and isinstance(details, dict):
            return parse_time(str(details.get("expiry")))
    return None


def step_merge_and_apply(story: Story) -> None:
    story.say("The pull request is merged. The apply workflow runs on the push to main:")
    merge(story)
    checkout = checkout_main(story, "apply")
    event = write_json(story.root / "event-push.json",
                       {"ref": "refs/heads/main", "before": story.base_sha,
                        "after": story.merge_sha})
    env = {**github_env(story, event, GITHUB_SHA=story.merge_sha, GITHUB_EVENT_NAME="push",
                        GITHUB_REF_NAME="main"), **aws_env(story)}
    ran = run_step(story, "jitflow-apply.yml", "apply", checkout, env)
    story.show(ran.output)
    story.expect("approvals verified again and the grant made",
                 ran.code == 0 and "granted:" in ran.output, "exit 0 and granted:",
                 f"exit {ran.code}\n{ran.output}")
    comments = [c.body for c in story.fake.comments(story.pr) if "Granted" in c.body]
    story.say(f"    comment on PR #{story.pr}:")
    story.show(comments[-1] if comments else "(none)")
    story.expect("the PR has the grant comment", bool(comments), "a 'Granted' comment",
                 "no such comment")
    push_audit(story, "jitflow-apply.yml", checkout, env)
    story.expiry = granted_expiry(checkout)
    story.expect("the audit log records the grant with its expiry", story.expiry is not None,
                 "a granted record with an expiry", "none")


def step_use_the_grant(story: Story) -> None:
    story.say("alice uploads her backfill again, with her usual credentials.")
    inside = upload(story, f"{GRANT_PREFIX}part-0000.json")
    story.say(f"    s3://{story.buckets[0]}/{GRANT_PREFIX}part-0000.json → {inside}")
    story.expect("inside the granted prefix: allowed", inside == "OK", "OK", inside)
    outside = upload(story, "clickstream/2026/11/28/part-0000.json")
    story.say(f"    s3://{story.buckets[0]}/clickstream/2026/11/28/part-0000.json → {outside}")
    story.expect("outside the prefix: still refused", outside == "AccessDenied",
                 "AccessDenied", outside)


def step_expiry(story: Story) -> None:
    assert story.expiry is not None  # set by step_merge_and_apply  # noqa: S101
    at = iso(story.expiry + timedelta(minutes=1))
    story.say(f"The clock moves past expiry: the revoke workflow runs, and since we can't wait "
              f"an hour, the demo appends `--at {at}` to its `jitflow revoke` line.")
    checkout = checkout_main(story, "revoke")
    event = write_json(story.root / "event-schedule.json", {"schedule": "7,22,37,52 * * * *"})
    env = {**github_env(story, event, GITHUB_EVENT_NAME="schedule", GITHUB_REF_NAME="main"),
           **aws_env(story), "REQUEST": "", "REASON": ""}

    def at_time(script: str) -> str:
        return re.sub(r"^(\s*jitflow revoke\b.*)$", rf"\1 --at {at}", script, flags=re.M)

    ran = run_step(story, "jitflow-revoke.yml", "revoke", checkout, env, edit=at_time)
    story.show(ran.output)
    story.expect("the expired grant is removed", ran.code == 0 and "expired:" in ran.output,
                 "exit 0 and expired:", f"exit {ran.code}\n{ran.output}")
    push_audit(story, "jitflow-revoke.yml", checkout, env)


def step_after(story: Story) -> None:
    story.say("alice tries once more, after the expiry.")
    seen = upload(story, f"{GRANT_PREFIX}part-0001.json")
    story.say(f"    s3://{story.buckets[0]}/{GRANT_PREFIX}part-0001.json → {seen}")
    story.expect("the upload is refused again", seen == "AccessDenied", "AccessDenied", seen)
    story.say("Anyone can check the audit trail from a fresh clone:")
    checkout = checkout_main(story, "auditor")
    result = subprocess.run([sys.executable, "-m", "jitflow", "audit", "verify"], cwd=checkout,
                            env=base_env(story), capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    story.show(output)
    story.expect("jitflow audit verify: chain intact",
                 result.returncode == 0 and "audit chain intact" in output,
                 "exit 0 and 'audit chain intact'", f"exit {result.returncode}\n{output}")


STEPS: tuple[tuple[str, Callable[[Story], None]], ...] = (
    ("0. the sandbox", step_setup),
    ("1. no access yet", step_denied_at_first),
    ("2. the pull request", step_pull_request),
    ("3. approvals", step_approvals),
    ("4. merge and apply", step_merge_and_apply),
    ("5. using the grant", step_use_the_grant),
    ("6. expiry", step_expiry),
    ("7. after", step_after),
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
        read_examples(story)
        # werkzeug logs every request of moto's server to stderr: not part of the story.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        story.endpoint = stack.enter_context(moto_server())
        story.fake = stack.enter_context(FakeGitHub())
        try:
            for title, step in STEPS:
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
                 f"audited ({elapsed:.1f} s).\n")
    return 0
