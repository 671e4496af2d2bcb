"""SeveraWriteTarget: ``engine.ports.Target`` writing records back into Severa (payments).

Each record is a Visma.net document's payment state (``targets.visma.payment_state``) keyed by
the Severa invoice GUID. Writes are idempotent by reading first: the invoice is read
(``GetInvoiceByGUID``) and only what differs is written, so the same state applied again (a
retried run, a rewound watermark, the overlap) writes nothing, and a write whose outcome was
unknown (a timeout after Severa committed) is settled by that read before anything is written
again. What was written is remembered in the type's own mapping namespace, so an unchanged state
is not even read again. A fault about one invoice (NotFound, GeneralFailure) fails that record
alone (the engine parks it); faults about Severa itself (authentication, quota, unavailable)
stop the run with the watermark where it was.

Safety (the guideline's warnings for writes): every write is one progress line ("Status of
invoice number 10501 was updated to "Paid" status"); ``payments.max_severa_writes`` stops the run
before one write too many (``severa_write_cap`` alert); a dry run plans and logs, writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from aws_lambda_powertools import Logger

from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import Bind, DataType, SeveraCall, SeveraWrite
from severa_sync.engine.ports import Delivery, Mapping, SourceRecord, StateStore, Window
from severa_sync.errors import (
    CallInfo,
    Disposition,
    InvoiceStatusUnknown,
    SeveraInvoiceMissing,
    SeveraNotFound,
    SeveraWriteCapReached,
    SyncError,
)
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.invoice_statuses import describe, payment_status_problems, read_statuses
from severa_sync.targets.visma.payment_state import Paid, PaymentState
from severa_sync.timeutil import iso_seconds, local, utcnow

logger = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    call: SeveraCall
    params: dict[str, Any]
    #: The progress line once written ("Status of invoice number 10501 was updated to ...").
    line: str


class SeveraWriteTarget:
    def __init__(
        self,
        client: SeveraClient,
        state: StateStore,
        config: TenantConfig,
        *,
        dry_run: bool = False,
    ):
        self._client = client
        self._state = state
        self._config = config
        self._settings = config.payments
        self.dry_run = dry_run
        self.writes = 0  # Severa writes this run (planned ones in a dry run)
        self._statuses_checked = False

    # -- the port -------------------------------------------------------------------------------
    def begin_run(self, data_type: DataType) -> None:
        self.writes = 0
        self._statuses_checked = False
        if self.dry_run:
            logger.warning(
                "Dry run: nothing is written into Severa and no state is stored; the writes are "
                'listed as "Dry run, not written", and the watermark lines below are not kept',
                extra={"action": "dry_run", **self._times()},
            )

    def last_call(self) -> CallInfo | None:
        return self._client.last_call

    def flush(self, data_type: DataType, window: Window | None) -> None:
        return None  # every write is made (and remembered) in deliver

    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        write = _write_of(data_type)
        self._check_statuses()
        delivery = Delivery()
        known = self._state.get_mappings(self._config.tenant, data_type.name, [r.key for r in records])
        for record in records:
            mapping = known.get(record.key)
            if mapping is not None and mapping.content_hash == record.content_hash:
                delivery.skipped.append(record)  # this state was written already: nothing to read
                continue
            self._client.forget_last_call()
            try:
                self._deliver_one(data_type, write, record)
            except SyncError as error:
                if error.disposition is not Disposition.PER_RECORD:
                    raise
                delivery.failed.append((record, error))
                continue
            delivery.delivered.append(record)
        return delivery

    # -- one record -----------------------------------------------------------------------------
    def _deliver_one(self, data_type: DataType, write: SeveraWrite, record: SourceRecord) -> None:
        state = record.payload
        if not isinstance(state, PaymentState):
            raise TypeError(f"{data_type.name}: a {type(state).__name__}, not a payment state")
        name = f"{data_type.log_label.lower()} {record.display_key}"
        invoice = self._read_invoice(write, record.key, name)
        planned = self._plan(write, state, invoice, name)
        if state.paid is Paid.PARTLY and self._settings.partly_paid_status is None:
            logger.info(
                f"{name.capitalize()} is partly paid in Visma.net ({state.document} "
                f"{state.reference_number}, open {state.balance} of {state.amount}); no "
                "payments.partly_paid_status is configured, so Severa is not changed",
                extra={
                    "action": "partly_paid_logged",
                    "record_key": record.key,
                    "display_key": record.display_key,
                    **self._times(),
                },
            )
        for item in planned:
            self._make(item, record)
        if not self.dry_run:
            self._state.put_mapping(
                self._config.tenant,
                data_type.name,
                record.key,
                Mapping(
                    target_key=state.reference_number,
                    content_hash=record.content_hash,
                    delivered_at=utcnow(),
                    extra={
                        "display_key": record.display_key,
                        "document": state.document,
                        "paid": state.paid.value,
                        **({"payment_date": state.payment_date.isoformat()} if state.payment_date else {}),
                    },
                ),
            )

    def _read_invoice(self, write: SeveraWrite, key: str, name: str) -> Any:
        try:
            found = self._client.get(write.read.operation, **_params(write.read, key=key))
        except SeveraNotFound as error:
            raise SeveraInvoiceMissing(
                f"{name} (Severa GUID {key}) was not found in Severa: {error.message}; its Visma.net "
                "payment state is not written and it is read again next run",
                call=error.call,
            ) from None
        if found is None:
            raise SeveraInvoiceMissing(
                f"{name} (Severa GUID {key}) was not found in Severa (null answer); read again next run",
                call=self._client.last_call,
            )
        return found[0]

    def _plan(self, write: SeveraWrite, state: PaymentState, invoice: Any, name: str) -> list[PlannedWrite]:
        """What differs between Severa's invoice and the Visma.net payment state, as writes."""
        planned: list[PlannedWrite] = []
        if state.paid is Paid.FULLY and state.payment_date is not None:
            current = getattr(invoice, "PaymentDate", None)
            if current is None or as_day(current) != state.payment_date:
                planned.append(
                    PlannedWrite(
                        write.payment_date,
                        _params(
                            write.payment_date, key=state.GUID, payment_date=at_midnight(state.payment_date)
                        ),
                        f"Payment date of {name} was set to {state.payment_date.isoformat()}",
                    )
                )
        wanted = {
            Paid.FULLY: self._settings.paid_status,
            Paid.PARTLY: self._settings.partly_paid_status,
        }.get(state.paid)
        if wanted is not None and getattr(invoice, "InvoiceStatus", None) != wanted:
            planned.append(
                PlannedWrite(
                    write.status,
                    _params(write.status, key=state.GUID, status=wanted),
                    f'Status of {name} was updated to "{wanted}" status',
                )
            )
        return planned

    def _make(self, item: PlannedWrite, record: SourceRecord) -> None:
        cap = self._settings.max_severa_writes
        if self.writes >= cap:
            raise SeveraWriteCapReached(
                f"{cap} Severa writes made this run (payments.max_severa_writes); the next one "
                f"({item.call.operation}) is not made. Check the run's log for what was written, then "
                "raise the cap or fix the cause and run again (docs/operations.md#severa_write_cap)",
                call=CallInfo("severa", item.call.operation),
                detail={"max_severa_writes": cap},
            )
        self.writes += 1
        extra = {
            **self._times(),
            "record_key": record.key,
            "display_key": record.display_key,
            "severa_operation": item.call.operation,
        }
        if self.dry_run:
            logger.info(f"Dry run, not written: {item.line}", extra={"action": "planned_write", **extra})
            return
        self._client.call(item.call.operation, **item.params)
        logger.info(item.line, extra={"action": "severa_written", **extra})

    def _times(self) -> dict[str, str]:
        """The guideline's progress-line times: UTC and the tenant's zone."""
        now = utcnow()
        return {"time_utc": iso_seconds(now), "time_local": iso_seconds(local(now, self._config.zone))}

    def _check_statuses(self) -> None:
        """The configured statuses are the tenant's, before anything is written (once a run)."""
        if self._statuses_checked:
            return
        if self._settings.paid_status is not None or self._settings.partly_paid_status is not None:
            statuses = read_statuses(self._client)
            problems = payment_status_problems(statuses, self._settings)
            if problems:
                raise InvoiceStatusUnknown(
                    f"{'; '.join(problems)}; {describe(statuses)}. Fix the configuration "
                    "(docs/configuration.md, payments) and run again",
                    call=self._client.last_call,
                    detail={"tenant_statuses": [s.name for s in statuses]},
                )
        self._statuses_checked = True


def as_day(value: datetime) -> date:
    return value.astimezone(UTC).date() if value.tzinfo else value.date()


def at_midnight(day: date) -> datetime:
    """Severa's ``PaymentDate`` is a dateTime; a day is sent as its midnight UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def _params(
    call: SeveraCall,
    *,
    key: str,
    payment_date: datetime | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    bound: dict[Bind, Any] = {Bind.KEY: key, Bind.PAYMENT_DATE: payment_date, Bind.PAYMENT_STATUS: status}
    params: dict[str, Any] = {}
    for name, value in call.params:
        if not isinstance(value, Bind):
            params[name] = value
        elif bound.get(value) is not None:
            params[name] = bound[value]
        else:
            raise ValueError(f"{call.operation}: no value for {name} ({value.value})")
    return params


def _write_of(data_type: DataType) -> SeveraWrite:
    if not isinstance(data_type.export, SeveraWrite):
        raise TypeError(f"data type {data_type.name} is not written into Severa")
    return data_type.export
