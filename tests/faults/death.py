"""Death of the "Lambda" at any step: ``Fate`` counts the steps of a container's work (a port call
before and after, a record read or delivered, an HTTP call sent and answered) and raises ``Killed``
at the chosen one; the ``Killable*`` wrappers put the steps around the real adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests


class Killed(BaseException):
    """The Lambda died here (timeout, out of memory, a host failure): no ``except``/``finally`` of
    the product gets to act, because every later port call dies too."""


@dataclass
class Fate:
    """Counts the steps of one container's work; dies at step ``kill_at``; runs ``hooks`` at theirs.

    Hooks are what happens in the world while a run is going (a person edits Severa, an operator
    rewinds the watermark, a second invocation starts); they run in the thread that reached the step.
    """

    kill_at: int | None = None
    #: Or die at the ``kill_nth`` step labelled exactly ``kill_on`` (e.g. "state.put_mapping": just
    #: before the call; "state.put_mapping done": just after it). Survives changes to how many
    #: steps come before it, unlike ``kill_at``.
    kill_on: str | None = None
    kill_nth: int = 1
    hooks: dict[int, Callable[[], None]] = field(default_factory=dict)
    #: Hooks at the ``nth`` step labelled exactly ``label``: [label, nth, hook].
    label_hooks: list[list[Any]] = field(default_factory=list)
    steps: int = 0
    dead: bool = False
    where: str | None = None
    run_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, label: str) -> None:
        with self._lock:
            if self.dead:
                raise Killed(f"already dead ({self.where})")
            self.steps += 1
            step = self.steps
            hook = self.hooks.pop(step, None)
            for entry in self.label_hooks:
                if entry[0] == label:
                    entry[1] -= 1
                    if entry[1] == 0:
                        hook = entry[2]
        if hook is not None:
            hook()
        if self.kill_on is not None and self.kill_on == label:
            self.kill_nth -= 1
            if self.kill_nth == 0:
                self.kill_at = step
        if self.kill_at is not None and step >= self.kill_at:
            with self._lock:
                self.dead, self.where = True, f"step {step}: {label}"
            raise Killed(self.where)

    def steps_left(self) -> int | None:
        return None if self.kill_at is None else self.kill_at - self.steps


class FateRef:
    """A container's current fate: a warm container lives on from one invocation to the next, each
    invocation step with its own fate (a new ``Fate`` per scheduled run)."""

    def __init__(self, fate: Fate | None = None):
        self.current = fate or Fate()

    def tick(self, label: str) -> None:
        self.current.tick(label)


class KillableSession(requests.Session):
    """Every HTTP call is two steps: before it is sent, and after the server answered (and wrote)."""

    def __init__(self, fate: FateRef, system: str):
        super().__init__()
        self.fate, self.system = fate, system

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.fate.tick(f"{self.system} {method!s} before")
        response = super().request(method, url, *args, **kwargs)
        self.fate.tick(f"{self.system} {method!s} answered")
        return response


class Killable:
    """A port or client whose every method call is a step before and after (attributes pass)."""

    def __init__(self, inner: Any, fate: FateRef, name: str):
        self._inner, self._fate, self._name = inner, fate, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value) or attr in ("last_call", "server_time"):
            return value
        fate, label = self._fate, f"{self._name}.{attr}"

        def step(*args: Any, **kwargs: Any) -> Any:
            fate.tick(label)
            result = value(*args, **kwargs)
            fate.tick(label + " done")
            return result

        return step


class KillableState(Killable):
    def acquire_lock(
        self, tenant: str, data_type: str, token: str, lease_seconds: int, *, run_id: str | None = None
    ) -> bool:
        self._fate.current.run_ids.append(run_id or token)
        return bool(self.__getattr__("acquire_lock")(tenant, data_type, token, lease_seconds, run_id=run_id))


class KillableSource(Killable):
    """Reads are streams: one step per record as the engine pulls it."""

    def _stream(self, records: Iterator[Any], label: str) -> Iterator[Any]:
        for record in records:
            self._fate.tick(label)
            yield record

    def read(self, data_type: Any, window: Any) -> Iterator[Any]:
        self._fate.tick("source.read")
        return self._stream(self._inner.read(data_type, window), "source.read record")

    def read_fallback(self, data_type: Any, window: Any) -> Iterator[Any]:
        self._fate.tick("source.read_fallback")
        return self._stream(self._inner.read_fallback(data_type, window), "source.read_fallback record")


class KillableTarget(Killable):
    """Delivery is one step per record: death at record k delivers the k-1 before it, then dies."""

    def deliver(self, data_type: Any, records: Any) -> Any:
        left = self._fate.current.steps_left()
        if left is not None and 0 < left <= len(records):
            self._inner.deliver(data_type, records[: left - 1])
            for _ in range(left):
                self._fate.tick(f"target.deliver record of {data_type.name}")
        delivery = self._inner.deliver(data_type, records)
        for _ in records:
            self._fate.tick(f"target.deliver record of {data_type.name}")
        return delivery
