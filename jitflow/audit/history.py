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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jitflow.audit.chain import ChainFollower
from jitflow.problems import Problem

_MONTH_FILE = re.compile(r"\d{4}-(0[1-9]|1[0-2])\.jsonl\Z")
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
        shallow = " (a shallow clone: from its first commit only)" if self.shallow else ""
        return f"history of {where}: {count}, each only appended{shallow}"


def check_history(source: HistorySource, worktree: bool = False) -> HistoryReport:
    """Walk the history `source` gives (and, with `worktree`, the working tree's changes to
    it, which must be on top of `source.ref`) and judge every version of every log file."""
    walker = _Walker(source)
    commits = 0
    for commit in source.commits():
        changes = [(name, ("blob", c.new_blob) if c.status != "D" else None,
                    c.status == "D" or c.new_mode in _REGULAR)
                   for c in commit.changes if (name := walker.log_file(c.path)) is not None]
        if changes:
            commits += 1
            walker.apply(commit.sha, changes)
    if worktree:
        changes = [(name, ("path", path), True) for path in source.worktree_changes()
                   if (name := walker.log_file(path)) is not None]
        if changes:
            walker.apply(WORKTREE, changes)
    return HistoryReport(source.directory, source.ref, commits, walker.problems(),
                         walker.notes, source.shallow(), worktree)


@dataclass(frozen=True)
class _Version:
    size: int
    digest: bytes  # sha256 of the content
    open_end: bool  # the last line has no newline yet
    source: tuple[str, str]  # ("blob", object id) or ("path", repo-relative path)


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

    def apply(self, at: str, changes: list[_Change]) -> None:
        stale = False
        for name, source, regular in sorted(changes):
            data = self.read(source) if source is not None and regular else None
            old, kept = self.files.pop(name, None), self.protected.get(name)
            starts = _Prefixes(data or b"", old, kept)
            if source is not None and data is not None:
                self.files[name] = _Version(len(data), starts.whole,
                                            bool(data) and not data.endswith(b"\n"), source)
            self.judge(at, name, data, regular, starts)
            if _MONTH_FILE.match(name):
                stale = stale or not self.feed(name, data, starts)
        if stale:
            self.follow_again()
        if self.clean():
            self.protected, self.protected_at = dict(self.files), at

    def judge(self, at: str, name: str, data: bytes | None, regular: bool,
              starts: _Prefixes) -> None:
        kept = starts.kept
        if not regular:
            self.rewrites.setdefault(name, _Rewrite(at, name, None, "replaced the file with a "
                                                                   "link or a submodule"))
        elif kept is not None and not starts.keeps(kept):
            self.rewrites.setdefault(name, self.describe(at, name, kept, data))
        elif name in self.rewrites:
            undone = self.rewrites.pop(name)
            self.notes.append(f"{self.label(at)} restored {self.path(name)}, of which "
                              f"{self.label(undone.at)} had {undone.what}")
        elif starts.old is not None and not starts.keeps(starts.old):
            done = "deleted" if data is None else "rewrote"
            self.notes.append(f"{self.label(at)} {done} {self.path(name)} while the log did "
                              "not verify, keeping all it held when it last verified "
                              f"({self.label(self.protected_at)}): a repair")

    def describe(self, at: str, name: str, kept: _Version, data: bytes | None) -> _Rewrite:
        """What a version did to the protected content: deleted, cut or changed it."""
        if data is None:
            return _Rewrite(at, name, None, "deleted the file")
        before = self.read(kept.source) or b""
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

    def feed(self, name: str, data: bytes | None, starts: _Prefixes) -> bool:
        """Follow the lines a commit appended to the last month file; False when the change
        is anything else (the chain must then be followed again from the start)."""
        old = starts.old
        if data is None or (old is not None and not starts.keeps(old)):
            return False
        if any(other > name and version.size for other, version in self.files.items()
               if _MONTH_FILE.match(other)):
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
        for name in sorted(n for n in self.files if _MONTH_FILE.match(n)):
            for text in _lines(self.read(self.files[name].source) or b""):
                if self.follower.feed(name, text) is None:
                    return

    def clean(self) -> bool:
        """The log verifies: the month files make one perfect chain, there is no other log
        file (a segment or a stray file), and no rewrite is still open."""
        return not self.follower.broken and not self.rewrites and \
            all(_MONTH_FILE.match(name) for name in self.files)

    def problems(self) -> list[Problem]:
        if not self.rewrites:
            return []
        since = self.label(self.protected_at)
        return [Problem(self.path(r.name), r.line, None,
                        f"{self.label(r.at)} {r.what}, which the log held when it last "
                        f"verified ({since}): the audit log may only be appended to")
                for r in self.rewrites.values()]


class _Prefixes:
    """One sha256 pass over a new version: the digests of its prefixes as long as the version
    before it (`old`) and the protected one (`kept`), and of the whole."""

    def __init__(self, data: bytes, old: _Version | None, kept: _Version | None) -> None:
        self.old, self.kept = old, kept
        sizes = sorted({v.size for v in (old, kept) if v is not None and v.size <= len(data)})
        hasher, start, view = hashlib.sha256(), 0, memoryview(data)
        self.digests: dict[int, bytes] = {}
        for size in [*sizes, len(data)]:
            hasher.update(view[start:size])
            start = size
            self.digests[size] = hasher.copy().digest()
        self.whole = self.digests[len(data)]

    def keeps(self, version: _Version) -> bool:
        """The new version starts with `version`'s content, byte for byte."""
        return self.digests.get(version.size) == version.digest


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
