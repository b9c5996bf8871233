"""`jitflow check` through the real entry point, against real git and the fake GitHub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jitflow.sandbox.github import FakeGitHub
from testing.check_repo import EXISTING, NEW, Repo, dump, request_data

REPOSITORY = "acme/data-access"
TOKEN = "ghs_test"


@dataclass
class Pr:
    repo: Repo
    fake: FakeGitHub
    number: int
    base: str
    head: str
    summary: Path
    event: Path

    def run(
        self, *extra: str, author: str = "alice", event: str = "pull_request", token: str = TOKEN
    ) -> subprocess.CompletedProcess[str]:
        self.event.write_text(
            json.dumps(
                {
                    "action": "opened",
                    "pull_request": {
                        "number": self.number,
                        "user": {"login": author},
                        "base": {"sha": self.base, "ref": "main"},
                        "head": {"sha": self.head, "ref": "pr"},
                    },
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
        env |= {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(self.event),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": self.fake.url,
            "GITHUB_TOKEN": token,
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "JITFLOW_GITHUB_PACE": "0",
        }
        return subprocess.run(
            [sys.executable, "-m", "jitflow", "check", *extra],
            cwd=self.repo.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def push(self, author: str = "alice") -> None:
        """After a new commit on the PR branch: tell the fake GitHub about it."""
        self.head = self.repo.git("rev-parse", "HEAD").strip()
        self.fake.add_commit_to_pull(self.number, self.head, author=author)


@pytest.fixture
def make_pr(tmp_path: Path, fake_github: FakeGitHub):  # type: ignore[no-untyped-def]
    def make(author: str = "alice") -> Pr:
        repo = Repo(tmp_path / "repo")
        fake_github.add_repo(REPOSITORY)
        fake_github.add_team("acme", "data-platform", {"dora": "active", "pete": "pending"})
        fake_github.add_team("acme", "data-eng", {})
        base = repo.git("rev-parse", "main").strip()
        number = fake_github.open_pull(author=author, head_sha=base, base_sha=base)
        return Pr(
            repo, fake_github, number, base, base, tmp_path / "summary.md", tmp_path / "event.json"
        )

    return make


def with_request(make_pr, **changes: Any) -> Pr:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    pr.repo.add_request(**changes)
    pr.push()
    return pr


def test_valid_request_waits_for_approval_then_passes(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    waiting = pr.run()
    assert waiting.returncode == 1, waiting.stderr
    assert "approvals: 0 of 1 from @acme/data-platform, erin" in waiting.stdout
    assert "::error" not in waiting.stdout  # nothing wrong with the files
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    passed = pr.run(event="pull_request_review")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "approvals: 1 of 1" in passed.stdout
    summary = pr.summary.read_text()
    assert summary.count("### Access request `analytics-raw/alice-new-backfill`") == 2  # appended
    [comment] = pr.fake.comments(pr.number)  # updated in place, not duplicated
    assert comment.body.startswith("<!-- jitflow:check -->")
    assert "approvals: 1 of 1" in comment.body and "arn:aws:s3:::analytics-raw/" in comment.body


def test_team_member_counts_pending_member_does_not(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.fake.add_review(pr.number, "pete", "APPROVED")
    pending = pr.run()
    assert pending.returncode == 1
    assert "not an approver" in pending.stdout
    pr.fake.add_review(pr.number, "dora", "APPROVED")
    assert pr.run().returncode == 0


def test_an_approver_team_that_does_not_exist_is_reported(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    policy = "policies/analytics-raw.yaml"
    text = (pr.repo.path / policy).read_text()
    assert "@acme/data-platform" in text
    pr.repo.on_main(policy, text.replace("@acme/data-platform", "@acme/data-platfrom"))
    pr.base = pr.repo.git("rev-parse", "main").strip()
    pr.repo.add_request()
    pr.push()
    pr.fake.add_review(pr.number, "erin", "APPROVED")  # enough, were the policy right
    result = pr.run(event="pull_request_review")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "approvals: 1 of 1" in result.stdout
    assert "approver team @acme/data-platfrom does not exist" in result.stdout
    assert "data-platfrom does not exist" in pr.summary.read_text()  # markdown breaks the @


def test_self_approval_does_not_count(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.fake.add_review(pr.number, "alice", "APPROVED")
    result = pr.run()
    assert result.returncode == 1
    assert "self-approval" in result.stdout


def test_mixed_pr_fails_with_split_annotation(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    pr.repo.write(NEW, (pr.repo.path / EXISTING).read_text().replace("OPS-1234", "OPS-9"))
    pr.repo.write(".github/workflows/jitflow.yml", "on: push\n")
    pr.repo.commit("request and workflow")
    pr.push()
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    result = pr.run()
    assert result.returncode == 1
    assert "::error file=.github/workflows/jitflow.yml,line=1::" in result.stdout
    assert "split it" in result.stdout


def test_author_not_requester_fails(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr(author="bob")
    pr.repo.add_request()
    pr.head = pr.repo.git("rev-parse", "HEAD").strip()
    pr.fake.add_commit_to_pull(pr.number, pr.head, author="bob")
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    result = pr.run(author="bob")
    assert result.returncode == 1
    assert "only the requester may open their request" in result.stdout


def test_deleted_request_passes_with_early_revoke_note(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    pr.repo.remove(EXISTING)
    pr.repo.commit("give it back")
    pr.push()
    result = pr.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "early revoke" in result.stdout
    assert "early revoke" in pr.fake.comments(pr.number)[0].body


def test_deleting_another_persons_request_waits_for_the_policys_approvals(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr(author="bob")
    pr.repo.remove(EXISTING)  # alice's request
    pr.repo.commit("end alice's access")
    pr.push(author="bob")
    waiting = pr.run(author="bob")
    assert waiting.returncode == 1, waiting.stdout + waiting.stderr
    assert f"::error file={EXISTING},line=1::deleting {EXISTING} ends alice's request" in (
        waiting.stdout)
    assert "needs 1 approval(s) from @acme/data-platform, erin" in waiting.stdout
    assert "needs 1 approval(s) from @\u200bacme/data-platform, erin" in (
        pr.fake.comments(pr.number)[0].body)
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    passed = pr.run(author="bob", event="pull_request_review")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "deleting analytics-raw/alice-clickstream-backfill: approvals: 1 of 1" in passed.stdout


def test_deleting_a_request_whose_policy_is_gone_is_refused_even_approved(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    gone = "requests/retired/old.yaml"
    pr.repo.on_main(gone, "requester: [alice\n")  # unreadable, and no policies/retired.yaml
    pr.repo.git("rebase", "--quiet", "main")
    pr.base = pr.repo.git("rev-parse", "main").strip()
    pr.repo.remove(gone)
    pr.repo.commit("remove it")
    pr.push()
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    result = pr.run()
    assert result.returncode == 1
    assert f"::error file={gone},line=1::" in result.stdout
    assert "policy retired is not on the base branch, so nobody can approve it" in result.stdout


def test_fork_token_cannot_comment_but_verdict_stands(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.fake.set_token("fork", read_only=True)
    failing = pr.run(token="fork")
    assert failing.returncode == 1
    pr.fake.add_review(pr.number, "erin", "APPROVED")
    passing = pr.run(token="fork")
    assert passing.returncode == 0, passing.stderr
    assert "cannot comment" in passing.stderr
    assert pr.fake.comments(pr.number) == []
    assert "approvals: 1 of 1" in pr.summary.read_text()


def test_huge_report_is_cut_in_the_comment_not_the_summary(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    for i in range(60):  # many requests: a report far over GitHub's comment limit
        name = f"requests/analytics-raw/alice-part-{i:02d}.yaml"
        pr.repo.write(name, dump(request_data(reason="r" * 990 + f" {i}")))
    pr.repo.commit("sixty requests")
    pr.push()
    result = pr.run()
    assert result.returncode == 1
    summary = pr.summary.read_text()
    assert len(summary) > 65_536
    [comment] = pr.fake.comments(pr.number)
    assert len(comment.body) <= 65_536
    assert "job summary" in comment.body


def assert_no_injected_commands(stdout: str) -> None:
    for line in stdout.splitlines():
        # Only our own annotations may start a workflow command.
        assert not line.lstrip().startswith("::") or line.startswith("::error file="), line


def test_untrusted_text_cannot_inject_workflow_commands(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    pr.repo.add_request(reason="ok\n::add-mask::secret\n::stop-commands::x")
    pr.repo.write("requests/analytics-raw/x\n::add-mask::leak.txt", "x")
    pr.repo.add_request("requests/analytics-raw/alice-two.yaml", ticket="%0A::add-mask::y\n::x::")
    pr.push()
    result = pr.run()
    assert result.returncode == 1
    assert_no_injected_commands(result.stdout)
    assert "file=requests/analytics-raw/x%0A%3A%3Aadd-mask%3A%3Aleak.txt" in result.stdout
    assert "%250A%3A%3Aadd-mask" in result.stdout or "%250A::add-mask" in result.stdout
    comment = pr.fake.comments(pr.number)[0].body
    assert "\n::add-mask::" not in comment and "ok ::add-mask::secret" in comment


def test_deleted_file_name_cannot_inject_commands(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    weird = "requests/analytics-raw/x\n::add-mask::leak.yaml"
    pr.repo.on_main(weird, "x")
    pr.repo.git("rebase", "--quiet", "main")
    pr.base = pr.repo.git("rev-parse", "main").strip()
    pr.repo.remove(weird)
    pr.repo.commit("remove it")
    pr.push()
    result = pr.run()
    assert "ends a request that cannot be read on the base branch" in result.stdout
    assert_no_injected_commands(result.stdout)
    assert_no_injected_commands(result.stderr)


def test_outside_actions_uses_base_and_head(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.add_request()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jitflow",
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "pr",
            "--author",
            "alice",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "arn:aws:s3:::analytics-raw/clickstream/2026/11/28/*" in done.stdout
    other = subprocess.run(
        [
            sys.executable,
            "-m",
            "jitflow",
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--author",
            "bob",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode == 1
    assert "only the requester" in other.stdout


def _edit(pr: Pr, name: str, old: str, new: str) -> None:
    text = (pr.repo.path / name).read_text()
    assert old in text
    pr.repo.write(name, text.replace(old, new))


def _codeowners(pr: Pr) -> None:
    """.github/CODEOWNERS as `jitflow codeowners` writes it for the PR's files."""
    done = subprocess.run([sys.executable, "-m", "jitflow", "codeowners"], cwd=pr.repo.path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_no_request_changed_exits_zero(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr: Pr = make_pr()
    _edit(pr, "policies/analytics-raw.yaml", "max_duration: 4h", "max_duration: 3h")
    _codeowners(pr)
    pr.repo.commit("policy only")
    pr.push()
    result = pr.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no file under requests/ changed" in result.stdout
    assert "changes jitflow's configuration" in result.stdout
    assert pr.fake.comments(pr.number) == []


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("policies/analytics-raw.yaml", "max_duration: 4h", "max_duration: soon",
     "file=policies/analytics-raw.yaml,line=7"),
    ("jitflow.yaml", '"444455556666":', '"444455556667":',
     "file=policies/ml-models.yaml,line=3,col=1::account 444455556666 is not among"),
    ("jitflow.yaml", "default_branch: main", "default_branch: trunk", ""),
    ("policies/analytics-raw.yaml", '"erin"]', '"frank"]',
     "file=.github/CODEOWNERS,line=1::.github/CODEOWNERS is out of date"),
])
def test_a_configuration_pull_request_is_judged_as_validate_would(  # type: ignore[no-untyped-def]
        make_pr, name: str, old: str, new: str, says: str) -> None:
    pr: Pr = make_pr()
    _codeowners(pr)
    pr.repo.commit("CODEOWNERS")
    _edit(pr, name, old, new)
    pr.repo.commit("configuration")
    pr.push()
    result = pr.run()
    assert result.returncode == (1 if says else 0), result.stdout + result.stderr
    assert says in result.stdout
    assert "jitflow check: " + ("failed: 1 problem(s)" if says else "no request changed") \
        in result.stderr


