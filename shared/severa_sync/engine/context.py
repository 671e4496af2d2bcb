"""What every part of one run reads: the type, the configuration, the ports, the clock and counts.

A run is split along its concerns (issue 13): this context; ``progress.Progress`` (the watermark and
resume point it writes); ``records.RecordFlow`` (batches, delivery, parking); the read strategies in
``reads.py``, ``images.py`` and ``invoice_queue.py``. ``run.Run`` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import plural
from severa_sync.engine import watermark as wm
from severa_sync.engine.days import reconcile_start
from severa_sync.engine.ports import Source, StateStore, Target, WatermarkState
from severa_sync.errors import SeveraResponseTooLarge, SeveraTimeout, TargetQuotaPaused, TimeBudgetSpent
from severa_sync.logs import RunLog
from severa_sync.registry import DataType

#: Answers a smaller window may fix.
TOO_BIG = (SeveraResponseTooLarge, SeveraTimeout)


class OutOfTime(Exception):
    """The Lambda's time budget is spent: checkpoint and report ``partial``; or Visma.net's quota
    window is (``paused``): checkpoint and pause until it resets, ``left`` records still to go in
    the read (None when they could not be counted)."""

    def __init__(self, spent: TimeBudgetSpent | None = None, left: int | None = None):
        super().__init__(spent.message if spent is not None else "time budget spent")
        self.paused = spent if isinstance(spent, TargetQuotaPaused) else None
        self.left = left


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


@dataclass(kw_only=True, eq=False)
class RunContext:
    dt: DataType
    config: TenantConfig
    source: Source
    target: Target
    state: StateStore
    log: RunLog
    run_id: str
    signpost: datetime
    remaining_seconds: Callable[[], float]
    #: The watermark item as read at the start of the run (its resume point already checked).
    stored: WatermarkState
    #: The engine's lease check (``engine.lease.Lease.keep``): at every batch and checkpoint.
    keep_lock: Callable[[], None] = lambda: None
    counts: Counters = field(default_factory=Counters)

    @property
    def tenant(self) -> str:
        return self.config.tenant

    @property
    def skew(self) -> timedelta:
        return timedelta(seconds=self.config.engine.skew_margin_seconds)

    @property
    def overlap(self) -> timedelta:
        return self.config.overlap(self.dt.name)

    @property
    def label(self) -> str:
        return self.dt.log_label

    @property
    def noun_plural(self) -> str:
        return self.dt.noun_plural

    def out_of_time(self) -> bool:
        return self.remaining_seconds() < self.config.engine.time_budget_margin_seconds

    def since(self) -> datetime:
        """Where a SINCE read starts: the stored watermark less the overlap, or the backfill date."""
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
