"""Where the audit log lives (`jitflow.auditrepo`), against real git repositories.

The log has a branch of its own, never the default branch: a checkout of it is where apply and
revoke write; a clone holding it reads it through git (a fresh clone verifies it); a repository
without one keeps the working tree's audit directory.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jitflow.audit import chain
from jitflow.auditrepo import AuditRepo, locate
from jitflow.errors import ConfigError, UsageError
from jitflow.model import Settings
from jitflow.settings import load_settings
from jitflow.tree import FsTree
from testing.check_repo import run_git

SETTINGS = Settings(admins=("erin",), accounts={"111122223333": None})
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def log_lines(count: int, *, forge_line: int | None = None) -> str:
    """`count` chained records; `forge_line` (1-based) edited after hashing."""
    lines, last = [], None
    for n in range(count):
        last = chain.next_record(last, at=T0, event="granted", details={"request": f"p/r{n}"})
        shown = {**last, "request": "p/forged"} if forge_line == n + 1 else last
        lines.append(chain.dumps(shown))
    return "\n".join(lines) + "\n"


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    run_git(repo, "add", "--all")
    run_git(repo, "commit", "--quiet", "-m", message)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare origin: main holds a stale audit directory; the audit branch holds the log."""
    bare = tmp_path / "origin.git"
    run_git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    run_git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    run_git(seed, "checkout", "--quiet", "-b", "main")
    commit(seed, {"jitflow.yaml": 'admins: [erin]\naccounts:\n  "111122223333": {}\n',
                  "audit/2026-10.jsonl": "stale: the log before it moved\n"}, "main")
    run_git(seed, "push", "--quiet", "origin", "main")
    run_git(seed, "checkout", "--quiet", "--orphan", "jitflow-audit")
    run_git(seed, "rm", "-r", "--quiet", "-f", ".")
    commit(seed, {"audit/2026-11.jsonl": log_lines(3), "teams.json": "{}"}, "records")
    run_git(seed, "push", "--quiet", "origin", "jitflow-audit")
    return bare


def clone(origin: Path, where: Path) -> Path:
    run_git(origin.parent, "clone", "--quiet", str(origin), str(where))
    return where


def test_settings_refuse_the_default_branch_as_the_audit_branch(tmp_path: Path) -> None:
    for branch in ("main", "refs/heads/main"):
        (tmp_path / "jitflow.yaml").write_text(
            f'admins: [erin]\naccounts:\n  "111122223333": {{}}\naudit_branch: {branch}\n')
        with pytest.raises(ConfigError, match="is the default branch"):
            load_settings(FsTree(tmp_path))
    (tmp_path / "jitflow.yaml").write_text(
        'admins: [erin]\naccounts:\n  "111122223333": {}\ndefault_branch: trunk\n'
        "audit_branch: main\n")
    assert load_settings(FsTree(tmp_path)).audit_branch == "main"  # not trunk's name


def test_without_an_audit_branch_the_log_is_the_working_trees(tmp_path: Path) -> None:
    found = locate(tmp_path, SETTINGS, None, write=True)
    assert (found.kind, found.directory) == ("tree", tmp_path / "audit")
    assert found.snapshot_path is None  # the snapshot lives only on the audit branch


def test_a_clone_reads_the_branch_through_git_and_never_writes_it(
    origin: Path, tmp_path: Path
) -> None:
    work = clone(origin, tmp_path / "work")
    found = locate(work, SETTINGS, None, write=False)
    assert (found.kind, found.ref) == ("ref", "refs/remotes/origin/jitflow-audit")
    assert b"".join(found.log_texts()) == log_lines(3).encode()  # not main's stale file
    assert found.read_snapshot() == b"{}"
    with found.files() as directory:
        copy = directory
        assert sorted(p.name for p in directory.iterdir()) == ["2026-11.jsonl"]
    assert not copy.exists()  # the temporary copy is gone
    with pytest.raises(ConfigError, match="give a checkout of it with --audit-repo DIR"):
        locate(work, SETTINGS, None, write=True)
    with pytest.raises(UsageError, match="read only"):
        _ = found.directory


def test_a_local_audit_branch_counts_when_origin_has_none(tmp_path: Path) -> None:
    run_git(tmp_path, "init", "--quiet", "--initial-branch=jitflow-audit")
    commit(tmp_path, {"audit/2026-11.jsonl": log_lines(1)}, "records")
    run_git(tmp_path, "checkout", "--quiet", "--orphan", "main")
    assert locate(tmp_path, SETTINGS, None, write=False).ref == "refs/heads/jitflow-audit"


def test_a_clone_with_the_audit_branch_checked_out_is_its_checkout(
    origin: Path, tmp_path: Path
) -> None:
    """Where an admin repairs the log: the working tree's files, not origin's."""
    work = clone(origin, tmp_path / "work")
    run_git(work, "switch", "--quiet", "jitflow-audit")
    found = locate(work / "audit", SETTINGS, None, write=True)
    assert (found.kind, found.root) == ("checkout", work)
    (work / "audit" / "2026-11.jsonl").write_text(log_lines(3, forge_line=3))
    done = _verify(work, "verify")
    assert done.returncode == 1
    assert "audit/2026-11.jsonl:3:" in done.stderr and "origin/" not in done.stderr


