"""`.github/scripts/push-audit.sh` against real git repositories on disk.

The apply and revoke workflows push their audit commit with this script, from the audit
branch's own checkout (JITFLOW_AUDIT_REPO), with the job's GITHUB_TOKEN. These tests run it as
the workflows do against a bare origin holding `main` and the audit branch: a plain push, a
race with another push (rebase and retry), a rebase conflict (abort and fail loudly), the retry
bound, a refusal by a ruleset, the first push that creates the branch, a branch with an
unrelated history, and the token handling (through the environment only, never written into
.git/config). The origin refuses every update of `main`, as the default branch's ruleset
(no bypass) does: the push goes to the audit branch and never to main.
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
BRANCH = "jitflow-audit"  # the audit branch
MAIN = "main"
# The origin's stand-in for the default branch's ruleset: no update of main, by anyone.
RULESET_HOOK = f"""while read -r old new ref; do
  echo "$ref" >> "$GIT_DIR/updated-refs"
  if [ "$ref" = "refs/heads/{MAIN}" ]; then
    echo "error: GH013: Repository rule violations found for refs/heads/{MAIN}." >&2
    exit 1
  fi
done
"""


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
    """A bare origin (main, and the audit branch), the runner's audit-branch checkout, and
    another checkout of the audit branch that races it."""

    def __init__(self, root: Path, *, audit_branch_exists: bool = True) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.env = _base_env(self.home)
        self.origin = root / "origin.git"
        self.work = root / "work"
        self.other = root / "other"
        self.git(root, "init", "--quiet", "--bare", f"--initial-branch={MAIN}", str(self.origin))
        seed = root / "seed"
        self.git(root, "clone", "--quiet", str(self.origin), str(seed))
        self.git(seed, "checkout", "--quiet", "-b", MAIN)
        self.commit(seed, "policies/p.yaml", "description: p\n", "main: policies")
        self.git(seed, "push", "--quiet", "origin", f"HEAD:refs/heads/{MAIN}")
        if audit_branch_exists:
            self.git(seed, "checkout", "--quiet", "--orphan", BRANCH)
            self.git(seed, "rm", "-r", "--quiet", "--cached", ".")
            (seed / "policies" / "p.yaml").unlink()
            self.commit(seed, "audit/2026-11.jsonl", '{"seq": 1}\n', "seed")
            self.git(seed, "push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}")
            for clone in (self.work, self.other):
                self.git(root, "clone", "--quiet", "--branch", BRANCH, str(self.origin), str(clone))
        self.main_before = self.git(self.origin, "rev-parse", f"refs/heads/{MAIN}")
        self.hook("pre-receive", RULESET_HOOK)

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

    def main_untouched(self) -> bool:
        return self.git(self.origin, "rev-parse", f"refs/heads/{MAIN}") == self.main_before

    def updated_refs(self) -> list[str]:
        path = self.origin / "updated-refs"
        return path.read_text().split() if path.exists() else []


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def test_pushes_a_new_audit_commit_to_the_audit_branch_never_to_main(box: Sandbox) -> None:
    sha = box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: granted r1")
    result = box.push(GITHUB_REF_NAME=MAIN)  # the branch the workflow runs on: not the target
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == sha
    assert box.main_untouched()
    assert box.updated_refs() == [f"refs/heads/{BRANCH}"]


def test_a_push_aimed_at_main_is_refused_as_the_ruleset_refuses_it(box: Sandbox) -> None:
    """A checkout of main (as the workflows' checkout of the default branch is), committed to
    and pushed with the job's token: a fast-forward, which only the ruleset stops. Refused,
    loudly, not retried; main unchanged."""
    on_main = box.root / "on-main"
    box.git(box.root, "clone", "--quiet", "--branch", MAIN, str(box.origin), str(on_main))
    box.commit(on_main, "jitflow/evil.py", "print('run me with the AWS role')\n", "code")
    result = subprocess.run(["bash", str(SCRIPT)], cwd=on_main, env=box.env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "refused by branch protection or a ruleset" in result.stderr
    assert box.main_untouched()
    assert box.updated_refs() == [f"refs/heads/{MAIN}"]  # one attempt, no retry


def test_pushes_the_checkout_named_by_jitflow_audit_repo(box: Sandbox) -> None:
    """The workflows run the script from the workspace, naming the audit checkout."""
    sha = box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = subprocess.run(["bash", str(SCRIPT)], cwd=box.root, capture_output=True, text=True,
                            env={**box.env, "JITFLOW_AUDIT_REPO": str(box.work)}, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == sha


def test_no_audit_checkout_means_nothing_was_recorded(box: Sandbox) -> None:
    result = box.push(JITFLOW_AUDIT_REPO=str(box.root / "never-created"))
    assert result.returncode == 0, result.stderr
    assert "nothing was recorded, nothing to push" in result.stdout
    assert box.updated_refs() == []


def test_the_first_push_creates_the_audit_branch_as_an_orphan(tmp_path: Path) -> None:
    """The first run: the origin has no audit branch; jitflow made an orphan checkout
    (`git init --initial-branch=jitflow-audit`, remote origin); its first commit creates the
    branch, with no history of main."""
    box = Sandbox(tmp_path, audit_branch_exists=False)
    box.git(tmp_path, "init", "--quiet", f"--initial-branch={BRANCH}", str(box.work))
    box.git(box.work, "remote", "add", "origin", str(box.origin))
    empty = box.push()
    assert empty.returncode == 0, empty.stderr
    assert "has no commit yet" in empty.stdout
    sha = box.commit(box.work, "audit/2026-12.jsonl", '{"seq": 1}\n', "jitflow: first record")
    result = box.push()
    assert result.returncode == 0, result.stderr
    assert box.origin_head() == sha
    assert box.git(box.origin, "rev-list", "--count", BRANCH) == "1"  # a root commit
    assert box.git(box.origin, "ls-tree", "-r", "--name-only", BRANCH) == "audit/2026-12.jsonl"
    assert box.main_untouched()


def test_an_audit_branch_with_an_unrelated_history_is_refused(box: Sandbox) -> None:
    """Two first runs at once (or a replaced branch): never rebase one log onto another."""
    theirs = box.origin_head()
    mine = box.root / "mine"
    box.git(box.root, "init", "--quiet", f"--initial-branch={BRANCH}", str(mine))
    box.git(mine, "remote", "add", "origin", str(box.origin))
    box.commit(mine, "audit/2026-12.jsonl", '{"seq": 1}\n', "jitflow: a first record")
    result = subprocess.run(["bash", str(SCRIPT)], cwd=mine, env=box.env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "unrelated to this audit commit" in result.stderr
    assert box.origin_head() == theirs


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
        f'echo "error: GH006: Protected branch update failed for refs/heads/{BRANCH}." >&2\n'
        "exit 1\n",
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


def test_only_the_actions_token_pushes(box: Sandbox, tmp_path: Path) -> None:
    """No other token is read: the push-token secret of older versions is gone."""
    seen = tmp_path / "seen"
    path = _shim(
        tmp_path / "shim",
        f'[ "$1" = push ] && "{REAL_GIT}" config --get-all'
        f' http.https://github.com/.extraheader >> "{seen}"',
    )
    box.commit(box.work, "audit/2026-11.jsonl", '{"seq": 2}\n', "jitflow: apply")
    result = box.push(PATH=path, GITHUB_TOKEN="actions-token", JITFLOW_PUSH_TOKEN="bot-token",
                      JITFLOW_PUSH_TOKEN_SECRET="arn:aws:secretsmanager:us-east-1:1:secret:x")
    assert result.returncode == 0, result.stderr
    assert _basic("actions-token") in seen.read_text()
    assert _basic("bot-token") not in seen.read_text()
    assert "secretsmanager" not in SCRIPT.read_text()


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
