"""The parts of an audit log on disk: the month files, then any marked segments.

Reads files (the store's adapter side); what makes a segment legitimate is
`jitflow.audit.segment`. `walk` follows each part a line at a time with
`chain.ChainFollower` and finds where it stops being verifiable (its anchor), which segments
are legitimate, and the records a revoke may trust: each legitimate part's records up to its
anchor. Records past a break are never trusted: a grant recorded there counts as unrecorded
(kept only if its merge re-verifies), and the end of one does not prevent a reconcile.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jitflow.audit import anchor, chain, segment
from jitflow.audit.anchor import MONTH_FILES
from jitflow.audit.segment import NOTHING, Anchor
from jitflow.problems import Problem


def numbered(files: list[Path]) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, text) of every line of `files` in order, a line at a time
    (decoded as the store decodes: bad bytes replaced, split on "\\n" only)."""
    for path in files:
        with path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                yield path, number, line.removesuffix("\n")


@dataclass
class Part:
    """What following one part of the log found."""

    label: str  # MONTH_FILES, or a segment's file name
    files: list[Path]
    anchor: Anchor = NOTHING  # its last verifiable record
    broken: bool = False  # it stops being verifiable before its end
    records: list[dict[str, Any]] = field(default_factory=list)  # up to the anchor, if kept
    places: list[Anchor] = field(default_factory=list)  # where each of those records is
    first: dict[str, Any] | None = None  # its first verifiable record
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> hash, of the seqs asked for
    legitimate: bool = True  # a segment not reported as forged (the month files always are)

    @property
    def is_segment(self) -> bool:
        return self.label != MONTH_FILES


def follow(label: str, files: list[Path], keep: bool,
           seqs: Collection[int] = frozenset()) -> Part:
    """Follow one part: the month files, or a segment (whose records after the first must be
    ones a segment may hold; the first is judged by `segment.start_problems`). The hashes of
    the verifiable records at `seqs` go into `hashes`."""
    part = Part(label, files)
    follower = chain.ChainFollower()
    for path, number, text in numbered(files):
        record = follower.feed(str(path), text)
        if record is not None and part.is_segment and follower.count > 1 \
                and segment.content_problem(record) is not None:
            record = None
        if record is None:
            part.broken = True
            return part
        part.first = part.first or record
        part.anchor = Anchor(path.name, number, record["seq"], record["hash"])
        if record["seq"] in seqs:
            part.hashes[record["seq"]] = record["hash"]
        if keep:
            part.records.append(record)
            part.places.append(part.anchor)
    return part


@dataclass
class Walk:
    """The log's parts in order, judged."""

    main: Part
    current: Part  # the last legitimate part: appends go on it, or a segment starts after it
    trusted: list[dict[str, Any]]  # each legitimate part's records up to its anchor
    problems: list[Problem]  # each segment's start (forged) or notice (legitimate)
    next_number: int  # the n of the next segment's file
    parts: list[Part] = field(default_factory=list)  # every part, the forged segments too


def segment_files(directory: Path) -> list[tuple[int, Path]]:
    """The segment files (`segment-<n>.jsonl`), by n."""
    if not directory.is_dir():
        return []
    found = [(segment.segment_number(p.name), p) for p in directory.iterdir() if p.is_file()]
    return sorted((n, p) for n, p in found if n is not None)


def walk(month_files: list[Path], segments: list[tuple[int, Path]], keep: bool,
         seqs: Mapping[str, Collection[int]] | None = None) -> Walk:
    """Follow every part in order; `seqs`: the seqs whose hashes to collect, by part label."""
    wanted = seqs or {}
    main = follow(MONTH_FILES, month_files, keep, wanted.get(MONTH_FILES, frozenset()))
    result = Walk(main, main, list(main.records), [], 1, [main])
    for number, path in segments:
        result.next_number = number + 1
        part = follow(path.name, [path], keep, wanted.get(path.name, frozenset()))
        result.parts.append(part)
        current = result.current
        wrong = segment.start_problems(part.first, current.anchor, current.broken,
                                       current.label)
        if wrong:
            part.legitimate = False
            result.problems += [Problem(str(path), 1, None, message) for message in wrong]
            continue
        assert part.first is not None  # noqa: S101 (start_problems checked it)
        result.problems.append(Problem(str(path), 1, None,
                                       segment.notice(part.first, part.anchor.line), "warning"))
        result.trusted += part.records
        result.current = part
    return result


def view(month_files: list[Path], segments: list[tuple[int, Path]],
         wanted: Collection[anchor.Head]) -> anchor.LogView:
    """The log's head and what it holds where each of the `wanted` heads says a record is, in
    one pass a line at a time (jitflow.audit.anchor)."""
    seqs: dict[str, set[int]] = {}
    for head in wanted:
        seqs.setdefault(head.part, set()).add(head.seq)
    walked = walk(month_files, segments, keep=False, seqs=seqs)
    by_label = {part.label: part for part in walked.parts}
    found: dict[anchor.Head, anchor.Found] = {}
    for head in wanted:
        part = by_label.get(head.part)
        if part is None or not part.files:
            found[head] = anchor.NOT_THERE
            continue
        found[head] = anchor.Found(True, part.legitimate, part.anchor.seq, part.broken,
                                   part.hashes.get(head.seq) if part.legitimate else None)
    last = walked.current.anchor
    return anchor.LogView(None if last == NOTHING else
                          anchor.Head(last.file, last.seq, last.hash), found)


def segment_problems(segments: list[tuple[int, Path]], walked: Walk) -> list[Problem]:
    """Every problem with the segments: each one's start or notice, its chain (it verifies on
    its own) and any record a segment may not hold."""
    problems: list[Problem] = []
    for _number, path in segments:
        lines = [(str(p), n, text) for p, n, text in numbered([path])]
        found = [p for p in walked.problems if p.path == str(path)]
        found += chain.verify_chain(lines)
        found += [Problem(file, number, None, message)
                  for file, number, text in lines[1:]
                  if (message := _content_problem(text)) is not None]
        problems += sorted(found, key=lambda p: p.line or 0)
    return problems


def _content_problem(text: str) -> str | None:
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return None  # verify_chain reports it
    return segment.content_problem(record) if isinstance(record, dict) else None


def first_problem(part: Part) -> str:
    """The first problem of a broken part, as `file:line: message` (file names only)."""
    lines = [(str(p), n, text) for p, n, text in numbered(part.files)]
    problems = chain.verify_chain(lines)
    if part.is_segment:
        problems += [Problem(file, number, None, message)
                     for file, number, text in lines[1:]
                     if (message := _content_problem(text)) is not None]
        problems.sort(key=lambda p: p.line or 0)
    if not problems:  # pragma: no cover - the follower and verify_chain agree on breaks
        return "it does not verify"
    shown = problems[0]
    return Problem(Path(shown.path).name, shown.line, None, shown.message).text()
