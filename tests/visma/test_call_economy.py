"""Issue 16, item 1: one Visma.net call per changed record; a look-up only where a document may exist.

Over real HTTP against the simulator: its request log says which calls were made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from severa_sync import registry
from severa_sync.engine.ports import Mapping
from severa_sync.errors import ForeignDocument, SyncError
from severa_sync.targets.visma import census
from severa_sync.targets.visma.census import KeyCensus

from .conftest import Harness
from .test_target import _account, _case, _invoice, _with_dependencies

ACCOUNTS, CASES, INVOICES = registry.get("accounts"), registry.get("cases"), registry.get("invoices")


def _calls(h: Harness, since: int = 0) -> list[str]:
    """The Visma.net calls made (token calls aside), as "METHOD path"."""
    return [f"{m} {p}" for m, p, _ in h.sim.requests[since:] if "token" not in p]


def test_a_first_run_creates_each_record_with_one_call_after_one_list_read(harness: Harness) -> None:
    h = harness
    delivery = h.target.deliver(ACCOUNTS, [_account(n) for n in range(1, 41)])
    assert len(delivery.delivered) == 40 and len(h.sim.customers) == 40
    calls = _calls(h)
    assert calls.count("GET /v1/customer") == 1  # the census: no customers yet, one page
    assert calls.count("POST /v1/customer") == 40
    assert len(calls) == 41  # no look-up per record


def test_an_update_costs_exactly_one_put(harness: Harness) -> None:
    h = harness
    h.target.deliver(ACCOUNTS, [_account(n) for n in range(1, 6)])
    before = len(h.sim.requests)
    h.target.deliver(ACCOUNTS, [_account(n, Name=f"Renamed {n} Oy") for n in range(1, 6)])
    assert _calls(h, before) == [f"PUT /v1/customer/{5000 + n}" for n in range(1, 6)]


def test_a_key_the_census_finds_is_looked_up_and_adopted_not_created(harness: Harness) -> None:
    h = harness
    h.sim.seed_customer("5002", "Account 2 Oy", vat_registration_id="FI00000002")
    delivery = h.target.deliver(ACCOUNTS, [_account(1), _account(2), _account(3)])
    assert len(delivery.delivered) == 3 and len(h.sim.customers) == 3
    assert _calls(h) == [
        "GET /v1/customer",
        "POST /v1/customer",
        "GET /v1/customer/5002",
        "PUT /v1/customer/5002",
        "POST /v1/customer",
    ]


def test_a_customer_typed_in_after_the_census_is_found_when_visma_refuses_the_post(harness: Harness) -> None:
    h = harness
    h.target.deliver(ACCOUNTS, [_account(1)])  # the census is taken: no 5002, 5003 then
    h.sim.seed_customer("5002", "Account 2 Oy", vat_registration_id="FI00000002")
    h.sim.seed_customer("5003", "Someone else Ab", vat_registration_id="SE99999999")
    before = len(h.sim.requests)
    delivery = h.target.deliver(ACCOUNTS, [_account(2), _account(3)])
    assert [r.key for r in delivery.delivered] == ["acc-2"]
    [(failed, error)] = delivery.failed
    assert failed.key == "acc-3" and isinstance(error, ForeignDocument)
    assert {c["number"]: c["name"] for c in h.sim.customers}["5003"] == "Someone else Ab"  # untouched
    assert _calls(h, before) == [
        "POST /v1/customer",  # refused: 5002 exists
        "GET /v1/customer/5002",
        "PUT /v1/customer/5002",
        "POST /v1/customer",  # refused: 5003 exists
        "GET /v1/customer/5003",  # not this account: parked, not changed
    ]


def test_a_project_typed_in_after_the_census_is_adopted_when_visma_refuses_the_post(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    h.target.deliver(CASES, [_case(1)])
    h.sim.seed_project("702", "5001", "Project 2")
    delivery = h.target.deliver(CASES, [_case(2)])
    assert delivery.delivered and len(h.sim.projects) == 2


def test_after_an_unknown_outcome_only_that_record_is_looked_up(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(timeout_seconds=0.5)
    _with_dependencies(h)
    h.target.deliver(ACCOUNTS, [_account(1)])
    h.target.deliver(CASES, [_case(1)])
    h.sim.stall("/v2/customerinvoice", calls=1, delay=1.5)
    first = h.target.deliver(INVOICES, [_invoice(10501)])
    [(parked, _)] = first.failed

    before = len(h.sim.requests)
    second = h.target.deliver(INVOICES, [parked, _invoice(10502), _invoice(10503)])
    assert len(second.delivered) == 3 and len(h.sim.invoices) == 3
    calls = _calls(h, before)
    # The parked invoice's creation was begun: looked up (the stalled POST never wrote, so it is sent);
    # the two new ones cost their POST alone.
    assert calls == [
        "GET /v1/customerinvoice",
        "POST /v2/customerinvoice",
        "POST /v2/customerinvoice",
        "POST /v2/customerinvoice",
    ]


def test_an_invoice_the_census_finds_is_looked_up_and_linked(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.target.deliver(ACCOUNTS, [_account(1)])
    existing = h.sim.seed_invoice("5001", "10501", document_date="2026-11-20", lines=[[1, 100], [1, 100]])
    h.target.deliver(CASES, [_case(1)])
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered and len(h.sim.invoices) == 1
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == existing  # type: ignore[union-attr]


# -- the census itself ---------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_census_reads_everything_once_then_only_what_changed_since(harness: Harness) -> None:
    h = harness
    for n in range(1, 121):  # three pages of 50
        h.sim.seed_customer(str(n), f"Customer {n}")
    clock = Clock()
    keys = KeyCensus(h.client, h.store, "demo", clock=clock)
    before = len(h.sim.requests)
    assert keys.holds(census.CUSTOMERS, "120") and not keys.holds(census.CUSTOMERS, "121")
    assert _calls(h, before) == ["GET /v1/customer"] * 3  # read once, in pages
    stored = h.store.get_mapping("demo", census.CENSUS, "customer")
    assert stored is not None and datetime.fromisoformat(stored.target_key) == clock.now

    # A later census (a new invocation) reads only what was modified since the last one, reaching a
    # day back; a document older than that is not read again.
    for row in h.sim.ledger.customers.values():
        row["lastModifiedDateTime"] = (clock.now - timedelta(days=3)).replace(tzinfo=None).isoformat()
    h.sim.seed_customer("121", "Customer 121")
    clock.now += census.FRESH_FOR + timedelta(seconds=1)
    before = len(h.sim.requests)
    assert keys.holds(census.CUSTOMERS, "121")
    assert not keys.holds(census.CUSTOMERS, "120")
    assert _calls(h, before) == ["GET /v1/customer"]


def test_a_census_cut_short_is_not_kept(harness: Harness) -> None:
    h = harness
    for n in range(1, 61):
        h.sim.seed_customer(str(n), f"Customer {n}")
    h.sim.fail_5xx("/v1/customer", calls=10, status=503)
    keys = KeyCensus(h.client, h.store, "demo")
    with pytest.raises(SyncError):
        keys.holds(census.CUSTOMERS, "1")
    assert h.store.get_mapping("demo", census.CENSUS, "customer") is None


def test_a_hand_edited_census_time_that_is_not_a_time_reads_everything(harness: Harness) -> None:
    h = harness
    h.sim.seed_customer("7", "Customer 7")
    h.store.put_mapping("demo", census.CENSUS, "customer", Mapping("yesterday", "", datetime.now(UTC), {}))
    assert KeyCensus(h.client, h.store, "demo").holds(census.CUSTOMERS, "7")
