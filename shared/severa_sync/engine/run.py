"""One run of one data type, put together from its parts.

``engine.SyncEngine`` owns the boundary (lock, halts, version gate, error classification) and makes
a ``Run``; ``reads.run_by_kind`` does the work in between. The run's concerns live apart: what every
part reads (``context.RunContext``), where the run is (``progress.Progress``: the watermark and
resume point), and its records (``records.RecordFlow``). Nothing here knows SOAP or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from severa_sync.config import TenantConfig
from severa_sync.engine.context import RunContext
from severa_sync.engine.ports import Source, StateStore, Target, WatermarkState
from severa_sync.engine.progress import Progress
from severa_sync.engine.records import RecordFlow
from severa_sync.logs import RunLog
from severa_sync.registry import DataType


class Run(RunContext):
    """The context of one run, with its progress and its records."""

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
        stored: WatermarkState,
        keep_lock: Callable[[], None] = lambda: None,
    ):
        super().__init__(
            dt=dt,
            config=config,
            source=source,
            target=target,
            state=state,
            log=log,
            run_id=run_id,
            signpost=signpost,
            remaining_seconds=remaining_seconds,
            keep_lock=keep_lock,
        )
        self.progress = Progress(self, stored)
        self.records = RecordFlow(self)
