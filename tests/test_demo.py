"""`jitflow demo` through the real entry point: the whole story, and its refusals."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from jitflow.cli import main
from jitflow.clock import iso, parse_time
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


@dataclass(frozen=True)
class Told:
    """One run of `jitflow demo --keep`: what it said, and the sandbox it left."""

    out: str
    sandbox: Path

    def step(self, title: str) -> str:
        """The narration of one step, from its `── title` line to the next heading."""
        start = self.out.index(f"\n── {title} ")
        ends = [self.out.find(mark, start + 1) for mark in ("\n── ", "\n══ ", "\n✔ Every")]
        return self.out[start:min(e for e in ends if e != -1)]


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Told:
    root = tmp_path_factory.mktemp("demo")
    result = _run("demo", "--keep", str(root / "sandbox"), cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return Told(result.stdout, root / "sandbox")


def _time(pattern: str, text: str) -> datetime:
    found = re.search(pattern, text)
    assert found, f"no {pattern!r} in:\n{text}"
    return parse_time(found[1])


def test_demo_tells_the_whole_story(told: Told) -> None:
    assert "✘" not in told.out
    assert "✔ Every step held" in told.out
    assert "audit chain intact: 7 records" in told.step("17. the audit trail")
    # The kept sandbox holds what the narration claims: every audit commit reached origin, on
    # the audit branch (an orphan: its own history), and main holds none of them.
    def log(branch: str) -> list[str]:
        return subprocess.run(
            ["git", "log", "--first-parent", "--format=%s", branch],
            cwd=told.sandbox / "origin.git", capture_output=True, text=True, check=True,
        ).stdout.splitlines()

    revoke = "jitflow revoke: expired and orphaned grants"
    audit = log("jitflow-audit")
    assert len(audit) == 8 and audit[:2] == [revoke, revoke]
    assert audit[2].startswith("jitflow apply: #3 ")
    assert audit[3] == revoke and audit[4].startswith("jitflow apply: #2 ")
    assert audit[5] == revoke and audit[6].startswith("jitflow apply: #1 ")
    assert audit[7] == revoke  # the first run: the team snapshot, and the branch
    assert not [subject for subject in log("main") if subject.startswith("jitflow ")]
    for request in ("ml-models/alice-churn-model", "analytics-raw/alice-demo-backfill",
                    "analytics-raw/alice-incident-fix"):
        assert (told.sandbox / "work" / "requests" / f"{request}.yaml").is_file()


def test_act_one_grants_in_an_iam_policy(told: Told) -> None:
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
    ):
        assert line in told.out, f"missing {line!r} in:\n{told.out}"
    # moto's decisions are the policy evaluator's, and the grant it allowed was made at the
    # story's clock: apply ran with --at that time, so the expiry is the clock plus 1h.
    used = told.step("5. using the grant")
    assert "the evaluator: allow: allowed (same account: either policy) [identity policy" in used
    clock = _time(r"The clock reads (\S+);", told.step("0. the sandbox"))
    applied = told.step("4. merge and apply")
    assert _time(r"`jitflow apply --commit --repo access --at (\S+)`", applied) == clock
    until = _time(r"granted: ml-models/alice-churn-model \S+ \(until (\S+)\)", applied)
    assert until == clock + timedelta(hours=1)


def test_act_two_one_shared_role_a_statement_for_alice_alone(told: Told) -> None:
    shared = told.step("8. one role, two people")
    role_id = re.search(r"aws:userid (AROA\w+):alice@acme\.example", shared)
    assert role_id, shared
    assert f"aws:userid {role_id[1]}:bob@acme.example" in shared  # the same role, bob's session
    for who in ("alice", "bob"):
        assert f"part-0000.json → AccessDenied   ({who})" in shared
        assert f"✔ {who} cannot write" in shared

    applied = told.step("10. merge and apply")
    began = _time(r"moves past expiry to (\S+):", told.step("6. expiry"))  # act I's revoke
    assert _time(r"`jitflow apply --commit --repo access --at (\S+)`", applied) == began
    until = _time(r"granted: analytics-raw/alice-demo-backfill in the bucket policy of "
                  r"analytics-raw \(until (\S+)\)", applied)
    assert until == began + timedelta(hours=1)
    assert f'"aws:userid": "{role_id[1]}:alice@acme.example"' in applied
    assert "Granted `analytics-raw/alice-demo-backfill`" in applied
    assert "statements ['ReportingReadsRaw', 'JitflowGanalyticsHrawSaliceHdemoHbackfillE1O']" \
        in applied

    both = told.step("11. alice writes, bob cannot")
    assert "part-0000.json → OK   (alice)\n      the evaluator: allow: allowed (same account: " \
        "either policy) [resource policy, statement 1 " \
        "(JitflowGanalyticsHrawSaliceHdemoHbackfillE1O)]" in both
    assert "part-0000.json → AccessDenied   (bob)\n      the evaluator: implicit deny" in both
    assert "✔ alice is allowed, by the bucket policy's statement" in both
    assert "✔ bob, on the same role, is denied" in both


def test_act_two_expiry_denies_before_the_revoke_and_the_revoke_restores_the_policy(
    told: Told,
) -> None:
    until = _time(r"\(until (\S+)\)\n", told.step("10. merge and apply"))
    expiry = told.step("12. expiry, before any revoke")
    assert _time(r"The clock moves to (\S+), a minute before", expiry) == until - timedelta(
        minutes=1)
    assert _time(r"The clock moves to (\S+), a minute after", expiry) == until + timedelta(
        minutes=1)
    allowed = expiry.index("part-0001.json → OK   (alice)")
    refused = expiry.index("part-0001.json → AccessDenied   (alice)")
    assert allowed < refused
    assert "✔ the bucket policy still holds the grant, unchanged" in expiry
    assert "AWS's own evaluation (modelled here by jitflow's evaluator) denies the write" in expiry
    assert "✔ denied after the expiry by the condition alone, before any revoke" in expiry
    assert "expired:" not in expiry  # no revoke ran in this step
    # ... and none before it: the only revoke of this grant comes after the denial.
    assert told.out.index("expired: analytics-raw/alice-demo-backfill") > told.out.index(
        "✔ denied after the expiry by the condition alone")

    revoke = told.step("13. revoke")
    assert f"appends `--at {iso(until + timedelta(minutes=1))}`" in revoke
    assert "expired: analytics-raw/alice-demo-backfill in the bucket policy of analytics-raw" \
        in revoke
    assert "s3://analytics-raw's policy now: statements ['ReportingReadsRaw']" in revoke
    assert "✔ the bucket policy is as before the grant" in revoke
    assert "part-0002.json → AccessDenied   (alice)" in revoke


def test_act_three_break_glass_is_granted_unreviewed_and_its_review_comes_due(
        told: Told) -> None:
    check = told.step("14. an emergency request")
    assert "jitflow check: passed" in check and "BREAK-GLASS" in check
    granted = told.step("15. merged unreviewed, granted")
    assert "on the merge by @alice" in granted and "Skipped approvers" in granted
    assert "→ OK   (alice)" in granted
    due = told.step("16. the review comes due")
    overdue, reviewed = due.split("erin reviews the merged pull request")
    assert "expired: analytics-raw/alice-incident-fix" in overdue
    assert "break-glass review overdue" in overdue and "review OVERDUE since" in overdue
    assert "break-glass review overdue" not in reviewed
    assert "✔ the review is recorded and revoke passes again" in reviewed


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
        ("reusable-check.yml", "check", "jitflow check"),
        ("reusable-apply.yml", "apply", "jitflow apply --commit"),
        ("reusable-apply.yml", "push", "push-audit.sh"),
        ("reusable-revoke.yml", "revoke", "jitflow revoke --commit"),
        ("reusable-revoke.yml", "push", "push-audit.sh"),
    ],
)
def test_the_demo_runs_the_workflows_own_steps(workflow: str, step: str, command: str) -> None:
    script, env_names = workflow_step(ROOT, workflow, step)
    assert command in script
    assert "GITHUB_TOKEN" in env_names or step == "revoke"
    assert "JITFLOW_AUDIT_REPO" in env_names or step == "check"


def test_the_check_counts_team_approvals_from_the_snapshot_the_first_revoke_wrote(
    told: Told,
) -> None:
    setup = told.step("0. the sandbox")
    assert "✔ the team snapshot is written, from the token in AWS Secrets Manager" in setup
    assert '"acme/ml-leads": [\n' in setup and '"grace"' in setup
    assert "✔ the audit commit is pushed to jitflow-audit, main is untouched" in setup
    approvals = told.step("3. approvals")
    assert "team membership as of " in told.step("2. the pull request")
    assert "✔ the check passes: approvals: 2 of 2" in approvals