def test_missing_base_is_a_usage_error(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "jitflow", "check", "--repo", str(repo.path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--base" in done.stderr


# -- the audit branch: the log's facts and the team snapshot ------------------------------------

SNAPSHOT_AT = "2026-11-30T08:00:00Z"


def snapshot(teams: dict[str, list[str]]) -> str:
    return json.dumps({"version": 1, "taken_at": SNAPSHOT_AT, "by": "revoke run 7",
                       "teams": teams})


def test_team_approvals_are_counted_from_the_snapshot_on_the_audit_branch(make_pr) -> None:  # type: ignore[no-untyped-def]
    """The check holds no token that can read teams: membership comes from the snapshot
    jitflow apply and revoke keep on the audit branch (here pete is a member there, though
    GitHub still lists him as pending), and the report says as of when."""
    pr = with_request(make_pr)
    pr.repo.on_audit_branch({"teams.json": snapshot({"acme/data-platform": ["pete"]})})
    pr.fake.add_review(pr.number, "pete", "APPROVED")
    result = pr.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "approvals: 1 of 1" in result.stdout
    note = f"team membership as of {SNAPSHOT_AT}, from the snapshot jitflow apply and revoke " \
           "keep on jitflow-audit; jitflow apply verifies every approval live again"
    assert note in result.stdout
    assert note in pr.summary.read_text()
    assert not [s for s in pr.fake.served if s.template and "/teams/" in s.template]


def test_a_team_missing_from_the_snapshot_counts_no_approval(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.repo.on_audit_branch({"teams.json": snapshot({"acme/ml-leads": ["dora"]})})
    pr.fake.add_review(pr.number, "dora", "APPROVED")  # active in GitHub's @acme/data-platform
    result = pr.run()
    assert result.returncode == 1
    assert "approvals: 0 of 1" in result.stdout


def test_an_unreadable_snapshot_counts_no_team_approval(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.repo.on_audit_branch({"teams.json": '{"version": 1, "teams": "everyone"}'})
    pr.fake.add_review(pr.number, "dora", "APPROVED")
    result = pr.run()
    assert result.returncode == 1
    assert "not a team-membership snapshot jitflow wrote" in result.stdout
    assert "no team approval is counted" in result.stdout


def test_without_a_snapshot_yet_the_check_says_how_it_looked_teams_up(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    pr.repo.on_audit_branch({"audit/2026-11.jsonl": ""})
    pr.fake.add_review(pr.number, "dora", "APPROVED")
    result = pr.run()
    assert result.returncode == 0, result.stdout
    assert "no team snapshot on jitflow-audit yet" in result.stdout


def test_a_request_id_recorded_only_on_the_audit_branch_is_never_reused(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    record = {"seq": 1, "event": "granted", "request": "analytics-raw/alice-new-backfill"}
    pr.repo.on_audit_branch({"audit/2026-11.jsonl": json.dumps(record) + "\n"})
    result = pr.run()
    assert result.returncode == 1
    assert "was already used (the audit log records it)" in result.stdout


def test_the_bucket_policy_budget_comes_from_the_audit_branch(make_pr) -> None:  # type: ignore[no-untyped-def]
    pr = with_request(make_pr)
    record = {"seq": 1, "event": "granted", "request": "analytics-raw/earlier",
              "time": "2026-11-29T10:00:00Z",
              "buckets": [{"bucket": "analytics-raw", "policy_bytes": 20_300}]}
    pr.repo.on_audit_branch({"audit/2026-11.jsonl": json.dumps(record) + "\n"})
    result = pr.run()
    assert result.returncode == 1
    assert "over S3's limit of 20,480" in result.stdout
