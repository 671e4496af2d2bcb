"""SeveraSource: ``engine.ports.Source`` over SeveraClient, for every data type of the registry.

Which Severa operation serves which data type is the registry's (``read_operation``,
``fallback_operation``, ``by_key_operation``); the parameters each operation needs come from the
tenant configuration and the read window here. Every record becomes a ``SourceRecord`` keyed by
its GUID, with its change time where the entity has one and a human key for logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from severa_sync.config import TenantConfig
from severa_sync.engine.ports import SourceRecord, Versions, Window
from severa_sync.errors import CallInfo, SeveraError, SeveraNotFound
from severa_sync.registry import DataType
from severa_sync.severa import schema
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.models import SeveraRecord

log = logging.getLogger(__name__)
#: ``GetAllCustomers`` answers at most this many rows per call (reference §6).
CUSTOMER_PAGE_SIZE = 100
#: Options 0: records inserted or updated, active only (Severa's default for *ChangedSince).
OPTIONS_NONE = 0
#: AccountGetOptions/CaseGetOptions IncludeInactive (2): a customer or case deactivated in Severa
#: must reach Visma.net as inactive, so "changed" must include inactive records.
OPTIONS_INCLUDE_INACTIVE = 2
ABSENCES_CATEGORY = "Absences"


def _changed_at(record: SeveraRecord) -> datetime | None:
    # Customer spells it UpdatedTS/InsertTS, Case UpdatedTs/InsertTs; the others carry none.
    values = record.__dict__
    for name in ("UpdatedTS", "UpdatedTs", "InsertTS", "InsertTs"):
        value = values.get(name)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _display_customer(record: SeveraRecord) -> str | None:
    name, number = _text(getattr(record, "Name", None)), _text(getattr(record, "Number", None))
    if name and number:
        return f"{name} ({number})"
    return name or number


def _display_by(attribute: str) -> Callable[[SeveraRecord], str | None]:
    return lambda record: _text(getattr(record, attribute, None))


#: Human key for logs per entity ("Invoice number 10501", "Case 512", "Account Acme Oy (10023)").
DISPLAY_KEYS: dict[str, Callable[[SeveraRecord], str | None]] = {
    "Customer": _display_customer,
    "Case": _display_by("CaseNumber"),
    "Invoice": _display_by("Number"),
    "HourEntry": _display_by("GUID"),
    "Activity": _display_by("GUID"),
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

    def versions(self) -> Versions:
        return Versions(
            api_version=self.client.get_version(), schema_version=self.client.get_entity_schema_version()
        )

    def read(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        operation = data_type.read_operation
        return self._records(operation, self._read_params(operation, window))

    def read_fallback(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        operation = data_type.fallback_operation
        if operation is None:
            raise SeveraError(f"data type {data_type.name} has no fallback read")
        if operation == "ICustomer/GetAllCustomers":
            return self._all_customers(window)
        return self._records(operation, self._read_params(operation, window))

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
            return {"startDateTime": window.start, "options": OPTIONS_INCLUDE_INACTIVE}
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

    def _records(self, operation: str, params: dict[str, Any]) -> Iterator[SourceRecord]:
        op = schema.operation(operation)
        for record, content_hash in self._stream(operation, params):
            yield self._source_record(op, record, content_hash)

    def _stream(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[SeveraRecord, str]]:
        """One list read, where a ``NotFoundException`` before the first record means "no records".

        Severa "might return NotFoundException, null or an empty list" when no data is found
        (reference §2). A NotFound after some records is not an empty answer: it is raised.
        """
        delivered = 0
        try:
            for item in self.client.stream(operation, **params):
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
        """Every customer, a page of 100 per call until a short page (a NotFound page is empty).

        Only those changed inside the window are returned, so the fallback reads what the primary
        ``GetCustomersChangedSince`` would have (the window already includes the overlap).
        """
        op = schema.operation("ICustomer/GetAllCustomers")
        start = 0
        while True:
            page = 0
            params = {
                "options": OPTIONS_INCLUDE_INACTIVE,
                "startFromIndex": start,
                "count": CUSTOMER_PAGE_SIZE,
            }
            for record, content_hash in self._stream(op.qualified, params):
                page += 1
                item = self._source_record(op, record, content_hash)
                changed = item.changed_at
                if changed is None or (
                    changed >= window.start and (window.end is None or changed < window.end)
                ):
                    yield item
            if page < CUSTOMER_PAGE_SIZE:
                return
            start += page

    @staticmethod
    def _source_record(op: schema.Operation, record: SeveraRecord, content_hash: str) -> SourceRecord:
        entity = op.returns.removesuffix("[]")
        key = record.__dict__.get("GUID") or ""
        display = DISPLAY_KEYS.get(entity, _display_by("GUID"))(record) or key
        return SourceRecord(
            key=key,
            changed_at=_changed_at(record),
            display_key=display,
            content_hash=content_hash,
            payload=record,
        )
