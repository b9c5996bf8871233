"""Durations written as `30m`, `2h`, `1h30m`, `7d`."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(?P<d>[0-9]{1,3})d)?(?:(?P<h>[0-9]{1,4})h)?(?:(?P<m>[0-9]{1,5})m)?")


def parse_duration(text: str) -> timedelta | None:
    """The duration, or None when `text` is not of the NdNhNm form (or is empty)."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    days, hours, minutes = (int(match.group(k) or 0) for k in ("d", "h", "m"))
    return timedelta(days=days, hours=hours, minutes=minutes)


def format_duration(value: timedelta) -> str:
    """`1h30m`-style text; seconds are dropped."""
    total_minutes = int(value.total_seconds()) // 60
    days, rest = divmod(total_minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts) or "0m"


def humanize(value: timedelta) -> str:
    """`in 1h 30m`-style text for people; negative durations read `5m ago`."""
    seconds = int(value.total_seconds())
    text = format_duration(timedelta(seconds=abs(seconds))).replace("d", "d ").replace("h", "h ")
    text = text.strip()
    if abs(seconds) < 60:
        text = f"{abs(seconds)}s"
    return f"in {text}" if seconds >= 0 else f"{text} ago"
