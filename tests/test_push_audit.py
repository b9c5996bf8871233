"""`.github/scripts/push-audit.sh` against real git repositories on disk.

The apply and revoke workflows push their audit commit with this script. These tests run it
as the workflows do (`bash .github/scripts/push-audit.sh` in the working clone) against a bare
origin: a plain push, a race with another push (rebase and retry), a rebase conflict (abort and
fail loudly), the retry bound, a refusal by branch protection, and the token handling (through
the environment only, never written into .git/config).
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".github" / "scripts" / "push-audit.sh"
BRANCH = "main"


REAL_GIT = shutil.which("git") or "git"


def _shim(directory: Path, before_git: str) -> str:
    """A `git` on PATH that runs a shell snippet, then the real git; returns the new PATH."""
    directory.mkdir()
    script = directory / "git"
    script.write_text(f'#!/bin/sh\n{before_git}\nexec "{REAL_GIT}" "$@"\n')
    script.chmod(0o755)
    return f"{directory}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def _base_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


class Sandbox:
    """A bare origin, the runner's working clone, and another clone that races it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.env = _base_env(self.home)
        self.origin = root / "origin.git"
        self.work = root / "work"
        self.other = root / "other"
        self.git(root, "init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(self.origin))
        self.git(root, "clone", "--quiet", str(self.origin), str(self.work))
        self.git(self.work, "checkout", "--quiet", "-b", BRANCH)
        self.commit(self.work, "audit/2026-11.jsonl", '{"seq": 1}\n', "seed")
        self.git(self.work, "push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}")
        self.git(self.work, "branch", "--quiet", f"--set-upstream-to=origin/{BRANCH}")
        self.git(root, "clone", "--quiet", str(self.origin), str(self.other))

    def git(self, cwd: Path, *args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def commit(self, repo: Path, name: str, content: str, message: str, append: bool = True) -> str:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if append and path.exists() else ""
        path.write_text(old + content)
        self.git(repo, "add", name)
        self.git(repo, "commit", "--quiet", "-m", message)
        return self.git(repo, "rev-parse", "HEAD")

    def race(self, name: str, content: str) -> str:
        """Another run pushes first."""
        self.git(self.other, "pull", "--quiet", "--ff-only", "origin", BRANCH)
        sha = self.commit(self.other, name, content, f"other: {name}")
        self.git(self.other, "push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}")
        return sha

    def origin_head(self) -> str:
        return self.git(self.origin, "rev-parse", f"refs/heads/{BRANCH}")

    def origin_log(self) -> list[str]:
        return self.git(self.origin, "log", "--format=%s", BRANCH).splitlines()

    def push(self, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra}
        return subprocess.run(
            ["bash", str(SCRIPT)],
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def hook(self, name: str, body: str) -> None:
        path = self.origin / "hooks" / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def test_pushes_a_new_audit_commit(box: Sandbox) -> None:
    sha = box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: granted r1")
    result = box.push()
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == sha


def test_nothing_to_push_is_success(box: Sandbox) -> None:
    result = box.push()
    assert result.returncode == 0, result.stderr


def test_behind_the_remote_without_own_commits_is_success(box: Sandbox) -> None:
    moved = box.race("audit/2026-12.jsonl", '{"seq": 2}\n')
    result = box.push()
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == moved


def test_race_with_another_push_rebases_and_retries(box: Sandbox) -> None:
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2, "run": "apply"}\n', "jitflow: apply")
    box.race("audit/2026-12.jsonl", '{"seq": 2, "run": "revoke"}\n')
    result = box.push()
    assert result.returncode == 0, result.stderr
    assert "rebasing" in result.stdout
    assert box.origin_log()[:2] == ["jitflow: apply", "other: audit/2026-12.jsonl"]
    # linear history: no merge commit
    assert box.git(box.origin, "rev-list", "--merges", BRANCH) == ""


def test_race_on_a_detached_head_with_an_explicit_branch(box: Sandbox) -> None:
    box.git(box.work, "checkout", "--quiet", "--detach")
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    box.race("audit/2026-12.jsonl", '{"seq": 2}\n')
    result = box.push(JITFLOW_PUSH_BRANCH=BRANCH)
    assert result.returncode == 0, result.stderr
    assert box.origin_log()[0] == "jitflow: apply"


def test_branch_comes_from_github_ref_name(box: Sandbox) -> None:
    box.git(box.work, "checkout", "--quiet", "--detach")
    sha = box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push(GITHUB_REF_NAME=BRANCH)
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == sha


def test_rebase_conflict_aborts_and_fails_loudly(box: Sandbox) -> None:
    mine = box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2, "run": "a"}\n', "jitflow: a")
    theirs = box.race("audit/2026-11.jsonl", '{"seq": 2, "run": "b"}\n')
    summary = box.root / "summary.md"
    result = box.push(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 1
    assert "rebase conflict" in result.stderr
    assert "::error title=jitflow audit push::rebase conflict" in result.stdout
    assert "a bug" in result.stderr
    assert "rebase conflict" in summary.read_text()
    # the rebase was aborted: the clone is back on its own commit, origin untouched
    git_dir = box.work / ".git"
    assert not (git_dir / "rebase-merge").exists()
    assert not (git_dir / "rebase-apply").exists()
    assert box.git(box.work, "rev-parse", "HEAD") == mine
    assert box.git(box.work, "status", "--porcelain") == ""
    assert box.origin_head() == theirs


def test_retries_are_bounded(box: Sandbox, tmp_path: Path) -> None:
    """Another writer pushes before each of our pushes: give up after N attempts."""
    counter = tmp_path / "pushes"
    counter.write_text("")
    path = _shim(
        tmp_path / "shim",
        'if [ "$1" = push ]; then\n'
        f'  echo x >> "{counter}"\n'
        f'  ( cd "{box.other}" && "{REAL_GIT}" pull -q --ff-only origin {BRANCH}'
        f' && echo "$$" >> race.txt && "{REAL_GIT}" add race.txt'
        f' && "{REAL_GIT}" commit -q -m race && "{REAL_GIT}" push -q origin HEAD:{BRANCH} )'
        " >/dev/null 2>&1\n"
        "fi",
    )
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push(PATH=path, JITFLOW_PUSH_ATTEMPTS="2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gave up after 2 attempts" in result.stderr
    assert len(counter.read_text().split()) == 2


def test_refusal_by_branch_protection_is_explained_not_retried(box: Sandbox) -> None:
    box.hook(
        "pre-receive",
        'echo "error: GH006: Protected branch update failed for refs/heads/main." >&2\nexit 1\n',
    )
    before = box.origin_head()
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push()
    assert result.returncode == 1
    assert "refused by branch protection" in result.stderr
    assert "docs/setup.md" in result.stderr
    assert box.origin_head() == before


def test_other_push_failures_fail_at_once(box: Sandbox) -> None:
    box.hook("pre-receive", 'echo "no, for another reason" >&2\nexit 1\n')
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push()
    assert result.returncode == 1
    assert "not a non-fast-forward" in result.stderr
    assert "rebasing" not in result.stdout


def test_uncommitted_changes_are_refused(box: Sandbox) -> None:
    (box.work / "audit" / "2026-11.jsonl").write_text("half a record")
    result = box.push()
    assert result.returncode == 1
    assert "uncommitted changes" in result.stderr


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def test_token_reaches_git_through_the_environment_only(box: Sandbox, tmp_path: Path) -> None:
    """The token is offered to git for the GitHub server URL only, never written to disk."""
    seen = tmp_path / "seen"
    path = _shim(
        tmp_path / "shim",
        f'[ "$1" = push ] && "{REAL_GIT}" config --get-all'
        f' http.https://github.example/.extraheader >> "{seen}"',
    )
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    token = "ghs_not-a-real-token"
    result = box.push(
        PATH=path,
        GITHUB_TOKEN=token,
        GITHUB_SERVER_URL="https://github.example",
        GITHUB_ACTIONS="true",
    )
    assert result.returncode == 0, result.stderr
    # an empty value (clearing inherited headers), then exactly our header
    assert seen.read_text().splitlines() == ["", f"AUTHORIZATION: basic {_basic(token)}"]
    assert f"::add-mask::{_basic(token)}" in result.stdout
    for file in (box.work / ".git").rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert token.encode() not in data, file
            assert _basic(token).encode() not in data, file


def test_push_token_overrides_github_token(box: Sandbox, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    path = _shim(
        tmp_path / "shim",
        f'[ "$1" = push ] && "{REAL_GIT}" config --get-all'
        f' http.https://github.com/.extraheader >> "{seen}"',
    )
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push(PATH=path, GITHUB_TOKEN="actions-token", JITFLOW_PUSH_TOKEN="bot-token")
    assert result.returncode == 0, result.stderr
    assert _basic("bot-token") in seen.read_text()
    assert _basic("actions-token") not in seen.read_text()


def test_rebase_works_without_any_git_identity(box: Sandbox) -> None:
    """A runner has no user.name/email: the rebase still gets a committer."""
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    box.race("audit/2026-12.jsonl", '{"seq": 2}\n')
    env = {k: v for k, v in box.env.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=box.work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert box.git(box.origin, "log", "-1", "--format=%an|%cn", BRANCH) == (
        "test|github-actions[bot]"
    )
