"""How often an EventBridge Scheduler expression fires, enough to say "more often than hourly"."""

from __future__ import annotations

import re

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")


def _minutes_in_field(field: str) -> set[int]:
    """Minutes of an hour a cron minute field selects (``*``, ``n``, ``a-b``, ``a/s``, ``*/s``, lists)."""
    minutes: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = 0, 59
        elif "-" in base:
            low, high = base.split("-", 1)
            start, end = int(low), int(high)
        else:
            start = int(base)
            end = 59 if step_text else start
        if not (0 <= start <= 59 and 0 <= end <= 59 and step >= 1):
            raise ValueError(f"bad cron minute field {field!r}")
        minutes.update(range(start, end + 1, step))
    return minutes


def fires_more_than_hourly(expression: str) -> bool:
    """True when the schedule can fire twice within one hour."""
    if rate := _RATE.match(expression):
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ValueError(f"bad rate {expression!r}")
        return unit.startswith("minute") and value < 60
    if cron := _CRON.match(expression):
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields (minute hour day month weekday year): {expression!r}")
        # Any hour field fires at most once per listed hour, so the minute field decides.
        return len(_minutes_in_field(fields[0])) > 1
    raise ValueError(f"not a rate() or cron() expression: {expression!r}")
