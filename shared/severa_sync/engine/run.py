"""One run of one data type: the read strategies, batching, delivery, parking and checkpoints.

``engine.SyncEngine`` owns the boundary (lock, halts, version gate, error classification); this
module does the work in between and keeps its counters. Nothing here knows SOAP or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from typing import Any

from severa_sync.config import TenantConfig
from severa_sync.engine import watermark as wm
from severa_sync.engine.ports import Source, SourceRecord, StateStore, Target, WatermarkState, Window
from severa_sync.engine.windows import larger, plan, smaller
from severa_sync.errors import (
    ChangedDuringTransfer,
    Disposition,
    SeveraResponseTooLarge,
    SeveraTimeout,
    SyncError,
    TimeBudgetSpent,
)
from severa_sync.logs import RunLog
from severa_sync.registry import DataType, WindowKind
from severa_sync.timeutil import format_watermark, parse_watermark

#: Batches at most this big are logged record by record at INFO, like Severa's invoice example;
#: bigger ones (mass updates) get one progress line per batch.
PER_RECORD_INFO_LIMIT = 50
TOO_BIG = (SeveraResponseTooLarge, SeveraTimeout)


class OutOfTime(Exception):
    """The Lambda's time budget is spent: checkpoint and report ``partial``."""


class HandEdited(Exception):
    """An operator changed the watermark during the run: their value wins, the run ends."""


