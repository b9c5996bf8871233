"""The GitHub Actions workflows: nothing a pull request controls may reach credentials.

Complements zizmor (run by ./dev.sh test) with rules specific to jitflow. Each rule is a
function from one workflow (its name, raw text and parsed YAML) to a list of violations; each
has a named test over the real workflow files, and each is shown able to fail by running it on
a small mutation of a real workflow's text (test_each_rule_catches_its_mutation).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"

# The actions allowed, pinned (from github-actions-pins.md, read from the actions' repositories).
PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": (
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
        "v6.2.3",
    ),
}

# What each workflow's jobs may be granted, at most.
PERMISSIONS: dict[str, dict[str, str]] = {
    "jitflow-check.yml": {"contents": "read", "pull-requests": "write"},
    "jitflow-apply.yml": {"id-token": "write", "contents": "write", "pull-requests": "write"},
    "jitflow-revoke.yml": {"id-token": "write", "contents": "write", "pull-requests": "read"},
    "ci.yml": {"contents": "read"},
}
LEVELS = {"none": 0, "read": 1, "write": 2}

# The command lines other parts of jitflow rely on (the demo runs them from these files).
COMMANDS: dict[str, dict[str, str]] = {
    "jitflow-check.yml": {"check": 'jitflow check --repo pr --base "$BASE_SHA" --head "$HEAD_SHA"'},
    "jitflow-apply.yml": {
        "apply": "jitflow apply --commit",
        "push": "bash .github/scripts/push-audit.sh",
    },
    "jitflow-revoke.yml": {"push": "bash .github/scripts/push-audit.sh"},
    "ci.yml": {},
}
AWS_GROUP = "jitflow-aws"
APPLY_ENVIRONMENT = "jitflow-apply"
SECRETS_ALLOWED = {"JITFLOW_TEAMS_TOKEN"}

# Where jitflow runs beside credentials (the tokens, AWS), it installs only from the hash-checked
# lock (tests/test_lock.py checks the lock itself), then builds itself from its checkout with
# the locked setuptools: these lines exactly, in this order, before any AWS credentials.
LOCK = "requirements/runtime.lock"
INSTALL_ROOTS = {"jitflow-check.yml": "base/", "jitflow-apply.yml": "", "jitflow-revoke.yml": ""}


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

    def jobs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from (self.data.get("jobs") or {}).items()

    def steps(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for job_id, job in self.jobs():
            for step in job.get("steps") or []:
                yield job_id, step


def load(name: str) -> Workflow:
    return Workflow(name, (WORKFLOWS / name).read_text(encoding="utf-8"))


def real_workflows() -> list[Workflow]:
    return [load(path.name) for path in sorted(WORKFLOWS.glob("*.y*ml"))]


def is_checkout(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).split("@")[0] == "actions/checkout"


def is_aws_credentials(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).split("@")[0] == "aws-actions/configure-aws-credentials"


def command_lines(run: str) -> list[str]:
    """A `run:` script's command lines, continuations joined and whitespace collapsed."""
    return [" ".join(line.split()) for line in run.replace("\\\n", " ").splitlines()]


def lock_python_version() -> str:
    """The Python version the lock was resolved for (its header: tools/lock_runtime.py)."""
    text = (WORKFLOWS.parent.parent / LOCK).read_text(encoding="utf-8")
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


