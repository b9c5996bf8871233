"""The GitHub Actions workflows: nothing a pull request controls may reach credentials.

Complements zizmor (run by ./dev.sh test) with rules specific to jitflow. Each rule is a
function from one workflow (its name, raw text and parsed YAML) to a list of violations; each
has a named test over the real workflow files, and each is shown able to fail by running it on
a small mutation of a real workflow's text (test_each_rule_catches_its_mutation).

The workflows come in pairs (issue 11): `jitflow-<duty>.yml`, a thin caller (triggers,
permissions, concurrency, one job that `uses:` the reusable workflow), and
`reusable-<duty>.yml` (`on: workflow_call`), which holds the job. The adopter's callers under
jitflow/scaffold/ call jitflow's reusable workflows at a pinned commit; they are checked here
too, rendered with sample values (test_the_scaffold_callers_*).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jitflow.doctor.expected import GITHUB_ACTIONS_APP_ID, REQUIRED_CHECK
from jitflow.oidc import CALLERS, REUSABLE

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCAFFOLD = ROOT / "jitflow" / "scaffold" / ".github" / "workflows"
DUTIES = ("check", "apply", "revoke")
DUTY_OF = {**{CALLERS[d]: d for d in DUTIES}, **{REUSABLE[d]: d for d in DUTIES}}

# The actions allowed, pinned (from github-actions-pins.md, read from the actions' repositories).
PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
    ),
}
# How a caller here names its reusable workflow: GitHub's self-repository form, the same
# commit as the caller (zizmor's self-repository audit asks for it over `./`).
LOCAL_REUSABLE = "$/.github/workflows/{file}"
# How an adopter's caller names it: jitflow's repository at a full commit SHA.
PINNED_REUSABLE = re.compile(r"jitflow/jitflow/\.github/workflows/(?P<file>reusable-[a-z]+\.yml)"
                             r"@[0-9a-f]{40}")

# What each duty's jobs may be granted, at most (caller and reusable alike).
DUTY_PERMISSIONS: dict[str, dict[str, str]] = {
    "check": {"contents": "read", "pull-requests": "write"},
    "apply": {"id-token": "write", "contents": "write", "pull-requests": "write"},
    "revoke": {"id-token": "write", "contents": "write", "pull-requests": "read"},
}
PERMISSIONS: dict[str, dict[str, str]] = {
    **{CALLERS[d]: p for d, p in DUTY_PERMISSIONS.items()},
    **{REUSABLE[d]: p for d, p in DUTY_PERMISSIONS.items()},
    "ci.yml": {"contents": "read"},
}
LEVELS = {"none": 0, "read": 1, "write": 2}

# The command lines other parts of jitflow rely on (the demo runs them from these files).
PUSH = "bash tool/.github/scripts/push-audit.sh"
COMMANDS: dict[str, dict[str, str]] = {
    "reusable-check.yml": {
        "check": 'jitflow check --repo pr --base "$BASE_SHA" --head "$HEAD_SHA"'},
    "reusable-apply.yml": {"apply": "jitflow apply --commit --repo access", "push": PUSH},
    "reusable-revoke.yml": {"push": PUSH},
}
REVOKE_LINES = ("jitflow revoke --commit --repo access",
                'jitflow revoke --commit --repo access --request "$REQUEST" --reason "$REASON"')
AWS_GROUP = "jitflow-aws"
APPLY_ENVIRONMENT = "jitflow-apply"
# Where jitflow makes the audit branch's checkout, and the push step pushes it from.
AUDIT_REPO = "${{ runner.temp }}/jitflow-audit"
# What each caller passes to its reusable workflow: repository variables, never secrets.
CALLER_INPUTS: dict[str, dict[str, str]] = {
    "check": {},
    "apply": {"role-arn": "${{ vars.JITFLOW_APPLY_ROLE_ARN }}",
              "aws-region": "${{ vars.JITFLOW_AWS_REGION }}",
              "teams-token-secret": "${{ vars.JITFLOW_TEAMS_TOKEN_SECRET }}"},
    "revoke": {"role-arn": "${{ vars.JITFLOW_REVOKE_ROLE_ARN }}",
               "aws-region": "${{ vars.JITFLOW_AWS_REGION }}",
               "teams-token-secret": "${{ vars.JITFLOW_TEAMS_TOKEN_SECRET }}",
               "request": "${{ inputs.request }}", "reason": "${{ inputs.reason }}"},
}
# jitflow comes from tool/: the reusable workflow's own commit; for the check, the pull
# request's base when the access repository calls its own copy (its caller then runs from the
# pull request's merge commit).
TOOL_REPOSITORY = "${{ job.workflow_repository }}"
TOOL_REF = {
    "apply": "${{ job.workflow_sha }}",
    "revoke": "${{ job.workflow_sha }}",
    "check": "${{ job.workflow_repository == github.repository && "
             "github.event.pull_request.base.sha || job.workflow_sha }}",
}

# Where jitflow runs beside credentials (the tokens, AWS), it installs only from the hash-checked
# lock (tests/test_lock.py checks the lock itself), then builds itself from tool/ with the
# locked setuptools: these lines exactly, in this order, before any AWS credentials.
LOCK = "requirements/runtime.lock"
TOOL = "tool/"


def locked_install(root: str) -> list[str]:
    project = f"./{root.rstrip('/')}" if root else "."
    return [
        f"python -m pip install --require-hashes --no-deps --only-binary :all: -r {root}{LOCK}",
        f"python -m pip install --no-deps --no-build-isolation --no-index {project}",
        "python -m pip check",
    ]


# A command line that runs a Python package tool, by any path (pip check included).
PACKAGE_TOOL = re.compile(
    r"(?<![\w-])(?:pip3?|pipx|uvx?|easy_install|poetry|pdm|hatch|conda|mamba)(?![\w-])"
    r"|setup\.py|ensurepip"
)


@dataclass(frozen=True)
class Workflow:
    name: str
    text: str

    @property
    def data(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.text)
        assert isinstance(loaded, dict), f"{self.name}: not a mapping"
        return loaded

    @property
    def triggers(self) -> dict[str, Any]:
        data: dict[Any, Any] = self.data
        on = data["on"] if "on" in data else data.get(True)  # YAML 1.1 reads `on` as true
        if isinstance(on, str):
            return {on: None}
        if isinstance(on, list):
            return dict.fromkeys(on)
        return dict(on or {})

    @property
    def duty(self) -> str | None:
        return DUTY_OF.get(self.name)

    @property
    def is_caller(self) -> bool:
        return self.name in CALLERS.values()

    @property
    def is_reusable(self) -> bool:
        return self.name in REUSABLE.values()

    def jobs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from (self.data.get("jobs") or {}).items()

    def steps(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for job_id, job in self.jobs():
            for step in job.get("steps") or []:
                yield job_id, step

    def step(self, step_id: str) -> dict[str, Any]:
        return next((s for _, s in self.steps() if s.get("id") == step_id), {})


def load(name: str) -> Workflow:
    return Workflow(name, (WORKFLOWS / name).read_text(encoding="utf-8"))


def real_workflows() -> list[Workflow]:
    return [load(path.name) for path in sorted(WORKFLOWS.glob("*.y*ml"))]


def is_checkout(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).split("@")[0] == "actions/checkout"


def is_aws_credentials(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).split("@")[0] == "aws-actions/configure-aws-credentials"


def checkouts(w: Workflow) -> dict[str | None, dict[str, Any]]:
    """Each checkout's `with:`, by its path."""
    found = [(step.get("with") or {}) for _, step in w.steps() if is_checkout(step)]
    return {given.get("path"): given for given in found}


