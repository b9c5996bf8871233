"""`.pre-commit-hooks.yaml`: valid under pre-commit's own manifest schema, and each hook's
command line (entry + args, no file names) passes on a fresh access repository and fails once
the repository is wrong, as pre-commit would run it from the repository's root."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pre_commit.clientlib import load_manifest

from testing.foundation import ROOT

BIN = Path(sys.executable).parent
SHA = "0123456789abcdef0123456789abcdef01234567"


def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}


def run_hook(hook: dict[str, Any], repo: Path) -> subprocess.CompletedProcess[str]:
    assert hook["pass_filenames"] is False  # so the command line is exactly entry + args
    command, *rest = shlex.split(hook["entry"])
    return subprocess.run([str(BIN / command), *rest, *hook["args"]], cwd=repo,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    done = subprocess.run([str(BIN / "jitflow"), "init", "access", "--org", "acme", "--account",
                           "111122223333", "--jitflow-sha", SHA], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return tmp_path / "access"


def test_the_manifest_holds_the_two_hooks_for_python() -> None:
    found = hooks()
    assert sorted(found) == ["jitflow-codeowners", "jitflow-validate"]
    assert {hook["language"] for hook in found.values()} == {"python"}


@pytest.mark.parametrize(("hook_id", "path", "runs"), [
    ("jitflow-validate", "requests/example/x.yaml", True),
    ("jitflow-validate", "policies/example.yaml", True),
    ("jitflow-validate", "jitflow.yaml", True),
    ("jitflow-validate", "README.md", False),
    ("jitflow-codeowners", "policies/identities.yaml", True),
    ("jitflow-codeowners", ".github/CODEOWNERS", True),
    ("jitflow-codeowners", "requests/example/x.yaml", False),
])
def test_each_hook_runs_for_the_files_that_affect_it(hook_id: str, path: str,
                                                     runs: bool) -> None:
    assert bool(re.search(hooks()[hook_id]["files"], path)) is runs


def test_the_validate_hook_passes_then_catches_a_stray_file(repo: Path) -> None:
    hook = hooks()["jitflow-validate"]
    assert run_hook(hook, repo).returncode == 0
    (repo / "requests" / "notes.txt").write_text("todo\n")
    failed = run_hook(hook, repo)
    assert failed.returncode == 1 and "requests/notes.txt: not a request file" in failed.stdout


def test_the_codeowners_hook_passes_then_catches_a_changed_approver(repo: Path) -> None:
    hook = hooks()["jitflow-codeowners"]
    assert run_hook(hook, repo).returncode == 0
    policy = repo / "policies" / "example.yaml"
    policy.write_text(policy.read_text().replace("@acme/jitflow-approvers", "@acme/other"))
    failed = run_hook(hook, repo)
    assert failed.returncode == 1 and "+/requests/example/ @acme/other" in failed.stdout
