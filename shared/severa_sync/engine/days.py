"""Days of hour entries: the one rule for which day an entry belongs to, and day-aligned windows.

The engine's by-date image strategy (``engine.images``) and the S3 day files (``targets.s3``) must
agree exactly on an entry's day, or a day read whole could miss an entry its file holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from severa_sync.engine.ports import Window

DAY = timedelta(days=1)


def day_of(when: datetime, zone: ZoneInfo) -> date:
    """``EventDate`` is a day: Severa sends it as midnight without a zone, which reads as UTC
    midnight; anything else is an instant whose day is the tenant's local one."""
    utc = when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return utc.date() if utc.time() == time(0) else utc.astimezone(zone).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_window(first: date, last: date) -> Window:
    """The window of the days ``first`` .. ``last`` (inclusive), as UTC midnights."""
    return Window(midnight(first), midnight(last) + DAY)


def covered_days(window: Window) -> Iterator[date]:
    """Days whose whole [00:00, 24:00) UTC lies inside ``window`` (a day window covers its days)."""
    if window.end is None:
        return
    start = window.start.astimezone(UTC)
    day = start.date() if start.time() == time(0) else start.date() + DAY
    while midnight(day) + DAY <= window.end:
        yield day
        day += DAY


def reconcile_start(today: date, months: int) -> date:
    """The first day of the month ``months`` before ``today``'s (``months`` 0: this month's)."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
