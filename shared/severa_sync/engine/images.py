"""Hour entries as an exact image of Severa, day by day (issue 11 classes 1 and 15).

``GetHourEntriesChangedSince`` never reports a deletion, reports nothing when Severa lists a day's
entries under other GUIDs for a while (its February 2020 incident), and misses an entry whose change
commits later than the skew margin. So a run does not deliver what changed; it learns from the
SINCE read only *which days* changed (dates only: bounded memory), adds the reconciliation span
(from the first day of the month ``types.hour_entries.reconcile_months`` back, to a year ahead),
reads those days whole with ``GetHourEntriesByDate`` in windows, and the target replaces every day
file a window covers. What is still to read is saved after every window (``resume.pending``), so
an invocation out of time, or stopped by Severa, continues where it stopped.

A day over Severa's answer limit even alone is read whole past the limit (class 8: the reader
streams with flat memory, so the size limit only ever means "ask for less" where less exists).
Only a day Severa is too slow to answer alone does not halt the type: the other days are exported,
the day is kept for the next run (``resume.retry_days``) and the run ends with an alerting
``DayUnreadable``. Why not split such a day by user (``GetHourEntriesByDateAndUserGUID``): that
needs every user, deactivated ones too, or lines go missing silently; costs a call per user; and
one user's day (an import) can still be over the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from severa_sync.engine import watermark as wm
from severa_sync.engine.context import TOO_BIG, OutOfTime
from severa_sync.engine.days import DAY, day_of, day_window, reconcile_start
from severa_sync.engine.ports import SourceRecord, Window, WindowedTarget
from severa_sync.engine.resume import ImageProgress, RetryDays
from severa_sync.engine.run import Run
from severa_sync.errors import DayUnreadable, SeveraError
from severa_sync.timeutil import format_watermark

#: Past this many separate spans the plan becomes one span from the first to the last day: more
#: days are read, the resume item stays small (a mass update touching scattered days).
MAX_SPANS = 200
#: Severa may compare the by-date bounds in its own zone (a WCF service that converts a UTC time to
#: local) and with either end inclusive: each read asks a day more on both sides and keeps only the
#: window's own days.
MARGIN = DAY
#: A day too big alone is asked once more from 12:00 the day before to 12:00 on the day (UTC): for
#: any server zone within 12 hours of UTC that holds exactly the entries dated that day, so a huge
#: day never makes its neighbours unreadable through their margins (nor they it).
HALF_DAY = timedelta(hours=12)

Span = tuple[date, date]  # first and last day, inclusive


def add_span(spans: list[Span], first: date, last: date) -> list[Span]:
    """``spans`` (sorted, disjoint, not adjacent) with [first, last] added."""
    merged: list[Span] = []
    for a, b in sorted([*spans, (first, last)]):
        if merged and a <= merged[-1][1] + DAY:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    if len(merged) > MAX_SPANS:
        return [(merged[0][0], max(b for _, b in merged))]
    return merged


def drop_through(spans: list[Span], last: date) -> list[Span]:
    """``spans`` without the days up to and including ``last``."""
    out: list[Span] = []
    for a, b in spans:
        if b <= last:
            continue
        out.append((max(a, last + DAY), b))
    return out


class DayImages:
    def __init__(self, run: Run):
        self.run = run
        self.dt = run.dt
        self.zone = run.config.zone
        settings = run.config.type_settings(self.dt.name)
        self.months = settings.reconcile_months
        self.backfill = settings.backfill_from
        self.size = max(1, run.config.window(self.dt.name).days)
        self.ahead = max(1, self.dt.lookahead.days)
        self.unreadable: list[date] = []

    # -- the run ----------------------------------------------------------------------------
    def __call__(self) -> None:
        run = self.run
        resume = run.stored.resume
        if isinstance(resume, ImageProgress) and resume.from_ == run.stored.raw:
            signpost = resume.signpost
            pending = list(resume.pending)
            self.unreadable = list(resume.unreadable)
            run.log.info(
                f"Continuing the by-date read of {self.days(pending)} days of {run.noun_plural}",
                action="images_resumed",
                pending_days=self.days(pending),
            )
        else:
            signpost = run.signpost
            pending = self.plan(signpost, resume.retry_days if isinstance(resume, RetryDays) else [])
        self.read(pending, signpost)
        new = wm.since_watermark(
            run.progress.current, signpost, signpost_at=signpost, skew=run.skew, has_change_time=False
        )
        retry = sorted(set(self.unreadable))
        run.progress.checkpoint(new, resume=RetryDays(retry_days=retry) if retry else None)
        if retry:
            raise DayUnreadable(
                f"{len(retry)} days of {run.noun_plural} ({', '.join(d.isoformat() for d in retry[:5])}"
                f"{', ...' if len(retry) > 5 else ''}) are too slow for Severa to answer even "
                "read one day at a time; every other day was exported, these days are read again by "
                "the next run. Raise severa.read_timeout_seconds if it repeats",
                call=run.source.last_call(),
            )

    @staticmethod
    def days(spans: list[Span]) -> int:
        return sum((b - a).days + 1 for a, b in spans)

    # -- which days -------------------------------------------------------------------------
    def plan(self, signpost: datetime, retry_days: list[date]) -> list[Span]:
        run = self.run
        today = (signpost - run.skew).astimezone(self.zone).date()
        last = today + timedelta(days=self.ahead)
        pending = [(reconcile_start(today, self.months), last)]
        touched = self.touched_days() if run.stored.watermark is not None else None
        if touched is None:  # first run, or the changes cannot be listed: every day from the backfill
            pending = add_span(pending, min(self.backfill, last), last)
        else:
            for day in touched:
                pending = add_span(pending, day, day)
        for day in retry_days:
            pending = add_span(pending, day, day)
        run.log.info(
            f"Reading {self.days(pending)} days of {run.noun_plural} whole, by date "
            f"({len(pending)} spans from {pending[0][0].isoformat()})",
            action="images_planned",
            pending_days=self.days(pending),
            spans=len(pending),
        )
        self.save(signpost, pending)
        return pending

    def touched_days(self) -> set[date] | None:
        """The days of the entries changed since the watermark (None: too many to list)."""
        run = self.run
        since = run.since()
        what = f"{run.noun_plural} changed since {format_watermark(since)}"
        run.log.info(f"Getting the days of {what}", action="read_started", since=format_watermark(since))
        days: set[date] = set()
        changed = 0
        try:
            for record in run.source.read(self.dt, Window(since)):
                changed += 1
                day = self.day(record)
                if day is not None:
                    days.add(day)
                if run.out_of_time():
                    raise OutOfTime
        except TOO_BIG as error:
            run.log.warning(
                f"Reading {what} failed ({error.code}); reading every day from the backfill date "
                f"{self.backfill.isoformat()} by date instead",
                action="fallback_used",
                error_code=error.code,
            )
            return None
        run.log.info(
            f"{changed} {run.noun_plural} changed, on {len(days)} days", action="changed_days", days=len(days)
        )
        return days

    def day(self, record: SourceRecord) -> date | None:
        value = getattr(record.payload, "EventDate", None)
        return day_of(value, self.zone) if isinstance(value, datetime) else None

    # -- reading days whole -----------------------------------------------------------------
    def read(self, pending: list[Span], signpost: datetime) -> None:
        run = self.run
        today = (signpost - run.skew).astimezone(self.zone).date()
        #: After a window too big: smaller windows (a week, then a day) up to its last day only.
        small, small_until = 0, date.min
        while pending:
            if run.out_of_time():
                raise OutOfTime  # progress was saved after the last window
            first, end = pending[0]
            days = small if first <= small_until else (self.ahead if first > today else self.size)
            last = min(end, first + timedelta(days=days - 1))
            if first <= today:
                last = min(last, today)  # days ahead are read in their own, bigger windows
            try:
                self.read_window(first, last)
            except TOO_BIG as error:
                if last > first:  # the ladder: a week, then one day
                    small, small_until = (7 if (last - first).days + 1 > 7 else 1), last
                    run.progress.split = True
                    run.log.warning(
                        f"Days {first.isoformat()} to {last.isoformat()} were too big or too slow "
                        f"({error.code}); reading them {small} day{'s' if small > 1 else ''} at a time",
                        action="window_split",
                        window_days=small,
                    )
                    continue
                if (slow := self.read_narrow(first)) is not None:
                    run.log.error(
                        f"{run.dt.noun} day {first.isoformat()} is too slow even alone "
                        f"({slow.code}); its file is left as it is and the day is read again next run",
                        slow,
                        action="day_unreadable",
                        day=first.isoformat(),
                    )
                    self.unreadable.append(first)
            pending = drop_through(pending, last)
            self.save(signpost, pending)

    def read_narrow(self, only: date) -> SeveraError | None:
        """One day with the narrow margins, read whole whatever its size; the error when Severa is
        too slow to answer it (nothing smaller exists that is still exact)."""
        try:
            self.read_window(only, only, narrow=True)
        except TOO_BIG as error:
            return error
        return None

    def read_window(self, first: date, last: date, *, narrow: bool = False) -> None:
        run = self.run
        window = day_window(first, last)
        if isinstance(run.target, WindowedTarget):
            run.target.begin_window(self.dt, window)
        end = window.end or window.start
        asked = (
            Window(window.start - HALF_DAY, end - HALF_DAY, past_size_cap=True)
            if narrow
            else Window(window.start - MARGIN, end + MARGIN)
        )
        run.records.process(self.within(run.source.read_fallback(self.dt, asked), first, last))
        run.records.flush(window)  # records are "processed correctly" once written

    def within(self, records: Iterator[SourceRecord], first: date, last: date) -> Iterator[SourceRecord]:
        """The window's own days; an entry without a usable date goes on (the target parks it)."""
        for record in records:
            day = self.day(record)
            if day is None or first <= day <= last:
                yield record

    def save(self, signpost: datetime, pending: list[Span]) -> None:
        progress = ImageProgress(
            from_=self.run.stored.raw, signpost=signpost, pending=pending, unreadable=self.unreadable
        )
        self.run.progress.checkpoint(None, resume=progress)


def run_day_images(run: Run) -> None:
    DayImages(run)()
