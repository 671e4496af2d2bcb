"""One run of one data type: the read strategies, batching, delivery, parking and checkpoints.

``engine.SyncEngine`` owns the boundary (lock, halts, version gate, error classification); this
module does the work in between and keeps its counters. Nothing here knows SOAP or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import NoReturn

from severa_sync.config import TenantConfig
from severa_sync.engine import watermark as wm
from severa_sync.engine.days import reconcile_start
from severa_sync.engine.invoice_queue import drain_queue
from severa_sync.engine.parked import retry_parked_items, unconfirmed
from severa_sync.engine.ports import (
    Found,
    Source,
    SourceRecord,
    StateStore,
    Target,
    WatermarkState,
    Window,
)
from severa_sync.engine.resume import FallbackProgress, RecentChanges, ResumePoint, UnreadableResume
from severa_sync.engine.windows import larger, plan, smaller
from severa_sync.errors import (
    ChangedDuringTransfer,
    Disposition,
    InvoiceNotConfirmed,
    SeveraResponseTooLarge,
    SeveraTimeout,
    SyncError,
    TimeBudgetSpent,
)
from severa_sync.logs import RunLog
from severa_sync.registry import DataType, WindowKind
from severa_sync.timeutil import format_watermark, parse_watermark, readable_duration

#: Batches at most this big are logged record by record at INFO, like Severa's invoice example;
#: bigger ones (mass updates) get one progress line per batch.
PER_RECORD_INFO_LIMIT = 50
TOO_BIG = (SeveraResponseTooLarge, SeveraTimeout)


def own_resume(stored: WatermarkState, log: RunLog) -> WatermarkState:
    """``stored`` without a resume point that is not this watermark's: one left in place when the
    watermark was edited by hand in the console, or a map that is no resume point (edited by hand).
    The operator's value wins, the run says so, and it starts from the watermark."""
    resume = stored.resume
    if resume is None:
        return stored
    if isinstance(resume, UnreadableResume):
        log.warning(
            f"The stored resume point is unreadable ({resume.problem}): ignoring it; the run starts "
            "from the watermark",
            action="resume_ignored",
            watermark_new=stored.raw,
        )
        return replace(stored, resume=None)
    if resume.belongs_to(stored.raw):
        return stored
    log.warning(
        f"The stored resume point belongs to watermark {resume.for_watermark or 'not set'}, not to "
        f"{stored.raw or 'not set'} (changed by hand): ignoring it; the run starts from the watermark",
        action="resume_ignored",
        watermark_old=resume.for_watermark,
        watermark_new=stored.raw,
    )
    return replace(stored, resume=None)


class OutOfTime(Exception):
    """The Lambda's time budget is spent: checkpoint and report ``partial``."""


class HandEdited(Exception):
    """An operator changed the watermark during the run: their value wins, the run ends."""


def plural(noun: str) -> str:
    word = noun.lower()
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def counted(count: int, noun: str) -> str:
    """``1 invoice``, ``3 invoices``."""
    return f"{count} {noun.lower() if count == 1 else plural(noun)}"


@dataclass
class Counters:
    fetched: int = 0
    delivered: int = 0
    skipped: int = 0
    failed: int = 0
    dropped_overlap: int = 0
    max_change: datetime | None = None


