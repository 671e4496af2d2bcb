"""SeveraSource: ``engine.ports.Source`` over SeveraClient, for every data type of the registry.

Which Severa operation serves which data type is the registry's (``read_operation``,
``fallback_operation``, ``by_key_operation``); the parameters each operation needs come from the
tenant configuration and the read window here. Every record becomes a ``SourceRecord`` keyed by
its GUID, with its change time where the entity has one and a human key for logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Found, Lookup, RetryItem, SourceRecord, Versions, Window
from severa_sync.errors import (
    CallInfo,
    SeveraError,
    SeveraNotFound,
    SeveraPagesShifting,
    SeveraRecordUndecodable,
)
from severa_sync.registry import DataType
from severa_sync.severa import schema
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.decoding import UndecodableRecord
from severa_sync.severa.invoice_statuses import require_invoice_statuses
from severa_sync.severa.models import Customer, SeveraRecord

log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant
#: ``GetAllCustomers`` answers at most this many rows per call (reference §6).
CUSTOMER_PAGE_SIZE = 100
#: Rows each page repeats of the one before: a deletion before the boundary stays covered.
PAGE_OVERLAP = 10
#: GUIDs remembered to drop the repeats (three pages: enough for a re-read one page back).
RECENT_PAGE_KEYS = 3 * CUSTOMER_PAGE_SIZE
#: Re-reads of one paged read before it is left to a later run (rows still vanishing meanwhile).
MAX_PAGE_RECHECKS = 20
#: Options 0: records inserted or updated, active only (Severa's default for *ChangedSince).
OPTIONS_NONE = 0
#: AccountGetOptions/CaseGetOptions IncludeInactive (2): a customer or case deactivated in Severa
#: must reach Visma.net as inactive, so "changed" must include inactive records.
OPTIONS_INCLUDE_INACTIVE = 2
#: AccountGetOptions ExcludeNotNumbered (4, reference §6): an account without a number is a prospect,
#: never a customer to transfer (Visma.net customers are keyed by it), so Severa leaves it out.
OPTIONS_EXCLUDE_NOT_NUMBERED = 4
OPTIONS_ACCOUNTS = OPTIONS_INCLUDE_INACTIVE | OPTIONS_EXCLUDE_NOT_NUMBERED
ABSENCES_CATEGORY = "Absences"
#: An invoice's second key, for parked invoices Severa no longer finds by GUID.
INVOICE_BY_NUMBER = "IInvoice/GetInvoiceByNumber"


def _changed_at(record: SeveraRecord) -> datetime | None:
    # Customer spells it UpdatedTS/InsertTS, Case UpdatedTs/InsertTs; the others carry none.
    values = record.__dict__
    for name in ("UpdatedTS", "UpdatedTs", "InsertTS", "InsertTs"):
        value = values.get(name)
        if value is not None:
            return value
    return None


def is_prospect(record: BaseModel) -> bool:
    """An account without a number: a sales prospect, not a customer."""
    return isinstance(record, Customer) and record.__dict__.get("Number") is None


def skip_prospects(records: Iterator[SourceRecord]) -> Iterator[SourceRecord]:
    """Drops prospects a server passes despite ``ExcludeNotNumbered``, deliberately and with one log
    line per read: never parked, never alerted on (they would be on every run)."""
    skipped = 0
    for record in records:
        if is_prospect(record.payload):
            skipped += 1
            continue
        yield record
    if skipped:
        log.info(
            "accounts without a number (prospects) skipped: they are not transferred",
            extra={"prospects_skipped": skipped},
        )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _display_customer(record: SeveraRecord) -> str | None:
    name, number = _text(getattr(record, "Name", None)), _text(getattr(record, "Number", None))
    if name and number:
        return f"{name} ({number})"
    return name or number


def _display_by(attribute: str) -> Callable[[SeveraRecord], str | None]:
    return lambda record: _text(getattr(record, attribute, None))


def _with_guid(parts: list[str | None], record: SeveraRecord) -> str | None:
    shown = ", ".join(part for part in parts if part)
    guid = _text(getattr(record, "GUID", None))
    return f"{shown} ({guid})" if shown and guid else shown or guid


def _display_hour_entry(record: SeveraRecord) -> str | None:
    """What payroll recognises: the day, the hours, whose and on which case (the GUID to look up)."""
    day, hours = getattr(record, "EventDate", None), getattr(record, "Quantity", None)
    user, case = _text(getattr(record, "UserGUID", None)), _text(getattr(record, "CaseGUID", None))
    return _with_guid(
        [
            day.date().isoformat() if day else None,
            f"{hours.normalize():f} h" if hours is not None else None,
            f"user {user}" if user else None,
            f"case {case}" if case else None,
        ],
        record,
    )


def _display_absence(record: SeveraRecord) -> str | None:
    """The span and whose; never the name or notes (an absence's text may be personal)."""
    start, end = getattr(record, "StartDateTime", None), getattr(record, "EndDateTime", None)
    user = _text(getattr(record, "OwnerUserGUID", None))
    span = " to ".join(f"{t:%Y-%m-%d %H:%M}" for t in (start, end) if t is not None)
    return _with_guid([span or None, f"user {user}" if user else None], record)


#: Human key for logs per entity ("Invoice number 10501", "Case 512", "Account Acme Oy (10023)",
#: "Hour entry 2026-11-20, 7.5 h, user <guid>, case <guid> (<guid>)").
DISPLAY_KEYS: dict[str, Callable[[SeveraRecord], str | None]] = {
    "Customer": _display_customer,
    "Case": _display_by("CaseNumber"),
    "Invoice": _display_by("Number"),
    "HourEntry": _display_hour_entry,
    "Activity": _display_absence,
}


class SeveraSource:
    """The source port over one tenant's Severa."""

    def __init__(self, client: SeveraClient, config: TenantConfig):
        self.client = client
        self.config = config

    # -- the port ---------------------------------------------------------------------------
    def server_time(self) -> datetime | None:
        return self.client.server_time

    def last_call(self) -> CallInfo | None:
        return self.client.last_call

    def forget_last_call(self) -> None:
        self.client.forget_last_call()

    def versions(self) -> Versions:
        return Versions(
            api_version=self.client.get_version(), schema_version=self.client.get_entity_schema_version()
        )

    def read(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        operation = data_type.read_operation
        params = self._read_params(operation, window)
        return skip_prospects(self._records(operation, params, past_size_cap=window.past_size_cap))

    def read_fallback(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        operation = data_type.fallback_operation
        if operation is None:
            raise SeveraError(f"data type {data_type.name} has no fallback read")
        if operation == "ICustomer/GetAllCustomers":
            return skip_prospects(self._all_customers(window))
        params = self._read_params(operation, window)
        return skip_prospects(self._records(operation, params, past_size_cap=window.past_size_cap))

    def read_by_key(self, data_type: DataType, key: str) -> SourceRecord | None:
        operation = data_type.by_key_operation
        if operation is None:
            raise SeveraError(f"data type {data_type.name} has no read by key")
        op = schema.operation(operation)
        try:
            found = self.client.get(operation, **{op.params[0].name: key})
        except SeveraNotFound:
            return None
        if found is None:
            return None
        record = self._source_record(op, *found)
        if data_type.name == "invoices" and getattr(record.payload, "InvoiceStatus", None) != (
            self.config.invoices.source_status
        ):
            return None  # moved on (transferred or reset by hand): no longer ours to transfer
        return record

    def check_ready(self, data_type: DataType) -> None:
        if data_type.name == "invoices":
            require_invoice_statuses(self.client, self.config)

    def read_waiting(
        self, data_type: DataType, limit: int, *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        """Invoices in the source status, at most ``limit`` (``maxInvoices``), whatever their dates."""
        operation = data_type.queue_operation
        if operation is None:
            return iter(())
        params = {
            "businessUnitGUID": self.config.severa.business_unit_guid,
            "status": self.config.invoices.source_status,
            "options": OPTIONS_NONE,
            "maxInvoices": limit,
        }
        return self._records(operation, params, past_size_cap=past_size_cap)

    def look_up_parked(self, data_type: DataType, item: RetryItem) -> Lookup:
        operation = data_type.by_key_operation
        if operation is None:
            raise SeveraError(f"data type {data_type.name} has no read by key")
        op = schema.operation(operation)
        try:
            found = self.client.get(operation, **{op.params[0].name: item.key})
        except SeveraNotFound:
            found = None
        if found is not None:
            return self._judged(data_type, self._source_record(op, *found), "by GUID")
        if data_type.name == "invoices":
            return self._invoice_by_number(data_type, item)
        return Lookup(Found.NOT_FOUND, evidence="not found by GUID")

    def _invoice_by_number(self, data_type: DataType, item: RetryItem) -> Lookup:
        """The second key of an invoice: its number (unique per numbering unit), which a GUID
        incident does not touch. Another GUID under the same number is the incident itself."""
        if not item.display_key.isdigit():
            return Lookup(Found.NOT_FOUND, evidence="not found by GUID; no invoice number to read it by")
        op = schema.operation(INVOICE_BY_NUMBER)
        try:
            found = self.client.get(
                INVOICE_BY_NUMBER,
                invoiceNumber=int(item.display_key),
                businessUnitGUID=self.config.severa.business_unit_guid,
            )
        except SeveraNotFound:
            found = None
        if found is None:
            return Lookup(Found.NOT_FOUND, evidence=f"not found by GUID nor by number {item.display_key}")
        record = self._source_record(op, *found)
        if record.key.lower() != item.key.lower():
            return Lookup(
                Found.CONFLICT,
                record,
                evidence=f"not found by GUID; number {item.display_key} is an invoice with GUID {record.key}",
            )
        return self._judged(data_type, record, f"by number {item.display_key}")

    def _judged(self, data_type: DataType, record: SourceRecord, how: str) -> Lookup:
        if is_prospect(record.payload):
            return Lookup(
                Found.SETTLED, record, evidence=f"read {how}: an account without a number (a prospect)"
            )
        if data_type.name != "invoices":
            return Lookup(Found.PENDING, record, evidence=f"read {how}")
        status = getattr(record.payload, "InvoiceStatus", None)
        if status == self.config.invoices.source_status:
            return Lookup(Found.PENDING, record, evidence=f'read {how}: status "{status}"')
        return Lookup(Found.SETTLED, record, evidence=f'read {how}: status "{status}"')

    def acknowledge(self, data_type: DataType, record: SourceRecord) -> str | None:
        # Only invoices are marked in Severa; the other types leave no trace there.
        if data_type.name != "invoices":
            return None
        status = self.config.invoices.transferred_status
        self.client.set_invoice_status(record.key, status)
        return status

    # -- reads ------------------------------------------------------------------------------
    def _read_params(self, operation: str, window: Window) -> dict[str, Any]:
        bu = self.config.severa.business_unit_guid
        if operation == "ICustomer/GetCustomersChangedSince":
            return {"startDateTime": window.start, "options": OPTIONS_ACCOUNTS}
        if operation == "ICase/GetCasesChangedSince":
            return {
                "businessUnitGUID": bu,
                "startDateTime": window.start,
                "options": OPTIONS_INCLUDE_INACTIVE,
            }
        if operation == "IInvoice/GetInvoicesByDateAndStatus":
            return {
                "businessUnitGUID": bu,
                "startDate": window.start,
                "endDate": window.end,
                "status": self.config.invoices.source_status,
                "options": OPTIONS_NONE,
            }
        if operation == "IHourEntry/GetHourEntriesChangedSince":
            return {"startDate": window.start}
        if operation == "IHourEntry/GetHourEntriesByDate":
            return {"businessUnitGUID": bu, "startdate": window.start, "enddate": window.end}
        if operation == "IActivity/GetActivitiesByDate":
            return {
                "startDate": window.start,
                "endDate": window.end,
                "activityCategory": ABSENCES_CATEGORY,
                "businessUnitGuid": bu,
            }
        raise SeveraError(f"no read parameters known for {operation}")

    def _records(
        self, operation: str, params: dict[str, Any], *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        op = schema.operation(operation)
        for record, content_hash in self._stream(operation, params, past_size_cap=past_size_cap):
            yield self._source_record(op, record, content_hash)

    def _stream(
        self, operation: str, params: dict[str, Any], *, past_size_cap: bool = False
    ) -> Iterator[tuple[SeveraRecord, str]]:
        """One list read, where a ``NotFoundException`` before the first record means "no records".

        Severa "might return NotFoundException, null or an empty list" when no data is found
        (reference §2). A NotFound after some records is not an empty answer: it is raised.
        """
        delivered = 0
        # Only said when set: the client's signature is the contract, params are SOAP members.
        cap: dict[str, Any] = {"past_size_cap": True} if past_size_cap else {}
        try:
            for item in self.client.stream(operation, **cap, **params):
                delivered += 1
                yield item
        except SeveraNotFound as exc:
            if delivered:
                raise
            log.info(
                "severa answered NotFoundException to a list read: no records",
                extra={
                    "severa_call": exc.call.as_log() if exc.call is not None else {"operation": operation},
                    "fault_description": exc.description,
                },
            )

    def _all_customers(self, window: Window) -> Iterator[SourceRecord]:
        """Every customer, page by page (100 a call) until a short page; only those changed inside the
        window are returned, as ``GetCustomersChangedSince`` would have (the window includes the
        overlap).

        Paging by index cannot see deletions: a customer deleted before the boundary shifts every
        later row down, and a plain next page would skip one. So pages overlap by ``PAGE_OVERLAP``
        rows and each must begin with a row already read (repeats are dropped by GUID); one that does
        not (more rows vanished than the overlap covers, or an empty page after a full one) is read
        again from a page further back. A page is at most 100 rows: read past the size limit.
        """
        op = schema.operation("ICustomer/GetAllCustomers")
        recent: dict[str, None] = {}  # GUIDs of the last few pages, oldest first
        start, rechecks = 0, 0
        while True:
            params = {"options": OPTIONS_ACCOUNTS, "startFromIndex": start, "count": CUSTOMER_PAGE_SIZE}
            rows = [
                self._source_record(op, record, content_hash)
                for record, content_hash in self._stream(op.qualified, params, past_size_cap=True)
            ]
            if start > 0 and (not rows or rows[0].key not in recent):
                rechecks += 1
                if rechecks > MAX_PAGE_RECHECKS:
                    raise SeveraPagesShifting(
                        f"GetAllCustomers pages kept shifting while paging ({rechecks - 1} re-reads from "
                        f"index {start}): customers are being deleted or moved; the run is tried again later",
                        call=self.client.last_call,
                    )
                start = max(0, start - (CUSTOMER_PAGE_SIZE - PAGE_OVERLAP))
                log.info(
                    "customer rows shifted while paging (deleted or moved): reading again from an earlier page",
                    extra={"start_from_index": start},
                )
                continue
            for item in rows:
                if item.key in recent:
                    continue
                recent[item.key] = None
                if len(recent) > RECENT_PAGE_KEYS:
                    del recent[next(iter(recent))]
                changed = item.changed_at
                if changed is None or (
                    changed >= window.start and (window.end is None or changed < window.end)
                ):
                    yield item
            if len(rows) < CUSTOMER_PAGE_SIZE:
                return
            start += len(rows) - PAGE_OVERLAP

    def _source_record(self, op: schema.Operation, record: SeveraRecord, content_hash: str) -> SourceRecord:
        entity = op.returns.removesuffix("[]")
        key = record.__dict__.get("GUID") or ""
        if isinstance(record, UndecodableRecord):
            # Parked alone by the engine; the rest of the answer is delivered.
            error = SeveraRecordUndecodable(
                record.message,
                call=self.client.last_call,  # the list read it came in
                detail={"entity": entity, "member": record.problem},
            )
            return SourceRecord(key, None, record.display or key, "", record, error=error)
        display = DISPLAY_KEYS.get(entity, _display_by("GUID"))(record) or key
        return SourceRecord(
            key=key,
            changed_at=_changed_at(record),
            display_key=display,
            content_hash=content_hash,
            payload=record,
        )
