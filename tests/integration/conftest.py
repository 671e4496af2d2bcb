"""The engine over real adapters: the Severa simulator over HTTP and DynamoDB state in moto."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from severa_sync.config import parse_config
from severa_sync.engine.engine import SyncEngine
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa import SeveraSimulator
from tests.fakes import ListAlerts, MemoryTarget

API_KEY = "integration-key-never-logged"


@pytest.fixture
def severa():
    sim = SeveraSimulator(api_key=API_KEY, seed=True).start(port=0)
    yield sim
    sim.stop()


@pytest.fixture
def stack(severa, monkeypatch):
    """A fresh simulator dataset, a fresh moto table, and an engine wired to both."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, "state")
        config = parse_config(
            {
                "tenant": "acme",
                "severa": {"url": severa.url, "read_timeout_seconds": 30},
                "types": {
                    name: {"backfill_from": (severa.now() - timedelta(days=60)).date().isoformat()}
                    for name in ("accounts", "cases", "invoices", "hour_entries", "absences")
                },
            }
        )
        source = SeveraSource(SeveraClient(config, Secret(API_KEY)), config)
        target, alerts = MemoryTarget(), ListAlerts()
        state = DynamoStateStore(client, "state")
        engine = SyncEngine(
            config=config,
            source=source,
            target_for=lambda dt: target,
            state=state,
            alerts=alerts,
            telemetry=CollectingTelemetry(),
        )

        class Stack:
            pass

        s = Stack()
        s.sim, s.config, s.source, s.target, s.state, s.alerts, s.engine = (
            severa,
            config,
            source,
            target,
            state,
            alerts,
            engine,
        )
        yield s
