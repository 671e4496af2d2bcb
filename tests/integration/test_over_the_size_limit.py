"""Answers over ``severa.max_response_bytes`` never stop a type (issue 11 class 8): the reader
streams with flat memory, so the limit only ever means "ask for less" where a smaller read exists
(paging, a smaller window); where none exists the answer is read whole. Severa simulator over HTTP,
DynamoDB state in moto, a mass update of every entity within one minute and a tiny limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from severa_sync.engine.engine import RunStatus, SyncEngine
from severa_sync.engine.ports import Window
from severa_sync.registry import get
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from severa_sync.telemetry import CollectingTelemetry
from tests.integration.conftest import API_KEY

#: Far below one answer of the mass update (a few records fit).
LIMIT = 4096
MASS = 300
ENTITIES = {
    "accounts": "Customer",
    "cases": "Case",
    "invoices": "Invoice",
    "absences": "Activity",
    "hour_entries": "HourEntry",
}


def capped_engine(stack):
    severa = stack.config.severa.model_copy(update={"max_response_bytes": LIMIT})
    config = stack.config.model_copy(update={"severa": severa})
    source = SeveraSource(SeveraClient(config, Secret(API_KEY)), config)
    return SyncEngine(
        config=config,
        source=source,
        target_for=lambda dt: stack.target,
        state=stack.state,
        alerts=stack.alerts,
        telemetry=CollectingTelemetry(),
    )


@pytest.mark.parametrize("name", ENTITIES)
def test_a_mass_update_over_the_limit_completes(stack, name):
    at = (stack.sim.now() - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    guids = stack.sim.mass_update(ENTITIES[name], MASS, at=at)
    if name == "invoices":  # only invoices in the source status are to be transferred
        guids = [
            g
            for g in guids
            if stack.sim.get("Invoice", g)["InvoiceStatus"] == stack.config.invoices.source_status
        ]
        assert len(guids) > MASS // 2
    engine = capped_engine(stack)
    stack.sim.reset_calls()
    result = engine.run(name)
    assert result.status is RunStatus.SUCCEEDED, result
    if name == "absences":  # only activities of an absence type are absences
        window = Window(at - timedelta(days=1), at + timedelta(days=2))
        guids = [g for g in guids if g in {r.key for r in stack.source.read(get(name), window)}]
        assert len(guids) > MASS // 2
    assert set(guids) <= set(stack.target.store)
    assert len(stack.target.writes) == len(set(stack.target.writes)), "nothing delivered twice"
    assert stack.state.read_watermark("acme", name).watermark is not None
    assert engine.run(name).status is RunStatus.SUCCEEDED
    if name == "invoices":  # the queue reads whole pages past the cap, not one invoice per call
        queue_reads = [c for c in stack.sim.calls if c.operation.endswith("GetInvoicesByStatus")]
        assert len(queue_reads) < MASS // 10, len(queue_reads)