def test_a_missing_checkout_is_made_from_origins_branch(origin: Path, tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    target = tmp_path / "runner-temp" / "jitflow-audit"
    found = locate(work, SETTINGS, target, write=True)
    assert found == AuditRepo("checkout", target, "audit")
    assert (target / "audit" / "2026-11.jsonl").read_text() == log_lines(3)
    assert run_git(target, "symbolic-ref", "--short", "HEAD").strip() == "jitflow-audit"
    assert run_git(target, "remote", "get-url", "origin").strip() == str(origin)
    assert found.history() == (target, "HEAD")
    # Given again (the next step of the same job), it is taken as it is.
    (target / "audit" / "2026-11.jsonl").write_text(log_lines(4))
    assert locate(work, SETTINGS, target, write=True).directory == target / "audit"
    assert (target / "audit" / "2026-11.jsonl").read_text() == log_lines(4)


def test_the_first_run_makes_an_orphan_checkout(tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    run_git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = clone(bare, tmp_path / "work")
    commit(work, {"jitflow.yaml": "x\n"}, "main")
    target = tmp_path / "audit-log"
    found = locate(work, SETTINGS, target, write=True)
    assert found.kind == "checkout" and found.history() is None  # no commit yet
    assert [p.name for p in target.iterdir()] == [".git"]
    assert run_git(target, "symbolic-ref", "--short", "HEAD").strip() == "jitflow-audit"
    assert found.commit([], "nothing") is None


def test_a_checkout_of_another_branch_is_refused(origin: Path, tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")  # main checked out
    with pytest.raises(ConfigError, match="has the branch main checked out, not the audit"):
        locate(tmp_path, SETTINGS, work, write=True)
    with pytest.raises(ConfigError, match="not the top of one"):
        locate(tmp_path, SETTINGS, work / "audit", write=True)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a git checkout of a branch"):
        locate(tmp_path, SETTINGS, tmp_path / "plain", write=True)
    with pytest.raises(UsageError, match="no checkout of the audit branch there"):
        locate(tmp_path, SETTINGS, tmp_path / "missing", write=False)


def _verify(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jitflow", "audit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_fresh_clone_verifies_the_log_on_its_branch(origin: Path, tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    done = _verify(work, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit chain intact: 3 records in 1 files" in done.stdout
    assert "history of audit/ on refs/remotes/origin/jitflow-audit: 1 commit" in done.stdout
    assert "audit log: origin/jitflow-audit (" in done.stderr
    shown = _verify(work, "show", "--format", "json")
    assert shown.returncode == 0 and shown.stdout.count('"request"') == 3


def test_a_broken_record_on_the_branch_is_named_on_the_branch(
    origin: Path, tmp_path: Path
) -> None:
    editor = clone(origin, tmp_path / "editor")
    run_git(editor, "checkout", "--quiet", "jitflow-audit")
    commit(editor, {"audit/2026-11.jsonl": log_lines(3, forge_line=2)}, "an edit")
    run_git(editor, "push", "--quiet", "origin", "jitflow-audit")
    done = _verify(clone(origin, tmp_path / "auditor"), "verify")
    assert done.returncode == 1
    assert "origin/jitflow-audit:audit/2026-11.jsonl:2:" in done.stderr
    assert "/tmp" not in done.stderr.replace(str(tmp_path), "")  # no temporary path shown


def test_a_rewrite_with_recomputed_hashes_on_the_branch_is_found_in_its_history(
    origin: Path, tmp_path: Path
) -> None:
    """The chain verifies after a rewrite whose hashes were recomputed; the history of the
    branch's ref (no working tree in a fresh clone) shows the commit that did it."""
    editor = clone(origin, tmp_path / "editor")
    run_git(editor, "checkout", "--quiet", "jitflow-audit")
    rewritten, last = [], None
    for n in range(3):
        last = chain.next_record(last, at=T0, event="granted", details={"request": f"p/x{n}"})
        rewritten.append(chain.dumps(last))
    commit(editor, {"audit/2026-11.jsonl": "\n".join(rewritten) + "\n"}, "a rewrite")
    run_git(editor, "push", "--quiet", "origin", "jitflow-audit")
    done = _verify(clone(origin, tmp_path / "auditor"), "verify")
    assert done.returncode == 1
    assert 'audit/2026-11.jsonl:1: commit ' in done.stderr
    assert '"a rewrite") changed line 1 (seq 1)' in done.stderr
    assert "history of audit/ on refs/remotes/origin/jitflow-audit: rewritten" in done.stderr


def test_repair_needs_a_checkout_of_the_branch(origin: Path, tmp_path: Path) -> None:
    work = clone(origin, tmp_path / "work")
    refused = _verify(work, "repair")
    assert refused.returncode == 1
    assert "give a checkout of it with --audit-repo DIR" in refused.stderr
    repaired = _verify(work, "repair", "--audit-repo", str(tmp_path / "audit-log"))
    assert repaired.returncode == 0, repaired.stderr
    assert "no marked segment" in repaired.stdout
