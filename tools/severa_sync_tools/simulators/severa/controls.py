"""The simulator's knobs: clock, daily quota, maintenance, slowness, injected faults, truncation,
versions and the call log. All thread-safe: tests drive them while the server thread answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from severa_sync.severa import schema
from severa_sync_tools.simulators.severa import wire
from severa_sync_tools.simulators.severa.variants import DateForms, HtmlPages

DEFAULT_API_VERSION = "1.0.0+sim"
DEFAULT_SCHEMA_VERSION = "2019.1"
#: Descriptions Severa's documentation gives for each fault ([DOC]; quota: [SUP]).
DEFAULT_DESCRIPTIONS = {
    "AuthenticationFailureException": "The caller could not be authenticated.",
    "GeneralFailureException": "Any other fault.",
    "NotFoundException": "The requested item could not be found.",
    "NoPermissionException": "API user does not have permission to perform the action.",
    "ValidationException": "Validation failed.",
    "QuotaLimitExceededException": "Quota limit",
    "TosNotApprovedException": "Terms of service have not been approved.",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One SOAP call as the simulator saw it (parameters only: the API key is never kept)."""

    operation: str  # "ICustomer/GetCustomersChangedSince", or the raw SOAPAction when unknown
    params: dict[str, Any]
    status: int
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "params": wire.to_json(self.params),
            "status": self.status,
            "at": wire.format_datetime(self.at),
        }


@dataclass(slots=True)
class _Rule:
    """Applies to the next ``remaining`` calls of ``operation`` (None: any operation)."""

    remaining: int
    operation: str | None
    payload: dict[str, Any] = field(default_factory=dict)


def check_operation(operation: str | None) -> None:
    if operation is not None and operation not in schema.OPERATIONS_BY_NAME:
        raise ValueError(
            f"unknown operation {operation!r}; use '<Interface>/<Operation>', "
            f"e.g. 'ICustomer/GetCustomersChangedSince'"
        )


