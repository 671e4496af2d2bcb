"""The one registry of data types.

It drives the Lambda handlers (``functions/<name>/app.py``), the engine's choice of read strategy,
the demo's run order, and is checked against ``template.yaml`` by ``tests/infra``. Adding a data
type means adding an entry here, a handler folder, and its resources in the template.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta


class WindowKind(enum.StrEnum):
    #: ``Get*ChangedSince(start)``: no upper bound; records streamed; fallback on size/time.
    SINCE = "since"
    #: ``Get*ByDate(start, end)``: fetched in windows that shrink (week, day, hour, minute).
    RANGE = "range"


class TargetKind(enum.StrEnum):
    VISMA = "visma"
    S3 = "s3"


@dataclass(frozen=True, slots=True)
class DataType:
    name: str
    #: Word used in progress logs: "Invoice transfer started", "Invoice number 10501 ...".
    noun: str
    #: Severa read used on each run, "<Interface>/<Operation>".
    read_operation: str
    window_kind: WindowKind
    #: Re-read of one record by GUID (retry set, on-demand dependencies).
    by_key_operation: str | None
    #: Used when the primary read fails on size or time (SINCE kinds only).
    fallback_operation: str | None
    target: TargetKind
    #: EventBridge Scheduler expression; never more often than hourly (checked by a test).
    default_schedule: str
    #: Types that must have run before this one (accounts and cases before invoices).
    depends_on: tuple[str, ...]
    #: First window size for RANGE reads (and for the SINCE fallback's windows).
    default_window: timedelta
    #: How far before the watermark each query starts; Severa compares to the minute.
    default_overlap: timedelta
    #: How far past the signpost the last window reaches: RANGE kinds (absences are planned ahead)
    #: and the date-windowed SINCE fallback (hour entries may be dated ahead of today).
    lookahead: timedelta = timedelta(0)
    #: Whether records carry a change time the watermark can follow.
    has_change_time: bool = False
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
    #: Read of the records waiting in the source's queue, every run, whatever the watermark
    #: (invoices: the source status is the queue; engine/invoice_queue.py).
    queue_operation: str | None = None

    @property
    def function_logical_id(self) -> str:
        """Logical id of this type's function in template.yaml, e.g. ``HourEntriesFunction``."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Function"

    @property
    def schedule_parameter(self) -> str:
        """Template parameter holding this type's schedule expression."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Schedule"


MINUTES_2 = timedelta(minutes=2)

DATA_TYPES: tuple[DataType, ...] = (
    DataType(
        name="accounts",
        noun="Account",
        read_operation="ICustomer/GetCustomersChangedSince",
        window_kind=WindowKind.SINCE,
        by_key_operation="ICustomer/GetCustomerByGUID",
        fallback_operation="ICustomer/GetAllCustomers",
        target=TargetKind.VISMA,
        default_schedule="cron(0 * * * ? *)",
        depends_on=(),
        default_window=timedelta(days=7),
        default_overlap=MINUTES_2,
        has_change_time=True,
    ),
    DataType(
        name="cases",
        noun="Case",
        read_operation="ICase/GetCasesChangedSince",
        window_kind=WindowKind.SINCE,
        by_key_operation="ICase/GetCaseByGUID",
        fallback_operation=None,
        target=TargetKind.VISMA,
        default_schedule="cron(15 * * * ? *)",
        depends_on=("accounts",),
        default_window=timedelta(days=7),
        default_overlap=MINUTES_2,
        has_change_time=True,
    ),
    DataType(
        name="invoices",
        noun="Invoice",
        read_operation="IInvoice/GetInvoicesByDateAndStatus",
        window_kind=WindowKind.RANGE,
        by_key_operation="IInvoice/GetInvoiceByGUID",
        fallback_operation=None,
        queue_operation="IInvoice/GetInvoicesByStatus",
        target=TargetKind.VISMA,
        default_schedule="cron(30 4 * * ? *)",
        depends_on=("accounts", "cases"),
        default_window=timedelta(days=7),
        default_overlap=MINUTES_2,
    ),
    DataType(
        name="hour_entries",
        noun="Hour entry",
        read_operation="IHourEntry/GetHourEntriesChangedSince",
        window_kind=WindowKind.SINCE,
        by_key_operation=None,
        fallback_operation="IHourEntry/GetHourEntriesByDate",
        target=TargetKind.S3,
        default_schedule="cron(0 3 * * ? *)",
        depends_on=(),
        default_window=timedelta(days=7),
        default_overlap=MINUTES_2,
        fallback_windows=True,
        # Days are read by date, the watermark is a change time: an entry dated ahead and not read
        # now would wait for its next change. The reconciliation reads a year ahead, in one window.
        lookahead=timedelta(days=366),
        day_images=True,
        reconciles=True,
    ),
    DataType(
        name="absences",
        noun="Absence",
        read_operation="IActivity/GetActivitiesByDate",
        window_kind=WindowKind.RANGE,
        by_key_operation=None,
        fallback_operation=None,
        target=TargetKind.S3,
        default_schedule="cron(0 2 ? * MON *)",
        depends_on=(),
        default_window=timedelta(days=7),
        # Absences are read by their own dates, not by change time: re-read four weeks back, and at
        # least the reconciliation span, so late edits reach the salary files; weekly files are
        # replaced whole, never appended.
        default_overlap=timedelta(weeks=4),
        lookahead=timedelta(weeks=4),
        align_weeks=True,
        reconciles=True,
    ),
)

BY_NAME: dict[str, DataType] = {dt.name: dt for dt in DATA_TYPES}


def get(name: str) -> DataType:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown data type {name!r}; known: {', '.join(BY_NAME)}") from None


def run_order() -> list[DataType]:
    """Data types with dependencies first (a stable topological order of the registry)."""
    done: list[DataType] = []
    pending = list(DATA_TYPES)
    while pending:
        ready = [dt for dt in pending if all(dep in {d.name for d in done} for dep in dt.depends_on)]
        if not ready:
            raise ValueError("dependency cycle in the data-type registry")
        done.extend(ready)
        pending = [dt for dt in pending if dt not in ready]
    return done
