"""The checks themselves can fail: each planted violation (a duplicate, a stale line, a watermark past
an undelivered record, an error line an operator cannot act on, a leaked secret) is reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from severa_sync.logs import logger
from severa_sync.secrets import Secret
from severa_sync_tools.simulators.visma import VismaSimulator

from . import checks
from .capture import LogCapture, assert_no_secrets, captured_logs, leaked_secrets
from .schedule import Schedule, Step
from .stack import TENANT, Aws
from .test_regressions import settings
from .world import World

pytestmark = pytest.mark.faults
ALL = ["accounts", "cases", "invoices", "hour_entries", "absences"]


@pytest.fixture
def world(visma: VismaSimulator, aws: Aws, capture: LogCapture) -> Iterator[World]:
    schedule = Schedule(2001, ALL, settings(), [Step("run", {"type": name}) for name in ALL])
    built = World(schedule, visma, aws, capture)
    try:
        for step in schedule.steps:
            built.apply(step)
        yield built
    finally:
        built.close()


def test_a_clean_world_has_no_problems(world: World) -> None:
    assert checks.final_problems(world.systems, ALL) == []
    assert all(checks.watermark_problems(world.systems, name) == [] for name in ALL)


def test_a_second_invoice_with_the_same_external_reference_is_a_duplicate(world: World) -> None:
    world.visma.seed_invoice("1001", "10501")
    assert "invoice 10501 is in Visma.net 2 times (externalReference)" in checks.final_problems(
        world.systems, ALL
    )


def test_an_edit_that_did_not_arrive_is_stale_content(world: World) -> None:
    world.company.change("rename_customer")
    problems = checks.final_problems(world.systems, ALL)
    assert any("is not the latest" in problem for problem in problems), problems


def test_only_an_edit_between_the_re_read_and_the_mark_is_the_documented_window(world: World) -> None:
    [invoice] = [r for r in world.severa.records("Invoice") if r.get("Number") == 10501]
    guid, calls = invoice["GUID"], world.severa.calls
    mark = next(
        i
        for i, c in enumerate(calls)
        if c.operation == "IInvoice/SetInvoiceStatus" and guid in c.params.values()
    )
    re_read = max(i for i, c in enumerate(calls[:mark]) if guid in {str(v) for v in c.params.values()})
    world.company.sim.upsert("Invoice", {"GUID": guid, "Title": "Edited late"}, at=world.company.clock())
    stale = "invoice 10501: Visma.net text"

    world.company.edited_at_call[guid] = re_read  # before the re-read: it should have been caught
    assert any(p.startswith(stale) for p in checks.final_problems(world.systems, ALL))
    world.company.edited_at_call[guid] = re_read + 1  # after it, just before SetInvoiceStatus
    assert not any(p.startswith(stale) for p in checks.final_problems(world.systems, ALL))


def test_an_hour_entry_in_two_day_files_is_found(world: World) -> None:
    lines = checks.s3_lines(world.systems, "hour_entries")
    guid, [(_day, line)] = next(iter(lines.items()))
    key = f"exports/tenant={TENANT}/type=hour_entries/date=2020-01-01/hour_entries.jsonl"
    world.aws.s3.put_object(Bucket=world.aws.bucket, Key=key, Body=json.dumps(line).encode() + b"\n")
    problems = checks.final_problems(world.systems, ALL)
    assert any(guid in problem and "2 S3 lines" in problem for problem in problems), problems


def test_a_watermark_moved_past_an_undelivered_record_is_found(world: World) -> None:
    world.company.change("new_customer")  # changed now, not delivered
    world.clock.advance(5)
    future = world.clock() + timedelta(days=1)
    world.operator.rewind(TENANT, "accounts", future, by="test")
    problems = checks.watermark_problems(world.systems, "accounts")
    assert any("is not in Visma.net" in problem for problem in problems), problems


def test_a_parked_invoice_that_could_go_is_found(world: World) -> None:
    done = next(r for r in world.severa.records("Invoice") if r.get("InvoiceStatus") == "Transferred")
    mark = world.operator.read_watermark(TENANT, "invoices").watermark
    assert mark is not None
    # Ready again, stamped before the watermark: a run that passed it should have taken it.
    world.severa.upsert(
        "Invoice", {"GUID": done["GUID"], "InvoiceStatus": "Ready for transfer"}, at=mark - timedelta(hours=1)
    )
    problems = checks.watermark_problems(world.systems, "invoices")
    assert any("still ready and not parked" in problem for problem in problems), problems


def test_log_checks_want_an_actionable_error_line_for_every_failure() -> None:
    call = {"system": "severa", "operation": "ICustomer/GetCustomersChangedSince"}
    lines: list[dict[str, Any]] = [
        {"run_id": "r1", "action": "run_finished", "status": "failed", "failed": 0},
        {"run_id": "r1", "level": "ERROR", "error_code": "severa_unavailable", "previous_call": None},
        {"run_id": "r2", "action": "run_finished", "status": "succeeded", "failed": 1},
        {
            "run_id": "r2",
            "level": "ERROR",
            "action": "record_failed",
            "error_code": "mapping_error",
            "display_key": "1",
        },
        {
            "run_id": "r3",
            "level": "ERROR",
            "error_code": "unexpected",
            "message": "boom",
            "previous_call": call,
        },
    ]
    problems = checks.log_problems(lines, alerts=[])
    assert any("r1 ended failed without an actionable ERROR line" in p for p in problems), problems
    assert any("r2: record error without" in p for p in problems), problems
    assert any("r2 parked 1 records but sent no alert" in p for p in problems), problems
    assert any("unclassified" in p for p in problems), problems
    fine: list[dict[str, Any]] = [
        {"run_id": "r4", "action": "run_finished", "status": "retry_later", "failed": 0},
        {"run_id": "r4", "level": "ERROR", "error_code": "severa_unavailable", "previous_call": call},
    ]
    assert checks.log_problems(fine, alerts=[]) == []


def test_the_secret_scan_finds_a_secret_in_any_field_of_a_log_line() -> None:
    secret = "planted-secret-value-123"
    with captured_logs() as capture:
        logger.info("an innocent message", extra={"nested": {"deep": [f"prefix {secret} suffix"]}})
        logging.getLogger("somewhere.else").warning("other %s", Secret(secret))
    assert leaked_secrets(capture.lines(), [secret])
    assert not leaked_secrets(capture.lines()[1:], [secret])  # a Secret renders as ***
    with pytest.raises(AssertionError) as caught:
        assert_no_secrets(capture.lines(), [secret])
    assert secret not in str(caught.value)


def test_log_checks_accept_a_quiet_run_only_when_its_record_errors_were_alerted_before() -> None:
    call = {"system": "visma", "operation": "POST /v2/customerinvoice"}

    def failed(run_id: str, key: str) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "level": "ERROR",
            "action": "record_failed",
            "error_code": "target_rejected",
            "error_message": "rejected",
            "record_key": key,
            "display_key": key,
            "previous_call": call,
        }

    def end(run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "action": "run_finished", "status": "succeeded_with_errors", "failed": 1}

    lines = [failed("r1", "i1"), end("r1"), failed("r2", "i1"), end("r2"), failed("r3", "i2"), end("r3")]
    problems = checks.log_problems(lines, alerts=["... r1 ..."])
    assert problems == ["run r3 parked 1 records but sent no alert"], problems


def test_only_the_paused_invocation_counts_as_the_lock_holder(world: World) -> None:
    """A lock owned by a parallel thread's invocation may be let go at any moment (seed 121): only the
    invocation paused at the step is known to hold it while the step runs."""
    world.systems.aws.dynamodb.put_item(
        TableName=world.aws.table,
        Item={
            "pk": {"S": f"TENANT#{TENANT}"},
            "sk": {"S": "LOCK#cases"},
            "owner": {"S": "req-3:0123456789ab"},
            "expires_at": {"N": str(int(world.clock().timestamp()) + 600)},
        },
    )
    now = world.clock()
    assert checks.paused_holder(world.systems, "cases", now, "req-3") == "req-3:0123456789ab"
    assert checks.paused_holder(world.systems, "cases", now, "req-30") is None
    assert checks.paused_holder(world.systems, "cases", now, None) is None
    assert checks.paused_holder(world.systems, "cases", now + timedelta(seconds=601), "req-3") is None
