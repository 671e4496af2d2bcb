"""The readable progress log: the powertools JSON line, rendered; the JSON handler muted, then back."""

from __future__ import annotations

import io
import json
import logging
from zoneinfo import ZoneInfo

from rich.console import Console

from severa_sync.config import ApiUser
from severa_sync.errors import CallInfo, TargetRejected
from severa_sync.logs import SERVICE, RunLog
from severa_sync.secrets import Secret
from severa_sync_tools.console import progress_bar, readable_logs, render_line


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, markup=False), out


def _run_log() -> RunLog:
    return RunLog(
        tenant="acme",
        data_type="invoices",
        run_id="run-1",
        zone=ZoneInfo("Europe/Helsinki"),
        api_user=ApiUser(),
    )


def test_lines_show_local_time_type_and_message_and_errors_with_their_detail() -> None:
    console, out = _console()
    with readable_logs(console) as renderer:
        log = _run_log()
        log.info("Invoice transfer started [attempt 0]", action="run_started")
        error = TargetRejected(
            "VAT code 17 is not mapped",
            call=CallInfo("visma", "POST /v2/customerinvoice", {"ref": "10502"}, status=400),
        )
        log.error("Invoice number 10502 ERROR: unable to process invoice.", error, action="record_failed")
        log.close()
    lines = out.getvalue().splitlines()
    assert "invoices" in lines[0] and lines[0].endswith("Invoice transfer started [attempt 0]"), (
        "no markup eaten"
    )
    assert lines[0][:8].count(":") == 2
    assert "✗ Invoice number 10502 ERROR" in lines[1]
    assert "VAT code 17 is not mapped" in lines[2]
    assert "error code: target_rejected" in lines[3]
    assert "previous call: visma POST /v2/customerinvoice (HTTP 400)" in lines[4]
    assert (renderer.errors, renderer.warnings) == (1, 0)


def test_error_lines_are_red() -> None:
    line = {
        "level": "ERROR",
        "message": "stopped",
        "data_type": "accounts",
        "time_local": "2026-11-20T07:30:00+02:00",
        "error_message": "Severa says no",
        "error_code": "severa_authentication_failed",
    }
    text = render_line(line)
    assert text.plain.startswith("07:30:00  accounts")
    assert any("red" in str(span.style) for span in text.spans)
    assert not any("red" in str(span.style) for span in render_line({**line, "level": "INFO"}).spans)


def test_json_stdout_is_muted_during_and_restored_after() -> None:
    std = logging.getLogger(SERVICE)
    before, propagate = list(std.handlers), std.propagate
    console, out = _console()
    with readable_logs(console):
        assert std.handlers != before and not std.propagate
        _run_log().info("during", action="x")
    assert std.handlers == before and std.propagate == propagate
    assert "during" in out.getvalue() and "{" not in out.getvalue()


def test_json_mode_prints_the_lambda_line_unchanged() -> None:
    console, out = _console()
    with readable_logs(console, json_lines=True):
        log = _run_log()
        log.info("Invoice transfer ended", action="run_finished", fetched=3)
        log.close()
    line = json.loads(out.getvalue())
    assert line["message"] == "Invoice transfer ended" and line["action"] == "run_finished"
    assert line["run_id"] == "run-1" and line["service"] == SERVICE and line["fetched"] == 3


def test_a_secret_in_a_log_field_stays_hidden() -> None:
    console, out = _console()
    with readable_logs(console, json_lines=True):
        _run_log().info("token issued", action="token", token=Secret("s3cr3t-value"))
    assert "s3cr3t-value" not in out.getvalue()


def test_batches_drive_a_progress_bar_that_ends_with_the_run() -> None:
    console, _ = _console()
    progress = progress_bar(console)
    with progress, readable_logs(console, progress=progress):
        log = _run_log()
        log.info("3 invoices found", action="batch_started", count=3)
        (task,) = progress.tasks
        assert task.total == 3
        log.info("Invoice 1 was processed correctly", action="record_delivered")
        assert task.completed == 1
        log.info("Invoice transfer ended", action="run_finished")
        assert progress.tasks == []
