"""Named, deterministic schedules for the nastiest cases: each is exactly one story, so when it fails
the name says what broke. Every one also passes the random suite's checks (``world.play``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from severa_sync_tools.simulators.visma import VismaSimulator

from .capture import LogCapture
from .checks import sns_messages
from .schedule import Schedule, Step
from .stack import TENANT, Aws
from .world import World, play

pytestmark = pytest.mark.faults


def settings(**overrides: Any) -> dict[str, Any]:
    return {
        "batch_size": 500,
        "background_threshold_lines": 200,
        "skew_seconds": 0,
        "quota_reserve": 0,
        **overrides,
    }


def run(data_type: str, **options: Any) -> Step:
    return Step("run", {"type": data_type, **options})


def change(what: str, at: str = "now", seconds: int = 0) -> Step:
    return Step("change", {"what": what, "at": at, "seconds": seconds})


def advance(seconds: int) -> Step:
    return Step("advance", {"seconds": seconds})


def statuses(world: World, data_type: str) -> list[str]:
    return [
        str(o.answer.get("status")) + (f":{o.answer['error_code']}" if o.answer.get("error_code") else "")
        for o in world.stack.outcomes
        if o.data_type == data_type and o.answer is not None
    ]


def expect_status(data_type: str, wanted: str) -> Callable[[World], list[str]]:
    def inspect(world: World) -> list[str]:
        seen = statuses(world, data_type)
        return (
            [] if any(s.startswith(wanted) for s in seen) else [f"no {data_type} run ended {wanted}: {seen}"]
        )

    return inspect


def retries_exhausted(world: World) -> list[str]:
    problems = []
    halts = [h for h in world.operator.halts(TENANT) if h.data_type == "invoices"]
    if not halts or halts[0].code != "retries_exhausted":
        problems.append(f"no retries_exhausted halt of invoices: {halts}")
    endings = [(e.status, e.error) for e in world.stack.executions if e is not None]
    if ("FAILED", "RetriesExhausted") not in endings:
        problems.append(f"the retry execution did not end RetriesExhausted: {endings}")
    attempts = len([s for s in statuses(world, "invoices") if s.startswith("retry_later")])
    if attempts != 16:  # the scheduled run and 15 retries
        problems.append(f"{attempts} invoices runs met the maintenance break, not 16")
    if not any("halted" in message for message in sns_messages(world.aws)):
        problems.append("no alert said the invoices were halted")
    return problems


def schema_halt(world: World) -> list[str]:
    halts = world.operator.halts(TENANT)
    problems = (
        [] if any(h.data_type is None and h.code == "schema_change" for h in halts) else [f"halts: {halts}"]
    )
    for data_type in ("accounts", "invoices"):
        if "halted" not in statuses(world, data_type)[-1]:
            problems.append(f"{data_type} ran after the schema change: {statuses(world, data_type)}")
    return problems


REGRESSIONS: dict[str, tuple[Schedule, Callable[[World], list[str]] | None]] = {
    # A record changed exactly at the stored watermark and committed later: the next read starts
    # two minutes early, inclusive, because Severa compares to the (nearest) minute.
    "equal_timestamp_at_the_watermark": (
        Schedule(
            1001,
            ["accounts"],
            settings(),
            [
                advance(44),
                change("rename_customer"),  # stamped 09:00:45
                advance(600),
                run("accounts"),  # watermark = that change time (older than signpost - margin)
                advance(60),
                change("rename_customer", "boundary", 0),  # another change at 09:00:45, committed now
                run("accounts"),
            ],
        ),
        None,
    ),
    # Severa 10 s ahead; a transaction commits 119 s after its change time, right after a run: the
    # skew margin keeps the watermark 120 s behind the signpost for exactly this.
    "late_commit_within_the_skew_margin": (
        Schedule(
            1002,
            ["accounts"],
            settings(skew_seconds=10),
            [
                advance(34),
                change("rename_customer"),
                run("accounts"),
                change("rename_customer", "lag", 119),
                run("accounts"),
            ],
        ),
        None,
    ),
    "invoice_written_then_killed_before_its_status": (
        Schedule(
            1003,
            ["invoices"],
            settings(),
            [run("invoices", kill_on="source.acknowledge", recovery="lease"), run("invoices")],
        ),
        None,
    ),
    "invoice_committed_then_timed_out_then_its_status_failed": (
        Schedule(
            1004,
            ["invoices"],
            settings(),
            [
                Step("commit_then_timeout", {"path": "/v2/customerinvoice", "calls": 1, "method": "POST"}),
                Step(
                    "severa_fault",
                    {
                        "fault": "GeneralFailureException",
                        "operation": "IInvoice/SetInvoiceStatus",
                        "calls": 1,
                    },
                ),
                run("invoices"),
                advance(3600),
                run("invoices"),
            ],
        ),
        None,
    ),
    "account_created_then_killed_before_its_mapping": (
        Schedule(
            1005,
            ["accounts"],
            settings(),
            [
                run("accounts", kill_on="state.put_mapping", kill_nth=2, recovery="skip_then_lease"),
                run("accounts"),
            ],
        ),
        None,
    ),
    "hour_entries_moved_then_killed_between_day_files": (
        Schedule(
            1006,
            ["hour_entries"],
            settings(),
            [
                run("hour_entries"),
                advance(600),
                change("move_hour_entry"),
                change("move_hour_entry"),
                run("hour_entries", kill_on="s3.put_object", kill_nth=2, recovery="lease"),
                run("hour_entries"),
            ],
        ),
        None,
    ),
    "absence_moved_across_weeks_while_rewound_during_the_run": (
        Schedule(
            1007,
            ["absences"],
            settings(),
            [
                run("absences"),
                advance(3600),
                change("move_absence"),
                change("new_absence"),
                run("absences", during=[(12, Step("rewind", {"type": "absences", "hours": 200}))]),
                run("absences"),
            ],
        ),
        None,
    ),
    "maintenance_until_the_retries_run_out": (
        Schedule(1008, ["invoices"], settings(), [Step("maintenance", {"calls": 500}), run("invoices")]),
        retries_exhausted,
    ),
    "second_invocation_while_the_first_holds_the_lock": (
        Schedule(
            1009,
            ["cases"],
            settings(batch_size=2),
            [run("cases", during=[(12, Step("concurrent", {"type": "cases", "parallel": False}))])],
        ),
        expect_status("cases", "skipped"),
    ),
    "quota_spent_mid_run_then_reset": (
        Schedule(
            1010,
            ["accounts", "cases"],
            settings(quota_reserve=20),
            [
                Step("quota", {"calls_left": 4}),
                run("cases"),
                Step("quota_reset"),
                run("cases"),
                run("accounts"),
            ],
        ),
        expect_status("cases", "failed:severa_quota"),
    ),
    "schema_change_halts_the_tenant_until_acknowledged": (
        Schedule(
            1011,
            ["accounts", "invoices"],
            settings(),
            [run("accounts"), Step("versions", {"which": "schema"}), run("accounts"), run("invoices")],
        ),
        schema_halt,
    ),
    "throttle_storm_past_the_wait_limit": (
        Schedule(
            1012,
            ["accounts"],
            settings(),
            [Step("throttle", {"calls": 40, "retry_after": 1}), run("accounts")],
        ),
        expect_status("accounts", "paused:target_quota_paused"),
    ),
    "severa_clock_behind_ours": (
        Schedule(
            1013,
            ["hour_entries", "accounts"],
            settings(skew_seconds=-600),
            [
                run("hour_entries"),
                run("accounts"),
                change("edit_hour_entry"),
                change("rename_customer"),
                advance(30),
                run("hour_entries"),
                run("accounts"),
                change("new_hour_entry", "lag", 100),
                change("new_customer", "lag", 100),
                run("hour_entries"),
                run("accounts"),
            ],
        ),
        None,
    ),
    "deactivated_account_reaches_visma": (
        Schedule(
            1014, ["accounts"], settings(), [run("accounts"), change("deactivate_customer"), run("accounts")]
        ),
        None,
    ),
    # The invoice is written to Visma.net, someone edits it in Severa (still "Ready for transfer"),
    # then the sync marks it Transferred: Visma.net keeps the old text, the edit is lost silently.
    "invoice_edited_while_being_transferred": (
        Schedule(
            1016,
            ["invoices"],
            settings(),
            # Edited after the first invoice reached Visma.net, before the sync marks anything transferred.
            [run("invoices", during_on=[("state.put_mapping", 1, change("edit_all_ready_invoices"))])],
        ),
        None,
    ),
    "answer_cut_short_in_a_mass_update": (
        Schedule(
            1015,
            ["accounts"],
            settings(batch_size=3),
            [
                change("mass_update_customers"),
                Step("truncate", {"calls": 1, "operation": "ICustomer/GetCustomersChangedSince"}),
                run("accounts"),
            ],
        ),
        expect_status("accounts", "retry_later:severa_answer_cut_short"),
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression(name: str, visma: VismaSimulator, aws: Aws, capture: LogCapture) -> None:
    schedule, inspect = REGRESSIONS[name]
    schedule.name = name
    try:
        report = play(schedule, visma, aws, capture, inspect)
    except Exception as error:  # the harness or the product broke outright: show what was played
        raise AssertionError(f"the schedule raised {error!r}\n\n{schedule.describe()}") from error
    assert not report.problems, (
        f"{len(report.problems)} problem(s):\n- "
        + "\n- ".join(report.problems[:40])
        + "\n\n"
        + schedule.describe()
    )
