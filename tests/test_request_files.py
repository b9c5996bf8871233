"""Finding request files: `request_files` (sorted list) and `scan_request_files` (the same
files, streamed, with the list's first file), and `validate` holding none of them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitflow.cli import main
from jitflow.commands import support
from jitflow.commands.support import judge_files, request_files, scan_request_files
from jitflow.errors import UsageError
from testing.foundation import ROOT, dump, valid_request_data

TREE = [
    "requests/a.yaml", "requests/b.yml", "requests/c.YAML", "requests/.hidden.yaml",
    "requests/README.md", "requests/sub/d.yaml", "requests/sub/deep/e.yaml",
    "requests/sub/c/x.yaml",
    "requests/x.yaml/f.yaml", "requests/with space.yaml", "requests/new\nline.yaml",
    "requests/ünï.yml", "requests/0first/z.yaml", "requests/zz/a.yaml",
    "other/h.yaml", "other/requests/i.yaml", "other/deep/requests/more/j.yml",
    "top.yaml",
]


def make_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            path.write_text("x: 1\n")


def scanned(paths: list[Path]) -> tuple[Path | None, list[Path]]:
    first, files = scan_request_files(paths)
    return first, sorted(files)


def assert_same_as_the_list(paths: list[Path]) -> None:
    listed = request_files(paths)
    first, files = scanned(paths)
    assert files == sorted(listed)
    assert first == (listed[0] if listed else None)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_tree(root, TREE)
    (root / "requests" / "link-file.yaml").symlink_to(root / "top.yaml")
    (root / "requests" / "broken.yaml").symlink_to(root / "nowhere.yaml")
    (root / "requests" / "loop.yaml").symlink_to(root / "requests" / "loop.yaml")
    (root / "elsewhere" / "requests").mkdir(parents=True)
    (root / "elsewhere" / "requests" / "k.yaml").write_text("k: 1\n")
    (root / "requests" / "link-dir").symlink_to(root / "elsewhere" / "requests")
    (root / "other" / "link-requests").symlink_to(root / "elsewhere")
    return root


@pytest.mark.parametrize(
    "given",
    [
        ["."], ["requests"], ["other"], ["requests/sub"], ["requests/a.yaml", "other"],
        ["requests", "requests"], ["top.yaml"], ["other/h.yaml", "requests/zz"], ["elsewhere"],
    ],
)
def test_scan_finds_what_the_list_finds_and_its_first_file(tree: Path, given: list[str]) -> None:
    assert_same_as_the_list([tree / name for name in given])


def test_scan_first_file_is_the_first_in_sorted_order(tree: Path) -> None:
    first, _files = scan_request_files([tree / "requests"])
    assert first == tree / "requests" / ".hidden.yaml"  # "." sorts before "0first/"
    first, _files = scan_request_files([tree / "requests" / "zz", tree / "requests"])
    assert first == tree / "requests" / "zz" / "a.yaml"  # the first path's first file
    first, _files = scan_request_files([tree / "other"])
    assert first == tree / "other" / "deep" / "requests" / "more" / "j.yml"


def test_scan_of_a_folder_without_requests(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/b.yaml", "c.txt"])
    assert scanned([tmp_path]) == (None, [])
    assert_same_as_the_list([tmp_path])


def test_scan_checks_every_path_before_the_first_file(tree: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        scan_request_files([tree / "requests", tree / "missing"])


NAMES = st.sampled_from(["requests", "a", "b.yaml", "c.yml", "d.txt", ".e.yaml", "r", "Z.yaml"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(NAMES, min_size=1, max_size=4), min_size=1, max_size=12))
def test_scan_matches_the_list_on_any_tree(tmp_path_factory: pytest.TempPathFactory,
                                           tree_paths: list[list[str]]) -> None:
    root = tmp_path_factory.mktemp("tree")
    names = ["/".join(parts) for parts in tree_paths]
    # A name that is both a file and a folder: the first one created wins.
    for name in names:
        path = root / name
        if any(parent.is_file() for parent in path.parents if root in parent.parents):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("x\n")
    assert_same_as_the_list([root])
    assert_same_as_the_list([root / "requests"] if (root / "requests").is_dir() else [root])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    folder = tmp_path / "requests" / "analytics-raw"
    folder.mkdir(parents=True)
    for index in range(3):
        data = valid_request_data()
        if index == 1:
            data["duration"] = "9h"
        (folder / f"r{index}.yaml").write_bytes(dump(data))
    return tmp_path


def test_judge_files_without_keeping_valid_requests_finds_the_same_problems(repo: Path) -> None:
    files = request_files([repo / "requests"])
    _policies, valid, problems = judge_files(files, None)
    _policies, kept, same = judge_files(iter(files), None, keep_valid=False)
    assert len(valid) == 2 and kept == []
    assert same == problems and len(problems) == 1


def test_judge_files_looks_for_policies_from_the_first_file_given(repo: Path) -> None:
    with pytest.raises(UsageError, match="policies folder not found"):
        judge_files(request_files([repo / "requests"]), None, first=repo.parent / "x.yaml")


def test_validate_streams_the_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(support, "request_files", lambda _paths: pytest.fail("listed them all"))
    monkeypatch.chdir(repo)
    assert main(["validate", "requests"]) == 1
    captured = capsys.readouterr()
    assert "3 request file(s) checked: 1 error(s)" in captured.err
    assert "requests/analytics-raw/r1.yaml:" in captured.out
    assert os.getcwd() == str(repo)