def command_lines(run: str) -> list[str]:
    """A `run:` script's command lines, continuations joined and whitespace collapsed."""
    return [" ".join(line.split()) for line in run.replace("\\\n", " ").splitlines()]


def lock_python_version() -> str:
    """The Python version the lock was resolved for (its header: tools/lock_runtime.py)."""
    text = (ROOT / LOCK).read_text(encoding="utf-8")
    found = re.search(r"(?m)^#.* --python-version (\S+)", text)
    assert found, f"{LOCK}: no --python-version in its header"
    return found.group(1)


# ---- the rules -----------------------------------------------------------------------------

Rule = Callable[[Workflow], list[str]]


def rule_no_dangerous_triggers(w: Workflow) -> list[str]:
    """pull_request_target and workflow_run run with write tokens and secrets on PR input."""
    dangerous = {"pull_request_target", "workflow_run"}
    return [f"{w.name}: trigger {t}" for t in w.triggers if t in dangerous]


def rule_top_level_permissions_empty(w: Workflow) -> list[str]:
    if w.data.get("permissions", "missing") != {}:
        return [f"{w.name}: top-level permissions must be {{}}"]
    return []


def rule_job_permissions_within_allowlist(w: Workflow) -> list[str]:
    allowed = PERMISSIONS.get(w.name)
    if allowed is None:
        return [f"{w.name}: no permission allowlist for this workflow (add it to PERMISSIONS)"]
    problems = []
    for job_id, job in w.jobs():
        granted = job.get("permissions")
        if not isinstance(granted, dict):
            problems.append(f"{w.name}: job {job_id} must list its permissions explicitly")
            continue
        for scope, level in granted.items():
            if level not in LEVELS:
                problems.append(f"{w.name}: job {job_id}: {scope}: {level!r}")
            elif LEVELS[level] > LEVELS[allowed.get(scope, "none")]:
                problems.append(f"{w.name}: job {job_id}: {scope}: {level} is not allowed")
    return problems


USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")


def _called_workflow(w: Workflow, ref: str, where: str) -> list[str]:
    """A job-level `uses:`: this repository's own reusable workflow of the caller's duty, in
    the self-repository form; or, in an adopter's caller, jitflow's at a full commit SHA."""
    own = LOCAL_REUSABLE.format(file=REUSABLE.get(w.duty or "", "?"))
    pinned = PINNED_REUSABLE.fullmatch(ref)
    if ref == own or (pinned and pinned["file"] == REUSABLE.get(w.duty or "")):
        return []
    return [f"{where}: calls {ref}, not {own} (or jitflow's, pinned to a commit SHA)"]


