"""One run's notifications: new events and earlier failures, to every target that wants
them. Pure, except through the `Sender` it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jitflow.model import NotificationTarget
from jitflow.notify import outbox
from jitflow.notify.events import Event


class DeliveryFailed(Exception):
    """A target did not take a notification (HTTP error, timeout, AWS error)."""


class Sender(Protocol):
    def send(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        """Deliver one document, or raise DeliveryFailed."""


@dataclass(frozen=True)
class Dispatched:
    lines: list[dict[str, Any]]  # to append to the outbox

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["status"] != "delivered"]


def dispatch(targets: Sequence[NotificationTarget], events: Sequence[Event],
             earlier: Sequence[dict[str, Any]], sender: Sender, *, time: str,
             repository_url: str | None) -> Dispatched:
    """Retry what failed before, then send each new event once to each target that wants it
    (never one a previous run already tried). Every attempt becomes an outbox line."""
    by_label = {target.label: target for target in targets}
    tried = outbox.seen(earlier)
    lines: list[dict[str, Any]] = []

    def attempt(target: NotificationTarget, document: dict[str, Any], attempts: int) -> None:
        try:
            sender.send(target, document)
        except DeliveryFailed as error:
            lines.append(outbox.failed_line(target.label, document, str(error), time, attempts))
        else:
            lines.append(outbox.delivered_line(target.label, document["id"], time))

    for retry in outbox.pending(earlier, by_label):
        attempt(by_label[retry.target], retry.document, retry.attempts + 1)
    for event in events:
        document = event.document(repository_url)
        for target in targets:
            if target.wants(event.kind) and (target.label, event.id) not in tried:
                attempt(target, document, 1)
    return Dispatched(lines)
