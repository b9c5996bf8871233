"""jitflow as an installable tool: the demo's example repository in sync, and the demo's
refusal without its extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing.foundation import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import sync_demo_repo

EXAMPLE = "jitflow/sandbox/example_repo"
EXTRA = "pip install 'jitflow[demo]'"


# ------------------------------------------------------------------ the example repository


def test_the_demo_repository_copy_is_in_sync() -> None:
    expected, copied = sync_demo_repo.expected_files(), sync_demo_repo.copied_files()
    stale = sorted(p for p in expected.keys() | copied.keys() if expected.get(p) != copied.get(p))
    assert stale == [], (
        f"{EXAMPLE}/ differs from the repository's own files in {stale}: edit the originals, "
        f"then run {sync_demo_repo.COMMAND}"
    )


def test_the_sync_copies_what_its_globs_match_and_only_that(tmp_path: Path) -> None:
    root, out = tmp_path / "repo", tmp_path / "copy"
    files = {
        "jitflow.yaml": "x", "policies/a.yaml": "a", "policies/notes.txt": "no",
        "requests/README.md": "r", "requests/a/req.yaml": "no", ".github/CODEOWNERS": "c",
        ".github/workflows/jitflow-check.yml": "w", ".github/workflows/reusable-new.yml": "n",
        ".github/workflows/ci.yml": "no", ".github/scripts/push-audit.sh": "s",
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "gone.yaml").write_text("left from an earlier sync")

    assert sync_demo_repo.sync(root, out) == 7
    assert sync_demo_repo.copied_files(out) == {
        p: t.encode() for p, t in files.items() if t != "no"}


def test_the_sync_refuses_a_glob_that_matches_nothing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"jitflow\.yaml: matches no file"):
        sync_demo_repo.expected_files(tmp_path)


# ------------------------------------------------------------------ the demo extra


def test_without_moto_the_demo_names_the_extra_and_exits_non_zero(tmp_path: Path) -> None:
    """The real entry point in a fresh interpreter where moto cannot be imported at all."""
    hidden = tmp_path / "hide" / "moto"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("moto is hidden by the test")\n')
    env = {**clean_env(), "PYTHONPATH": os.pathsep.join([str(hidden.parent), str(ROOT)])}
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run([sys.executable, "-m", "jitflow", "demo"], cwd=empty, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert EXTRA in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# ------------------------------------------------------------------ helpers


def clean_env() -> dict[str, str]:
    """This environment without what would aim a subprocess at the checkout or this venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", check=False, timeout=timeout)
