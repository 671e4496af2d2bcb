"""What an operator sees is true (issue 12 items 5-7): a run with record errors is not "succeeded",
the counts add up, the previous call belongs to the record, record_errors alerts only on news, every
alert says where the runbook is, and an answer too big to split is not "Severa unavailable"."""

from __future__ import annotations

import logging
from datetime import timedelta

from severa_sync.alerts.sns import format_alert
from severa_sync.engine.engine import RunStatus
from severa_sync.errors import MappingError, SeveraResponseTooLarge
from tests.engine.conftest import NOW
from tests.fakes import log_lines

T = NOW - timedelta(hours=2)


def _invoices(world, count: int) -> None:
    for i in range(count):
        at = T + timedelta(minutes=i)
        world.source.put(f"i{i}", at, event_at=at)


def test_a_run_with_record_errors_is_not_plain_succeeded_and_its_counts_add_up(world, caplog):
    _invoices(world, 3)
    world.target.reject = {"i1"}
    result = world.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED_WITH_ERRORS
    assert result.failed == 1
    assert result.fetched == result.delivered + result.skipped + result.failed + result.dropped_overlap
    end = log_lines(caplog)[-1]
    assert end["action"] == "run_finished" and end["status"] == "succeeded_with_errors"
    assert "succeeded with 1 record error" in end["message"]
    last_run = world.state._get("acme", "WATERMARK#invoices")["last_run"]
    assert last_run["status"] == "succeeded_with_errors" and last_run["dropped_overlap"] == 0


def test_counts_add_up_with_records_dropped_as_overlap(world):
    for i in range(3):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    world.engine.run("accounts")
    world.clock.now += timedelta(minutes=30)
    second = world.engine.run("accounts")  # re-reads the last two minutes: dropped, not re-sent
    assert second.dropped_overlap >= 1
    assert second.fetched == second.delivered + second.skipped + second.failed + second.dropped_overlap


def test_the_previous_call_of_a_record_error_is_that_records_or_none(world, caplog):
    _invoices(world, 2)
    world.target.reject = {"i1"}  # the memory target's rejection carries no call of its own
    world.engine.run("invoices")
    error = next(line for line in log_lines(caplog) if line.get("action") == "record_failed")
    assert error["previous_call"] == "none", "a leftover call of another record must not be shown"


def test_the_source_forgets_its_last_call_at_the_start_of_every_invocation(world):
    world.engine.run("accounts")
    world.engine.run("accounts")
    assert world.source.forgotten == 2


def test_record_errors_alert_only_when_the_parked_set_changes(world):
    _invoices(world, 3)
    world.target.reject = {"i1"}
    world.engine.run("invoices")
    assert world.alerts.kinds() == ["record_errors"]
    assert "i1" in world.alerts.sent[0].summary  # names the record (by its Severa key, no content)
    world.clock.now += timedelta(hours=1)
    again = world.engine.run("invoices")  # i1 fails again with the same error: nothing new to tell
    assert again.failed == 1 and world.alerts.kinds() == ["record_errors"]
    world.target.reject = {"i1", "i9"}
    later = NOW + timedelta(minutes=90)  # after the second run's watermark
    world.source.put("i9", later, event_at=later)
    world.clock.now += timedelta(hours=1)
    world.engine.run("invoices")  # a new record fails: alerted, naming only the new one
    assert world.alerts.kinds() == ["record_errors", "record_errors"]
    assert "i9" in world.alerts.sent[1].summary and "i1" not in world.alerts.sent[1].summary


def test_record_errors_alert_again_when_a_parked_records_error_changes(world):
    _invoices(world, 1)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    world.target.reject = set()
    world.target.fail_with["i0"] = MappingError("customer number missing")
    world.clock.now += timedelta(hours=1)
    world.engine.run("invoices")
    assert world.alerts.kinds() == ["record_errors", "record_errors"]
    assert "mapping_error" in world.alerts.sent[1].summary


def test_every_alert_the_engine_sends_says_what_to_do(world):
    _invoices(world, 1)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    _, body = format_alert(world.alerts.sent[0])
    assert "What to do:    see docs/operations.md#record_errors (the runbook)" in body.split("\n")


def test_an_answer_too_big_to_split_is_a_stop_with_an_alert_not_severa_unavailable(world, caplog):
    world.source.put("c1", T)
    world.source.fail_on_read[1] = SeveraResponseTooLarge("answer larger than 64 MiB")
    result = world.engine.run("cases")
    assert (result.status, result.error_code) == (RunStatus.FAILED, "severa_response_too_large")
    assert world.alerts.kinds() == ["response_too_large"]
    stop = next(line for line in log_lines(caplog) if line.get("action") == "run_failed")
    assert "unavailable" not in stop["message"].lower()


def test_one_watermark_advanced_line_per_run_at_info(world, caplog):
    for day in range(3):
        at = NOW - timedelta(days=3 - day)
        world.source.put(f"i{day}", at, event_at=at)
    # Backfill from 2026-11-01 in week windows: three checkpoints in one run.
    world.engine.run("invoices")
    advanced = [line for line in log_lines(caplog) if line.get("action") == "watermark_advanced"]
    assert [line["level"] for line in advanced].count("INFO") == 1


def test_one_record_found_is_singular(world, caplog):
    _invoices(world, 1)
    world.engine.run("invoices")
    messages = [line["message"] for line in log_lines(caplog)]
    assert "1 invoice found, starting to process invoices" in messages


