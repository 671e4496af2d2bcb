"""Failures around the edges of a run: the time budget inside a batch, alerts that cannot be sent,
invoices that leave their status mid-transfer, parked records Severa faults on."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.alerts.sns import AlertPublishFailed
from severa_sync.engine.engine import RunStatus
from severa_sync.errors import (
    CallInfo,
    SeveraAuthenticationFailed,
    SeveraValidationFailed,
    TimeBudgetSpent,
)
from tests.engine.conftest import NOW
from tests.fakes import log_lines

T = NOW - timedelta(hours=2)


def _spent() -> TimeBudgetSpent:
    return TimeBudgetSpent("no time left for POST /v1/customer", call=CallInfo("visma", "POST /v1/customer"))


def test_time_budget_spent_inside_a_batch_is_partial_and_the_rerun_delivers_each_once(world, caplog):
    for i in range(10):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    world.target.raise_at["a6"] = _spent()  # the target refuses a call in the middle of the batch
    first = world.engine.run("accounts")
    assert first.status is RunStatus.PARTIAL and first.error_code is None
    assert world.state.read_watermark("acme", "accounts").watermark is None  # nothing counted done
    assert world.state.read_watermark("acme", "accounts").unavailable_attempts == 0
    assert "time_budget_spent" in [line.get("action") for line in log_lines(caplog)]
    second = world.engine.run("accounts")
    assert second.status is RunStatus.SUCCEEDED
    assert sorted(world.target.writes) == [f"a{i}" for i in range(10)]  # a0-a5 written once, not twice


def test_time_budget_spent_while_reading_parked_records_is_partial(world):
    world.source.put("i0", T, event_at=T)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    world.source.fail_by_key["i0"] = _spent()
    result = world.engine.run("invoices")
    assert result.status is RunStatus.PARTIAL
    assert [item.key for item in world.state.parked("acme", "invoices")] == ["i0"]


def test_an_alert_that_cannot_be_sent_is_logged_and_the_run_still_ends_classified(world, caplog):
    world.source.fail_on_read[1] = SeveraAuthenticationFailed("bad key")
    world.alerts.fail_with = AlertPublishFailed("SNS Publish to arn:topic failed: KMS.AccessDeniedException")
    result = world.engine.run("accounts")
    assert (result.status, result.error_code) == (RunStatus.FAILED, "severa_authentication_failed")
    lines = log_lines(caplog)
    failed_alert = [line for line in lines if line.get("action") == "alert_failed"]
    assert failed_alert and failed_alert[0]["alert_kind"] == "authentication"
    assert "KMS.AccessDeniedException" in failed_alert[0]["message"]
    assert lines[-1]["action"] == "run_finished"  # the summary line is still written
    assert world.state._get("acme", "WATERMARK#accounts")["last_run"]["status"] == "failed"


def test_an_invoice_that_left_its_status_during_the_transfer_is_not_marked_transferred(world, caplog):
    world.source.put("i0", T, event_at=T)
    world.source.put("i1", T + timedelta(minutes=1), event_at=T + timedelta(minutes=1))
    world.source.gone_by_key = {"i1"}  # set back to draft by hand while the run was writing it
    result = world.engine.run("invoices")
    assert (result.delivered, result.failed) == (1, 1)
    assert world.source.acknowledged == ["i0"]
    assert [item.key for item in world.state.parked("acme", "invoices")] == ["i1"]
    assert world.alerts.kinds() == ["record_errors"]
    error = next(
        line for line in log_lines(caplog) if line.get("record_key") == "i1" and line["level"] == "ERROR"
    )
    assert error["error_code"] == "invoice_changed_after_transfer" and "left the status" in error["message"]


def test_a_parked_record_severa_faults_on_stays_parked_and_the_run_goes_on(world, caplog):
    world.source.put("i0", T, event_at=T)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    world.target.reject = set()
    world.source.fail_by_key["i0"] = SeveraValidationFailed("invoice i0 cannot be read")
    world.source.put("i1", NOW + timedelta(minutes=30), event_at=NOW + timedelta(minutes=30))
    world.clock.now += timedelta(hours=1)
    result = world.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED
    assert "i1" in world.source.acknowledged and "i0" not in world.source.acknowledged
    assert [item.key for item in world.state.parked("acme", "invoices")] == ["i0"]
    line = next(line for line in log_lines(caplog) if line.get("action") == "retry_read_failed")
    assert line["display_key"] and line["error_code"] == "severa_validation_failed"


def test_the_windowed_fallback_also_reads_hour_entries_dated_ahead(world):
    world.source.put("past", T, event_at=T)
    world.source.put("planned", T, event_at=NOW + timedelta(days=10))  # logged ahead of its date
    result = world.engine.run("hour_entries")  # first run: the fallback by date
    assert result.status is RunStatus.SUCCEEDED
    assert sorted(world.target.writes) == ["past", "planned"]
    # The days ahead are read by date, a year of them in one window (with a day's margin each side).
    last = world.source.fallback_reads[-1]
    today = (NOW - timedelta(seconds=120)).date()
    assert last.start.date() == today and last.end.date() == today + timedelta(days=366 + 2)


def test_a_window_that_times_out_partway_counts_each_record_once(world, caplog):
    """The smaller windows re-read what the failed window already delivered: not fetched twice, not
    "skipped", so fetched = delivered + skipped + failed + dropped still describes Severa's records."""
    for i in range(10):
        world.source.put(f"i{i}", T + timedelta(minutes=i), event_at=T + timedelta(minutes=i))
    world.source.time_out_after = 4
    config = world.engine.config
    world.engine.config = config.model_copy(
        update={"engine": config.engine.model_copy(update={"batch_size": 2})}
    )  # two batches delivered before the answer times out
    result = world.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED
    assert "window_split" in [line.get("action") for line in log_lines(caplog)]
    assert (result.fetched, result.delivered, result.skipped) == (10, 10, 0)
    assert sorted(world.target.writes) == [f"i{i}" for i in range(10)]