def rule_uses_pinned_with_version_comment(w: Workflow) -> list[str]:
    problems = []
    for number, line in enumerate(w.text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        action, _, sha = match["ref"].strip("'\"").partition("@")
        where = f"{w.name}:{number}"
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
    parsed = sum(1 for _, step in w.steps() if "uses" in step)
    parsed += sum(1 for _, job in w.jobs() if "uses" in job)
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
    if w.name != "jitflow-check.yml":
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
            if uses.startswith("./") or uses.startswith("pr/"):
                problems.append(f"{label}: runs a local action ({uses})")
            paths = [
                token
                for line in command_lines(run)
                if "pip install" in line
                for token in shlex.split(line)
                if "/" in token or token.startswith(".")
            ]
            if any(p != "./base" and not p.startswith(("./base/", "base/")) for p in paths):
                problems.append(f"{label}: installs something outside base/: {paths}")
    return problems


def rule_checkouts_keep_no_credentials(w: Workflow) -> list[str]:
    """Every checkout (above all the PR head's) leaves no token in .git/config."""
    return [
        f"{w.name}: job {job_id}: checkout {step.get('name')!r} lacks persist-credentials: false"
        for job_id, step in w.steps()
        if is_checkout(step) and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def rule_check_checkouts_base_code_and_pr_data(w: Workflow) -> list[str]:
    if w.name != "jitflow-check.yml":
        return []
    checkouts = [(step.get("with") or {}) for _, step in w.steps() if is_checkout(step)]
    by_path = {c.get("path"): c for c in checkouts}
    problems = []
    if len(checkouts) != 2 or set(by_path) != {"base", "pr"}:
        return [f"{w.name}: expected exactly two checkouts, into base/ and pr/"]
    if by_path["base"].get("ref") != "${{ github.event.pull_request.base.sha }}":
        problems.append(f"{w.name}: base/ must be the pull request's base commit")
    if by_path["pr"].get("ref") != "${{ github.event.pull_request.head.sha }}":
        problems.append(f"{w.name}: pr/ must be the pull request's head commit")
    if by_path["pr"].get("fetch-depth") != 0:
        problems.append(f"{w.name}: pr/ needs fetch-depth: 0 (the merge base)")
    return problems


def rule_aws_jobs_build_on_the_branch_tip(w: Workflow) -> list[str]:
    """A run that waited in the concurrency group must see the audit commit of the run before
    it: check out the branch (its tip when the job starts), not the event's commit."""
    if w.name not in {"jitflow-apply.yml", "jitflow-revoke.yml"}:
        return []
    problems = []
    for job_id, step in w.steps():
        if is_checkout(step):
            given = step.get("with") or {}
            if given.get("ref") != "${{ github.ref }}":
                problems.append(f"{w.name}: job {job_id}: checkout must use ref: github.ref")
            if given.get("fetch-depth") != 0:
                problems.append(f"{w.name}: job {job_id}: checkout needs fetch-depth: 0")
    return problems


def _concurrency(w: Workflow, job: dict[str, Any]) -> Any:
    return job.get("concurrency", w.data.get("concurrency"))


def rule_aws_workflows_share_concurrency(w: Workflow) -> list[str]:
    if w.name not in {"jitflow-apply.yml", "jitflow-revoke.yml"}:
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
    """The apply role trusts only the jitflow-apply environment; revoke's trusts the branch."""
    problems = []
    for job_id, job in w.jobs():
        environment = job.get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        if w.name == "jitflow-apply.yml" and name != APPLY_ENVIRONMENT:
            problems.append(f"{w.name}: job {job_id} must run in environment {APPLY_ENVIRONMENT}")
        if w.name != "jitflow-apply.yml" and environment is not None:
            problems.append(f"{w.name}: job {job_id} must not use an environment")
    return problems


def rule_only_known_secrets(w: Workflow) -> list[str]:
    used = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", w.text))
    problems = [f"{w.name}: secret {name} is not expected" for name in used - SECRETS_ALLOWED]
    if re.search(r"toJSON\(\s*secrets\s*\)|secrets\[", w.text, re.IGNORECASE):
        problems.append(f"{w.name}: every secret exposed at once")
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
    if w.name == "jitflow-revoke.yml":
        revoke = runs.get("revoke", "")
        for command in (
            "jitflow revoke --commit\n",
            'jitflow revoke --commit --request "$REQUEST" --reason "$REASON"\n',
        ):
            if command.strip() not in [line.strip() for line in revoke.splitlines()]:
                problems.append(f"{w.name}: step revoke must run {command.strip()!r}")
    return problems


# The step whose records the push step carries, per workflow.
PUSHED_AFTER = {"jitflow-apply.yml": "apply", "jitflow-revoke.yml": "revoke"}
AFTER_A_FAILURE = "${{ !cancelled() }}"


def rule_audit_push_runs_after_a_failed_step(w: Workflow) -> list[str]:
    """A jitflow run that stopped part-way commits what it did and exits 3: the push step comes
    after it, in the same job, and runs whatever it exited with (never when cancelled)."""
    if w.name not in PUSHED_AFTER:
        return []
    ids = [step.get("id") for _, step in w.steps()]
    if "push" not in ids or PUSHED_AFTER[w.name] not in ids or \
            ids.index("push") < ids.index(PUSHED_AFTER[w.name]):
        return [f"{w.name}: step push must come after step {PUSHED_AFTER[w.name]}"]
    push = next(step for _, step in w.steps() if step.get("id") == "push")
    if str(push.get("if", "")).strip() != AFTER_A_FAILURE:
        return [f"{w.name}: step push must run with `if: {AFTER_A_FAILURE}`, not "
                f"{push.get('if')!r}: the records of a failed run must be pushed"]
    return []


def rule_aws_credentials_from_own_role(w: Workflow) -> list[str]:
    roles = {
        "jitflow-apply.yml": ("JITFLOW_APPLY_ROLE_ARN", "jitflow-apply-"),
        "jitflow-revoke.yml": ("JITFLOW_REVOKE_ROLE_ARN", "jitflow-revoke-"),
    }
    problems = []
    for job_id, step in w.steps():
        if not str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
            continue
        if w.name not in roles:
            problems.append(f"{w.name}: job {job_id} must not get AWS credentials")
            continue
        variable, session = roles[w.name]
        given = step.get("with") or {}
        if given.get("role-to-assume") != f"${{{{ vars.{variable} }}}}":
            problems.append(f"{w.name}: role-to-assume must be vars.{variable}")
        if given.get("role-session-name") != f"{session}${{{{ github.run_id }}}}":
            problems.append(f"{w.name}: role-session-name must be {session}<run id>")
        if given.get("aws-region") != "${{ vars.JITFLOW_AWS_REGION }}":
            problems.append(f"{w.name}: aws-region must be vars.JITFLOW_AWS_REGION")
        if set(given) - {"role-to-assume", "role-session-name", "aws-region"}:
            problems.append(f"{w.name}: unexpected inputs {sorted(given)}")
    return problems


def rule_triggers_as_designed(w: Workflow) -> list[str]:
    t = w.triggers
    if w.name == "jitflow-check.yml":
        ok = set(t) == {"pull_request", "pull_request_review"}
    elif w.name == "jitflow-apply.yml":
        push = t.get("push") or {}
        ok = (
            set(t) == {"push"}
            and push.get("branches") == ["main"]
            and push.get("paths") == ["requests/**"]
        )
    elif w.name == "jitflow-revoke.yml":
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
    root = INSTALL_ROOTS.get(w.name)
    if root is None:
        credentials = "secrets." in w.text or any(
            "write" in (job.get("permissions") or {}).values() for _, job in w.jobs()
        )
        if credentials:
            return [f"{w.name}: has credentials, so must install from {LOCK} (INSTALL_ROOTS)"]
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
        if installs != locked_install(root):
            problems.append(
                f"{w.name}: job {job_id} installs {installs}, not {locked_install(root)}"
            )
    return problems


def rule_python_is_the_locks(w: Workflow) -> list[str]:
    """The lock is resolved for one Python version: the one these jobs set up."""
    if w.name not in INSTALL_ROOTS:
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
    "check_checkouts_base_code_and_pr_data": rule_check_checkouts_base_code_and_pr_data,
    "aws_workflows_share_concurrency": rule_aws_workflows_share_concurrency,
    "aws_jobs_build_on_the_branch_tip": rule_aws_jobs_build_on_the_branch_tip,
    "apply_runs_in_its_environment": rule_apply_runs_in_its_environment,
    "only_known_secrets": rule_only_known_secrets,
    "commands_are_the_contract": rule_commands_are_the_contract,
    "aws_credentials_from_own_role": rule_aws_credentials_from_own_role,
    "audit_push_runs_after_a_failed_step": rule_audit_push_runs_after_a_failed_step,
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


def test_check_checkouts_base_code_and_pr_data() -> None:
    assert violations(rule_check_checkouts_base_code_and_pr_data) == []


def test_aws_workflows_share_concurrency() -> None:
    assert violations(rule_aws_workflows_share_concurrency) == []


def test_aws_jobs_build_on_the_branch_tip() -> None:
    assert violations(rule_aws_jobs_build_on_the_branch_tip) == []


def test_apply_runs_in_its_environment() -> None:
    assert violations(rule_apply_runs_in_its_environment) == []


def test_only_known_secrets() -> None:
    assert violations(rule_only_known_secrets) == []


def test_commands_are_the_contract() -> None:
    assert violations(rule_commands_are_the_contract) == []


def test_aws_credentials_from_own_role() -> None:
    assert violations(rule_aws_credentials_from_own_role) == []


def test_audit_push_runs_after_a_failed_step() -> None:
    assert violations(rule_audit_push_runs_after_a_failed_step) == []


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


# ---- each rule can fail: small mutations of the real workflow texts ------------------------

CHECK_CMD = 'run: jitflow check --repo pr --base "$BASE_SHA" --head "$HEAD_SHA"'
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
PR_CHECKOUT = "path: pr\n          fetch-depth: 0\n          persist-credentials: false\n"
LOCKED_APPLY = (
    "          python -m pip install --require-hashes --no-deps --only-binary :all: "
    "-r requirements/runtime.lock\n"
    "          python -m pip install --no-deps --no-build-isolation --no-index .\n"
)
LOCKED_CHECK = LOCKED_APPLY.replace("-r requirements/", "-r base/requirements/").replace(
    "--no-index .\n", "--no-index ./base\n"
)

MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # (rule, id, workflow, old text, new text)
    ("no_dangerous_triggers", "pull_request_target", "jitflow-check.yml",
     "  pull_request:\n", "  pull_request_target:\n"),
    ("no_dangerous_triggers", "workflow_run", "ci.yml",
     "  pull_request:\n", "  pull_request:\n  workflow_run:\n    workflows: [ci]\n"),
    ("top_level_permissions_empty", "missing", "jitflow-apply.yml", "permissions: {}\n", ""),
    ("top_level_permissions_empty", "write-all", "ci.yml",
     "permissions: {}\n", "permissions: write-all\n"),
    ("top_level_permissions_empty", "read", "jitflow-revoke.yml",
     "permissions: {}\n", "permissions:\n  contents: read\n"),
    ("job_permissions_within_allowlist", "check-id-token", "jitflow-check.yml",
     "      contents: read #", "      id-token: write\n      contents: read #"),
    ("job_permissions_within_allowlist", "check-contents-write", "jitflow-check.yml",
     "      contents: read #", "      contents: write #"),
    ("job_permissions_within_allowlist", "revoke-pull-requests", "jitflow-revoke.yml",
     "      contents: write #", "      pull-requests: write\n      contents: write #"),
    ("job_permissions_within_allowlist", "apply-actions", "jitflow-apply.yml",
     "      contents: write #", "      actions: write\n      contents: write #"),
    ("job_permissions_within_allowlist", "ci-write", "ci.yml",
     "      contents: read #", "      contents: write #"),
    ("job_permissions_within_allowlist", "implicit", "ci.yml",
     "    permissions:\n      contents: read # check out the repository\n", ""),
    ("uses_pinned_with_version_comment", "tag", "jitflow-check.yml",
     CHECKOUT, "actions/checkout@v7 # v7.0.1"),
    ("uses_pinned_with_version_comment", "short-sha", "ci.yml",
     CHECKOUT, "actions/checkout@3d3c42e # v7.0.1"),
    ("uses_pinned_with_version_comment", "no-comment", "jitflow-apply.yml",
     " # v6.2.3", ""),
    ("uses_pinned_with_version_comment", "wrong-version", "jitflow-revoke.yml",
     " # v7.0.0", " # v6.0.0"),
    ("uses_pinned_with_version_comment", "other-sha", "jitflow-revoke.yml",
     "@5fda3b95a4ea91299a34e894583c3862153e4b97", "@" + "a" * 40),
    ("uses_pinned_with_version_comment", "unknown-action", "ci.yml",
     "uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
     "uses: someone/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"),
    ("no_expressions_in_run", "check", "jitflow-check.yml",
     '--head "$HEAD_SHA"', "--head ${{ github.event.pull_request.head.sha }}"),
    ("no_expressions_in_run", "revoke-input", "jitflow-revoke.yml",
     '--reason "$REASON"', '--reason "${{ inputs.reason }}"'),
    ("check_never_runs_pr_code", "install-pr", "jitflow-check.yml",
     "--no-index ./base\n", "--no-index ./pr\n"),
    ("check_never_runs_pr_code", "install-both", "jitflow-check.yml",
     "--no-index ./base\n", "--no-index ./base ./pr\n"),
    ("check_never_runs_pr_code", "lock-of-the-workspace", "jitflow-check.yml",
     "-r base/requirements/runtime.lock", "-r requirements/runtime.lock"),
    ("check_never_runs_pr_code", "run-script", "jitflow-check.yml",
     CHECK_CMD, f"run: bash pr/setup.sh && {CHECK_CMD[5:]}"),
    ("check_never_runs_pr_code", "working-directory", "jitflow-check.yml",
     CHECK_CMD, f"working-directory: pr\n        {CHECK_CMD}"),
    ("check_never_runs_pr_code", "local-action", "jitflow-check.yml",
     "      - name: Set up Python\n", "      - uses: ./pr/.github/actions/x\n"
     "      - name: Set up Python\n"),
    ("checkouts_keep_no_credentials", "pr-head", "jitflow-check.yml",
     PR_CHECKOUT, "path: pr\n          fetch-depth: 0\n"),
    ("checkouts_keep_no_credentials", "pr-head-true", "jitflow-check.yml",
     PR_CHECKOUT, "path: pr\n          fetch-depth: 0\n          persist-credentials: true\n"),
    ("checkouts_keep_no_credentials", "apply", "jitflow-apply.yml",
     "          persist-credentials: false\n", ""),
    ("check_checkouts_base_code_and_pr_data", "base-from-head", "jitflow-check.yml",
     "ref: ${{ github.event.pull_request.base.sha }}\n          path: base",
     "ref: ${{ github.event.pull_request.head.sha }}\n          path: base"),
    ("check_checkouts_base_code_and_pr_data", "no-history", "jitflow-check.yml",
     "          fetch-depth: 0\n", ""),
    ("aws_workflows_share_concurrency", "cancel", "jitflow-apply.yml",
     "cancel-in-progress: false", "cancel-in-progress: true"),
    ("aws_workflows_share_concurrency", "other-group", "jitflow-revoke.yml",
     "group: jitflow-aws", "group: jitflow-revoke"),
    ("aws_workflows_share_concurrency", "none", "jitflow-apply.yml",
     "concurrency:\n  group: jitflow-aws\n  cancel-in-progress: false\n", ""),
    ("aws_jobs_build_on_the_branch_tip", "event-commit", "jitflow-apply.yml",
     "          ref: ${{ github.ref }}\n", ""),
    ("aws_jobs_build_on_the_branch_tip", "sha", "jitflow-revoke.yml",
     "ref: ${{ github.ref }}", "ref: ${{ github.sha }}"),
    ("aws_jobs_build_on_the_branch_tip", "shallow", "jitflow-revoke.yml",
     "          fetch-depth: 0\n", ""),
    ("apply_runs_in_its_environment", "missing", "jitflow-apply.yml",
     "    environment: jitflow-apply\n", ""),
    ("apply_runs_in_its_environment", "other", "jitflow-apply.yml",
     "    environment: jitflow-apply\n", "    environment: production\n"),
    ("apply_runs_in_its_environment", "revoke-environment", "jitflow-revoke.yml",
     "    timeout-minutes: 20\n", "    timeout-minutes: 20\n    environment: jitflow-apply\n"),
    ("only_known_secrets", "aws-key", "jitflow-apply.yml",
     "JITFLOW_TEAMS_TOKEN: ${{ secrets.JITFLOW_TEAMS_TOKEN }}",
     "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}"),
    ("only_known_secrets", "all", "jitflow-check.yml",
     "${{ secrets.JITFLOW_TEAMS_TOKEN }}", "${{ toJSON(secrets) }}"),
    ("commands_are_the_contract", "apply", "jitflow-apply.yml",
     "run: jitflow apply --commit", "run: jitflow apply"),
    ("commands_are_the_contract", "check", "jitflow-check.yml",
     '--base "$BASE_SHA"', "--base HEAD~1"),
    ("commands_are_the_contract", "push", "jitflow-revoke.yml",
     "run: bash .github/scripts/push-audit.sh", "run: git push"),
    ("commands_are_the_contract", "early-revoke", "jitflow-revoke.yml",
     ' --reason "$REASON"', ""),
    ("aws_credentials_from_own_role", "wrong-role", "jitflow-revoke.yml",
     "vars.JITFLOW_REVOKE_ROLE_ARN", "vars.JITFLOW_APPLY_ROLE_ARN"),
    ("aws_credentials_from_own_role", "session-name", "jitflow-apply.yml",
     "role-session-name: jitflow-apply-${{ github.run_id }}", "role-session-name: x"),
    ("aws_credentials_from_own_role", "in-check", "jitflow-check.yml",
     "      - name: Set up Python\n",
     "      - uses: aws-actions/configure-aws-credentials@"
     "e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3\n"
     "        with:\n          role-to-assume: ${{ vars.JITFLOW_APPLY_ROLE_ARN }}\n"
     "          aws-region: eu-west-1\n"
     "      - name: Set up Python\n"),
    ("audit_push_runs_after_a_failed_step", "apply-on-success", "jitflow-apply.yml",
     "        if: ${{ !cancelled() }}\n", ""),
    ("audit_push_runs_after_a_failed_step", "revoke-on-success", "jitflow-revoke.yml",
     "if: ${{ !cancelled() }}", "if: ${{ success() }}"),
    ("triggers_as_designed", "top-of-hour", "jitflow-revoke.yml",
     '"7,22,37,52 * * * *"', '"0,15,30,45 * * * *"'),
    ("triggers_as_designed", "apply-any-branch", "jitflow-apply.yml",
     "    branches: [main]\n", ""),
    ("triggers_as_designed", "check-on-push", "jitflow-check.yml",
     "  pull_request_review:\n", "  push:\n  pull_request_review:\n"),
    ("installs_only_from_the_lock", "apply-pip-install-dot", "jitflow-apply.yml",
     LOCKED_APPLY, "          python -m pip install .\n"),
    ("installs_only_from_the_lock", "revoke-pip-install-dot", "jitflow-revoke.yml",
     LOCKED_APPLY, "          python -m pip install .\n"),
    ("installs_only_from_the_lock", "check-pip-install-base", "jitflow-check.yml",
     LOCKED_CHECK, "          python -m pip install ./base\n"),
    ("installs_only_from_the_lock", "no-require-hashes", "jitflow-revoke.yml",
     " --require-hashes", ""),
    ("installs_only_from_the_lock", "with-deps", "jitflow-apply.yml",
     "--require-hashes --no-deps", "--require-hashes"),
    ("installs_only_from_the_lock", "sdists", "jitflow-check.yml",
     " --only-binary :all:", ""),
    ("installs_only_from_the_lock", "self-from-index", "jitflow-check.yml",
     " --no-index ./base", " ./base"),
    ("installs_only_from_the_lock", "build-isolation", "jitflow-apply.yml",
     " --no-build-isolation", ""),
    ("installs_only_from_the_lock", "no-pip-check", "jitflow-revoke.yml",
     "          python -m pip check\n", ""),
    ("installs_only_from_the_lock", "one-more-package", "jitflow-apply.yml",
     "          python -m pip check\n",
     "          python -m pip check\n          /usr/bin/pip3 install awscli\n"),
    ("installs_only_from_the_lock", "uv-instead", "jitflow-revoke.yml",
     "python -m pip install --require-hashes --no-deps --only-binary :all: -r",
     "uv pip install -r"),
    ("installs_only_from_the_lock", "after-credentials", "jitflow-apply.yml",
     "      - name: Set up Python\n",
     "      - uses: aws-actions/configure-aws-credentials@"
     "e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3\n"
     "        with:\n          role-to-assume: ${{ vars.JITFLOW_APPLY_ROLE_ARN }}\n"
     "      - name: Set up Python\n"),
    ("installs_only_from_the_lock", "ci-gets-credentials", "ci.yml",
     "      contents: read #", "      id-token: write\n      contents: read #"),
    ("python_is_the_locks", "apply", "jitflow-apply.yml",
     'python-version: "3.11"', 'python-version: "3.12"'),
    ("python_is_the_locks", "check", "jitflow-check.yml",
     'python-version: "3.11"', 'python-version: "3.x"'),
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
