"""A run paused by the target's quota (issue 16): what it says, and whether a person must know.

A backfill of 100,000 accounts needs several of Visma.net's hourly quota windows. Each window the
run delivers what the budget allows, saves its progress (the next invocation re-reads and skips what
is already there) and pauses until the window resets; the retry machine waits that long and invokes
it again. A planned pause is a progress line, never an alert:

    Delivered 14,900 of 100,000 accounts; quota window resets in 23 min; about 6 h to go

It is an alert (kind ``quota``) when it is not a planned pause: the invocation delivered nothing
before the quota ran out (a backfill no longer making progress: other integrations use the whole
window), or a normal incremental run (the watermark was set, and what it had to deliver fits one
window) ran out of quota.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from severa_sync.engine.context import OutOfTime
from severa_sync.engine.run import Run
from severa_sync.errors import TargetQuotaPaused
from severa_sync.logs import RunLog
from severa_sync.registry import DataType
from severa_sync.timeutil import readable_duration


@dataclass(frozen=True, slots=True)
class Pause:
    resume_in_seconds: int
    #: The progress line's estimate of the time to go (None when it could not be made).
    eta_seconds: int | None
    #: The alert's summary when the pause is not planned, else None.
    alert: str | None


def eta_seconds(left: int, resets_in: float, budget: int | None, window: float) -> float | None:
    """Seconds until ``left`` records (one call each) are delivered at ``budget`` calls a window,
    the first window starting when the current one resets."""
    if budget is None or budget <= 0:
        return None
    if left <= 0:
        return 0.0
    return resets_in + (math.ceil(left / budget) - 1) * window


def report_pause(dt: DataType, log: RunLog, run: Run | None, out: OutOfTime, attempt: int) -> Pause:
    paused = out.paused
    assert isinstance(paused, TargetQuotaPaused)
    resets_in = paused.resets_in_seconds
    nouns = dt.noun_plural
    delivered = run.counts.delivered if run else 0
    done = delivered + (run.counts.skipped if run else 0)
    left = out.left
    line = (
        f"Delivered {done:,} of {done + left:,} {nouns}"
        if left is not None
        else f"Delivered {done:,} {nouns}"
    )
    line += f"; quota window resets in {max(math.ceil(resets_in / 60), 1)} min"
    eta = eta_seconds(left, resets_in, paused.budget, paused.window_seconds) if left is not None else None
    if eta is not None:
        line += f"; about {readable_duration(timedelta(seconds=eta))} to go"
    else:  # a paged read is never read ahead just to count it
        line += "; time to go unknown (the rest of the read cannot be counted)"
    log.info(
        line,
        action="quota_paused",
        delivered=done,
        left=left,
        resets_in_seconds=round(resets_in),
        eta_seconds=round(eta) if eta is not None else None,
        window_budget=paused.budget,
    )
    first_run = run is not None and run.stored.watermark is None
    backlog = left is not None and paused.budget is not None and done + left > paused.budget
    alert = None
    if delivered == 0:
        alert = (
            f"The Visma.net quota window was spent before this {dt.noun.lower()} run delivered anything; "
            "a backfill that makes no progress needs a larger share of the quota "
            "(visma.quota_reserve_percent) or fewer other integrations in this window."
        )
    elif not (first_run or backlog or attempt > 0):
        alert = (
            f"A normal incremental {dt.noun.lower()} run ran out of Visma.net quota "
            f"({paused.message}); it continues when the window resets."
        )
    return Pause(
        resume_in_seconds=math.ceil(resets_in),
        eta_seconds=round(eta) if eta is not None else None,
        alert=alert,
    )
