"""``ports.Target`` for the S3 exports payroll and BI read: JSON Lines, one object per partition.

- hour entries: ``<prefix>/tenant=<t>/type=hour_entries/date=<YYYY-MM-DD>/hour_entries.jsonl``, the
  current state of that day's entries, one line per GUID.
- absences: ``<prefix>/tenant=<t>/type=absences/week=<YYYY>-W<ww>/absences.jsonl`` by the start time
  in the tenant's zone; weeks a window covers whole are replaced (deletions reach payroll).
- hour entries likewise: days a window covers whole are replaced (``engine.images`` reads them by
  date), so a deleted entry, or one Severa listed under another GUID for a while, leaves its file; a
  covered day that is now empty keeps an empty file.

Files are JSON Lines for any reader: one object per ``\n``-terminated line, and the characters other
readers also split lines on (U+2028, U+2029, U+0085: ``str.splitlines``, JavaScript) are escaped.
Reading splits on ``\n`` only. A file that is not JSON Lines stops merges into it with an alert
(``ExportFileUnreadable``); replacing it whole never needs to read it.

``deliver`` buffers, and counts a record whose line already stands in its file with the same content
hash as skipped (unchanged), not delivered: a rerun of an unchanged day reports delivered 0, and an
unchanged line keeps its ``_synced_at``. ``flush`` merges each touched object (read, upsert by GUID,
conditional write; an object that would come out the same is not written), so reruns replace rather
than duplicate. An object is read once per flush, when its first record is delivered.

Where each GUID's line lives is kept in the mapping store (``MAP#<type>#<guid>``, ``target_key`` =
the partition; ``object_key`` names its file) so an entry that moves leaves its old file. That
mapping is written *before* the objects with the partitions the line may still be in
(``extra.pending_from``) and settled after, so a crash between the two never strands a copy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from severa_sync import registry
from severa_sync.awscalls import configuration_problem
from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import Partition, S3Export
from severa_sync.engine.days import covered_days, day_of
from severa_sync.engine.ports import Delivery, Mapping, SourceRecord, StateStore, Window
from severa_sync.errors import (
    CallInfo,
    ConfigError,
    ExportFileUnreadable,
    MappingError,
    TargetUnavailable,
)
from severa_sync.registry import DataType
from severa_sync.timeutil import format_watermark, parse_watermark, utcnow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant
CONTENT_TYPE = "application/x-ndjson"
DEFAULT_FLUSH_THRESHOLD = 10_000  # buffered lines (~1 KB each) before an early flush
CONFLICT_ATTEMPTS = 3
KEY_FIELD = "GUID"
PENDING = "pending_from"
#: Raw in a JSON string they are valid JSON, but other JSON Lines readers split lines on them.
LINE_BREAKERS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def json_line(value: dict[str, Any]) -> str:
    """One JSON Lines line (without its ``\n``): compact, UTF-8, line separators escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(LINE_BREAKERS)


class _Conflict(Exception):
    """The object changed between our read and our conditional write."""


@dataclass(frozen=True, slots=True)
class _Found:
    """An object as read for the next flush: its body and ETag, and its lines' content hashes."""

    body: bytes | None
    etag: str | None
    hashes: dict[str, str]


def export_of(data_type: str) -> S3Export:
    """How the type's files are cut, as its declaration says; a ``ConfigError`` for a type that
    is not exported to S3."""
    export = registry.get(data_type).export
    if not isinstance(export, S3Export):
        exported = [dt.name for dt in registry.DATA_TYPES if isinstance(dt.export, S3Export)]
        raise ConfigError(f"the S3 export target does not take {data_type}; it exports {', '.join(exported)}")
    return export


def object_key(prefix: str, tenant: str, data_type: str, partition: str) -> str:
    """The object holding ``partition``'s lines (a mapping's ``target_key``). One function for the
    target that writes it and ``severa-sync state mappings`` that shows it: they cannot disagree."""
    part_name = export_of(data_type).partition.value
    path = f"tenant={tenant}/type={data_type}/{part_name}={partition}/{data_type}.jsonl"
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def covered_weeks(window: Window, zone: ZoneInfo) -> Iterator[str]:
    """Weeks whose whole [Monday 00:00, next Monday) in ``zone`` lies inside ``window``."""
    if window.end is None:
        return
    local_start = window.start.astimezone(zone)
    monday = local_start.date() - timedelta(days=local_start.weekday())
    if datetime.combine(monday, time(0), tzinfo=zone) < window.start:
        monday += timedelta(weeks=1)
    while datetime.combine(monday + timedelta(weeks=1), time(0), tzinfo=zone) <= window.end:
        yield week_label(monday)
        monday += timedelta(weeks=1)


