"""`jitflow demo` through the real entry point: the whole story, and its refusals."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from jitflow.cli import main
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
        "✔ the check fails: approvals: 0 of 1",
        "not counted: @alice: self-approval",
        "✔ self-approval not counted: still approvals: 0 of 1",
        "✔ the check passes: approvals: 1 of 1",
        "granted: analytics-raw/alice-demo-backfill",
        "Granted `analytics-raw/alice-demo-backfill`",  # the PR comment, read from the fake
        "clickstream/2026/11/27/part-0000.json → OK",
        "clickstream/2026/11/28/part-0000.json → AccessDenied",
        "appends `--at ",
        "expired: analytics-raw/alice-demo-backfill",
        "✔ the upload is refused again",
        "audit chain intact: 2 records",
        "✔ Every step held",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
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
    assert (sandbox / "work" / "requests" / "analytics-raw" / "alice-demo-backfill.yaml").is_file()


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
