"""The retry set at the start of a run: which parked records are retried, kept, or let go.

A record leaves the retry set only on positive evidence: it was delivered, or Severa showed it
no longer needs transfer (an invoice read again, by GUID or by number, in another status). A
NotFound is not such evidence: during a GUID incident Severa answers NotFound for records that
exist (issue 11). So a record found by no key stays parked and its not-founds are counted; only
when it has been not found repeatedly over at least ``DROP_AFTER`` is it dropped, with a WARNING
line and a ``parked_record_dropped`` alert, so a person looks at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from severa_sync.engine.context import counted
from severa_sync.engine.ports import Found, RetryItem, SourceRecord
from severa_sync.engine.run import Run
from severa_sync.errors import Disposition, SyncError
from severa_sync.timeutil import format_watermark

#: Not found by any key over at least this long (the first not-found to the latest) ...
DROP_AFTER = timedelta(days=1)
#: ... and at least this many times in a row, before a parked record is dropped.
DROP_MIN_NOT_FOUND = 2
DROPPED_ALERT = "parked_record_dropped"


def retry_parked(run: Run) -> None:
    """The retry set first: each parked record is read again and delivered, settled or kept."""
    items = run.state.parked(run.tenant, run.dt.name)
    run.records.parked_keys = {item.key for item in items}
    if not items or not run.dt.rereads_parked:
        return
    run.log.info(
        f"Retrying {counted(len(items), run.dt.noun)} parked by earlier runs",
        action="retry_set",
        count=len(items),
    )
    # By GUID, then by another key; a NotFound alone never drops a record.
    retry_parked_items(run, items)


def retry_parked_items(run: Run, items: Sequence[RetryItem]) -> None:
    """Read every parked item again, deliver those still to transfer, settle the rest."""
    pending: list[SourceRecord] = []
    for item in items:
        try:
            lookup = run.source.look_up_parked(run.dt, item)
        except SyncError as error:
            if error.disposition is not Disposition.PER_RECORD:
                raise
            # A fault about this one record must not stop the run (and every run after it).
            run.log.error(
                f"{run.label} {item.display_key} could not be read again from Severa "
                f"({error.message}); it stays in the retry set",
                error,
                action="retry_read_failed",
                record_key=item.key,
                display_key=item.display_key,
            )
            continue
        if lookup.found is not Found.NOT_FOUND and item.not_found_count:
            run.state.clear_not_found(run.tenant, run.dt.name, item.key)
        if lookup.found is Found.PENDING and lookup.record is not None:
            pending.append(lookup.record)
        elif lookup.found is Found.SETTLED:
            run.log.info(
                f"{run.label} {item.display_key} no longer needs transfer ({lookup.evidence}); "
                "removed from the retry set",
                action="retry_dropped",
                record_key=item.key,
                display_key=item.display_key,
            )
            _unpark(run, item)
        elif lookup.found is Found.CONFLICT:
            run.log.warning(
                f"{run.label} {item.display_key} looks like a Severa GUID incident ({lookup.evidence}); "
                "it stays in the retry set until Severa answers its own GUID again",
                action="retry_guid_conflict",
                record_key=item.key,
                display_key=item.display_key,
            )
        else:
            _not_found(run, item, lookup.evidence)
    run.records.process(pending)


def _not_found(run: Run, item: RetryItem, evidence: str) -> None:
    noted = run.state.note_not_found(run.tenant, run.dt.name, item.key, run.signpost)
    if noted is None:  # unparked meanwhile (an operator, a concurrent run): nothing to keep
        run.records.parked_keys.discard(item.key)
        return
    first = noted.first_not_found_at or run.signpost
    missing_for = run.signpost - first
    if noted.not_found_count >= DROP_MIN_NOT_FOUND and missing_for >= DROP_AFTER:
        run.log.warning(
            f"{run.label} {item.display_key} was not found in Severa {noted.not_found_count} times since "
            f"{format_watermark(first)} ({evidence}); dropped from the retry set. If it still exists in "
            "Severa, set it to be transferred again there (docs/operations.md#parked_record_dropped)",
            action="retry_dropped_not_found",
            record_key=item.key,
            display_key=item.display_key,
            not_found_count=noted.not_found_count,
            first_not_found_at=format_watermark(first),
        )
        _unpark(run, item)
        run.records.dropped_not_found += 1
        return
    run.log.warning(
        f"{run.label} {item.display_key} was not found in Severa ({evidence}); it stays in the retry set "
        f"(not found {noted.not_found_count} time(s) since {format_watermark(first)}; dropped only after "
        f"{DROP_MIN_NOT_FOUND} or more not-founds over {int(DROP_AFTER.total_seconds() // 3600)} hours)",
        action="retry_not_found",
        record_key=item.key,
        display_key=item.display_key,
        not_found_count=noted.not_found_count,
        first_not_found_at=format_watermark(first),
    )


def _unpark(run: Run, item: RetryItem) -> None:
    run.state.unpark(run.tenant, run.dt.name, item.key)
    run.records.parked_keys.discard(item.key)


def dropped_alert_summary(count: int, noun_plural: str) -> str:
    """A postcard: how many, never which (the log line names them)."""
    return (
        f"{count} parked {noun_plural} not found in Severa by any key for over a day "
        "were dropped from the retry set; check them in Severa (the run's log lists them)."
    )
