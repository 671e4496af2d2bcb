"""The invoice log entry naming the Visma.net document an invoice became (issue 15, item 3).

Finance talks about Financials' invoice number; after an invoice or credit note is marked
transferred, one ``IInvoice.AddNewInvoiceLogEntry`` says in Severa which document it became
("Transferred to Visma.net Financials as customer invoice 100001"), as the declaration's
``StatusQueue.log_entry`` says. Once per document: the entry waits in the state (the type's
``<type>-log-entries`` mappings) from before the call until Severa took it, so a failed call is
made again at the next run's start, and ``ignoreDuplicates`` keeps a repeated one out of the log.
A failure here never undoes or blocks the transfer: it is a warning line, and retried.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from severa_sync.datatypes.model import Bind, DataType, LogEntry
from severa_sync.engine.ports import Mapping, SourceRecord, StateStore
from severa_sync.errors import SyncError
from severa_sync.severa.client import SeveraClient
from severa_sync.timeutil import iso_seconds, local, utcnow

logger = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant

#: Pending entries of every age (``mappings_delivered_since``).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def pending_namespace(data_type: DataType) -> str:
    return f"{data_type.name}-log-entries"


class InvoiceLogEntries:
    def __init__(self, client: SeveraClient, state: StateStore, tenant: str, zone: ZoneInfo):
        self._client = client
        self._state = state
        self._tenant = tenant
        self._zone = zone

    def _times(self) -> dict[str, str]:
        """The guideline's progress-line times: UTC and the tenant's zone."""
        now = utcnow()
        return {"time_utc": iso_seconds(now), "time_local": iso_seconds(local(now, self._zone))}

    def write(self, data_type: DataType, record: SourceRecord) -> None:
        """The entry for ``record``, just marked: remembered as pending, then written."""
        entry = _entry_of(data_type)
        if entry is None:
            return
        try:
            mapping = self._state.get_mapping(self._tenant, data_type.name, record.key)
            if mapping is None:
                return  # nothing to name (not transferred by this run's target)
            kind = bool(getattr(record.payload, entry.kind_member, False))
            text = entry.text.format(document=entry.documents[kind], number=mapping.target_key)
            digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
            self._state.put_mapping(
                self._tenant,
                pending_namespace(data_type),
                record.key,
                Mapping(
                    mapping.target_key, digest, utcnow(), {"text": text, "display_key": record.display_key}
                ),
            )
        except SyncError as error:
            self._warn(data_type, record.key, record.display_key, error)
            return
        self._send(data_type, entry, record.key, record.display_key, text)

    def retry_pending(self, data_type: DataType) -> None:
        """Entries an earlier run could not write (Severa faulted, or the run died between)."""
        entry = _entry_of(data_type)
        if entry is None:
            return
        namespace = pending_namespace(data_type)
        try:
            keys = self._state.mappings_delivered_since(self._tenant, namespace, EPOCH)
            pending = self._state.get_mappings(self._tenant, namespace, keys) if keys else {}
        except SyncError as error:
            self._warn(data_type, "", "pending entries", error)
            return
        for key, mapping in pending.items():
            self._send(data_type, entry, key, mapping.extra.get("display_key", key), mapping.extra["text"])

    def _send(self, data_type: DataType, entry: LogEntry, key: str, display_key: str, text: str) -> None:
        try:
            self._client.call(entry.call.operation, **_params(entry, key, text))
            self._state.forget_mappings(self._tenant, pending_namespace(data_type), [key])
        except SyncError as error:
            self._warn(data_type, key, display_key, error)
            return
        logger.info(
            f'Log entry added to {data_type.log_label.lower()} {display_key} in Severa: "{text}"',
            extra={
                "action": "log_entry_added",
                "record_key": key,
                "display_key": display_key,
                **self._times(),
            },
        )

    def _warn(self, data_type: DataType, key: str, display_key: str, error: SyncError) -> None:
        logger.warning(
            f"The Severa log entry of {data_type.log_label.lower()} {display_key} was not written "
            f"({error.message}); the transfer stands, and the entry is tried again on the next run",
            extra={
                "action": "log_entry_failed",
                "record_key": key,
                "error_code": error.code,
                **self._times(),
            },
        )


def _entry_of(data_type: DataType) -> LogEntry | None:
    queue = data_type.status_queue
    return queue.log_entry if queue is not None else None


def _params(entry: LogEntry, key: str, text: str) -> dict[str, Any]:
    bound: dict[Bind, Any] = {Bind.KEY: key, Bind.LOG_TEXT: text, Bind.EVENT_TIME: utcnow()}
    return {name: bound[value] if isinstance(value, Bind) else value for name, value in entry.call.params}
