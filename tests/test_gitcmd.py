"""The git adapter against real repositories in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jitflow.errors import GitError
from jitflow.gitcmd import FALLBACK_EMAIL, FALLBACK_NAME, Change, Git, Person

HOSTILE = [
    "requests/with space.yaml",
    "requests/new\nline.yaml",
    "requests/-rf",
    "requests/--output=x",
    "requests/ünïcødé.yaml",
    "requests/*.yaml",
    "requests/:(glob)magic",
    'requests/quote"and\\back',
    "requests/tab\there",
]


@pytest.fixture(autouse=True)
def clean_git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration, a fixed identity for the test's own commits."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                 "GIT_COMMITTER_EMAIL", "EMAIL", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)


def make_repo(path: Path) -> Git:
    path.mkdir(parents=True, exist_ok=True)
    git = Git(path)
    git.run("init", "--quiet", "--initial-branch=main")
    git.run("config", "user.name", "Test Person")
    git.run("config", "user.email", "test@example.com")
    return git


def commit_files(git: Git, files: dict[str, bytes | None], message: str) -> str:
    """Write (or delete, for None) files and commit all of them."""
    for name, content in files.items():
        target = git.repo / name
        if content is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    git.run("add", "--all", "--", *files)
    git.run("commit", "--quiet", "--allow-empty", "-m", message)
    return git.head()


@pytest.fixture
def repo(tmp_path: Path) -> Git:
    git = make_repo(tmp_path / "repo")
    commit_files(git, {"README.md": b"hello\n", "requests/a.yaml": b"a: 1\n"}, "first")
    return git


# ----------------------------------------------------------------------------- running


def test_run_returns_standard_output(repo: Git) -> None:
    assert repo.run("rev-parse", "--abbrev-ref", "HEAD") == "main\n"


def test_run_failure_raises_git_error_with_command_and_stderr(repo: Git) -> None:
    with pytest.raises(GitError) as caught:
        repo.run("cat-file", "-p", "no-such-object")
    assert "git cat-file -p no-such-object failed" in caught.value.message
    assert "Not a valid object name" in caught.value.message


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        Git(tmp_path).head()


def test_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="does not exist"):
        Git(tmp_path / "nowhere").head()


def test_git_dir_in_the_environment_is_ignored(
    repo: Git, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo(tmp_path / "other")
    commit_files(other, {"x": b"x"}, "other")
    monkeypatch.setenv("GIT_DIR", str(other.repo / ".git"))
    assert repo.head() != other.head()
    assert repo.show("HEAD", "README.md") == b"hello\n"


def test_the_environment_is_fixed(repo: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    env = repo._env()
    assert env["LC_ALL"] == "C"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_LITERAL_PATHSPECS"] == "1"


# ----------------------------------------------------------------------------- refs


def test_rev_parse_and_head(repo: Git) -> None:
    head = repo.head()
    assert len(head) == 40
    assert repo.rev_parse("main") == head
    assert repo.rev_parse(head[:10]) == head


def test_rev_parse_peels_an_annotated_tag(repo: Git) -> None:
    repo.run("tag", "-a", "-m", "release", "v1")
    assert repo.rev_parse("v1") == repo.head()


def test_rev_parse_of_an_unknown_ref(repo: Git) -> None:
    with pytest.raises(GitError, match="no commit 'nope'"):
        repo.rev_parse("nope")


def test_a_ref_that_looks_like_an_option_is_not_one(repo: Git) -> None:
    target = repo.repo / "pwned"
    with pytest.raises(GitError):
        repo.rev_parse(f"--output={target}")
    with pytest.raises(GitError):
        repo.show(f"--output={target}", "README.md")
    with pytest.raises(GitError):
        repo.changed_files("--exec=touch pwned", "HEAD")
    assert not target.exists()


def test_parents_merge_base_and_a_merge(repo: Git) -> None:
    root = repo.head()
    repo.run("switch", "--quiet", "-c", "feature")
    feature = commit_files(repo, {"requests/b.yaml": b"b: 2\n"}, "feature")
    repo.run("switch", "--quiet", "main")
    main = commit_files(repo, {"README.md": b"hello again\n"}, "main moves on")
    assert repo.merge_base("main", "feature") == root
    assert repo.parents(main) == [root]
    assert repo.parents(root) == []
    repo.run("merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
    merge = repo.head()
    assert repo.parents(merge) == [main, feature]
    assert repo.parents("HEAD") == [main, feature]
    assert repo.merge_base(merge, feature) == feature


def test_merge_base_without_a_common_ancestor(repo: Git) -> None:
    repo.run("switch", "--quiet", "--orphan", "lonely")
    commit_files(repo, {"other.txt": b"x"}, "unrelated history")
    with pytest.raises(GitError, match="no common ancestor"):
        repo.merge_base("main", "lonely")


# ----------------------------------------------------------------------------- reading


def test_show_a_file_at_a_ref(repo: Git) -> None:
    first = repo.head()
    commit_files(repo, {"requests/a.yaml": b"a: 2\n"}, "change a")
    assert repo.show(first, "requests/a.yaml") == b"a: 1\n"
    assert repo.show("HEAD", "requests/a.yaml") == b"a: 2\n"
    assert repo.show("HEAD~1", "README.md") == b"hello\n"


def test_show_a_missing_path_is_none(repo: Git) -> None:
    assert repo.show("HEAD", "requests/missing.yaml") is None
    assert repo.show("HEAD", "nowhere/at/all") is None
    assert repo.show("HEAD", "requests") is None  # a directory is not a file
    assert repo.show("HEAD", "") is None


def test_show_of_a_deleted_file(repo: Git) -> None:
    before = repo.head()
    commit_files(repo, {"requests/a.yaml": None}, "delete a")
    assert repo.show("HEAD", "requests/a.yaml") is None
    assert repo.show(before, "requests/a.yaml") == b"a: 1\n"


def test_show_binary_content_is_returned_unchanged(repo: Git) -> None:
    data = bytes(range(256)) * 4
    commit_files(repo, {"blob.bin": data}, "binary")
    assert repo.show("HEAD", "blob.bin") == data


def test_hostile_file_names(repo: Git) -> None:
    files: dict[str, bytes | None] = {name: name.encode() + b"\n" for name in HOSTILE}
    before = repo.head()
    commit_files(repo, files, "hostile names")
    for name in HOSTILE:
        assert repo.show("HEAD", name) == name.encode() + b"\n", name
    # A glob or magic in a path is a literal name, not a pattern.
    assert repo.show("HEAD", "requests/*") is None
    assert sorted(repo.list_files("HEAD", "requests")) == sorted([*HOSTILE, "requests/a.yaml"])
    changes = repo.changed_files(before, "HEAD")
    assert sorted(changes, key=lambda c: c.path) == sorted(
        (Change("A", name) for name in HOSTILE), key=lambda c: c.path
    )


def test_a_non_utf8_file_name_round_trips(repo: Git) -> None:
    raw = b"requests/caf\xe9.yaml"
    (repo.repo / os.fsdecode(raw)).write_bytes(b"x: 1\n")
    repo.run("add", "--all")
    repo.run("commit", "--quiet", "-m", "latin-1 name")
    names = repo.list_files("HEAD", "requests")
    assert os.fsdecode(raw) in names
    assert repo.show("HEAD", os.fsdecode(raw)) == b"x: 1\n"


def test_list_files_is_recursive_and_exact_about_the_directory(repo: Git) -> None:
    commit_files(
        repo,
        {
            "requests/team/deep/c.yaml": b"c\n",
            "requests-old/d.yaml": b"d\n",
            "other/e.yaml": b"e\n",
        },
        "more",
    )
    assert repo.list_files("HEAD", "requests") == ["requests/a.yaml", "requests/team/deep/c.yaml"]
    assert repo.list_files("HEAD", "requests/") == repo.list_files("HEAD", "requests")
    assert repo.list_files("HEAD", "requests/team") == ["requests/team/deep/c.yaml"]
    assert repo.list_files("HEAD", "missing") == []
    assert "README.md" in repo.list_files("HEAD", "")
    assert repo.list_files("HEAD~1", "requests") == ["requests/a.yaml"]


def test_show_many_answers_as_show_does_one_path_at_a_time(repo: Git) -> None:
    files: dict[str, bytes | None] = {name: name.encode() + b"\n" for name in HOSTILE}
    files["bin/data.bin"] = bytes(range(256)) * 4
    commit_files(repo, files, "hostile names and binary")
    (repo.repo / "link").symlink_to("requests/a.yaml")
    repo.run("add", "--all")
    repo.run("commit", "--quiet", "-m", "symlink")
    paths = [
        *HOSTILE, "requests/a.yaml", "bin/data.bin", "link", "requests", "requests/*",
        "requests/missing.yaml", "nowhere/at/all", "", "/requests/a.yaml",
    ]
    many = repo.show_many("HEAD", paths)
    assert list(many) == paths
    assert many == {path: repo.show("HEAD", path) for path in paths}
    assert many["bin/data.bin"] == bytes(range(256)) * 4
    assert many["requests/new\nline.yaml"] == b"requests/new\nline.yaml\n"
    assert many["requests"] is None and many["requests/*"] is None
    assert repo.show_many("HEAD", []) == {}


def test_show_many_with_more_paths_than_one_call_takes(
    repo: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jitflow.gitcmd._PATHS_PER_CALL", 2)
    files: dict[str, bytes | None] = {f"requests/r{i}.yaml": b"%d\n" % i for i in range(5)}
    commit_files(repo, files, "five")
    paths = [*files, "requests/a.yaml", "requests/none.yaml"]
    assert repo.show_many("HEAD", paths) == {path: repo.show("HEAD", path) for path in paths}


def test_blob_ids_finds_exactly_the_files_named_as_list_blobs_does(repo: Git) -> None:
    files: dict[str, bytes | None] = {name: name.encode() + b"\n" for name in HOSTILE}
    commit_files(repo, files, "hostile names")
    listed = repo.list_blobs("HEAD", "")
    asked = [*HOSTILE, "requests/a.yaml", "requests", "requests/*", "requests/missing.yaml"]
    assert repo.blob_ids("HEAD", asked) == {p: listed[p] for p in [*HOSTILE, "requests/a.yaml"]}
    assert repo.blob_ids("HEAD~1", HOSTILE) == {}
    assert repo.blob_ids("HEAD", []) == {}


def test_read_blobs_reads_by_object_id_and_refuses_anything_else(repo: Git) -> None:
    blobs = repo.list_blobs("HEAD", "")
    assert set(blobs) == {"README.md", "requests/a.yaml"}
    assert repo.read_blobs(list(blobs.values()) * 2) == {
        blobs["README.md"]: b"hello\n",
        blobs["requests/a.yaml"]: b"a: 1\n",
    }
    assert repo.read_blobs([]) == {}
    with pytest.raises(GitError, match="not an object id"):
        repo.read_blobs(["HEAD"])
    with pytest.raises(GitError, match="cannot read blob"):
        repo.read_blobs(["0" * 40])  # missing
    tree = repo.run("rev-parse", "HEAD^{tree}").strip()
    with pytest.raises(GitError, match="cannot read blob"):
        repo.read_blobs([tree])  # not a blob


def test_changed_files_added_modified_deleted_and_type_changed(repo: Git) -> None:
    base = repo.head()
    (repo.repo / "README.md").unlink()
    (repo.repo / "README.md").symlink_to("requests/a.yaml")  # a file becomes a symlink: T
    (repo.repo / "requests" / "a.yaml").write_bytes(b"a: 9\n")
    (repo.repo / "requests" / "new.yaml").write_bytes(b"n\n")
    (repo.repo / "gone.txt").write_bytes(b"")
    repo.run("add", "--all")
    repo.run("commit", "--quiet", "-m", "all kinds")
    middle = repo.head()
    commit_files(repo, {"gone.txt": None}, "delete")
    assert sorted(repo.changed_files(base, middle), key=lambda c: c.path) == [
        Change("T", "README.md"),
        Change("A", "gone.txt"),
        Change("M", "requests/a.yaml"),
        Change("A", "requests/new.yaml"),
    ]
    assert repo.changed_files(middle, "HEAD") == [Change("D", "gone.txt")]
    assert repo.changed_files("HEAD", "HEAD") == []


def test_changed_files_shows_a_rename_as_delete_and_add(repo: Git) -> None:
    base = repo.head()
    repo.run("mv", "requests/a.yaml", "requests/renamed.yaml")
    repo.run("commit", "--quiet", "-m", "rename")
    assert sorted(repo.changed_files(base, "HEAD"), key=lambda c: c.path) == [
        Change("D", "requests/a.yaml"),
        Change("A", "requests/renamed.yaml"),
    ]


def test_commit_info(repo: Git) -> None:
    message = (
        "Add a request\n\nWith a body.\n\n"
        "Co-authored-by: Mallory Example <mallory@example.com>\n"
        "co-authored-by: eve <12345+eve@users.noreply.github.com>\n"
    )
    (repo.repo / "x.txt").write_text("x")
    repo.run("add", "x.txt")
    repo.run(
        "-c", "user.name=Committer Name", "-c", "user.email=committer@example.com",
        "commit", "--quiet", "--author", "Author Name <author@example.com>", "-F", "-",
        input=message.encode(),
    )
    info = repo.commit_info("HEAD")
    assert info.sha == repo.head()
    assert info.author == Person("Author Name", "author@example.com")
    assert (info.author_name, info.author_email) == ("Author Name", "author@example.com")
    assert info.committer == Person("Committer Name", "committer@example.com")
    assert info.committer_name == "Committer Name"
    assert info.committer_email == "committer@example.com"
    assert info.message == message
    assert info.co_authors == (
        Person("Mallory Example", "mallory@example.com"),
        Person("eve", "12345+eve@users.noreply.github.com"),
    )
    assert info.parents == (repo.rev_parse("HEAD~1"),)


def test_commit_info_without_co_authors(repo: Git) -> None:
    info = repo.commit_info("HEAD")
    assert info.co_authors == ()
    assert info.message == "first\n"
    assert info.parents == ()


def test_a_co_authored_by_line_outside_the_trailers_is_not_a_co_author(repo: Git) -> None:
    repo.run("commit", "--quiet", "--allow-empty", "-m",
             "Subject\n\nCo-authored-by: Not A Trailer <x@example.com>\nbut more text follows")
    assert repo.commit_info("HEAD").co_authors == ()


# ----------------------------------------------------------------------------- writing


def test_commit_paths_commits_only_those_paths(repo: Git) -> None:
    audit = repo.repo / "audit" / "2026-11.jsonl"
    audit.parent.mkdir()
    audit.write_text('{"seq":1}\n')
    (repo.repo / "README.md").write_text("unrelated local change\n")
    (repo.repo / "staged.txt").write_text("staged by someone else\n")
    repo.run("add", "staged.txt")
    before = repo.head()
    sha = repo.commit_paths([audit], "audit: granted raw/req-1")
    assert sha is not None and sha == repo.head()
    assert repo.parents(sha) == [before]
    assert repo.changed_files(before, sha) == [Change("A", "audit/2026-11.jsonl")]
    assert repo.commit_info(sha).message == "audit: granted raw/req-1\n"
    status = repo.run("status", "--porcelain")
    assert " M README.md" in status
    assert "A  staged.txt" in status  # still staged, not committed


def test_commit_paths_with_nothing_changed_is_none(repo: Git) -> None:
    before = repo.head()
    assert repo.commit_paths([Path("README.md")], "nothing") is None
    assert repo.commit_paths([], "nothing") is None
    assert repo.head() == before


def test_commit_paths_records_a_deletion_and_relative_paths(repo: Git) -> None:
    (repo.repo / "requests" / "a.yaml").unlink()
    sha = repo.commit_paths([Path("requests/a.yaml")], "remove a")
    assert sha is not None
    assert repo.changed_files("HEAD~1", "HEAD") == [Change("D", "requests/a.yaml")]


def test_commit_paths_with_hostile_names(repo: Git) -> None:
    for name in HOSTILE:
        path = repo.repo / name
        path.write_text("x\n")
    sha = repo.commit_paths([repo.repo / name for name in HOSTILE[:4]], "-m looks like a flag")
    assert sha is not None
    assert sorted(c.path for c in repo.changed_files("HEAD~1", "HEAD")) == sorted(HOSTILE[:4])
    assert repo.commit_info("HEAD").message == "-m looks like a flag\n"


def test_commit_paths_uses_the_configured_identity(repo: Git) -> None:
    (repo.repo / "x").write_text("x")
    repo.commit_paths([Path("x")], "x")
    info = repo.commit_info("HEAD")
    assert info.author == Person("Test Person", "test@example.com")


def test_commit_paths_falls_back_to_the_jitflow_identity(tmp_path: Path) -> None:
    git = Git(tmp_path / "bare-identity")
    git.repo.mkdir()
    git.run("init", "--quiet", "--initial-branch=main")
    (git.repo / "x").write_text("x")
    sha = git.commit_paths([Path("x")], "first audit commit")
    assert sha is not None
    info = git.commit_info(sha)
    assert info.author == info.committer == Person(FALLBACK_NAME, FALLBACK_EMAIL)
    assert FALLBACK_EMAIL == "jitflow@users.noreply.github.com"


def test_commit_paths_refuses_a_path_outside_the_repository(repo: Git, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    with pytest.raises(GitError, match="outside the repository"):
        repo.commit_paths([outside], "nope")
