"""Foreign documents already in Visma.net, and error bodies echoing the bearer token (issue 11,
classes 6 and 11): named schedules over the whole stack, and the checks that judge them can fail."""

from __future__ import annotations

from typing import Any

import pytest

from severa_sync_tools.simulators.visma import VismaSimulator

from . import checks
from .capture import LogCapture, partly_leaked
from .schedule import ECHO_CUTS, FOREIGN_DOCUMENTS, Schedule, Step
from .stack import Aws
from .test_regressions import change, run, settings
from .world import World, play

pytestmark = pytest.mark.faults
ALL = ["accounts", "cases", "invoices", "hour_entries", "absences"]


def foreign(index: int) -> Step:
    return Step("foreign_document", dict(FOREIGN_DOCUMENTS[index]))


def test_every_foreign_document_is_left_alone_and_its_record_parked_and_alerted(
    visma: VismaSimulator, aws: Aws, capture: LogCapture
) -> None:
    steps = [*(foreign(i) for i in range(len(FOREIGN_DOCUMENTS))), *(run(name) for name in ALL)]
    steps += [change("rename_customer"), change("new_case"), run("accounts"), run("cases"), run("invoices")]
    report = play(Schedule(6, ALL, settings(), steps, name="foreign_documents_all"), visma, aws, capture)
    assert not report.problems, report.problems
    world = report.world
    blocked = checks.foreign_blocked(world.systems)
    numbers = {str(r.get("Number")) for r in world.severa.records("Invoice") if r["GUID"] in blocked}
    assert {"10501", "10503"} <= numbers  # the two invoices whose externalReference a foreign one holds
    [acme] = [c for c in visma.customers if c["number"] == "1001"]
    assert acme["name"] == "Acme Oy" or acme["name"].startswith("Acme Oy #")  # the matching one: adopted


@pytest.mark.parametrize("cut", ECHO_CUTS)
@pytest.mark.parametrize(("status", "shape"), [(400, "text"), (500, "text"), (503, "message"), (400, "ipp")])
def test_an_error_body_echoing_the_token_across_a_cut_leaks_no_part_of_it(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, cut: int, status: int, shape: str
) -> None:
    steps = [
        Step(
            "echo_token",
            {
                "path": "/v1/customer",
                "status": status,
                "method": "POST",
                "shape": shape,
                "filler": cut - 20,
                "calls": 2,
            },
        ),
        run("accounts"),
    ]
    report = play(Schedule(11, ["accounts"], settings(), steps, name="echoed_token"), visma, aws, capture)
    assert not report.problems, report.problems
    assert any("~" * 40 in line for line in capture.lines())  # the echoing answer was logged


# -- the checks can fail ------------------------------------------------------------------------------
@pytest.fixture
def world(visma: VismaSimulator, aws: Aws, capture: LogCapture) -> Any:
    schedule = Schedule(2002, ALL, settings(), [foreign(0), foreign(3), *(run(name) for name in ALL)])
    built = World(schedule, visma, aws, capture)
    try:
        for step in schedule.steps:
            built.apply(step)
        yield built
    finally:
        built.close()


def test_a_clean_world_with_foreign_documents_has_no_problems(world: World) -> None:
    assert checks.foreign_problems(world.systems, ALL, checks.sns_messages(world.aws)) == []
    assert checks.final_problems(world.systems, ALL) == []


def test_a_changed_foreign_document_is_found(world: World) -> None:
    world.visma.ledger.customers["1003"]["name"] = "Northwind Oy"  # as a silent rename would
    problems = checks.foreign_problems(world.systems, ALL, checks.sns_messages(world.aws))
    assert any("foreign customer 1003 was changed" in p for p in problems), problems


def test_a_foreign_invoice_taken_as_transferred_is_found(world: World) -> None:
    [row] = [r for r in world.severa.records("Invoice") if r.get("Number") == 10501]
    world.severa.upsert(
        "Invoice", {"GUID": row["GUID"], "InvoiceStatus": "Transferred"}, at=world.severa.now()
    )
    problems = checks.foreign_problems(world.systems, ALL, checks.sns_messages(world.aws))
    assert any("Severa invoice marked 'Transferred'" in p for p in problems), problems


def test_a_foreign_record_not_alerted_is_found(world: World) -> None:
    problems = checks.foreign_problems(world.systems, ALL, alerts=[])
    assert any("no alert names a foreign document" in p for p in problems), problems


def test_part_of_a_token_is_found() -> None:
    token = "tK9vQ2mZ7xR4wL8nB3pJ6hF1cD5gS0aYeU2kW7qPz"
    assert partly_leaked(["... Bearer tK9vQ2mZ7xR4w"], [token])
    assert partly_leaked(["nothing here"], [token]) == []
