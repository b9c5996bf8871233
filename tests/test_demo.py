"""`jitflow demo` through the real entry point: the whole story, and its refusals."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from jitflow.cli import main
from jitflow.clock import parse_time
from jitflow.demo import DemoFailed, Story, workflow_step

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jitflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
        timeout=180,
    )


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    result = _run("demo", "--keep", str(sandbox), cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "✘" not in out
    for line in (
        "✔ the upload is refused",
        "✔ the check fails: approvals: 0 of 2",
        "not counted: @alice: self-approval",
        "✔ self-approval not counted: still approvals: 0 of 2",
        "✔ the check still waits: approvals: 1 of 2",
        "✔ the check passes: approvals: 2 of 2",
        "granted: ml-models/alice-churn-model",
        "Granted `ml-models/alice-churn-model`",  # the PR comment, read from the fake
        "models/churn/model-v7.bin → OK",
        "models/fraud/model-v2.bin → AccessDenied",
        "appends `--at ",
        "expired: ml-models/alice-churn-model",
        "✔ the upload is refused again",
        "audit chain intact: 2 records",
        "✔ Every step held",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    # moto's decisions are the policy evaluator's, and the grant it allowed was made at the
    # story's clock: apply ran with --at that time, so the expiry is the clock plus 1h.
    assert "the evaluator: allow: allowed (same account: either policy)" in out
    clock = re.search(r"The clock reads (\S+);", out)
    at = re.search(r"`jitflow apply --commit --at (\S+)`", out)
    until = re.search(r"granted: ml-models/alice-churn-model \S+ \(until (\S+)\)", out)
    assert clock and at and until, out
    assert at[1] == clock[1]
    assert parse_time(until[1]) == parse_time(clock[1]) + timedelta(hours=1)
    # The kept sandbox holds what the narration claims: both audit commits reached origin.
    log = subprocess.run(
        ["git", "log", "--format=%s", "main"],
        cwd=sandbox / "origin.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log[0] == "jitflow revoke: expired and orphaned grants"
    assert log[1].startswith("jitflow apply: #1 ")
    assert (sandbox / "work" / "requests" / "ml-models" / "alice-churn-model.yaml").is_file()


def test_keep_refuses_a_directory_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something").write_text("mine")
    assert main(["demo", "--keep", str(tmp_path)]) == 2
    assert "give a new or empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["something"]


def test_without_moto_the_demo_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)  # as if moto were not installed
    assert main(["demo", "--keep", str(tmp_path / "sandbox")]) == 1
    assert "pip install 'jitflow[demo]'" in capsys.readouterr().err


def test_a_failed_expectation_shows_expected_and_seen(tmp_path: Path) -> None:
    out = io.StringIO()
    story = Story(root=tmp_path, source=ROOT, out=out)
    story.expect("holds", True, "x", "x")
    with pytest.raises(DemoFailed, match="the demo failed at: breaks"):
        story.expect("breaks", False, "AccessDenied", "OK")
    assert out.getvalue().splitlines() == [
        "  ✔ holds",
        "  ✘ breaks",
        "    expected: AccessDenied",
        "    seen: OK",
    ]


@pytest.mark.parametrize(
    ("workflow", "step", "command"),
    [
        ("jitflow-check.yml", "check", "jitflow check"),
        ("jitflow-apply.yml", "apply", "jitflow apply --commit"),
        ("jitflow-apply.yml", "push", "push-audit.sh"),
        ("jitflow-revoke.yml", "revoke", "jitflow revoke --commit"),
        ("jitflow-revoke.yml", "push", "push-audit.sh"),
    ],
)
def test_the_demo_runs_the_workflows_own_steps(workflow: str, step: str, command: str) -> None:
    script, env_names = workflow_step(ROOT, workflow, step)
    assert command in script
    assert "GITHUB_TOKEN" in env_names or step == "revoke"
