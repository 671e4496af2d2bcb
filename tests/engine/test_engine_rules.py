"""The engine's rules over in-memory adapters: boundaries, failures, rewinds, locks, gates."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.engine.engine import RunStatus
from severa_sync.engine.ports import Versions
from severa_sync.errors import SeveraUnavailable
from severa_sync.timeutil import format_watermark, parse_watermark
from tests.engine.conftest import NOW
from tests.fakes import log_lines

T = NOW - timedelta(hours=2)


def wm(world, name="accounts"):
    return world.state.read_watermark("acme", name).watermark


def test_first_run_delivers_everything_and_watermark_follows_severa_clock(world):
    for i in range(5):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    result = world.engine.run("accounts")
    assert result.status is RunStatus.SUCCEEDED
    assert sorted(world.target.writes) == [f"a{i}" for i in range(5)]
    assert wm(world) == T + timedelta(minutes=4)  # largest change time delivered, below the signpost


def test_equal_timestamps_at_the_boundary_are_reread_but_not_redelivered(world):
    for i in range(3):
        world.source.put(f"a{i}", T)
    world.engine.run("accounts")
    world.source.put("late", T)  # committed later with the same timestamp as the watermark
    world.clock.now += timedelta(hours=1)
    world.engine.run("accounts")
    assert world.target.writes.count("late") == 1
    assert all(world.target.writes.count(f"a{i}") == 1 for i in range(3))


def test_minute_precision_is_covered_by_the_overlap(world):
    world.source.put("a", T.replace(second=40))
    world.engine.run("accounts")
    world.source.put("b", T.replace(second=45))  # after the watermark, inside the same minute
    world.clock.now += timedelta(hours=1)
    world.engine.run("accounts")
    assert "b" in world.target.writes
    assert world.source.reads[-1].start <= T.replace(second=40) - timedelta(minutes=2)


def test_records_changed_during_the_run_stay_above_the_watermark(world):
    world.source.put("old", T)
    world.source.put("during", NOW + timedelta(seconds=30))  # changed after the signpost
    world.engine.run("accounts")
    assert wm(world) <= NOW - timedelta(seconds=world.config.engine.skew_margin_seconds)
    world.source.put("during", NOW + timedelta(minutes=5), content="v2")
    world.clock.now += timedelta(hours=1)
    world.engine.run("accounts")
    assert (
        world.target.store["during"]
        == world.source.read_by_key(
            __import__("severa_sync.registry").registry.get("accounts"), "during"
        ).content_hash
    )


def test_failure_mid_read_keeps_watermark_and_rerun_delivers_rest_exactly_once(world):
    for i in range(1200):
        world.source.put(f"a{i:04}", T + timedelta(seconds=i))
    world.source.die_after = 700
    first = world.engine.run("accounts")
    assert first.status is RunStatus.RETRY_LATER
    assert wm(world) is None
    world.source.die_after = None
    second = world.engine.run("accounts", attempt=1)
    assert second.status is RunStatus.SUCCEEDED
    assert len(world.target.writes) == 1200 and len(set(world.target.writes)) == 1200


def test_hand_rewind_before_a_run_rereads_from_there(world):
    world.source.put("a", T)
    world.engine.run("accounts")
    world.state.rewind("acme", "accounts", T - timedelta(days=3), by="ops")
    world.clock.now += timedelta(hours=1)
    world.engine.run("accounts")
    assert world.source.reads[-1].start == T - timedelta(days=3, minutes=2)


def test_hand_edit_during_a_run_wins(world, caplog):
    world.source.put("a", T)
    original = world.target.deliver

    def deliver_and_edit(dt, records):
        world.state.rewind("acme", "accounts", T - timedelta(days=1), by="ops")
        return original(dt, records)

    world.target.deliver = deliver_and_edit
    world.engine.run("accounts")
    assert wm(world) == T - timedelta(days=1)
    assert any(line.get("action") == "watermark_kept_hand_edit" for line in log_lines(caplog))


def test_concurrent_invocation_loses_cleanly(world):
    assert world.state.acquire_lock("acme", "accounts", "other-run", 600)
    result = world.engine.run("accounts")
    assert result.status is RunStatus.SKIPPED
    assert world.source.reads == []


def test_schema_change_halts_the_tenant_until_acknowledged(world):
    world.engine.run("accounts")
    world.source.versions_value = Versions("1.0", "2026.2")
    assert world.engine.run("accounts").status is RunStatus.HALTED
    assert "schema_change" in world.alerts.kinds()
    reads = len(world.source.reads)
    assert world.engine.run("cases").status is RunStatus.HALTED
    assert len(world.source.reads) == reads
    world.state.clear_halt("acme", None, by="ops")
    assert world.engine.run("cases").status is RunStatus.SUCCEEDED


def test_api_version_change_warns_alerts_and_continues(world):
    world.engine.run("accounts")
    world.source.versions_value = Versions("1.1", "2019.1")
    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    assert world.alerts.kinds() == ["api_version_change"]
    assert world.state.read_versions("acme") == Versions("1.1", "2019.1")


def test_unavailable_source_is_retry_later_and_counts_attempts(world):
    world.source.fail_on_read[1] = SeveraUnavailable("HTTP 503")
    result = world.engine.run("accounts", attempt=2)
    assert result.status is RunStatus.RETRY_LATER
    assert world.state.read_watermark("acme", "accounts").unavailable_attempts == 3


def test_rejected_record_is_parked_summarised_once_and_retried(world, caplog):
    for i in range(3):
        world.source.put(f"i{i}", T + timedelta(minutes=i), event_at=T + timedelta(minutes=i))
    world.target.reject = {"i1"}
    result = world.engine.run("invoices")
    assert (result.delivered, result.failed) == (2, 1)
    assert world.alerts.kinds() == ["record_errors"]
    assert [item.key for item in world.state.parked("acme", "invoices")] == ["i1"]
    errors = [line for line in log_lines(caplog) if line["level"] == "ERROR"]
    assert errors[0]["message"].startswith("Invoice number i1 ERROR")
    assert errors[0]["previous_call"] and errors[0]["trail"] and errors[0]["api_user"]["email"]
    world.target.reject = set()
    world.clock.now += timedelta(days=1)
    world.engine.run("invoices")
    assert world.state.parked("acme", "invoices") == []
    assert world.source.acknowledged.count("i1") == 1


def test_range_windows_split_when_too_big_and_remember_the_size(world):
    for i in range(30):
        at = NOW - timedelta(days=3, hours=i)
        world.source.put(f"i{i}", at, event_at=at)
    world.source.too_big_over = 10
    result = world.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 30
    assert world.state.read_watermark("acme", "invoices").window_seconds in (86400, 3600)


def test_time_budget_makes_a_partial_run_that_resumes(world):
    for i in range(20):
        at = parse_watermark("2026-11-02T00:00:00Z") + timedelta(days=i)
        world.source.put(f"i{i}", at, event_at=at)
    # The first answer sizes the run's lock lease; the next two let some windows through.
    budget = iter([1000.0, 1000.0, 1000.0, 0.0])
    first = world.engine.run("invoices", remaining_seconds=lambda: next(budget, 0.0))
    assert first.status is RunStatus.PARTIAL
    partial_wm = wm(world, "invoices")
    assert partial_wm is not None and partial_wm < NOW - timedelta(days=2)
    second = world.engine.run("invoices")
    assert second.status is RunStatus.SUCCEEDED
    assert sorted(world.target.writes) == sorted(f"i{i}" for i in range(19))  # i19 is after the signpost
    assert len(world.target.writes) == len(set(world.target.writes))


def test_types_without_change_time_start_with_windowed_fallback(world):
    for i in range(5):
        at = parse_watermark("2026-11-05T08:00:00Z") + timedelta(days=i)
        world.source.put(f"h{i}", at, event_at=at)
    result = world.engine.run("hour_entries")
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 5
    assert world.source.fallback_reads and not world.source.reads
    assert format_watermark(wm(world, "hour_entries")) == format_watermark(NOW - timedelta(seconds=120))
    world.clock.now += timedelta(days=1)
    world.engine.run("hour_entries")
    assert world.source.reads  # the next run reads changes since the watermark


def test_too_big_since_answer_falls_back_to_the_paged_read_and_says_so(world, caplog):
    from severa_sync.errors import SeveraResponseTooLarge

    for i in range(4):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    world.source.fail_on_read[1] = SeveraResponseTooLarge("answer larger than 64 MiB")
    result = world.engine.run("accounts")
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 4
    assert world.source.fallback_reads
    assert any(line.get("action") == "fallback_used" for line in log_lines(caplog))
    assert wm(world) == NOW - timedelta(seconds=world.config.engine.skew_margin_seconds)


def test_cases_have_no_fallback_so_too_big_stops_the_run_and_keeps_the_watermark(world):
    from severa_sync.errors import SeveraResponseTooLarge

    world.source.put("c1", T)
    world.source.fail_on_read[1] = SeveraResponseTooLarge("answer larger than 64 MiB")
    # Not "Severa unavailable": waiting changes nothing (tests/engine/test_operator_view.py).
    assert world.engine.run("cases").status is RunStatus.FAILED
    assert wm(world, "cases") is None
