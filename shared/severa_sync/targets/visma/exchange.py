"""What the write and background-job helpers need of the HTTP client: a narrow port, so that
``client -> writes -> background`` is a line, not a circle back into ``client``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import requests

from severa_sync.config import VismaSettings
from severa_sync.errors import CallInfo, TargetError


class Exchange(Protocol):
    """``VismaClient`` as ``writes.py`` and ``background.py`` use it."""

    settings: VismaSettings

    def last_call(self) -> CallInfo | None: ...

    def has_time_for(self, wait: float, calls: int = 1) -> bool: ...

    def sleep(self, seconds: float) -> None: ...

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        raw_body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[requests.Response, CallInfo]: ...

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any | None: ...

    def fail(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        response: requests.Response,
        raw_body: str | None,
        call: CallInfo,
    ) -> TargetError: ...

    def log_failure(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        response: requests.Response | None,
        raw_body: str | None,
        call: CallInfo,
        reason: str | None = None,
    ) -> None: ...
