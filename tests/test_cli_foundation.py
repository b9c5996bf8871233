"""`jitflow validate` and `jitflow plan` through the real entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testing.foundation import ROOT, dump, valid_request_data

SCRIPT = Path(sys.executable).parent / "jitflow"


def jitflow(*args: str, cwd: Path = ROOT, script: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "jitflow"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "requests" / "analytics-raw").mkdir(parents=True)
    return tmp_path


def write_request(repo: Path, raw: bytes, name: str = "alice-backfill") -> Path:
    path = repo / "requests" / "analytics-raw" / f"{name}.yaml"
    path.write_bytes(raw)
    return path


def test_console_script_validates_the_shipped_examples() -> None:
    result = jitflow("validate", "requests/", script=True)
    assert result.returncode == 0, result.stderr
    assert "all valid" in result.stderr


def test_invalid_request_exit_1_with_path_line_col(repo: Path) -> None:
    data = valid_request_data()
    data["access"][0]["bucket"] = "finance-ledger"
    path = write_request(repo, dump(data))
    result = jitflow("validate", str(path), cwd=repo)
    assert result.returncode == 1
    assert f"{path}:7:3: bucket 'finance-ledger' is not covered" in result.stdout


def test_json_format_lists_every_problem(repo: Path) -> None:
    data = valid_request_data()
    data["duration"] = "9h"
    data["access"][0]["actions"] = ["s3:PutObjekt"]
    write_request(repo, dump(data))
    result = jitflow("validate", "--format", "json", "requests", cwd=repo)
    assert result.returncode == 1
    problems = json.loads(result.stdout)
    assert len(problems) == 2
    assert {p["line"] for p in problems} == {5, 10}


def test_github_format_escapes_injection(repo: Path) -> None:
    raw = dump(valid_request_data()).replace(b"ticket: OPS-1234", b'ticket: "x\\n::add-mask::y"')
    write_request(repo, raw)
    result = jitflow("validate", "--format", "github", "requests", cwd=repo)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error file=")


def test_annotation_escapes_raw_newlines_and_property_separators() -> None:
    from jitflow.problems import Problem, github_annotation  # noqa: PLC0415

    line = github_annotation(Problem("a,b:c.yaml", 3, 1, "bad\n::add-mask::secret 100%"))
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,col=1::bad%0A::add-mask::secret 100%25"


def test_usage_errors_exit_2(repo: Path) -> None:
    assert jitflow("validate", "--format", "xml", "requests", cwd=repo).returncode == 2
    missing = jitflow("validate", "no-such-dir", cwd=repo)
    assert missing.returncode == 2
    assert "no such file or directory" in missing.stderr
    assert jitflow(cwd=repo).returncode == 2
    assert jitflow("plan", "--at", "yesterday", "requests", cwd=repo).returncode == 2


def test_garbage_file_never_tracebacks(repo: Path) -> None:
    write_request(repo, b"\xff\xfe\x00garbage: [\n{{{")
    result = jitflow("validate", "requests", cwd=repo)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout


def test_plan_text_json_markdown(repo: Path) -> None:
    write_request(repo, dump(valid_request_data()))
    at = ("--at", "2026-11-28T09:00:00Z")
    as_json = json.loads(jitflow("plan", *at, "--format", "json", "requests", cwd=repo).stdout)
    assert as_json[0]["expiry"] == "2026-11-28T11:00:00Z"
    statement = as_json[0]["document"]["Statement"][0]
    # The example grants in the bucket policy: alice's session on the shared role, until expiry.
    assert statement["Condition"] == {
        "DateLessThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
        "StringEquals": {"aws:userid": "${RoleId}:alice@acme.example"},
    }
    markdown = jitflow("plan", *at, "--format", "markdown", "requests", cwd=repo)
    assert markdown.returncode == 0 and "### Access request" in markdown.stdout
    text = jitflow("plan", *at, "requests", cwd=repo)
    assert text.returncode == 0 and "until 2026-11-28T11:00:00Z" in text.stdout


def test_plan_refuses_invalid_requests(repo: Path) -> None:
    data = valid_request_data()
    data["duration"] = "9h"
    write_request(repo, dump(data))
    result = jitflow("plan", "requests", cwd=repo)
    assert result.returncode == 1
    assert "over the policy's max_duration" in result.stderr
    assert result.stdout == ""


def test_validate_and_plan_import_neither_boto3_nor_github(repo: Path) -> None:
    write_request(repo, dump(valid_request_data()))
    probe = (
        "import sys\n"
        "from jitflow.cli import main\n"
        "codes = [main(['validate', 'requests']), main(['plan', 'requests'])]\n"
        "roots = ('boto3', 'botocore', 'github')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "print(codes, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.strip().splitlines()[-1] == "[0, 0] []", result.stdout + result.stderr
