"""What each Severa operation answers, over the simulator's store.

Handlers raise the typed ``SeveraFault`` subclasses of ``severa_sync.errors``; the service turns
them into SOAP faults. "Since" and date-range bounds compare at minute precision the adversarial
way Severa documents ("only precise to the closest minute"): the bound is rounded to the NEAREST
minute, the record's change time is taken to its minute. So a record changed at 10:00:45 is missed
by since=10:00:40 (rounds up to 10:01) and found by since=10:00:20 (rounds down to 10:00).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from severa_sync.errors import (
    CallInfo,
    SeveraGeneralFailure,
    SeveraNotFound,
    SeveraValidationFailed,
)
from severa_sync_tools.simulators.severa.dataset import Entry, Store, canonical_guid, epoch_minute

GET_ALL_CUSTOMERS_MAX = 100
ACTIVITY_CATEGORIES = ("Absences", "CalendarEntry", "ToDo", "ProjectTask", "Personal")
# Options bits ([FT]/[DOC] values; "missing from the WSDL").
NEW_ONLY = 1
INCLUDE_INACTIVE = 2
EXCLUDE_NOT_NUMBERED = 4  # AccountGetOptions: leave out accounts without a number (prospects)
CASE_INTERNAL_ONLY, CASE_EXCLUDE_CLOSED, CASE_EXCLUDE_OPEN = 16, 32, 64
#: AccountGetOptions CheckAddressChanges: a customer whose company's address changed counts as changed.
CHECK_ADDRESS_CHANGES = 64
#: AddressGetOptions ([FS]).
ADDRESSES_OF_INACTIVE_ACCOUNTS, ADDRESSES_OF_NUMBERED_ACCOUNTS_ONLY = 2, 4


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    now: datetime
    api_version: str
    schema_version: str
    call: CallInfo


Handler = Callable[[Context, dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def handler(qualified: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[qualified] = func
        return func

    return register


# --- helpers ---------------------------------------------------------------------------------
def nearest_minute(value: datetime) -> int:
    """The bound's minute, rounded to the nearest (half a minute rounds up)."""
    return epoch_minute(value + timedelta(seconds=30))


