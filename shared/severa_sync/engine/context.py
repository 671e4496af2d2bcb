"""What every part of one run reads: the type, the configuration, the ports, the clock and counts.

A run is split along its concerns (issue 13): this context; ``progress.Progress`` (the watermark and
resume point it writes); ``records.RecordFlow`` (batches, delivery, parking); the read strategies in
``reads.py``, ``images.py`` and ``invoice_queue.py``. ``run.Run`` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import plural
from severa_sync.engine import watermark as wm
from severa_sync.engine.days import reconcile_start
from severa_sync.engine.ports import Source, StateStore, Target
from severa_sync.errors import SeveraResponseTooLarge, SeveraTimeout
from severa_sync.logs import RunLog
from severa_sync.registry import DataType

#: Answers a smaller window may fix.
TOO_BIG = (SeveraResponseTooLarge, SeveraTimeout)


class OutOfTime(Exception):
    """The Lambda's time budget is spent: checkpoint and report ``partial``."""


class HandEdited(Exception):
    """An operator changed the watermark during the run: their value wins, the run ends."""


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


class RunContext:
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
        keep_lock: Callable[[], None] = lambda: None,
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
        self.keep_lock = keep_lock
        self.tenant = config.tenant
        self.skew = timedelta(seconds=config.engine.skew_margin_seconds)
        self.overlap = config.overlap(dt.name)
        self.counts = Counters()
        self.label = dt.log_label
        self.noun_plural = dt.noun_plural

    def out_of_time(self) -> bool:
        return self.remaining_seconds() < self.config.engine.time_budget_margin_seconds

    def since(self, watermark: datetime | None) -> datetime:
        """Where a SINCE read starts: the watermark less the overlap, or the backfill date."""
        return wm.query_start(watermark, self.overlap) if watermark else self.backfill_start()

    def reconcile_start(self) -> datetime:
        """Local midnight of the first day of the reconciliation span (``reconcile_months``)."""
        today = (self.signpost - self.skew).astimezone(self.config.zone).date()
        day = reconcile_start(today, self.config.type_settings(self.dt.name).reconcile_months)
        return datetime.combine(day, time(0), tzinfo=self.config.zone).astimezone(UTC)

    def backfill_start(self) -> datetime:
        day = self.config.type_settings(self.dt.name).backfill_from
        return datetime.combine(day, time(0), tzinfo=self.config.zone).astimezone(UTC)
