"""SeveraSource: ``engine.ports.Source`` over SeveraClient, for every data type of the registry.

Which Severa calls serve a data type, and where each parameter comes from, is the type's
declaration (``severa_sync.datatypes``); the values are bound here from the tenant configuration,
the read window or the record. Every record becomes a ``SourceRecord`` keyed by its GUID, with its
change time where the declaration names one and its declared human key for logs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import Bind, DataType, DisplayLookup, SeveraCall
from severa_sync.engine.ports import (
    Found,
    Lookup,
    RetryItem,
    SourceRecord,
    StateStore,
    Versions,
    Window,
)
from severa_sync.errors import (
    CallInfo,
    SeveraError,
    SeveraNotFound,
    SeveraPagesShifting,
    SeveraRecordUndecodable,
)
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.decoding import UndecodableRecord
from severa_sync.severa.invoice_log import InvoiceLogEntries
from severa_sync.severa.invoice_statuses import require_invoice_statuses
from severa_sync.severa.models import Customer, SeveraRecord

log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant
#: ``Bind.EVER``: a since-read from here answers every record.
EVER = datetime(2000, 1, 1, tzinfo=UTC)
#: Rows each page repeats of the one before: a deletion before the boundary stays covered.
PAGE_OVERLAP = 10
#: Re-reads of one paged read before it is left to a later run (rows still vanishing meanwhile).
MAX_PAGE_RECHECKS = 20


def _changed_at(data_type: DataType, record: SeveraRecord) -> datetime | None:
    values = record.__dict__
    for name in data_type.change_time_members:
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


class SeveraSource:
    """The source port over one tenant's Severa."""

    def __init__(self, client: SeveraClient, config: TenantConfig, *, state: StateStore | None = None):
        self.client = client
        self.config = config
        self._counting = False  # counting(): records handed out bare
        #: Where the target keys of delivered records are read for their log entries (None: no
        #: log entries are written, e.g. a source built for reads only).
        self.log_entries = (
            InvoiceLogEntries(client, state, config.tenant, config.zone) if state is not None else None
        )

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Records handed out meanwhile are only counted (a paused run's time to go): their attached
        records are not read, which would cost a call each."""
        self._counting = True
        try:
            yield
        finally:
            self._counting = False

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
        call = data_type.read
        if call is None:
            raise SeveraError(f"data type {data_type.name} is not read from Severa")
        params = self._params(call, window=window)
        return skip_prospects(self._records(data_type, call, params, window.past_size_cap))

    def read_fallback(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        call = data_type.fallback
        if call is None:
            raise SeveraError(f"data type {data_type.name} has no fallback read")
        if call.page_size is not None:
            return skip_prospects(self._pages(data_type, call, window))
        params = self._params(call, window=window)
        return skip_prospects(self._records(data_type, call, params, window.past_size_cap))

    def read_by_key(self, data_type: DataType, key: str) -> SourceRecord | None:
        call = data_type.by_key
        if call is None:
            raise SeveraError(f"data type {data_type.name} has no read by key")
        record = self._one(data_type, call, self._params(call, key=key))
        if record is None:
            return None
        queue = data_type.status_queue
        if queue is not None and getattr(record.payload, queue.member, None) != self._source_status:
            return None  # moved on (transferred or reset by hand): no longer ours to transfer
        return record

    def check_ready(self, data_type: DataType) -> None:
        if data_type.status_queue is not None:
            require_invoice_statuses(self.client, self.config)
            if self.log_entries is not None:
                self.log_entries.retry_pending(data_type)

    def read_waiting(
        self, data_type: DataType, limit: int, *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        """Records in the source status, at most ``limit`` (``maxInvoices``), whatever their dates."""
        call = data_type.queue
        if call is None:
            return iter(())
        return self._records(data_type, call, self._params(call, limit=limit), past_size_cap)

    def names(self, lookup: DisplayLookup) -> dict[str, str]:
        names: dict[str, str] = {}
        for record, _ in self._stream(lookup.read.operation, self._params(lookup.read), past_size_cap=True):
            guid, shown = record.__dict__.get("GUID"), record.__dict__.get(lookup.shown)
            if guid and shown not in (None, ""):
                names[str(guid)] = str(shown)
        return names

    def look_up_parked(self, data_type: DataType, item: RetryItem) -> Lookup:
        call = data_type.by_key
        if call is None:
            raise SeveraError(f"data type {data_type.name} has no read by key")
        record = self._one(data_type, call, self._params(call, key=item.key))
        if record is not None:
            return self._judged(data_type, record, "by GUID")
        if data_type.by_number is not None:
            return self._by_number(data_type, data_type.by_number, item)
        return Lookup(Found.NOT_FOUND, evidence="not found by GUID")

    def _by_number(self, data_type: DataType, call: SeveraCall, item: RetryItem) -> Lookup:
        """The second key: the record's number (an invoice's is unique per numbering unit), which a
        GUID incident does not touch. Another GUID under the same number is the incident itself."""
        if not item.display_key.isdigit():
            return Lookup(
                Found.NOT_FOUND,
                evidence=f"not found by GUID; no {data_type.noun.lower()} number to read it by",
            )
        record = self._one(data_type, call, self._params(call, number=int(item.display_key)))
        if record is None:
            return Lookup(Found.NOT_FOUND, evidence=f"not found by GUID nor by number {item.display_key}")
        if record.key.lower() != item.key.lower():
            return Lookup(
                Found.CONFLICT,
                record,
                evidence=f"not found by GUID; number {item.display_key} is {data_type.noun.lower()} GUID {record.key}",
            )
        return self._judged(data_type, record, f"by number {item.display_key}")

    def _judged(self, data_type: DataType, record: SourceRecord, how: str) -> Lookup:
        if is_prospect(record.payload):
            return Lookup(
                Found.SETTLED, record, evidence=f"read {how}: an account without a number (a prospect)"
            )
        queue = data_type.status_queue
        if queue is None:
            return Lookup(Found.PENDING, record, evidence=f"read {how}")
        status = getattr(record.payload, queue.member, None)
        if status == self._source_status:
            return Lookup(Found.PENDING, record, evidence=f'read {how}: status "{status}"')
        return Lookup(Found.SETTLED, record, evidence=f'read {how}: status "{status}"')

    def acknowledge(self, data_type: DataType, record: SourceRecord) -> str | None:
        # Only records that wait in a status are marked in Severa; the others leave no trace there.
        queue = data_type.status_queue
        if queue is None:
            return None
        self.client.call(queue.mark.operation, **self._params(queue.mark, key=record.key))
        if self.log_entries is not None:
            self.log_entries.write(data_type, record)
        return self.config.invoices.transferred_status

    # -- reads ------------------------------------------------------------------------------
    @property
    def _source_status(self) -> str:
        return self.config.invoices.source_status

    def _params(
        self,
        call: SeveraCall,
        *,
        window: Window | None = None,
        key: str | None = None,
        number: int | None = None,
        limit: int | None = None,
        page: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """The call's parameters, each bound as its declaration says (``datatypes.model.Bind``)."""
        bound: dict[Bind, Any] = {
            Bind.EVER: EVER,
            Bind.BUSINESS_UNIT: self.config.severa.business_unit_guid,
            Bind.SOURCE_STATUS: self.config.invoices.source_status,
            Bind.TRANSFERRED_STATUS: self.config.invoices.transferred_status,
            Bind.KEY: key,
            Bind.NUMBER: number,
            Bind.LIMIT: limit,
        }
        if window is not None:
            bound[Bind.WINDOW_START], bound[Bind.WINDOW_END] = window.start, window.end
        if page is not None:
            bound[Bind.PAGE_START], bound[Bind.PAGE_SIZE] = page
        params: dict[str, Any] = {}
        for name, value in call.params:
            if not isinstance(value, Bind):
                params[name] = value
            elif value in bound and (bound[value] is not None or value is Bind.WINDOW_END):
                params[name] = bound[value]
            else:
                raise SeveraError(f"{call.operation}: no value for {name} ({value.value})")
        return params

    def _one(self, data_type: DataType, call: SeveraCall, params: dict[str, Any]) -> SourceRecord | None:
        """A read of one record; None when Severa does not find it."""
        try:
            found = self.client.get(call.operation, **params)
        except SeveraNotFound:
            return None
        return (
            None if found is None else self._with_attached(data_type, self._source_record(data_type, *found))
        )

    def _records(
        self,
        data_type: DataType,
        call: SeveraCall,
        params: dict[str, Any],
        past_size_cap: bool = False,
        *,
        attach: bool = True,
    ) -> Iterator[SourceRecord]:
        read_call: CallInfo | None = None  # this list read's, not an attached read's made meanwhile
        for record, content_hash in self._stream(call.operation, params, past_size_cap=past_size_cap):
            read_call = read_call or self.client.last_call
            built = self._source_record(data_type, record, content_hash, read_call)
            yield self._with_attached(data_type, built) if attach else built

    def _with_attached(self, data_type: DataType, record: SourceRecord) -> SourceRecord:
        """The record with its attached records (``DataType.attached``) in its payload, its content
        hash taken over both: a change to an attached record alone changes the record's hash."""
        if not data_type.attached or record.error is not None or self._counting:
            return record
        update: dict[str, Any] = {}
        digests = [record.content_hash]
        for attached in data_type.attached:
            if attached.belongs_to is not None and not record.payload.__dict__.get(attached.belongs_to):
                found: list[tuple[SeveraRecord, str]] = []
            else:
                params = self._params(attached.read, key=record.key)
                found = list(self._stream(attached.read.operation, params, past_size_cap=True))
            broken = next((item for item, _ in found if isinstance(item, UndecodableRecord)), None)
            if broken is not None:
                # Parked alone, as an undecodable record is: it cannot be sent without its parts.
                error = SeveraRecordUndecodable(
                    f"{attached.member} of {record.display_key}: {broken.message}",
                    call=self.client.last_call,
                    detail={
                        "entity": data_type.entity,
                        "attached": attached.member,
                        "member": broken.problem,
                    },
                )
                return SourceRecord(
                    record.key, record.changed_at, record.display_key, "", record.payload, error=error
                )
            # In GUID order: the hash must not depend on the order Severa answers them in.
            found.sort(key=lambda pair: str(pair[0].__dict__.get("GUID") or "").lower())
            update[attached.member] = [item for item, _ in found]
            digests.append(attached.member)
            digests.extend(f"{item.__dict__.get('GUID') or ''}:{digest}" for item, digest in found)
        content_hash = hashlib.blake2b("\x1e".join(digests).encode(), digest_size=16).hexdigest()
        return SourceRecord(
            key=record.key,
            changed_at=record.changed_at,
            display_key=record.display_key,
            content_hash=content_hash,
            payload=record.payload.model_copy(update=update),
        )

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

    def _pages(self, data_type: DataType, call: SeveraCall, window: Window) -> Iterator[SourceRecord]:
        """Every record, page by page (``call.page_size`` a call) until a short page; only those
        changed inside the window are returned, as the changed-since read would have (the window
        includes the overlap), unless the type has attached records, whose changes its change time
        does not show: then every record (the targets skip the unchanged by content hash). ``GetAllCustomers`` is the paged read today.

        Paging by index cannot see deletions: a record deleted before the boundary shifts every
        later row down, and a plain next page would skip one. So pages overlap by ``PAGE_OVERLAP``
        rows and each must begin with a row already read (repeats are dropped by GUID); one that does
        not (more rows vanished than the overlap covers, or an empty page after a full one) is read
        again from a page further back. A page is small: read past the size limit.
        """
        size = call.page_size or 0
        recent: dict[str, None] = {}  # GUIDs of the last three pages, oldest first
        start, rechecks = 0, 0
        while True:
            params = self._params(call, page=(start, size))
            # Attached records are read once per record, after the overlap's repeats are dropped.
            rows = list(self._records(data_type, call, params, past_size_cap=True, attach=False))
            if start > 0 and (not rows or rows[0].key not in recent):
                rechecks += 1
                if rechecks > MAX_PAGE_RECHECKS:
                    raise SeveraPagesShifting(
                        f"{call.operation} pages kept shifting while paging ({rechecks - 1} re-reads from "
                        f"index {start}): {data_type.noun_plural} are being deleted or moved; the run is tried "
                        "again later",
                        call=self.client.last_call,
                    )
                start = max(0, start - (size - PAGE_OVERLAP))
                log.info(
                    f"{data_type.noun.lower()} rows shifted while paging (deleted or moved): reading again "
                    "from an earlier page",
                    extra={"start_from_index": start},
                )
                continue
            for item in rows:
                if item.key in recent:
                    continue
                recent[item.key] = None
                if len(recent) > 3 * size:
                    del recent[next(iter(recent))]
                changed = item.changed_at
                if (
                    data_type.attached
                    or changed is None
                    or (changed >= window.start and (window.end is None or changed < window.end))
                ):
                    yield self._with_attached(data_type, item)
            if len(rows) < size:
                return
            start += len(rows) - PAGE_OVERLAP

    def _source_record(
        self, data_type: DataType, record: SeveraRecord, content_hash: str, call: CallInfo | None = None
    ) -> SourceRecord:
        key = record.__dict__.get("GUID") or ""
        if isinstance(record, UndecodableRecord):
            # Parked alone by the engine; the rest of the answer is delivered.
            error = SeveraRecordUndecodable(
                record.message,
                call=call or self.client.last_call,  # the list read it came in
                detail={"entity": data_type.entity, "member": record.problem},
            )
            return SourceRecord(key, None, record.display or key, "", record, error=error)
        return SourceRecord(
            key=key,
            changed_at=_changed_at(data_type, record),
            display_key=data_type.display_key(record, {}) or key,
            content_hash=content_hash,
            payload=record,
        )
