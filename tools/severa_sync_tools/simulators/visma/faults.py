"""Faults the Visma.net simulator can be told to inject, each for a number of matching calls."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["throttle", "reject", "fail", "timeout", "stall"]
Shape = Literal["message", "ipp", "text"]
#: In a fault's message: replaced by the bearer token the failing request carried, as a gateway or
#: an ERP error page that echoes the request's headers does.
ECHO_BEARER = "{bearer}"


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    path_prefix: str
    calls: int = 1
    #: None: any method.
    method: str | None = None
    #: Only requests whose raw body contains this text (e.g. an externalReference).
    body_contains: str | None = None
    status: int = 500
    #: fail: write first, then answer with ``status``.
    commit: bool = False
    #: timeout/stall: answer after this many seconds; None: drop the connection without answering.
    delay: float | None = None
    message: str = ""
    shape: Shape = "message"
    fault_code: str = "12000"
    retry_after: float = 1.0
    #: throttle: X-RateLimit-Remaining sent with the 429 (None: header left out).
    rate_remaining: int | None = 0

    def matches(self, method: str, path: str, body: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if not path.startswith(self.path_prefix):
            return False
        return self.body_contains is None or self.body_contains in body


class FaultPlan:
    """Thread-safe queue of faults; the first matching one with calls left is used up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.calls < 1:
            raise ValueError("calls must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def take(self, kinds: tuple[FaultKind, ...], method: str, path: str, body: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path, body):
                    fault.calls -= 1
                    if fault.calls == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]