def rule_uses_pinned_with_version_comment(w: Workflow) -> list[str]:
    problems = []
    job_uses = {str(job["uses"]) for _, job in w.jobs() if "uses" in job}
    for number, line in enumerate(w.text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref, where = match["ref"].strip("'\""), f"{w.name}:{number}"
        if ref in job_uses:
            problems += _called_workflow(w, ref, where)
            continue
        action, _, sha = ref.partition("@")
        if action not in PINS:
            problems.append(f"{where}: action {action} is not in the allowed, pinned list")
            continue
        pin, version = PINS[action]
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            problems.append(f"{where}: {action} must be pinned to a full commit SHA")
        elif sha != pin:
            problems.append(f"{where}: {action}@{sha} is not the reviewed pin {pin}")
        comment = re.fullmatch(r"\s+#\s*(v\S+)\s*", match["rest"])
        if comment is None or comment.group(1) != version:
            problems.append(f"{where}: {action} needs the comment '# {version}'")
    # every parsed `uses:` was seen by the line scan (no flow-style or odd spellings)
    parsed = sum(1 for _, step in w.steps() if "uses" in step) + len(job_uses)
    scanned = sum(1 for line in w.text.splitlines() if USES_LINE.match(line))
    if parsed != scanned:
        problems.append(f"{w.name}: {parsed} uses: entries but {scanned} uses: lines")
    return problems


def rule_no_expressions_in_run(w: Workflow) -> list[str]:
    """Expressions in `run:` are pasted into the script: pass values through `env:`."""
    return [
        f"{w.name}: job {job_id}: step {step.get('name', step.get('id'))}: ${{{{ in run"
        for job_id, step in w.steps()
        if "${{" in str(step.get("run", ""))
    ]


PR_PATH = re.compile(r"(?<![\w.-])(?:\./)?pr(?=/|\s|$|['\"])")


def rule_check_never_runs_pr_code(w: Workflow) -> list[str]:
    """The PR head is data: only ever the `--repo pr` argument of jitflow check."""
    if w.name != REUSABLE["check"]:
        return []
    problems = []
    for job_id, job in w.jobs():
        default_dir = str(((job.get("defaults") or {}).get("run") or {}).get("working-directory"))
        if PR_PATH.search(default_dir):
            problems.append(f"{w.name}: job {job_id} runs inside pr/")
        for step in job.get("steps") or []:
            label = f"{w.name}: step {step.get('name', step.get('id'))}"
            run = str(step.get("run", ""))
            if PR_PATH.search(run.replace("--repo pr ", "--repo <data> ")):
                problems.append(f"{label}: uses the pr/ checkout in run: {run!r}")
            if PR_PATH.search(str(step.get("working-directory", ""))):
                problems.append(f"{label}: runs inside pr/")
            uses = str(step.get("uses", ""))
            if uses.startswith(("./", "$/", "pr/")):
                problems.append(f"{label}: runs a local action ({uses})")
            paths = [
                token
                for line in command_lines(run)
                if "pip install" in line
                for token in shlex.split(line)
                if "/" in token or token.startswith(".")
            ]
            if any(p != "./tool" and not p.startswith(("./tool/", "tool/")) for p in paths):
                problems.append(f"{label}: installs something outside tool/: {paths}")
    return problems


def rule_checkouts_keep_no_credentials(w: Workflow) -> list[str]:
    """Every checkout (above all the PR head's) leaves no token in .git/config."""
    return [
        f"{w.name}: job {job_id}: checkout {step.get('name')!r} lacks persist-credentials: false"
        for job_id, step in w.steps()
        if is_checkout(step) and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def rule_check_checkouts_tool_and_pr_data(w: Workflow) -> list[str]:
    if w.name != REUSABLE["check"]:
        return []
    by_path = checkouts(w)
    if sum(1 for _, s in w.steps() if is_checkout(s)) != 2 or set(by_path) != {"tool", "pr"}:
        return [f"{w.name}: expected exactly two checkouts, into tool/ and pr/"]
    problems = []
    if by_path["pr"].get("ref") != "${{ github.event.pull_request.head.sha }}":
        problems.append(f"{w.name}: pr/ must be the pull request's head commit")
    if by_path["pr"].get("fetch-depth") != 0:
        problems.append(f"{w.name}: pr/ needs fetch-depth: 0 (the merge base, the audit branch)")
    if "repository" in by_path["pr"]:
        problems.append(f"{w.name}: pr/ is the pull request of this repository")
    return problems


def rule_jitflow_from_the_workflows_own_commit(w: Workflow) -> list[str]:
    """The code that runs is the reusable workflow's own commit (the SHA an adopter pins),
    checked out into tool/; never the access repository's working tree."""
    if not w.is_reusable:
        return []
    tool = checkouts(w).get("tool")
    if tool is None:
        return [f"{w.name}: no checkout of jitflow into tool/"]
    problems = []
    if tool.get("repository") != TOOL_REPOSITORY:
        problems.append(f"{w.name}: tool/ must be {TOOL_REPOSITORY}")
    if tool.get("ref") != TOOL_REF[w.duty or ""]:
        problems.append(f"{w.name}: tool/ must be at {TOOL_REF[w.duty or '']}")
    return problems


def rule_aws_jobs_build_on_the_branch_tip(w: Workflow) -> list[str]:
    """A run that waited in the concurrency group must see the audit commit of the run before
    it: check out the branch (its tip when the job starts, with every branch), not the event's
    commit."""
    if w.name not in {REUSABLE["apply"], REUSABLE["revoke"]}:
        return []
    access = checkouts(w).get("access")
    if access is None:
        return [f"{w.name}: no checkout of the access repository into access/"]
    problems = []
    if access.get("ref") != "${{ github.ref }}":
        problems.append(f"{w.name}: access/ must be checked out at github.ref")
    if access.get("fetch-depth") != 0:
        problems.append(f"{w.name}: access/ needs fetch-depth: 0 (the base, the audit branch)")
    return problems


def _concurrency(w: Workflow, job: dict[str, Any]) -> Any:
    return job.get("concurrency", w.data.get("concurrency"))


def rule_aws_workflows_share_concurrency(w: Workflow) -> list[str]:
    """In the callers: the same group in the reusable workflow would deadlock the run."""
    if w.name in {REUSABLE["apply"], REUSABLE["revoke"]}:
        nested = w.data.get("concurrency") or any(_concurrency(w, j) for _, j in w.jobs())
        return [f"{w.name}: concurrency belongs to the caller"] if nested else []
    if w.name not in {CALLERS["apply"], CALLERS["revoke"]}:
        return []
    problems = []
    for job_id, job in w.jobs():
        concurrency = _concurrency(w, job)
        if not isinstance(concurrency, dict) or concurrency.get("group") != AWS_GROUP:
            problems.append(f"{w.name}: job {job_id} is not in concurrency group {AWS_GROUP}")
        elif concurrency.get("cancel-in-progress") is not False:
            problems.append(f"{w.name}: job {job_id}: cancel-in-progress must be false")
    return problems


def rule_apply_runs_in_its_environment(w: Workflow) -> list[str]:
    """The apply job runs in the jitflow-apply environment (a second fence); no other job."""
    problems = []
    for job_id, job in w.jobs():
        environment = job.get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        if w.name == REUSABLE["apply"] and name != APPLY_ENVIRONMENT:
            problems.append(f"{w.name}: job {job_id} must run in environment {APPLY_ENVIRONMENT}")
        if w.name != REUSABLE["apply"] and environment is not None:
            problems.append(f"{w.name}: job {job_id} must not use an environment")
    return problems


def rule_no_secrets(w: Workflow) -> list[str]:
    """No workflow reads a secret: a pull request's own edited workflow, or any branch's, could
    print it. The team token is in AWS Secrets Manager; the audit push uses the job's token."""
    problems = [f"{w.name}: reads secret {name}"
                for name in sorted(set(re.findall(r"secrets\.([A-Za-z0-9_]+)", w.text)))]
    if re.search(r"(?m)^\s*secrets\s*:|secrets\[|toJSON\(\s*secrets\s*\)", w.text,
                 re.IGNORECASE):
        problems.append(f"{w.name}: passes or exposes secrets")
    for token in ("JITFLOW_TEAMS_TOKEN:", "JITFLOW_PUSH_TOKEN"):
        if token in w.text:
            problems.append(f"{w.name}: {token.rstrip(':')} in reach of the job")
    return problems


def rule_commands_are_the_contract(w: Workflow) -> list[str]:
    """jitflow demo and the CLI rely on these exact command lines and step ids."""
    expected = COMMANDS.get(w.name, {})
    runs = {step["id"]: str(step.get("run", "")).strip() for _, step in w.steps() if "id" in step}
    problems = [
        f"{w.name}: step {step_id} must run {command!r}, not {runs.get(step_id)!r}"
        for step_id, command in expected.items()
        if runs.get(step_id) != command
    ]
    if w.name == REUSABLE["revoke"]:
        revoke = [line.strip() for line in runs.get("revoke", "").splitlines()]
        problems += [f"{w.name}: step revoke must run {line!r}"
                     for line in REVOKE_LINES if line not in revoke]
    return problems


def rule_audit_log_in_its_own_checkout(w: Workflow) -> list[str]:
    """`contents: write` is for one push: the audit branch's checkout, which jitflow makes in
    JITFLOW_AUDIT_REPO, pushed by the script. A job that can write must record there and push
    nothing else (main's ruleset stops this token anyway)."""
    problems = []
    for job_id, job in w.jobs():
        if (job.get("permissions") or {}).get("contents") != "write":
            continue
        duty = w.duty
        if duty not in {"apply", "revoke"}:
            problems.append(f"{w.name}: job {job_id} may not write contents")
            continue
        if w.is_caller:
            continue  # the grant a caller passes on: the reusable job is checked
        for step_id in (duty, "push"):
            env = w.step(step_id).get("env") or {}
            if env.get("JITFLOW_AUDIT_REPO") != AUDIT_REPO:
                problems.append(f"{w.name}: step {step_id} must have JITFLOW_AUDIT_REPO: "
                                f"{AUDIT_REPO}")
        pushes = [line for _, step in w.steps() for line in command_lines(str(step.get("run", "")))
                  if re.search(r"\bgit\b.*\bpush\b|push-audit\.sh", line)]
        if pushes != [PUSH]:
            problems.append(f"{w.name}: job {job_id} pushes {pushes}, not [{PUSH!r}]")
    return problems


def rule_team_token_from_secrets_manager(w: Workflow) -> list[str]:
    """The jitflow steps that read teams name the Secrets Manager secret, from the caller's
    repository variable; the check reads the team snapshot instead."""
    if w.name not in {REUSABLE["apply"], REUSABLE["revoke"]}:
        return []
    env = w.step(w.duty or "").get("env") or {}
    if env.get("JITFLOW_TEAMS_TOKEN_SECRET") != "${{ inputs.teams-token-secret }}":
        return [f"{w.name}: step {w.duty} must get JITFLOW_TEAMS_TOKEN_SECRET from the input"]
    return []


def rule_audit_push_runs_after_a_failed_step(w: Workflow) -> list[str]:
    """A jitflow run that stopped part-way commits what it did and exits 3: the push step comes
    after it, in the same job, and runs whatever it exited with (never when cancelled)."""
    if w.name not in {REUSABLE["apply"], REUSABLE["revoke"]}:
        return []
    ids = [step.get("id") for _, step in w.steps()]
    duty = w.duty
    if "push" not in ids or duty not in ids or ids.index("push") < ids.index(duty):
        return [f"{w.name}: step push must come after step {duty}"]
    push = w.step("push")
    if str(push.get("if", "")).strip() != "${{ !cancelled() }}":
        return [f"{w.name}: step push must run with `if: ${{{{ !cancelled() }}}}`, not "
                f"{push.get('if')!r}: the records of a failed run must be pushed"]
    return []


def rule_aws_credentials_from_own_role(w: Workflow) -> list[str]:
    sessions = {REUSABLE["apply"]: "jitflow-apply-", REUSABLE["revoke"]: "jitflow-revoke-"}
    problems = []
    for job_id, step in w.steps():
        if not is_aws_credentials(step):
            continue
        if w.name not in sessions:
            problems.append(f"{w.name}: job {job_id} must not get AWS credentials")
            continue
        given = step.get("with") or {}
        if given.get("role-to-assume") != "${{ inputs.role-arn }}":
            problems.append(f"{w.name}: role-to-assume must be inputs.role-arn")
        if given.get("role-session-name") != f"{sessions[w.name]}${{{{ github.run_id }}}}":
            problems.append(f"{w.name}: role-session-name must be {sessions[w.name]}<run id>")
        if given.get("aws-region") != "${{ inputs.aws-region }}":
            problems.append(f"{w.name}: aws-region must be inputs.aws-region")
        if set(given) - {"role-to-assume", "role-session-name", "aws-region"}:
            problems.append(f"{w.name}: unexpected inputs {sorted(given)}")
    return problems


def rule_callers_are_thin(w: Workflow) -> list[str]:
    """A caller holds the triggers, the permissions and the concurrency, and one job that
    calls its reusable workflow with the repository's variables; nothing runs in it."""
    if not w.is_caller:
        return []
    duty = w.duty or ""
    jobs = dict(w.jobs())
    if list(jobs) != [duty]:
        return [f"{w.name}: one job, {duty!r}, not {list(jobs)}"]
    job = jobs[duty]
    problems = []
    if job.get("name") != f"jitflow {duty}":
        problems.append(f"{w.name}: the job's name must be 'jitflow {duty}'")
    if set(job) - {"name", "permissions", "uses", "with"}:
        problems.append(f"{w.name}: the job may only name, grant, call and pass: {sorted(job)}")
    if (job.get("with") or {}) != CALLER_INPUTS[duty]:
        problems.append(f"{w.name}: passes {job.get('with')}, not {CALLER_INPUTS[duty]}")
    reusable = load(REUSABLE[duty])
    called = {job_id: j.get("permissions") for job_id, j in reusable.jobs()}
    if called.get(duty) != job.get("permissions"):
        problems.append(f"{w.name}: grants {job.get('permissions')}, the reusable job needs "
                        f"{called.get(duty)}")
    return problems


def rule_reusable_workflows_are_only_called(w: Workflow) -> list[str]:
    """`on: workflow_call` only, one job named for its duty (the status check's second half),
    and the inputs the callers pass."""
    if not w.is_reusable:
        return []
    duty = w.duty or ""
    problems = []
    if set(w.triggers) != {"workflow_call"}:
        problems.append(f"{w.name}: must be triggered only by workflow_call")
    jobs = dict(w.jobs())
    if list(jobs) != [duty] or jobs[duty].get("name") != duty:
        problems.append(f"{w.name}: one job {duty!r} named {duty!r}")
    inputs = set((w.triggers.get("workflow_call") or {}).get("inputs") or {})
    if inputs != set(CALLER_INPUTS[duty]):
        problems.append(f"{w.name}: inputs {sorted(inputs)}, callers pass "
                        f"{sorted(CALLER_INPUTS[duty])}")
    return problems


def rule_triggers_as_designed(w: Workflow) -> list[str]:
    t = w.triggers
    if w.name == CALLERS["check"]:
        ok = set(t) == {"pull_request", "pull_request_review"}
    elif w.name == CALLERS["apply"]:
        push = t.get("push") or {}
        ok = (
            set(t) == {"push"}
            and push.get("branches") == ["main"]
            and push.get("paths") == ["requests/**"]
        )
    elif w.name == CALLERS["revoke"]:
        crons = [entry.get("cron", "") for entry in (t.get("schedule") or [])]
        minutes = [c.split()[0] for c in crons]
        ok = (
            set(t) == {"schedule", "workflow_dispatch"}
            and len(crons) == 1
            and all(m != "0" and not m.startswith("0,") and "*" not in m for m in minutes)
            and set((t["workflow_dispatch"] or {}).get("inputs") or {}) == {"request", "reason"}
        )
    else:
        ok = True
    return [] if ok else [f"{w.name}: unexpected triggers {sorted(t)}"]


def rule_installs_only_from_the_lock(w: Workflow) -> list[str]:
    """Jobs with credentials run only hash-checked packages: `pip install .` would resolve
    open ranges from the index, about 25 packages beside the AWS credentials and the tokens."""
    if not w.is_reusable:
        credentials = "secrets." in w.text or any(
            "write" in (job.get("permissions") or {}).values() and "steps" in job
            for _, job in w.jobs()
        )
        if credentials:
            return [f"{w.name}: has credentials, so must install from {TOOL}{LOCK}"]
        return []
    problems = []
    for job_id, job in w.jobs():
        installs: list[str] = []
        credentials_at = None
        for index, step in enumerate(job.get("steps") or []):
            if is_aws_credentials(step) and credentials_at is None:
                credentials_at = index
            lines = [line for line in command_lines(str(step.get("run", "")))
                     if PACKAGE_TOOL.search(line)]
            if lines and credentials_at is not None:
                problems.append(f"{w.name}: job {job_id}: installs after the AWS credentials")
            installs += lines
        if installs != locked_install(TOOL):
            problems.append(
                f"{w.name}: job {job_id} installs {installs}, not {locked_install(TOOL)}"
            )
    return problems


def rule_python_is_the_locks(w: Workflow) -> list[str]:
    """The lock is resolved for one Python version: the one these jobs set up."""
    if not w.is_reusable:
        return []
    wanted = lock_python_version()
    problems = []
    for job_id, step in w.steps():
        if str(step.get("uses", "")).split("@")[0] == "actions/setup-python":
            version = str((step.get("with") or {}).get("python-version"))
            if version != wanted:
                problems.append(f"{w.name}: job {job_id}: Python {version}, the lock's {wanted}")
    return problems


RULES: dict[str, Rule] = {
    "no_dangerous_triggers": rule_no_dangerous_triggers,
    "top_level_permissions_empty": rule_top_level_permissions_empty,
    "job_permissions_within_allowlist": rule_job_permissions_within_allowlist,
    "uses_pinned_with_version_comment": rule_uses_pinned_with_version_comment,
    "no_expressions_in_run": rule_no_expressions_in_run,
    "check_never_runs_pr_code": rule_check_never_runs_pr_code,
    "checkouts_keep_no_credentials": rule_checkouts_keep_no_credentials,
    "check_checkouts_tool_and_pr_data": rule_check_checkouts_tool_and_pr_data,
    "jitflow_from_the_workflows_own_commit": rule_jitflow_from_the_workflows_own_commit,
    "aws_workflows_share_concurrency": rule_aws_workflows_share_concurrency,
    "aws_jobs_build_on_the_branch_tip": rule_aws_jobs_build_on_the_branch_tip,
    "apply_runs_in_its_environment": rule_apply_runs_in_its_environment,
    "no_secrets": rule_no_secrets,
    "commands_are_the_contract": rule_commands_are_the_contract,
    "audit_log_in_its_own_checkout": rule_audit_log_in_its_own_checkout,
    "team_token_from_secrets_manager": rule_team_token_from_secrets_manager,
    "aws_credentials_from_own_role": rule_aws_credentials_from_own_role,
    "audit_push_runs_after_a_failed_step": rule_audit_push_runs_after_a_failed_step,
    "callers_are_thin": rule_callers_are_thin,
    "reusable_workflows_are_only_called": rule_reusable_workflows_are_only_called,
    "triggers_as_designed": rule_triggers_as_designed,
    "installs_only_from_the_lock": rule_installs_only_from_the_lock,
    "python_is_the_locks": rule_python_is_the_locks,
}


def violations(rule: Rule) -> list[str]:
    found: list[str] = []
    for workflow in real_workflows():
        found += rule(workflow)
    return found


# ---- one named test per rule, over the real workflows --------------------------------------


def test_the_expected_workflows_exist() -> None:
    assert {w.name for w in real_workflows()} == set(PERMISSIONS)


def test_no_dangerous_triggers() -> None:
    assert violations(rule_no_dangerous_triggers) == []


def test_top_level_permissions_empty() -> None:
    assert violations(rule_top_level_permissions_empty) == []


def test_job_permissions_within_allowlist() -> None:
    assert violations(rule_job_permissions_within_allowlist) == []


def test_uses_pinned_with_version_comment() -> None:
    assert violations(rule_uses_pinned_with_version_comment) == []


def test_no_expressions_in_run() -> None:
    assert violations(rule_no_expressions_in_run) == []


def test_check_never_runs_pr_code() -> None:
    assert violations(rule_check_never_runs_pr_code) == []


def test_checkouts_keep_no_credentials() -> None:
    assert violations(rule_checkouts_keep_no_credentials) == []


def test_check_checkouts_tool_and_pr_data() -> None:
    assert violations(rule_check_checkouts_tool_and_pr_data) == []


def test_jitflow_from_the_workflows_own_commit() -> None:
    assert violations(rule_jitflow_from_the_workflows_own_commit) == []


def test_aws_workflows_share_concurrency() -> None:
    assert violations(rule_aws_workflows_share_concurrency) == []


def test_aws_jobs_build_on_the_branch_tip() -> None:
    assert violations(rule_aws_jobs_build_on_the_branch_tip) == []


def test_apply_runs_in_its_environment() -> None:
    assert violations(rule_apply_runs_in_its_environment) == []


def test_no_secrets() -> None:
    assert violations(rule_no_secrets) == []


def test_commands_are_the_contract() -> None:
    assert violations(rule_commands_are_the_contract) == []


def test_audit_log_in_its_own_checkout() -> None:
    assert violations(rule_audit_log_in_its_own_checkout) == []


def test_team_token_from_secrets_manager() -> None:
    assert violations(rule_team_token_from_secrets_manager) == []


def test_aws_credentials_from_own_role() -> None:
    assert violations(rule_aws_credentials_from_own_role) == []


def test_audit_push_runs_after_a_failed_step() -> None:
    assert violations(rule_audit_push_runs_after_a_failed_step) == []


def test_callers_are_thin() -> None:
    assert violations(rule_callers_are_thin) == []


def test_reusable_workflows_are_only_called() -> None:
    assert violations(rule_reusable_workflows_are_only_called) == []


def test_triggers_as_designed() -> None:
    assert violations(rule_triggers_as_designed) == []


def test_installs_only_from_the_lock() -> None:
    assert violations(rule_installs_only_from_the_lock) == []


def test_python_is_the_locks() -> None:
    assert violations(rule_python_is_the_locks) == []


def test_every_rule_has_its_named_test() -> None:
    names = set(globals())
    assert {f"test_{rule}" for rule in RULES} <= names
    assert {rule for rule, *_ in MUTATIONS} == set(RULES)


def test_push_script_exists_and_is_bash() -> None:
    script = WORKFLOWS.parent / "scripts" / "push-audit.sh"
    assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")


def test_the_required_check_is_the_caller_job_then_the_reusable_job() -> None:
    """GitHub names a called job's check run `<caller job name> / <called job name>`: the
    ruleset (docs/setup.md) and jitflow doctor require exactly that, from GitHub Actions."""
    caller = dict(load(CALLERS["check"]).jobs())["check"]
    called = dict(load(REUSABLE["check"]).jobs())["check"]
    assert f"{caller['name']} / {called['name']}" == REQUIRED_CHECK == "jitflow check / check"


# ---- the rulesets docs/setup.md gives -------------------------------------------------------


def setup_rulesets() -> dict[str, dict[str, Any]]:
    """Every ruleset body in docs/setup.md (`gh api -X POST .../rulesets` heredocs), by name."""
    text = (ROOT / "docs" / "setup.md").read_text(encoding="utf-8")
    bodies = re.findall(r"rulesets --input - <<'EOF'\n(.*?)\nEOF", text, re.S)
    found = [json.loads(body) for body in bodies]
    return {ruleset["name"]: ruleset for ruleset in found}


def test_the_default_branch_ruleset_requires_the_check_from_github_actions_and_no_bypass(
) -> None:
    rulesets = [r for r in setup_rulesets().values()
                if r["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]]
    assert len(rulesets) == 1
    main = rulesets[0]
    assert main["bypass_actors"] == []  # nothing jitflow holds may change main unreviewed
    rules = {rule["type"]: rule.get("parameters") for rule in main["rules"]}
    assert {"deletion", "non_fast_forward", "pull_request", "required_status_checks"} <= set(rules)
    assert rules["required_status_checks"]["required_status_checks"] == [
        {"context": REQUIRED_CHECK, "integration_id": GITHUB_ACTIONS_APP_ID}]
    review = rules["pull_request"]
    assert review["require_code_owner_review"] and review["dismiss_stale_reviews_on_push"]
    assert review["require_last_push_approval"]


def test_the_audit_branch_ruleset_forbids_deletion_and_rewrites_for_everyone() -> None:
    rulesets = [r for r in setup_rulesets().values()
                if r["conditions"]["ref_name"]["include"] == ["refs/heads/jitflow-audit"]]
    assert len(rulesets) == 1
    audit = rulesets[0]
    assert audit["bypass_actors"] == [] and audit["enforcement"] == "active"
    assert sorted(rule["type"] for rule in audit["rules"]) == ["deletion", "non_fast_forward"]


# ---- the adopter's callers (jitflow/scaffold/, copied by `jitflow init`) --------------------

SAMPLE = {"jitflow_sha": "0123456789abcdef0123456789abcdef01234567", "org": "acme",
          "repo": "access", "default_branch": "main"}


def rendered_scaffold(directory: Path) -> list[Workflow]:
    """The scaffold's callers with their placeholders filled in, as `jitflow init` writes
    them (each named placeholder replaced; nothing else, as `${{ }}` holds braces too)."""
    found = []
    for path in sorted(SCAFFOLD.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        for key, value in SAMPLE.items():
            text = text.replace("{" + key + "}", value)
        assert not re.search(r"(?<!\$)\{[a-z_]+\}", text), f"{path.name}: a placeholder left"
        (directory / path.name).write_text(text, encoding="utf-8")
        found.append(Workflow(path.name, text))
    return found


def test_the_scaffold_callers_pass_every_rule(tmp_path: Path) -> None:
    callers = rendered_scaffold(tmp_path)
    assert [w.name for w in callers] == sorted(CALLERS.values())
    for workflow in callers:
        assert [p for rule in RULES.values() for p in rule(workflow)] == [], workflow.name


def test_the_scaffold_callers_are_this_repositorys_but_pinned(tmp_path: Path) -> None:
    """Triggers, permissions, concurrency, inputs: all as here; only `uses:` differs."""
    for workflow in rendered_scaffold(tmp_path):
        own = load(workflow.name)
        assert workflow.triggers == own.triggers
        for key in ("permissions", "concurrency"):
            assert workflow.data.get(key) == own.data.get(key)
        (job_id, job), = workflow.jobs()
        (own_id, own_job), = own.jobs()
        assert (job_id, {k: v for k, v in job.items() if k != "uses"}) == (
            own_id, {k: v for k, v in own_job.items() if k != "uses"})
        assert job["uses"] == (f"jitflow/jitflow/.github/workflows/{REUSABLE[job_id]}"
                               f"@{SAMPLE['jitflow_sha']}")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed beside this Python")
    return found


def test_the_scaffold_callers_pass_zizmor_and_the_workflow_schema(tmp_path: Path) -> None:
    rendered_scaffold(tmp_path)
    files = sorted(str(p) for p in tmp_path.glob("*.yml"))
    schema = subprocess.run([_tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", *files],
                            capture_output=True, text=True, timeout=120, check=False)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    zizmor = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", "--persona",
                             "auditor", *files],
                            capture_output=True, text=True, timeout=120, check=False)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


# ---- each rule can fail: small mutations of the real workflow texts ------------------------

CHECK_CMD = 'run: jitflow check --repo pr --base "$BASE_SHA" --head "$HEAD_SHA"'
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
PR_CHECKOUT = "path: pr\n          fetch-depth: 0\n          persist-credentials: false\n"
LOCKED = (
    "          python -m pip install --require-hashes --no-deps --only-binary :all: "
    "-r tool/requirements/runtime.lock\n"
    "          python -m pip install --no-deps --no-build-isolation --no-index ./tool\n"
)
AWS_STEP = ("      - uses: aws-actions/configure-aws-credentials@"
            "e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3\n"
            "        with:\n          role-to-assume: ${{ inputs.role-arn }}\n"
            "          aws-region: eu-west-1\n")
RA, RC, RR = "reusable-apply.yml", "reusable-check.yml", "reusable-revoke.yml"
CA, CC, CR = "jitflow-apply.yml", "jitflow-check.yml", "jitflow-revoke.yml"

MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # (rule, id, workflow, old text, new text)
    ("no_dangerous_triggers", "pull_request_target", CC,
     "  pull_request:\n", "  pull_request_target:\n"),
    ("no_dangerous_triggers", "workflow_run", "ci.yml",
     "  pull_request:\n", "  pull_request:\n  workflow_run:\n    workflows: [ci]\n"),
    ("top_level_permissions_empty", "missing", CA, "permissions: {}\n", ""),
    ("top_level_permissions_empty", "write-all", "ci.yml",
     "permissions: {}\n", "permissions: write-all\n"),
    ("top_level_permissions_empty", "reusable-read", RR,
     "permissions: {}\n", "permissions:\n  contents: read\n"),
    ("job_permissions_within_allowlist", "check-id-token", RC,
     "      contents: read #", "      id-token: write\n      contents: read #"),
    ("job_permissions_within_allowlist", "caller-check-contents-write", CC,
     "      contents: read #", "      contents: write #"),
    ("job_permissions_within_allowlist", "revoke-pull-requests", RR,
     "      contents: write #", "      pull-requests: write\n      contents: write #"),
    ("job_permissions_within_allowlist", "apply-actions", CA,
     "      contents: write #", "      actions: write\n      contents: write #"),
    ("job_permissions_within_allowlist", "ci-write", "ci.yml",
     "      contents: read #", "      contents: write #"),
    ("job_permissions_within_allowlist", "implicit", "ci.yml",
     "    permissions:\n      contents: read # check out the repository\n", ""),
    ("uses_pinned_with_version_comment", "tag", RC, CHECKOUT, "actions/checkout@v7 # v7.0.1"),
    ("uses_pinned_with_version_comment", "short-sha", "ci.yml",
     CHECKOUT, "actions/checkout@3d3c42e # v7.0.1"),
    ("uses_pinned_with_version_comment", "no-comment", RA, " # v6.2.3", ""),
    ("uses_pinned_with_version_comment", "wrong-version", RR, " # v7.0.0", " # v6.0.0"),
    ("uses_pinned_with_version_comment", "other-sha", RR,
     "@5fda3b95a4ea91299a34e894583c3862153e4b97", "@" + "a" * 40),
    ("uses_pinned_with_version_comment", "unknown-action", "ci.yml",
     "uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
     "uses: someone/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"),
    ("uses_pinned_with_version_comment", "reusable-at-a-branch", CA,
     "uses: $/.github/workflows/reusable-apply.yml",
     "uses: jitflow/jitflow/.github/workflows/reusable-apply.yml@main"),
    ("uses_pinned_with_version_comment", "another-reusable", CR,
     "$/.github/workflows/reusable-revoke.yml", "$/.github/workflows/reusable-apply.yml"),
    ("uses_pinned_with_version_comment", "someone-elses", CC,
     "$/.github/workflows/reusable-check.yml",
     "evil/jitflow/.github/workflows/reusable-check.yml@" + "b" * 40),
    ("no_expressions_in_run", "check", RC,
     '--head "$HEAD_SHA"', "--head ${{ github.event.pull_request.head.sha }}"),
    ("no_expressions_in_run", "revoke-input", RR,
     '--reason "$REASON"', '--reason "${{ inputs.reason }}"'),
    ("check_never_runs_pr_code", "install-pr", RC, "--no-index ./tool\n", "--no-index ./pr\n"),
    ("check_never_runs_pr_code", "install-both", RC,
     "--no-index ./tool\n", "--no-index ./tool ./pr\n"),
    ("check_never_runs_pr_code", "lock-of-the-workspace", RC,
     "-r tool/requirements/runtime.lock", "-r pr/requirements/runtime.lock"),
    ("check_never_runs_pr_code", "run-script", RC,
     CHECK_CMD, f"run: bash pr/setup.sh && {CHECK_CMD[5:]}"),
    ("check_never_runs_pr_code", "working-directory", RC,
     CHECK_CMD, f"working-directory: pr\n        {CHECK_CMD}"),
    ("check_never_runs_pr_code", "local-action", RC,
     "      - name: Set up Python\n", "      - uses: ./pr/.github/actions/x\n"
     "      - name: Set up Python\n"),
    ("checkouts_keep_no_credentials", "pr-head", RC,
     PR_CHECKOUT, "path: pr\n          fetch-depth: 0\n"),
    ("checkouts_keep_no_credentials", "pr-head-true", RC,
     PR_CHECKOUT, "path: pr\n          fetch-depth: 0\n          persist-credentials: true\n"),
    ("checkouts_keep_no_credentials", "apply", RA, "          persist-credentials: false\n", ""),
    ("check_checkouts_tool_and_pr_data", "pr-from-base", RC,
     "ref: ${{ github.event.pull_request.head.sha }}\n          path: pr",
     "ref: ${{ github.event.pull_request.base.sha }}\n          path: pr"),
    ("check_checkouts_tool_and_pr_data", "no-history", RC, "          fetch-depth: 0\n", ""),
    ("check_checkouts_tool_and_pr_data", "third-checkout", RC,
     "      - name: Set up Python\n",
     f"      - uses: {CHECKOUT}\n        with:\n          path: base\n"
     "          persist-credentials: false\n      - name: Set up Python\n"),
    ("jitflow_from_the_workflows_own_commit", "apply-at-main", RA,
     "ref: ${{ job.workflow_sha }}", "ref: main"),
    ("jitflow_from_the_workflows_own_commit", "revoke-from-the-caller", RR,
     "repository: ${{ job.workflow_repository }}", "repository: ${{ github.repository }}"),
    ("jitflow_from_the_workflows_own_commit", "check-always-head", RC,
     "github.event.pull_request.base.sha || job.workflow_sha",
     "github.event.pull_request.head.sha || job.workflow_sha"),
    ("aws_workflows_share_concurrency", "cancel", CA,
     "cancel-in-progress: false", "cancel-in-progress: true"),
    ("aws_workflows_share_concurrency", "other-group", CR,
     "group: jitflow-aws", "group: jitflow-revoke"),
    ("aws_workflows_share_concurrency", "none", CA,
     "concurrency:\n  group: jitflow-aws\n  cancel-in-progress: false\n", ""),
    ("aws_workflows_share_concurrency", "nested-deadlock", RA,
     "permissions: {}\n", "permissions: {}\n\nconcurrency:\n  group: jitflow-aws\n"),
    ("aws_jobs_build_on_the_branch_tip", "event-commit", RA,
     "          ref: ${{ github.ref }}\n", ""),
    ("aws_jobs_build_on_the_branch_tip", "sha", RR,
     "ref: ${{ github.ref }}", "ref: ${{ github.sha }}"),
    ("aws_jobs_build_on_the_branch_tip", "shallow", RR, "          fetch-depth: 0\n", ""),
    ("apply_runs_in_its_environment", "missing", RA, "    environment: jitflow-apply\n", ""),
    ("apply_runs_in_its_environment", "other", RA,
     "    environment: jitflow-apply\n", "    environment: production\n"),
    ("apply_runs_in_its_environment", "revoke-environment", RR,
     "    timeout-minutes: 20\n", "    timeout-minutes: 20\n    environment: jitflow-apply\n"),
    ("no_secrets", "teams-token-secret-again", RC,
     "          GITHUB_TOKEN: ${{ github.token }}\n",
     "          GITHUB_TOKEN: ${{ github.token }}\n"
     "          JITFLOW_TEAMS_TOKEN: ${{ secrets.JITFLOW_TEAMS_TOKEN }}\n"),
    ("no_secrets", "inherit", CA, "    with:\n", "    secrets: inherit\n    with:\n"),
    ("no_secrets", "all", RA, "${{ github.token }}", "${{ toJSON(secrets) }}"),
    ("no_secrets", "push-token-variable", RR,
     "          JITFLOW_AUDIT_REPO: ${{ runner.temp }}/jitflow-audit\n        run: bash",
     "          JITFLOW_AUDIT_REPO: ${{ runner.temp }}/jitflow-audit\n"
     "          JITFLOW_PUSH_TOKEN_SECRET: ${{ vars.JITFLOW_PUSH_TOKEN_SECRET }}\n"
     "        run: bash"),
    ("commands_are_the_contract", "apply", RA,
     "run: jitflow apply --commit --repo access", "run: jitflow apply --repo access"),
    ("commands_are_the_contract", "check", RC, '--base "$BASE_SHA"', "--base HEAD~1"),
    ("commands_are_the_contract", "push", RR, f"run: {PUSH}", "run: git push"),
    ("commands_are_the_contract", "early-revoke", RR, ' --reason "$REASON"', ""),
    ("audit_log_in_its_own_checkout", "records-on-main", RA,
     "          JITFLOW_AUDIT_REPO: ${{ runner.temp }}/jitflow-audit\n          GIT_AUTHOR_NAME",
     "          GIT_AUTHOR_NAME"),
    ("audit_log_in_its_own_checkout", "pushes-main", RR,
     f"run: {PUSH}", f"run: |\n          {PUSH}\n          git -C access push origin HEAD:main"),
    ("audit_log_in_its_own_checkout", "check-writes", CC,
     "      contents: read #", "      contents: write #"),
    ("audit_log_in_its_own_checkout", "push-elsewhere", RA,
     "          JITFLOW_AUDIT_REPO: ${{ runner.temp }}/jitflow-audit\n        run: bash",
     "          JITFLOW_AUDIT_REPO: access\n        run: bash"),
    ("team_token_from_secrets_manager", "apply", RA,
     "JITFLOW_TEAMS_TOKEN_SECRET: ${{ inputs.teams-token-secret }}",
     "JITFLOW_TEAMS_TOKEN_SECRET: jitflow/teams"),
    ("team_token_from_secrets_manager", "revoke", RR,
     "          JITFLOW_TEAMS_TOKEN_SECRET: ${{ inputs.teams-token-secret }}\n", ""),
    ("aws_credentials_from_own_role", "region", RR,
     "aws-region: ${{ inputs.aws-region }}", "aws-region: us-east-1"),
    ("aws_credentials_from_own_role", "session-name", RA,
     "role-session-name: jitflow-apply-${{ github.run_id }}", "role-session-name: x"),
    ("aws_credentials_from_own_role", "in-check", RC,
     "      - name: Set up Python\n", AWS_STEP + "      - name: Set up Python\n"),
    ("audit_push_runs_after_a_failed_step", "apply-on-success", RA,
     "        if: ${{ !cancelled() }}\n", ""),
    ("audit_push_runs_after_a_failed_step", "revoke-on-success", RR,
     "if: ${{ !cancelled() }}", "if: ${{ success() }}"),
    ("callers_are_thin", "renamed", CC, "    name: jitflow check\n", "    name: check\n"),
    ("callers_are_thin", "a-step", CR, "    uses: $/", "    timeout-minutes: 5\n    uses: $/"),
    ("callers_are_thin", "other-variable", CA,
     "vars.JITFLOW_APPLY_ROLE_ARN", "vars.JITFLOW_REVOKE_ROLE_ARN"),
    ("callers_are_thin", "less-than-needed", CR, "      pull-requests: read #", "      #"),
    ("callers_are_thin", "second-job", CC, "    uses: $/.github/workflows/reusable-check.yml\n",
     "    uses: $/.github/workflows/reusable-check.yml\n  other:\n    name: other\n"
     "    permissions: {}\n    uses: $/.github/workflows/reusable-check.yml\n"),
    ("reusable_workflows_are_only_called", "also-on-push", RA,
     "on:\n  workflow_call:\n", "on:\n  push:\n  workflow_call:\n"),
    ("reusable_workflows_are_only_called", "job-name", RC, "    name: check\n",
     "    name: jitflow check\n"),
    ("reusable_workflows_are_only_called", "unknown-input", RR,
     "      reason:\n", "      extra:\n        type: string\n      reason:\n"),
    ("triggers_as_designed", "top-of-hour", CR,
     '"7,22,37,52 * * * *"', '"0,15,30,45 * * * *"'),
    ("triggers_as_designed", "apply-any-branch", CA, "    branches: [main]\n", ""),
    ("triggers_as_designed", "check-on-push", CC,
     "  pull_request_review:\n", "  push:\n  pull_request_review:\n"),
    ("installs_only_from_the_lock", "apply-pip-install-dot", RA,
     LOCKED, "          python -m pip install ./tool\n"),
    ("installs_only_from_the_lock", "revoke-from-access", RR,
     LOCKED, LOCKED.replace("tool", "access")),
    ("installs_only_from_the_lock", "no-require-hashes", RR, " --require-hashes", ""),
    ("installs_only_from_the_lock", "with-deps", RA,
     "--require-hashes --no-deps", "--require-hashes"),
    ("installs_only_from_the_lock", "sdists", RC, " --only-binary :all:", ""),
    ("installs_only_from_the_lock", "self-from-index", RC, " --no-index ./tool", " ./tool"),
    ("installs_only_from_the_lock", "build-isolation", RA, " --no-build-isolation", ""),
    ("installs_only_from_the_lock", "no-pip-check", RR, "          python -m pip check\n", ""),
    ("installs_only_from_the_lock", "one-more-package", RA,
     "          python -m pip check\n",
     "          python -m pip check\n          /usr/bin/pip3 install awscli\n"),
    ("installs_only_from_the_lock", "uv-instead", RR,
     "python -m pip install --require-hashes --no-deps --only-binary :all: -r",
     "uv pip install -r"),
    ("installs_only_from_the_lock", "after-credentials", RA,
     "      - name: Set up Python\n", AWS_STEP + "      - name: Set up Python\n"),
    ("installs_only_from_the_lock", "ci-gets-credentials", "ci.yml",
     "      contents: read #", "      id-token: write\n      contents: read #"),
    ("python_is_the_locks", "apply", RA, 'python-version: "3.11"', 'python-version: "3.12"'),
    ("python_is_the_locks", "check", RC, 'python-version: "3.11"', 'python-version: "3.x"'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "workflow", "old", "new"),
    [pytest.param(rule, wf, old, new, id=f"{rule}-{mid}") for rule, mid, wf, old, new in MUTATIONS],
)
def test_each_rule_catches_its_mutation(rule: str, workflow: str, old: str, new: str) -> None:
    original = load(workflow)
    assert old in original.text, f"mutation does not apply: {old!r} not in {workflow}"
    assert RULES[rule](original) == [], "the rule must pass on the real workflow"
    mutated = Workflow(workflow, original.text.replace(old, new, 1))
    assert mutated.data  # still a valid workflow document
    assert RULES[rule](mutated) != []
