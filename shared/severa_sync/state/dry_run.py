"""A state store that remembers nothing: ``severa-sync run --dry-run``.

Reads go to the real store (the watermark, the mappings, the retry set a real run would use);
every write is dropped, so a dry run leaves the watermark, the retry set and the mappings as they
were. The run lock is still taken: a dry run never overlaps a real run of the same type.
"""

from __future__ import annotations

from typing import Any

from severa_sync.engine.ports import StateStore

#: Kept: reads, and the lock (a dry run must not run beside a real one).
PASSED_ON = frozenset(
    {
        "read_watermark",
        "parked",
        "read_versions",
        "halts",
        "get_mapping",
        "get_mappings",
        "mappings_delivered_since",
        "pending_job",
        "watermark_rows",
        "acquire_lock",
        "renew_lock",
        "release_lock",
    }
)
#: Conditional writes answer "written" (False would read as an operator's edit).
ANSWERS_TRUE = frozenset({"write_watermark", "save_resume", "clear_halt"})


class DryRunState:
    def __init__(self, store: StateStore):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in PASSED_ON:
            return getattr(self._store, name)
        if not hasattr(self._store, name):
            raise AttributeError(name)
        answer = True if name in ANSWERS_TRUE else None

        def dropped(*args: Any, **kwargs: Any) -> Any:
            return answer

        return dropped
