"""Progress and error logs as Severa's integration guidelines ask for them.

One JSON line per important action (powertools Logger), each with the UTC time to the second, the
same instant in the tenant's time zone, tenant, data type, run id (also the correlation id) and the
record's key where there is one. Error lines add the error type and code, where in our code it was
raised, the previous call to Severa or the target with its parameters (secrets already redacted by
the adapters), a bounded trail of the last actions before the error, the API user's organisation,
name and email, and the full message.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from severa_sync.config import ApiUser
from severa_sync.errors import CallInfo, SyncError
from severa_sync.redaction import redact
from severa_sync.timeutil import iso_seconds, local, utcnow

SERVICE = "severa-sync"
TRAIL_LENGTH = 12
NO_CALL = "none"

logger = Logger(service=SERVICE)


def code_location(exc: BaseException) -> dict[str, Any]:
    """Module, function and line where ``exc`` was raised (the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return {}
    frame = frames[-1]
    module = frame.filename.rsplit("/severa_sync/", 1)[-1].removesuffix(".py").replace("/", ".")
    return {"module": module, "function": frame.name, "line": frame.lineno}


class RunLog:
    """The log of one run of one data type."""

    def __init__(
        self,
        *,
        tenant: str,
        data_type: str,
        run_id: str,
        zone: ZoneInfo,
        api_user: ApiUser,
        clock: Callable[[], datetime] = utcnow,
        log: Logger | None = None,
    ):
        self._log = log or logger
        self._zone = zone
        self._clock = clock
        self._api_user = api_user
        self._trail: deque[str] = deque(maxlen=TRAIL_LENGTH)
        self.keys = {"tenant": tenant, "data_type": data_type, "run_id": run_id}
        self._log.append_keys(**self.keys, correlation_id=run_id)

    def _stamp(self) -> dict[str, str]:
        now = self._clock()
        return {"time_utc": iso_seconds(now), "time_local": iso_seconds(local(now, self._zone))}

    def _fields(self, message: str, action: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = self._stamp()
        self._trail.append(f"{stamp['time_utc']} {message}")
        extra = {**stamp, **{k: v for k, v in fields.items() if v is not None}}
        if action:
            extra["action"] = action
        return extra

    def info(self, message: str, *, action: str | None = None, **fields: Any) -> None:
        self._log.info(message, extra=self._fields(message, action, fields), stacklevel=3)

    def debug(self, message: str, *, action: str | None = None, **fields: Any) -> None:
        # Per-record lines of bulk types: kept out of the trail so errors show the run's milestones.
        stamp = self._stamp()
        self._log.debug(message, extra={**stamp, "action": action, **fields}, stacklevel=3)

    def warning(self, message: str, *, action: str | None = None, **fields: Any) -> None:
        self._log.warning(message, extra=self._fields(message, action, fields), stacklevel=3)

    def error(
        self,
        message: str,
        exc: BaseException,
        *,
        previous_call: CallInfo | None = None,
        action: str | None = None,
        **fields: Any,
    ) -> None:
        """An error line with everything an operator needs to act without reading code."""
        detail: dict[str, Any]
        if isinstance(exc, SyncError):
            detail = exc.as_log()
            previous_call = exc.call or previous_call
        else:
            detail = {"error_type": type(exc).__name__, "error_code": "unexpected", "error_message": str(exc)}
        extra = {
            **self._stamp(),
            **detail,
            "code_location": code_location(exc),
            # Said outright when there was none, so a reader never assumes a call that was not made.
            "previous_call": previous_call.as_log() if previous_call else NO_CALL,
            "trail": list(self._trail),
            "api_user": self._api_user.model_dump(),
            **{k: v for k, v in fields.items() if v is not None},
        }
        if action:
            extra["action"] = action
        # Last line of defence: server text inside an error may echo a request with a secret in it.
        message, extra = redact(message), redact(extra)
        self._trail.append(f"{extra['time_utc']} ERROR {message}")
        self._log.error(message, extra=extra, stacklevel=3)

    def close(self) -> None:
        self._log.remove_keys([*self.keys, "correlation_id"])
