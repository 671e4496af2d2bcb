"""The paged ``GetAllCustomers`` fallback over the Severa simulator (real HTTP, real envelopes)
while customers are deleted between its pages (issue 11 class 9): index paging shifts every later
row down, so a plain "next page" skips one row per deletion. Nothing may be skipped, nothing
returned twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.datatypes.accounts import CUSTOMER_PAGE_SIZE
from severa_sync.engine.ports import Window
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import PAGE_OVERLAP, SeveraSource

simulators = pytest.importorskip("severa_sync_tools.simulators.severa")

KEY = "sim-key-9a1c0e5b37f2"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC))
ACCOUNTS = registry.get("accounts")
PAGED = "ICustomer/GetAllCustomers"


@pytest.fixture
def sim() -> Iterator[Any]:
    with simulators.SeveraSimulator(api_key=KEY, seed=False, now=NOW) as running:
        running.mass_update("Customer", 345, at=NOW - timedelta(days=1))
        yield running


def _source(url: str, **severa: object) -> SeveraSource:
    config = TenantConfig.model_validate({"tenant": "demo", "severa": {"url": url, **severa}})
    return SeveraSource(SeveraClient(config, Secret(KEY)), config)


def _in_order(source: SeveraSource) -> list[str]:
    """Every customer's GUID in Severa's own order, page by plain page (nothing changes meanwhile)."""
    out: list[str] = []
    while True:
        page = [
            record.GUID
            for record, _ in source.client.stream(
                "ICustomer/GetAllCustomers", options=2, startFromIndex=len(out), count=CUSTOMER_PAGE_SIZE
            )
        ]
        out += page
        if len(page) < CUSTOMER_PAGE_SIZE:
            return out


def _deleting_before_page(sim: Any, source: SeveraSource, page_no: int, guids: list[str]) -> list[int]:
    """Delete ``guids`` just before the ``page_no``-th page call (1-based); returns each call's index."""
    starts: list[int] = []
    real = source.client.stream

    def stream(operation: str, **params: Any) -> Any:
        if operation != PAGED:  # a customer's addresses (DataType.attached)
            return real(operation, **params)
        starts.append(params["startFromIndex"])
        if len(starts) == page_no:
            for guid in guids:
                assert sim.delete("Customer", guid)
        return real(operation, **params)

    source.client.stream = stream  # type: ignore[method-assign]
    return starts


#: Which rows vanish before the second page: (first index, how many), all below the boundary.
DELETIONS = {
    "one_at_the_boundary": (CUSTOMER_PAGE_SIZE - 1, 1),
    "one_in_the_middle": (40, 1),
    "the_first_row": (0, 1),
    "as_many_as_the_overlap": (CUSTOMER_PAGE_SIZE - PAGE_OVERLAP, PAGE_OVERLAP),
    "more_than_the_overlap": (30, PAGE_OVERLAP + 15),
    "a_whole_page": (0, CUSTOMER_PAGE_SIZE),
}


@pytest.mark.parametrize(("first", "count"), DELETIONS.values(), ids=DELETIONS.keys())
def test_deleting_before_a_page_boundary_skips_no_customer(sim: Any, first: int, count: int) -> None:
    source = _source(sim.url)
    order = _in_order(source)
    assert len(order) == 345
    deleted = order[first : first + count]
    starts = _deleting_before_page(sim, source, 2, deleted)
    read = [record.key for record in source.read_fallback(ACCOUNTS, EVERYTHING)]
    assert len(read) == len(set(read)), "a customer was returned twice"
    survivors = {guid for guid in order if guid not in deleted}
    # Rows deleted after they were read were read; every row still there must be.
    assert survivors <= set(read) <= set(order), "a customer was skipped"
    assert starts[0] == 0 and len(starts) >= 4


def test_deletions_at_every_boundary_skip_nothing(sim: Any) -> None:
    source = _source(sim.url)
    order = _in_order(source)
    real = source.client.stream
    deleted: list[str] = []

    def stream(operation: str, **params: Any) -> Any:
        if operation != PAGED:  # a customer's addresses (DataType.attached)
            return real(operation, **params)
        start = params["startFromIndex"]
        if start:  # before every later page: delete the row just before where it starts
            alive = [guid for guid in order if guid not in deleted]
            if start - 1 < len(alive):
                deleted.append(alive[start - 1])
                assert sim.delete("Customer", deleted[-1])
        return real(operation, **params)

    source.client.stream = stream  # type: ignore[method-assign]
    read = [record.key for record in source.read_fallback(ACCOUNTS, EVERYTHING)]
    assert len(read) == len(set(read))
    assert {guid for guid in order if guid not in deleted} <= set(read) <= set(order)


def test_customers_added_while_paging_do_not_hide_the_others(sim: Any) -> None:
    source = _source(sim.url)
    order = _in_order(source)
    real, added = source.client.stream, []

    def stream(operation: str, **params: Any) -> Any:
        if operation != PAGED:  # a customer's addresses (DataType.attached)
            return real(operation, **params)
        if params["startFromIndex"] and not added:
            added.extend(sim.mass_update("Customer", 30, at=NOW))
        return real(operation, **params)

    source.client.stream = stream  # type: ignore[method-assign]
    read = [record.key for record in source.read_fallback(ACCOUNTS, EVERYTHING)]
    assert len(read) == len(set(read))
    assert set(order) <= set(read)


def test_pages_are_read_past_the_size_limit(sim: Any) -> None:
    """A page is the smallest read there is: a tiny size limit must not stop the fallback."""
    source = _source(sim.url, max_response_bytes=1024)
    assert len(list(source.read_fallback(ACCOUNTS, EVERYTHING))) == 345
