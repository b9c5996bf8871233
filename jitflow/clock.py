"""Time: the one adapter over the system clock, and parsing of user-given times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from jitflow.errors import UsageError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, to the second (IAM conditions and audit records use whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always answers `at` (for `--at` and for tests)."""
    return lambda: at


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time; a time without zone is refused, not guessed."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: use ISO 8601 with a zone, e.g. 2026-11-28T09:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise UsageError(f"time {text!r} has no zone: add Z for UTC")
    return parsed.astimezone(UTC).replace(microsecond=0)


def iso(at: datetime) -> str:
    """The one UTC text form used in policies, tags and audit records."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
