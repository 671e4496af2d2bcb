"""Legal ways WCF may write the same answer, and answers from the wrong place, on demand.

- **DateTime forms.** WCF writes a ``DateTime`` by its ``Kind``: ``Utc`` with ``Z``, ``Unspecified``
  without a designator, ``Local`` with the server's offset; with up to 7 fractional digits
  (reference §0 #28: the real form is unknown, so a client must take them all). ``DateForms``
  picks one form for every answer, one per answer, or one per record.
- **An HTML page with HTTP 200**: what a wrong URL or a login/proxy page in front of Severa answers.

Characters XML 1.0 forbids are written as character references by ``wire.escape_text`` (as WCF does),
so data holding them needs no switch here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

#: name -> how one UTC instant is written in that form.
FORMS: dict[str, Callable[[datetime], str]] = {}
#: Modes besides a single form name.
MODES = ("per_answer", "per_record")


def _form(name: str) -> Callable[[Callable[[datetime], str]], Callable[[datetime], str]]:
    def register(func: Callable[[datetime], str]) -> Callable[[datetime], str]:
        FORMS[name] = func
        return func

    return register


def _iso(value: datetime, *, ticks: bool = False) -> str:
    naive = value.replace(tzinfo=None)
    if ticks:  # .NET's 7 digits (100 ns ticks), trailing zeros kept
        return naive.isoformat(timespec="microseconds") + "0"
    text = naive.isoformat(timespec="microseconds" if naive.microsecond else "seconds")
    return text.rstrip("0") if naive.microsecond else text


@_form("utc")
def _utc(value: datetime) -> str:
    return _iso(value) + "Z"


@_form("unspecified")
def _unspecified(value: datetime) -> str:
    return _iso(value)


@_form("offset")
def _offset(value: datetime) -> str:
    return _iso(value.astimezone(timezone(timedelta(hours=2)))) + "+02:00"


@_form("negative_offset")
def _negative_offset(value: datetime) -> str:
    return _iso(value.astimezone(timezone(timedelta(hours=-5)))) + "-05:00"


@_form("ticks")
def _ticks(value: datetime) -> str:
    return _iso(value, ticks=True) + "Z"


@_form("ticks_offset")
def _ticks_offset(value: datetime) -> str:
    return _iso(value.astimezone(timezone(timedelta(hours=3))), ticks=True) + "+03:00"


_current = threading.local()


def format_datetime(value: datetime) -> str:
    """The form in force for the record being written (``utc`` outside ``writing``)."""
    form = getattr(_current, "form", None)
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if form is None:
        return _utc(utc)
    try:
        return form(utc)
    except (OverflowError, ValueError):  # DateTime.MinValue/MaxValue cannot move zones: WCF writes Z
        return _utc(utc)


@contextmanager
def writing(form: Callable[[datetime], str] | None) -> Iterator[None]:
    previous = getattr(_current, "form", None)
    _current.form = form
    try:
        yield
    finally:
        _current.form = previous


class DateForms:
    """Which DateTime form answers use. Thread-safe: set by tests while the server answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = "utc"
        self._rng = random.Random(0)

    def set(self, mode: str, *, seed: int = 0) -> None:
        if mode not in FORMS and mode not in MODES:
            raise ValueError(f"unknown DateTime form {mode!r}; one of {', '.join((*FORMS, *MODES))}")
        with self._lock:
            self._mode = mode
            self._rng = random.Random(seed)

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    def for_answer(self) -> Callable[[Any], Callable[[datetime], str]] | None:
        """Per record of one answer: its form (None: the default ``utc``, nothing to switch)."""
        with self._lock:
            mode = self._mode
            if mode == "utc":
                return None
            if mode == "per_answer":
                chosen = FORMS[self._rng.choice(sorted(FORMS))]
                return lambda _record: chosen
            if mode == "per_record":
                rng = random.Random(self._rng.random())
                names = sorted(FORMS)
                return lambda _record: FORMS[rng.choice(names)]
            fixed = FORMS[mode]
            return lambda _record: fixed


#: What comes back from a wrong URL or a page in front of the service.
HTML_PAGES = {
    "login": (
        b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Sign in - Visma</title>"
        b"<link rel=stylesheet href=/s.css></head><body><form method=post action=/login>"
        b"<input name=username><input type=password name=password></form></body></html>"
    ),
    "wrong_url": (
        b"<!DOCTYPE html><html><head><title>Visma Severa</title></head><body><h1>Welcome to Visma "
        b"Severa</h1><p>Please log in to continue.<br></p></body></html>"
    ),
}


class HtmlPages:
    """The next ``calls`` calls (of ``operation``, or any) answer HTTP 200 with an HTML page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[list[Any]] = []  # [remaining, operation, page]

    def next(self, *, calls: int = 1, operation: str | None = None, page: str = "login") -> None:
        if page not in HTML_PAGES:
            raise ValueError(f"unknown page {page!r}; one of {', '.join(HTML_PAGES)}")
        if calls < 1:
            raise ValueError("calls must be at least 1")
        with self._lock:
            self._rules.append([calls, operation, page])

    def take(self, operation: str) -> bytes | None:
        with self._lock:
            for rule in self._rules:
                if rule[1] is None or rule[1] == operation:
                    rule[0] -= 1
                    if rule[0] == 0:
                        self._rules.remove(rule)
                    return HTML_PAGES[rule[2]]
            return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
