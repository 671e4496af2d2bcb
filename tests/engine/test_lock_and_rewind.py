"""One invocation per lock (issue 11 class 5) and the operator's rewind winning in every kind of run
(class 10), over the in-memory adapters."""

from __future__ import annotations

import time
from datetime import timedelta

from severa_sync.engine.engine import RunStatus
from severa_sync.errors import SeveraResponseTooLarge
from severa_sync.timeutil import format_watermark, parse_watermark
from tests.engine.conftest import NOW
from tests.fakes import log_lines

T = NOW - timedelta(hours=2)
LOCK = ("TENANT#acme", "LOCK#accounts")


def actions(caplog) -> list[str]:
    return [line.get("action", "") for line in log_lines(caplog)]


# --- class 5: a lock belongs to one invocation ------------------------------------------------
def test_a_second_live_invocation_with_the_same_run_id_is_refused(world):
    """Step Functions retried a Lambda service error while the first attempt still ran: both carry
    the run id; only the first may hold the lock."""
    for i in range(3):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    original, second, started = world.target.deliver, [], []

    def deliver_while_a_retry_starts(dt, records):
        if not started:
            started.append(True)
            second.append(world.engine.run("accounts", run_id="accounts-run-1", attempt=1))
        return original(dt, records)

    world.target.deliver = deliver_while_a_retry_starts
    first = world.engine.run("accounts", run_id="accounts-run-1")
    assert first.status is RunStatus.SUCCEEDED
    (retry,) = second
    assert retry.status is RunStatus.SKIPPED and retry.error_code == "lock_busy"
    assert len(world.source.reads) == 1  # the refused attempt read nothing
    assert LOCK not in world.state.items  # released by its holder


def test_the_lock_names_its_invocation_and_run(world):
    seen = {}

    def deliver_and_look(dt, records, original=world.target.deliver):
        seen.update(world.state.items[LOCK])
        return original(dt, records)

    world.source.put("a", T)
    world.target.deliver = deliver_and_look
    world.engine.run("accounts", run_id="accounts-run-7", invocation_id="req-42")
    assert seen["run_id"] == "accounts-run-7"
    assert seen["owner"].startswith("req-42:") and seen["owner"] != "accounts-run-7"


def test_the_lease_covers_the_invocation_s_remaining_time(world):
    """A lease shorter than the Lambda's life would let a second invocation in while it still runs."""
    seen = {}

    def deliver_and_look(dt, records, original=world.target.deliver):
        seen.update(world.state.items[LOCK])
        return original(dt, records)

    world.source.put("a", T)
    world.target.deliver = deliver_and_look
    world.engine.run("accounts", remaining_seconds=lambda: 5000.0)
    assert seen["expires_at"] - time.time() > 4900


def test_a_run_that_lost_its_lock_writes_no_watermark(world, caplog):
    """A run outliving its lease (a local run without a deadline) must not write over the one that
    took the lock after it: the lock is kept at each checkpoint, and losing it stops the run."""
    world.source.put("a", T)
    lease = world.config.engine.lock_lease_seconds

    def deliver_slowly(dt, records, original=world.target.deliver):
        world.clock.now += timedelta(seconds=lease + 1)
        world.state.items[LOCK]["owner"] = "someone-else"  # the lease ran out and was taken
        return original(dt, records)

    world.target.deliver = deliver_slowly
    result = world.engine.run("accounts")
    assert result.status is RunStatus.FAILED and result.error_code == "lock_lost"
    assert world.state.read_watermark("acme", "accounts").watermark is None
    assert world.state.items[LOCK]["owner"] == "someone-else"  # not released by the loser
    assert any(line.get("error_code") == "lock_lost" for line in log_lines(caplog))


# --- class 10: the operator's value always wins, and the run says so ----------------------------
def rewind_during_delivery(world, data_type: str, to):
    """Rewind at the first delivery; returns the run's remaining time: ample until then, spent after."""
    original = world.target.deliver
    done = []

    def deliver_and_rewind(dt, records):
        if not done:
            done.append(world.state.rewind("acme", data_type, to, by="ops"))
        return original(dt, records)

    world.target.deliver = deliver_and_rewind
    return lambda: 1.0 if done else 900.0


def test_a_rewind_during_a_paged_fallback_run_that_runs_out_of_time_wins(world, caplog):
    world.state.write_watermark("acme", "accounts", T, expected_raw=None, run_id="before")
    for i in range(4):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    # The primary read is too big: page through everything.
    world.source.fail_on_read[1] = SeveraResponseTooLarge("too big", call=None)
    world.config = world.engine.config = world.config.model_copy(
        update={"engine": world.config.engine.model_copy(update={"batch_size": 1})}
    )
    rewound = T - timedelta(days=3)
    # Time runs out after the first batch: the fallback would save its resume point.
    remaining = rewind_during_delivery(world, "accounts", rewound)
    result = world.engine.run("accounts", remaining_seconds=remaining)
    stored = world.state.read_watermark("acme", "accounts")
    assert stored.raw == format_watermark(rewound)
    assert stored.resume is None  # the run's resume point is not written over the rewind
    assert "watermark_kept_hand_edit" in actions(caplog)
    assert result.status is RunStatus.SUCCEEDED


