"""The JSON lines the powertools ``severa-sync`` handler writes (what CloudWatch gets), captured."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from severa_sync import logs
from severa_sync.config import ApiUser


@contextmanager
def emitted_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Point the service handler at a buffer; yields a function that parses what it wrote."""
    handler = logs.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


@contextmanager
def run_log(tenant: str = "acme", run_id: str = "run-2026-12-04-0001") -> Iterator[logs.RunLog]:
    """A run's log: its keys appended to the service logger for as long as the run lasts."""
    log = logs.RunLog(
        tenant=tenant,
        data_type="customers",
        run_id=run_id,
        zone=ZoneInfo("Europe/Helsinki"),
        api_user=ApiUser(),
    )
    try:
        yield log
    finally:
        log.close()
