"""The audit log across git history: was it only ever appended to? Pure, over a port.

The hash chain shows an edited record, but whoever can push can edit a record and recompute
every hash after it, or cut records off the end, and the chain verifies again. Git keeps the
earlier versions. This check walks the commits that changed the audit directory, oldest
first along the first parents of a ref (`jitflow.gitcmd.DirectoryHistory`: one `git log`
pass, streamed, and each file version read once through one `git cat-file` process), and
holds every log file (`*.jsonl` in the directory) to one rule:

    each version of a file starts, byte for byte, with what the file held when the whole
    log last verified (its *protected* content).

While the log verifies, that is the version before: a commit may only append lines and add
files (a marked segment too: revoke writes one when the log is broken). While it does not
verify (a broken chain, a marked segment, an earlier rewrite not yet undone), the protected
content stays where it was, so an admin's repair may change what was added since (put broken
lines back as git history has them, drop a forged line, re-chain and delete segments:
`jitflow audit repair`), but nothing the log held when it last verified. Each version that
breaks the rule is reported with its commit, file and line, until a later version holds the
protected content again (then it is a note, as is every repair).

What git history cannot show: a history replaced as a whole (force-pushed) that only appends
relative to itself, or a shallow clone's history before its first commit (reported). The
anchor (`jitflow.audit.anchor`) covers the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jitflow.audit.chain import ChainFollower
from jitflow.audit.segment import is_month_file
from jitflow.problems import Problem

_REGULAR = ("100644", "100755")
WORKTREE = ""  # the label of the working tree's changes, judged as one more commit


class ChangeLike(Protocol):
    """One path a commit changed (jitflow.gitcmd.RawChange)."""

    @property
    def new_mode(self) -> str: ...

    @property
    def new_blob(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def path(self) -> str: ...


class CommitLike(Protocol):
    @property
    def sha(self) -> str: ...

    @property
    def changes(self) -> Sequence[ChangeLike]: ...


class HistorySource(Protocol):
    """The history of the audit directory on one ref (jitflow.gitcmd.DirectoryHistory)."""

    directory: str  # repo-relative
    ref: str

    def commits(self) -> Iterable[CommitLike]: ...

    def blob(self, object_id: str) -> bytes: ...

    def blobs(self, object_ids: Sequence[str]) -> Iterable[bytes]: ...

    def subject(self, sha: str) -> str: ...

    def shallow(self) -> bool: ...

    def worktree_changes(self) -> list[str]: ...

    def worktree_file(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class HistoryReport:
    """What the walk found: a problem per file whose protected content is not in its last
    version (the first commit that broke the rule), and notes (repairs, undone rewrites)."""

    directory: str
    ref: str
    commits: int  # commits that changed a log file
    problems: list[Problem]
    notes: list[str]
    shallow: bool
    worktree: bool  # the working tree's changes were judged too

    def summary(self) -> str:
        where = f"{self.directory}/ on {self.ref}" + (" and in the working tree"
                                                      if self.worktree else "")
        count = f"{self.commits} commit{'s' if self.commits != 1 else ''}"
        if self.problems:
            return f"history of {where}: rewritten ({count} checked)"
        if not self.commits:
            return f"history of {where}: no commit changed it yet"
        shallow = " (a shallow clone: from its first commit only)" if self.shallow else ""
        return f"history of {where}: {count}, each only appended{shallow}"


def check_history(source: HistorySource, worktree: bool = False) -> HistoryReport:
    """Walk the history `source` gives (and, with `worktree`, the working tree's changes to
    it, which must be on top of `source.ref`) and judge every version of every log file.

    The list of changes is read first (small: paths and object ids), then every version it
    names in one stream, in order, so that git reads ahead while each is judged."""
    walker = _Walker(source)
    commits = [(commit.sha, changes) for commit in source.commits()
               if (changes := sorted(
                   (name, ("blob", c.new_blob) if c.status != "D" else None,
                    c.status == "D" or c.new_mode in _REGULAR)
                   for c in commit.changes if (name := walker.log_file(c.path)) is not None))]
    contents = iter(source.blobs([where for _sha, changes in commits
                                  for _name, (_kind, where), regular in _read(changes)
                                  if regular]))
    try:
        for sha, changes in commits:
            walker.apply(sha, changes, contents)
    finally:
        close = getattr(contents, "close", None)  # stop git at once on a failure
        if close is not None:
            close()
    if worktree:
        changes = sorted((name, ("path", path), True) for path in source.worktree_changes()
                         if (name := walker.log_file(path)) is not None)
        if changes:
            walker.apply(WORKTREE, changes, iter(()))
    return HistoryReport(source.directory, source.ref, len(commits), walker.problems(),
                         walker.notes, source.shallow(), worktree)


def _read(changes: list[_Change]) -> list[tuple[str, tuple[str, str], bool]]:
    """The changes whose new content is read (all but deletions)."""
    return [(name, where, regular) for name, where, regular in changes if where is not None]


@dataclass(eq=False)
class _Version:
    """One version of a log file: its bytes while its file is the one changing (compared
    byte for byte), else only their sha256 (so a long history holds about one file)."""

    size: int
    open_end: bool  # the last line has no newline yet
    source: tuple[str, str]  # ("blob", object id) or ("path", repo-relative path)
    content: bytes | None
    digest: bytes = b""

    def forget_content(self) -> None:
        if self.content is not None:
            self.digest = hashlib.sha256(self.content).digest()
            self.content = None

    def starts(self, data: bytes) -> bool:
        """`data` starts with this version's bytes."""
        if self.content is not None:
            return data.startswith(self.content)
        return len(data) >= self.size and \
            hashlib.sha256(memoryview(data)[:self.size]).digest() == self.digest


