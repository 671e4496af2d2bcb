from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "severa-sync")

from severa_sync.config import parse_config
from severa_sync.engine.engine import SyncEngine
from severa_sync.state.memory import MemoryStateStore
from severa_sync.telemetry import CollectingTelemetry
from tests.fakes import FakeSource, ListAlerts, MemoryTarget

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock):
    config = parse_config(
        {
            "tenant": "acme",
            "types": {
                name: {"backfill_from": "2026-11-01"}
                for name in ("accounts", "cases", "invoices", "hour_entries", "absences")
            },
        }
    )
    source, target, state, alerts = (
        FakeSource(server_now=None),
        MemoryTarget(),
        MemoryStateStore(),
        ListAlerts(),
    )
    engine = SyncEngine(
        config=config,
        source=source,
        target_for=lambda dt: target,
        state=state,
        alerts=alerts,
        telemetry=CollectingTelemetry(),
        clock=clock,
    )

    class World:
        pass

    w = World()
    w.config, w.source, w.target, w.state, w.alerts, w.engine, w.clock = (
        config,
        source,
        target,
        state,
        alerts,
        engine,
        clock,
    )
    return w
