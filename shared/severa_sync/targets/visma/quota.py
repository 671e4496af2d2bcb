"""Visma.net's request quota, paced from the answers' own headers (visma-net-api.md section 9).

Every API answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds until the fixed
window resets; policy ``4-fixed-window``, "X requests per hour for each company and client"). The
company's other integrations share the same quota, so severa-sync stops short of it: once
``Remaining`` is down to ``visma.quota_reserve_percent`` of the limit, no further call is started
before the window resets, and the run pauses (``TargetQuotaPaused``) instead of running into 429s.
A 429 that says the quota is spent (``Remaining`` 0) pauses the same way when its ``Retry-After`` is
longer than the run can wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from severa_sync.config import VismaSettings
from severa_sync.errors import CallInfo, TargetQuotaPaused


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, ValueError, OverflowError):
        return None


class QuotaWindow:
    """What the last answer said about the window, and whether another call fits the budget."""

    def __init__(self, settings: VismaSettings, monotonic: Callable[[], float] = time.monotonic):
        self._percent = settings.quota_reserve_percent
        self._window = float(settings.quota_window_seconds)
        self._monotonic = monotonic
        self.limit: int | None = None
        self.remaining: int | None = None
        self._resets_at: float | None = None  # monotonic time the window resets

    @property
    def reserve(self) -> int:
        return 0 if self.limit is None else math.ceil(self.limit * self._percent / 100)

    @property
    def budget(self) -> int | None:
        """Calls a whole window allows severa-sync: the limit less the reserve."""
        return None if self.limit is None else max(self.limit - self.reserve, 1)

    def resets_in(self) -> float:
        if self._resets_at is None:
            return 0.0
        return max(self._resets_at - self._monotonic(), 0.0)

    def observe(self, headers: Mapping[str, str]) -> None:
        limit, remaining = _int(headers, "X-RateLimit-Limit"), _int(headers, "X-RateLimit-Remaining")
        reset = _int(headers, "X-RateLimit-Reset")
        if limit is None or remaining is None:
            return  # an answer without the headers (a gateway page) says nothing about the window
        self.limit, self.remaining = limit, remaining
        # An epoch time (VNI's habit) is not "seconds until": taken as a whole window.
        seconds = reset if reset is not None and 0 <= reset <= self._window else self._window
        self._resets_at = self._monotonic() + seconds

    def refused(self, retry_after: float) -> None:
        """A 429 for a spent window: no call until its ``Retry-After`` has passed."""
        self.remaining = 0
        self._resets_at = self._monotonic() + retry_after

    def waited(self) -> None:
        """After a 429's ``Retry-After`` was waited out: the next answer tells what is left."""
        self.remaining = None

    def check(self, operation: str) -> None:
        """Raises ``TargetQuotaPaused`` when the window's budget is spent and it has not reset yet."""
        if self.remaining is None or self.remaining > self.reserve:
            return
        resets_in = self.resets_in()
        if resets_in <= 0:
            self.remaining = None  # a new window: its first answer tells
            return
        raise self.paused(operation, resets_in)

    def paused(self, operation: str, resets_in: float, call: CallInfo | None = None) -> TargetQuotaPaused:
        return TargetQuotaPaused(
            f"Visma.net quota window spent down to the reserve ({self.remaining} of {self.limit} calls "
            f"left, {self.reserve} kept for other integrations); it resets in {math.ceil(resets_in)} s",
            resets_in_seconds=resets_in,
            budget=self.budget,
            window_seconds=self._window,
            call=call or CallInfo("visma", operation),
            detail={"limit": self.limit, "remaining": self.remaining, "reserve": self.reserve},
        )
