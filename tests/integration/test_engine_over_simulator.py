"""Issue 3's engine scenarios end to end: Severa simulator over HTTP, DynamoDB state in moto.

The target is in memory here (the real targets have their own suites); it upserts by GUID and
records every write, so "exactly once" is a count.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from severa_sync.engine.engine import RunStatus
from severa_sync.registry import get
from severa_sync.timeutil import parse_watermark

ACCOUNTS = get("accounts")


def customers(stack) -> set[str]:
    return {r["GUID"] for r in stack.sim.records("Customer")}


def watermark(stack, name="accounts"):
    return stack.state.read_watermark("acme", name).watermark


def test_first_run_then_equal_timestamps_at_the_boundary(stack):
    assert stack.engine.run("accounts").status is RunStatus.SUCCEEDED
    assert set(stack.target.store) == customers(stack)
    boundary = watermark(stack)
    late = stack.sim.upsert("Customer", {"Name": "Late Committer Oy", "Number": 9901}, at=boundary)
    assert stack.engine.run("accounts").status is RunStatus.SUCCEEDED
    writes = Counter(stack.target.writes)
    assert writes[late["GUID"]] == 1
    assert all(count == 1 for count in writes.values())


def test_records_changed_while_a_run_is_going_arrive_next_run(stack):
    guid = next(iter(customers(stack)))
    original = stack.target.deliver

    def deliver_and_edit(dt, records):
        if not getattr(deliver_and_edit, "done", False):
            deliver_and_edit.done = True
            stack.sim.upsert("Customer", {"GUID": guid, "Name": "Renamed During Run"})
        return original(dt, records)

    stack.target.deliver = deliver_and_edit
    stack.engine.run("accounts")
    stack.target.deliver = original
    stack.engine.run("accounts")
    latest = stack.source.read_by_key(ACCOUNTS, guid)
    assert stack.target.store[guid] == latest.content_hash


def test_mass_update_of_100k_sharing_one_timestamp(stack):
    at = stack.sim.now() - timedelta(minutes=30)
    guids = stack.sim.mass_update("Customer", 100_000, at=at)
    result = stack.engine.run("accounts")
    assert result.status is RunStatus.SUCCEEDED
    assert result.fetched >= 100_000
    assert set(guids) <= set(stack.target.store)
    assert len(stack.target.writes) == len(set(stack.target.writes))
    again = stack.engine.run("accounts")
    assert again.delivered == 0  # re-read by the overlap, never re-delivered


def test_failure_in_the_middle_then_rerun_delivers_the_rest_exactly_once(stack):
    stack.sim.mass_update("Customer", 3000, at=stack.sim.now() - timedelta(hours=1))
    stack.sim.truncate_next(operation="ICustomer/GetCustomersChangedSince")
    first = stack.engine.run("accounts")
    assert first.status is RunStatus.RETRY_LATER
    assert watermark(stack) is None
    second = stack.engine.run("accounts", attempt=1)
    assert second.status is RunStatus.SUCCEEDED
    assert set(stack.target.store) == customers(stack)
    assert all(count == 1 for count in Counter(stack.target.writes).values())


def test_maintenance_is_retry_later(stack):
    stack.sim.maintenance(calls=5)
    assert stack.engine.run("accounts").status is RunStatus.RETRY_LATER


def test_hand_rewind_before_a_run(stack):
    stack.engine.run("accounts")
    old = watermark(stack)
    stack.state.rewind("acme", "accounts", old - timedelta(days=30), by="test")
    stack.sim.reset_calls()
    stack.engine.run("accounts")
    call = next(c for c in stack.sim.calls if c.operation == "ICustomer/GetCustomersChangedSince")
    asked = parse_watermark(str(call.params["startDateTime"]))
    assert asked <= old - timedelta(days=30)


def test_hand_rewind_during_a_run_wins(stack):
    stack.engine.run("invoices")
    original = stack.target.deliver
    rewound_to = stack.sim.now() - timedelta(days=40)

    def deliver_and_rewind(dt, records):
        stack.state.rewind("acme", "invoices", rewound_to, by="test")
        return original(dt, records)

    stack.target.deliver = deliver_and_rewind
    # Changed inside the overlap but before the skew margin, so this run reads it.
    changed = stack.sim.now() - timedelta(minutes=3)
    stack.sim.upsert(
        "Invoice", {**stack.sim.records("Invoice")[0], "InvoiceStatus": "Ready for transfer"}, at=changed
    )
    stack.engine.run("invoices")
    assert watermark(stack, "invoices") == rewound_to


def test_two_concurrent_invocations_run_once(stack):
    stack.sim.slow(1.0, calls=1, operation="ICustomer/GetCustomersChangedSince")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(stack.engine.run("accounts"))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status.value for r in results) == ["skipped", "succeeded"]
    assert all(count == 1 for count in Counter(stack.target.writes).values())


def test_schema_change_halts_and_api_version_change_warns(stack):
    stack.engine.run("accounts")
    stack.sim.set_versions(api_version="2.0.0")
    assert stack.engine.run("accounts").status is RunStatus.SUCCEEDED
    assert "api_version_change" in stack.alerts.kinds()
    stack.sim.set_versions(schema_version="2030.1")
    assert stack.engine.run("accounts").status is RunStatus.HALTED
    assert stack.engine.run("invoices").status is RunStatus.HALTED
    assert "schema_change" in stack.alerts.kinds()
    assert stack.state.clear_halt("acme", None, by="test")
    assert stack.engine.run("invoices").status is RunStatus.SUCCEEDED


def test_partial_run_resumes_where_it_stopped(stack):
    budget = iter([1000.0] * 3 + [0.0])
    first = stack.engine.run("invoices", remaining_seconds=lambda: next(budget, 0.0))
    assert first.status is RunStatus.PARTIAL
    partial = watermark(stack, "invoices")
    second = stack.engine.run("invoices")
    assert second.status is RunStatus.SUCCEEDED
    assert watermark(stack, "invoices") > partial
    ready = {r["GUID"] for r in stack.sim.records("Invoice") if r["InvoiceStatus"] == "Ready for transfer"}
    assert ready == set()  # all acknowledged (MemoryTarget accepts everything)
    assert all(count == 1 for count in Counter(stack.target.writes).values())


@pytest.mark.parametrize("name", ["cases", "hour_entries", "absences"])
def test_other_types_run_over_the_simulator(stack, name):
    result = stack.engine.run(name)
    assert result.status is RunStatus.SUCCEEDED, result
    assert result.delivered > 0
