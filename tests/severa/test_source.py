"""SeveraSource: each data type reads with the operation and parameters the registry and the
configuration call for, and yields SourceRecords keyed, timed and hashed as the engine expects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Source, SourceRecord, Versions, Window
from severa_sync.errors import SeveraError, SeveraGeneralFailure
from severa_sync.secrets import Secret
from severa_sync.severa import models, schema
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from tests.severa import envelopes as env
from tests.severa.conftest import API_KEY, Canned, CannedServer, Seen

START = datetime(2026, 11, 20, 5, 28, tzinfo=UTC)
END = datetime(2026, 11, 27, 5, 28, tzinfo=UTC)


def sent(seen: Seen) -> tuple[str, dict[str, str]]:
    """(operation, parameters) of a request as it went on the wire."""
    action = seen.headers["SOAPAction"].strip('"').removeprefix(schema.NS_SEVERA)
    body = etree.fromstring(seen.body).find(f"{{{schema.NS_SOAP_ENV}}}Body")
    assert body is not None
    return action, {etree.QName(child).localname: child.text or "" for child in body[0]}


@pytest.fixture
def source(tenant_config: TenantConfig) -> SeveraSource:
    return SeveraSource(SeveraClient(tenant_config, Secret(API_KEY)), tenant_config)


def test_is_a_source_port(source: SeveraSource) -> None:
    port: Source = source
    assert port is source


# Accounts, cases and products include inactive records (options 2) so deactivations reach Visma.net;
# accounts also exclude those without a number (4: prospects, never customers to transfer) and count
# an address change as a change of its customer (64: CheckAddressChanges).
READS: list[tuple[str, Callable[[int], dict[str, Any]], dict[str, str]]] = [
    ("accounts", env.customer, {"startDateTime": "2026-11-20T05:28:00Z", "options": "70"}),
    (
        "cases",
        env.case,
        {"businessUnitGUID": "bu-0001", "startDateTime": "2026-11-20T05:28:00Z", "options": "2"},
    ),
    (
        "invoices",
        env.invoice,
        {
            "businessUnitGUID": "bu-0001",
            "startDate": "2026-11-20T05:28:00Z",
            "endDate": "2026-11-27T05:28:00Z",
            "status": "Ready for transfer",
            "options": "0",
        },
    ),
    ("products", env.product, {"startDateTime": "2026-11-20T05:28:00Z", "options": "2"}),
    ("hour_entries", env.hour_entry, {"startDate": "2026-11-20T05:28:00Z"}),
    (
        "absences",
        env.activity,
        {
            "startDate": "2026-11-20T05:28:00Z",
            "endDate": "2026-11-27T05:28:00Z",
            "activityCategory": "Absences",
            "businessUnitGuid": "bu-0001",
        },
    ),
]


def test_every_registry_type_is_covered() -> None:
    read_from_severa = {dt.name for dt in registry.DATA_TYPES if dt.read is not None}
    assert {name for name, _, _ in READS} == read_from_severa


@pytest.mark.parametrize(("name", "sample", "params"), READS, ids=[r[0] for r in READS])
def test_primary_read(
    server: CannedServer,
    source: SeveraSource,
    name: str,
    sample: Callable[[int], dict[str, Any]],
    params: dict[str, str],
) -> None:
    data_type = registry.get(name)
    server.push(Canned(env.list_envelope(data_type.read_operation, [sample(1), sample(2)])))
    records = list(source.read(data_type, Window(START, END)))
    assert sent(server.requests[0]) == (data_type.read_operation, params)
    assert [r.key for r in records] == [sample(1)["GUID"], sample(2)["GUID"]]
    assert all(isinstance(r, SourceRecord) and len(r.content_hash) == 32 for r in records)
    assert records[0].content_hash != records[1].content_hash


def test_source_record_fields_per_entity(server: CannedServer, source: SeveraSource) -> None:
    server.push(
        Canned(
            env.list_envelope(
                "ICustomer/GetCustomersChangedSince",
                [env.customer(1), env.customer(2, UpdatedTS=None, Name=None)],
            )
        ),
        Canned(
            env.list_envelope(
                "ICase/GetCasesChangedSince", [env.case(1, UpdatedTs="2026-11-20T06:00:00"), env.case(2)]
            )
        ),
        Canned(
            env.list_envelope(
                "IInvoice/GetInvoicesByDateAndStatus", [env.invoice(1), env.invoice(2, Number=None)]
            )
        ),
        Canned(env.list_envelope("IHourEntry/GetHourEntriesChangedSince", [env.hour_entry(1)])),
        Canned(env.list_envelope("IActivity/GetActivitiesByDate", [env.activity(1)])),
    )
    window = Window(START, END)
    acc1, acc2 = source.read(registry.get("accounts"), window)
    assert acc1.changed_at == datetime(2026, 11, 20, 5, 30, 1, tzinfo=UTC)  # UpdatedTS
    assert acc2.changed_at == datetime(2026, 10, 21, 5, 30, tzinfo=UTC)  # no UpdatedTS: InsertTS
    assert (acc1.display_key, acc2.display_key) == ("Customer 1 Oy (10001)", "10002")
    assert isinstance(acc1.payload, models.Customer)
    case1, case2 = source.read(registry.get("cases"), window)
    assert case1.changed_at == datetime(2026, 11, 20, 6, tzinfo=UTC)
    assert case2.changed_at == datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert (case1.display_key, case2.display_key) == ("501", "502")
    inv1, inv2 = source.read(registry.get("invoices"), window)
    assert (inv1.display_key, inv2.display_key) == ("10501", env.guid(2, 12))  # no number yet: its GUID
    assert inv1.changed_at is None
    (hour,) = source.read(registry.get("hour_entries"), window)
    assert hour.key == env.guid(1, 15) and hour.key in hour.display_key and hour.changed_at is None
    (absence,) = source.read(registry.get("absences"), window)
    assert absence.key == env.guid(1, 17) and absence.key in absence.display_key
    assert isinstance(absence.payload, models.Activity)


def test_accounts_fallback_pages_all_customers(server: CannedServer, source: SeveraSource) -> None:
    old = {"UpdatedTS": START - timedelta(days=30)}
    # Each page starts PAGE_OVERLAP rows before the previous one ended (deletions cannot skip a row).
    pages = [
        [env.customer(n, **(old if n % 2 else {})) for n in range(0, 100)],
        [env.customer(n, **(old if n % 2 else {})) for n in range(90, 190)],
        [env.customer(n) for n in range(180, 237)],  # a short page: the last
    ]
    server.push(*(Canned(env.list_envelope("ICustomer/GetAllCustomers", page)) for page in pages))
    records = list(source.read_fallback(registry.get("accounts"), Window(START)))
    assert [sent(r) for r in server.requests] == [
        ("ICustomer/GetAllCustomers", {"options": "70", "startFromIndex": str(index), "count": "100"})
        for index in (0, 90, 180)
    ]
    # Every customer, not only those changed in the window: an address change (read with each,
    # DataType.attached) does not move the customer's UpdatedTS. The overlap's repeats are dropped
    # (180-189 were read on the second page); each customer's addresses are read once.
    assert [r.key for r in records] == [env.guid(n, 1) for n in range(237)]
    assert len(server.attached_requests) == 237


def test_accounts_fallback_stops_on_a_page_of_only_the_overlap(
    server: CannedServer, source: SeveraSource
) -> None:
    server.push(
        Canned(env.list_envelope("ICustomer/GetAllCustomers", [env.customer(n) for n in range(100)])),
        Canned(env.list_envelope("ICustomer/GetAllCustomers", [env.customer(n) for n in range(90, 100)])),
    )
    assert len(list(source.read_fallback(registry.get("accounts"), Window(START)))) == 100
    assert len(server.requests) == 2


def test_hour_entries_fallback_reads_by_date(server: CannedServer, source: SeveraSource) -> None:
    server.push(Canned(env.list_envelope("IHourEntry/GetHourEntriesByDate", [env.hour_entry(1)])))
    (record,) = source.read_fallback(registry.get("hour_entries"), Window(START, END))
    assert sent(server.requests[0]) == (
        "IHourEntry/GetHourEntriesByDate",
        {
            "businessUnitGUID": "bu-0001",
            "startdate": "2026-11-20T05:28:00Z",
            "enddate": "2026-11-27T05:28:00Z",
        },
    )
    assert record.key == env.guid(1, 15)


def test_types_without_fallback_or_key_read_say_so(source: SeveraSource) -> None:
    with pytest.raises(SeveraError, match="no fallback"):
        source.read_fallback(registry.get("cases"), Window(START))
    with pytest.raises(SeveraError, match="no read by key"):
        source.read_by_key(registry.get("absences"), "g")


@pytest.mark.parametrize(
    ("name", "param", "sample"),
    [
        ("accounts", "accountGuid", env.customer(4)),
        ("cases", "caseGuid", env.case(4)),
        ("invoices", "invoiceGUID", env.invoice(4)),
    ],
)
def test_read_by_key(
    server: CannedServer, source: SeveraSource, name: str, param: str, sample: dict[str, Any]
) -> None:
    data_type = registry.get(name)
    assert data_type.by_key_operation is not None
    list_op = data_type.read_operation
    server.push(
        Canned(env.single_envelope(data_type.by_key_operation, sample)),
        Canned(env.list_envelope(list_op, [sample])),
    )
    record = source.read_by_key(data_type, sample["GUID"])
    assert sent(server.requests[0]) == (data_type.by_key_operation, {param: sample["GUID"]})
    assert record is not None and record.key == sample["GUID"]
    (listed,) = source.read(data_type, Window(START, END))
    assert record.content_hash == listed.content_hash, "the same record hashes the same by key and in a list"


def test_read_by_key_not_found_is_none(server: CannedServer, source: SeveraSource) -> None:
    server.push(
        Canned(env.fault_envelope("NotFoundException", "Customer not found"), status=500),
        Canned(env.single_envelope("ICase/GetCaseByGUID", None)),
        Canned(env.fault_envelope("GeneralFailureException", "Invalid GUID"), status=500),
    )
    assert source.read_by_key(registry.get("accounts"), "gone") is None
    assert source.read_by_key(registry.get("cases"), "gone") is None  # null answer
    with pytest.raises(SeveraGeneralFailure):
        source.read_by_key(registry.get("invoices"), "not-a-guid")


def test_acknowledge_marks_invoices_transferred(server: CannedServer, source: SeveraSource) -> None:
    server.push(
        Canned(env.list_envelope("IInvoice/GetInvoicesByDateAndStatus", [env.invoice(1)])),
        Canned(env.scalar_envelope("IInvoice/SetInvoiceStatus", None)),
    )
    (invoice,) = source.read(registry.get("invoices"), Window(START, END))
    source.acknowledge(registry.get("invoices"), invoice)
    assert sent(server.requests[1]) == (
        "IInvoice/SetInvoiceStatus",
        {"invoiceGUID": env.guid(1, 12), "status": "Transferred"},
    )
    source.acknowledge(registry.get("hour_entries"), invoice)  # nothing to mark for other types
    assert len(server.requests) == 2


def test_versions_server_time_and_last_call(server: CannedServer, source: SeveraSource) -> None:
    server.push(
        Canned(env.scalar_envelope("IAPI/GetVersion", "1.0.0+8b1e2f4")),
        Canned(
            env.scalar_envelope("IAPI/GetEntitySchemaVersion", "2024.3"), date="Fri, 20 Nov 2026 05:31:07 GMT"
        ),
    )
    assert source.versions() == Versions(api_version="1.0.0+8b1e2f4", schema_version="2024.3")
    assert source.server_time() == datetime(2026, 11, 20, 5, 31, 7, tzinfo=UTC)
    last = source.last_call()
    assert last is not None and last.operation == "IAPI/GetEntitySchemaVersion"
