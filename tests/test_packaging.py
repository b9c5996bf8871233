"""jitflow as an installable tool: the demo's example repository in sync, the sdist and the wheel
hold what they should (and no test code), and the wheel, installed in a fresh venv, runs
`jitflow demo` from an empty directory.

The tests marked `installs` build with `python -m build` (an isolated build: setuptools from the
package index) and install from the index, through pip's cache; about a minute. They run in
./dev.sh test and CI; deselect them locally with `-m "not installs"`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from jitflow.schema import SCHEMAS
from testing.foundation import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import sync_demo_repo

EXAMPLE = "jitflow/sandbox/example_repo"
TEST_ONLY = ("tests/", "testing/", "bench/", "tools/")
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


# ------------------------------------------------------------------ the built distributions


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())

    def sdist_names(self) -> set[str]:
        """Paths inside the sdist, without its top folder (jitflow-<version>/)."""
        with tarfile.open(self.sdist) as archive:
            return {m.name.split("/", 1)[1] for m in archive.getmembers()
                    if m.isfile() and "/" in m.name}


def source_files() -> list[str]:
    """The checkout's files as git sees them (committed or not), without ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return sorted(p for p in listed.split("\0") if p and (ROOT / p).is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build` (the sdist, then the wheel from the sdist) over a copy of the checkout,
    so the build leaves nothing (build/, *.egg-info) in the working tree."""
    base = tmp_path_factory.mktemp("build")
    source, dist = base / "source", base / "dist"
    for relative in source_files():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, source / relative)
    done = run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], cwd=base,
               env=clean_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Built(next(dist.glob("jitflow-*.whl")), next(dist.glob("jitflow-*.tar.gz")))


def package_files() -> set[str]:
    """What the wheel must carry of the package: its modules, schemas and generated data, and
    the demo's example repository."""
    return {p for p in source_files() if p.startswith("jitflow/")
            and (p.endswith((".py", ".json", "py.typed")) or p.startswith(EXAMPLE + "/"))}


def documents() -> set[str]:
    return {"README.md"} | {p for p in source_files()
                            if p.startswith("docs/") and p.endswith(".md")}


@pytest.mark.installs
def test_the_wheel_holds_the_package_its_data_and_the_docs_and_no_test_code(
    built: Built,
) -> None:
    names = built.wheel_names()
    assert package_files() <= names, sorted(package_files() - names)
    assert {f"{EXAMPLE}/{p}" for p in sync_demo_repo.expected_files()} <= names
    scaffold = ROOT / "jitflow" / "scaffold"
    assert {p.relative_to(ROOT).as_posix() for p in scaffold.rglob("*") if p.is_file()} <= names
    assert "jitflow/scaffold/.github/workflows/jitflow-apply.yml" in names
    assert {f"jitflow/schemas/{s}.schema.json" for s in SCHEMAS} <= names
    docs = {n.split("/share/doc/jitflow/", 1)[1] for n in names if "/share/doc/jitflow/" in n}
    assert docs == documents()
    version = built.wheel.name.split("-")[1]
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"jitflow", f"jitflow-{version}.dist-info", f"jitflow-{version}.data"}, tops
    assert not [n for n in names if n.startswith(TEST_ONLY) or "/tests/" in n]


@pytest.mark.installs
def test_the_sdist_holds_what_builds_the_wheel_and_the_docs_and_no_tests(built: Built) -> None:
    names = built.sdist_names()
    assert package_files() | documents() | {"pyproject.toml"} <= names
    assert not [n for n in names if n.startswith(TEST_ONLY)], sorted(names)


# ------------------------------------------------------------------ installed, in a fresh venv


@pytest.mark.installs
def test_the_installed_wheel_runs_the_demo_from_an_empty_directory(
    built: Built, tmp_path: Path
) -> None:
    venv, empty = tmp_path / "venv", tmp_path / "empty"
    empty.mkdir()
    python, jitflow = venv / "bin" / "python", venv / "bin" / "jitflow"
    assert run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path).returncode == 0
    env = clean_env()

    # Without the extra: the demo names it, exits non-zero, and shows no traceback.
    pip(python, str(built.wheel), env)
    bare = run([str(jitflow), "demo"], cwd=empty, env=env)
    assert bare.returncode == 1, bare.stdout + bare.stderr
    assert EXTRA in bare.stderr and "Traceback" not in bare.stdout + bare.stderr

    pip(python, f"{built.wheel}[demo]", env)
    where = run([str(python), "-c", "import jitflow; print(jitflow.__file__)"], cwd=empty,
                env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the checkout
    done = run([str(jitflow), "demo"], cwd=empty, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "✔ Every step held" in done.stdout
    assert list(empty.iterdir()) == []  # the sandbox was a temporary directory of its own


# ------------------------------------------------------------------ helpers


def clean_env() -> dict[str, str]:
    """This environment without what would aim a subprocess at the checkout or this venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", check=False, timeout=timeout)


def pip(python: Path, requirement: str, env: dict[str, str]) -> None:
    """Install into the venv from the package index, through pip's cache."""
    done = run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                requirement], cwd=python.parent, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
