"""Query semantics: minute-rounded "since" and ranges, options, paging, filters, status changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from severa_sync.severa.schema import NS_ENTITIES
from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import NOW, parse, post
from .test_faults import fault_of

BASE = NOW.replace(hour=10, minute=0, second=0)
OTHER_UNIT = "3f1e0c55-8d47-4c1e-9a0b-5d6e7f8a9b0c"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def guids(response: requests.Response, entity: str) -> list[str]:
    assert response.status_code == 200, response.text
    return [
        item.findtext(f"{{{NS_ENTITIES}}}GUID") or ""
        for item in parse(response).iter(f"{{{NS_ENTITIES}}}{entity}")
    ]


def customers_since(sim: SeveraSimulator, since: str, options: int = 0) -> list[str]:
    params = f"<startDateTime>{since}</startDateTime><options>{options}</options>"
    return guids(post(sim, "ICustomer/GetCustomersChangedSince", params), "Customer")


@pytest.mark.parametrize(
    "since,found",
    [
        ("2026-11-20T10:00:20Z", True),  # rounds down to 10:00
        ("2026-11-20T10:00:40Z", False),  # rounds UP to 10:01: the record at 10:00:45 is missed
        ("2026-11-20T10:00:30Z", False),  # half a minute rounds up
        ("2026-11-20T10:00:29.9999999Z", True),  # seven fractional digits, as .NET writes them
        ("2026-11-20T12:00:20+02:00", True),  # the same instant as 10:00:20Z
        ("2026-11-20T10:00:20", True),  # no zone: UTC
        ("2026-11-20T09:59:31Z", True),
        ("2026-11-20T10:01:29Z", False),
    ],
)
def test_since_compares_at_the_nearest_minute(sim: SeveraSimulator, since: str, found: bool) -> None:
    record = sim.upsert("Customer", {"Name": "Minute Oy", "IsActive": True}, at=BASE + timedelta(seconds=45))
    assert (record["GUID"] in customers_since(sim, since)) is found


def test_since_finds_changed_records_only(sim: SeveraSimulator) -> None:
    everyone = customers_since(sim, "2000-01-01")
    assert len(everyone) == len(sim.records("Customer"))
    touched = sim.upsert("Customer", {"GUID": everyone[3], "Notes": "edited"}, at=BASE)
    assert customers_since(sim, iso(BASE)) == [touched["GUID"]]
    assert sim.get("Customer", everyone[3])["UpdatedTS"] == BASE  # type: ignore[index]


def test_new_only_and_inactive_options(sim: SeveraSimulator) -> None:
    old = sim.records("Customer")[0]["GUID"]
    sim.upsert("Customer", {"GUID": old, "Notes": "edited"}, at=BASE)
    new = sim.upsert("Customer", {"Name": "New Oy", "IsActive": True}, at=BASE)["GUID"]
    gone = sim.upsert("Customer", {"Name": "Closed Oy", "IsActive": False}, at=BASE)["GUID"]
    assert set(customers_since(sim, iso(BASE), 0)) == {old, new}  # inactive ones are left out by default
    assert set(customers_since(sim, iso(BASE), 1)) == {new}  # NewOnly: inserted in the time frame
    assert set(customers_since(sim, iso(BASE), 2)) == {old, new, gone}  # IncludeInactive


def test_cases_and_users_since_filter_by_business_unit(sim: SeveraSimulator) -> None:
    unit = sim.records("Case")[0]["BusinessUnitGUID"]
    for operation, entity in (("ICase/GetCasesChangedSince", "Case"), ("IUser/GetUsersChangedSince", "User")):

        def read(bu: str, op: str = operation, ent: str = entity) -> list[str]:
            params = f"<businessUnitGUID>{bu}</businessUnitGUID><startDateTime>2000-01-01</startDateTime><options>0</options>"
            return guids(post(sim, op, params), ent)

        everything = {r["GUID"] for r in sim.records(entity)}
        assert set(read("")) == everything
        assert set(read(unit)) == everything
        assert read(OTHER_UNIT) == []
        assert (
            fault_of(
                post(
                    sim,
                    operation,
                    "<businessUnitGUID>HQ</businessUnitGUID><startDateTime>2000-01-01</startDateTime>",
                )
            )[0]
            == "GeneralFailureException"
        )


def test_invoice_range_is_minute_rounded_and_inclusive(sim: SeveraSimulator) -> None:
    invoice = sim.upsert(
        "Invoice",
        {"Number": 777, "InvoiceStatus": "Ready for transfer"},
        at=BASE + timedelta(minutes=5, seconds=10),
    )

    def read(start: str, end: str, status: str = "", options: int = 0) -> bool:
        params = (
            f"<businessUnitGUID></businessUnitGUID><startDate>{start}</startDate><endDate>{end}</endDate>"
            f"<status>{status}</status><options>{options}</options>"
        )
        return invoice["GUID"] in guids(post(sim, "IInvoice/GetInvoicesByDateAndStatus", params), "Invoice")

    assert read("2026-11-20T10:05:20Z", "2026-11-20T10:05:20Z")  # both round to 10:05
    assert not read("2026-11-20T10:05:31Z", "2026-11-20T11:00:00Z")  # start rounds up to 10:06
    assert read("2026-11-20T10:00:00Z", "2026-11-20T10:04:40Z")  # end rounds to 10:05, inclusive
    assert not read("2026-11-20T10:00:00Z", "2026-11-20T10:04:29Z")  # end rounds down to 10:04
    assert read("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", status="Ready for transfer")
    assert not read("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", status="Paid")
    sim.upsert("Invoice", {"GUID": invoice["GUID"], "Title": "edited"}, at=BASE + timedelta(hours=2))
    assert read("2026-11-20T12:00:00Z", "2026-11-20T12:00:00Z")
    assert not read("2026-11-20T12:00:00Z", "2026-11-20T12:00:00Z", options=1)  # inserted only: at 10:05


def test_set_invoice_status_changes_status_and_change_time(sim: SeveraSimulator) -> None:
    invoice = next(r for r in sim.records("Invoice") if r["Number"] == 10503)
    response = post(
        sim,
        "IInvoice/SetInvoiceStatus",
        f"<invoiceGUID>{invoice['GUID'].upper()}</invoiceGUID><status>Transferred</status>",
    )
    assert response.status_code == 200
    assert parse(response).find(".//{http://soap.severa.com/}SetInvoiceStatusResponse") is not None
    assert sim.get("Invoice", invoice["GUID"])["InvoiceStatus"] == "Transferred"  # type: ignore[index]
    assert sim.change_time("Invoice", invoice["GUID"]) == NOW
    ready = guids(
        post(
            sim,
            "IInvoice/GetInvoicesByStatus",
            "<businessUnitGUID/><status>Ready for transfer</status><options>0</options>",
        ),
        "Invoice",
    )
    assert invoice["GUID"] not in ready and len(ready) == 2


def test_invoices_by_status_limits_and_unknown_status(sim: SeveraSimulator) -> None:
    params = "<businessUnitGUID/><status>Ready for transfer</status><options>0</options><maxInvoices>2</maxInvoices>"
    assert len(guids(post(sim, "IInvoice/GetInvoicesByStatus", params), "Invoice")) == 2
    unknown = post(sim, "IInvoice/GetInvoicesByStatus", "<status>Lost</status><options>0</options>")
    assert fault_of(unknown)[0] == "NotFoundException"


def test_get_all_customers_pages_by_at_most_100(sim: SeveraSimulator) -> None:
    sim.mass_update("Customer", 250, at=BASE)
    everyone = [r["GUID"] for r in sim.records("Customer")]
    pages = []
    for start in range(0, 400, 100):
        params = f"<options>0</options><startFromIndex>{start}</startFromIndex><count>1000</count>"
        pages.append(guids(post(sim, "ICustomer/GetAllCustomers", params), "Customer"))
    assert [len(page) for page in pages] == [100, 100, len(everyone) - 200, 0]
    assert [guid for page in pages for guid in page] == everyone
    small = "<options>0</options><startFromIndex>5</startFromIndex><count>3</count>"
    assert guids(post(sim, "ICustomer/GetAllCustomers", small), "Customer") == everyone[5:8]


def test_mass_update_touches_existing_records_first(sim: SeveraSimulator) -> None:
    existing = [r["GUID"] for r in sim.records("Case")]
    touched = sim.mass_update("Case", len(existing) + 5, at=BASE)
    assert touched[: len(existing)] == existing
    assert len(set(touched)) == len(existing) + 5
    assert all(sim.change_time("Case", guid) == BASE for guid in touched)
    again = sim.mass_update("Case", 3, at=BASE)  # already enough records at that time
    assert again == touched[:3]
    params = f"<businessUnitGUID/><startDateTime>{iso(BASE)}</startDateTime><options>0</options>"
    assert set(guids(post(sim, "ICase/GetCasesChangedSince", params), "Case")) == set(touched)


def _activity_params(start: datetime, end: datetime, category: str) -> str:
    return (
        f"<startDate>{iso(start)}</startDate><endDate>{iso(end)}</endDate>"
        f"<activityCategory>{category}</activityCategory><businessUnitGuid></businessUnitGuid>"
    )


def test_activities_by_date_filter_by_category_and_start(sim: SeveraSimulator) -> None:
    types = {r["GUID"]: r["Category"] for r in sim.records("ActivityType")}
    start, end = NOW - timedelta(days=7), NOW + timedelta(days=7)
    for category in ("Absences", "CalendarEntry"):
        found = guids(
            post(sim, "IActivity/GetActivitiesByDate", _activity_params(start, end, category)), "Activity"
        )
        expected = {
            r["GUID"]
            for r in sim.records("Activity")
            if types[r["ActivityTypeGUID"]] == category and start <= r["StartDateTime"] <= end
        }
        assert set(found) == expected and expected
    bad = post(sim, "IActivity/GetActivitiesByDate", _activity_params(start, end, "Holidays"))
    assert fault_of(bad)[0] == "ValidationException"


def test_activity_instances_page_from_row_one(sim: SeveraSimulator) -> None:
    ordered = [
        r["GUID"] for r in sorted(sim.records("Activity"), key=lambda r: (r["StartDateTime"], r["GUID"]))
    ]
    page = guids(
        post(sim, "IActivity/GetActivityInstances", "<firstRow>2</firstRow><maxRows>3</maxRows>"), "Activity"
    )
    assert page == ordered[1:4]
    user = sim.records("Activity")[0]["OwnerUserGUID"]
    mine = guids(post(sim, "IActivity/GetActivityInstances", f"<userGUID>{user}</userGUID>"), "Activity")
    assert set(mine) == {r["GUID"] for r in sim.records("Activity") if r["OwnerUserGUID"] == user}
    assert (
        fault_of(post(sim, "IActivity/GetActivityInstances", "<firstRow>0</firstRow>"))[0]
        == "ValidationException"
    )


def test_hour_entries_by_event_date_and_by_change_time(sim: SeveraSimulator) -> None:
    start, end = NOW - timedelta(days=10), NOW - timedelta(days=3)
    params = f"<businessUnitGUID></businessUnitGUID><startdate>{iso(start)}</startdate><enddate>{iso(end)}</enddate>"
    found = guids(post(sim, "IHourEntry/GetHourEntriesByDate", params), "HourEntry")
    expected = {r["GUID"] for r in sim.records("HourEntry") if start <= r["EventDate"] <= end}
    assert set(found) == expected and expected
    entry = sim.records("HourEntry")[0]["GUID"]
    sim.upsert("HourEntry", {"GUID": entry, "Quantity": 2}, at=BASE)
    since = guids(
        post(sim, "IHourEntry/GetHourEntriesChangedSince", f"<startDate>{iso(BASE)}</startDate>"), "HourEntry"
    )
    assert since == [entry]
