"""Time helpers: every instant inside severa-sync is a tz-aware UTC datetime.

Watermarks are stored as readable ISO-8601 UTC strings (``2026-11-20T05:30:00Z``) that an operator
can edit by hand; parsing accepts what a person is likely to type (a date, an offset, no zone = UTC).
Precision is kept exactly: a watermark is never rounded (rounding up loses records).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values are UTC (Severa's convention); aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_watermark(value: datetime) -> str:
    value = as_utc(value)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_watermark(text: str) -> datetime:
    """Parse a stored or hand-typed watermark; raises ValueError with the offending text."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty watermark")
    try:
        if len(raw) == 10:  # a bare date typed by an operator
            return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC)
        return as_utc(datetime.fromisoformat(raw.replace("z", "Z")))
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r} (expected e.g. 2026-11-20T05:30:00Z)") from None


def local(value: datetime, zone: ZoneInfo) -> datetime:
    return as_utc(value).astimezone(zone)


def iso_seconds(value: datetime) -> str:
    """Second-precision ISO string with offset, for log lines."""
    return value.isoformat(timespec="seconds")


def readable_duration(value: timedelta) -> str:
    """``1 day``, ``6 hours``, ``1 hour 30 minutes``, ``45 seconds``: for people, never ``1 day, 0:00:00``."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}" + ("" if count == 1 else "s"))
    return " ".join(parts[:2])  # two units are enough to read a window or a wait
