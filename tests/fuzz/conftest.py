"""Fixtures of the fuzz suite: a canned HTTP server on 127.0.0.1 and the log capture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.capture import LogCapture, captured_logs

from .http_stub import CannedServer


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    stub = CannedServer().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def logs() -> Iterator[LogCapture]:
    """One capture for a whole module: hypothesis runs many examples inside one test."""
    with captured_logs() as capture:
        yield capture