@dataclass(frozen=True)
class _Rewrite:
    """A version that does not start with its file's protected content."""

    at: str  # the commit (WORKTREE: the working tree)
    name: str
    line: int | None
    what: str


_Change = tuple[str, tuple[str, str] | None, bool]  # (name, source or None: deleted, regular)


@dataclass
class _Walker:
    source: HistorySource
    files: dict[str, _Version] = field(default_factory=dict)
    protected: dict[str, _Version] = field(default_factory=dict)
    protected_at: str | None = None  # the commit the protected content is from
    follower: ChainFollower = field(default_factory=ChainFollower)
    rewrites: dict[str, _Rewrite] = field(default_factory=dict)  # by file, not yet undone
    notes: list[str] = field(default_factory=list)

    def log_file(self, path: str) -> str | None:
        """The name of a log file directly in the directory, else None."""
        prefix = self.source.directory.strip("/")
        prefix = "" if prefix in ("", ".") else prefix + "/"
        name = path[len(prefix):] if path.startswith(prefix) else ""
        if "/" in name or not name.endswith(".jsonl") or name.startswith("."):
            return None
        return name

    def label(self, at: str | None) -> str:
        if at is None:
            return "the start of the history"
        return "the working tree (not committed)" if at == WORKTREE else \
            f"commit {self.source.subject(at)}"

    def read(self, source: tuple[str, str]) -> bytes | None:
        kind, where = source
        return self.source.blob(where) if kind == "blob" else self.source.worktree_file(where)

    # ------------------------------------------------------------------ one commit

    def apply(self, at: str, changes: list[_Change], contents: Iterator[bytes]) -> None:
        """Judge one commit's changes (sorted by name); `contents`: the new blobs' contents,
        in that order (the working tree's files are read here)."""
        stale = False
        for name, source, regular in changes:
            data = None if source is None or not regular else \
                next(contents) if source[0] == "blob" else self.read(source)
            old = self.files.pop(name, None)
            if source is not None and data is not None:
                self.files[name] = _Version(len(data), bool(data) and not data.endswith(b"\n"),
                                            source, data)
            self.judge(at, name, old, data, regular)
            if is_month_file(name):
                stale = stale or not self.feed(name, old, data)
        if stale:
            self.follow_again()
        if self.clean():
            self.protected, self.protected_at = dict(self.files), at
        changed = {name for name, _source, _regular in changes}
        for name, version in [*self.files.items(), *self.protected.items()]:
            if name not in changed:
                version.forget_content()

    def judge(self, at: str, name: str, old: _Version | None, data: bytes | None,
              regular: bool) -> None:
        kept = self.protected.get(name)
        content = data or b""
        if not regular:
            self.rewrites.setdefault(name, _Rewrite(at, name, None, "replaced the file with a "
                                                                   "link or a submodule"))
        elif kept is not None and not kept.starts(content):
            self.rewrites.setdefault(name, self.describe(at, name, kept, data))
        elif name in self.rewrites:
            undone = self.rewrites.pop(name)
            self.notes.append(f"{self.label(at)} restored {self.path(name)}, of which "
                              f"{self.label(undone.at)} had {undone.what}")
        elif old is not None and not old.starts(content):
            done = "deleted" if data is None else "rewrote"
            self.notes.append(f"{self.label(at)} {done} {self.path(name)} while the log did "
                              "not verify, keeping all it held when it last verified "
                              f"({self.label(self.protected_at)}): a repair")

    def describe(self, at: str, name: str, kept: _Version, data: bytes | None) -> _Rewrite:
        """What a version did to the protected content: deleted, cut or changed it."""
        if data is None:
            return _Rewrite(at, name, None, "deleted the file")
        before = kept.content if kept.content is not None else self.read(kept.source) or b""
        if len(data) < len(before) and before.startswith(data):
            start = data.count(b"\n") + 1
            lost = before[len(data):].count(b"\n") or 1
            return _Rewrite(at, name, start, f"cut {lost} line{'s' if lost != 1 else ''} off "
                                             f"the end, from line {start}"
                                             f"{_seq_of(before, start)}")
        line = data[:_first_difference(data, before)].count(b"\n") + 1
        return _Rewrite(at, name, line, f"changed line {line}{_seq_of(before, line)}")

    def path(self, name: str) -> str:
        directory = self.source.directory.strip("/")
        return f"{directory}/{name}" if directory not in ("", ".") else name

    # ------------------------------------------------------------------ the chain

    def feed(self, name: str, old: _Version | None, data: bytes | None) -> bool:
        """Follow the lines a commit appended to the last month file; False when the change
        is anything else (the chain must then be followed again from the start)."""
        if data is None or (old is not None and not old.starts(data)):
            return False
        if any(other > name and version.size for other, version in self.files.items()
               if is_month_file(other)):
            return False  # lines added before a later month's lines
        added = data[old.size:] if old is not None else data
        if old is not None and old.open_end and added:
            if not added.startswith(b"\n"):
                return False  # the last line itself changed
            added = added[1:]
        if not self.follower.broken:
            for text in _lines(added):
                self.follower.feed(name, text)
        return True

    def follow_again(self) -> None:
        self.follower = ChainFollower()
        for name in sorted(n for n in self.files if is_month_file(n)):
            for text in _lines(self.read(self.files[name].source) or b""):
                if self.follower.feed(name, text) is None:
                    return

    def clean(self) -> bool:
        """The log verifies: the month files make one perfect chain, there is no other log
        file (a segment or a stray file), and no rewrite is still open."""
        return not self.follower.broken and not self.rewrites and \
            all(is_month_file(name) for name in self.files)

    def problems(self) -> list[Problem]:
        if not self.rewrites:
            return []
        since = self.label(self.protected_at)
        return [Problem(self.path(r.name), r.line, None,
                        f"{self.label(r.at)} {r.what}, which the log held when it last "
                        f"verified ({since}): the audit log may only be appended to")
                for r in self.rewrites.values()]


def _first_difference(a: bytes, b: bytes) -> int:
    """The index of the first byte where `a` and `b` differ (or the shorter one's length)."""
    step = 1 << 16
    start = 0
    while start < min(len(a), len(b)) and a[start:start + step] == b[start:start + step]:
        start += step
    end = min(len(a), len(b), start + step)
    return next((i for i in range(start, end) if a[i] != b[i]), end)


def _lines(data: bytes) -> list[str]:
    """The lines as the store reads them: decoded with bad bytes replaced, split on "\\n"."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _seq_of(content: bytes, line: int) -> str:
    """`, seq N` of the record on that line of `content`, when it has one."""
    lines = content.split(b"\n")
    try:
        seq = json.loads(lines[line - 1]).get("seq")
    except (ValueError, IndexError, AttributeError, RecursionError):
        return ""
    return f" (seq {seq})" if type(seq) is int else ""
