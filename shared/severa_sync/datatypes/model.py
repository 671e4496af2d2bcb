"""What a data type declaration says: the vocabulary the engine, the adapters and the template act on.

A data type is one module in this package (``accounts.py`` ...) holding one ``DataType``. Everything
that differs between types is a field here, so no code outside this package tests a type's name
(``tests/test_datatype_names.py`` fails if one does).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

#: GUID -> the human key it is known by (a case's number), for records shown in a display key.
Names = Mapping[str, str]
#: Human key of a record for logs ("Invoice number 10501", "Account Acme Oy (10023)"), given the
#: names known of the records it refers to (``DataType.display_references``; may be empty).
DisplayKey = Callable[[Any, Names], "str | None"]


def plural(noun: str) -> str:
    """``invoices``, ``hour entries``: the lower-case plural of a log noun."""
    word = noun.lower()
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


class WindowKind(enum.StrEnum):
    #: ``Get*ChangedSince(start)``: no upper bound; records streamed; fallback on size/time.
    SINCE = "since"
    #: ``Get*ByDate(start, end)``: fetched in windows that shrink (week, day, hour, minute).
    RANGE = "range"


class TargetKind(enum.StrEnum):
    VISMA = "visma"
    S3 = "s3"
    #: Written back into Severa (payments: ``severa.writes``).
    SEVERA = "severa"


class SourceKind(enum.StrEnum):
    """Where a type's records are read: Severa (every type but one), or Visma.net (payments)."""

    SEVERA = "severa"
    VISMA = "visma"


class Bind(enum.Enum):
    """Where a Severa read parameter's value comes from when the read is made."""

    WINDOW_START = "the read window's start"
    WINDOW_END = "the read window's end"
    BUSINESS_UNIT = "severa.business_unit_guid"
    SOURCE_STATUS = "invoices.source_status"
    #: How many records a queue read may answer (``maxInvoices``).
    LIMIT = "the queue read's size limit"
    #: The record's GUID (reads by key).
    KEY = "the record's GUID"
    #: The record's number, its second key (``GetInvoiceByNumber``).
    NUMBER = "the record's number"
    #: Paged reads: the first row of the page, and the page size (``SeveraCall.page_size``).
    PAGE_START = "the page's first row"
    PAGE_SIZE = "the page size"
    TRANSFERRED_STATUS = "invoices.transferred_status"
    #: The earliest time a since-read is asked from: every record (a whole list read).
    EVER = "every record (2000-01-01)"
    #: The invoice log entry's text and time (``StatusQueue.log_entry``).
    LOG_TEXT = "the log entry's text"
    EVENT_TIME = "the time the entry is written"
    #: Writes into Severa: the payment date of a fully paid invoice (from Visma.net).
    PAYMENT_DATE = "the document's payment date in Visma.net"
    #: Writes into Severa: the configured status for the payment state (payments.paid_status ...).
    PAYMENT_STATUS = "payments.paid_status or payments.partly_paid_status"


#: A parameter is bound when the read is made, or a constant (an options bit set, a category).
ParamValue = Bind | bool | int | str


@dataclass(frozen=True, slots=True)
class SeveraCall:
    """One Severa operation and where each of its parameters comes from, in the contract's order
    (``tests/datatypes`` checks them against ``severa/schema.py``)."""

    operation: str  # "<Interface>/<Operation>"
    params: tuple[tuple[str, ParamValue], ...] = ()
    #: Read in pages of this many rows (``startFromIndex``/``count``); pages overlap (severa/source.py).
    page_size: int | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """After a record is marked, one entry in its Severa log naming the target document it became
    (``IInvoice.AddNewInvoiceLogEntry``), so finance finds the Visma.net number in Severa."""

    call: SeveraCall
    #: ``{document}`` and ``{number}`` are filled in from the record's mapping.
    text: str
    #: The record's boolean member choosing the document's name (credit note or invoice) ...
    kind_member: str
    #: ... and the names: (when False, when True).
    documents: tuple[str, str]


@dataclass(frozen=True, slots=True)
class StatusQueue:
    """Records wait in Severa in a source status and are marked with a transferred status once
    delivered: the status is the queue (engine/invoice_queue.py), read with ``DataType.queue``."""

    #: The entity member holding the status name.
    member: str
    #: The call that marks a delivered record.
    mark: SeveraCall
    #: Re-read each record before it is marked, so an edit made while it was on its way is never
    #: covered by the new status (one extra call per record).
    reread_before_marking: bool = True
    #: Written once per record after it is marked (a failure never undoes the mark; retried).
    log_entry: LogEntry | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """A record's link to a record of another type that must be in the target first."""

    member: str  # e.g. "AccountGUID"
    data_type: str  # the referenced type's name
    #: An empty required reference is a mapping error; an empty optional one is left out.
    required: bool = True