class S3ExportTarget:
    #: deliver() only buffers; the engine logs a record "processed correctly" after flush() wrote it.
    buffers_until_flush = True

    def __init__(
        self,
        s3_client: S3Client,
        mappings: StateStore,
        config: TenantConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
        flush_threshold: int = DEFAULT_FLUSH_THRESHOLD,
        kms_key_id: str | None = None,
    ):
        self._s3 = s3_client
        self._mappings = mappings
        self._tenant = config.tenant
        self._zone = config.zone
        self._bucket = config.export_bucket
        self._prefix = config.export_prefix.strip("/")
        self._clock = clock
        self._threshold = max(1, flush_threshold)
        self._kms_key_id = kms_key_id
        self._last_call: CallInfo | None = None
        #: type -> GUID -> (partition, JSON line, content hash): the latest state of each record.
        self._buffer: dict[str, dict[str, tuple[str, str, str]]] = defaultdict(dict)
        #: (type, partition) -> the object as read when its first buffered record was delivered;
        #: the next flush writes over exactly that version (or reads again on a conflict).
        self._found: dict[tuple[str, str], _Found] = {}
        #: partition -> GUIDs written by mid-window flushes of the current window.
        self._written_in_window: dict[str, set[str]] = defaultdict(set)
        #: type -> partitions the current window (``begin_window``) replaces at its end.
        self._window_covers: dict[str, set[str]] = {}

    def last_call(self) -> CallInfo | None:
        return self._last_call

    def buffered(self, data_type: DataType) -> int:
        return len(self._buffer[data_type.name])

    def object_key(self, data_type: str, partition: str) -> str:
        return object_key(self._prefix, self._tenant, data_type, partition)

    # --- Target -------------------------------------------------------------------------------
    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        """Buffer the records; nothing is durable before ``flush`` (the engine flushes before it
        checkpoints). A record whose line stands in its file with the same content hash is skipped
        (unchanged); every other one, also a line missing from a file an operator lost, is
        delivered. Both are written: the day or week is replaced whole."""
        name = self._check(data_type)
        delivery = Delivery()
        synced_at = format_watermark(self._clock().replace(microsecond=0))
        for record in records:
            try:
                line = record.payload.model_dump(mode="json", by_alias=True)
                partition = self._partition(name, record, line)
                line[KEY_FIELD] = line.get(KEY_FIELD) or record.key
                line["_synced_at"] = synced_at
                line["_content_hash"] = record.content_hash
                text = json_line(line)
            except MappingError as error:
                delivery.failed.append((record, error))
                continue
            except (ValueError, TypeError) as exc:  # pydantic serialization problems
                problem = f"{record.display_key}: cannot be written as JSON ({type(exc).__name__})"
                delivery.failed.append((record, MappingError(problem, call=self._last_call)))
                continue
            guid = str(line[KEY_FIELD])
            self._buffer[name][guid] = (partition, text, record.content_hash)
            # The record-delivered log line names the file the record went to.
            delivery.target_keys[record.key] = self.object_key(name, partition)
            unchanged = self._found_in(name, partition).hashes.get(guid) == record.content_hash
            (delivery.skipped if unchanged else delivery.delivered).append(record)
            if len(self._buffer[name]) >= self._threshold:
                self._write(name, replace=set())  # bounded memory on a mass update
        return delivery

    def begin_window(self, data_type: DataType, window: Window) -> None:
        """``ports.WindowedTarget``: a window starts; what an unfinished one wrote does not count."""
        name = self._check(data_type)
        self._written_in_window.clear()
        self._window_covers[name] = self._covered(name, window)

    def flush(self, data_type: DataType, window: Window | None) -> None:
        name = self._check(data_type)
        self._write(name, self._covered(name, window) if window is not None else set())
        if window is not None:  # the window is complete: the next one starts afresh
            self._written_in_window.clear()
            self._window_covers.pop(name, None)

    def _covered(self, name: str, window: Window) -> set[str]:
        if export_of(name).partition is Partition.WEEK:
            return set(covered_weeks(window, self._zone))
        return {day.isoformat() for day in covered_days(window)}

    # --- partitions ---------------------------------------------------------------------------
    def _check(self, data_type: DataType) -> str:
        export_of(data_type.name)
        return data_type.name

    def _partition(self, data_type: str, record: SourceRecord, line: dict[str, Any]) -> str:
        export = export_of(data_type)
        field = export.date_member
        value = line.get(field)
        try:
            when = parse_watermark(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is None:
            raise MappingError(
                f"{record.display_key}: no usable {field} ({str(value)[:40]!r})",
                call=self._last_call,
                detail={"key": record.key, "field": field},
            )
        if export.partition is Partition.WEEK:
            return week_label(when.astimezone(self._zone).date())
        return day_of(when, self._zone).isoformat()

    # --- flushing -----------------------------------------------------------------------------
    def _write(self, data_type: str, replace: set[str]) -> None:
        buffer = self._buffer.pop(data_type, {})
        if not buffer and not replace:
            return
        now = self._clock()
        known = self._mappings.get_mappings(self._tenant, data_type, list(buffer))
        adds: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
        removes: dict[str, set[str]] = defaultdict(set)
        ahead: dict[str, Mapping] = {}
        settle: dict[str, Mapping] = {}
        for guid, (partition, text, content_hash) in buffer.items():
            adds[partition][guid] = (text, content_hash)
            before = _where(known.get(guid))
            for old in before - {partition}:
                removes[old].add(guid)
            if before != {partition}:
                pending = ",".join(sorted(before - {partition}))
                ahead[guid] = Mapping(partition, content_hash, now, {PENDING: pending} if pending else {})
                if pending:
                    settle[guid] = Mapping(partition, content_hash, now, {})
        self._put_mappings(data_type, ahead)
        # A replaced partition with nothing to add is only rewritten when its file exists: an
        # image of a year of days ahead must not cost a year of GetObject calls.
        untouched = replace - adds.keys() - removes.keys()
        replace -= untouched - self._existing(data_type, untouched)
        for partition in sorted(adds.keys() | removes.keys() | replace):
            self._rewrite(
                data_type,
                partition,
                adds.get(partition, {}),
                removes.get(partition, set()),
                replace=partition in replace,
            )
        for found in [k for k in self._found if k[0] == data_type]:
            del self._found[found]  # written, or moved on: the next flush reads afresh
        self._put_mappings(data_type, settle)

    def _put_mappings(self, data_type: str, items: dict[str, Mapping]) -> None:
        if not items:
            return
        self._mappings.put_mappings(self._tenant, data_type, items)

    def _rewrite(
        self,
        data_type: str,
        partition: str,
        adds: dict[str, tuple[str, str]],
        removes: set[str],
        *,
        replace: bool,
    ) -> None:
        key = self.object_key(data_type, partition)
        found = self._found.pop((data_type, partition), None)
        for _ in range(CONFLICT_ATTEMPTS):
            body, etag = (found.body, found.etag) if found is not None else self._read(key)
            found = None  # after a conflict: read again
            # A file replaced whole (now, or at the end of this window) need not be readable:
            # what it held is read again from Severa.
            tolerant = replace or partition in self._window_covers.get(data_type, set())
            before, hashes = _parse_lines(key, body, self._last_call, tolerant=tolerant)
            lines = dict(before)  # the same strings: only the references are copied
            if replace:  # keep only what this window already wrote in earlier (mid-window) flushes
                kept = self._written_in_window.get(partition, set())
                lines = {guid: text for guid, text in lines.items() if guid in kept}
            for guid in removes:
                lines.pop(guid, None)
            for guid, (text, content_hash) in adds.items():
                # An unchanged line stays as it was (its _synced_at says when its content arrived).
                lines[guid] = before[guid] if hashes.get(guid) == content_hash else text
            new = "".join(text + "\n" for text in lines.values())
            if body is not None and lines == before and new.encode("utf-8") == body:
                break  # the same object: not written again (no PutObject for an unchanged day)
            try:
                self._put(key, new, etag)
                break
            except _Conflict:
                continue
        else:
            raise TargetUnavailable(
                f"s3://{self._bucket}/{key} kept changing while being written "
                f"({CONFLICT_ATTEMPTS} attempts); is another run writing it?",
                call=self._last_call,
            )
        self._written_in_window[partition].update(adds)

    def _found_in(self, data_type: str, partition: str) -> _Found:
        """The object of ``partition`` as the next flush will find it, read once per flush."""
        found = self._found.get((data_type, partition))
        if found is None:
            key = self.object_key(data_type, partition)
            body, etag = self._read(key)
            try:
                _, hashes = _parse_lines(key, body, self._last_call, tolerant=False)
            except ExportFileUnreadable:
                hashes = {}  # its records count as delivered; the flush says what is wrong with it
            found = self._found[(data_type, partition)] = _Found(body, etag, hashes)
        return found

    # --- S3 calls -----------------------------------------------------------------------------
    def _existing(self, data_type: str, partitions: set[str]) -> set[str]:
        """Which of ``partitions`` have a file (one listing from the first to the last of them)."""
        if not partitions:
            return set()
        part_name = export_of(data_type).partition.value
        first, last = self.object_key(data_type, min(partitions)), self.object_key(data_type, max(partitions))
        folder = first[: first.index(f"{part_name}=")]
        found: set[str] = set()
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": folder, "StartAfter": first[:-1]}
        self._call_info("ListObjectsV2", folder)
        while True:
            try:
                page = self._s3.list_objects_v2(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise self._failure("ListObjectsV2", folder, exc) from None
            for item in page.get("Contents", []):
                key = item["Key"]
                if key > last:
                    return found
                partition = key[len(folder) :].split("/", 1)[0].split("=", 1)[-1]
                if partition in partitions:
                    found.add(partition)
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def _call_info(self, operation: str, key: str, status: int | None = None) -> CallInfo:
        self._last_call = CallInfo(
            system="s3", operation=operation, params={"bucket": self._bucket, "key": key}, status=status
        )
        return self._last_call

    def _failure(self, operation: str, key: str, exc: Exception) -> TargetUnavailable | ConfigError:
        status, code = None, type(exc).__name__
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", code)
        call = self._call_info(operation, key, status)
        message = f"S3 {operation} s3://{self._bucket}/{key} failed: {code}"
        if problem := configuration_problem(exc) if isinstance(exc, BotoCoreError | ClientError) else None:
            return ConfigError(f"{message}: {problem}", call=call)  # no wait will make the bucket exist
        return TargetUnavailable(message, call=call)

    def _read(self, key: str) -> tuple[bytes | None, str | None]:
        self._call_info("GetObject", key)
        try:
            resp = self._s3.get_object(Bucket=self._bucket, Key=key)
            return resp["Body"].read(), resp["ETag"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, None
            raise self._failure("GetObject", key, exc) from None
        except BotoCoreError as exc:
            raise self._failure("GetObject", key, exc) from None

    def _put(self, key: str, body: str, etag: str | None) -> None:
        self._call_info("PutObject", key)
        kwargs: dict[str, Any] = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        if self._kms_key_id:
            kwargs.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self._kms_key_id)
        else:
            kwargs.update(ServerSideEncryption="AES256")
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body.encode("utf-8"), ContentType=CONTENT_TYPE, **kwargs
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise _Conflict from None
            raise self._failure("PutObject", key, exc) from None
        except BotoCoreError as exc:
            raise self._failure("PutObject", key, exc) from None


def _where(mapping: Mapping | None) -> set[str]:
    """Partitions a GUID's line may be in: where it was put, plus any a crashed flush left pending."""
    if mapping is None:
        return set()
    pending = {p for p in mapping.extra.get(PENDING, "").split(",") if p}
    return {mapping.target_key, *pending}


def _parse_lines(
    key: str, body: bytes | None, call: CallInfo | None, *, tolerant: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """GUID -> line of an existing object, in file order; lines without a GUID are kept as they are.
    And GUID -> its ``_content_hash`` where the line has one.

    Lines end at ``\n`` only (JSON Lines): a U+2028 inside a text is part of its line. Lines are
    kept with their line separators escaped, so a file written before they were is repaired by the
    next write. ``tolerant``: the file is being replaced whole, unreadable lines are dropped.
    """
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unreadable(key, f"is not UTF-8 (byte {exc.start})", call, tolerant)
    lines: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
            guid = value.get(KEY_FIELD)
        except (ValueError, AttributeError):
            if tolerant:
                log.warning("dropping unreadable line %d of %s: the file is replaced whole", number, key)
                continue
            return _unreadable(key, f"line {number} is not a JSON object", call, tolerant)
        lines[str(guid) if guid else f"\0line{number}"] = raw.translate(LINE_BREAKERS)
        if guid and isinstance(value.get("_content_hash"), str):
            hashes[str(guid)] = value["_content_hash"]
    return lines, hashes


def _unreadable(
    key: str, problem: str, call: CallInfo | None, tolerant: bool
) -> tuple[dict[str, str], dict[str, str]]:
    if tolerant:
        log.warning("replacing %s, which %s", key, problem)
        return {}, {}
    raise ExportFileUnreadable(
        f"{key} {problem}. The next run that re-reads its day or week replaces it whole: inside "
        "the reconciliation span that is the next run; for an older one, rewind the type's watermark "
        "to before its records last changed (docs/operations.md#export_file_unreadable)",
        call=call,
    )
