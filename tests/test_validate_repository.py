"""`jitflow validate` judges the repository as the PR check and apply would: jitflow.yaml,
each policy's account, the workflows' branch and region, stray files under requests/, a broken
policy reported once, and GitHub annotations on repository-relative paths. Through the real
entry point, on copies of this repository's own files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jitflow.gitcmd import Git
from jitflow.pr.check import check_changes
from testing.check_repo import Repo
from testing.foundation import ROOT

EXAMPLE = "requests/analytics-raw/alice-clickstream-backfill.yaml"


def jitflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jitflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "access"
    for name in ("policies", ".github/workflows"):
        shutil.copytree(ROOT / name, root / name)
    for name in ("jitflow.yaml", "requests/README.md", EXAMPLE):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    return root


def problems(repo: Path, *paths: str) -> list[dict[str, Any]]:
    done = jitflow("validate", "--format", "json", *(paths or ("requests",)), cwd=repo)
    found: list[dict[str, Any]] = json.loads(done.stdout)
    assert done.returncode == (1 if any(p["severity"] == "error" for p in found) else 0)
    return found


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def where(found: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    return [(Path(p["path"]).name, p["line"], p["message"]) for p in found]


def test_the_copied_repository_is_valid(repo: Path) -> None:
    assert problems(repo) == []


def test_a_policy_account_missing_from_the_settings_is_named_at_its_line(repo: Path) -> None:
    edit(repo / "jitflow.yaml", '"444455556666":', '"444455556667":')
    [found] = problems(repo)
    assert found["path"].endswith("policies/ml-models.yaml") and found["line"] == 3
    assert found["message"].startswith("account 444455556666 is not among the accounts of "
                                       "jitflow.yaml (111122223333, 444455556667)")


def test_an_unknown_settings_key_is_named_with_file_and_line(repo: Path) -> None:
    settings = repo / "jitflow.yaml"
    line = settings.read_text().splitlines().index("audit_dir: audit") + 2  # the line after
    edit(settings, "audit_dir: audit", "audit_dir: audit\nrevoke_interval: 15m")
    assert [(n, at, m.split(" (")[0]) for n, at, m in where(problems(repo))] == [
        ("jitflow.yaml", line, "unknown key 'revoke_interval'")]


@pytest.mark.parametrize(("written", "expected"), [
    ('account: 111122223333', 'account: an AWS account id must be quoted ("111122223333")'),
    ('account: 011122223333', "ambiguous value '011122223333': quote it (\"011122223333\"): "
                              "an AWS account id keeps its leading zero"),
])
def test_an_unquoted_account_id_is_reported_clearly(repo: Path, written: str,
                                                    expected: str) -> None:
    edit(repo / "policies" / "analytics-raw.yaml", 'account: "111122223333"', written)
    found = problems(repo)
    assert [(n, line) for n, line, _ in where(found)] == [("analytics-raw.yaml", 3)]
    assert found[0]["message"].startswith(expected)


def test_an_unquoted_account_key_in_the_settings_is_reported(repo: Path) -> None:
    edit(repo / "jitflow.yaml", '"111122223333": {}', "111122223333: {}")
    assert where(problems(repo)) == [
        ("jitflow.yaml", 5, "key '111122223333' is a number, not a string: quote it "
                            '("111122223333")')]


def test_a_broken_policy_is_reported_once(repo: Path) -> None:
    edit(repo / "policies" / "analytics-raw.yaml", "max_duration: 4h", "max_duration: soon")
    for index in range(3):
        shutil.copy(repo / EXAMPLE, repo / f"requests/analytics-raw/more-{index}.yaml")
    found = problems(repo)
    assert [(n, line) for n, line, _ in where(found)] == [("analytics-raw.yaml", 7)]
    assert not any("there is no policy" in p["message"] for p in found)


def test_a_request_under_a_broken_policy_still_gets_its_own_problems(repo: Path) -> None:
    edit(repo / "policies" / "analytics-raw.yaml", "max_duration: 4h", "max_duration: soon")
    edit(repo / EXAMPLE, "duration: 2h", "duration: two hours")
    assert sorted(n for n, _, _ in where(problems(repo))) == [
        "alice-clickstream-backfill.yaml", "analytics-raw.yaml"]


def test_stray_files_under_requests_are_reported(repo: Path) -> None:
    requests = repo / "requests"
    for name in ("notes.txt", "analytics-raw/x.json", "analytics-raw/y.YAML", "top.yaml",
                 "analytics-raw/deeper/z.yaml", "analytics-raw/README.md"):
        (requests / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / EXAMPLE, requests / name)
    found = problems(repo)
    strays = sorted(Path(p["path"]).relative_to("requests").as_posix() for p in found)
    assert strays == ["analytics-raw/README.md", "analytics-raw/deeper/z.yaml",
                      "analytics-raw/x.json", "analytics-raw/y.YAML", "notes.txt", "top.yaml"]
    assert {p["message"] for p in found} == {
        "not a request file: a request must be at requests/<policy>/<name>.yaml (or .yml), "
        "and nothing else belongs under requests/"}
    # The README at the top of requests/ is the one file there that is not judged, even
    # when named by hand (as `requests/*` does).
    inside = [p for p in found if "/analytics-raw/" in p["path"]]
    assert problems(repo, "requests/README.md", "requests/analytics-raw") == inside


def test_github_annotations_name_repository_relative_paths(repo: Path) -> None:
    edit(repo / EXAMPLE, "duration: 2h", "duration: 9h")
    edit(repo / "jitflow.yaml", '"444455556666":', '"444455556667":')
    for cwd, path in ((repo, "requests"), (repo / "requests", "."),
                      (repo.parent, str(repo / "requests"))):
        done = jitflow("validate", "--format", "github", path, cwd=cwd)
        assert done.returncode == 1
        files = sorted(line.split("file=", 1)[1].split(",", 1)[0]
                       for line in done.stdout.splitlines())
        assert files == ["policies/ml-models.yaml", EXAMPLE], (cwd, done.stdout)


def test_a_workflow_branch_other_than_the_default_branch_is_reported(repo: Path) -> None:
    workflow = repo / ".github/workflows/jitflow-apply.yml"
    line = workflow.read_text().splitlines().index("    branches: [main]") + 1
    edit(workflow, "branches: [main]", "branches: [trunk]")
    assert where(problems(repo)) == [
        ("jitflow-apply.yml", line, "on.push.branches is ['trunk'], but jitflow.yaml says the "
                                    "default branch is 'main': a jitflow workflow runs on "
                                    "that branch only")]
    edit(repo / "jitflow.yaml", "default_branch: main", "default_branch: trunk")
    assert problems(repo) == []


def test_a_literal_region_other_than_the_settings_region_is_reported(repo: Path) -> None:
    workflow = repo / ".github/workflows/jitflow-revoke.yml"
    edit(workflow, "aws-region: ${{ vars.JITFLOW_AWS_REGION }}", "aws-region: eu-west-1")
    [found] = where(problems(repo))
    assert found[0] == "jitflow-revoke.yml"
    assert found[2] == ("region 'eu-west-1' differs from jitflow.yaml's region 'us-east-1': "
                        "state it once, or the same everywhere")
    edit(repo / "jitflow.yaml", "region: us-east-1", "region: eu-west-1")
    assert problems(repo) == []


def test_without_settings_only_the_requests_and_policies_are_judged(repo: Path) -> None:
    (repo / "jitflow.yaml").unlink()
    edit(repo / ".github/workflows/jitflow-apply.yml", "branches: [main]", "branches: [trunk]")
    assert problems(repo) == []


def test_a_workflow_with_a_recursive_alias_is_no_traceback(repo: Path) -> None:
    (repo / ".github/workflows/jitflow-odd.yml").write_text(
        "on: {push: {branches: [main]}}\njobs: &a {x: [*a], region: us-east-1}\n")
    assert problems(repo) == []


# --- the PR check agrees -----------------------------------------------------------------------


def test_the_check_refuses_a_request_whose_policy_account_is_not_in_the_settings(
        tmp_path: Path) -> None:
    git_repo = Repo(tmp_path / "repo")
    git_repo.on_main("jitflow.yaml", (ROOT / "jitflow.yaml").read_text().replace(
        '"111122223333": {}', '"111122224444": {}'))
    git_repo.add_request()
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    result = check_changes(Git(git_repo.path), "main", "pr", "alice", applied_at=at)
    assert not result.ok
    assert [p.message for p in result.errors] == [
        "policy analytics-raw's account 111122223333 is not among the accounts of jitflow.yaml "
        "on the base branch: apply would refuse the grant; an admin must add the account first"]


def test_validate_does_not_import_the_audit_log(repo: Path) -> None:
    # Importing it (as jitflow.plan once did, for the already-live flag) made validate's
    # peak memory grow with the number of files (bench/README.md).
    probe = ("import sys\nfrom jitflow.cli import main\ncode = main(['validate', 'requests'])\n"
             "print(code, sorted(m for m in sys.modules if m.startswith('jitflow.audit')))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                          text=True, check=False)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
