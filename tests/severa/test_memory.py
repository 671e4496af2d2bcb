"""A 100,000-record answer is read with flat memory: records are decoded one at a time and
dropped from the parse tree (tracemalloc for Python objects, RSS for libxml2's tree)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer, MakeClient

ABSENCES = "IActivity/GetActivitiesByDate"
RECORDS = 100_000
MB = 1024 * 1024


def _chunks(count: int) -> Iterator[bytes]:
    """The answer generated on the fly from one small record template (~0.3 KB, ~30 MB in all)."""
    head, tail = env.list_envelope(ABSENCES, [{"GUID": "%GUID%"}]).split(b"<a:Activity>")
    tail = tail.split(b"</a:Activity>", 1)[1]
    absence = {
        "EndDateTime": "2026-11-25T16:00:00Z",
        "GUID": "%GUID%",
        "IsAllDay": True,
        "Name": "Sick leave",
        "OwnerUserGUID": env.guid(3, 2),
        "StartDateTime": "2026-11-24T08:00:00Z",
    }
    template = b"<a:Activity>" + env.member_xml("Activity", absence).encode() + b"</a:Activity>"
    yield head
    for start in range(0, count, 500):
        yield b"".join(
            template.replace(b"%GUID%", env.guid(n, 17).encode())
            for n in range(start, min(start + 500, count))
        )
    yield tail


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow  # ~6 s: tracemalloc slows every allocation five-fold
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc")
def test_hundred_thousand_records_with_flat_memory(server: CannedServer, make_client: MakeClient) -> None:
    server.push(Canned(_chunks(RECORDS)))
    client = make_client(max_response_bytes=512 * MB)
    rss_before = _rss_bytes()
    rss_peak = rss_before
    count = 0
    last_guid = None
    tracemalloc.start()
    try:
        for record, _hash in client.stream(
            ABSENCES,
            startDate=env.BASE_TIME,
            endDate=env.BASE_TIME,
            activityCategory="Absences",
            businessUnitGuid="",
        ):
            count += 1
            last_guid = record.__dict__["GUID"]
            if count % 10_000 == 0:
                rss_peak = max(rss_peak, _rss_bytes())
        _current, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == RECORDS
    assert last_guid == env.guid(RECORDS - 1, 17)
    # Holding the records (or their elements) would take hundreds of MB; streaming stays small.
    assert python_peak < 16 * MB, f"Python heap peaked at {python_peak / MB:.1f} MB"
    assert rss_peak - rss_before < 64 * MB, f"RSS grew by {(rss_peak - rss_before) / MB:.1f} MB"
