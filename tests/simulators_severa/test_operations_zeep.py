"""Every operation of the contract, called with zeep over the bundled WSDL: the answers parse as the
WSDL declares them and carry what the simulator's store holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zeep

from severa_sync.severa import schema
from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import AUTH, NOW, service

LONG_AGO = NOW - timedelta(days=3650)
Check = Callable[[SeveraSimulator, Any], None]


def _guids(records: list[dict[str, Any]]) -> set[str]:
    return {record["GUID"] for record in records}


def _result_guids(result: Any) -> set[str]:
    return {item.GUID for item in result or []}


def _invoice(sim: SeveraSimulator, number: int) -> dict[str, Any]:
    return next(r for r in sim.records("Invoice") if r["Number"] == number)


def _check_customers(sim: SeveraSimulator, result: Any) -> None:
    assert _result_guids(result) == _guids(sim.records("Customer"))
    for item in result:
        stored = sim.get("Customer", item.GUID)
        assert stored is not None
        assert (item.Name, item.Number, item.VatNumber) == (
            stored["Name"],
            stored["Number"],
            stored["VatNumber"],
        )
        assert item.UpdatedTS == sim.change_time("Customer", item.GUID)


def _check_invoice_rows(sim: SeveraSimulator, result: Any) -> None:
    stored = sim.get("Invoice", result.GUID)
    assert stored is not None
    rows = result.InvoiceRows.InvoiceRow
    assert [r.rowVatRatePercent for r in rows] == [r["rowVatRatePercent"] for r in stored["InvoiceRows"]]
    assert [r.rowAmount for r in rows] == [r["rowAmount"] for r in stored["InvoiceRows"]]
    assert result.InvoiceStatus == stored["InvoiceStatus"]


def _set_status(sim: SeveraSimulator) -> dict[str, Any]:
    return {"invoiceGUID": _invoice(sim, 10501)["GUID"], "status": "Transferred"}


def _check_set_status(sim: SeveraSimulator, result: Any) -> None:
    assert result is None
    invoice = _invoice(sim, 10501)
    assert invoice["InvoiceStatus"] == "Transferred"
    assert sim.change_time("Invoice", invoice["GUID"]) == sim.now()


def _set_payment_date(sim: SeveraSimulator) -> dict[str, Any]:
    return {"invoiceGUID": _invoice(sim, 10501)["GUID"], "paymentDate": datetime(2026, 11, 30, tzinfo=UTC)}


def _check_set_payment_date(sim: SeveraSimulator, result: Any) -> None:
    assert result is None
    invoice = _invoice(sim, 10501)
    assert invoice["PaymentDate"] == datetime(2026, 11, 30, tzinfo=UTC)
    assert sim.change_time("Invoice", invoice["GUID"]) == sim.now()


def _add_log_entry(sim: SeveraSimulator) -> dict[str, Any]:
    return {
        "invoiceGuid": _invoice(sim, 10501)["GUID"],
        "context": "severa-sync",
        "text": "Visma.net customer invoice 100001",
        "source": "severa-sync",
        "eventTimeUtc": None,
        "ignoreDuplicates": True,
    }


def _check_add_log_entry(sim: SeveraSimulator, result: Any) -> None:
    assert result is None
    (entry,) = sim.invoice_log(_invoice(sim, 10501)["GUID"])
    assert entry["text"] == "Visma.net customer invoice 100001" and entry["source"] == "severa-sync"


def _absences(sim: SeveraSimulator) -> set[str]:
    absence_types = {r["GUID"] for r in sim.records("ActivityType") if r["Category"] == "Absences"}
    return {r["GUID"] for r in sim.records("Activity") if r["ActivityTypeGUID"] in absence_types}


CASES: dict[str, tuple[Callable[[SeveraSimulator], dict[str, Any]], Check]] = {
    "IAPI/GetVersion": (lambda sim: {}, lambda sim, result: assert_equal(result, "9.9.9+test")),
    "IAPI/GetEntitySchemaVersion": (lambda sim: {}, lambda sim, result: assert_equal(result, "2031.7")),
    "IBusinessUnit/GetBusinessUnitByGUID": (
        lambda sim: {"businessUnitGuid": sim.records("Case")[0]["BusinessUnitGUID"]},
        lambda sim, result: assert_equal(
            (result.GUID, result.Name),
            (sim.records("Case")[0]["BusinessUnitGUID"], sim.records("Case")[0]["BusinessUnitName"]),
        ),
    ),
    "ICustomer/GetCustomersChangedSince": (
        lambda sim: {"startDateTime": LONG_AGO, "options": 0},
        _check_customers,
    ),
    "ICustomer/GetCustomerByGUID": (
        lambda sim: {"accountGuid": sim.records("Customer")[2]["GUID"]},
        lambda sim, result: assert_equal(result.Name, sim.records("Customer")[2]["Name"]),
    ),
    "ICustomer/GetAllCustomers": (
        lambda sim: {"options": 0, "startFromIndex": 0, "count": 100},
        lambda sim, result: assert_equal(
            [c.GUID for c in result], [c["GUID"] for c in sim.records("Customer")]
        ),
    ),
    "IAddress/GetAddressesChangedSince": (
        lambda sim: {
            "accountGUID": sim.records("Customer")[0]["GUID"],
            "startDateTime": LONG_AGO,
            "options": 0,
        },
        lambda sim, result: assert_equal(
            _result_guids(result),
            {
                a["GUID"]
                for a in sim.records("Address")
                if a["CompanyGUID"] == sim.records("Customer")[0]["CompanyGUID"]
            },
        ),
    ),
    "ICase/GetCasesChangedSince": (
        lambda sim: {"businessUnitGUID": "", "startDateTime": LONG_AGO, "options": 0},
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("Case"))),
    ),
    "ICase/GetCaseByGUID": (
        lambda sim: {"caseGuid": sim.records("Case")[4]["GUID"]},
        lambda sim, result: assert_equal(
            (result.CaseNumber, result.AccountGUID),
            (sim.records("Case")[4]["CaseNumber"], sim.records("Case")[4]["AccountGUID"]),
        ),
    ),
    "IInvoice/GetInvoicesByStatus": (
        lambda sim: {
            "businessUnitGUID": "",
            "status": "Ready for transfer",
            "options": 0,
            "maxInvoices": None,
        },
        lambda sim, result: assert_equal(sorted(i.Number for i in result), [10501, 10502, 10503]),
    ),
    "IInvoice/GetInvoicesByDateAndStatus": (
        lambda sim: {
            "businessUnitGUID": "",
            "startDate": LONG_AGO,
            "endDate": NOW,
            "status": "",
            "options": 0,
        },
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("Invoice"))),
    ),
    "IInvoice/GetInvoiceByGUID": (
        lambda sim: {"invoiceGUID": _invoice(sim, 10502)["GUID"]},
        _check_invoice_rows,
    ),
    "IInvoice/GetInvoiceByNumber": (
        lambda sim: {"invoiceNumber": 10503, "businessUnitGUID": ""},
        lambda sim, result: (
            _check_invoice_rows(sim, result),
            assert_equal(result.GUID, _invoice(sim, 10503)["GUID"]),
        ),
    ),
    "IInvoice/SetInvoiceStatus": (_set_status, _check_set_status),
    "IInvoice/SetInvoicePaymentDate": (_set_payment_date, _check_set_payment_date),
    "IInvoice/AddNewInvoiceLogEntry": (_add_log_entry, _check_add_log_entry),
    "IInvoiceStatus/GetAllInvoiceStatuses": (
        lambda sim: {},
        lambda sim, result: assert_equal(
            [s.Name for s in result],
            [s["Name"] for s in sorted(sim.records("InvoiceStatus"), key=lambda s: s["SortOrder"])],
        ),
    ),
    "IHourEntry/GetHourEntriesChangedSince": (
        lambda sim: {"startDate": LONG_AGO},
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("HourEntry"))),
    ),
    "IHourEntry/GetHourEntriesByDate": (
        lambda sim: {"businessUnitGUID": "", "startdate": NOW - timedelta(days=7), "enddate": NOW},
        lambda sim, result: assert_equal(
            _result_guids(result),
            {h["GUID"] for h in sim.records("HourEntry") if NOW - timedelta(days=7) <= h["EventDate"] <= NOW},
        ),
    ),
    "IActivity/GetActivityInstances": (
        lambda sim: {
            "userGUID": None,
            "startsAfter": None,
            "startsBefore": None,
            "endsAfter": None,
            "endsBefore": None,
            "activityTypeGUID": None,
            "accountGUID": None,
            "caseGUID": None,
            "firstRow": 1,
            "maxRows": 500,
        },
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("Activity"))),
    ),
    "IActivityType/GetAllActivityTypes": (
        lambda sim: {},
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("ActivityType"))),
    ),
    "IUser/GetUsersChangedSince": (
        lambda sim: {"businessUnitGUID": "", "startDateTime": LONG_AGO, "options": 0},
        lambda sim, result: assert_equal(_result_guids(result), _guids(sim.records("User"))),
    ),
    # Active products only by default ([DOC]); IncludeInactive (2) adds the inactive one.
    "IProduct/GetProductsChangedSince": (
        lambda sim: {"startDateTime": LONG_AGO, "options": 0},
        lambda sim, result: assert_equal(
            _result_guids(result), {p["GUID"] for p in sim.records("Product") if p["IsActive"]}
        ),
    ),
    "IProduct/GetProductByGUID": (
        lambda sim: {"productGUID": sim.records("Product")[1]["GUID"]},
        lambda sim, result: assert_equal(
            (result.Code, result.Name, result.UnitPrice),
            (
                sim.records("Product")[1]["Code"],
                sim.records("Product")[1]["Name"],
                sim.records("Product")[1]["UnitPrice"],
            ),
        ),
    ),
    "IActivity/GetActivitiesByDate": (
        lambda sim: {
            "startDate": NOW - timedelta(days=60),
            "endDate": NOW + timedelta(days=60),
            "activityCategory": "Absences",
            "businessUnitGuid": "",
        },
        lambda sim, result: assert_equal(_result_guids(result), _absences(sim)),
    ),
}


def assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected


def test_every_operation_of_the_contract_is_exercised() -> None:
    assert set(CASES) == set(schema.OPERATIONS_BY_NAME)


@pytest.mark.parametrize("qualified", sorted(CASES))
def test_operation_answers_as_the_wsdl_declares(
    sim: SeveraSimulator, zeep_client: zeep.Client, qualified: str
) -> None:
    sim.set_versions(api_version="9.9.9+test", schema_version="2031.7")
    interface, name = qualified.split("/")
    make_params, check = CASES[qualified]
    params = make_params(sim)
    result = getattr(service(zeep_client, sim, interface), name)(**params, _soapheaders=AUTH)
    check(sim, result)
    assert [(c.operation, c.status) for c in sim.calls] == [(qualified, 200)]


def test_results_are_non_trivial(sim: SeveraSimulator) -> None:
    # Guards the table above against passing on empty sets.
    for entity in ("Customer", "Case", "Invoice", "HourEntry", "Activity", "ActivityType", "User"):
        assert len(sim.records(entity)) >= 3, entity
    assert _absences(sim)


def test_null_members_and_nested_entities_round_trip(sim: SeveraSimulator, zeep_client: zeep.Client) -> None:
    customer = sim.upsert(
        "Customer",
        {
            "Name": "Nil Oy",
            "AccountGroupGUIDs": ["7e0b4a38-3b59-4a8e-9f3c-1a2b3c4d5e6f"],
            "Number": None,
            "Notes": "a < b & c > d",
        },
    )
    result = service(zeep_client, sim, "ICustomer").GetCustomerByGUID(
        accountGuid=customer["GUID"], _soapheaders=AUTH
    )
    assert result.Number is None and result.VatNumber is None
    assert result.Notes == "a < b & c > d"
    assert result.AccountGroupGUIDs.string == ["7e0b4a38-3b59-4a8e-9f3c-1a2b3c4d5e6f"]
    assert result.IsActive is False  # an unset non-nillable bool travels as its default, like WCF
    assert result.InsertTS == result.UpdatedTS == sim.now()
