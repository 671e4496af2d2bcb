"""SeveraClient and SeveraSource over real HTTP against the Severa simulator (127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Versions, Window
from severa_sync.errors import (
    Disposition,
    SeveraAnswerCutShort,
    SeveraAuthenticationFailed,
    SeveraNotFound,
    SeveraQuotaReserve,
    SeveraTimeout,
    SeveraUnavailable,
    SeveraValidationFailed,
    TimeBudgetSpent,
)
from severa_sync.secrets import Secret
from severa_sync.severa import models
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource

simulators = pytest.importorskip("severa_sync_tools.simulators.severa")
Simulator = Any  # the simulator's class, imported only when it is there

KEY = "sim-key-4f8e2a9c71d3"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulators.SeveraSimulator(api_key=KEY, seed=True, now=NOW) as running:
        yield running


def _config(sim: Simulator, **severa: object) -> TenantConfig:
    return TenantConfig.model_validate({"tenant": "demo", "severa": {"url": sim.url, **severa}})


def _source(sim: Simulator, key: str = KEY, **severa: object) -> SeveraSource:
    config = _config(sim, **severa)
    return SeveraSource(SeveraClient(config, Secret(key), sleep=lambda _s: None), config)


def test_versions_and_seeded_reads(sim: Simulator) -> None:
    sim.set_versions(api_version="1.0.0+sim", schema_version="2026.11")
    source = _source(sim)
    assert source.versions() == Versions("1.0.0+sim", "2026.11")
    window = Window(LONG_AGO, NOW + timedelta(days=1))
    for data_type in registry.DATA_TYPES:
        if data_type.read is None:  # read from Visma.net (payments)
            continue
        records = list(source.read(data_type, window))
        stored = {r["GUID"] for r in sim.records(_entity(data_type))}
        assert records, f"the seed has {data_type.name}"
        assert {r.key for r in records} <= stored
        assert all(len(r.content_hash) == 32 and r.display_key for r in records)
    assert source.server_time() is not None
    assert source.client.quota.limit == 100_000 and (source.client.quota.used or 0) >= 7


def _entity(data_type: registry.DataType) -> str:
    return {
        "accounts": "Customer",
        "cases": "Case",
        "invoices": "Invoice",
        "products": "Product",
        "hour_entries": "HourEntry",
        "absences": "Activity",
    }[data_type.name]


def test_changed_customer_is_read_with_its_change_time(sim: Simulator) -> None:
    at = NOW - timedelta(minutes=10)
    sim.upsert("Customer", {"Name": "Fresh Oy", "Number": 777, "IsActive": True}, at=at)
    records = list(_source(sim).read(registry.get("accounts"), Window(at - timedelta(minutes=2))))
    (fresh,) = [r for r in records if r.display_key == "Fresh Oy (777)"]
    assert isinstance(fresh.payload, models.Customer)
    assert fresh.changed_at == at


def test_mass_update_streams_every_record(sim: Simulator) -> None:
    at = NOW - timedelta(minutes=5)
    guids = sim.mass_update("Customer", 3000, at=at)
    records = list(_source(sim).read(registry.get("accounts"), Window(at - timedelta(minutes=2))))
    assert {r.key for r in records} >= set(guids)
    assert len({r.content_hash for r in records}) == len(records)


def test_accounts_fallback_pages_through_the_simulator(sim: Simulator) -> None:
    sim.mass_update("Customer", 250, at=NOW - timedelta(minutes=5))
    source = _source(sim)
    fallback = {r.key for r in source.read_fallback(registry.get("accounts"), Window(LONG_AGO))}
    primary = {r.key for r in source.read(registry.get("accounts"), Window(LONG_AGO))}
    assert fallback == primary
    pages = [c for c in sim.calls if c.operation == "ICustomer/GetAllCustomers"]
    assert len(pages) == len(primary) // 100 + 1


def test_by_key_reads_and_acknowledge(sim: Simulator) -> None:
    source = _source(sim)
    invoices = registry.get("invoices")
    ready = list(source.read(invoices, Window(LONG_AGO, NOW + timedelta(days=1))))
    assert ready and all(r.payload.__dict__["InvoiceStatus"] == "Ready for transfer" for r in ready)
    again = source.read_by_key(invoices, ready[0].key)
    assert again is not None and again.content_hash == ready[0].content_hash
    source.acknowledge(invoices, ready[0])
    assert sim.get("Invoice", ready[0].key)["InvoiceStatus"] == "Transferred"
    assert source.read_by_key(registry.get("accounts"), "00000000-0000-4000-8000-00000000dead") is None
    case = next(iter(source.read(registry.get("cases"), Window(LONG_AGO))))
    by_key = source.read_by_key(registry.get("cases"), case.key)
    assert by_key is not None and by_key.content_hash == case.content_hash


def test_faults_and_failures_are_typed(sim: Simulator) -> None:
    source = _source(sim, transport_retries=2)
    client = source.client
    sim.fail_next("ValidationException", operation="IAPI/GetVersion")
    with pytest.raises(SeveraValidationFailed):
        client.get_version()
    sim.fail_next("NotFoundException", operation="ICase/GetCaseByGUID")
    with pytest.raises(SeveraNotFound):
        client.get("ICase/GetCaseByGUID", caseGuid="00000000-0000-4000-8000-000000000001")
    sim.maintenance(calls=3)
    with pytest.raises(SeveraUnavailable):
        client.get_version()
    sim.maintenance(calls=1)
    assert client.get_version()  # one short retry rides over a one-call break
    sim.truncate_next(operation="ICustomer/GetCustomersChangedSince")
    with pytest.raises(SeveraAnswerCutShort):
        list(source.read(registry.get("accounts"), Window(LONG_AGO)))


def test_read_timeout_against_a_slow_simulator(sim: Simulator) -> None:
    sim.slow(1.0, operation="IAPI/GetVersion")
    with pytest.raises(SeveraTimeout):
        _source(sim, read_timeout_seconds=0.2, transport_retries=0).client.get_version()


def test_wrong_key_and_quota_reserve(sim: Simulator) -> None:
    with pytest.raises(SeveraAuthenticationFailed) as caught:
        _source(sim, key="not-the-key").client.get_version()
    assert "not-the-key" not in str(caught.value)
    sim.set_quota(limit=1000, used=994)
    client = _source(sim, quota_reserve_calls=5).client
    client.get_version()  # the answer says 995 of 1000 used: the reserve is reached
    with pytest.raises(SeveraQuotaReserve):
        client.get_version()
    assert client.quota.remaining == 5


def test_maintenance_page_is_unavailable_and_retried(sim: Simulator) -> None:
    source = _source(sim, transport_retries=2)
    sim.maintenance(calls=3)
    with pytest.raises(SeveraUnavailable) as caught:
        list(source.read(registry.get("accounts"), Window(LONG_AGO)))
    assert type(caught.value) is SeveraUnavailable
    assert caught.value.disposition is Disposition.RETRY_LATER
    assert caught.value.call is not None and caught.value.call.status == 503
    assert [c.status for c in sim.calls] == [503, 503, 503]


@pytest.mark.parametrize("fault", ["GeneralFailureException", "NotFoundException", "ValidationException"])
def test_503_carrying_a_fault_is_unavailable_not_the_fault(sim: Simulator, fault: str) -> None:
    source = _source(sim, transport_retries=1)
    sim.set_quota(used=41)
    sim.maintenance(calls=2, fault=fault)
    with pytest.raises(SeveraUnavailable) as caught:
        list(source.read(registry.get("accounts"), Window(LONG_AGO)))
    assert type(caught.value) is SeveraUnavailable
    assert caught.value.disposition is Disposition.RETRY_LATER
    assert caught.value.detail["status"] == 503 and caught.value.detail["fault_type"] == fault
    assert source.client.quota.limit == 100_000 and source.client.quota.used == 41
    assert [c.status for c in sim.calls] == [503, 503]
    assert list(source.read(registry.get("accounts"), Window(LONG_AGO))), "after the break: normal"


def test_a_503_fault_for_one_call_is_ridden_over_by_the_retry(sim: Simulator) -> None:
    source = _source(sim, transport_retries=1)
    sim.maintenance(calls=1, fault="GeneralFailureException")
    assert source.versions().api_version


def test_time_budget_spent_is_not_a_timeout(sim: Simulator) -> None:
    config = _config(sim)
    remaining = iter([60.0])  # one call's worth of time, then the run's time is up
    client = SeveraClient(config, Secret(KEY), remaining_seconds=lambda: next(remaining, 4.0))
    source = SeveraSource(client, config)
    assert client.get_version()
    with pytest.raises(TimeBudgetSpent) as caught:
        list(source.read(registry.get("accounts"), Window(LONG_AGO)))
    assert not isinstance(caught.value, SeveraTimeout)
    assert caught.value.call is not None
    assert caught.value.call.operation == "ICustomer/GetCustomersChangedSince"
    assert [c.operation for c in sim.calls] == ["IAPI/GetVersion"]
