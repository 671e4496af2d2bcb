"""Severa's daily call quota, as the service reports it on every answer (faults too).

Severa counts calls per organisation and resets at the UTC day change (100 000/day since 2016,
reference §6). Each answer carries ``<Quota>`` and ``<UsedQuota>`` SOAP headers. We keep
``quota_reserve_calls`` free for the customer's other integrations: once usage reaches
``limit - reserve`` we refuse to call (``SeveraQuotaReserve``) instead of spending the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from severa_sync.errors import CallInfo, SeveraQuotaReserve
from severa_sync.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class Quota:
    """The last reported quota; None where Severa has not said (no answer yet)."""

    limit: int | None
    used: int | None

    @property
    def remaining(self) -> int | None:
        if self.limit is None or self.used is None:
            return None
        return max(self.limit - self.used, 0)


def _as_int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None  # a garbled header must not fail a call that otherwise worked


class QuotaTracker:
    def __init__(self, reserve_calls: int, *, now: Callable[[], datetime] = utcnow):
        self.reserve_calls = reserve_calls
        self._now = now
        self._limit: int | None = None
        self._used: int | None = None
        self._day: date | None = None  # UTC day of the last report: the quota resets at midnight UTC

    @property
    def quota(self) -> Quota:
        return Quota(self._limit, self._used)

    def observe(self, name: str, text: str | None) -> None:
        """One header from an answer: ``Quota`` or ``UsedQuota`` (other names are ignored)."""
        value = _as_int(text)
        if value is None:
            return
        if name == "Quota":
            self._limit = value
        elif name == "UsedQuota":
            self._used = value
        else:
            return
        self._day = self._now().date()

    def observe_http_headers(self, headers: Mapping[str, str]) -> None:
        """The same numbers where a proxy or a newer service version sends them as HTTP headers."""
        for name in ("Quota", "UsedQuota"):
            if name in headers:
                self.observe(name, headers[name])

    def check(self, call: CallInfo) -> None:
        """Refuse ``call`` when usage is within the reserve of the daily limit."""
        if self._limit is None or self._used is None:
            return
        if self._day is not None and self._day != self._now().date():
            return  # a new UTC day: yesterday's usage no longer counts; the next answer tells
        threshold = self._limit - self.reserve_calls
        if self._used >= threshold:
            raise SeveraQuotaReserve(
                f"{call.operation} not called: {self._used} of {self._limit} daily Severa calls used, "
                f"{self.reserve_calls} are kept for other integrations (quota resets at 00:00 UTC)",
                call=call,
                detail={"quota": self._limit, "used": self._used, "reserve": self.reserve_calls},
            )
