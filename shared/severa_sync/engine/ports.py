"""The engine's ports: what it needs from a source, a target, the state store and the alerts.

The engine knows nothing of SOAP, HTTP, DynamoDB or SNS; adapters implement these protocols
(``severa.source``, ``targets.*``, ``state.dynamodb``, ``alerts.sns``) and tests use in-memory
fakes (``tests/fakes.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from severa_sync.datatypes.model import DisplayLookup
from severa_sync.engine.resume import ResumePoint
from severa_sync.errors import CallInfo, SyncError, TimeBudgetSpent
from severa_sync.registry import DataType


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record read from the source, with what the engine needs to track it."""

    key: str  # Severa GUID
    #: Severa's change time (UTC) where the entity carries one (Customer.UpdatedTS, Case.UpdatedTs).
    changed_at: datetime | None
    #: Human key for logs: invoice number, case number, account name.
    display_key: str
    #: Stable hash of the content, to skip re-deliveries of unchanged records.
    content_hash: str
    #: The typed record (pydantic model from ``severa.models``).
    payload: BaseModel
    #: Set when the source could not decode this record: the engine parks it alone, delivers the rest.
    error: SyncError | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """A read window. ``end`` None means "changed since ``start``" with no upper bound."""

    start: datetime
    end: datetime | None = None
    #: Read the whole answer whatever its size (the reader streams with flat memory): set where no
    #: smaller read exists (the smallest window, a type without a fallback), so the size limit only
    #: ever means "read smaller", never "stop".
    past_size_cap: bool = False

    def __str__(self) -> str:
        end = self.end.isoformat() if self.end else "now"
        return f"[{self.start.isoformat()}, {end})"


@dataclass(frozen=True, slots=True)
class Versions:
    api_version: str
    schema_version: str


