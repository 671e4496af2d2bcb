"""``ports.StateStore`` on one DynamoDB table (layout and item access in ``state.table``).

Operators edit these items by hand in the console, so values are plain: times are ISO strings,
counts are numbers, and reading is forgiving where it can be (a hand-typed watermark is parsed with
``timeutil.parse_watermark``) and loud where it cannot (an unparsable one is a ``ConfigError``).
Every write that can race a person or another run is conditional.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from severa_sync.engine.ports import (
    Halt,
    Mapping,
    RetryItem,
    RunSummary,
    SourceRecord,
    Versions,
    WatermarkRow,
    WatermarkState,
)
from severa_sync.engine.resume import ResumePoint, parse_resume
from severa_sync.errors import CallInfo, ConfigError, SyncError
from severa_sync.redaction import redact_and_cut
from severa_sync.state import table as t
from severa_sync.state.table import ConditionFailed, StateStoreUnavailable, StateTable
from severa_sync.timeutil import format_watermark, parse_watermark, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoStateStore", "StateStoreUnavailable"]

log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant

MAX_MESSAGE_CHARS = 1000
MAX_SHORT_CHARS = 200  # display keys, codes, operator names
MAX_MAP_CHARS = 32_000  # resume points, mapping extras: far below the 400 KB item limit
_EPOCH = datetime.fromtimestamp(0, UTC)


def _bounded(text: str, limit: int) -> str:
    return redact_and_cut(text, limit, "…")  # masked before the cut, never a secret's first half


def _bounded_map(value: dict[str, Any], what: str) -> dict[str, Any]:
    if len(repr(value)) > MAX_MAP_CHARS:
        raise StateStoreUnavailable(f"{what} is larger than {MAX_MAP_CHARS} characters; refusing to store it")
    return value


def _forgiving_time(item: dict[str, Any], attr: str) -> datetime:
    """Times written by people or the state machine: a bad one must not hide a halt or a parked record."""
    try:
        return parse_watermark(str(item[attr]))
    except (KeyError, ValueError):
        return _EPOCH


class DynamoStateStore(t.PendingJobsInMappings):
    """The state store on a low-level DynamoDB client (not a ``Table`` resource: its client rewrites
    attribute values) and the table's name."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._table = StateTable(client, table_name, sleep=sleep)
        self._clock = clock

    def last_call(self) -> CallInfo | None:
        return self._table.last_call

    def _now(self) -> str:
        return format_watermark(self._clock().replace(microsecond=0))

    def _int(self, tenant: str, sk: str, item: dict[str, Any], attr: str) -> int | None:
        value = item.get(attr)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{self._table.name} item {t.tenant_pk(tenant)} / {sk}: {attr} {value!r} is not a whole number",
                call=self._table.last_call,
                detail={"item": sk, "attribute": attr},
            ) from None

    # --- watermarks ---------------------------------------------------------------------------
    def read_watermark(self, tenant: str, data_type: str) -> WatermarkState:
        sk = t.watermark_sk(data_type)
        item = self._table.get(tenant, sk) or {}
        raw = item.get("watermark")
        watermark = None
        if raw is not None:
            try:
                if not isinstance(raw, str):
                    raise ValueError(raw)
                watermark = parse_watermark(raw)
            except ValueError:
                raise ConfigError(
                    f"{self._table.name} item {t.tenant_pk(tenant)} / {sk}: watermark {raw!r} is not an "
                    "ISO-8601 time (expected e.g. 2026-11-20T05:30:00Z); fix or remove the attribute",
                    call=self._table.last_call,
                    detail={"item": sk, "value": redact_and_cut(raw, MAX_SHORT_CHARS)},
                ) from None
        resume = item.get("resume")
        return WatermarkState(
            watermark=watermark,
            raw=raw,
            window_seconds=self._int(tenant, sk, item, "window_seconds"),
            resume=parse_resume(resume) if isinstance(resume, dict) else None,
            unavailable_attempts=self._int(tenant, sk, item, "unavailable_attempts") or 0,
        )

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
        """Advance the watermark unless someone changed it since it was read (then False).

        ``resume`` None removes a stored resume point: it belonged to the old watermark.
        """
        set_: dict[str, Any] = {
            "watermark": format_watermark(new),
            "data_type": data_type,
            "updated_at": self._now(),
            "updated_by": f"run:{run_id}",
        }
        if window_seconds is not None:
            set_["window_seconds"] = window_seconds
        if resume is not None:
            set_["resume"] = _bounded_map(resume.to_item(), "resume point")
        if expected_raw is None:
            condition, values = "attribute_not_exists(#watermark)", {}
        else:
            condition, values = "#watermark = :expected", {":expected": expected_raw}
        try:
            self._table.update(
                tenant,
                t.watermark_sk(data_type),
                set_=set_,
                remove=() if resume is not None else ("resume",),
                condition=condition,
                values=values,
            )
        except ConditionFailed:
            return False
        return True

    def save_resume(
        self,
        tenant: str,
        data_type: str,
        resume: ResumePoint | None,
        *,
        expected_raw: str | None,
        window_seconds: int | None = None,
    ) -> bool:
        """Store where a run stopped, unless the watermark is no longer ``expected_raw`` (then False):
        a resume point belongs to one watermark, and an operator's rewind must not get it back."""
        set_: dict[str, Any] = {"data_type": data_type}
        if resume is not None:
            set_["resume"] = _bounded_map(resume.to_item(), "resume point")
        if window_seconds is not None:
            set_["window_seconds"] = window_seconds
        remove = () if resume is not None else ("resume",)
        if expected_raw is None:
            condition, values = "attribute_not_exists(#watermark)", {}
        else:
            condition, values = "#watermark = :expected", {":expected": expected_raw}
        try:
            self._table.update(
                tenant,
                t.watermark_sk(data_type),
                set_=set_,
                remove=remove,
                condition=condition,
                values=values,
            )
        except ConditionFailed:
            return False
        return True

    def record_run(self, tenant: str, data_type: str, summary: RunSummary) -> None:
        last_run = {
            "run_id": summary.run_id,
            "status": summary.status,
            "fetched": summary.fetched,
            "delivered": summary.delivered,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "dropped_overlap": summary.dropped_overlap,
            "started_at": format_watermark(summary.started_at),
            "finished_at": format_watermark(summary.finished_at),
        }
        self._table.update(
            tenant, t.watermark_sk(data_type), set_={"data_type": data_type, "last_run": last_run}
        )

    def set_unavailable_attempts(self, tenant: str, data_type: str, attempts: int) -> None:
        set_ = {"data_type": data_type, "unavailable_attempts": attempts}
        self._table.update(tenant, t.watermark_sk(data_type), set_=set_)

    def rewind(self, tenant: str, data_type: str, to: datetime, *, by: str) -> str | None:
        """The operator's edit: unconditional; the resume point of the old position goes with it."""
        who = by if by.startswith("operator:") else f"operator:{by}"
        set_ = {
            "watermark": format_watermark(to),
            "data_type": data_type,
            "updated_at": self._now(),
            "updated_by": _bounded(who, MAX_SHORT_CHARS),
        }
        old = self._table.update(
            tenant, t.watermark_sk(data_type), set_=set_, remove=("resume",), return_values="UPDATED_OLD"
        )
        previous = old.get("watermark")
        return None if previous is None else str(previous)

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(
        self, tenant: str, data_type: str, token: str, lease_seconds: int, *, run_id: str | None = None
    ) -> bool:
        """A lease owned by one invocation's ``token``: free when absent or expired (TTL deletes
        late). The same token may take it again (a retried put that had succeeded), another never:
        two invocations of one run id (a Step Functions retry) have different tokens."""
        now = self._clock()
        attrs = {
            "data_type": data_type,
            "owner": token,
            "run_id": run_id,
            "acquired_at": self._now(),
            t.TTL_ATTRIBUTE: int(now.timestamp()) + lease_seconds,
        }
        try:
            self._table.put(
                tenant,
                t.lock_sk(data_type),
                attrs,
                ConditionExpression="attribute_not_exists(#pk) OR #exp < :now OR #owner = :me",
                ExpressionAttributeNames={"#pk": t.PARTITION_KEY, "#exp": t.TTL_ATTRIBUTE, "#owner": "owner"},
                ExpressionAttributeValues={
                    ":now": t.to_attribute(int(now.timestamp())),
                    ":me": t.to_attribute(token),
                },
            )
        except ConditionFailed:
            return False
        return True

    def renew_lock(self, tenant: str, data_type: str, token: str, lease_seconds: int) -> bool:
        """Extend the lease; False when ``token`` no longer holds it (it expired and was taken)."""
        expires = int(self._clock().timestamp()) + lease_seconds
        try:
            self._table.update(
                tenant,
                t.lock_sk(data_type),
                set_={t.TTL_ATTRIBUTE: expires},
                condition="#owner = :me",
                values={":me": token},
            )
        except ConditionFailed:
            return False
        return True

    def release_lock(self, tenant: str, data_type: str, token: str) -> None:
        try:
            self._table.delete(
                tenant,
                t.lock_sk(data_type),
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": t.to_attribute(token)},
            )
        except ConditionFailed:
            log.info("lock %s/%s not released: held by another invocation or gone", tenant, data_type)

    # --- retry set ----------------------------------------------------------------------------
    def park(self, tenant: str, data_type: str, record: SourceRecord, error: SyncError) -> None:
        """First park sets ``first_failed_at`` and attempts 1; each re-park adds one attempt."""
        now = self._now()
        set_ = {
            "data_type": data_type,
            "key": record.key,
            "display_key": _bounded(record.display_key, MAX_SHORT_CHARS),
            "last_error_code": _bounded(error.code, MAX_SHORT_CHARS),
            "last_error_message": _bounded(error.message, MAX_MESSAGE_CHARS),
            "last_failed_at": now,
        }
        self._table.update(
            tenant,
            t.retry_sk(data_type, record.key),
            set_=set_,
            set_if_absent={"first_failed_at": now},
            add={"attempts": 1},
        )

    def unpark(self, tenant: str, data_type: str, key: str) -> None:
        self._table.delete(tenant, t.retry_sk(data_type, key))

    def parked(self, tenant: str, data_type: str) -> list[RetryItem]:
        prefix = t.retry_prefix(data_type)
        return [self._retry_item(tenant, prefix, item) for item in self._table.query_prefix(tenant, prefix)]

    def _retry_item(self, tenant: str, prefix: str, item: dict[str, Any]) -> RetryItem:
        return RetryItem(
            key=str(item.get("key") or item[t.SORT_KEY].removeprefix(prefix)),
            display_key=str(item.get("display_key", "")),
            attempts=self._int(tenant, item[t.SORT_KEY], item, "attempts") or 0,
            last_error_code=str(item.get("last_error_code", "")),
            last_error_message=str(item.get("last_error_message", "")),
            first_failed_at=_forgiving_time(item, "first_failed_at"),
            not_found_count=self._int(tenant, item[t.SORT_KEY], item, "not_found_count") or 0,
            first_not_found_at=(
                _forgiving_time(item, "first_not_found_at") if "first_not_found_at" in item else None
            ),
        )

    def note_not_found(self, tenant: str, data_type: str, key: str, at: datetime) -> RetryItem | None:
        """Conditional on the item existing: a record unparked meanwhile is not parked again."""
        stamp = format_watermark(at.replace(microsecond=0))
        try:
            item = self._table.update(
                tenant,
                t.retry_sk(data_type, key),
                set_={"last_not_found_at": stamp},
                set_if_absent={"first_not_found_at": stamp},
                add={"not_found_count": 1},
                condition="attribute_exists(#sk)",
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return self._retry_item(tenant, t.retry_prefix(data_type), item)

    def clear_not_found(self, tenant: str, data_type: str, key: str) -> None:
        try:
            self._table.update(
                tenant,
                t.retry_sk(data_type, key),
                set_={},
                remove=("not_found_count", "first_not_found_at", "last_not_found_at"),
                condition="attribute_exists(#sk)",
            )
        except ConditionFailed:
            return

    # --- versions and halts -------------------------------------------------------------------
    def read_versions(self, tenant: str) -> Versions | None:
        item = self._table.get(tenant, t.VERSIONS)
        if item is None:
            return None
        return Versions(
            api_version=str(item.get("api_version", "")), schema_version=str(item.get("schema_version", ""))
        )

    def write_versions(self, tenant: str, versions: Versions) -> None:
        attrs = {
            "api_version": versions.api_version,
            "schema_version": versions.schema_version,
            "checked_at": self._now(),
        }
        self._table.put(tenant, t.VERSIONS, attrs)

    def halts(self, tenant: str) -> list[Halt]:
        """Halts written by runs, by operators and by the retry state machine (``since`` from
        ``$$.State.EnteredTime``); the data type comes from the sort key, whatever the item says."""
        out = []
        for item in self._table.query_prefix(tenant, t.HALT):
            sk = item[t.SORT_KEY]
            if sk != t.HALT and not sk.startswith(t.HALT + "#"):
                continue  # some future "HALTED..." item is not a halt
            code = str(item.get("code") or "halted")
            out.append(
                Halt(
                    reason=str(item.get("reason") or code),
                    code=code,
                    since=_forgiving_time(item, "since"),
                    data_type=None if sk == t.HALT else sk.removeprefix(t.HALT + "#"),
                )
            )
        return out

    def halt(self, tenant: str, data_type: str | None, code: str, reason: str) -> None:
        """Keeps the first ``since`` when the halt is already there (the oldest cause matters)."""
        set_: dict[str, Any] = {
            "code": _bounded(code, MAX_SHORT_CHARS),
            "reason": _bounded(reason, MAX_MESSAGE_CHARS),
        }
        if data_type is not None:
            set_["data_type"] = data_type
        self._table.update(tenant, t.halt_sk(data_type), set_=set_, set_if_absent={"since": self._now()})

    def clear_halt(self, tenant: str, data_type: str | None, *, by: str) -> bool:
        old = self._table.delete(tenant, t.halt_sk(data_type), ReturnValues="ALL_OLD")
        if old:
            who = _bounded(by, MAX_SHORT_CHARS)
            log.info(
                "halt %s of tenant %s (code %s) cleared by %s",
                t.halt_sk(data_type),
                tenant,
                old.get("code"),
                who,
            )
        return bool(old)

    # --- mapping store ------------------------------------------------------------------------
    @staticmethod
    def _mapping(item: dict[str, Any]) -> Mapping:
        extra = item.get("extra")
        return Mapping(
            target_key=str(item.get("target_key", "")),
            content_hash=str(item.get("content_hash", "")),
            delivered_at=_forgiving_time(item, "delivered_at"),
            extra={str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
        )

    @staticmethod
    def _mapping_attrs(data_type: str, key: str, mapping: Mapping) -> dict[str, Any]:
        return {
            "data_type": data_type,
            "key": key,
            "target_key": mapping.target_key,
            "content_hash": mapping.content_hash,
            "delivered_at": format_watermark(mapping.delivered_at),
            "extra": _bounded_map(dict(mapping.extra), "mapping extra"),
        }

    def get_mapping(self, tenant: str, data_type: str, key: str) -> Mapping | None:
        item = self._table.get(tenant, t.mapping_sk(data_type, key))
        return None if item is None else self._mapping(item)

    def get_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> dict[str, Mapping]:
        """BatchGetItem, 100 keys a call (unprocessed keys asked again); absent keys are left out."""
        prefix = t.mapping_prefix(data_type)
        items = self._table.batch_get(tenant, [prefix + key for key in keys])
        return {item[t.SORT_KEY].removeprefix(prefix): self._mapping(item) for item in items}

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None:
        self._table.put(tenant, t.mapping_sk(data_type, key), self._mapping_attrs(data_type, key, mapping))

    def mappings_delivered_since(self, tenant: str, data_type: str, since: datetime) -> list[str]:
        """Keys of the mappings written at or after ``since`` (one paged Query of the type's items)."""
        prefix = t.mapping_prefix(data_type)
        return [
            item[t.SORT_KEY].removeprefix(prefix)
            for item in self._table.query_prefix(tenant, prefix)
            if _forgiving_time(item, "delivered_at") >= since
        ]

    def forget_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> None:
        self._table.batch_delete(tenant, [t.mapping_sk(data_type, key) for key in keys])

    def put_mappings(self, tenant: str, data_type: str, items: dict[str, Mapping]) -> None:
        """BatchWriteItem, 25 items a call (unprocessed items written again)."""
        rows = [
            (t.mapping_sk(data_type, key), self._mapping_attrs(data_type, key, m)) for key, m in items.items()
        ]
        self._table.batch_put(tenant, rows)

    # --- operator -----------------------------------------------------------------------------
    def watermark_rows(self, tenant: str) -> list[WatermarkRow]:
        """One paged Query of the watermark items."""
        return [t.watermark_row(item) for item in self._table.query_prefix(tenant, t.WATERMARK + "#")]
