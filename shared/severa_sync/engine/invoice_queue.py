"""The status is the queue: every run transfers what waits in the source status, whatever its dates.

The date-and-status read follows a watermark, so an invoice it did not see while the watermark
passed it (statuses misconfigured, a run that "succeeded" with nothing, a status set back by hand
to an old invoice) would never be read again. The queue read does not depend on any watermark:
``GetInvoicesByStatus(status, maxInvoices)`` answers at most ``maxInvoices`` invoices of the source
status; each transferred invoice leaves the queue by its new status, so the next read shows the
next ones, until an answer is shorter than asked for (the queue is empty).

It cannot starve: parked invoices stay in the source status (they are the retry set's, skipped
here), so each read asks for ``page + parked`` invoices, and every answer that is full holds at
least ``page`` invoices that are not parked. Each of those leaves the queue or becomes parked, so
every read makes progress, whatever order Severa answers in. A read that shows nothing new (a
server ignoring ``maxInvoices``) ends the drain rather than loop; the next run reads again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from severa_sync.engine.ports import SourceRecord
from severa_sync.engine.run import Run
from severa_sync.errors import SeveraResponseTooLarge, SeveraTimeout


class _Page:
    """One queue answer, passed on as it streams: counts what came, drops what is not new."""

    def __init__(self, records: Iterable[SourceRecord], seen: set[str], parked: set[str]):
        self._records, self._seen, self._parked = records, seen, parked
        self.returned = 0
        self.new = 0

    def __iter__(self) -> Iterator[SourceRecord]:
        for record in self._records:
            self.returned += 1
            if record.key in self._seen or record.key in self._parked:
                continue
            self._seen.add(record.key)
            self.new += 1
            yield record


def drain_queue(run: Run) -> None:
    """Deliver every invoice waiting in the source status (``OutOfTime`` ends it early: the queue
    itself is the checkpoint, the next invocation goes on where this one stopped)."""
    page_size = run.config.invoices.queue_page_size
    seen = run.records.queue_handled
    status = run.config.invoices.source_status
    run.log.info(
        f'Getting "{status}" invoices (the queue, up to {page_size} per call)',
        action="queue_read_started",
        page_size=page_size,
    )
    past_size_cap = False
    while True:
        limit = page_size + len(run.records.parked_keys)
        try:
            waiting = run.source.read_waiting(run.dt, limit, past_size_cap=past_size_cap)
            page = _Page(waiting, seen, run.records.parked_keys)
            run.records.process(page)
        except SeveraResponseTooLarge as error:
            if past_size_cap:
                raise
            # ``maxInvoices`` already bounds this answer and the reader streams with flat memory, so
            # the size cap protects nothing here: read the same page whole rather than shrink it
            # (halving down to one invoice per call costs a call per invoice in a mass update).
            past_size_cap = True
            run.log.warning(
                f"The queue answer is over the size limit ({error.code}); reading {page_size} invoices "
                "per call whole",
                action="queue_read_past_size_cap",
                page_size=page_size,
            )
            continue
        except SeveraTimeout as error:
            if page_size == 1:
                raise
            page_size = max(1, page_size // 2)
            run.log.warning(
                f"The queue answer was too slow ({error.code}); asking for {page_size} invoices per call",
                action="queue_page_shrunk",
                page_size=page_size,
            )
            continue
        run.records.flush(None)
        if page.returned < limit:
            run.log.info(
                f'The "{status}" queue is empty of invoices to transfer ({len(seen)} read from it)',
                action="queue_drained",
                count=len(seen),
            )
            return
        if page.new == 0:
            run.log.warning(
                f'A full answer of the "{status}" queue held no invoice not already handled; the next run '
                "reads the queue again",
                action="queue_no_progress",
                count=page.returned,
            )
            return