class Controls:
    def __init__(self, *, now: datetime | None, quota_limit: int):
        self._lock = threading.Lock()
        self._frozen_at = wire.as_utc(now) if now is not None else None
        self._offset = timedelta(0)
        self._quota_limit = quota_limit
        self._quota_used = 0
        self._quota_day: date | None = None
        self._maintenance_calls: int | None = 0  # 0: not in maintenance
        self._maintenance_until: float | None = None
        self._maintenance_fault: str | None = None  # None: the HTML maintenance page
        self._slow: list[_Rule] = []
        self._late: list[_Rule] = []
        self._faults: list[_Rule] = []
        self._truncations: list[_Rule] = []
        self._hooks: list[tuple[str, Callable[[dict[str, Any]], None]]] = []
        self.api_version = DEFAULT_API_VERSION
        self.schema_version = DEFAULT_SCHEMA_VERSION
        self._calls: list[Call] = []
        self.dates = DateForms()  # DateTime forms of answers
        self.html = HtmlPages()  # HTML pages with HTTP 200

    # --- clock ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else datetime.now(UTC)
            return base + self._offset

    def set_clock(self, frozen_at: datetime | None = None, offset: timedelta = timedelta(0)) -> None:
        with self._lock:
            self._frozen_at = wire.as_utc(frozen_at) if frozen_at is not None else None
            self._offset = offset

    # --- quota ---------------------------------------------------------------------------------
    def _roll_day(self) -> None:
        # Caller holds the lock. Severa resets the quota when the UTC day changes.
        base = self._frozen_at if self._frozen_at is not None else datetime.now(UTC)
        today = (base + self._offset).date()
        if self._quota_day != today:
            self._quota_day = today
            self._quota_used = 0

    def count_call(self) -> tuple[int, int, bool]:
        """Count one call: (limit, used, over the limit)."""
        with self._lock:
            self._roll_day()
            self._quota_used += 1
            return self._quota_limit, self._quota_used, self._quota_used > self._quota_limit

    def quota(self) -> tuple[int, int]:
        with self._lock:
            self._roll_day()
            return self._quota_limit, self._quota_used

    def set_quota(self, *, limit: int | None = None, used: int | None = None) -> None:
        if (limit is not None and limit < 0) or (used is not None and used < 0):
            raise ValueError("quota limit and used must not be negative")
        with self._lock:
            self._roll_day()
            if limit is not None:
                self._quota_limit = limit
            if used is not None:
                self._quota_used = used

    # --- maintenance ---------------------------------------------------------------------------
    def maintenance(
        self, *, calls: int | None = None, seconds: float | None = None, fault: str | None = None
    ) -> None:
        """503 for the next ``calls`` calls and/or ``seconds`` (real time); neither: until cleared
        by ``maintenance(calls=0)``. ``fault``: the 503 carries that declared fault's SOAP envelope
        (as a gateway or front end in maintenance may) instead of the HTML maintenance page."""
        if (calls is not None and calls < 0) or (seconds is not None and seconds < 0):
            raise ValueError("calls and seconds must not be negative")
        if fault is not None and fault not in schema.FAULT_TYPES:
            raise ValueError(f"unknown fault type {fault!r}; one of {', '.join(schema.FAULT_TYPES)}")
        with self._lock:
            self._maintenance_calls = calls
            self._maintenance_until = time.monotonic() + seconds if seconds is not None else None
            self._maintenance_fault = fault

    def maintenance_fault(self) -> str | None:
        """The fault type a maintenance answer carries (None: the HTML page)."""
        with self._lock:
            return self._maintenance_fault

    def take_maintenance(self) -> bool:
        """Whether this call meets a maintenance break (consumes one of its calls)."""
        with self._lock:
            if self._maintenance_calls == 0:
                return False
            if self._maintenance_until is not None and time.monotonic() >= self._maintenance_until:
                self._maintenance_calls, self._maintenance_until = 0, None
                return False
            if self._maintenance_calls is not None:
                self._maintenance_calls -= 1
            return True

    # --- per-call rules ------------------------------------------------------------------------
    def _add(self, rules: list[_Rule], calls: int, operation: str | None, **payload: Any) -> None:
        check_operation(operation)
        if calls < 1:
            raise ValueError("calls must be at least 1")
        with self._lock:
            rules.append(_Rule(calls, operation, payload))

    def _take(self, rules: list[_Rule], operation: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in rules:
                if rule.operation is None or rule.operation == operation:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        rules.remove(rule)
                    return rule.payload
            return None

    def slow(self, seconds: float, *, calls: int = 1, operation: str | None = None) -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._add(self._slow, calls, operation, seconds=seconds)

    def take_slow(self, operation: str) -> float:
        payload = self._take(self._slow, operation)
        return float(payload["seconds"]) if payload else 0.0

    def answer_late(self, seconds: float, *, calls: int = 1, operation: str | None = None) -> None:
        """The call is carried out, then its answer held back ``seconds``: a client that gives up
        first never learns that Severa committed (an unknown outcome)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._add(self._late, calls, operation, seconds=seconds)

    def take_late(self, operation: str) -> float:
        payload = self._take(self._late, operation)
        return float(payload["seconds"]) if payload else 0.0

    def fail_next(
        self, fault_type: str, *, description: str | None = None, operation: str | None = None, calls: int = 1
    ) -> None:
        if fault_type not in schema.FAULT_TYPES:
            raise ValueError(f"unknown fault type {fault_type!r}; one of {', '.join(schema.FAULT_TYPES)}")
        text = description if description is not None else DEFAULT_DESCRIPTIONS[fault_type]
        self._add(self._faults, calls, operation, fault_type=fault_type, description=text)

    def take_fault(self, operation: str) -> tuple[str, str] | None:
        payload = self._take(self._faults, operation)
        return (payload["fault_type"], payload["description"]) if payload else None

    def truncate_next(self, *, calls: int = 1, operation: str | None = None) -> None:
        self._add(self._truncations, calls, operation)

    def on_call(self, operation: str, hook: Callable[[dict[str, Any]], None]) -> None:
        check_operation(operation)
        with self._lock:
            self._hooks.append((operation, hook))

    def remove_hook(self, operation: str, hook: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            self._hooks = [(name, h) for name, h in self._hooks if (name, h) != (operation, hook)]

    def run_hooks(self, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            hooks = [hook for name, hook in self._hooks if name == operation]
        for hook in hooks:  # outside the lock: a hook may change the store or the controls
            hook(params)

    def clear_faults(self) -> None:
        """Forget every pending fault, truncation, slow answer and call hook (maintenance has its own
        switch)."""
        with self._lock:
            self._faults.clear()
            self._truncations.clear()
            self._slow.clear()
            self._late.clear()
            self._hooks.clear()
        self.html.clear()

    def take_truncation(self, operation: str) -> bool:
        return self._take(self._truncations, operation) is not None

    # --- versions and calls --------------------------------------------------------------------
    def set_versions(self, *, api_version: str | None = None, schema_version: str | None = None) -> None:
        with self._lock:
            if api_version is not None:
                self.api_version = api_version
            if schema_version is not None:
                self.schema_version = schema_version

    def versions(self) -> tuple[str, str]:
        with self._lock:
            return self.api_version, self.schema_version

    def log_call(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def state(self) -> dict[str, Any]:
        """What an operator wants to see (``GET /admin/state``)."""
        limit, used = self.quota()
        with self._lock:
            return {
                "now": wire.format_datetime(
                    (self._frozen_at if self._frozen_at is not None else datetime.now(UTC)) + self._offset
                ),
                "clock_frozen": self._frozen_at is not None,
                "clock_offset_seconds": self._offset.total_seconds(),
                "quota": limit,
                "used_quota": used,
                "api_version": self.api_version,
                "schema_version": self.schema_version,
                "pending_faults": sum(r.remaining for r in self._faults),
                "pending_truncations": sum(r.remaining for r in self._truncations),
                "pending_slow_calls": sum(r.remaining for r in self._slow),
                "maintenance": self._maintenance_calls != 0,
                "calls": len(self._calls),
            }
