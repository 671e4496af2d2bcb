"""``ports.Target`` for the S3 exports payroll and BI read: JSON Lines, one object per partition.

- hour entries: ``<prefix>/tenant=<t>/type=hour_entries/date=<YYYY-MM-DD>/hour_entries.jsonl``, the
  current state of that day's entries, one line per GUID.
- absences: ``<prefix>/tenant=<t>/type=absences/week=<YYYY>-W<ww>/absences.jsonl`` by the start time
  in the tenant's zone; weeks a window covers whole are replaced (deletions reach payroll).

``deliver`` buffers; ``flush`` merges each touched object (read, upsert by GUID, conditional write),
so reruns replace rather than duplicate. Where each GUID's line lives is kept in the mapping store
(``MAP#<type>#<guid>``, ``target_key`` = the partition) so an entry that moves leaves its old file.
That mapping is written *before* the objects with the partitions the line may still be in
(``extra.pending_from``) and settled after, so a crash between the two never strands a copy.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Delivery, Mapping, SourceRecord, StateStore, Window
from severa_sync.errors import CallInfo, ConfigError, MappingError, TargetError, TargetUnavailable
from severa_sync.registry import DataType
from severa_sync.timeutil import format_watermark, parse_watermark, utcnow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTENT_TYPE = "application/x-ndjson"
DEFAULT_FLUSH_THRESHOLD = 10_000  # buffered lines (~1 KB each) before an early flush
CONFLICT_ATTEMPTS = 3
KEY_FIELD = "GUID"
PENDING = "pending_from"
#: data type -> (partition name in the key, record field the partition comes from)
PARTITIONING = {"hour_entries": ("date", "EventDate"), "absences": ("week", "StartDateTime")}


class _Conflict(Exception):
    """The object changed between our read and our conditional write."""


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
        #: partition -> GUIDs written by mid-window flushes of the current window (absences only).
        self._written_in_window: dict[str, set[str]] = defaultdict(set)

    def last_call(self) -> CallInfo | None:
        return self._last_call

    def buffered(self, data_type: DataType) -> int:
        return len(self._buffer[data_type.name])

    def object_key(self, data_type: str, partition: str) -> str:
        part_name, _ = PARTITIONING[data_type]
        path = f"tenant={self._tenant}/type={data_type}/{part_name}={partition}/{data_type}.jsonl"
        return f"{self._prefix}/{path}" if self._prefix else path

    # --- Target -------------------------------------------------------------------------------
    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        """Buffer the records; nothing is durable before ``flush`` (the engine flushes before it
        checkpoints). Nothing is skipped: a rerun rewrites the same lines, which is what repairs a
        file an operator lost."""
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
                text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
            except MappingError as error:
                delivery.failed.append((record, error))
                continue
            except (ValueError, TypeError) as exc:  # pydantic serialization problems
                problem = f"{record.display_key}: cannot be written as JSON ({type(exc).__name__})"
                delivery.failed.append((record, MappingError(problem, call=self._last_call)))
                continue
            self._buffer[name][str(line[KEY_FIELD])] = (partition, text, record.content_hash)
            delivery.delivered.append(record)
            if len(self._buffer[name]) >= self._threshold:
                self._write(name, replace=set())  # bounded memory on a mass update
        return delivery

    def flush(self, data_type: DataType, window: Window | None) -> None:
        name = self._check(data_type)
        replace: set[str] = set()
        if name == "absences" and window is not None:
            replace = set(covered_weeks(window, self._zone))
        self._write(name, replace)
        if window is not None:  # the window is complete: the next one starts afresh
            self._written_in_window.clear()

    # --- partitions ---------------------------------------------------------------------------
    def _check(self, data_type: DataType) -> str:
        if data_type.name not in PARTITIONING:
            raise ConfigError(
                f"the S3 export target does not take {data_type.name}; it exports {', '.join(PARTITIONING)}"
            )
        return data_type.name

    def _partition(self, data_type: str, record: SourceRecord, line: dict[str, Any]) -> str:
        _, field = PARTITIONING[data_type]
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
        if data_type == "absences":
            return week_label(when.astimezone(self._zone).date())
        # EventDate is a day: UTC midnight is the day itself (Severa sends it without a zone);
        # anything else is an instant whose day is the tenant's local one.
        utc = when.astimezone(UTC)
        day = utc.date() if utc.time() == time(0) else when.astimezone(self._zone).date()
        return day.isoformat()

    # --- flushing -----------------------------------------------------------------------------
    def _write(self, data_type: str, replace: set[str]) -> None:
        buffer = self._buffer.pop(data_type, {})
        if not buffer and not replace:
            return
        now = self._clock()
        known = self._mappings.get_mappings(self._tenant, data_type, list(buffer))
        adds: dict[str, dict[str, str]] = defaultdict(dict)
        removes: dict[str, set[str]] = defaultdict(set)
        ahead: dict[str, Mapping] = {}
        settle: dict[str, Mapping] = {}
        for guid, (partition, text, content_hash) in buffer.items():
            adds[partition][guid] = text
            before = _where(known.get(guid))
            for old in before - {partition}:
                removes[old].add(guid)
            if before != {partition}:
                pending = ",".join(sorted(before - {partition}))
                ahead[guid] = Mapping(partition, content_hash, now, {PENDING: pending} if pending else {})
                if pending:
                    settle[guid] = Mapping(partition, content_hash, now, {})
        self._put_mappings(data_type, ahead)
        for partition in sorted(adds.keys() | removes.keys() | replace):
            self._rewrite(
                data_type,
                partition,
                adds.get(partition, {}),
                removes.get(partition, set()),
                replace=partition in replace,
            )
        self._put_mappings(data_type, settle)

    def _put_mappings(self, data_type: str, items: dict[str, Mapping]) -> None:
        if not items:
            return
        put_many = getattr(self._mappings, "put_mappings", None)
        if put_many is not None:
            put_many(self._tenant, data_type, items)
            return
        for guid, mapping in items.items():
            self._mappings.put_mapping(self._tenant, data_type, guid, mapping)

    def _rewrite(
        self, data_type: str, partition: str, adds: dict[str, str], removes: set[str], *, replace: bool
    ) -> None:
        key = self.object_key(data_type, partition)
        for _ in range(CONFLICT_ATTEMPTS):
            body, etag = self._read(key)
            lines = _parse_lines(key, body, self._last_call)
            if replace:  # keep only what this window already wrote in earlier (mid-window) flushes
                kept = self._written_in_window.get(partition, set())
                lines = {guid: text for guid, text in lines.items() if guid in kept}
            for guid in removes:
                lines.pop(guid, None)
            lines.update(adds)
            try:
                self._put(key, "".join(text + "\n" for text in lines.values()), etag)
                break
            except _Conflict:
                continue
        else:
            raise TargetUnavailable(
                f"s3://{self._bucket}/{key} kept changing while being written "
                f"({CONFLICT_ATTEMPTS} attempts); is another run writing it?",
                call=self._last_call,
            )
        if data_type == "absences":
            self._written_in_window[partition].update(adds)

    # --- S3 calls -----------------------------------------------------------------------------
    def _call_info(self, operation: str, key: str, status: int | None = None) -> CallInfo:
        self._last_call = CallInfo(
            system="s3", operation=operation, params={"bucket": self._bucket, "key": key}, status=status
        )
        return self._last_call

    def _failure(self, operation: str, key: str, exc: Exception) -> TargetUnavailable:
        status, code = None, type(exc).__name__
        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", code)
        call = self._call_info(operation, key, status)
        return TargetUnavailable(f"S3 {operation} s3://{self._bucket}/{key} failed: {code}", call=call)

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


def _parse_lines(key: str, body: bytes | None, call: CallInfo | None) -> dict[str, str]:
    """GUID -> line of an existing object, in file order; lines without a GUID are kept as they are."""
    lines: dict[str, str] = {}
    for number, raw in enumerate((body or b"").decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            guid = json.loads(raw).get(KEY_FIELD)
        except (ValueError, AttributeError):
            raise TargetError(
                f"{key} line {number} is not a JSON object; fix or remove the line, then run again", call=call
            ) from None
        lines[str(guid) if guid else f"\0line{number}"] = raw
    return lines