@dataclass(frozen=True, slots=True)
class RowReference:
    """Records of another type that each row of a record names (an invoice row's products), in the
    target before the record goes; a row naming none is sent without (the target's default)."""

    rows: str  # the record's member holding its rows, e.g. "InvoiceRows"
    member: str  # the row's member holding the GUIDs, e.g. "ProductGUIDs"
    data_type: str  # the referenced type's name


@dataclass(frozen=True, slots=True)
class DisplayLookup:
    """Records a display key names by their own member (a user by their code), read from Severa
    once per run with ``read`` (a whole list read) and never logged beyond ``shown``."""

    member: str  # the record's member holding the GUID, e.g. "UserGUID"
    read: SeveraCall
    shown: str  # the looked-up entity's member shown, e.g. "Code"


@dataclass(frozen=True, slots=True)
class AttachedRead:
    """Records of another entity that belong to each record (a customer's addresses), read with it
    by its GUID (``Bind.KEY``) and carried in its payload under ``member``. The record's content hash
    covers them, so a change to them alone is a change of the record; the type's own reads must
    also answer a record when only its attached records changed (accounts: CheckAddressChanges)."""

    member: str  # the payload member the records are carried in, e.g. "Addresses"
    read: SeveraCall
    #: The record's member its attached records belong to (a customer's addresses belong to its
    #: ``CompanyGUID``): a record with it empty has none, and no call is made for it.
    belongs_to: str | None = None


class VismaDocument(enum.StrEnum):
    CUSTOMER = "customer"
    PROJECT = "project"
    INVOICE = "customer invoice"
    #: A non-stock inventory item (``/v1/inventory``), for a Severa product.
    ITEM = "inventory item"


@dataclass(frozen=True, slots=True)
class VismaExport:
    """Written to Visma.net Financials as ``document`` (targets/visma/target.py)."""

    document: VismaDocument
    references: tuple[Reference, ...] = ()
    row_references: tuple[RowReference, ...] = ()

    @property
    def kind(self) -> TargetKind:
        return TargetKind.VISMA


class VismaDocumentKind(enum.StrEnum):
    """A Visma.net customer document a Visma.net read lists (reference visma-net-dtos.md 7.1)."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit note"


@dataclass(frozen=True, slots=True)
class VismaRead:
    """Records read from Visma.net: the documents changed since the watermark, at each list path
    (``lastModifiedDateTime`` + ``lastModifiedDateTimeCondition``, paged), kept only where
    severa-sync transferred them (the mappings of ``transferred_by``), keyed by the Severa GUID."""

    documents: tuple[tuple[VismaDocumentKind, str], ...]
    #: The data type whose mappings say which documents severa-sync created (Severa GUID -> number).
    transferred_by: str


@dataclass(frozen=True, slots=True)
class SeveraWrite:
    """Written back into Severa (``severa.writes``): each record's Severa entity is read first
    (``read``) and only what differs is written, with the declared calls."""

    read: SeveraCall
    #: Sets the payment date of a fully paid record.
    payment_date: SeveraCall
    #: Sets the configured paid or partly-paid status.
    status: SeveraCall

    @property
    def kind(self) -> TargetKind:
        return TargetKind.SEVERA

    @property
    def operations(self) -> tuple[str, ...]:
        return (self.read.operation, self.payment_date.operation, self.status.operation)


class Partition(enum.StrEnum):
    """How an S3 export's files are cut; the value names the partition in the object key."""

    DAY = "date"
    #: ISO weeks in the tenant's time zone (absences: weekly salary files).
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class S3Export:
    """Written to S3 as JSON Lines, one object per partition (targets/s3.py)."""

    partition: Partition
    #: The record member the partition comes from.
    date_member: str

    @property
    def kind(self) -> TargetKind:
        return TargetKind.S3


