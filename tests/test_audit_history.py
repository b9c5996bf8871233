"""The audit log across git history (jitflow.audit.history over jitflow.gitcmd.DirectoryHistory):
every commit may only append to it, a repair may change only what was added since the log
last verified; through `jitflow audit verify` (the real entry point) and on any ref."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jitflow.audit import chain
from jitflow.audit.history import HistoryReport, check_history
from jitflow.audit.store import AuditLog
from jitflow.cli import main
from jitflow.gitcmd import DirectoryHistory, Git
from testing.audit_repo import T0, AuditRepo


@pytest.fixture
def repo(tmp_path: Path) -> AuditRepo:
    """Three commits of one record each, then one that starts November's file."""
    repo = AuditRepo(tmp_path / "repo")
    for index in range(3):
        repo.record()
        repo.commit(f"record {index + 1}")
    repo.record(hours=24)  # 2026-11-03: a new month file
    repo.commit("record 4")
    return repo


def history(repo: AuditRepo, ref: str = "HEAD", worktree: bool = False) -> HistoryReport:
    with DirectoryHistory(Git(repo.path), ref, "audit") as source:
        return check_history(source, worktree=worktree)


def verify(repo: AuditRepo, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["audit", "verify", str(repo.audit)])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_append_only_history_passes(repo: AuditRepo,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    report = history(repo)
    assert (report.commits, report.problems, report.notes) == (4, [], [])
    repo.record()  # appended in the working tree, not committed yet: still only appended
    code, out, err = verify(repo, capsys)
    assert code == 0, err
    assert "history of audit/ on HEAD and in the working tree: 4 commits, each only " \
           "appended" in out


def test_a_commit_that_cuts_the_tail_is_reported_with_its_file_and_line(
    repo: AuditRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.cut()
    sha = repo.commit("tidy the log")
    assert AuditLog(repo.audit).verify() == []  # the chain alone cannot see it
    [problem] = history(repo).problems
    assert (problem.path, problem.line) == ("audit/2026-11.jsonl", 1)
    assert problem.message.startswith(f'commit {sha[:7]} (') and '"tidy the log")' in \
        problem.message
    assert "cut 1 line off the end, from line 1 (seq 4)" in problem.message
    code, out, err = verify(repo, capsys)
    assert code == 1 and out == ""
    assert "audit/2026-11.jsonl:1: commit" in err and "may only be appended to" in err
    assert "jitflow: error: history of audit/ on HEAD and in the working tree: rewritten" in err


def test_an_edit_with_recomputed_hashes_then_appends_is_reported_at_the_rewrite(
    repo: AuditRepo,
) -> None:
    repo.rewrite(2, request="lake/someone-else")
    rewritten = repo.commit("rewrite")
    for index in range(2):  # the history goes on on top of the rewrite
        repo.record()
        repo.commit(f"later {index}")
    assert AuditLog(repo.audit).verify() == []  # a chain that verifies again
    # Each file the rewrite changed (the hashes after record 2 run into November's file).
    october, november = history(repo).problems
    assert (october.path, october.line) == ("audit/2026-10.jsonl", 2)
    assert f"commit {rewritten[:7]}" in october.message
    assert "changed line 2 (seq 2)" in october.message
    assert (november.path, november.line) == ("audit/2026-11.jsonl", 1)
    assert f"commit {rewritten[:7]}" in november.message


def test_a_removed_month_file_is_reported(repo: AuditRepo) -> None:
    (repo.audit / "2026-11.jsonl").unlink()
    repo.commit("drop November")
    [problem] = history(repo).problems
    assert problem.path == "audit/2026-11.jsonl" and "deleted the file" in problem.message


def test_an_uncommitted_truncation_is_reported(repo: AuditRepo,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo.cut()
    assert history(repo).problems == []  # the commits are fine...
    [problem] = history(repo, worktree=True).problems  # ...the working tree is not
    assert problem.message.startswith("the working tree (not committed) cut 1 line")
    code, _out, err = verify(repo, capsys)
    assert code == 1 and "the working tree (not committed) cut 1 line" in err


def test_a_repair_after_a_forged_line_is_a_note(repo: AuditRepo,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The flow of docs/setup.md, "A broken audit log": a forged line pushed, revoke's marked
    segment, the month file restored from git history, `jitflow audit repair`."""
    good = repo.git("rev-parse", "HEAD")
    november = repo.audit / "2026-11.jsonl"
    last = AuditLog(repo.audit).records()[-1]
    forged = chain.next_record(last, at=T0.replace(month=11, day=5), event="granted",
                               details={"request": "lake/forged"})
    forged["approvers"] = ["mallory"]  # after hashing: the chain breaks here
    november.write_text(november.read_text() + chain.dumps(forged) + "\n")
    repo.commit("a forged grant")
    AuditLog(repo.audit).for_removals().append_unless(
        "expired", {"request": "lake/r1"}, T0.replace(month=11, day=6), lambda _: False)
    repo.commit("jitflow revoke: recorded apart, in a marked segment")
    repo.git("checkout", good, "--", "audit/2026-11.jsonl")
    assert main(["audit", "repair", str(repo.audit)]) == 0
    repaired = repo.commit("repair the audit log")
    capsys.readouterr()

    report = history(repo)
    assert report.problems == []
    assert report.notes and all(note.startswith(f"commit {repaired[:7]} (")
                                for note in report.notes)
    assert any("rewrote audit/2026-11.jsonl while the log did not verify" in note
               for note in report.notes)
    assert any("deleted audit/segment-1.jsonl while the log did not verify" in note
               for note in report.notes)
    code, out, err = verify(repo, capsys)
    assert code == 0, err
    assert "note: commit" in out and ": a repair" in out


def test_a_repair_may_not_touch_what_the_log_held_when_it_last_verified(
    repo: AuditRepo,
) -> None:
    november = repo.audit / "2026-11.jsonl"
    november.write_text(november.read_text() + "not a record\n")  # the log stops verifying
    repo.commit("garbage")
    repo.git("checkout", "HEAD~1", "--", "audit/2026-11.jsonl")
    repo.rewrite(1, request="lake/other")  # and, under cover of the repair, record 1
    sha = repo.commit("repair, and more")
    problem = history(repo).problems[0]
    assert problem.path == "audit/2026-10.jsonl" and f"commit {sha[:7]}" in problem.message
    assert "changed line 1 (seq 1)" in problem.message


def test_a_rewrite_undone_by_a_later_commit_is_a_note(repo: AuditRepo) -> None:
    good = repo.git("rev-parse", "HEAD")
    october = repo.audit / "2026-10.jsonl"
    october.write_text(october.read_text().replace("lake/r2", "lake/rX"))
    edited = repo.commit("edit a record")
    assert len(history(repo).problems) == 1
    repo.git("checkout", good, "--", "audit/2026-10.jsonl")
    repo.commit("put it back")
    report = history(repo)
    assert report.problems == []
    [note] = report.notes
    assert "restored audit/2026-10.jsonl" in note and f"commit {edited[:7]}" in note
    assert "had changed line 2 (seq 2)" in note


def test_only_the_first_parent_line_counts_and_a_merge_is_judged_as_one_change(
    repo: AuditRepo,
) -> None:
    repo.git("checkout", "--quiet", "-b", "side")
    repo.record()
    repo.commit("side: one more record")
    repo.git("checkout", "--quiet", "main")
    repo.git("merge", "--quiet", "--no-ff", "-m", "merge side", "side")
    assert history(repo).problems == []
    repo.git("checkout", "--quiet", "-b", "rewriter")
    repo.rewrite(1, request="lake/other")
    repo.commit("rewriter: rewrite")
    repo.git("checkout", "--quiet", "main")
    repo.git("merge", "--quiet", "--no-ff", "-m", "merge rewriter", "rewriter")
    problems = history(repo).problems
    assert problems and all('"merge rewriter"' in p.message for p in problems)


def test_the_check_runs_on_any_ref(repo: AuditRepo) -> None:
    """Another branch than the one checked out (the audit log's own branch, say)."""
    repo.git("checkout", "--quiet", "-b", "jitflow-audit")
    repo.cut()
    repo.commit("cut on the audit branch")
    repo.git("checkout", "--quiet", "main")
    assert history(repo).problems == []
    [problem] = history(repo, "jitflow-audit").problems
    assert '"cut on the audit branch"' in problem.message
    assert history(repo, "jitflow-audit").summary().startswith(
        "history of audit/ on jitflow-audit: rewritten")


def test_hostile_file_names_in_the_audit_directory(repo: AuditRepo) -> None:
    for name in ("with space.jsonl", "new\nline.jsonl", "-rf.jsonl", "ünï.jsonl"):
        (repo.audit / name).write_text("x\n")
        repo.commit(f"add {name!r}")
        (repo.audit / name).write_text("x\ny\n")
        repo.commit(f"append to {name!r}")
    assert history(repo).problems == []
    (repo.audit / "new\nline.jsonl").write_text("y\n")
    repo.commit("rewrite a stray file")
    # The log did not verify (stray files are outside the chain), so this is a repair.
    report = history(repo)
    assert report.problems == [] and "audit/new\nline.jsonl" in report.notes[0]


def test_a_shallow_clone_says_where_its_history_starts(repo: AuditRepo,
                                                       tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "2", f"file://{repo.path}",
                    str(clone)], check=True, capture_output=True)
    with DirectoryHistory(Git(clone), "HEAD", "audit") as source:
        report = check_history(source)
    assert report.shallow and report.problems == []
    assert "(a shallow clone: from its first commit only)" in report.summary()


def test_a_new_repository_has_no_history_to_check(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    repo = AuditRepo(tmp_path / "repo")
    repo.record()
    assert main(["audit", "verify", str(repo.audit)]) == 0
    assert f"history check skipped: the git repository at {repo.path} has no commit yet" in \
        capsys.readouterr().out


@pytest.fixture
def git_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every process started (git's, here), by its command line."""
    started: list[list[str]] = []
    original: Any = subprocess.Popen.__init__

    def counting(self: subprocess.Popen[bytes], args: list[str], *rest: Any,
                 **kwargs: Any) -> None:
        started.append(list(args))
        original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", counting)
    yield started


def test_the_walk_is_one_git_log_pass_whatever_the_length_of_the_history(
    tmp_path: Path, git_processes: list[list[str]]
) -> None:
    counts = []
    for length in (3, 30):
        repo = AuditRepo(tmp_path / f"repo-{length}")
        for index in range(length):
            repo.record()
            repo.commit(f"record {index}")
        git_processes.clear()
        assert history(repo).commits == length
        counts.append(len(git_processes))
    assert counts[0] == counts[1] == 4  # rev-parse, log, cat-file --batch, is-shallow
