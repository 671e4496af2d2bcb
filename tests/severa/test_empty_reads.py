"""A list read that finds nothing: Severa "might return NotFoundException, null or an empty list"
(reference §2, Sept-2014 release notes). Each of the three is "no records" for a list read, never a
failed run; a NotFound that arrives after some records is not "empty" and is raised. Reads by key
keep their meaning (NotFound: the record is gone, None)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.datatypes.accounts import CUSTOMER_PAGE_SIZE
from severa_sync.engine.ports import Window
from severa_sync.errors import SeveraNotFound
from severa_sync.secrets import Secret
from severa_sync.severa import schema
from severa_sync.severa import source as source_module
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import PAGE_OVERLAP, SeveraSource
from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer

simulators = pytest.importorskip("severa_sync_tools.simulators.severa")
Simulator = Any

KEY = "sim-key-4f8e2a9c71d3"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
WINDOW = Window(LONG_AGO, NOW + timedelta(days=1))

#: Every list read the source makes: (data type, primary or fallback, operation).
LIST_READS = [
    *((t.name, "read", t.read_operation) for t in registry.DATA_TYPES if t.read_operation),
    *((t.name, "read_fallback", t.fallback_operation) for t in registry.DATA_TYPES if t.fallback_operation),
]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulators.SeveraSimulator(api_key=KEY, seed=True, now=NOW) as running:
        yield running


def _source(url: str, **severa: object) -> SeveraSource:
    config = TenantConfig.model_validate({"tenant": "demo", "severa": {"url": url, **severa}})
    return SeveraSource(SeveraClient(config, Secret(KEY)), config)


@pytest.mark.parametrize(
    ("name", "method", "operation"), LIST_READS, ids=[f"{r[0]}-{r[1]}" for r in LIST_READS]
)
def test_not_found_on_a_list_read_is_no_records(
    sim: Simulator, caplog: pytest.LogCaptureFixture, name: str, method: str, operation: str
) -> None:
    source = _source(sim.url)
    data_type = registry.get(name)
    read = getattr(source, method)
    assert list(read(data_type, WINDOW)), "the seed has records: the fault is what empties the read"
    sim.fail_next("NotFoundException", operation=operation)
    with caplog.at_level(logging.DEBUG, logger=source_module.log.name):
        assert list(read(data_type, WINDOW)) == []
    said = [r for r in caplog.records if r.name == source_module.log.name]
    assert said and "NotFoundException" in said[0].getMessage() and "no records" in said[0].getMessage()
    assert said[0].levelno in (logging.DEBUG, logging.INFO)
    assert [c.status for c in sim.calls if c.operation == operation][-1] == 500
    assert list(read(data_type, WINDOW)), "the next read is normal again"


def test_not_found_on_a_later_page_is_read_again_not_the_end(sim: Simulator) -> None:
    sim.mass_update("Customer", 150, at=NOW - timedelta(minutes=5))
    source = _source(sim.url)
    accounts = registry.get("accounts")
    every = {r.key for r in source.read_fallback(accounts, Window(LONG_AGO))}
    assert len(every) > CUSTOMER_PAGE_SIZE
    sim.reset_calls()
    sim.fail_next("NotFoundException", operation="ICustomer/GetAllCustomers", calls=1)
    # The first page faults NotFound: nothing at all.
    assert list(source.read_fallback(accounts, Window(LONG_AGO))) == []
    # A full first page, then NotFound (no rows) where the overlapping second page starts: rows
    # that were there have vanished, so it is not the end; the fallback reads again from further
    # back and misses nothing (issue 11 class 9).
    sim.reset_calls()
    pages = iter([False, True])
    real_stream = source.client.stream

    def stream(operation: str, **params: Any) -> Iterator[Any]:
        if operation != "ICustomer/GetAllCustomers":  # a customer's addresses (DataType.attached)
            return real_stream(operation, **params)
        if next(pages, False):
            sim.fail_next("NotFoundException", operation=operation)
        return real_stream(operation, **params)

    source.client.stream = stream  # type: ignore[method-assign]
    again = [r.key for r in source.read_fallback(accounts, Window(LONG_AGO))]
    assert sorted(again) == sorted(every)
    starts = [c.params["startFromIndex"] for c in sim.calls if c.operation == "ICustomer/GetAllCustomers"]
    assert starts[:3] == [0, CUSTOMER_PAGE_SIZE - PAGE_OVERLAP, 0]


def test_null_and_empty_list_answers_are_no_records_too(server: CannedServer) -> None:
    accounts = registry.get("accounts")
    operation = accounts.read_operation
    op = schema.operation(operation)
    null_answer = (
        f'{env.ENVELOPE_OPEN}{env.header()}<s:Body><{op.name}Response xmlns="{schema.NS_SEVERA}">'
        f'<{op.name}Result xmlns:i="{schema.NS_XSI}" i:nil="true"/></{op.name}Response></s:Body></s:Envelope>'
    ).encode()
    server.push(
        Canned(env.fault_envelope("NotFoundException", "No customers found"), status=500),
        Canned(null_answer),
        Canned(env.list_envelope(operation, [])),
    )
    source = _source(server.url)
    for _ in range(3):
        assert list(source.read(accounts, WINDOW)) == []
    assert len(server.requests) == 3


def _records_then_fault(operation: str, records: list[dict[str, Any]], fault_type: str) -> Iterator[bytes]:
    """A 200 answer that delivers ``records`` and then carries a fault (a server failing mid-answer)."""
    op = schema.operation(operation)
    chunks = list(env.list_chunks(operation, records))
    yield from chunks[:-1]
    fault = env.fault_envelope(fault_type, "failed while answering").decode()
    body_start = fault.index("<s:Fault>")
    yield f"</{op.name}Result></{op.name}Response>{fault[body_start:]}".encode()


def test_not_found_after_some_records_is_raised_not_empty(server: CannedServer) -> None:
    accounts = registry.get("accounts")
    server.push(
        Canned(
            _records_then_fault(
                accounts.read_operation, [env.customer(1), env.customer(2)], "NotFoundException"
            )
        )
    )
    delivered = []
    with pytest.raises(SeveraNotFound):
        for record in _source(server.url).read(accounts, WINDOW):
            delivered.append(record.key)
    assert delivered == [env.customer(1)["GUID"], env.customer(2)["GUID"]]


def test_not_found_after_some_records_of_a_page_is_raised(server: CannedServer) -> None:
    operation = "ICustomer/GetAllCustomers"
    server.push(
        Canned(env.list_envelope(operation, [env.customer(n) for n in range(CUSTOMER_PAGE_SIZE)])),
        Canned(_records_then_fault(operation, [env.customer(500)], "NotFoundException")),
    )
    with pytest.raises(SeveraNotFound):
        list(_source(server.url).read_fallback(registry.get("accounts"), Window(LONG_AGO)))
    assert len(server.requests) == 2


def test_read_by_key_keeps_not_found_as_gone(sim: Simulator) -> None:
    source = _source(sim.url)
    for name in ("accounts", "cases", "invoices"):
        data_type = registry.get(name)
        assert data_type.by_key_operation is not None
        sim.fail_next("NotFoundException", operation=data_type.by_key_operation)
        assert source.read_by_key(data_type, "00000000-0000-4000-8000-000000000001") is None
    with pytest.raises(SeveraNotFound):  # the client itself still raises it: only the source reads it
        source.client.get("ICase/GetCaseByGUID", caseGuid="00000000-0000-4000-8000-00000000dead")
