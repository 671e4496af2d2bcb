"""The records of one run: batches, delivery to the target, acknowledgement in Severa, parking.

Counts go to the run's ``Counters``; a record leaves the retry set once it is written (for a target
that buffers, once ``flush`` wrote it). Nothing here decides what is read: the strategies do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice

from severa_sync.engine import watermark as wm
from severa_sync.engine.context import TOO_BIG, OutOfTime, RunContext, counted
from severa_sync.engine.ports import Found, RetryItem, SourceRecord, Window
from severa_sync.errors import (
    ChangedDuringTransfer,
    Disposition,
    InvoiceNotConfirmed,
    SyncError,
    TargetQuotaPaused,
    TimeBudgetSpent,
)

#: Batches at most this big are logged record by record at INFO, like Severa's invoice example;
#: bigger ones (mass updates) get one progress line per batch.
PER_RECORD_INFO_LIMIT = 50
#: While counting what a paused read has left, the time left is checked every this many records.
COUNT_CHECK_EVERY = 1000


def unconfirmed(record: SourceRecord, at: datetime) -> RetryItem:
    """A record just delivered, to be read again the way parked ones are (by GUID, then number)."""
    return RetryItem(record.key, record.display_key, 0, "", "", at)


class RecordFlow:
    def __init__(self, run: RunContext):
        self._run = run
        self.counts = run.counts
        #: Keys in the retry set (read at the start; records leave it as they are written).
        self.parked_keys: set[str] = set()
        self.dropped_not_found = 0  # parked records dropped after a day of not-founds (one alert)
        self.queue_handled: set[str] = set()  # keys the queue read passed on this run
        #: Records (key -> content hash) whose batch was handled in the window being read; what a
        #: window that fails partway handled is not read a second time from its smaller windows.
        #: None where no smaller window exists (memory stays flat for a whole-answer read).
        self.window_handled: dict[str, str] | None = None
        #: A target that only buffers in deliver() (S3): records are "processed correctly", and
        #: leave the retry set, once flush() wrote them. (record, unchanged, each, target key)
        self.buffered = bool(getattr(run.target, "buffers_until_flush", False))
        self.unflushed: list[tuple[SourceRecord, bool, bool, str | None]] = []
        #: Collected during a SINCE read for the next run's overlap filter (None otherwise).
        self.recent: wm.RecentChanges | None = None
        #: GUID -> human key of records this type's display keys refer to, and the GUIDs asked for.
        self._names: dict[str, str] = {}
        self._names_asked: set[str] = set()
        self._looked_up: set[str] = set()  # display lookups read this run (by record member)
        self._batch: list[SourceRecord] = []  # the batch being delivered
        self._batch_tried = 0  # of it, what the target did (a stopped delivery: the rest was not tried)

    def process(
        self,
        records: Iterable[SourceRecord],
        overlap: wm.OverlapFilter | None = None,
        *,
        countable: bool = False,
    ) -> None:
        """Deliver ``records`` in batches; stops between batches when time runs out.

        An adapter that refuses a call because the Lambda's time is nearly up (``TimeBudgetSpent``,
        possibly in the middle of a batch) ends the read the same way: nothing after the last
        checkpoint counts as done, so the next invocation reads it again. A ``countable`` read (one
        answer already on its way: no further calls) is counted to its end when the target's quota
        pauses the run, for the ETA.
        """
        iterator = iter(records)
        try:
            self._process(iterator, overlap)
        except TargetQuotaPaused as paused:
            self._run.log.info(f"Pausing: {paused.message}", action="quota_paused")
            left, over_cap = self._left(iterator) if countable else (None, False)
            raise OutOfTime(paused, left=left, over_cap=over_cap) from None
        except TimeBudgetSpent as spent:
            self._run.log.info(f"Stopping early: {spent.message}", action="time_budget_spent")
            raise OutOfTime from None

    def _left(self, rest: Iterator[SourceRecord]) -> tuple[int | None, bool]:
        """Records of this answer not delivered yet (the batch the pause cut, and the rest, counted
        without delivering), or None when it cannot be counted; and whether the rest ran over the
        size cap (the next invocation then takes the fallback at once)."""
        left = len(self._batch) - self._batch_tried
        # A source that can hand out bare records for counting (no attached reads: an account's
        # addresses would cost a call each) says so with ``counting()``.
        counting = getattr(self._run.source, "counting", None)
        try:
            with counting() if counting is not None else contextlib.nullcontext():
                for _ in rest:
                    left += 1
                    if left % COUNT_CHECK_EVERY == 0 and self._run.out_of_time():
                        return None, False
        except TOO_BIG:
            return None, True
        except SyncError:
            return None, False
        return left, False

    def _process(self, iterator: Iterator[SourceRecord], overlap: wm.OverlapFilter | None) -> None:
        batch_size = self._run.config.engine.batch_size
        while True:
            batch = self._batch = list(islice(iterator, batch_size))
            self._batch_tried = 0
            if not batch:
                return
            self.counts.fetched += len(batch)
            batch = self._named(batch)
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
            self._run.keep_lock()
            if self._run.out_of_time():
                raise OutOfTime

    def _named(self, batch: list[SourceRecord]) -> list[SourceRecord]:
        """The batch with display keys that name referenced records by their own key: an hour
        entry's case by its number (the cases' mappings: one batched state read per batch for the
        GUIDs not seen yet) and its user by their code (one Severa list read per run). Unknown ones
        stay GUIDs."""
        run = self._run
        references = run.dt.display_references
        if not references and not run.dt.display_lookups:
            return batch
        for lookup in run.dt.display_lookups:
            if lookup.member in self._looked_up:
                continue
            self._looked_up.add(lookup.member)
            try:
                self._names.update(run.source.names(lookup))
            except SyncError as error:  # a name is a courtesy: the GUID still identifies the record
                run.log.debug(f"Names for display keys not read: {error.message}", action="names_unread")
        for reference in references:
            wanted = {
                str(value)
                for r in batch
                if r.error is None and (value := getattr(r.payload, reference.member, None))
            } - self._names_asked
            if not wanted:
                continue
            self._names_asked |= wanted
            try:
                found = run.state.get_mappings(run.tenant, reference.data_type, sorted(wanted))
            except SyncError as error:  # a name is a courtesy: the GUID still identifies the record
                run.log.debug(f"Names for display keys not read: {error.message}", action="names_unread")
                continue
            self._names.update(
                {guid: m.extra["display_key"] for guid, m in found.items() if m.extra.get("display_key")}
            )
        if not self._names:
            return batch
        return [
            r
            if r.error is not None
            else replace(r, display_key=run.dt.display_key(r.payload, self._names) or r.key)
            for r in batch
        ]

    def deliver(self, batch: list[SourceRecord]) -> None:
        each = len(batch) <= PER_RECORD_INFO_LIMIT
        self._run.log.info(
            f"{counted(len(batch), self._run.dt.noun)} found, starting to process {self._run.noun_plural}",
            action="batch_started",
            count=len(batch),
        )
        delivery = self._run.target.deliver(self._run.dt, batch)
        self._batch_tried = len(delivery.delivered) + len(delivery.skipped) + len(delivery.failed)
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
        if delivery.stopped is not None:
            raise delivery.stopped
        if not each:
            self._run.log.info(
                f"{self.counts.delivered + self.counts.skipped} {self._run.noun_plural} processed so far",
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
            new_status = self._run.source.acknowledge(self._run.dt, record)
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
            self._run.log.info(
                f'Status of {self._run.label.lower()} {record.display_key} was updated to "{new_status}" status',
                action="record_acknowledged",
                record_key=record.key,
                display_key=record.display_key,
            )

    def flush(self, window: Window | None) -> None:
        """Have the target write what it buffered; then the records it wrote are done."""
        self._run.target.flush(self._run.dt, window)
        pending, self.unflushed = self.unflushed, []
        for record, unchanged, each, target_key in pending:
            self.written(record, unchanged=unchanged, each=each, target_key=target_key)

    def written(self, record: SourceRecord, *, unchanged: bool, each: bool, target_key: str | None) -> None:
        line = f"{self._run.label} {record.display_key} was processed correctly" + (
            " (unchanged since the last delivery)" if unchanged else ""
        )
        (self._run.log.info if each else self._run.log.debug)(
            line,
            action="record_delivered",
            record_key=record.key,
            display_key=record.display_key,
            **({"target_key": target_key} if target_key else {}),
        )
        if record.key in self.parked_keys:
            self._run.state.unpark(self._run.tenant, self._run.dt.name, record.key)
            self.parked_keys.discard(record.key)

    def check_unchanged(self, record: SourceRecord) -> None:
        """Records that wait in a status (invoices), as declared: re-read before marking transferred,
        so an edit made in Severa while the record was on its way is never covered by the new status
        (one extra call per record)."""
        queue = self._run.dt.status_queue
        if queue is None or not queue.reread_before_marking or self._run.dt.by_key is None:
            return
        noun = self._run.dt.noun.lower()
        lookup = self._run.source.look_up_parked(self._run.dt, unconfirmed(record, self._run.signpost))
        if lookup.found in (Found.NOT_FOUND, Found.CONFLICT):
            # No evidence either way (Severa answers NotFound during GUID incidents): not marked
            # now, parked, and confirmed by the next run's re-read (engine/parked.py).
            raise InvoiceNotConfirmed(
                f"{noun} {record.display_key} could not be read again from Severa to confirm it is "
                f"unchanged ({lookup.evidence}); Visma.net has it, and it is marked transferred once "
                "Severa answers for it again",
                call=self._run.source.last_call(),
            )
        current = lookup.record if lookup.found is Found.PENDING else None
        if current is None:
            # Its status changed by hand (e.g. back to draft to edit it): the Severa invoice is no
            # longer the one written to Visma.net, so it is not marked.
            raise ChangedDuringTransfer(
                f"{noun} {record.display_key} left the status "
                f'"{self._run.config.invoices.source_status}" in Severa (or was deleted) while it was being '
                "transferred; Visma.net has the version read at the start of this run, and the Severa "
                f"{noun} is not marked transferred. Review both",
                call=self._run.source.last_call(),
            )
        if current.content_hash != record.content_hash:
            raise ChangedDuringTransfer(
                f"{noun} {record.display_key} changed in Severa while it was being transferred; Visma.net "
                "has the version read at the start of this run. It stays in the retry set for review",
                call=self._run.source.last_call(),
            )

    def fail(self, record: SourceRecord, error: SyncError) -> None:
        self.counts.failed += 1
        self._run.state.park(self._run.tenant, self._run.dt.name, record, error)
        self.parked_keys.add(record.key)
        self._run.log.error(
            f"{self._run.label} {record.display_key} ERROR: unable to process {self._run.dt.noun.lower()}. "
            f"Error message: {error.message}",
            error,
            # This record's own call, or none: the target's last call may belong to another record.
            previous_call=error.call,
            action="record_failed",
            record_key=record.key,
            display_key=record.display_key,
        )

    # -- retry set -----------------------------------------------------------------------------


def not_again(records: Iterable[SourceRecord], handled: dict[str, str]) -> Iterator[SourceRecord]:
    """``records`` without those already handled this run with the same content (a record changed
    since is new again). Not counted as fetched: they were, by the window that failed."""
    for record in records:
        if handled.get(record.key) != record.content_hash:
            yield record
