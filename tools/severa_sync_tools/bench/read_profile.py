"""Bench 5: where one record's read time goes, in memory (no HTTP), stage by stage.

Bench 1 gives the ratios; this one explains them. The same captured answer (N customers, one
timestamp) is read from memory five ways, each adding one piece of work to the one before, and the
last is the real reader. The differences are the cost of each piece:

1. ``parse``: bare ``iterparse``, each record cleared and removed (what bench 1 calls iterparse);
2. ``+ texts``: each member's text read (one lxml proxy object per member);
3. ``+ dict and hash``: a dict per record and its blake2b content hash: the "typed floor" of bench 1;
4. ``+ tags``: each member's tag read too, which any check of the member layout needs;
5. ``severa-sync reader``: ``EnvelopeReader.records()``, adding the layout check, value conversion,
   the nil/empty-string distinction and the pydantic record.

Each stage's figure is the best of ``repeats`` passes (the least disturbed by other work on the
machine), in microseconds per record.
"""

from __future__ import annotations

import gc
import io
import secrets
import tempfile
import time
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import Any

from lxml import etree

from severa_sync.errors import CallInfo
from severa_sync.secrets import Secret
from severa_sync.severa import schema
from severa_sync.severa.streaming import EnvelopeReader
from severa_sync_tools.bench.measure import Figures
from severa_sync_tools.bench.replay import capture
from severa_sync_tools.bench.soap_read import (
    CHANGED_AT,
    CUSTOMER_TAG,
    NOW,
    OPERATION,
    _params_xml,
    floor_record,
)

_text_of = attrgetter("text")
_tag_of = attrgetter("tag")
NAMES = [member.name for member in schema.ENTITIES["Customer"]]


def _records(data: bytes) -> Any:
    """Each record element of the answer, then cleared and removed (as every stage does)."""
    for _event, elem in etree.iterparse(
        io.BytesIO(data), events=("end",), tag=CUSTOMER_TAG, resolve_entities=False, no_network=True
    ):
        yield elem
        elem.clear(keep_tail=False)
        parent = elem.getparent()
        if parent is not None:
            parent.remove(elem)


def _parse(data: bytes) -> int:
    return sum(1 for _elem in _records(data))


def _texts(data: bytes) -> int:
    count = 0
    for elem in _records(data):
        count += bool(list(map(_text_of, elem)))
    return count


def _dict_and_hash(data: bytes, *, tags: bool = False) -> int:
    count = 0
    for elem in _records(data):
        if tags:
            list(map(_tag_of, elem))
        record, content_hash = floor_record(elem, NAMES)
        count += bool(record["GUID"] and content_hash)
    return count


def _reader(data: bytes) -> int:
    call = CallInfo(system="severa", operation=OPERATION.qualified)
    return sum(1 for _record in EnvelopeReader(io.BytesIO(data), OPERATION, call=call).records())


STAGES: list[tuple[str, Callable[[bytes], int]]] = [
    ("parse (bare iterparse)", _parse),
    ("+ texts", _texts),
    ("+ dict and hash (typed floor)", _dict_and_hash),
    ("+ tags", lambda data: _dict_and_hash(data, tags=True)),
    ("severa-sync reader", _reader),
]


def capture_answer(size: int) -> bytes:
    """The simulator's answer of ``size`` bulk customers, as bench 1 replays it."""
    from severa_sync_tools.simulators.severa import SeveraSimulator

    api_key = Secret(secrets.token_urlsafe(24))
    with (
        tempfile.TemporaryDirectory(prefix="severa-sync-profile-") as work,
        SeveraSimulator(api_key=api_key.reveal(), seed=False, now=NOW) as sim,
    ):
        sim.mass_update("Customer", size, at=CHANGED_AT)
        path = Path(work, "answer.xml")
        capture(sim.url, OPERATION, _params_xml(), api_key, path)
        return path.read_bytes()


def run(size: int = 20_000, *, repeats: int = 5) -> Figures:
    data = capture_answer(size)
    rows: list[Figures] = []
    previous: float | None = None
    for name, stage in STAGES:
        best = float("inf")
        for _ in range(max(1, repeats)):
            gc.collect()
            started = time.perf_counter()
            read = stage(data)
            best = min(best, time.perf_counter() - started)
            if read != size:
                raise RuntimeError(f"stage {name!r} read {read} records, expected {size}")
        us = best / size * 1e6
        rows.append(
            {
                "stage": name,
                "us_per_record": round(us, 1),
                "added_us": None if previous is None else round(us - previous, 1),
            }
        )
        previous = us
    parse_us = rows[0]["us_per_record"]
    for row in rows:
        row["parse_over_stage"] = round(parse_us / row["us_per_record"], 2)
    return {"n": size, "repeats": repeats, "answer_bytes": len(data), "rows": rows, "targets": []}
