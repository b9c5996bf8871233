"""Where the audit log lives, decided in one place.

The log lives on a branch of its own (`audit_branch` in jitflow.yaml, `jitflow-audit` by
default; never the default branch), which the apply and revoke workflows push with their own
`GITHUB_TOKEN`. That token cannot change the default branch (its ruleset has no bypass), so
nothing jitflow holds can change code, policies or workflows without review
(docs/threat-model.md, "The audit log's own branch").

`locate` finds the log, first match wins:

1. `--audit-repo DIR` or `JITFLOW_AUDIT_REPO=DIR`: a checkout of the audit branch. jitflow
   reads, appends and commits there; the workflows' push step pushes it. A command that
   writes creates the checkout when DIR is missing or empty: from the clone's
   `origin/<audit_branch>`, or, on the very first run, as a new orphan branch (the first push
   creates it). A clone that has the audit branch checked out is such a checkout itself (an
   admin repairing the log works there).
2. Inside a git clone holding `origin/<audit_branch>` (or a local `<audit_branch>`): that ref,
   read through git, never written. A fresh clone runs `git fetch origin <audit_branch>`, then
   `jitflow audit verify`. A command that writes refuses here: records appended to a copy of
   the branch would fork the log.
3. Else the working tree's `<audit_dir>/`: a repository whose log has no branch yet (local
   use, the tests, a repository set up before the audit branch). Sound only where no audit
   branch exists; the workflows always give (1).

`teams.json` (jitflow.teamsnapshot) sits at the root of the audit branch, beside the audit
directory: read from (1) and (2), written only in (1).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jitflow.errors import ConfigError, GitError, UsageError
from jitflow.gitcmd import Git
from jitflow.model import Settings
from jitflow.teamsnapshot import SNAPSHOT_FILE

AUDIT_REPO_ENV = "JITFLOW_AUDIT_REPO"
AUDIT_REPO_HELP = (f"a checkout of the audit branch (default: ${AUDIT_REPO_ENV}; else the "
                   "clone's origin/<audit_branch>, read only; else the working tree's audit "
                   "directory)")

Kind = Literal["checkout", "ref", "tree"]


@dataclass(frozen=True)
class AuditRepo:
    """The audit log's place: an audit-branch checkout, a git ref, or the working tree."""

    kind: Kind
    root: Path  # the checkout; the clone holding `ref`; the access repository's working tree
    audit_dir: str
    ref: str | None = None  # kind "ref": the full ref name holding the log

    @property
    def writable(self) -> bool:
        return self.kind != "ref"

    @property
    def directory(self) -> Path:
        """The log's directory on disk (kinds "checkout" and "tree")."""
        if self.kind == "ref":
            raise UsageError(f"the audit log in {self.describe()} is read only: give a "
                             f"checkout of the audit branch with --audit-repo DIR")
        return self.root / self.audit_dir

    @property
    def snapshot_path(self) -> Path | None:
        """Where the team snapshot is written: only in an audit-branch checkout."""
        return self.root / SNAPSHOT_FILE if self.kind == "checkout" else None

    def describe(self) -> str:
        if self.kind == "checkout":
            return f"the audit branch checkout {self.root}"
        if self.kind == "ref":
            assert self.ref is not None  # set for this kind  # noqa: S101
            return f"{self.ref.removeprefix('refs/remotes/').removeprefix('refs/heads/')} " \
                   f"({Git(self.root).rev_parse(self.ref)[:12]})"
        return f"{self.audit_dir}/ in the working tree {self.root}"

    def history(self) -> tuple[Path, str] | None:
        """(repository, ref) whose git history holds the log; None when it has none yet."""
        ref = self.ref if self.kind == "ref" else "HEAD"
        assert ref is not None  # noqa: S101
        try:
            Git(self.root).rev_parse(ref)
        except GitError:
            return None
        return self.root, ref

    @contextmanager
    def files(self) -> Iterator[Path]:
        """A directory holding the log's files: its own for a checkout or the working tree,
        a temporary copy of the ref's for a ref (removed on exit)."""
        if self.kind != "ref":
            yield self.directory
            return
        with tempfile.TemporaryDirectory(prefix="jitflow-audit-") as temporary:
            target = Path(temporary) / self.audit_dir
            target.mkdir()
            for relative, data in self._ref_blobs().items():
                path = Path(temporary) / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            yield target

    def log_texts(self) -> Iterator[bytes]:
        """The bytes of every `.jsonl` file of the log (for the check's id and size facts)."""
        if self.kind == "ref":
            yield from (data for path, data in sorted(self._ref_blobs().items())
                        if path.endswith(".jsonl"))
            return
        directory = self.directory
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.suffix == ".jsonl" and path.is_file():
                    yield path.read_bytes()

    def read_snapshot(self) -> bytes | None:
        """teams.json at the root of the audit branch, or None (none yet, or no branch)."""
        if self.kind == "ref":
            assert self.ref is not None  # noqa: S101
            return Git(self.root).show(self.ref, SNAPSHOT_FILE)
        path = self.snapshot_path
        return path.read_bytes() if path is not None and path.is_file() else None

    def commit(self, paths: list[Path], message: str) -> str | None:
        """Commit exactly `paths` where the log lives; the commit id, or None if unchanged."""
        if not self.writable:
            raise UsageError(f"cannot commit to {self.describe()}: it is read only")
        return Git(self.root).commit_paths(paths, message)

    def _ref_blobs(self) -> dict[str, bytes]:
        assert self.ref is not None  # noqa: S101
        git = Git(self.root)
        listed = git.list_blobs(self.ref, self.audit_dir)
        contents = git.read_blobs(list(listed.values()))
        return {path: contents[oid] for path, oid in listed.items() if oid in contents}


