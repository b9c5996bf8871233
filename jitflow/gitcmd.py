"""The git adapter: every git call in jitflow goes through `Git`, which runs the `git` binary.

Hostile file names (spaces, newlines, leading dashes, glob characters, non-UTF-8 bytes) are
safe: arguments go to git as a list (never through a shell), paths always follow `--`, refs
are resolved to a commit id before use, outputs are read in their `-z` form, and pathspec
magic is off (`GIT_LITERAL_PATHSPECS=1`). Non-UTF-8 bytes in names come back as surrogate
escapes, as `os.fsdecode` does, so they round-trip to the file system.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jitflow.errors import GitError

FALLBACK_NAME = "jitflow"
FALLBACK_EMAIL = "jitflow@users.noreply.github.com"

# Variables that would point git at another repository than the one we were given.
_REPO_OVERRIDES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                   "GIT_COMMON_DIR", "GIT_NAMESPACE")
_PERSON = re.compile(r"\s*(?P<name>.*?)\s*<(?P<email>[^<>]*)>\s*\Z")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")
_PATHS_PER_CALL = 1000  # paths per ls-tree call, well inside the argument length limit


@dataclass(frozen=True)
class Change:
    """One changed path between two commits (`git diff --name-status`)."""

    status: str  # "A" added, "M" modified, "D" deleted, "T" type changed
    path: str  # repo-relative, posix


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: Person
    committer: Person
    message: str
    co_authors: tuple[Person, ...]  # from `Co-authored-by:` trailers
    parents: tuple[str, ...]

    @property
    def author_name(self) -> str:
        return self.author.name

    @property
    def author_email(self) -> str:
        return self.author.email

    @property
    def committer_name(self) -> str:
        return self.committer.name

    @property
    def committer_email(self) -> str:
        return self.committer.email


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def _parse_person(text: str) -> Person:
    match = _PERSON.match(text)
    if match is None:
        return Person(text.strip(), "")
    return Person(match.group("name"), match.group("email").strip())


class Git:
    """A git repository at `repo` (its top-level directory)."""

    def __init__(self, repo: Path) -> None:
        self.repo = Path(repo)

    # ------------------------------------------------------------------ running

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _REPO_OVERRIDES}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
            GIT_LITERAL_PATHSPECS="1",
            GIT_PAGER="cat",
            GIT_ASKPASS="",
            SSH_ASKPASS="",
        )
        return env

    def _run(
        self, args: Sequence[str], input: bytes | None = None, ok: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["git", *args]
        try:
            result = subprocess.run(
                command,
                cwd=self.repo,
                input=input if input is not None else b"",
                capture_output=True,
                env=self._env(),
                check=False,
            )
        except FileNotFoundError as error:
            reason = (
                "git is not installed"
                if self.repo.is_dir()
                else f"repository directory {self.repo} does not exist"
            )
            raise GitError(f"cannot run {shlex.join(command)}: {reason}") from error
        except OSError as error:
            raise GitError(f"cannot run {shlex.join(command)}: {error}") from error
        if result.returncode not in ok:
            stderr = _decode(result.stderr).strip() or "(no output)"
            raise GitError(
                f"{shlex.join(command)} failed (exit {result.returncode}) in {self.repo}: {stderr}"
            )
        return result

    def run(self, *args: str, input: bytes | None = None) -> str:
        """Run `git ARGS` in the repository; its standard output. GitError on failure."""
        return _decode(self._run(args, input=input).stdout)

    # ------------------------------------------------------------------ reading

    def rev_parse(self, ref: str) -> str:
        """The commit id `ref` names (tags are peeled to their commit)."""
        sha = self.resolve(ref)
        if sha is None:
            raise GitError(f"no commit {ref!r} in {self.repo}")
        return sha

    def resolve(self, ref: str) -> str | None:
        """`rev_parse`, or None when `ref` names no commit (a new repository's HEAD)."""
        result = self._run(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
            ok=(0, 1),
        )
        sha = _decode(result.stdout).strip()
        return sha if result.returncode == 0 and sha else None

    def head(self) -> str:
        return self.rev_parse("HEAD")

    def config_value(self, key: str) -> str | None:
        """`git config --get KEY` as git sees it here (repository, global, system); None when
        unset."""
        result = self._run(["config", "--get", "--end-of-options", key], ok=(0, 1))
        value = _decode(result.stdout).strip()
        return value if result.returncode == 0 and value else None

    def merge_base(self, a: str, b: str) -> str:
        first, second = self.rev_parse(a), self.rev_parse(b)
        result = self._run(["merge-base", first, second], ok=(0, 1))
        sha = _decode(result.stdout).strip()
        if result.returncode != 0 or not sha:
            raise GitError(f"{a} and {b} have no common ancestor in {self.repo}")
        return sha

    def parents(self, commit: str) -> list[str]:
        sha = self.rev_parse(commit)
        return self.run("rev-list", "--parents", "--max-count=1", sha, "--").split()[1:]

    def _tree_entries(
        self, commit: str, path: str | None, recursive: bool
    ) -> list[tuple[str, str, str]]:
        """(type, object id, path) of `git ls-tree` at `commit`, limited to `path`."""
        args = ["ls-tree", "-z", "--full-tree"]
        if recursive:
            args.append("-r")
        args.append(commit)
        if path is not None:
            args += ["--", path]
        entries: list[tuple[str, str, str]] = []
        for item in self.run(*args).split("\0"):
            if not item:
                continue
            meta, _tab, name = item.partition("\t")
            _mode, kind, object_id = meta.split(" ")
            entries.append((kind, object_id, name))
        return entries

    def _tree_entries_of(self, commit: str, paths: Sequence[str]) -> list[tuple[str, str, str]]:
        """(type, object id, path) of the entries named exactly by `paths` at `commit`."""
        entries: list[tuple[str, str, str]] = []
        if not paths:
            return entries
        for item in self.run("ls-tree", "-z", "--full-tree", commit, "--", *paths).split("\0"):
            if item:
                meta, _tab, name = item.partition("\t")
                _mode, kind, object_id = meta.split(" ")
                entries.append((kind, object_id, name))
        return entries

    def show(self, ref: str, path: str) -> bytes | None:
        """The bytes of file `path` at `ref`; None when no such file is there."""
        commit = self.rev_parse(ref)
        wanted = path.strip("/")
        if not wanted:
            return None
        for kind, object_id, name in self._tree_entries(commit, wanted, recursive=False):
            if name == wanted and kind == "blob":
                return self._run(["cat-file", "blob", object_id]).stdout
        return None

    def list_files(self, ref: str, directory: str) -> list[str]:
        """Every file (repo-relative, posix) under `directory` at `ref`, recursively.
        An empty directory name or "." lists the whole tree."""
        return sorted(self.list_blobs(ref, directory))

    def list_blobs(self, ref: str, directory: str) -> dict[str, str]:
        """`list_files`, each path with its blob's object id (for `read_blobs`)."""
        commit = self.rev_parse(ref)
        prefix = directory.strip("/")
        if prefix in ("", "."):
            entries = self._tree_entries(commit, None, recursive=True)
        else:
            entries = self._tree_entries(commit, prefix + "/", recursive=True)
        return {name: object_id for kind, object_id, name in entries if kind == "blob"}

    def blob_ids(self, ref: str, paths: Sequence[str]) -> dict[str, str]:
        """The blob object id of each of `paths` that is a file at `ref` (the others are left
        out), in a fixed number of git calls: git looks the exact paths up in its trees,
        whatever the size of their folders."""
        commit = self.rev_parse(ref)
        wanted_set = {p.strip("/") for p in paths} - {""}
        wanted = sorted(wanted_set)
        object_ids: dict[str, str] = {}  # path -> blob
        for start in range(0, len(wanted), _PATHS_PER_CALL):
            chunk = wanted[start : start + _PATHS_PER_CALL]
            for kind, object_id, name in self._tree_entries_of(commit, chunk):
                if kind == "blob" and name in wanted_set:
                    object_ids[name] = object_id
        return object_ids

    def show_many(self, ref: str, paths: Sequence[str]) -> dict[str, bytes | None]:
        """`show` for many paths at one ref, in a fixed number of git calls."""
        object_ids = self.blob_ids(ref, paths)
        blobs = self.read_blobs(list(object_ids.values()))
        found: dict[str, bytes | None] = {}
        for path in paths:
            blob = object_ids.get(path.strip("/"))
            found[path] = None if blob is None else blobs[blob]
        return found

    def read_blobs(self, object_ids: Sequence[str]) -> dict[str, bytes]:
        """The contents of blobs by object id, read with one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(object_ids))
        if not wanted:
            return {}
        for object_id in wanted:
            if not _OBJECT_ID.match(object_id):
                raise GitError(f"not an object id: {object_id!r}")
        out = self._run(
            ["cat-file", "--batch"], input="".join(f"{oid}\n" for oid in wanted).encode()
        ).stdout
        blobs: dict[str, bytes] = {}
        position = 0
        for object_id in wanted:
            end = out.find(b"\n", position)
            header = out[position:end].split(b" ") if end >= 0 else []
            if len(header) != 3 or header[1] != b"blob" or not header[2].isdigit():
                raise GitError(f"cannot read blob {object_id} in {self.repo}")
            start = end + 1
            blobs[object_id] = out[start : start + int(header[2])]
            position = start + int(header[2]) + 1  # the newline after each object
        return blobs

    def changed_files(self, base: str, head: str) -> list[Change]:
        """Paths that differ between two commits, renames shown as delete + add."""
        old, new = self.rev_parse(base), self.rev_parse(head)
        out = self.run(
            "diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", "--no-textconv",
            "--ignore-submodules=none", old, new, "--",
        )
        fields = out.split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        if len(fields) % 2:
            raise GitError(f"unexpected git diff output in {self.repo}: {out!r}")
        return [Change(fields[i], fields[i + 1]) for i in range(0, len(fields), 2)]

    def commit_info(self, commit: str) -> CommitInfo:
        """Author, committer, message and `Co-authored-by:` co-authors of one commit."""
        sha = self.rev_parse(commit)
        fmt = (
            "%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00"
            "%(trailers:key=Co-authored-by,valueonly,unfold,separator=%x01)%x00%B"
        )
        out = self.run("show", "-s", "--no-show-signature", f"--format={fmt}", sha, "--")
        parts = out.split("\0", 7)
        if len(parts) != 8:
            raise GitError(f"unexpected git show output for {sha} in {self.repo}")
        full, parents, an, ae, cn, ce, trailers, message = parts
        co_authors = tuple(_parse_person(t) for t in trailers.split("\x01") if t.strip())
        return CommitInfo(
            sha=full,
            author=Person(an, ae),
            committer=Person(cn, ce),
            message=message.rstrip("\n") + "\n" if message.strip() else "",
            co_authors=co_authors,
            parents=tuple(parents.split()),
        )

    # ------------------------------------------------------------------ writing

    def _relative(self, path: Path) -> str:
        if not path.is_absolute():
            return path.as_posix()
        top = self.repo.resolve()
        try:
            return path.resolve().relative_to(top).as_posix()
        except ValueError:
            try:
                return path.relative_to(self.repo).as_posix()
            except ValueError:
                raise GitError(f"{path} is outside the repository {self.repo}") from None

    def _identity_options(self) -> list[str]:
        options: list[str] = []
        for key, env_names, fallback in (
            ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"), FALLBACK_NAME),
            ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "EMAIL"), FALLBACK_EMAIL),
        ):
            configured = self._run(["config", "--get", key], ok=(0, 1)).stdout.strip()
            if not configured and not any(os.environ.get(name) for name in env_names):
                options += ["-c", f"{key}={fallback}"]
        return options

    def commit_paths(self, paths: Sequence[Path], message: str) -> str | None:
        """Commit exactly `paths` (added, changed or deleted) with `message`; the new commit
        id, or None when none of them changed. Anything else staged stays staged."""
        relative = [self._relative(Path(p)) for p in paths]
        if not relative:
            return None
        self.run("add", "--all", "--", *relative)
        staged = self._run(["diff", "--cached", "--quiet", "--", *relative], ok=(0, 1))
        if staged.returncode == 0:
            return None
        self._run(
            [*self._identity_options(), "commit", "--quiet", "--only", "--file=-", "--", *relative],
            input=_encode(message),
        )
        return self.head()


# --------------------------------------------------------------------- a directory's history

@dataclass(frozen=True)
class RawChange:
    """One path a commit changed against its first parent (`git log --raw`)."""

    status: str  # "A" added, "M" modified, "D" deleted, "T" type changed
    new_mode: str  # "000000" when deleted
    new_blob: str  # all zeros when deleted
    path: str  # repo-relative, posix


@dataclass(frozen=True)
class RawCommit:
    sha: str
    changes: tuple[RawChange, ...]


class DirectoryHistory:
    """The history of one directory along the first parents of `ref`, for
    jitflow.audit.history: one `git log` pass, streamed, and one `git cat-file --batch`
    process for the contents. Use it as a context manager (it closes that process)."""

    def __init__(self, git: Git, ref: str, directory: str) -> None:
        self.git = git
        self.ref = ref
        self.directory = directory.strip("/")
        self._commit = git.rev_parse(ref)
        self._reader: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DirectoryHistory:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            if reader.stdin is not None:
                reader.stdin.close()
            reader.kill()
            reader.wait()

    def _pathspec(self) -> str:
        return self.directory + "/" if self.directory not in ("", ".") else "."

    def commits(self) -> Iterator[RawCommit]:
        """Every commit on the first-parent line of `ref` that changed the directory, oldest
        first, each with its changes against its first parent (merges included, renames as
        delete + add), read as git writes them."""
        args = ["-c", "log.showRoot=true", "log", "--reverse", "--first-parent",
                "--diff-merges=first-parent", "--raw", "-z", "--no-renames", "--no-abbrev",
                "--no-show-signature", "--format=commit %H", self._commit, "--",
                self._pathspec()]
        sha: str | None = None
        changes: list[RawChange] = []
        tokens = self._stream(args)
        for token in tokens:
            text = _decode(token).lstrip("\n")
            if text.startswith("commit "):
                if sha is not None:
                    yield RawCommit(sha, tuple(changes))
                sha, changes = text[7:].strip(), []
            elif text.startswith(":") and sha is not None:
                changes.append(_raw_change(text, _decode(next(tokens, b"")), self.git.repo))
            elif text:
                raise GitError(f"unexpected git log output in {self.git.repo}: {text[:80]!r}")
        if sha is not None:
            yield RawCommit(sha, tuple(changes))

    def _stream(self, args: Sequence[str]) -> Iterator[bytes]:
        """The NUL-separated fields of `git ARGS`, read as they come; GitError on failure."""
        command = ["git", *args]
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(command, cwd=self.git.repo, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=errors,
                                           env=self.git._env())
            except OSError as error:
                raise GitError(f"cannot run {shlex.join(command)}: {error}") from error
            assert process.stdout is not None  # noqa: S101 (stdout=PIPE)
            try:
                pending = b""
                while chunk := process.stdout.read(1 << 16):
                    *fields, pending = (pending + chunk).split(b"\0")
                    yield from fields
                if pending:
                    yield pending
            finally:
                process.stdout.close()
                if process.poll() is None:
                    process.kill()
                code = process.wait()
            if code != 0:
                errors.seek(0)
                stderr = _decode(errors.read()).strip() or "(no output)"
                raise GitError(f"{shlex.join(command)} failed (exit {code}) in "
                               f"{self.git.repo}: {stderr}")

    def _cat_file(self) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.git.repo,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=self.git._env(),
                                    pipesize=1 << 20)  # fewer round trips for big blobs
        except OSError as error:
            raise GitError(f"cannot run git cat-file --batch: {error}") from error

    def _next_blob(self, out: IO[bytes], object_id: str) -> bytes:
        """The next object `git cat-file --batch` writes, which must be blob `object_id`."""
        try:
            header = out.readline().split()
            if len(header) != 3 or header[0] != object_id.encode() or header[1] != b"blob" \
                    or not header[2].isdigit():
                raise GitError(f"cannot read blob {object_id} in {self.git.repo}")
            size = int(header[2])
            data = out.read(size)
            out.read(1)  # the newline after each object
        except OSError as error:
            raise GitError(f"git cat-file --batch failed in {self.git.repo}: {error}") from error
        if len(data) != size:
            raise GitError(f"cannot read blob {object_id} in {self.git.repo}: it ended early")
        return data

    def blob(self, object_id: str) -> bytes:
        """The content of one blob, asked of one long-lived `git cat-file --batch`."""
        if not _OBJECT_ID.match(object_id):
            raise GitError(f"not an object id: {object_id!r}")
        if self._reader is None:
            self._reader = self._cat_file()
        reader = self._reader
        assert reader.stdin is not None and reader.stdout is not None  # noqa: S101 (PIPE)
        try:
            reader.stdin.write(object_id.encode() + b"\n")
            reader.stdin.flush()
        except OSError as error:
            raise GitError(f"git cat-file --batch failed in {self.git.repo}: {error}") from error
        return self._next_blob(reader.stdout, object_id)

    def blobs(self, object_ids: Sequence[str]) -> Iterator[bytes]:
        """The contents of many blobs, in order, from one `git cat-file --batch` that is
        given every id at once (by a thread) and so reads ahead while the caller works."""
        for object_id in object_ids:
            if not _OBJECT_ID.match(object_id):
                raise GitError(f"not an object id: {object_id!r}")
        if not object_ids:
            return
        process = self._cat_file()
        assert process.stdin is not None and process.stdout is not None  # noqa: S101 (PIPE)
        stdin = process.stdin

        def ask() -> None:
            with contextlib.suppress(OSError):  # the reader stopped early and killed git
                stdin.write(b"".join(oid.encode() + b"\n" for oid in object_ids))
                stdin.close()

        writer = threading.Thread(target=ask, daemon=True)
        writer.start()
        try:
            for object_id in object_ids:
                yield self._next_blob(process.stdout, object_id)
        finally:
            process.kill()
            process.wait()
            writer.join()
            process.stdout.close()

    def subject(self, sha: str) -> str:
        """`<short id> (<date>, "<subject>")` of a commit, for messages."""
        return self.git.run("show", "-s", "--no-show-signature",
                            "--format=%h (%cs, \"%s\")", sha, "--").strip()

    def shallow(self) -> bool:
        """A shallow clone: its history starts at a commit that had parents."""
        return self.git.run("rev-parse", "--is-shallow-repository").strip() == "true"

    def worktree_changes(self) -> list[str]:
        """The tracked paths under the directory whose working copy differs from `ref`
        (modified, deleted, type changed; files git does not track are not listed)."""
        out = self.git.run("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
                           "--no-textconv", self._commit, "--", self._pathspec())
        return [path for path in out.split("\0") if path]

    def worktree_file(self, path: str) -> bytes | None:
        """The working copy of `path` (repo-relative); None when it is gone."""
        try:
            return (self.git.repo / path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise GitError(f"cannot read {self.git.repo / path}: {error.strerror}") from error


def _raw_change(meta: str, path: str, repo: Path) -> RawChange:
    """One `--raw` entry: `:<old mode> <new mode> <old id> <new id> <status>` and its path."""
    fields = meta[1:].split(" ")
    if len(fields) != 5 or not path or not _OBJECT_ID.match(fields[3]):
        raise GitError(f"unexpected git log output in {repo}: {meta[:80]!r}")
    return RawChange(fields[4][:1], fields[1], fields[3], path)