def test_window_sizes_are_logged_as_readable_text(world, caplog):
    for i in range(30):
        at = NOW - timedelta(days=3, hours=i)
        world.source.put(f"i{i}", at, event_at=at)
    world.source.too_big_over = 10
    world.engine.run("invoices")
    split = next(line for line in log_lines(caplog) if line.get("action") == "window_split")
    assert "day" in split["message"] and ", 0:00:00" not in split["message"]
    assert "1 day, 0:00:00" not in " ".join(line["message"] for line in log_lines(caplog))


def test_a_buffering_target_logs_processed_correctly_only_after_the_flush(world, caplog):
    # The S3 target buffers until flush: a record is "processed correctly" once it is written.
    order: list[str] = []
    world.target.buffers_until_flush = True
    real_flush = world.target.flush

    def flush(data_type, window):
        order.append("flush")
        real_flush(data_type, window)

    world.target.flush = flush

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            action = getattr(record, "action", None)
            if action in ("record_delivered", "batch_started"):
                order.append(action)

    spy = Spy()
    logging.getLogger("severa-sync").addHandler(spy)
    try:
        world.source.put("h1", T, event_at=T)
        world.engine.run("hour_entries")
    finally:
        logging.getLogger("severa-sync").removeHandler(spy)
    assert "record_delivered" in order, order
    for at, event in enumerate(order):
        if event == "record_delivered":  # written since its batch was handed to the target
            batch = max(i for i in range(at) if order[i] == "batch_started")
            assert "flush" in order[batch:at], order


def test_a_parked_record_leaves_the_retry_set_only_after_the_flush_wrote_it(world):
    world.target.buffers_until_flush = True
    world.source.put("h1", T, event_at=T)
    world.target.reject = {"h1"}
    world.engine.run("hour_entries")
    world.target.reject = set()
    from severa_sync.errors import TargetUnavailable

    handed: list[str] = []
    real_deliver = world.target.deliver

    def deliver(data_type, records):
        handed.extend(record.key for record in records)
        return real_deliver(data_type, records)

    def broken_flush(data_type, window):
        if handed:  # the write of what was handed over fails
            raise TargetUnavailable("S3 PutObject failed: InternalError")

    world.target.deliver, world.target.flush = deliver, broken_flush
    world.clock.now += timedelta(hours=1)
    world.engine.run("hour_entries")
    assert handed == ["h1"]
    assert [item.key for item in world.state.parked("acme", "hour_entries")] == ["h1"]


def test_the_s3_target_is_known_to_buffer_until_flush():
    from severa_sync.targets.s3 import S3ExportTarget
    from severa_sync.targets.visma.target import VismaTarget

    assert S3ExportTarget.buffers_until_flush is True
    assert getattr(VismaTarget, "buffers_until_flush", False) is False  # writes as it delivers


def test_the_metrics_carry_the_overlap_so_they_add_up_too(world):
    for i in range(3):
        world.source.put(f"a{i}", T + timedelta(minutes=i))
    world.engine.run("accounts")
    world.clock.now += timedelta(minutes=30)
    world.engine.run("accounts")
    last = world.engine.telemetry.runs[-1]
    assert last.dropped_overlap >= 1
    assert last.fetched == last.delivered + last.skipped + last.failed + last.dropped_overlap


GUID = "5f1c0a2e-7b4d-4c1a-9e0f-2a3b4c5d6e7f"


def test_the_record_errors_alert_names_each_record_by_its_display_key_and_guid(world):
    """Audit items 6/7: "i1 (target_rejected)" cannot be looked up in Severa; "Invoice number 10502" can."""
    world.source.put(GUID, T, event_at=T, display="10502")
    world.target.reject = {GUID}
    world.engine.run("invoices")
    summary = world.alerts.sent[0].summary
    assert f"Invoice number 10502 (Severa GUID {GUID}, target_rejected)" in summary, summary
    _, body = format_alert(world.alerts.sent[0])
    assert "Invoice number 10502" in body


def test_a_record_without_a_display_key_is_named_by_its_guid(world):
    _invoices(world, 1)
    world.target.reject = {"i0"}
    world.engine.run("invoices")
    assert "Invoice number with Severa GUID i0 (target_rejected)" in world.alerts.sent[0].summary


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_connection_alert_names_the_severa_host(world):
    """Item 6: the alert, not only the log line, says which address could not be reached."""
    from severa_sync.errors import CallInfo
    from severa_sync.severa.faults import transport_error

    url = "https://api.severa.example.invalid:8443/webservice/S3/API.svc"
    error = transport_error(
        ConnectionRefusedError(111, "Connection refused"),
        CallInfo("severa", "IAPI/GetInvoices", {}),
        host=url,
    )
    world.source.fail_on_read[1] = error
    result = world.engine.run("invoices")
    assert result.status is RunStatus.FAILED and world.alerts.kinds() == ["connection"]
    summary = world.alerts.sent[0].summary
    assert "Severa at api.severa.example.invalid:8443" in summary and "severa.url" in summary, summary
    assert "refused" in summary
    _, body = format_alert(world.alerts.sent[0])
    assert "api.severa.example.invalid:8443" in body and "docs/operations.md#connection" in body


def test_the_connection_alert_names_the_visma_host(world):
    import requests

    from severa_sync.errors import CallInfo
    from severa_sync.targets.visma.wire import never_connected

    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError as exc:
        error = never_connected(
            exc, CallInfo("visma", "GET /v1/customer", {}), url=url, setting="visma.base_url", what="GET"
        )
    assert error is not None
    _invoices(world, 1)
    world.target.raise_at["i0"] = error
    world.engine.run("invoices")
    assert world.alerts.kinds() == ["connection"]
    summary = world.alerts.sent[0].summary
    assert f"Visma.net at 127.0.0.1:{port}" in summary and "visma.base_url" in summary, summary