def test_a_rewind_during_a_range_run_wins(world, caplog):
    for i in range(3):
        world.source.put(f"i{i}", NOW - timedelta(days=5 - i))
    world.engine.run("invoices")
    world.source.put("late", NOW + timedelta(hours=1))
    world.clock.now += timedelta(days=1)
    rewound = NOW - timedelta(days=20)
    rewind_during_delivery(world, "invoices", rewound)
    world.engine.run("invoices")
    assert world.state.read_watermark("acme", "invoices").raw == format_watermark(rewound)
    assert "watermark_kept_hand_edit" in actions(caplog)


def test_a_rewind_during_a_since_run_wins(world, caplog):
    world.source.put("a", T)
    rewound = T - timedelta(days=1)
    rewind_during_delivery(world, "cases", rewound)
    world.engine.run("cases")
    assert world.state.read_watermark("acme", "cases").raw == format_watermark(rewound)
    assert "watermark_kept_hand_edit" in actions(caplog)


def test_a_console_edit_that_leaves_the_resume_point_still_wins(world, caplog):
    """The runbook says to remove ``resume``; someone who forgets must still get their value."""
    world.state.write_watermark("acme", "accounts", T, expected_raw=None, run_id="before")
    for i in range(4):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    world.source.fail_on_read[1] = SeveraResponseTooLarge("too big", call=None)
    world.config = world.engine.config = world.config.model_copy(
        update={"engine": world.config.engine.model_copy(update={"batch_size": 1})}
    )
    delivered = []

    def deliver_once(dt, records, original=world.target.deliver):
        delivered.append(len(records))
        return original(dt, records)

    world.target.deliver = deliver_once
    world.engine.run("accounts", remaining_seconds=lambda: 1.0 if delivered else 900.0)
    item = world.state.items[("TENANT#acme", "WATERMARK#accounts")]
    assert (item.get("resume") or {}).get("mode") == "fallback", "precondition: a partial fallback run"
    rewound = T - timedelta(days=40)
    item["watermark"] = format_watermark(rewound)  # edited by hand, resume left in place
    world.source.fallback_reads.clear()
    world.engine.run("accounts")
    assert world.source.fallback_reads == []  # the old run's fallback is not resumed ...
    assert world.source.reads[-1].start == rewound - timedelta(minutes=2)  # ... the hand-set value is
    assert "resume_ignored" in actions(caplog)


def test_the_overlap_dedup_set_written_with_a_watermark_is_its_own(world):
    world.source.put("a", T)
    world.engine.run("accounts")
    stored = world.state.read_watermark("acme", "accounts")
    assert stored.resume is not None and stored.resume.for_watermark == stored.raw


# --- class 8: the size limit never stops a type -----------------------------------------------
def test_cases_have_no_fallback_and_read_a_mass_update_past_the_limit(world):
    for i in range(30):
        world.source.put(f"c{i}", T)
    world.source.too_big_over = 5
    result = world.engine.run("cases")
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 30
    assert world.source.reads[-1].past_size_cap


def test_a_range_window_that_cannot_shrink_is_read_past_the_limit(world):
    for i in range(12):  # one minute holds them all
        world.source.put(f"i{i}", T, event_at=T + timedelta(seconds=i))
    world.source.too_big_over = 3
    result = world.engine.run("absences")  # weekly windows never shrink
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 12
    world.source.reads.clear()
    world.source.rows.clear()
    for i in range(12):
        world.source.put(f"n{i}", T, event_at=T + timedelta(seconds=i))
    world.source.too_big_over = 3
    assert world.engine.run("invoices").status is RunStatus.SUCCEEDED
    assert {f"n{i}" for i in range(12)} <= set(world.target.store)
    smallest = [w for w in world.source.reads if w.past_size_cap]
    assert smallest and all(w.end - w.start == timedelta(minutes=1) for w in smallest)


def test_a_resume_point_edited_into_something_else_is_ignored_and_the_run_says_so(world, caplog):
    """A hand edit that leaves no readable resume point: the run starts from the watermark."""
    world.source.put("a", T)
    world.engine.run("accounts")
    item = world.state.items[("TENANT#acme", "WATERMARK#accounts")]
    watermark = parse_watermark(item["watermark"])
    item["resume"] = {"mode": "fallback", "cursor": "yesterday"}  # not a time: unreadable
    world.source.fallback_reads.clear()
    world.engine.run("accounts")
    assert world.source.fallback_reads == []  # not resumed as a fallback ...
    assert world.source.reads[-1].start == watermark - timedelta(minutes=2)  # ... read from the watermark
    ignored = [r for r in caplog.records if getattr(r, "action", None) == "resume_ignored"]
    assert ignored and "unreadable" in ignored[-1].getMessage()