def _required(ctx: Context, params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None:
        raise SeveraGeneralFailure(f"{name} not supplied", description=f"{name} not supplied", call=ctx.call)
    return value


def _guid(ctx: Context, params: dict[str, Any], name: str) -> str:
    raw = params.get(name)
    try:
        return canonical_guid(raw or "")
    except ValueError:
        text = f"{name} is not a valid GUID"
        raise SeveraGeneralFailure(text, description=text, call=ctx.call) from None


def _business_unit(ctx: Context, params: dict[str, Any], name: str) -> str | None:
    """None for "all units" ("" or missing), else the canonical GUID."""
    return _guid(ctx, params, name) if params.get(name) else None


def _not_found(ctx: Context, what: str) -> SeveraNotFound:
    text = f"{what} could not be found."
    return SeveraNotFound(text, description=text, call=ctx.call)


def _changed_since(entries: Iterable[Entry], since: datetime, options: int | None) -> list[Entry]:
    start = nearest_minute(since)
    if (options or 0) & NEW_ONLY:
        return [e for e in entries if e.inserted_minute >= start]
    return [e for e in entries if e.changed_minute >= start]


def _active(entries: Iterable[Entry], options: int | None) -> list[Entry]:
    if (options or 0) & INCLUDE_INACTIVE:
        return list(entries)
    return [e for e in entries if e.record.get("IsActive", True) is not False]


def _numbered(entries: Iterable[Entry], options: int | None) -> list[Entry]:
    if (options or 0) & EXCLUDE_NOT_NUMBERED:
        return [e for e in entries if e.record.get("Number") is not None]
    return list(entries)


def _users_in_unit(ctx: Context, unit: str | None) -> set[str] | None:
    if unit is None:
        return None
    return {e.record["GUID"] for e in ctx.store.entries("User") if e.record.get("BusinessUnitGUID") == unit}


def _in_range(value: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if value is None:
        return False
    return (start is None or value >= start) and (end is None or value <= end)


# --- IAPI --------------------------------------------------------------------------------------
@handler("IAPI/GetVersion")
def get_version(ctx: Context, params: dict[str, Any]) -> str:
    return ctx.api_version


@handler("IAPI/GetEntitySchemaVersion")
def get_entity_schema_version(ctx: Context, params: dict[str, Any]) -> str:
    return ctx.schema_version


# --- ICustomer ---------------------------------------------------------------------------------
@handler("ICustomer/GetCustomersChangedSince")
def get_customers_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    since = _required(ctx, params, "startDateTime")
    options = params.get("options") or 0
    entries = _numbered(_active(ctx.store.entries("Customer"), options), options)
    changed = {id(e) for e in _changed_since(entries, since, options)}
    if options & CHECK_ADDRESS_CHANGES and not options & NEW_ONLY:
        companies = {
            e.record.get("CompanyGUID") for e in _changed_since(ctx.store.entries("Address"), since, None)
        }
        changed |= {id(e) for e in entries if e.record.get("CompanyGUID") in companies - {None}}
    return [e.record for e in entries if id(e) in changed]


@handler("ICustomer/GetCustomerByGUID")
def get_customer_by_guid(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    entry = ctx.store.get("Customer", _guid(ctx, params, "accountGuid"))
    if entry is None:
        raise _not_found(ctx, "Customer")
    return entry.record


@handler("ICustomer/GetAllCustomers")
def get_all_customers(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    start = params.get("startFromIndex") or 0
    count = min(params.get("count") or 0, GET_ALL_CUSTOMERS_MAX)
    if start < 0 or count < 0:
        text = "startFromIndex and count must not be negative"
        raise SeveraGeneralFailure(text, description=text, call=ctx.call)
    entries = _numbered(_active(ctx.store.entries("Customer"), params.get("options")), params.get("options"))
    return [e.record for e in entries[start : start + count]]


# --- IAddress ----------------------------------------------------------------------------------
@handler("IAddress/GetAddressesChangedSince")
def get_addresses_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The addresses of one account's company changed since the time; of every account when
    ``accountGUID`` is empty (INFERRED: the options filter accounts). An unknown account has none
    (the operation declares no NotFoundException)."""
    since = _required(ctx, params, "startDateTime")
    options = params.get("options") or 0
    accounts = ctx.store.entries("Customer")
    if params.get("accountGUID"):
        wanted = _guid(ctx, params, "accountGUID")
        accounts = [e for e in accounts if e.record.get("GUID") == wanted]
    if not options & ADDRESSES_OF_INACTIVE_ACCOUNTS:
        accounts = [e for e in accounts if e.record.get("IsActive", True) is not False]
    if options & ADDRESSES_OF_NUMBERED_ACCOUNTS_ONLY:
        accounts = [e for e in accounts if e.record.get("Number") is not None]
    companies = {e.record.get("CompanyGUID") for e in accounts} - {None}
    addresses = [e for e in ctx.store.entries("Address") if e.record.get("CompanyGUID") in companies]
    return [e.record for e in _changed_since(addresses, since, options)]


# --- ICase -------------------------------------------------------------------------------------
@handler("ICase/GetCasesChangedSince")
def get_cases_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    since = _required(ctx, params, "startDateTime")
    unit = _business_unit(ctx, params, "businessUnitGUID")
    options = params.get("options") or 0
    out = []
    for entry in _changed_since(ctx.store.entries("Case"), since, options):
        record = entry.record
        closed = bool(record.get("IsClosed"))
        if unit is not None and record.get("BusinessUnitGUID") != unit:
            continue
        if (options & CASE_EXCLUDE_CLOSED and closed) or (options & CASE_EXCLUDE_OPEN and not closed):
            continue
        if options & CASE_INTERNAL_ONLY and not record.get("IsInternal"):
            continue
        out.append(record)
    return out


@handler("ICase/GetCaseByGUID")
def get_case_by_guid(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    entry = ctx.store.get("Case", _guid(ctx, params, "caseGuid"))
    if entry is None:
        raise _not_found(ctx, "Case")
    return entry.record


# --- IInvoice ----------------------------------------------------------------------------------
def _invoices_in_unit(ctx: Context, params: dict[str, Any]) -> list[Entry]:
    unit = _business_unit(ctx, params, "businessUnitGUID")
    entries = ctx.store.entries("Invoice")
    return entries if unit is None else [e for e in entries if e.record.get("BusinessUnitGUID") == unit]


@handler("IInvoice/GetInvoicesByStatus")
def get_invoices_by_status(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    status = params.get("status") or ""
    if status and ctx.store.get("InvoiceStatus", status) is None:
        raise _not_found(ctx, "Invoice status")
    records = [
        e.record
        for e in _invoices_in_unit(ctx, params)
        if not status or e.record.get("InvoiceStatus") == status
    ]
    limit = params.get("maxInvoices")
    return records if limit is None or limit <= 0 else records[:limit]


@handler("IInvoice/GetInvoicesByDateAndStatus")
def get_invoices_by_date_and_status(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = params.get("startDate"), params.get("endDate")
    low = nearest_minute(start) if start is not None else None
    high = nearest_minute(end) if end is not None else None
    status = params.get("status") or ""
    inserted_only = (params.get("options") or 0) & NEW_ONLY
    out = []
    for entry in _invoices_in_unit(ctx, params):
        minute = entry.inserted_minute if inserted_only else entry.changed_minute
        if (low is not None and minute < low) or (high is not None and minute > high):
            continue
        if status and entry.record.get("InvoiceStatus") != status:
            continue
        out.append(entry.record)
    return out


@handler("IInvoice/GetInvoiceByGUID")
def get_invoice_by_guid(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    entry = ctx.store.get("Invoice", _guid(ctx, params, "invoiceGUID"))
    if entry is None:
        raise _not_found(ctx, "Invoice")
    return entry.record


@handler("IInvoice/GetInvoiceByNumber")
def get_invoice_by_number(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Numbers are unique per numbering unit: without a unit the number must be unique across all
    of them, and a duplicate answers NotFound like "no such number" ([SUP] Aug-2016 notes)."""
    number = _required(ctx, params, "invoiceNumber")
    unit = _business_unit(ctx, params, "businessUnitGUID")
    matches = [
        e.record
        for e in ctx.store.entries("Invoice")
        if e.record.get("Number") == number
        and (
            unit is None
            or unit in (e.record.get("InvoiceNumberingBusinessUnitGUID"), e.record.get("BusinessUnitGUID"))
        )
    ]
    if len(matches) != 1:
        raise _not_found(ctx, "Invoice")
    return matches[0]


@handler("IInvoice/SetInvoiceStatus")
def set_invoice_status(ctx: Context, params: dict[str, Any]) -> None:
    key = _guid(ctx, params, "invoiceGUID")
    status = params.get("status") or ""
    if ctx.store.get("Invoice", key) is None or not status or ctx.store.get("InvoiceStatus", status) is None:
        raise _not_found(ctx, "Invoice or invoice status")
    ctx.store.upsert("Invoice", {"GUID": key, "InvoiceStatus": status}, at=ctx.now)


@handler("IInvoice/SetInvoicePaymentDate")
def set_invoice_payment_date(ctx: Context, params: dict[str, Any]) -> None:
    """``paymentDate`` nil clears it (the parameter is ``dateTime?``)."""
    key = _guid(ctx, params, "invoiceGUID")
    if ctx.store.get("Invoice", key) is None:
        raise _not_found(ctx, "Invoice")
    ctx.store.upsert("Invoice", {"GUID": key, "PaymentDate": params.get("paymentDate")}, at=ctx.now)


@handler("IInvoice/AddNewInvoiceLogEntry")
def add_new_invoice_log_entry(ctx: Context, params: dict[str, Any]) -> None:
    """One entry in the invoice's log; ``ignoreDuplicates`` skips one whose context, text and
    source are already there (Severa's own flag). The invoice itself does not change."""
    key = _guid(ctx, params, "invoiceGuid")
    if ctx.store.get("Invoice", key) is None:
        raise _not_found(ctx, "Invoice")
    text = params.get("text") or ""
    if not text:
        raise SeveraGeneralFailure("text not supplied", description="text not supplied", call=ctx.call)
    entry = {
        "context": params.get("context") or "",
        "text": text,
        "source": params.get("source") or "",
        "eventTimeUtc": params.get("eventTimeUtc") or ctx.now,
    }
    ctx.store.add_invoice_log(key, entry, ignore_duplicates=bool(params.get("ignoreDuplicates")))


# --- IInvoiceStatus ----------------------------------------------------------------------------
@handler("IInvoiceStatus/GetAllInvoiceStatuses")
def get_all_invoice_statuses(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    records = [e.record for e in ctx.store.entries("InvoiceStatus")]
    return sorted(records, key=lambda r: (r.get("SortOrder") or 0, r.get("Name") or ""))


# --- IHourEntry --------------------------------------------------------------------------------
@handler("IHourEntry/GetHourEntriesChangedSince")
def get_hour_entries_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    since = _required(ctx, params, "startDate")
    return [e.record for e in _changed_since(ctx.store.entries("HourEntry"), since, 0)]


@handler("IHourEntry/GetHourEntriesByDate")
def get_hour_entries_by_date(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    users = _users_in_unit(ctx, _business_unit(ctx, params, "businessUnitGUID"))
    start, end = params.get("startdate"), params.get("enddate")
    return [
        e.record
        for e in ctx.store.entries("HourEntry")
        if _in_range(e.record.get("EventDate"), start, end)
        and (users is None or e.record.get("UserGUID") in users)
    ]


# --- IActivity, IActivityType ------------------------------------------------------------------
def _activity_order(record: dict[str, Any]) -> tuple[datetime, str]:
    return (record.get("StartDateTime") or datetime.min.replace(tzinfo=UTC), record.get("GUID") or "")


@handler("IActivity/GetActivitiesByDate")
def get_activities_by_date(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    start = _required(ctx, params, "startDate")
    end = _required(ctx, params, "endDate")
    category = params.get("activityCategory") or ""
    if category and category not in ACTIVITY_CATEGORIES:
        text = f"Unknown activity category '{category}'"
        raise SeveraValidationFailed(text, description=text, call=ctx.call)
    users = _users_in_unit(ctx, _business_unit(ctx, params, "businessUnitGuid"))
    categories = {e.record["GUID"]: e.record.get("Category") for e in ctx.store.entries("ActivityType")}
    out = [
        e.record
        for e in ctx.store.entries("Activity")
        if _in_range(e.record.get("StartDateTime"), start, end)
        and (not category or categories.get(e.record.get("ActivityTypeGUID")) == category)
        and (users is None or e.record.get("OwnerUserGUID") in users)
    ]
    return sorted(out, key=_activity_order)


@handler("IActivity/GetActivityInstances")
def get_activity_instances(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    first_row = 1 if params.get("firstRow") is None else params["firstRow"]
    max_rows = params.get("maxRows")
    if first_row < 1 or (max_rows is not None and max_rows < 0):
        text = "firstRow must be 1 or more and maxRows must not be negative"
        raise SeveraValidationFailed(text, description=text, call=ctx.call)
    wanted = {  # parameter -> member it filters (caseGUID: the simulator keeps no phases to link)
        "userGUID": "OwnerUserGUID",
        "activityTypeGUID": "ActivityTypeGUID",
        "accountGUID": "AccountGUID",
    }
    filters = {member: _guid(ctx, params, name) for name, member in wanted.items() if params.get(name)}

    def matches(record: dict[str, Any]) -> bool:
        starts, ends = record.get("StartDateTime"), record.get("EndDateTime")
        checks = (
            ("startsAfter", starts, lambda v, b: v > b),
            ("startsBefore", starts, lambda v, b: v < b),
            ("endsAfter", ends, lambda v, b: v > b),
            ("endsBefore", ends, lambda v, b: v < b),
        )
        for name, value, test in checks:
            bound = params.get(name)
            if bound is not None and (value is None or not test(value, bound)):
                return False
        return all(record.get(member) == value for member, value in filters.items())

    records = sorted(
        (e.record for e in ctx.store.entries("Activity") if matches(e.record)), key=_activity_order
    )
    page = records[first_row - 1 :]
    return page if max_rows is None else page[:max_rows]


@handler("IActivityType/GetAllActivityTypes")
def get_all_activity_types(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [e.record for e in ctx.store.entries("ActivityType")]


# --- IProduct ---------------------------------------------------------------------------------
@handler("IProduct/GetProductsChangedSince")
def get_products_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Active products only unless IncludeInactive (2); never travel expenses ([DOC])."""
    since = _required(ctx, params, "startDateTime")
    entries = _active(ctx.store.entries("Product"), params.get("options"))
    return [e.record for e in _changed_since(entries, since, params.get("options"))]


@handler("IProduct/GetProductByGUID")
def get_product_by_guid(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    entry = ctx.store.get("Product", _guid(ctx, params, "productGUID"))
    if entry is None:
        raise _not_found(ctx, "Product")
    return entry.record


# --- IUser -------------------------------------------------------------------------------------
@handler("IUser/GetUsersChangedSince")
def get_users_changed_since(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    since = _required(ctx, params, "startDateTime")
    unit = _business_unit(ctx, params, "businessUnitGUID")
    entries = _active(ctx.store.entries("User"), params.get("options"))
    return [
        e.record
        for e in _changed_since(entries, since, params.get("options"))
        if unit is None or e.record.get("BusinessUnitGUID") == unit
    ]


# Operations kept in their own modules register themselves on import.
from severa_sync_tools.simulators.severa import business_units as _business_units  # noqa: E402, F401
