"""Every log line and alert a test produced, as an operator would read them, and a secret scan over them.

Log records are captured on the root logger (the powertools ``severa-sync`` logger propagates to it)
and rendered with the powertools formatter, so what is scanned is the JSON line CloudWatch would get,
extra fields included. Records of other loggers are rendered with their whole ``__dict__``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

SERVICE_LOGGER = "severa-sync"


class LogCapture(logging.Handler):
    """Thread-safe: the simulators' and the concurrent runs' threads log too."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._lock_records = threading.Lock()
        self.records: list[logging.LogRecord] = []
        service = logging.getLogger(SERVICE_LOGGER)
        self._json = next((h.formatter for h in service.handlers if h.formatter is not None), None)

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def clear(self) -> None:
        with self._lock_records:
            self.records.clear()

    def snapshot(self) -> list[logging.LogRecord]:
        with self._lock_records:
            return list(self.records)

    def render(self, record: logging.LogRecord) -> str:
        if record.name.startswith(SERVICE_LOGGER) and self._json is not None:
            return self._json.format(record)
        fields = {k: v for k, v in record.__dict__.items() if k not in ("args", "msg")}
        return json.dumps({"message": record.getMessage(), **fields}, default=repr)

    def lines(self) -> list[str]:
        return [self.render(record) for record in self.snapshot()]

    def structured(self) -> list[dict[str, Any]]:
        """The service's JSON lines parsed back (what Logs Insights queries)."""
        out = []
        for record in self.snapshot():
            if record.name.startswith(SERVICE_LOGGER):
                out.append(json.loads(self.render(record)))
        return out


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)


def leaked_secrets(texts: Iterable[str], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(secret, line) for every text holding one of ``secrets`` verbatim (empty secrets ignored)."""
    wanted = [s for s in set(secrets) if s]
    return [(secret, text) for text in texts for secret in wanted if secret in text]


def assert_no_secrets(texts: Iterable[str], secrets: Iterable[str], *, context: str = "") -> None:
    leaks = leaked_secrets(texts, secrets)
    if leaks:
        secret, line = leaks[0]
        masked = line.replace(secret, "<<SECRET>>")
        raise AssertionError(
            f"{len(leaks)} captured line(s) hold a configured secret{f' ({context})' if context else ''}; "
            f"first (secret masked): {masked[:2000]}"
        )


def partly_leaked(texts: Iterable[str], secrets: Iterable[str], window: int = 8) -> list[str]:
    """Pieces of ``window`` characters of a random secret (an issued token) found in ``texts``: a
    secret cut before it was masked leaves its first part behind, which the verbatim scan misses."""
    corpus = "\n".join(texts)
    pieces = {s[i : i + window] for s in secrets if len(s) >= window for i in range(len(s) - window + 1)}
    return sorted(piece for piece in pieces if piece in corpus)
