"""`requested` events: the request files of open pull requests, polled by the scheduled run.
Pure, except through the `PullLister` it is given.

No job that may send a notification runs when a pull request opens: the check job holds no
secret (a pull request can edit the workflow it runs), and nothing runs on
`pull_request_target`. So the revoke run, which holds the notification credentials through its
pinned role, asks GitHub which pull requests are open and announces the requests they add or
change. It reads only GitHub's metadata (numbers, authors, file names), never the pull
request's content, so nothing a hostile author wrote is parsed by a job holding credentials.

Each pull request head is looked at once: an outbox line remembers it, so a run costs one list
call plus one files call per pull request pushed to since the last run. Each request is
announced once per pull request (the event id names both), however often it is pushed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jitflow.approvals import OpenPull
from jitflow.clock import iso
from jitflow.grants import check_request_id
from jitflow.notify.events import Event, event_id
from jitflow.pr.check import request_id_of

POLLED = "polled"  # the outbox status of a line that remembers a pull request head looked at
# A deleted request file asks for an early revoke, which is announced when it is merged.
_ASKING = frozenset({"added", "modified", "renamed", "changed", "copied"})


class PullLister(Protocol):
    def open_pulls(self, base: str) -> list[OpenPull]:
        """The open pull requests into `base`."""
        ...

    def pull_file_changes(self, number: int) -> list[tuple[str, str]]:
        """(path, status) of each file the pull request changes."""
        ...


@dataclass(frozen=True)
class Polled:
    events: list[Event]
    lines: list[dict[str, Any]]  # outbox lines remembering the heads looked at


def _head_key(pull: OpenPull) -> str:
    return f"pull {pull.number} {pull.head_sha}"


def polled_line(pull: OpenPull, time: str) -> dict[str, Any]:
    return {"status": POLLED, "target": "*", "id": _head_key(pull), "time": time}


def _well_formed(request: str) -> bool:
    """A file name no request can have (the check refuses it) is not announced: the name is
    the hostile author's to choose, and would otherwise reach a chat channel as text."""
    try:
        check_request_id(request)
    except ValueError:
        return False
    return True


def requests_asked(changes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(request id, path) of each request file a pull request adds or changes, by path."""
    asked = {}
    for path, status in changes:
        request = request_id_of(path)
        if request is not None and status in _ASKING and _well_formed(request):
            asked[path] = request
    return sorted((request, path) for path, request in asked.items())


def requested_events(pull: OpenPull, changes: Iterable[tuple[str, str]],
                     now: datetime) -> list[Event]:
    """One event per request the pull request asks for; the requester is its author (the
    check refuses a request whose requester is anyone else)."""
    return [Event(kind="requested", id=event_id("requested", pull.number, request),
                  time=iso(now), request=request, pr=pull.number,
                  facts={"requester": pull.author, "path": path})
            for request, path in requests_asked(changes)]


def poll(lister: PullLister, base: str, earlier: Sequence[dict[str, Any]],
         now: datetime) -> Polled:
    """The `requested` events of open, non-draft pull requests into `base` whose head no run
    looked at yet. A draft is looked at once it is marked ready."""
    looked = {line["id"] for line in earlier if line["status"] == POLLED}
    events: list[Event] = []
    lines: list[dict[str, Any]] = []
    for pull in lister.open_pulls(base):
        if pull.draft or _head_key(pull) in looked:
            continue
        events += requested_events(pull, lister.pull_file_changes(pull.number), now)
        lines.append(polled_line(pull, iso(now)))
    return Polled(events, lines)