def given_checkout(option: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The audit-branch checkout named by `--audit-repo`, else by JITFLOW_AUDIT_REPO."""
    if option is not None:
        return option
    value = (os.environ if env is None else env).get(AUDIT_REPO_ENV, "")
    return Path(value) if value else None


def locate(root: Path, settings: Settings, given: Path | None, *, write: bool) -> AuditRepo:
    """Where the log of the access repository at `root` is (module docstring). `write`: the
    caller appends to it (apply, revoke), which a ref cannot take."""
    if given is not None:
        return _checkout(root, settings, given, create=write)
    here = _checked_out(root, settings.audit_branch)
    if here is not None:
        return AuditRepo("checkout", here, settings.audit_dir)
    ref = branch_ref(root, settings.audit_branch)
    if ref is None:
        return AuditRepo("tree", root, settings.audit_dir)
    if write:
        raise ConfigError(
            f"the audit log lives on the branch {settings.audit_branch} ({ref} in {root}): "
            f"give a checkout of it with --audit-repo DIR (or {AUDIT_REPO_ENV}); a missing "
            "DIR is created from that branch")
    return AuditRepo("ref", root, settings.audit_dir, ref)


def branch_ref(root: Path, branch: str) -> str | None:
    """`refs/remotes/origin/<branch>`, else `refs/heads/<branch>`, when the clone has it."""
    git = Git(root)
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        try:
            git.rev_parse(ref)
        except GitError:
            continue
        return ref
    return None


def _checked_out(root: Path, branch: str) -> Path | None:
    """The top of the checkout holding `root` when it has `branch` checked out."""
    git = Git(root)
    try:
        if git.run("symbolic-ref", "--quiet", "--short", "HEAD").strip() != branch:
            return None
        return Path(git.run("rev-parse", "--show-toplevel").strip())
    except GitError:
        return None


def _checkout(root: Path, settings: Settings, directory: Path, *, create: bool) -> AuditRepo:
    directory = directory.absolute()
    empty = not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))
    if empty and create:
        _create(root, settings, directory)
    elif empty:
        raise UsageError(f"{directory}: no checkout of the audit branch there "
                         f"(--audit-repo / {AUDIT_REPO_ENV})")
    _check_checkout(settings, directory)
    return AuditRepo("checkout", directory, settings.audit_dir)


def _check_checkout(settings: Settings, directory: Path) -> None:
    """A checkout of the audit branch, at its top, on that branch (never the default one)."""
    git = Git(directory)
    try:
        top = Path(git.run("rev-parse", "--show-toplevel").strip())
        branch = git.run("symbolic-ref", "--quiet", "--short", "HEAD").strip()
    except GitError:
        raise ConfigError(f"{directory} is not a git checkout of a branch: the audit log's "
                          f"checkout must have {settings.audit_branch} checked out") from None
    if top.resolve() != directory.resolve():
        raise ConfigError(f"{directory} is inside the git checkout {top}, not the top of one: "
                          "give the audit branch's own checkout")
    if branch != settings.audit_branch:
        raise ConfigError(f"{directory} has the branch {branch} checked out, not the audit "
                          f"branch {settings.audit_branch}: jitflow records only there")


def _create(root: Path, settings: Settings, directory: Path) -> None:
    """A checkout of the audit branch in `directory`, from the clone at `root`: the branch as
    `origin` has it, or a new orphan branch when it does not exist yet (the first push then
    creates it). Objects come from the local clone; the remote is the clone's `origin`."""
    branch = settings.audit_branch
    directory.mkdir(parents=True, exist_ok=True)
    access, audit = Git(root), Git(directory)
    audit.run("init", "--quiet", f"--initial-branch={branch}")
    try:
        url = access.run("remote", "get-url", "origin").strip()
    except GitError:
        url = ""  # a local repository with no remote: commits stay here
    if url:
        audit.run("remote", "add", "origin", url)
    tracking = f"refs/remotes/origin/{branch}"
    try:
        access.rev_parse(tracking)
    except GitError:
        return  # the first run: an orphan branch with no commit yet
    audit.run("fetch", "--quiet", "--no-tags", str(root.resolve()), f"+{tracking}:{tracking}")
    audit.run("reset", "--quiet", "--hard", tracking)