def plural(noun: str) -> str:
    word = noun.lower()
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


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
        self.tenant = config.tenant
        self.skew = timedelta(seconds=config.engine.skew_margin_seconds)
        self.overlap = config.overlap(dt.name)
        self.counts = Counters()
        self.parked_keys: set[str] = set()
        self.stored: WatermarkState = WatermarkState(None, None)  # as read at the start of the run
        self.current: datetime | None = None  # the watermark as this run last wrote it
        self.current_resume: dict[str, Any] | None = None
        self.expected_raw: str | None = None
        self.window_seconds: int | None = None  # the window size to remember (set from the stored item)
        self.split = False
        #: Collected during a SINCE read for the next run's overlap filter (None otherwise).
        self.recent: wm.RecentChanges | None = None
        self.label = "Invoice number" if dt.name == "invoices" else dt.noun
        self.noun_plural = plural(dt.noun)

    # -- helpers -------------------------------------------------------------------------------
    def out_of_time(self) -> bool:
        return self.remaining_seconds() < self.config.engine.time_budget_margin_seconds

    def since(self) -> datetime:
        """Where a SINCE read starts: the watermark less the overlap, or the backfill date."""
        start = self.stored.watermark
        return wm.query_start(start, self.overlap) if start else self.backfill_start()

    def backfill_start(self) -> datetime:
        day = self.config.type_settings(self.dt.name).backfill_from
        return datetime.combine(day, time(0), tzinfo=self.config.zone).astimezone(UTC)

    def checkpoint(self, new: datetime | None, *, resume: dict[str, Any] | None = None) -> None:
        """Write the watermark conditionally on the value this run last saw."""
        if new is None:
            self.state.save_resume(self.tenant, self.dt.name, resume, window_seconds=self.window_seconds)
            return
        old_raw = self.expected_raw
        if old_raw is not None and parse_watermark(old_raw) == new and resume == self.current_resume:
            return
        written = self.state.write_watermark(
            self.tenant,
            self.dt.name,
            new,
            expected_raw=old_raw,
            run_id=self.run_id,
            window_seconds=self.window_seconds,
            resume=resume,
        )
        if not written:
            current = self.state.read_watermark(self.tenant, self.dt.name)
            self.log.warning(
                f"The watermark was changed by hand during the run (now {current.raw}); keeping the hand-set "
                "value and ending this run",
                action="watermark_kept_hand_edit",
                watermark_old=old_raw,
                watermark_new=current.raw,
                watermark_not_written=format_watermark(new),
            )
            raise HandEdited
        self.expected_raw = format_watermark(new)
        self.current, self.current_resume = new, resume
        self.log.info(
            f"Watermark advanced to {self.expected_raw}",
            action="watermark_advanced",
            watermark_old=old_raw,
            watermark_new=self.expected_raw,
        )

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
            if self.out_of_time():
                raise OutOfTime

    def deliver(self, batch: list[SourceRecord]) -> None:
        each = len(batch) <= PER_RECORD_INFO_LIMIT
        self.log.info(
            f"{len(batch)} {self.noun_plural} found, starting to process {self.noun_plural}",
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
                self.delivered(record, unchanged=record.key in skipped, each=each)
        if not each:
            self.log.info(
                f"{self.counts.delivered + self.counts.skipped} {self.noun_plural} processed so far",
                action="progress",
                delivered=self.counts.delivered,
                skipped=self.counts.skipped,
                failed=self.counts.failed,
            )

    def delivered(self, record: SourceRecord, *, unchanged: bool, each: bool) -> None:
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
        line = f"{self.label} {record.display_key} was processed correctly" + (
            " (unchanged since the last delivery)" if unchanged else ""
        )
        (self.log.info if each else self.log.debug)(
            line, action="record_delivered", record_key=record.key, display_key=record.display_key
        )
        if new_status is not None:
            self.log.info(
                f'Status of {self.label.lower()} {record.display_key} was updated to "{new_status}" status',
                action="record_acknowledged",
                record_key=record.key,
                display_key=record.display_key,
            )
        if record.key in self.parked_keys:
            self.state.unpark(self.tenant, self.dt.name, record.key)
            self.parked_keys.discard(record.key)

    def check_unchanged(self, record: SourceRecord) -> None:
        """Invoices only: re-read before marking transferred, so an edit made in Severa while the
        invoice was on its way is never covered by the new status (one extra call per invoice)."""
        if self.dt.name != "invoices" or self.dt.by_key_operation is None:
            return
        current = self.source.read_by_key(self.dt, record.key)
        if current is None:
            # Deleted, or its status changed by hand (e.g. back to draft to edit it): either way the
            # Severa invoice is no longer the one written to Visma.net, so it is not marked.
            raise ChangedDuringTransfer(
                f"invoice {record.display_key} left the status "
                f'"{self.config.invoices.source_status}" in Severa (or was deleted) while it was being '
                "transferred; Visma.net has the version read at the start of this run, and the Severa "
                "invoice is not marked transferred. Review both",
                call=self.source.last_call(),
            )
        if current.content_hash != record.content_hash:
            raise ChangedDuringTransfer(
                f"invoice {record.display_key} changed in Severa while it was being transferred; Visma.net "
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
            previous_call=error.call or self.target.last_call(),
            action="record_failed",
            record_key=record.key,
            display_key=record.display_key,
        )

    # -- retry set -----------------------------------------------------------------------------
    def retry_parked(self) -> None:
        items = self.state.parked(self.tenant, self.dt.name)
        self.parked_keys = {item.key for item in items}
        if not items or self.dt.by_key_operation is None:
            return
        self.log.info(
            f"Retrying {len(items)} {self.noun_plural} parked by earlier runs",
            action="retry_set",
            count=len(items),
        )
        found: list[SourceRecord] = []
        for item in items:
            try:
                record = self.source.read_by_key(self.dt, item.key)
            except SyncError as error:
                if error.disposition is not Disposition.PER_RECORD:
                    raise
                # A fault about this one record must not stop the run (and every run after it).
                self.log.error(
                    f"{self.label} {item.display_key} could not be read again from Severa "
                    f"({error.message}); it stays in the retry set",
                    error,
                    action="retry_read_failed",
                    record_key=item.key,
                    display_key=item.display_key,
                )
                continue
            if record is None:
                self.log.info(
                    f"{self.label} {item.display_key} no longer needs transfer; removed from the retry set",
                    action="retry_dropped",
                    record_key=item.key,
                )
                self.state.unpark(self.tenant, self.dt.name, item.key)
                self.parked_keys.discard(item.key)
            else:
                found.append(record)
        self.process(found)

    # -- read strategies -----------------------------------------------------------------------
    def run_since(self) -> None:
        resume = self.stored.resume or {}
        start = self.stored.watermark
        if resume.get("mode") == "fallback" or (start is None and self.dt.fallback_windows):
            self.run_fallback(resume)
            return
        since = self.since()
        what = f"{self.noun_plural} changed since {format_watermark(since)}"
        self.log.info(f"Getting {what}", action="read_started", since=format_watermark(since))
        overlap = wm.OverlapFilter((resume.get("recent") or {}) if start else {})
        self.recent = wm.RecentChanges(
            overlap=self.overlap, cap=self.signpost - self.skew, limit=self.config.engine.overlap_dedup_limit
        )
        try:
            self.process(self.source.read(self.dt, Window(since)), overlap)
        except TOO_BIG as error:
            if self.dt.fallback_operation is None:
                raise
            self.log.warning(
                f"Reading {what} failed ({error.code}); falling back to {self.dt.fallback_operation}",
                action="fallback_used",
                error_code=error.code,
            )
            self.run_fallback({"mode": "fallback"})
            return
        self.target.flush(self.dt, None)
        new = wm.since_watermark(
            start,
            self.counts.max_change,
            signpost_at=self.signpost,
            skew=self.skew,
            has_change_time=self.dt.has_change_time,
        )
        recent = self.recent.remember(new) if self.recent is not None else {}
        self.checkpoint(new, resume={"recent": recent} if recent else None)

    def run_fallback(self, resume: dict[str, Any]) -> None:
        """The paged or ranged alternative; resumable, and the watermark moves only at its end."""
        signpost = parse_watermark(resume["signpost"]) if "signpost" in resume else self.signpost
        state = {"mode": "fallback", "signpost": format_watermark(signpost)}
        self.log.info(
            f"Reading all {self.noun_plural} with {self.dt.fallback_operation}", action="fallback_read"
        )
        if self.dt.fallback_windows:
            cursor = parse_watermark(resume["cursor"]) if "cursor" in resume else self.backfill_start()

            def read(window: Window) -> Iterator[SourceRecord]:
                return self.source.read_fallback(self.dt, window)

            present = signpost - self.skew
            spans = [(cursor, present, self.config.window(self.dt.name))]
            if self.dt.lookahead:
                # Records dated ahead: one window, usually almost empty (it shrinks if too big).
                spans.append((max(cursor, present), present + self.dt.lookahead, self.dt.lookahead))
            for start, end, size in spans:
                for window in self.windows(start, end, size, read, state):
                    state["cursor"] = format_watermark(window.end or signpost)
        else:
            try:
                self.process(self.source.read_fallback(self.dt, Window(self.since())))
            except OutOfTime:
                self.checkpoint(None, resume=state)
                raise
            self.target.flush(self.dt, None)
        new = wm.since_watermark(
            self.current, signpost, signpost_at=signpost, skew=self.skew, has_change_time=False
        )
        self.checkpoint(new, resume=None)

    def run_range(self) -> None:
        start = self.stored.watermark
        cursor = wm.query_start(start, self.overlap) if start else self.backfill_start()
        end = self.signpost - self.skew + self.dt.lookahead
        size = (
            timedelta(seconds=self.stored.window_seconds)
            if self.stored.window_seconds
            else (self.config.window(self.dt.name))
        )
        if self.stored.window_seconds:
            self.log.info(f"Using the window size that worked last time: {size}", action="window_remembered")
        if self.dt.name == "invoices":
            self.log.info(
                f'Getting "{self.config.invoices.source_status}" invoices',
                action="read_started",
                since=format_watermark(cursor),
            )
        else:
            self.log.info(
                f"Getting {self.noun_plural} from {format_watermark(cursor)} to {format_watermark(end)}",
                action="read_started",
                since=format_watermark(cursor),
            )
        for window in self.windows(cursor, end, size, lambda w: self.source.read(self.dt, w), None):
            self.checkpoint(
                wm.range_watermark(self.current, window.end or end, signpost_at=self.signpost, skew=self.skew)
            )
        if not self.split and self.stored.window_seconds:
            # A clean run with a remembered small window: try the next bigger rung next time.
            grown = larger(size, self.config.window(self.dt.name))
            if grown is not None:
                self.window_seconds = int(grown.total_seconds())
                self.state.save_resume(
                    self.tenant, self.dt.name, self.stored.resume, window_seconds=self.window_seconds
                )
                self.log.info(f"Window size grows back to {grown} for the next run", action="window_grown")

    def windows(
        self,
        start: datetime,
        end: datetime,
        size: timedelta,
        read: Callable[[Window], Iterator[SourceRecord]],
        resume: dict[str, Any] | None,
    ) -> Iterator[Window]:
        """Yield each window after its records are delivered and flushed, shrinking on size/time."""
        zone = self.config.zone if self.dt.align_weeks else None
        minimum = timedelta(seconds=self.config.engine.min_window_seconds)
        cursor = start
        while cursor < end:
            if self.out_of_time():
                if resume is not None:
                    self.checkpoint(None, resume={**resume, "cursor": format_watermark(cursor)})
                raise OutOfTime
            window = next(plan(cursor, end, size, align_weeks=zone))
            try:
                self.process(read(window))
            except OutOfTime:
                if resume is not None:
                    self.checkpoint(None, resume={**resume, "cursor": format_watermark(cursor)})
                raise
            except TOO_BIG as error:
                shrunk = smaller(size, minimum) if zone is None else None
                if shrunk is None:
                    raise
                self.log.warning(
                    f"Window {window} was too big or too slow ({error.code}); splitting into "
                    f"windows of {shrunk}",
                    action="window_split",
                    window_seconds=int(shrunk.total_seconds()),
                )
                size = shrunk
                self.split = True
                self.window_seconds = int(size.total_seconds())
                continue
            self.target.flush(self.dt, window)
            cursor = window.end or end  # planned windows always have an end
            yield window


def run_by_kind(run: Run) -> None:
    run.retry_parked()
    if run.dt.window_kind is WindowKind.SINCE:
        run.run_since()
    else:
        run.run_range()
