"""`jitflow init`: the scaffolded repository passes its own checks (validate, codeowners
--check, zizmor offline, the workflow schema: each run as a subprocess through its real entry
point); it is written whole or not at all; every placeholder is filled with a checked value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pre_commit.clientlib import load_config

from jitflow.cli import main
from jitflow.commands import init
from jitflow.commands.init import built_from
from jitflow.errors import ConfigError, UsageError
from jitflow.newrepo import PLACEHOLDER, REQUIRED, RepoValues, fill, render
from testing.check_repo import GIT_ENV

BIN = Path(sys.executable).parent
SHA = "0123456789abcdef0123456789abcdef01234567"
ARGS = ("--org", "acme", "--account", "111122223333", "--jitflow-sha", SHA)


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZIZMOR_OFFLINE": "1"}
    env.pop("GITHUB_TOKEN", None)
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False, env=env)


def jitflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "jitflow"), *args, cwd=cwd)


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("init")
    done = jitflow("init", "access", *ARGS, "--default-branch", "trunk", "--region",
                   "eu-west-1", cwd=parent)
    assert done.returncode == 0, done.stderr
    return parent / "access"


def test_init_writes_the_access_repository(scaffolded: Path) -> None:
    assert files_under(scaffolded) == sorted([*REQUIRED, ".github/CODEOWNERS",
                                              ".github/pull_request_template.md",
                                              "policies/example.yaml"])


def test_the_result_passes_validate_and_codeowners(scaffolded: Path) -> None:
    validate = jitflow("validate", "requests/", cwd=scaffolded)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "0 request file(s) checked: all valid" in validate.stderr
    codeowners = jitflow("codeowners", "--check", cwd=scaffolded)
    assert codeowners.returncode == 0, codeowners.stdout + codeowners.stderr


def test_the_workflows_pass_zizmor_and_the_workflow_schema(scaffolded: Path) -> None:
    workflows = sorted(str(p) for p in (scaffolded / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) == 3
    zizmor = run(str(BIN / "zizmor"), "--offline", "--no-progress", "--strict-collection",
                 ".github/workflows", cwd=scaffolded)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    schema = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 *workflows, cwd=scaffolded)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_every_placeholder_is_filled(scaffolded: Path) -> None:
    for name in files_under(scaffolded):
        text = (scaffolded / name).read_text()
        assert PLACEHOLDER.findall(text) == [], name
    for name in ("check", "apply", "revoke"):
        assert f"@{SHA}" in (scaffolded / f".github/workflows/jitflow-{name}.yml").read_text()
    settings = (scaffolded / "jitflow.yaml").read_text()
    assert '"111122223333": {}' in settings and "default_branch: trunk" in settings
    assert "region: eu-west-1" in settings and '["@acme/jitflow-admins"]' in settings


def test_the_pre_commit_config_is_valid_and_uses_the_hooks(scaffolded: Path) -> None:
    config = load_config(str(scaffolded / ".pre-commit-config.yaml"))
    [repo] = config["repos"]
    assert repo["rev"] == SHA
    assert [hook["id"] for hook in repo["hooks"]] == ["jitflow-validate", "jitflow-codeowners"]


def test_a_changed_default_branch_would_be_caught(scaffolded: Path, tmp_path: Path) -> None:
    # validate compares the apply workflow's branch with jitflow.yaml: init kept them equal.
    settings = (scaffolded / "jitflow.yaml").read_text()
    copy = tmp_path / "copy"
    done = jitflow("init", str(copy), *ARGS, "--default-branch", "trunk", cwd=tmp_path)
    assert done.returncode == 0
    (copy / "jitflow.yaml").write_text(settings.replace("default_branch: trunk",
                                                        "default_branch: main"))
    assert "on.push.branches is ['trunk']" in jitflow("validate", "requests", cwd=copy).stdout


# --- all or nothing --------------------------------------------------------------------------


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "access"
    target.mkdir()
    (target / "README.md").write_text("mine\n")
    done = jitflow("init", "access", *ARGS, cwd=tmp_path)
    assert done.returncode == 2
    assert "is not empty (README.md)" in done.stderr
    assert files_under(target) == ["README.md"]


def test_a_fresh_clone_holding_only_git_is_filled(tmp_path: Path) -> None:
    target = tmp_path / "access"
    target.mkdir()
    subprocess.run(["git", "init", "-q", str(target)], check=True, env={**os.environ, **GIT_ENV})
    done = jitflow("init", str(target), *ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (target / "jitflow.yaml").is_file() and (target / ".git").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["access"]  # no staging folder left


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--account", "12345", "account '12345' is not a 12-digit AWS account id"),
    ("--jitflow-sha", "main", "jitflow_sha 'main' is not a full 40-character commit id"),
    ("--default-branch", "yes", "would not read back as text in YAML"),
    ("--default-branch", "main\nevil: 1", "default_branch 'main\\nevil: 1' is not a branch"),
    ("--region", "mars", "region 'mars' is not an AWS region"),
    ("--admin", "@acme/", "admins: '@acme/' is neither a GitHub login nor an @org/team"),
    ("--bucket", "Upper_Case", "bucket 'Upper_Case' is not an S3 bucket name"),
])
def test_a_bad_value_is_refused_before_anything_is_written(tmp_path: Path, option: str,
                                                           value: str, says: str) -> None:
    args = dict(zip(ARGS[::2], ARGS[1::2], strict=True)) | {option: value}
    done = jitflow("init", "access", *(x for pair in args.items() for x in pair), cwd=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_failed_move_leaves_nothing_behind(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "access"
    (target / ".git").mkdir(parents=True)
    real_rename = Path.rename
    calls = []

    def failing_rename(self: Path, destination: Path) -> Path:
        calls.append(self.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing_rename)
    assert main(["init", str(target), *ARGS]) == 1
    assert len(calls) == 3
    assert [p.name for p in target.iterdir()] == [".git"]
    assert [p.name for p in tmp_path.iterdir()] == ["access"]


# --- the jitflow commit the workflows call --------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def test_the_jitflow_commit_comes_from_a_stamp_or_a_clean_checkout(tmp_path: Path) -> None:
    source = tmp_path / "src"
    package = source / "jitflow"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text("[project]\nname = 'jitflow'\n")
    (package / "cli.py").write_text("")
    assert built_from(package) is None  # no stamp, no git
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "x")
    assert built_from(package) == git(source, "rev-parse", "HEAD")
    (package / "cli.py").write_text("changed = True\n")
    assert built_from(package) is None  # no commit holds this code
    (package / "BUILD_COMMIT").write_text(SHA + "\n")
    assert built_from(package) == SHA
    (package / "BUILD_COMMIT").write_text("main\n")
    assert built_from(package) is None


def test_a_package_installed_inside_another_clean_repository_has_no_commit(
        tmp_path: Path) -> None:
    package = tmp_path / "venv" / "site-packages" / "jitflow"
    package.mkdir(parents=True)
    (package.parent / "pyproject.toml").write_text("")
    (package / "cli.py").write_text("")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "x")
    assert built_from(package) is None  # that repository's HEAD is not jitflow's commit


def test_without_a_known_commit_init_asks_for_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(init, "built_from", lambda _package: None)
    assert main(["init", str(tmp_path / "access"), "--org", "acme", "--account",
                 "111122223333"]) == 2
    assert "pass --jitflow-sha SHA" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- the templating --------------------------------------------------------------------------


def test_fill_replaces_placeholders_and_leaves_workflow_expressions_alone() -> None:
    text = "a: {org}\nb: ${{ github.x }}\nc: {}\nd: {{org}}\ne: {Org}\n"
    assert fill(text, {"org": "acme"}, "f") == \
        "a: acme\nb: ${{ github.x }}\nc: {}\nd: {{org}}\ne: {Org}\n"


def test_fill_refuses_a_placeholder_without_a_value() -> None:
    with pytest.raises(ConfigError, match=r"scaffold file f: unknown placeholder\(s\) \{nope\}"):
        fill("{org} {nope}", {"org": "acme"}, "f")


def test_render_refuses_an_incomplete_scaffold_or_a_templated_codeowners() -> None:
    values = RepoValues(org="acme", repo="access", account="111122223333", jitflow_sha=SHA)
    with pytest.raises(ConfigError, match="the scaffold lacks"):
        render({"jitflow.yaml": ""}, values)
    full = dict.fromkeys(REQUIRED, "") | {".github/CODEOWNERS": "* @x\n"}
    with pytest.raises(ConfigError, match=r"must not hold \.github/CODEOWNERS"):
        render(full, values)


def test_values_are_checked_before_any_is_used() -> None:
    bad = RepoValues(org="-acme", repo="..", account="1", jitflow_sha=SHA)
    with pytest.raises(UsageError) as caught:
        bad.placeholders()
    message = caught.value.message
    assert "org '-acme'" in message and "repo '..'" in message and "account '1'" in message
