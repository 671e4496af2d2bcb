"""Read windows for RANGE data types, and the shrinking ladder (week, day, hour, minute).

When a window fails because the answer is too big or too slow, the engine retries the same span in
the next smaller size and remembers the size that worked (stored beside the watermark).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from severa_sync.engine.ports import Window

LADDER: tuple[timedelta, ...] = (
    timedelta(weeks=1),
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
)


def smaller(size: timedelta, minimum: timedelta) -> timedelta | None:
    """The next rung below ``size`` (None when already at the minimum)."""
    for rung in LADDER:
        if rung < size and rung >= minimum:
            return rung
    return None


def larger(size: timedelta, maximum: timedelta) -> timedelta | None:
    """The next rung above ``size``, capped at ``maximum`` (None when already there)."""
    for rung in reversed(LADDER):
        if rung > size:
            return min(rung, maximum) if min(rung, maximum) > size else None
    return None


def week_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 of ``at``'s week in ``zone``, as an aware datetime in that zone."""
    local_at = at.astimezone(zone)
    monday = (local_at - timedelta(days=local_at.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone)


def plan(
    start: datetime, end: datetime, size: timedelta, *, align_weeks: ZoneInfo | None = None
) -> Iterator[Window]:
    """Consecutive half-open windows covering [start, end).

    With ``align_weeks`` the span is widened to whole weeks in that zone (absences are exported as
    weekly files that are replaced whole, so a window must cover whole weeks).
    """
    if align_weeks is not None:
        start = week_start(start, align_weeks)
        last = week_start(end, align_weeks)
        end = last if last >= end else last + timedelta(weeks=1)
        size = max(size, timedelta(weeks=1))
    cursor = start
    while cursor < end:
        nxt = min(cursor + size, end)
        if align_weeks is not None:
            # Step week by week in local time so DST changes never shift a boundary.
            local_next = (cursor.astimezone(align_weeks) + size).replace(tzinfo=None)
            nxt = min(datetime.combine(local_next.date(), local_next.time(), tzinfo=align_weeks), end)
        yield Window(cursor, nxt)
        cursor = nxt
