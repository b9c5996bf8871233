"""Where repository files come from: the working tree, or a git ref (base branch).

`jitflow check` must judge a PR against the policies of the *base* branch, never the
PR's own copies; reading through a `Tree` makes that choice explicit at the call site.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from jitflow.gitcmd import Git


class Tree(Protocol):
    def read(self, path: str) -> bytes | None:
        """Bytes of a repo-relative posix path, or None if it does not exist."""

    def list(self, directory: str) -> list[str]:
        """Repo-relative paths of the files under directory, recursive, sorted."""


class FsTree:
    """Files of a directory on disk (a checkout)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        target = self.root / path
        try:
            return target.read_bytes() if target.is_file() else None
        except OSError:
            return None

    def list(self, directory: str) -> list[str]:
        base = self.root / directory
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())


class MemoryTree:
    """Files held in memory (path -> bytes): what `jitflow init` is about to write."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def list(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return sorted(p for p in self.files if p.startswith(prefix))


class GitTree:
    """Files as they are at one git ref, read with `git show` (never the working tree)."""

    def __init__(self, git: Git, ref: str) -> None:
        self.git = git
        self.ref = ref

    def read(self, path: str) -> bytes | None:
        return self.git.show(self.ref, path)

    def list(self, directory: str) -> list[str]:
        return sorted(self.git.list_files(self.ref, directory))


def find_worktree_root(start: Path) -> Path | None:
    """The nearest ancestor of `start` (or itself) holding `.git`: the top of the git working
    tree it is in; None outside one. Looks at the file system only (no git call)."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def find_repo_root(start: Path) -> Path:
    """The nearest ancestor holding `policies/` or `.git`; `start` itself when none does."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / "policies").is_dir() or (candidate / ".git").exists():
            return candidate
    return current
