"""The audit log on disk: one JSON Lines file per month (`YYYY-MM.jsonl`) in a directory.

The chain itself (hashing, checking) is `jitflow.audit`; this module reads and writes the
files. A record is added with one O_APPEND write followed by fdatasync, and a short write
is cut back, so the file holds whole records only. Appends on one machine are serialised
with a lock on the directory; each append checks the log first (the whole chain once, then
only that nobody else changed the file since this instance's own last write).

Reading streams the files a line at a time through `chain.ChainFollower`, which keeps only
the last link, and hands back only the records a caller asked for. Only a log that is not a
perfect chain is read whole, so that `chain.verify_chain` can explain every break.

A log that does not verify refuses appends, except through `RemovalLog`, revoke's view: it
records removals in marked segments (`segment-<n>.jsonl`, jitflow.audit.segment), which
`verify` reports until an admin's `repair` re-chains them onto the restored month files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jitflow.audit import anchor, chain, parts, segment
from jitflow.audit.anchor import MONTH_FILES
from jitflow.audit.segment import is_month_file
from jitflow.clock import iso, parse_time
from jitflow.errors import AuditError
from jitflow.problems import Problem

_SHOWN_PROBLEMS = 5


def _split_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")  # bad bytes then fail the hash check
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last record
    return lines


def _describe(problems: list[Problem]) -> str:
    shown = "; ".join(p.text() for p in problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"; and {more} more"
    return shown


_Keep = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class LogSummary:
    """What one pass over the whole log found."""

    problems: list[Problem]  # empty when the chain is intact
    records: int  # how many records the log holds
    files: int  # how many month files hold at least one line
    last: dict[str, Any] | None  # the last record (None for an empty log)


class AuditLog:
    """The hash-chained audit log under `directory` (which need not exist yet)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._changed: list[Path] = []
        # What this instance last wrote: (last record, its file, that file's stat key).
        # Lets a run of many appends skip re-verifying the whole log each time, while
        # still noticing when anyone else touched the file in between.
        self._tail: tuple[dict[str, Any], Path, tuple[int, int, int]] | None = None
        # The seq of the last record this instance read or wrote: records after it were
        # appended by someone else (another run on this machine) since.
        self._seen_seq: int | None = None

    # ------------------------------------------------------------------ reading

    def month_files(self) -> list[Path]:
        """The month files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            (p for p in self.directory.iterdir() if is_month_file(p.name) and p.is_file()),
            key=lambda p: p.name,
        )

    def segment_files(self) -> list[Path]:
        """The marked segments' files (`segment-<n>.jsonl`), in order (jitflow.audit.segment)."""
        return [path for _number, path in parts.segment_files(self.directory)]

    def _stray_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.name.endswith(".jsonl")
            and not p.name.startswith(".")
            and not is_month_file(p.name)
            and segment.segment_number(p.name) is None
        )

    def lines(self) -> list[tuple[str, int, str]]:
        """Every line of every month file in log order: (file, line number, text)."""
        found: list[tuple[str, int, str]] = []
        for path in self.month_files():
            label = str(path)
            for number, text in enumerate(_split_lines(path.read_bytes()), start=1):
                found.append((label, number, text))
        return found

    def _stream(self, files: list[Path]) -> Iterator[tuple[str, str]]:
        """(file, text) of every line of `files` in log order, read a line at a time (the
        lines `lines` gives, without holding them)."""
        for path in files:
            label = str(path)
            # Decoded as `lines` decodes (bad bytes replaced), split on "\n" only.
            with path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
                for line in handle:
                    yield label, line.removesuffix("\n")

    def _stray_problems(self) -> list[Problem]:
        return [
            Problem(
                str(path),
                None,
                None,
                "not a month file (YYYY-MM.jsonl): its records are outside the chain",
            )
            for path in self._stray_files()
        ]

    def _segment_problems(self) -> list[Problem]:
        """The marked segments' problems: each one, even a legitimate one, is reported until
        an admin repairs the log (jitflow.audit.segment)."""
        segments = parts.segment_files(self.directory)
        if not segments:
            return []
        walked = parts.walk(self.month_files(), segments, keep=False)
        return parts.segment_problems(segments, walked)

    def _verify(self, lines: list[tuple[str, int, str]]) -> list[Problem]:
        return self._stray_problems() + chain.verify_chain(lines) + self._segment_problems()

    def _pass(
        self, keep: _Keep | None, files: list[Path] | None = None
    ) -> tuple[LogSummary, list[dict[str, Any]]]:
        """One pass over the log: its summary, and the records `keep` says yes to (in order).

        Streams while the chain is perfect; a log that is not is read again whole and judged
        by `chain.verify_chain`, which names every problem's file and line."""
        files = self.month_files() if files is None else files
        follower = chain.ChainFollower()
        kept: list[dict[str, Any]] = []
        labels: set[str] = set()
        last: dict[str, Any] | None = None
        for label, text in self._stream(files):
            record = follower.feed(label, text)
            if record is None:
                return self._judge_whole(keep)
            labels.add(label)
            last = record
            if keep is not None and keep(record):
                kept.append(record)
        summary = LogSummary(self._stray_problems() + self._segment_problems(), follower.count,
                             len(labels), last)
        return summary, kept

    def _judge_whole(self, keep: _Keep | None) -> tuple[LogSummary, list[dict[str, Any]]]:
        """`_pass` for a log that is not a perfect chain: every line at once, as it always was."""
        lines = self.lines()
        problems = self._verify(lines)
        files = len({file for file, _line, _text in lines})
        if problems:
            return LogSummary(problems, len(lines), files, None), []
        records = [json.loads(text) for _file, _line, text in lines]
        kept = [r for r in records if keep(r)] if keep is not None else []
        return LogSummary([], len(records), files, records[-1] if records else None), kept

    def verify(self) -> list[Problem]:
        """Every problem with the log; empty when the chain is intact."""
        return self._pass(None)[0].problems

    def summary(self) -> LogSummary:
        """Problems, number of records and files, and the last record, in one pass."""
        return self._pass(None)[0]

    def select(self, keep: _Keep) -> list[dict[str, Any]]:
        """The records `keep` says yes to, in order, from one pass that verifies the whole
        chain; AuditError (naming file:line) when it is broken."""
        summary, kept = self._pass(keep)
        if summary.problems:
            raise AuditError(
                f"audit log {self.directory} does not verify: {_describe(summary.problems)}"
            )
        self._seen_seq = int(summary.last["seq"]) if summary.last else 0
        return kept

    def records(self) -> list[dict[str, Any]]:
        """All records in order; AuditError (naming file:line) when the chain is broken."""
        return self.select(lambda _record: True)

    def for_request(self, request_id: str) -> list[dict[str, Any]]:
        """The records about one request (`policy/name`), in order."""
        return self.select(lambda record: record.get("request") == request_id)

    def view(self, wanted: Collection[anchor.Head]) -> anchor.LogView:
        """The log's head, and what it holds where each `wanted` head says a record is
        (jitflow.audit.anchor), in one pass a line at a time."""
        return parts.view(self.month_files(), parts.segment_files(self.directory), wanted)

    def changed_files(self) -> list[Path]:
        """Files this instance appended to, in first-change order (for `git commit`)."""
        return list(self._changed)

    def read_side_file(self, name: str) -> str:
        """A file kept beside the chain (not a month file, so never part of it), or ""."""
        try:
            return (self.directory / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def append_side_lines(self, name: str, lines: list[dict[str, Any]]) -> None:
        """Append JSON lines to a side file (the notification outbox), under the log's lock,
        so the run's commit carries it with the records."""
        if not lines:
            return
        path = self.directory / name
        text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
        with self._locked(), path.open("a", encoding="utf-8") as handle:
            handle.write(text)
        if path not in self._changed:
            self._changed.append(path)

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    @staticmethod
    def _stat_key(path: Path) -> tuple[int, int, int]:
        st = path.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _last(self) -> tuple[dict[str, Any] | None, Path | None, list[dict[str, Any]]]:
        """The last record and its file, verifying the log unless nothing changed since
        this instance's own last write; with the records after `_seen_seq` (none on that
        fast path)."""
        files = self.month_files()
        if self._tail is not None:
            record, path, key = self._tail
            with contextlib.suppress(OSError):
                if files and files[-1] == path and self._stat_key(path) == key:
                    return record, path, []
        seen = self._seen_seq or 0
        summary, unseen = self._pass(lambda r: int(r["seq"]) > seen, files)
        if summary.problems:
            raise AuditError(
                f"refusing to append to audit log {self.directory}: it does not verify: "
                f"{_describe(summary.problems)}"
            )
        return summary.last, (files[-1] if files else None), unseen

    def append(self, event: str, details: Mapping[str, Any], at: datetime) -> dict[str, Any]:
        """Append one record (AuditError if the log does not verify); returns it.

        The record goes into the file of its own month, or into the newest file when that
        is later (a clock behind the last writer's must not put a record before it).
        """
        record = self.append_unless(event, details, at, lambda _others: False)
        assert record is not None  # noqa: S101 (the predicate never declines)
        return record

    def append_unless(
        self,
        event: str,
        details: Mapping[str, Any],
        at: datetime,
        done_elsewhere: Callable[[list[dict[str, Any]]], bool],
    ) -> dict[str, Any] | None:
        """`append`, unless `done_elsewhere` says another writer already recorded it: it is
        called under the lock with the records others appended since this instance last
        read or wrote (often none), and a true answer writes nothing and returns None.
        Check-and-append is one step, so two runs cannot both record the same change."""
        with self._locked():
            last, last_path, others = self._last()
            if others:
                self._seen_seq = int(others[-1]["seq"])
            if done_elsewhere(others):
                return None
            record = chain.next_record(last, at=at, event=event, details=details)
            path = self._month_path(record["time"], last_path)
            self._add(path, record)
            self._tail = (record, path, self._stat_key(path))
            self._seen_seq = int(record["seq"])
            return record

    def _month_path(self, time: str, last_path: Path | None) -> Path:
        """The month file of a record made at `time`, or the newest file when that is later."""
        month = chain.month_of(time)
        if last_path is not None and last_path.name[:7] > month:
            month = last_path.name[:7]
        return self.directory / f"{month}.jsonl"

    def _add(self, path: Path, record: dict[str, Any]) -> None:
        self._write(path, chain.dumps(record))
        if path not in self._changed:
            self._changed.append(path)

    # ------------------------------------------------------------------ repair

    def repair(self, actor: str, at: datetime) -> list[tuple[str, int]]:
        """Re-chain the marked segments' records onto the month files, once an admin has
        restored those from git history so that they verify; then remove the segment files.

        Each record keeps its time, event and details (a `chain_started` says in its reason
        that it was re-chained, by whom and when) and gets its place in the one chain. Refuses
        (AuditError, nothing written) while the month files do not verify, or a segment does
        not verify on its own or does not start from a record of the log before it. Returns
        (segment file, records re-chained) of each segment."""
        with self._locked():
            main = parts.follow(MONTH_FILES, self.month_files(), keep=True)
            wrong = self._stray_problems() + (chain.verify_chain(self.lines()) if main.broken
                                              else [])
            if wrong:
                raise AuditError(f"restore the month files from git history first, so that "
                                 f"they verify: {_describe(wrong)}")
            known = set(main.places) | {segment.NOTHING}
            segments = [parts.follow(path.name, [path], keep=True)
                        for _number, path in parts.segment_files(self.directory)]
            for part in segments:
                _check_repairable(part, known)
                known |= set(part.places)
            self._rechain(segments, main.records[-1] if main.records else None, actor, at)
            for part in segments:
                part.files[0].unlink()
                self._changed.append(part.files[0])
            self._tail = None
        return [(part.label, len(part.records)) for part in segments]

    def _rechain(self, segments: list[parts.Part], last: dict[str, Any] | None, actor: str,
                 at: datetime) -> None:
        files = self.month_files()
        last_path = files[-1] if files else None
        for part in segments:
            for record in part.records:
                details = {k: record[k] for k in chain.DETAIL_FIELDS if k in record}
                if record["event"] == segment.STARTED:
                    details["reason"] = (f"{details.get('reason') or ''} [re-chained after seq "
                                         f"{last['seq'] if last else 0} by {actor} at "
                                         f"{iso(at)} (jitflow audit repair)]")
                last = chain.next_record(last, at=parse_time(record["time"]),
                                         event=record["event"], details=details)
                last_path = self._month_path(last["time"], last_path)
                self._add(last_path, last)

    def for_removals(self) -> RemovalLog:
        """This log as `jitflow revoke` reads and writes it, broken or not (RemovalLog)."""
        return RemovalLog(self)

    def _write(self, path: Path, line: str) -> None:
        """Add one line to `path` with O_APPEND in a single write, then fdatasync.

        A short write (disk full) is cut back to the old length, so no half record stays.
        (A rewrite-to-temp-and-rename costs ~2 ms per record on ext4 against ~0.5 ms here,
        which matters to a revoke run writing a thousand records.)"""
        created = not path.exists()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise AuditError(f"cannot write audit file {path}: {error.strerror}") from error
        try:
            start = os.fstat(fd).st_size
            data = line.encode("utf-8") + b"\n"
            if start and not self._ends_with_newline(path, start):
                data = b"\n" + data
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(28, "short write (disk full?)")
                os.fdatasync(fd)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise AuditError(f"cannot write audit file {path}: {error.strerror}") from error
        finally:
            os.close(fd)
        if created:  # make the new directory entry durable too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @staticmethod
    def _ends_with_newline(path: Path, size: int) -> bool:
        with path.open("rb") as handle:
            handle.seek(size - 1)
            return handle.read(1) == b"\n"


def _check_repairable(part: parts.Part, known: set[segment.Anchor]) -> None:
    """A segment whose records may join the chain: it verifies on its own, and starts from a
    record of the log before it (`known`)."""
    if part.broken:
        raise AuditError(f"{part.label} does not verify on its own "
                         f"({parts.first_problem(part)}): restore it from git history first")
    first = part.first or {}
    anchor = segment.Anchor.from_json(first.get("anchor"))
    if first.get("event") != segment.STARTED or anchor not in known:
        named = anchor.text() if anchor else "no record"
        raise AuditError(f"{part.label} does not start from a record of the log before it (it "
                         f"names {named}): a forged segment? Remove it once reviewed")


class RemovalLog:
    """The log as revoke uses it when it does not verify: removing access never waits for a
    repair (jitflow.audit.segment).

    `records` are the trusted ones: each legitimate part's records up to where it stops
    being verifiable. A record goes on the last legitimate part when that part is intact (the
    month files' chain, when only stray or forged segment files are wrong; or the current
    segment); otherwise a new segment starts after it, its `chain_started` naming the last
    verifiable record and the first problem. Only the end of a grant, or an approved grant
    found without its record, may go into a segment. Writes share the store's lock; each
    append reads the whole log again (a broken log is rare, a revoke writes few records)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._seen = 0  # how many trusted records this instance has read or written

    def _walk(self, keep: bool = True) -> parts.Walk:
        return parts.walk(self.log.month_files(), parts.segment_files(self.log.directory), keep)

    def records(self) -> list[dict[str, Any]]:
        trusted = self._walk().trusted
        self._seen = len(trusted)
        return trusted

    def append_unless(
        self,
        event: str,
        details: Mapping[str, Any],
        at: datetime,
        done_elsewhere: Callable[[list[dict[str, Any]]], bool],
    ) -> dict[str, Any] | None:
        """As `AuditLog.append_unless`, on the part the walk says."""
        with self.log._locked():
            walked = self._walk()
            others, self._seen = walked.trusted[self._seen:], len(walked.trusted)
            if done_elsewhere(others):
                return None
            into_segment = walked.current.broken or walked.current.is_segment
            if into_segment and not segment.recordable(event, details.get("reconciled") is True):
                raise AuditError(f"refusing to record {event} in a marked segment: while the "
                                 "audit log does not verify, only removals are recorded")
            path, last = self._target(walked, at, details)
            record = chain.next_record(last, at=at, event=event, details=details)
            self.log._add(path, record)
            self._seen += 1
            return record

    def _target(self, walked: parts.Walk, at: datetime, details: Mapping[str, Any]
                ) -> tuple[Path, dict[str, Any] | None]:
        """Where the next record goes and the record it follows; starts a segment when the
        last legitimate part is broken."""
        current = walked.current
        last = None if current.anchor == segment.NOTHING else \
            {"seq": current.anchor.seq, "hash": current.anchor.hash}
        if current.broken:
            return self._start(walked, at, str(details.get("actor") or ""))
        if current.is_segment:
            return current.files[0], last
        files = self.log.month_files()
        return self.log._month_path(iso(at), files[-1] if files else None), last

    def _start(self, walked: parts.Walk, at: datetime, actor: str
               ) -> tuple[Path, dict[str, Any]]:
        """A new segment after the last legitimate part: its `chain_started` record."""
        current = walked.current
        details = segment.started_details(current.anchor, parts.first_problem(current), actor)
        started = chain.next_record(None, at=at, event=segment.STARTED, details=details)
        path = self.log.directory / segment.segment_name(walked.next_number)
        self.log._add(path, started)
        self._seen += 1
        return path, started
