"""The read strategies of one run: changed-since with its fallback, date ranges, and the order a
run takes (``run_by_kind``). Each reads through the source, hands records to ``run.records`` and
moves ``run.progress``; hour-entry day images and the invoice queue have their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from severa_sync.engine import watermark as wm
from severa_sync.engine.context import TOO_BIG, OutOfTime
from severa_sync.engine.images import run_day_images
from severa_sync.engine.invoice_queue import drain_queue
from severa_sync.engine.parked import retry_parked
from severa_sync.engine.ports import SourceRecord, Window
from severa_sync.engine.records import not_again
from severa_sync.engine.resume import FallbackProgress, RecentChanges
from severa_sync.engine.run import Run
from severa_sync.engine.windows import larger, plan, smaller
from severa_sync.errors import SyncError
from severa_sync.registry import WindowKind
from severa_sync.timeutil import format_watermark, readable_duration


def run_since(run: Run) -> None:
    resume = run.stored.resume
    start = run.stored.watermark
    if isinstance(resume, FallbackProgress):
        run_fallback(run, resume)
        return
    if start is None and run.dt.fallback_windows:
        run_fallback(run, FallbackProgress())
        return
    since = run.since()
    what = f"{run.noun_plural} changed since {format_watermark(since)}"
    run.log.info(f"Getting {what}", action="read_started", since=format_watermark(since))
    overlap = wm.OverlapFilter(resume.recent if isinstance(resume, RecentChanges) and start else {})
    run.records.recent = wm.RecentChanges(
        overlap=run.overlap, cap=run.signpost - run.skew, limit=run.config.engine.overlap_dedup_limit
    )
    try:
        # A type with no smaller read to fall back to reads the whole answer: the reader's memory
        # is flat, so the size limit would only stop it (issue 11 class 8).
        window = Window(since, past_size_cap=run.dt.fallback_operation is None)
        run.records.process(run.source.read(run.dt, window), overlap, countable=True)
    except OutOfTime as out:
        if out.over_cap and run.dt.fallback_operation is not None:
            # Counting the rest for the ETA found the answer over the size cap: the continuation
            # starts the fallback at once instead of decoding this answer again (issue 16, item 4).
            run.log.info(
                f"Reading {what} is over the size limit: the continuation reads with "
                f"{run.dt.fallback_operation} from the start",
                action="fallback_planned",
            )
            run.progress.checkpoint(None, resume=FallbackProgress())
        raise
    except TOO_BIG as error:
        if run.dt.fallback_operation is None:
            raise
        run.log.warning(
            f"Reading {what} failed ({error.code}); falling back to {run.dt.fallback_operation}",
            action="fallback_used",
            error_code=error.code,
        )
        run_fallback(run, FallbackProgress())
        return
    run.records.flush(None)
    new = wm.since_watermark(
        start,
        run.counts.max_change,
        signpost_at=run.signpost,
        skew=run.skew,
        has_change_time=run.dt.has_change_time,
    )
    recent = run.records.recent.remember(new) if run.records.recent is not None else {}
    run.progress.checkpoint(new, resume=RecentChanges(recent=recent) if recent else None)


def run_fallback(run: Run, resume: FallbackProgress) -> None:
    """The paged or ranged alternative; resumable, and the watermark moves only at its end."""
    signpost = resume.signpost or run.signpost
    state = FallbackProgress(signpost=signpost)
    run.log.info(f"Reading all {run.noun_plural} with {run.dt.fallback_operation}", action="fallback_read")
    if run.dt.fallback_windows:
        cursor = resume.cursor or run.backfill_start()

        def read(window: Window) -> Iterator[SourceRecord]:
            return run.source.read_fallback(run.dt, window)

        present = signpost - run.skew
        spans = [(cursor, present, run.config.window(run.dt.name))]
        if run.dt.lookahead:
            # Records dated ahead: one window, usually almost empty (it shrinks if too big).
            spans.append((max(cursor, present), present + run.dt.lookahead, run.dt.lookahead))
        for start, end, size in spans:
            for _ in windows(run, start, end, size, read, state):
                pass  # each window is delivered, flushed and its cursor saved by windows()
    else:
        try:
            run.records.process(run.source.read_fallback(run.dt, Window(run.since())))
        except (OutOfTime, SyncError):
            # Resume in the fallback (not the primary read that was too big), from the same
            # watermark: conditional, so a rewind made meanwhile wins.
            run.progress.checkpoint(None, resume=state)
            raise
        run.records.flush(None)
    new = wm.since_watermark(
        run.progress.current, signpost, signpost_at=signpost, skew=run.skew, has_change_time=False
    )
    run.progress.checkpoint(new, resume=None)


def run_range(run: Run) -> None:
    start = run.stored.watermark
    cursor = wm.query_start(start, run.overlap) if start else run.backfill_start()
    if run.dt.reconciles:  # at least the reconciliation span, whatever the overlap
        cursor = min(cursor, run.reconcile_start())
    end = run.signpost - run.skew + run.dt.lookahead
    size = (
        timedelta(seconds=run.stored.window_seconds)
        if run.stored.window_seconds
        else (run.config.window(run.dt.name))
    )
    if run.stored.window_seconds:
        run.log.info(
            f"Using the window size that worked last time: {readable_duration(size)}",
            action="window_remembered",
        )
    if run.dt.status_queue is not None:
        # After the queue read (engine/invoice_queue.py): the incremental read by change date.
        run.log.info(
            f'Checking "{run.config.invoices.source_status}" {run.noun_plural} changed from '
            f"{format_watermark(cursor)} to {format_watermark(end)}",
            action="read_started",
            since=format_watermark(cursor),
        )
    else:
        run.log.info(
            f"Getting {run.noun_plural} from {format_watermark(cursor)} to {format_watermark(end)}",
            action="read_started",
            since=format_watermark(cursor),
        )
    for window in windows(run, cursor, end, size, range_reader(run), None):
        run.progress.checkpoint(
            wm.range_watermark(
                run.progress.current, window.end or end, signpost_at=run.signpost, skew=run.skew
            )
        )
    if not run.progress.split and run.stored.window_seconds:
        # A clean run with a remembered small window: try the next bigger rung next time.
        grown = larger(size, run.config.window(run.dt.name))
        if grown is not None:
            run.progress.window_seconds = int(grown.total_seconds())
            run.progress.checkpoint(
                None, resume=run.progress.current_resume
            )  # only if still the watermark we wrote
            run.log.info(
                f"Window size grows back to {readable_duration(grown)} for the next run",
                action="window_grown",
            )


def range_reader(run: Run) -> Callable[[Window], Iterator[SourceRecord]]:
    """The window read; for invoices without those this run's queue read handled or parked:
    each is done for this run (transferred, or parked for the next run's retry)."""

    def read(window: Window) -> Iterator[SourceRecord]:
        records = run.source.read(run.dt, window)
        if run.dt.queue_operation is None:
            return records
        done = run.records.queue_handled
        return (r for r in records if r.key not in done and r.key not in run.records.parked_keys)

    return read


def windows(
    run,
    start: datetime,
    end: datetime,
    size: timedelta,
    read: Callable[[Window], Iterator[SourceRecord]],
    resume: FallbackProgress | None,
) -> Iterator[Window]:
    """Yield each window after its records are delivered and flushed, shrinking on size/time."""
    zone = run.config.zone if run.dt.align_weeks else None
    minimum = timedelta(seconds=run.config.engine.min_window_seconds)
    cursor = start
    # Handled by a window that failed partway, until the cursor passes its end. Not for a target
    # that buffers (its unwritten records are not done), whose records are simply read again.
    handled: dict[str, str] = {}
    handled_until = start
    while cursor < end:
        if run.out_of_time():
            run.progress.save_cursor(resume, cursor)
            raise OutOfTime
        window = next(plan(cursor, end, size, align_weeks=zone))
        shrunk = smaller(size, minimum) if zone is None else None
        if shrunk is None:
            # Nothing smaller to ask for: read the whole answer (memory stays flat); only the
            # time budget bounds it, and the cursor saved below resumes it.
            window = replace(window, past_size_cap=True)
        run.records.window_handled = {} if shrunk is not None and not run.records.buffered else None
        try:
            run.records.process(not_again(read(window), handled))
        except TOO_BIG as error:
            if shrunk is None:
                run.progress.save_cursor(resume, cursor)
                raise
            if run.records.window_handled is not None:
                handled.update(run.records.window_handled)
                handled_until = max(handled_until, window.end or end)
            run.log.warning(
                f"Window {window} was too big or too slow ({error.code}); splitting into "
                f"windows of {readable_duration(shrunk)}",
                action="window_split",
                window_seconds=int(shrunk.total_seconds()),
            )
            size = shrunk
            run.progress.split = True
            run.progress.window_seconds = int(size.total_seconds())
            continue
        except (OutOfTime, SyncError):
            run.progress.save_cursor(resume, cursor)  # the windows before it are delivered and flushed
            raise
        run.records.window_handled = None
        run.records.flush(window)
        cursor = window.end or end  # planned windows always have an end
        if cursor >= handled_until:
            handled.clear()
        yield window


def run_by_kind(run: Run) -> None:
    run.source.check_ready(run.dt)  # e.g. the invoice status names, before anything is read
    retry_parked(run)
    if run.dt.queue_operation is not None:
        drain_queue(run)  # what waits in the queue goes whatever the watermark says
    if run.dt.day_images:
        run_day_images(run)
    elif run.dt.window_kind is WindowKind.SINCE:
        run_since(run)
    else:
        run_range(run)
