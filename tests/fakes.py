"""In-memory source, target and alerts for engine tests: small, deterministic, fault-injectable."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from severa_sync.engine.ports import (
    Alert,
    Delivery,
    Found,
    Lookup,
    RetryItem,
    SourceRecord,
    Versions,
    Window,
)
from severa_sync.errors import CallInfo, SeveraUnavailable, SyncError, TargetRejected
from severa_sync.registry import DataType


class FakePayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    GUID: str
    Name: str = ""


@dataclass
class FakeRow:
    key: str
    changed_at: datetime
    content: str = "v1"
    event_at: datetime | None = None  # RANGE types read by this
    display: str | None = None  # the display key (invoice number ...); the key when unset


def make_record(row: FakeRow, *, with_change_time: bool) -> SourceRecord:
    digest = hashlib.sha1(f"{row.key}:{row.content}".encode()).hexdigest()  # noqa: S324 - not security
    return SourceRecord(
        row.key,
        row.changed_at if with_change_time else None,
        row.display or row.key,
        digest,
        FakePayload(GUID=row.key, Name=row.content),
    )


@dataclass
class FakeSource:
    rows: dict[str, FakeRow] = field(default_factory=dict)
    versions_value: Versions = field(default_factory=lambda: Versions("1.0", "2019.1"))
    server_now: datetime | None = None
    #: Raise this on the Nth read (1-based) of the primary operation.
    fail_on_read: dict[int, SyncError] = field(default_factory=dict)
    #: Raise SeveraUnavailable after yielding this many records of a read.
    die_after: int | None = None
    too_big_over: int | None = None  # windows holding more records than this raise SeveraResponseTooLarge
    #: The next read times out (SeveraTimeout) after yielding this many records (then cleared).
    time_out_after: int | None = None
    acknowledged: list[str] = field(default_factory=list)
    #: Keys whose read by key answers None (an invoice whose status was changed by hand) ...
    gone_by_key: set[str] = field(default_factory=set)
    #: ... or raises this error.
    fail_by_key: dict[str, SyncError] = field(default_factory=dict)
    reads: list[Window] = field(default_factory=list)
    #: Serve ``read_waiting`` (off: the queue is empty, as for the tests written before it).
    queue: bool = False
    queue_reads: list[int] = field(default_factory=list)  # the limit of each queue read
    not_ready: SyncError | None = None  # check_ready raises this
    fallback_reads: list[Window] = field(default_factory=list)
    #: How often the engine told the source to forget its previous call (once per invocation).
    forgotten: int = 0

    def put(
        self,
        key: str,
        at: datetime,
        content: str = "v1",
        event_at: datetime | None = None,
        display: str | None = None,
    ) -> None:
        self.rows[key] = FakeRow(key, at, content, event_at or at, display)

    def server_time(self) -> datetime | None:
        return self.server_now

    def versions(self) -> Versions:
        return self.versions_value

    def _select(self, dt: DataType, window: Window, *, by_event: bool) -> list[SourceRecord]:
        def inside(row: FakeRow) -> bool:
            at = row.event_at if by_event and row.event_at else row.changed_at
            # Severa compares to the minute: model the loss an overlap must cover.
            start = window.start.replace(second=0, microsecond=0)
            return at >= start and (window.end is None or at < window.end)

        picked = [
            make_record(r, with_change_time=dt.has_change_time) for r in self.rows.values() if inside(r)
        ]
        # A read past the size cap (the smallest window, a type without a fallback) is never too big.
        if self.too_big_over is not None and len(picked) > self.too_big_over and not window.past_size_cap:
            from severa_sync.errors import SeveraResponseTooLarge

            raise SeveraResponseTooLarge("too big", call=CallInfo("severa", dt.read_operation, {}))
        return picked

    def _stream(self, records: list[SourceRecord]) -> Iterator[SourceRecord]:
        for index, record in enumerate(records):
            if self.die_after is not None and index >= self.die_after:
                raise SeveraUnavailable("connection reset", call=CallInfo("severa", "read", {}))
            if self.time_out_after is not None and index >= self.time_out_after:
                from severa_sync.errors import SeveraTimeout

                self.time_out_after = None
                raise SeveraTimeout("read timed out", call=CallInfo("severa", "read", {}))
            yield record

    def read(self, dt: DataType, window: Window) -> Iterator[SourceRecord]:
        self.reads.append(window)
        if error := self.fail_on_read.pop(len(self.reads), None):
            raise error
        return self._stream(self._select(dt, window, by_event=window.end is not None))

    def read_fallback(self, dt: DataType, window: Window) -> Iterator[SourceRecord]:
        self.fallback_reads.append(window)
        # Paged reads (accounts) are read page by page, past the size cap, like the real source.
        past_cap = window.past_size_cap or not dt.fallback_windows
        everything = Window(window.start.replace(year=1990), window.end, past_size_cap=past_cap)
        return iter(self._select(dt, everything, by_event=window.end is not None))

    def read_by_key(self, dt: DataType, key: str) -> SourceRecord | None:
        if error := self.fail_by_key.get(key):
            raise error
        row = None if key in self.gone_by_key else self.rows.get(key)
        return make_record(row, with_change_time=dt.has_change_time) if row else None

    def check_ready(self, dt: DataType) -> None:
        if self.not_ready is not None:
            raise self.not_ready

    def read_waiting(
        self, dt: DataType, limit: int, *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        """With ``queue`` on: rows not yet acknowledged nor gone, in insertion order, ``limit`` at most."""
        self.queue_reads.append(limit)
        if not self.queue or dt.queue_operation is None:
            return iter(())
        waiting = [
            r for k, r in self.rows.items() if k not in self.acknowledged and k not in self.gone_by_key
        ]
        return iter([make_record(r, with_change_time=dt.has_change_time) for r in waiting[:limit]])

    def names(self, lookup: object) -> dict[str, str]:
        return {}

    def look_up_parked(self, dt: DataType, item: RetryItem) -> Lookup:
        if error := self.fail_by_key.get(item.key):
            raise error
        if item.key in self.gone_by_key:
            return Lookup(Found.SETTLED, evidence="status moved on")
        row = self.rows.get(item.key)
        if row is None:
            return Lookup(Found.NOT_FOUND, evidence="not found by GUID")
        return Lookup(Found.PENDING, make_record(row, with_change_time=dt.has_change_time))

    def acknowledge(self, dt: DataType, record: SourceRecord) -> str | None:
        if dt.name != "invoices":
            return None
        self.acknowledged.append(record.key)
        return "Transferred"

    def last_call(self) -> CallInfo | None:
        return CallInfo("severa", "fake/read", {"since": "..."})

    def forget_last_call(self) -> None:
        self.forgotten += 1


@dataclass
class MemoryTarget:
    """Idempotent upsert by key; skips unchanged content like the real targets do."""

    store: dict[str, str] = field(default_factory=dict)  # key -> content hash
    writes: list[str] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    flushes: list[Window | None] = field(default_factory=list)
    #: Like the S3 target: deliver() only buffers, flush() writes.
    buffers_until_flush: bool = False
    #: Raise this error (once) when asked to deliver this key, after delivering the ones before it.
    raise_at: dict[str, SyncError] = field(default_factory=dict)
    #: Fail this key with this per-record error (every time), like ``reject`` with a chosen error.
    fail_with: dict[str, SyncError] = field(default_factory=dict)

    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        out = Delivery()
        for record in records:
            if error := self.raise_at.pop(record.key, None):
                raise error
            if record.key in self.fail_with:
                out.failed.append((record, self.fail_with[record.key]))
            elif record.key in self.reject:
                out.failed.append((record, TargetRejected(f"rejected {record.key}")))
            elif self.store.get(record.key) == record.content_hash:
                out.skipped.append(record)
            else:
                self.store[record.key] = record.content_hash
                self.writes.append(record.key)
                out.delivered.append(record)
        return out

    def flush(self, data_type: DataType, window: Window | None) -> None:
        self.flushes.append(window)

    def last_call(self) -> CallInfo | None:
        return CallInfo("memory", "deliver", {})


@dataclass
class ListAlerts:
    sent: list[Alert] = field(default_factory=list)
    #: Raise this instead of sending (SNS down or not allowed).
    fail_with: SyncError | None = None

    def publish(self, alert: Alert) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(alert)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.sent]


def log_lines(caplog) -> list[dict]:
    """The structured log lines (message, level and the extra keys) captured by pytest's caplog."""
    lines = []
    for record in caplog.records:
        line = {k: v for k, v in record.__dict__.items() if not k.startswith("_")}
        line["message"] = record.getMessage()
        line["level"] = record.levelname
        lines.append(line)
    return lines
