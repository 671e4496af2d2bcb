"""The queue read's and the retry set's rules over in-memory adapters (issue 11 classes 3 and 4).

The end-to-end proofs run over the Severa simulator (tests/integration/test_invoice_queue.py);
these pin the rules that need a source misbehaving in ways the simulator does not."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.engine.engine import RunStatus
from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import InvoiceStatusUnknown, SeveraResponseTooLarge, SeveraTimeout, TargetRejected
from severa_sync.registry import get
from severa_sync.state.memory import MemoryStateStore
from tests.engine.conftest import NOW
from tests.fakes import FakePayload, log_lines, make_record

T = NOW - timedelta(days=40)  # long before any watermark


def test_a_status_problem_stops_the_run_before_the_retry_set_and_any_read(world):
    world.source.put("i0", T, event_at=T)
    world.target.reject = {"i0"}
    world.source.queue = True
    world.engine.run("invoices")
    world.source.not_ready = InvoiceStatusUnknown(
        'invoices.source_status "X" is not a status; the tenant has "Y"'
    )
    reads, queue_reads = len(world.source.reads), len(world.source.queue_reads)
    result = world.engine.run("invoices")
    assert (result.status, result.error_code) == (RunStatus.FAILED, "invoice_status_unknown")
    assert (len(world.source.reads), len(world.source.queue_reads)) == (reads, queue_reads)
    assert world.alerts.sent[-1].kind == "configuration" and '"Y"' in world.alerts.sent[-1].summary


def test_the_queue_transfers_invoices_the_watermark_passed_long_ago(world):
    world.source.queue = True
    for i in range(3):
        world.source.put(f"i{i}", T, event_at=T)
    world.state.write_watermark("acme", "invoices", NOW, expected_raw=None, run_id="before")
    result = world.engine.run("invoices")
    assert result.delivered == 3 and world.source.acknowledged == ["i0", "i1", "i2"]


def test_a_server_that_lists_transferred_invoices_again_cannot_loop_the_drain(world, caplog, monkeypatch):
    world.source.queue = True
    world.source.put("i0", T, event_at=T)
    world.config = world.config.model_copy(
        update={"invoices": world.config.invoices.model_copy(update={"queue_page_size": 1})}
    )
    world.engine.config = world.config
    rows = world.source.rows
    monkeypatch.setattr(
        world.source,
        "read_waiting",
        lambda dt, limit, **_: iter([make_record(rows["i0"], with_change_time=False)]),
    )
    result = world.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED and world.source.acknowledged == ["i0"]
    assert "queue_no_progress" in [line.get("action") for line in log_lines(caplog)]


def test_a_queue_answer_over_the_size_limit_is_read_whole_at_the_same_page_size(world, caplog, monkeypatch):
    """``maxInvoices`` bounds the answer, so the cap only costs calls: never shrink for size."""
    world.source.queue = True
    for i in range(5):
        world.source.put(f"i{i}", T, event_at=T)
    original = world.source.read_waiting
    asked = []

    def read_waiting(dt, limit, *, past_size_cap=False):
        asked.append((limit, past_size_cap))
        if not past_size_cap:
            raise SeveraResponseTooLarge("too big")
        return original(dt, limit)

    monkeypatch.setattr(world.source, "read_waiting", read_waiting)
    result = world.engine.run("invoices")
    assert result.delivered == 5
    assert asked == [(100, False), (100, True)]
    assert "queue_page_shrunk" not in [line.get("action") for line in log_lines(caplog)]


def test_a_queue_answer_too_slow_asks_for_fewer(world, caplog, monkeypatch):
    world.source.queue = True
    for i in range(5):
        world.source.put(f"i{i}", T, event_at=T)
    original = world.source.read_waiting

    def read_waiting(dt, limit, *, past_size_cap=False):
        if limit > 25:
            raise SeveraTimeout("read timed out")
        return original(dt, limit)

    monkeypatch.setattr(world.source, "read_waiting", read_waiting)
    result = world.engine.run("invoices")
    assert result.delivered == 5
    assert [line["page_size"] for line in log_lines(caplog) if line.get("action") == "queue_page_shrunk"] == [
        50,
        25,
    ]


def test_the_date_read_skips_what_the_queue_handled_this_run(world):
    world.source.queue = True
    world.source.put("i0", NOW - timedelta(hours=3), event_at=NOW - timedelta(hours=3))
    world.target.reject = {"i0"}
    result = world.engine.run("invoices")
    assert result.failed == 1  # once, although both reads see it


def test_memory_store_counts_not_founds_and_starts_over():
    store = MemoryStateStore()
    record = SourceRecord("g1", None, "10501", "h", FakePayload(GUID="g1"))
    store.park("acme", "invoices", record, TargetRejected("no"))
    assert store.note_not_found("acme", "invoices", "nope", NOW) is None
    first = store.note_not_found("acme", "invoices", "g1", NOW)
    second = store.note_not_found("acme", "invoices", "g1", NOW + timedelta(hours=5))
    assert first is not None and second is not None
    assert (second.not_found_count, second.first_not_found_at) == (2, NOW)
    store.park("acme", "invoices", record, TargetRejected("again"))  # re-park keeps the count
    assert store.parked("acme", "invoices")[0].not_found_count == 2
    store.clear_not_found("acme", "invoices", "g1")
    [item] = store.parked("acme", "invoices")
    assert (item.not_found_count, item.first_not_found_at) == (0, None)


def test_a_parked_record_not_found_once_stays_and_is_dropped_after_a_day(world, caplog):
    world.source.queue = True
    world.source.put("i0", T, event_at=T)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    del world.source.rows["i0"]
    world.engine.run("invoices")
    assert [i.not_found_count for i in world.state.parked("acme", "invoices")] == [1]
    world.clock.now += timedelta(days=1)
    world.engine.run("invoices")
    assert world.state.parked("acme", "invoices") == []
    assert world.alerts.kinds()[-1] == "parked_record_dropped"
    assert get("invoices").queue_operation == "IInvoice/GetInvoicesByStatus"