class Run:
    def __init__(
        self,
        *,
        dt: DataType,
        config: TenantConfig,
        source: Source,
        target: Target,
        state: StateStore,
        log: RunLog,
        run_id: str,
        signpost: datetime,
        remaining_seconds: Callable[[], float],
    ):
        self.dt = dt
        self.config = config
        self.source = source
        self.target = target
        self.state = state
        self.log = log
        self.run_id = run_id
        self.signpost = signpost
        self.remaining_seconds = remaining_seconds
        #: The engine's lease check (``engine.lease.Lease.keep``): at every batch and checkpoint.
        self.keep_lock: Callable[[], None] = lambda: None
        self.tenant = config.tenant
        self.skew = timedelta(seconds=config.engine.skew_margin_seconds)
        self.overlap = config.overlap(dt.name)
        self.counts = Counters()
        self.parked_keys: set[str] = set()
        self.dropped_not_found = 0  # parked records dropped after a day of not-founds (one alert)
        self.queue_handled: set[str] = set()  # keys the queue read passed on this run
        #: Records (key -> content hash) whose batch was handled in the window being read; what a
        #: window that fails partway handled is not read a second time from its smaller windows.
        #: None where no smaller window exists (memory stays flat for a whole-answer read).
        self.window_handled: dict[str, str] | None = None
        #: The retry set at the start (key -> error code, message): record_errors alerts only news.
        self.parked_before: dict[str, tuple[str, str]] = {}
        self.checkpoints = 0  # watermark writes; the engine logs one INFO line for all of them
        #: A target that only buffers in deliver() (S3): records are "processed correctly", and
        #: leave the retry set, once flush() wrote them. (record, unchanged, each, target key)
        self.buffered = bool(getattr(target, "buffers_until_flush", False))
        self.unflushed: list[tuple[SourceRecord, bool, bool, str | None]] = []
        self.stored: WatermarkState = WatermarkState(None, None)  # as read at the start of the run
        self.current: datetime | None = None  # the watermark as this run last wrote it
        self.current_resume: ResumePoint | None = None
        self.expected_raw: str | None = None
        self.window_seconds: int | None = None  # the window size to remember (set from the stored item)
        self.split = False
        #: Collected during a SINCE read for the next run's overlap filter (None otherwise).
        self.recent: wm.RecentChanges | None = None
        self.label = dt.log_label
        self.noun_plural = plural(dt.noun)

    # -- helpers -------------------------------------------------------------------------------
    def out_of_time(self) -> bool:
        return self.remaining_seconds() < self.config.engine.time_budget_margin_seconds

    def since(self) -> datetime:
        """Where a SINCE read starts: the watermark less the overlap, or the backfill date."""
        start = self.stored.watermark
        return wm.query_start(start, self.overlap) if start else self.backfill_start()

    def reconcile_start(self) -> datetime:
        """Local midnight of the first day of the reconciliation span (``reconcile_months``)."""
        today = (self.signpost - self.skew).astimezone(self.config.zone).date()
        day = reconcile_start(today, self.config.type_settings(self.dt.name).reconcile_months)
        return datetime.combine(day, time(0), tzinfo=self.config.zone).astimezone(UTC)

    def backfill_start(self) -> datetime:
        day = self.config.type_settings(self.dt.name).backfill_from
        return datetime.combine(day, time(0), tzinfo=self.config.zone).astimezone(UTC)

    def checkpoint(self, new: datetime | None, *, resume: ResumePoint | None = None) -> None:
        """Write the watermark (``new`` None: only the resume point) conditionally on the value this
        run last saw. An operator's edit meanwhile wins: the run logs that it kept it and ends.

        Every resume point is stamped with the watermark it belongs to (``for_watermark``), so one
        left behind by a hand edit is recognised and ignored (``own_resume``)."""
        self.keep_lock()
        old_raw = self.expected_raw
        if new is None:
            stamped = None if resume is None else resume.stamped(old_raw)
            if not self.state.save_resume(
                self.tenant, self.dt.name, stamped, expected_raw=old_raw, window_seconds=self.window_seconds
            ):
                self.kept_hand_edit(old_raw, "the resume point")
            self.current_resume = stamped
            return
        stamped = None if resume is None else resume.stamped(format_watermark(new))
        if old_raw is not None and parse_watermark(old_raw) == new and stamped == self.current_resume:
            return
        written = self.state.write_watermark(
            self.tenant,
            self.dt.name,
            new,
            expected_raw=old_raw,
            run_id=self.run_id,
            window_seconds=self.window_seconds,
            resume=stamped,
        )
        if not written:
            self.kept_hand_edit(old_raw, format_watermark(new))
        self.expected_raw = format_watermark(new)
        self.current, self.current_resume = new, stamped
        self.checkpoints += 1
        self.log.debug(
            f"Watermark advanced to {self.expected_raw}",
            action="watermark_advanced",
            watermark_old=old_raw,
            watermark_new=self.expected_raw,
        )

    def kept_hand_edit(self, old_raw: str | None, not_written: str) -> NoReturn:
        current = self.state.read_watermark(self.tenant, self.dt.name)
        self.log.warning(
            f"The watermark was changed by hand during the run (now {current.raw}); keeping the hand-set "
            "value and ending this run",
            action="watermark_kept_hand_edit",
            watermark_old=old_raw,
            watermark_new=current.raw,
            watermark_not_written=not_written,
        )
        raise HandEdited

    # -- delivery ------------------------------------------------------------------------------
    def process(self, records: Iterable[SourceRecord], overlap: wm.OverlapFilter | None = None) -> None:
        """Deliver ``records`` in batches; stops between batches when time runs out.

        An adapter that refuses a call because the Lambda's time is nearly up (``TimeBudgetSpent``,
        possibly in the middle of a batch) ends the read the same way: nothing after the last
        checkpoint counts as done, so the next invocation reads it again.
        """
        try:
            self._process(records, overlap)
        except TimeBudgetSpent as spent:
            self.log.info(f"Stopping early: {spent.message}", action="time_budget_spent")
            raise OutOfTime from None

    def _process(self, records: Iterable[SourceRecord], overlap: wm.OverlapFilter | None) -> None:
        iterator = iter(records)
        batch_size = self.config.engine.batch_size
        while True:
            batch = list(islice(iterator, batch_size))
            if not batch:
                return
            self.counts.fetched += len(batch)
            undecodable = [(r, r.error) for r in batch if r.error is not None]
            if undecodable:  # parked alone under their GUID; the rest of the answer goes on
                batch = [r for r in batch if r.error is None]
                for record, error in undecodable:
                    self.fail(record, error)
            for record in batch:
                if record.changed_at is not None and (
                    self.counts.max_change is None or record.changed_at > self.counts.max_change
                ):
                    self.counts.max_change = record.changed_at
            fresh = [r for r in batch if overlap is None or not overlap.is_repeat(r)]
            self.counts.dropped_overlap += len(batch) - len(fresh)
            if self.recent is not None:
                for record in batch:
                    self.recent.add(record)
            if fresh:
                self.deliver(fresh)
            if self.window_handled is not None:
                self.window_handled.update((r.key, r.content_hash) for r in batch)
            self.keep_lock()
            if self.out_of_time():
                raise OutOfTime

    def deliver(self, batch: list[SourceRecord]) -> None:
        each = len(batch) <= PER_RECORD_INFO_LIMIT
        self.log.info(
            f"{counted(len(batch), self.dt.noun)} found, starting to process {self.noun_plural}",
            action="batch_started",
            count=len(batch),
        )
        delivery = self.target.deliver(self.dt, batch)
        failed = {record.key: error for record, error in delivery.failed}
        skipped = {record.key for record in delivery.skipped}
        done = skipped | {record.key for record in delivery.delivered}
        # One line per record in the order Severa returned them, as in Severa's own example log.
        for record in batch:
            if record.key in failed:
                self.fail(record, failed[record.key])
            elif record.key in done:
                target_key = delivery.target_keys.get(record.key)
                self.delivered(record, unchanged=record.key in skipped, each=each, target_key=target_key)
        if not each:
            self.log.info(
                f"{self.counts.delivered + self.counts.skipped} {self.noun_plural} processed so far",
                action="progress",
                delivered=self.counts.delivered,
                skipped=self.counts.skipped,
                failed=self.counts.failed,
            )

    def delivered(
        self, record: SourceRecord, *, unchanged: bool, each: bool, target_key: str | None = None
    ) -> None:
        try:
            self.check_unchanged(record)
            new_status = self.source.acknowledge(self.dt, record)
        except SyncError as error:
            if error.disposition is not Disposition.PER_RECORD:
                raise
            self.fail(record, error)
            return
        if unchanged:
            self.counts.skipped += 1
        else:
            self.counts.delivered += 1
        if self.buffered:
            self.unflushed.append((record, unchanged, each, target_key))
        else:
            self.written(record, unchanged=unchanged, each=each, target_key=target_key)
        if new_status is not None:
            self.log.info(
                f'Status of {self.label.lower()} {record.display_key} was updated to "{new_status}" status',
                action="record_acknowledged",
                record_key=record.key,
                display_key=record.display_key,
            )

    def flush(self, window: Window | None) -> None:
        """Have the target write what it buffered; then the records it wrote are done."""
        self.target.flush(self.dt, window)
        pending, self.unflushed = self.unflushed, []
        for record, unchanged, each, target_key in pending:
            self.written(record, unchanged=unchanged, each=each, target_key=target_key)

    def written(self, record: SourceRecord, *, unchanged: bool, each: bool, target_key: str | None) -> None:
        line = f"{self.label} {record.display_key} was processed correctly" + (
            " (unchanged since the last delivery)" if unchanged else ""
        )
        (self.log.info if each else self.log.debug)(
            line,
            action="record_delivered",
            record_key=record.key,
            display_key=record.display_key,
            **({"target_key": target_key} if target_key else {}),
        )
        if record.key in self.parked_keys:
            self.state.unpark(self.tenant, self.dt.name, record.key)
            self.parked_keys.discard(record.key)

    def check_unchanged(self, record: SourceRecord) -> None:
        """Records that wait in a status (invoices), as declared: re-read before marking transferred,
        so an edit made in Severa while the record was on its way is never covered by the new status
        (one extra call per record)."""
        queue = self.dt.status_queue
        if queue is None or not queue.reread_before_marking or self.dt.by_key is None:
            return
        noun = self.dt.noun.lower()
        lookup = self.source.look_up_parked(self.dt, unconfirmed(record, self.signpost))
        if lookup.found in (Found.NOT_FOUND, Found.CONFLICT):
            # No evidence either way (Severa answers NotFound during GUID incidents): not marked
            # now, parked, and confirmed by the next run's re-read (engine/parked.py).
            raise InvoiceNotConfirmed(
                f"{noun} {record.display_key} could not be read again from Severa to confirm it is "
                f"unchanged ({lookup.evidence}); Visma.net has it, and it is marked transferred once "
                "Severa answers for it again",
                call=self.source.last_call(),
            )
        current = lookup.record if lookup.found is Found.PENDING else None
        if current is None:
            # Its status changed by hand (e.g. back to draft to edit it): the Severa invoice is no
            # longer the one written to Visma.net, so it is not marked.
            raise ChangedDuringTransfer(
                f"{noun} {record.display_key} left the status "
                f'"{self.config.invoices.source_status}" in Severa (or was deleted) while it was being '
                "transferred; Visma.net has the version read at the start of this run, and the Severa "
                f"{noun} is not marked transferred. Review both",
                call=self.source.last_call(),
            )
        if current.content_hash != record.content_hash:
            raise ChangedDuringTransfer(
                f"{noun} {record.display_key} changed in Severa while it was being transferred; Visma.net "
                "has the version read at the start of this run. It stays in the retry set for review",
                call=self.source.last_call(),
            )

    def fail(self, record: SourceRecord, error: SyncError) -> None:
        self.counts.failed += 1
        self.state.park(self.tenant, self.dt.name, record, error)
        self.parked_keys.add(record.key)
        self.log.error(
            f"{self.label} {record.display_key} ERROR: unable to process {self.dt.noun.lower()}. "
            f"Error message: {error.message}",
            error,
            # This record's own call, or none: the target's last call may belong to another record.
            previous_call=error.call,
            action="record_failed",
            record_key=record.key,
            display_key=record.display_key,
        )

    # -- retry set -----------------------------------------------------------------------------
    def retry_parked(self) -> None:
        items = self.state.parked(self.tenant, self.dt.name)
        self.parked_keys = {item.key for item in items}
        self.parked_before = {i.key: (i.last_error_code, i.last_error_message) for i in items}
        if not items or self.dt.by_key_operation is None:
            return
        self.log.info(
            f"Retrying {counted(len(items), self.dt.noun)} parked by earlier runs",
            action="retry_set",
            count=len(items),
        )
        # By GUID, then by another key; a NotFound alone never drops a record (engine/parked.py).
        retry_parked_items(self, items)

    # -- read strategies -----------------------------------------------------------------------
    def run_since(self) -> None:
        resume = self.stored.resume
        start = self.stored.watermark
        if isinstance(resume, FallbackProgress):
            self.run_fallback(resume)
            return
        if start is None and self.dt.fallback_windows:
            self.run_fallback(FallbackProgress())
            return
        since = self.since()
        what = f"{self.noun_plural} changed since {format_watermark(since)}"
        self.log.info(f"Getting {what}", action="read_started", since=format_watermark(since))
        overlap = wm.OverlapFilter(resume.recent if isinstance(resume, RecentChanges) and start else {})
        self.recent = wm.RecentChanges(
            overlap=self.overlap, cap=self.signpost - self.skew, limit=self.config.engine.overlap_dedup_limit
        )
        try:
            # A type with no smaller read to fall back to reads the whole answer: the reader's memory
            # is flat, so the size limit would only stop it (issue 11 class 8).
            window = Window(since, past_size_cap=self.dt.fallback_operation is None)
            self.process(self.source.read(self.dt, window), overlap)
        except TOO_BIG as error:
            if self.dt.fallback_operation is None:
                raise
            self.log.warning(
                f"Reading {what} failed ({error.code}); falling back to {self.dt.fallback_operation}",
                action="fallback_used",
                error_code=error.code,
            )
            self.run_fallback(FallbackProgress())
            return
        self.flush(None)
        new = wm.since_watermark(
            start,
            self.counts.max_change,
            signpost_at=self.signpost,
            skew=self.skew,
            has_change_time=self.dt.has_change_time,
        )
        recent = self.recent.remember(new) if self.recent is not None else {}
        self.checkpoint(new, resume=RecentChanges(recent=recent) if recent else None)

    def run_fallback(self, resume: FallbackProgress) -> None:
        """The paged or ranged alternative; resumable, and the watermark moves only at its end."""
        signpost = resume.signpost or self.signpost
        state = FallbackProgress(signpost=signpost)
        self.log.info(
            f"Reading all {self.noun_plural} with {self.dt.fallback_operation}", action="fallback_read"
        )
        if self.dt.fallback_windows:
            cursor = resume.cursor or self.backfill_start()

            def read(window: Window) -> Iterator[SourceRecord]:
                return self.source.read_fallback(self.dt, window)

            present = signpost - self.skew
            spans = [(cursor, present, self.config.window(self.dt.name))]
            if self.dt.lookahead:
                # Records dated ahead: one window, usually almost empty (it shrinks if too big).
                spans.append((max(cursor, present), present + self.dt.lookahead, self.dt.lookahead))
            for start, end, size in spans:
                for _ in self.windows(start, end, size, read, state):
                    pass  # each window is delivered, flushed and its cursor saved by windows()
        else:
            try:
                self.process(self.source.read_fallback(self.dt, Window(self.since())))
            except (OutOfTime, SyncError):
                # Resume in the fallback (not the primary read that was too big), from the same
                # watermark: conditional, so a rewind made meanwhile wins.
                self.checkpoint(None, resume=state)
                raise
            self.flush(None)
        new = wm.since_watermark(
            self.current, signpost, signpost_at=signpost, skew=self.skew, has_change_time=False
        )
        self.checkpoint(new, resume=None)

    def run_range(self) -> None:
        start = self.stored.watermark
        cursor = wm.query_start(start, self.overlap) if start else self.backfill_start()
        if self.dt.reconciles:  # at least the reconciliation span, whatever the overlap
            cursor = min(cursor, self.reconcile_start())
        end = self.signpost - self.skew + self.dt.lookahead
        size = (
            timedelta(seconds=self.stored.window_seconds)
            if self.stored.window_seconds
            else (self.config.window(self.dt.name))
        )
        if self.stored.window_seconds:
            self.log.info(
                f"Using the window size that worked last time: {readable_duration(size)}",
                action="window_remembered",
            )
        if self.dt.status_queue is not None:
            # After the queue read (engine/invoice_queue.py): the incremental read by change date.
            self.log.info(
                f'Checking "{self.config.invoices.source_status}" {self.noun_plural} changed from '
                f"{format_watermark(cursor)} to {format_watermark(end)}",
                action="read_started",
                since=format_watermark(cursor),
            )
        else:
            self.log.info(
                f"Getting {self.noun_plural} from {format_watermark(cursor)} to {format_watermark(end)}",
                action="read_started",
                since=format_watermark(cursor),
            )
        for window in self.windows(cursor, end, size, self.range_reader(), None):
            self.checkpoint(
                wm.range_watermark(self.current, window.end or end, signpost_at=self.signpost, skew=self.skew)
            )
        if not self.split and self.stored.window_seconds:
            # A clean run with a remembered small window: try the next bigger rung next time.
            grown = larger(size, self.config.window(self.dt.name))
            if grown is not None:
                self.window_seconds = int(grown.total_seconds())
                self.checkpoint(None, resume=self.current_resume)  # only if still the watermark we wrote
                self.log.info(
                    f"Window size grows back to {readable_duration(grown)} for the next run",
                    action="window_grown",
                )

    def range_reader(self) -> Callable[[Window], Iterator[SourceRecord]]:
        """The window read; for invoices without those this run's queue read handled or parked:
        each is done for this run (transferred, or parked for the next run's retry)."""

        def read(window: Window) -> Iterator[SourceRecord]:
            records = self.source.read(self.dt, window)
            if self.dt.queue_operation is None:
                return records
            done = self.queue_handled
            return (r for r in records if r.key not in done and r.key not in self.parked_keys)

        return read

    def save_cursor(self, resume: FallbackProgress | None, cursor: datetime) -> None:
        """A resumable read (the date-windowed fallback) remembers where the next one starts."""
        if resume is not None:
            self.checkpoint(None, resume=FallbackProgress(signpost=resume.signpost, cursor=cursor))

    def windows(
        self,
        start: datetime,
        end: datetime,
        size: timedelta,
        read: Callable[[Window], Iterator[SourceRecord]],
        resume: FallbackProgress | None,
    ) -> Iterator[Window]:
        """Yield each window after its records are delivered and flushed, shrinking on size/time."""
        zone = self.config.zone if self.dt.align_weeks else None
        minimum = timedelta(seconds=self.config.engine.min_window_seconds)
        cursor = start
        # Handled by a window that failed partway, until the cursor passes its end. Not for a target
        # that buffers (its unwritten records are not done), whose records are simply read again.
        handled: dict[str, str] = {}
        handled_until = start
        while cursor < end:
            if self.out_of_time():
                self.save_cursor(resume, cursor)
                raise OutOfTime
            window = next(plan(cursor, end, size, align_weeks=zone))
            shrunk = smaller(size, minimum) if zone is None else None
            if shrunk is None:
                # Nothing smaller to ask for: read the whole answer (memory stays flat); only the
                # time budget bounds it, and the cursor saved below resumes it.
                window = replace(window, past_size_cap=True)
            self.window_handled = {} if shrunk is not None and not self.buffered else None
            try:
                self.process(not_again(read(window), handled))
            except TOO_BIG as error:
                if shrunk is None:
                    self.save_cursor(resume, cursor)
                    raise
                if self.window_handled is not None:
                    handled.update(self.window_handled)
                    handled_until = max(handled_until, window.end or end)
                self.log.warning(
                    f"Window {window} was too big or too slow ({error.code}); splitting into "
                    f"windows of {readable_duration(shrunk)}",
                    action="window_split",
                    window_seconds=int(shrunk.total_seconds()),
                )
                size = shrunk
                self.split = True
                self.window_seconds = int(size.total_seconds())
                continue
            except (OutOfTime, SyncError):
                self.save_cursor(resume, cursor)  # the windows before it are delivered and flushed
                raise
            self.window_handled = None
            self.flush(window)
            cursor = window.end or end  # planned windows always have an end
            if cursor >= handled_until:
                handled.clear()
            yield window


def not_again(records: Iterable[SourceRecord], handled: dict[str, str]) -> Iterator[SourceRecord]:
    """``records`` without those already handled this run with the same content (a record changed
    since is new again). Not counted as fetched: they were, by the window that failed."""
    for record in records:
        if handled.get(record.key) != record.content_hash:
            yield record


def run_by_kind(run: Run) -> None:
    run.source.check_ready(run.dt)  # e.g. the invoice status names, before anything is read
    run.retry_parked()
    if run.dt.queue_operation is not None:
        drain_queue(run)  # what waits in the queue goes whatever the watermark says
    if run.dt.day_images:
        from severa_sync.engine.images import run_day_images  # imports this module

        run_day_images(run)
    elif run.dt.window_kind is WindowKind.SINCE:
        run.run_since()
    else:
        run.run_range()
