"""A 100,000-record answer is streamed: chunked, complete, and in bounded server memory."""

from __future__ import annotations

import tracemalloc
from typing import Any, cast

from lxml import etree

from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import NOW, post

RECORDS = 100_000
MEMORY_BOUND = 16 * 1024 * 1024  # the answer is ~90 MB; the server may hold a few chunks of it


def test_mass_update_then_streamed_answer_in_bounded_memory(sim: SeveraSimulator) -> None:
    at = NOW.replace(hour=6, minute=0, second=0)
    touched = sim.mass_update("HourEntry", RECORDS, at=at)
    assert len(set(touched)) == RECORDS

    # A parser target without start/end callbacks: lxml checks well-formedness in C, builds no tree.
    parser = etree.XMLParser(target=cast(Any, _WellFormed()), resolve_entities=False, no_network=True)
    marker = b"</a:HourEntry>"
    records = 0
    received = 0
    tail = b""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        response = post(
            sim,
            "IHourEntry/GetHourEntriesChangedSince",
            "<startDate>2026-11-20T06:00:00Z</startDate>",
            stream=True,
        )
        assert response.status_code == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        for chunk in response.iter_content(chunk_size=64 * 1024):
            received += len(chunk)
            parser.feed(chunk)
            window = tail + chunk  # a marker may straddle two chunks
            records += window.count(marker)
            tail = window[-(len(marker) - 1) :]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parser.close() == "well-formed"  # raises XMLSyntaxError otherwise
    assert records == RECORDS
    assert peak - baseline < MEMORY_BOUND < received


class _WellFormed:
    def close(self) -> str:
        return "well-formed"