class Source(Protocol):
    def server_time(self) -> datetime | None:
        """The source's clock (HTTP Date of the last answer), to keep the signpost skew-safe."""

    def versions(self) -> Versions: ...

    def read(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        """The data type's primary read over ``window`` (SINCE kinds ignore ``window.end``)."""

    def read_fallback(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        """The ranged or paged alternative used when the primary SINCE read is too big or slow."""

    def read_by_key(self, data_type: DataType, key: str) -> SourceRecord | None:
        """One record by GUID (retry set, on-demand dependencies); None when it no longer exists."""

    def check_ready(self, data_type: DataType) -> None:
        """Raise a STOP error, before anything is read, when the tenant's source cannot serve the
        type as configured (invoices: the configured status names are not the tenant's)."""

    def read_waiting(
        self, data_type: DataType, limit: int, *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        """At most ``limit`` records waiting in the source's queue (invoices in the source status),
        whatever their dates; empty for types without a queue."""

    def names(self, lookup: DisplayLookup) -> dict[str, str]:
        """GUID -> ``lookup.shown`` of every record ``lookup.read`` answers (once per run)."""
        ...

    def look_up_parked(self, data_type: DataType, item: RetryItem) -> Lookup:
        """Read a parked record again, by GUID and, where Severa has one, by another key."""

    def acknowledge(self, data_type: DataType, record: SourceRecord) -> str | None:
        """Tell the source a record was delivered (invoices: ``SetInvoiceStatus`` to Transferred).

        Returns the new source status it set (for the log line), None when the type needs nothing.
        """

    def last_call(self) -> CallInfo | None:
        """The previous call to the source with its parameters, secrets redacted."""

    def forget_last_call(self) -> None:
        """Start a new invocation: a warm Lambda's previous call must never show up in its errors."""


@dataclass(slots=True)
class Delivery:
    """What a target did with one batch."""

    delivered: list[SourceRecord] = field(default_factory=list)
    skipped: list[SourceRecord] = field(default_factory=list)  # unchanged since last delivery
    failed: list[tuple[SourceRecord, SyncError]] = field(default_factory=list)
    #: Severa key -> the target's key (Visma.net customer number, invoice reference) where known.
    target_keys: dict[str, str] = field(default_factory=dict)
    #: The target stopped part-way (its time or quota spent): the records above are done, the rest
    #: of the batch was not tried. The engine counts what was done, then stops the run with it.
    stopped: TimeBudgetSpent | None = None


class Target(Protocol):
    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        """Deliver idempotently: a retried record never creates a second copy.

        Per-record failures come back in ``Delivery.failed``; errors that make the whole target
        unusable (authentication, quota, target down) are raised.
        """

    def flush(self, data_type: DataType, window: Window | None) -> None:
        """Make everything delivered so far durable (S3 writes its partitions).

        ``window`` is the read window whose records have all been passed to ``deliver`` (None for a
        SINCE read or a mid-window flush): absences replace the weekly files it fully covers.
        """

    def last_call(self) -> CallInfo | None: ...


@runtime_checkable
class WindowedTarget(Protocol):
    """A target that replaces what a read window covers (S3 day and week files) and wants to know
    when a window starts: what an earlier, unfinished window wrote no longer counts toward it."""

    def begin_window(self, data_type: DataType, window: Window) -> None: ...


@runtime_checkable
class RunScopedTarget(Protocol):
    """A target that keeps something per run (the Severa writer's write count), told when one
    starts: a warm Lambda's target object outlives the run before."""

    def begin_run(self, data_type: DataType) -> None: ...


@dataclass(slots=True)
class WatermarkState:
    """The watermark item as read at the start of a run."""

    watermark: datetime | None
    raw: str | None  # the attribute exactly as stored, for the conditional write
    window_seconds: int | None = None  # window size that last worked (RANGE kinds)
    resume: ResumePoint | None = None  # where a partial run stopped (engine/resume.py)
    unavailable_attempts: int = 0


@dataclass(frozen=True, slots=True)
class RetryItem:
    key: str
    display_key: str
    attempts: int
    last_error_code: str
    last_error_message: str
    first_failed_at: datetime
    #: Consecutive re-reads that found the record by no key, and when the first of them was.
    not_found_count: int = 0
    first_not_found_at: datetime | None = None


class Found(enum.StrEnum):
    """What re-reading a parked record showed."""

    #: Read, and still to transfer: retry it.
    PENDING = "pending"
    #: Read, and no longer to transfer (an invoice whose status moved on): positive evidence.
    SETTLED = "settled"
    #: Read by another key, but with another GUID (a GUID incident): keep it parked.
    CONFLICT = "conflict"
    #: Found by no key. Not evidence on its own: Severa answers NotFound during GUID incidents.
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class Lookup:
    found: Found
    record: SourceRecord | None = None  # the record read (PENDING; SETTLED/CONFLICT: what was read)
    #: What was read, for the log line ("by number 10501: status Transferred").
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str
    code: str
    since: datetime
    data_type: str | None  # None: the whole tenant


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    status: str  # RunStatus values: "succeeded", "succeeded_with_errors", "partial", "failed", ...
    fetched: int
    delivered: int
    skipped: int
    failed: int
    started_at: datetime
    finished_at: datetime
    #: Re-read by the overlap and dropped, not re-sent: fetched = delivered + skipped + failed + this.
    dropped_overlap: int = 0


class StateStore(Protocol):
    # watermarks -------------------------------------------------------------------------------
    def read_watermark(self, tenant: str, data_type: str) -> WatermarkState: ...

    def write_watermark(
        self,
        tenant: str,
        data_type: str,
        new: datetime,
        *,
        expected_raw: str | None,
        run_id: str,
        window_seconds: int | None = None,
        resume: ResumePoint | None = None,
    ) -> bool:
        """Conditional on the stored value still being ``expected_raw``; False when an operator
        changed it meanwhile (the hand-set value wins)."""

    def save_resume(
        self,
        tenant: str,
        data_type: str,
        resume: ResumePoint | None,
        *,
        expected_raw: str | None,
        window_seconds: int | None = None,
    ) -> bool:
        """Conditional like ``write_watermark``: False when the watermark is no longer
        ``expected_raw`` (an operator rewound it; the resume point belonged to the old value)."""

    def record_run(self, tenant: str, data_type: str, summary: RunSummary) -> None: ...

    def set_unavailable_attempts(self, tenant: str, data_type: str, attempts: int) -> None: ...

    def rewind(self, tenant: str, data_type: str, to: datetime, *, by: str) -> str | None:
        """Operator rewind (the CLI's equivalent of editing the item): returns the old value."""

    # locks ------------------------------------------------------------------------------------
    def acquire_lock(
        self, tenant: str, data_type: str, token: str, lease_seconds: int, *, run_id: str | None = None
    ) -> bool:
        """Take the type's lease for one invocation (``token``, unique per invocation; ``run_id`` is
        recorded for people). False while another token holds an unexpired lease."""

    def renew_lock(self, tenant: str, data_type: str, token: str, lease_seconds: int) -> bool: ...

    def release_lock(self, tenant: str, data_type: str, token: str) -> None: ...

    # retry set --------------------------------------------------------------------------------
    def park(self, tenant: str, data_type: str, record: SourceRecord, error: SyncError) -> None: ...

    def unpark(self, tenant: str, data_type: str, key: str) -> None: ...

    def parked(self, tenant: str, data_type: str) -> list[RetryItem]: ...

    def note_not_found(self, tenant: str, data_type: str, key: str, at: datetime) -> RetryItem | None:
        """Count one more consecutive not-found of a parked record (the first sets
        ``first_not_found_at``); returns the updated item, None when it is no longer parked."""

    def clear_not_found(self, tenant: str, data_type: str, key: str) -> None:
        """The parked record was read again: its not-found count starts over."""

    # versions and halts -----------------------------------------------------------------------
    def read_versions(self, tenant: str) -> Versions | None: ...

    def write_versions(self, tenant: str, versions: Versions) -> None: ...

    def halts(self, tenant: str) -> list[Halt]: ...

    def halt(self, tenant: str, data_type: str | None, code: str, reason: str) -> None: ...

    def clear_halt(self, tenant: str, data_type: str | None, *, by: str) -> bool: ...

    # mapping store (Severa GUID -> target key) ------------------------------------------------
    def get_mapping(self, tenant: str, data_type: str, key: str) -> Mapping | None: ...

    def get_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> dict[str, Mapping]: ...

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None: ...

    def put_mappings(self, tenant: str, data_type: str, items: dict[str, Mapping]) -> None:
        """Several at once (batched where the store can); the S3 target settles whole files so."""
        ...

    # operator: before re-sending to a target restored from a backup ------------------------------
    def mappings_delivered_since(self, tenant: str, data_type: str, since: datetime) -> list[str]: ...

    def forget_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> None: ...

    # background jobs (a Visma.net invoice write queued, not yet seen to end) ---------------------
    def pending_job(self, tenant: str, reference: str) -> PendingJob | None:
        """The background job an earlier attempt queued for the document ``reference`` (an
        invoice's ``externalReference``), None when none is pending."""
        ...

    def remember_job(self, tenant: str, job: PendingJob) -> None:
        """Kept from the moment the job is queued until the document is linked."""
        ...

    def forget_job(self, tenant: str, reference: str) -> None: ...

    # operator: every watermark item at once (``severa-sync state list``) -------------------------
    def watermark_rows(self, tenant: str) -> list[WatermarkRow]:
        """Every data type's watermark item as stored, with its last run: one read for the list."""
        ...


@dataclass(frozen=True, slots=True)
class Mapping:
    """Where a Severa record lives in the target, and what was last sent there."""

    target_key: str  # Visma.net customer number / project id / invoice reference; S3 partition
    content_hash: str
    delivered_at: datetime
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A document write queued on the target's background API and not seen to end (Visma.net keeps
    a job's state 24 hours): the next attempt asks the job before it looks up or sends anything."""

    reference: str  # the document's key in the target (an invoice's ``externalReference``)
    job_id: str
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class WatermarkRow:
    """One data type's watermark item as an operator reads it (``severa-sync state list``)."""

    data_type: str
    watermark: str | None  # as stored
    updated_by: str | None
    #: The last run's counts as stored (``run_id``, ``status``, ``fetched``, ..., ``finished_at``).
    last_run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert is a postcard: no customer data, only what an operator needs to look further."""

    kind: str  # "retries_exhausted", "schema_change", "api_version_change", "authentication", ...
    tenant: str
    data_type: str | None
    summary: str  # what happened, in one sentence, without record content
    run_id: str
    at_utc: datetime
    at_local: datetime
    logs_query: str  # a Logs Insights query that shows the details


class Alerts(Protocol):
    def publish(self, alert: Alert) -> None: ...


class Dependencies(Protocol):
    """Records one data type needs of another (a case needs its account; an invoice its account and
    case), owned by the engine: a target asks here instead of calling back into the composition
    root. ``engine.dependencies.OnDemandDependencies`` is the implementation."""

    def key_of(self, data_type: str, severa_guid: str) -> str:
        """The target key of that record, syncing it on demand (read by key, delivered) when the
        target has none yet; a ``MappingError`` when it cannot be had."""
        ...