@dataclass(frozen=True, slots=True, kw_only=True)
class DataType:
    name: str
    #: Word used in progress logs: "Invoice transfer started", "3 invoices found".
    noun: str
    #: The Severa entity its reads answer (``Customer``, ``Invoice``...).
    entity: str
    #: Severa read used on each run (None: the type reads Visma.net, ``visma_read``).
    read: SeveraCall | None
    window_kind: WindowKind
    #: Where its records go.
    export: VismaExport | S3Export | SeveraWrite
    #: EventBridge Scheduler expression; never more often than hourly (checked by a test).
    default_schedule: str
    #: First window size for RANGE reads (and for the SINCE fallback's windows).
    default_window: timedelta
    #: How far before the watermark each query starts; Severa compares to the minute.
    default_overlap: timedelta
    #: Human key of a record in logs, alerts and ``state mappings``.
    display_key: DisplayKey
    #: Referenced records shown by their own human key in this type's display key (an hour entry's
    #: case by its number), looked up in the referenced type's mappings (no Severa call).
    display_references: tuple[Reference, ...] = ()
    #: Records shown by a member read from Severa once per run (an hour entry's user by their code).
    display_lookups: tuple[DisplayLookup, ...] = ()
    #: How a record is named before its display key in logs ("Invoice number 10501"); the noun if unset.
    label: str | None = None
    #: Types that must have run before this one (accounts, cases and products before invoices).
    depends_on: tuple[str, ...] = ()
    #: Re-read of one record by GUID (retry set, on-demand dependencies).
    by_key: SeveraCall | None = None
    #: A second key for a record Severa no longer finds by GUID (a GUID incident).
    by_number: SeveraCall | None = None
    #: Used when the primary read fails on size or time (SINCE kinds only).
    fallback: SeveraCall | None = None
    #: Read of the records waiting in the source's queue, every run, whatever the watermark.
    queue: SeveraCall | None = None
    #: Records wait in a status and are marked when delivered (acknowledgement in Severa).
    status_queue: StatusQueue | None = None
    #: Entity members holding the record's change time, newest first; empty if it carries none.
    change_time_members: tuple[str, ...] = ()
    #: How far past the signpost the last window reaches: RANGE kinds (absences are planned ahead)
    #: and the date-windowed SINCE fallback (hour entries may be dated ahead of today).
    lookahead: timedelta = timedelta(0)
    #: The fallback read takes date windows (hour entries by date) rather than pages (customers).
    fallback_windows: bool = False
    #: Windows cover whole weeks in the tenant's time zone (weekly export files are replaced whole).
    align_weeks: bool = False
    #: Exported as an image by day (``engine.images``): the SINCE read only says which days changed;
    #: those days and the reconciliation span are read whole by date and their files replaced.
    day_images: bool = False
    #: Every run re-reads the reconciliation span (``types.<name>.reconcile_months``): deletions,
    #: GUID changes and late commits there reach the exports, which change times cannot show.
    reconciles: bool = False
    #: Records of other entities read with each record and covered by its content hash (a
    #: customer's addresses): one more call per record read. Their change times are not the
    #: record's, so the paged fallback cannot filter by the record's change time: it delivers every
    #: record (the targets skip the unchanged by content hash).
    attached: tuple[AttachedRead, ...] = ()
    #: Days of silence before the "nothing delivered" alarm fires (template parameter default).
    nothing_delivered_days: int = 7
    #: Records read from Visma.net instead of Severa (payments back to Severa).
    visma_read: VismaRead | None = None

    # -- what follows from the declaration ------------------------------------------------------
    @property
    def target(self) -> TargetKind:
        return self.export.kind

    @property
    def source(self) -> SourceKind:
        return SourceKind.VISMA if self.visma_read is not None else SourceKind.SEVERA

    @property
    def noun_plural(self) -> str:
        return plural(self.noun)

    @property
    def log_label(self) -> str:
        return self.label or self.noun

    @property
    def has_change_time(self) -> bool:
        """Whether records carry a change time the watermark can follow (Visma.net documents carry
        ``lastModifiedDateTime``)."""
        return bool(self.change_time_members) or self.visma_read is not None

    @property
    def rereads_parked(self) -> bool:
        """Whether a parked record can be read again by its key (from Severa or Visma.net)."""
        return self.by_key is not None or self.visma_read is not None

    @property
    def read_operation(self) -> str | None:
        return self.read.operation if self.read else None

    @property
    def by_key_operation(self) -> str | None:
        return self.by_key.operation if self.by_key else None

    @property
    def fallback_operation(self) -> str | None:
        return self.fallback.operation if self.fallback else None

    @property
    def queue_operation(self) -> str | None:
        return self.queue.operation if self.queue else None

    @property
    def references(self) -> tuple[Reference, ...]:
        return self.export.references if isinstance(self.export, VismaExport) else ()

    @property
    def row_references(self) -> tuple[RowReference, ...]:
        return self.export.row_references if isinstance(self.export, VismaExport) else ()

    @property
    def function_logical_id(self) -> str:
        """Logical id of this type's function in template.yaml, e.g. ``HourEntriesFunction``."""
        return self._camel() + "Function"

    @property
    def schedule_parameter(self) -> str:
        """Template parameter holding this type's schedule expression."""
        return self._camel() + "Schedule"

    def _camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))
