"""One run of one data type, put together from its parts.

``engine.SyncEngine`` owns the boundary (lock, halts, version gate, error classification) and makes
a ``Run``; ``reads.run_by_kind`` does the work in between. The run's concerns live apart: what every
part reads (``context.RunContext``), where the run is (``progress.Progress``: the watermark and
resume point), and its records (``records.RecordFlow``). Nothing here knows SOAP or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from severa_sync.engine.context import RunContext
from severa_sync.engine.progress import Progress
from severa_sync.engine.records import RecordFlow


@dataclass(kw_only=True, eq=False)
class Run(RunContext):
    """The context of one run, with its progress and its records."""

    progress: Progress = field(init=False)
    records: RecordFlow = field(init=False)

    def __post_init__(self) -> None:
        self.progress = Progress(self)
        self.records = RecordFlow(self)
