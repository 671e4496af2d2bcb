"""Embedded state store: the same items as the DynamoDB table, kept in memory and optionally in a
JSON file. It is the local run's default (``severa-sync run --state local``) and the engine tests'
store; ``state.dynamodb`` is the one Lambda uses. Items and semantics mirror docs/operations.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

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
from severa_sync.errors import ConfigError, SyncError
from severa_sync.redaction import redact_and_cut
from severa_sync.state.table import PendingJobsInMappings, watermark_row
from severa_sync.timeutil import format_watermark, parse_watermark, utcnow

MESSAGE_LIMIT = 1000


class MemoryStateStore(PendingJobsInMappings):
    def __init__(self, path: str | Path | None = None):
        self._path = Path(path) if path else None
        self._lock = threading.RLock()
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        if self._path and self._path.exists():
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            self.items = {(item["pk"], item["sk"]): item for item in raw}

    # -- persistence ---------------------------------------------------------------------------
    def _save(self) -> None:
        if self._path:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_text(
                json.dumps(list(self.items.values()), indent=1, default=str), encoding="utf-8"
            )

    def _put(self, tenant: str, sk: str, /, **attrs: Any) -> dict[str, Any]:
        item = self.items.setdefault((f"TENANT#{tenant}", sk), {"pk": f"TENANT#{tenant}", "sk": sk})
        item.update(attrs)
        self._save()
        return item

    def _get(self, tenant: str, sk: str) -> dict[str, Any] | None:
        return self.items.get((f"TENANT#{tenant}", sk))

    def _delete(self, tenant: str, sk: str) -> None:
        self.items.pop((f"TENANT#{tenant}", sk), None)
        self._save()

    def _query(self, tenant: str, prefix: str) -> list[dict[str, Any]]:
        pk = f"TENANT#{tenant}"
        return [item for (p, s), item in sorted(self.items.items()) if p == pk and s.startswith(prefix)]

    # -- watermarks ----------------------------------------------------------------------------
    def read_watermark(self, tenant: str, data_type: str) -> WatermarkState:
        with self._lock:
            item = self._get(tenant, f"WATERMARK#{data_type}") or {}
        raw = item.get("watermark")
        try:
            value = parse_watermark(raw) if raw else None
        except ValueError as exc:
            raise ConfigError(
                f"watermark item WATERMARK#{data_type} of tenant {tenant} holds {exc}"
            ) from None
        return WatermarkState(
            value,
            raw,
            item.get("window_seconds"),
            parse_resume(item.get("resume")),
            int(item.get("unavailable_attempts", 0)),
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
        with self._lock:
            item = self._get(tenant, f"WATERMARK#{data_type}") or {}
            if item.get("watermark") != expected_raw:
                return False
            self._put(
                tenant,
                f"WATERMARK#{data_type}",
                tenant=tenant,
                data_type=data_type,
                watermark=format_watermark(new),
                updated_at=format_watermark(utcnow()),
                updated_by=f"run:{run_id}",
                window_seconds=window_seconds,
                resume=None if resume is None else resume.to_item(),
            )
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
        with self._lock:
            item = self._get(tenant, f"WATERMARK#{data_type}") or {}
            if item.get("watermark") != expected_raw:
                return False
            kept = {} if window_seconds is None else {"window_seconds": window_seconds}
            self._put(
                tenant,
                f"WATERMARK#{data_type}",
                tenant=tenant,
                data_type=data_type,
                resume=None if resume is None else resume.to_item(),
                **kept,
            )
            return True

    def record_run(self, tenant: str, data_type: str, summary: RunSummary) -> None:
        last = {
            k: (format_watermark(v) if isinstance(v, datetime) else v) for k, v in asdict(summary).items()
        }
        with self._lock:
            self._put(tenant, f"WATERMARK#{data_type}", tenant=tenant, data_type=data_type, last_run=last)

    def set_unavailable_attempts(self, tenant: str, data_type: str, attempts: int) -> None:
        with self._lock:
            self._put(tenant, f"WATERMARK#{data_type}", unavailable_attempts=attempts)

    def rewind(self, tenant: str, data_type: str, to: datetime, *, by: str) -> str | None:
        with self._lock:
            old = (self._get(tenant, f"WATERMARK#{data_type}") or {}).get("watermark")
            self._put(
                tenant,
                f"WATERMARK#{data_type}",
                tenant=tenant,
                data_type=data_type,
                watermark=format_watermark(to),
                updated_at=format_watermark(utcnow()),
                updated_by=f"operator:{by}",
                resume=None,
            )
            return old

    def watermarks(self, tenant: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._query(tenant, "WATERMARK#")]

    # -- locks ---------------------------------------------------------------------------------
    def acquire_lock(
        self, tenant: str, data_type: str, token: str, lease_seconds: int, *, run_id: str | None = None
    ) -> bool:
        now = utcnow().timestamp()
        with self._lock:
            item = self._get(tenant, f"LOCK#{data_type}")
            if item and item["expires_at"] >= now and item["owner"] != token:
                return False
            self._put(
                tenant,
                f"LOCK#{data_type}",
                owner=token,
                run_id=run_id,
                expires_at=int(now + lease_seconds),
                acquired_at=format_watermark(utcnow()),
            )
            return True

    def renew_lock(self, tenant: str, data_type: str, token: str, lease_seconds: int) -> bool:
        with self._lock:
            item = self._get(tenant, f"LOCK#{data_type}")
            if not item or item["owner"] != token:
                return False
            item["expires_at"] = int(utcnow().timestamp() + lease_seconds)
            self._save()
            return True

    def release_lock(self, tenant: str, data_type: str, token: str) -> None:
        with self._lock:
            item = self._get(tenant, f"LOCK#{data_type}")
            if item and item["owner"] == token:
                self._delete(tenant, f"LOCK#{data_type}")

    # -- retry set -----------------------------------------------------------------------------
    def park(self, tenant: str, data_type: str, record: SourceRecord, error: SyncError) -> None:
        now = format_watermark(utcnow())
        with self._lock:
            sk = f"RETRY#{data_type}#{record.key}"
            old = self._get(tenant, sk) or {}
            self._put(
                tenant,
                sk,
                key=record.key,
                display_key=record.display_key,
                attempts=int(old.get("attempts", 0)) + 1,
                last_error_code=error.code,
                last_error_message=redact_and_cut(error.message, MESSAGE_LIMIT),
                first_failed_at=old.get("first_failed_at", now),
                last_failed_at=now,
            )

    def unpark(self, tenant: str, data_type: str, key: str) -> None:
        with self._lock:
            self._delete(tenant, f"RETRY#{data_type}#{key}")

    def parked(self, tenant: str, data_type: str) -> list[RetryItem]:
        with self._lock:
            items = self._query(tenant, f"RETRY#{data_type}#")
        return [self._retry_item(i) for i in items]

    @staticmethod
    def _retry_item(i: dict[str, Any]) -> RetryItem:
        first_not_found = i.get("first_not_found_at")
        return RetryItem(
            i["key"],
            i["display_key"],
            int(i["attempts"]),
            i["last_error_code"],
            i["last_error_message"],
            parse_watermark(i["first_failed_at"]),
            not_found_count=int(i.get("not_found_count", 0)),
            first_not_found_at=parse_watermark(first_not_found) if first_not_found else None,
        )

    def note_not_found(self, tenant: str, data_type: str, key: str, at: datetime) -> RetryItem | None:
        with self._lock:
            sk = f"RETRY#{data_type}#{key}"
            item = self._get(tenant, sk)
            if item is None:
                return None
            item = self._put(
                tenant,
                sk,
                not_found_count=int(item.get("not_found_count", 0)) + 1,
                first_not_found_at=item.get("first_not_found_at") or format_watermark(at),
                last_not_found_at=format_watermark(at),
            )
            return self._retry_item(item)

    def clear_not_found(self, tenant: str, data_type: str, key: str) -> None:
        with self._lock:
            item = self._get(tenant, f"RETRY#{data_type}#{key}")
            if item is not None and "not_found_count" in item:
                for attr in ("not_found_count", "first_not_found_at", "last_not_found_at"):
                    item.pop(attr, None)
                self._save()

    # -- versions and halts --------------------------------------------------------------------
    def read_versions(self, tenant: str) -> Versions | None:
        with self._lock:
            item = self._get(tenant, "VERSIONS")
        return Versions(item["api_version"], item["schema_version"]) if item else None

    def write_versions(self, tenant: str, versions: Versions) -> None:
        with self._lock:
            self._put(
                tenant,
                "VERSIONS",
                api_version=versions.api_version,
                schema_version=versions.schema_version,
                checked_at=format_watermark(utcnow()),
            )

    def halts(self, tenant: str) -> list[Halt]:
        with self._lock:
            items = self._query(tenant, "HALT")
        return [
            Halt(
                i.get("reason", ""),
                i.get("code", "halted"),
                parse_watermark(i["since"]) if i.get("since") else utcnow(),
                i.get("data_type"),
            )
            for i in items
        ]

    def halt(self, tenant: str, data_type: str | None, code: str, reason: str) -> None:
        with self._lock:
            self._put(
                tenant,
                "HALT" if data_type is None else f"HALT#{data_type}",
                code=code,
                reason=reason,
                since=format_watermark(utcnow()),
                data_type=data_type,
            )

    def clear_halt(self, tenant: str, data_type: str | None, *, by: str) -> bool:
        sk = "HALT" if data_type is None else f"HALT#{data_type}"
        with self._lock:
            if self._get(tenant, sk) is None:
                return False
            self._delete(tenant, sk)
            return True

    # -- mappings ------------------------------------------------------------------------------
    def get_mapping(self, tenant: str, data_type: str, key: str) -> Mapping | None:
        with self._lock:
            item = self._get(tenant, f"MAP#{data_type}#{key}")
        if not item:
            return None
        return Mapping(
            item["target_key"],
            item["content_hash"],
            parse_watermark(item["delivered_at"]),
            dict(item.get("extra") or {}),
        )

    def get_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> dict[str, Mapping]:
        found = {key: self.get_mapping(tenant, data_type, key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None:
        with self._lock:
            self._put(
                tenant,
                f"MAP#{data_type}#{key}",
                target_key=mapping.target_key,
                content_hash=mapping.content_hash,
                delivered_at=format_watermark(mapping.delivered_at),
                extra=dict(mapping.extra),
            )

    def put_mappings(self, tenant: str, data_type: str, items: dict[str, Mapping]) -> None:
        for key, mapping in items.items():
            self.put_mapping(tenant, data_type, key, mapping)

    def mappings_delivered_since(self, tenant: str, data_type: str, since: datetime) -> list[str]:
        prefix = f"MAP#{data_type}#"
        with self._lock:
            items = self._query(tenant, prefix)
        return [
            item["sk"].removeprefix(prefix)
            for item in items
            if parse_watermark(item["delivered_at"]) >= since
        ]

    def forget_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self.items.pop((f"TENANT#{tenant}", f"MAP#{data_type}#{key}"), None)
            self._save()

    # -- operator ----------------------------------------------------------------------------------
    def watermark_rows(self, tenant: str) -> list[WatermarkRow]:
        return [watermark_row(item) for item in self.watermarks(tenant)]
