"""Named schedules for the generators of issue 11 classes 2, 7, 9, 12, 13, 14 and 15 (reader_faults,
texts, lag, paging): each story passes ``world.play``'s checks on the product, and each check is
shown to find the failure class on a product with its fix taken out (``monkeypatch``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from severa_sync.datatypes import options
from severa_sync.engine import images
from severa_sync.severa import client, source, streaming
from severa_sync.targets import s3
from severa_sync_tools.simulators.visma import VismaSimulator

from .capture import LogCapture
from .reader_faults import NOT_SOAP
from .schedule import Schedule, Step
from .stack import Aws
from .test_regressions import advance, change, run, settings, statuses
from .world import Report, play

pytestmark = pytest.mark.faults


def played(schedule: Schedule, visma: VismaSimulator, aws: Aws, capture: LogCapture) -> Report:
    try:
        return play(schedule, visma, aws, capture)
    except Exception as error:  # the harness or the product broke outright: show what was played
        raise AssertionError(f"the schedule raised {error!r}\n\n{schedule.describe()}") from error


def holds(report: Report, schedule: Schedule) -> None:
    assert not report.problems, "\n- ".join(["problems:", *report.problems[:40]]) + "\n" + schedule.describe()


def found(report: Report, text: str) -> bool:
    return any(text in problem for problem in report.problems)


# --- HTML page with HTTP 200 (class 12) ----------------------------------------------------------
def html_schedule() -> Schedule:
    page = {"calls": 2, "operation": None, "page": "login"}
    return Schedule(
        0,
        ["accounts", "hour_entries"],
        settings(),
        [
            run("accounts"),
            Step("html_page", page),
            run("accounts"),
            run("hour_entries"),
            advance(600),
            change("rename_customer"),
            run("accounts"),
            run("hour_entries"),
        ],
        name="html_page_then_recovery",
    )


def test_an_html_page_is_a_configuration_error_then_runs_recover(
    visma: VismaSimulator, aws: Aws, capture: LogCapture
) -> None:
    schedule = html_schedule()
    report = played(schedule, visma, aws, capture)
    holds(report, schedule)
    assert statuses(report.world, "accounts")[1] == f"failed:{NOT_SOAP}"
    assert statuses(report.world, "hour_entries")[0] == f"failed:{NOT_SOAP}"
    assert statuses(report.world, "accounts")[2] == "succeeded"


def test_the_html_check_finds_a_page_taken_for_something_else(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.SeveraClient, "_refuse_non_soap", lambda *_: None)
    monkeypatch.setattr(streaming, "looks_like_html", lambda _head: False)
    report = played(html_schedule(), visma, aws, capture)
    assert found(report, "met an HTML page from Severa's URL but ended"), report.problems


# --- control characters and prospects (classes 7 and 14) ------------------------------------------
def names_schedule() -> Schedule:
    return Schedule(
        0,
        ["accounts"],
        settings(),
        [
            run("accounts"),
            change("control_chars_in_name"),
            change("new_prospect"),
            change("new_prospect"),
            run("accounts"),
            advance(3600),
            run("accounts"),
        ],
        name="control_characters_and_prospects",
    )


def test_control_characters_arrive_as_replacement_and_prospects_stay_out(
    visma: VismaSimulator, aws: Aws, capture: LogCapture
) -> None:
    schedule = names_schedule()
    report = played(schedule, visma, aws, capture)
    holds(report, schedule)
    assert any("\ufffdline\ufffdtwo" in str(c.get("name")) for c in visma.customers)


def test_the_prospect_check_finds_prospects_that_reach_the_engine(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both guards off: the read option that excludes them, and the reader's own skip.
    bound = source.SeveraSource._params

    def without_exclude_not_numbered(self: source.SeveraSource, call: Any, **values: Any) -> Any:
        params = bound(self, call, **values)
        if params.get("options") == options.ACCOUNTS:
            params["options"] = options.INCLUDE_INACTIVE
        return params

    monkeypatch.setattr(source.SeveraSource, "_params", without_exclude_not_numbered)
    monkeypatch.setattr(source, "skip_prospects", lambda records: records)
    report = played(names_schedule(), visma, aws, capture)
    assert found(report, "prospect"), report.problems


# --- line separators (class 2) ---------------------------------------------------------------------
def separators_schedule() -> Schedule:
    types = ["accounts", "hour_entries", "absences"]
    return Schedule(
        0,
        types,
        settings(),
        [
            *(run(t) for t in types),
            change("line_separators_in_customer_name"),
            change("line_separators_in_description"),
            change("line_separators_in_absence_name"),
            *(run(t) for t in types),
            advance(600),
            change("edit_hour_entry"),
            *(run(t) for t in types),
        ],
        name="line_separators_in_texts",
    )


def test_line_separators_arrive_intact_in_valid_json_lines(
    visma: VismaSimulator, aws: Aws, capture: LogCapture
) -> None:
    schedule = separators_schedule()
    report = played(schedule, visma, aws, capture)
    holds(report, schedule)
    assert any("\u2028" in str(c.get("name")) for c in visma.customers)


def test_the_json_lines_check_finds_raw_separators(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "LINE_BREAKERS", {})
    report = played(separators_schedule(), visma, aws, capture)
    assert found(report, "holds raw line separators"), report.problems


# --- commit lag beyond the skew margin (class 15) --------------------------------------------------
def lag_schedule() -> Schedule:
    return Schedule(
        0,
        ["hour_entries", "absences"],
        settings(),
        [
            run("hour_entries"),
            run("absences"),
            advance(600),
            change("new_hour_entry", "lag", 900),
            change("edit_hour_entry", "lag", 300),
            change("new_absence", "lag", 1800),
            run("hour_entries"),
            run("absences"),
        ],
        name="commits_later_than_the_skew_margin",
    )


def test_entries_committed_late_are_in_s3_after_the_next_run(
    visma: VismaSimulator, aws: Aws, capture: LogCapture
) -> None:
    schedule = lag_schedule()
    report = played(schedule, visma, aws, capture)
    holds(report, schedule)
    assert not report.world.lagged  # every late commit was checked after its next run


def test_the_lag_check_finds_an_entry_lost_without_the_reconciliation(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_span(today: date, months: int) -> date:
        return today + timedelta(days=1)

    monkeypatch.setattr(images, "reconcile_start", no_span)
    report = played(lag_schedule(), visma, aws, capture)
    assert found(report, "after the next run that succeeded"), report.problems


# --- deletions at page boundaries of the GetAllCustomers fallback (class 9) ------------------------
def paging_schedule(where: str, count: int) -> Schedule:
    deletions = {"pages": [1, 2], "count": count, "where": where, "seed": 7}
    return Schedule(
        0,
        ["accounts"],
        settings(max_response_bytes=12_000),
        [
            Step("many_customers", {"count": 260}),
            run("accounts", during_on=[("source.read", 1, Step("page_deletions", deletions))]),
            advance(600),
            change("rename_customer"),
            run("accounts"),
        ],
        name=f"page_deletions_{where}_{count}",
    )


@pytest.mark.parametrize(("where", "count"), [("boundary", 1), ("spread", 3), ("boundary", 15)])
def test_customers_deleted_at_page_boundaries_skip_no_other(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, where: str, count: int
) -> None:
    schedule = paging_schedule(where, count)
    report = played(schedule, visma, aws, capture)
    holds(report, schedule)
    pages = [c for c in report.world.severa.calls if c.operation == "ICustomer/GetAllCustomers"]
    assert len(pages) >= 3


def test_the_paging_check_finds_a_customer_skipped_by_plain_paging(
    visma: VismaSimulator, aws: Aws, capture: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def plain_pages(self: source.SeveraSource, data_type: Any, call: Any, window: Any) -> Any:
        start = 0
        while True:
            params = {"options": options.ACCOUNTS, "startFromIndex": start, "count": 100}
            rows = list(self._records(data_type, call, params, past_size_cap=True))
            yield from rows
            if len(rows) < 100:
                return
            start += len(rows)

    monkeypatch.setattr(source.SeveraSource, "_pages", plain_pages)
    report = played(paging_schedule("boundary", 1), visma, aws, capture)
    assert found(report, "was skipped by the paged read"), report.problems


def test_a_call_hook_runs_before_the_answer_until_the_faults_are_cleared() -> None:
    from datetime import UTC, datetime

    from severa_sync.config import TenantConfig
    from severa_sync.secrets import Secret
    from severa_sync_tools.simulators.severa import SeveraSimulator

    now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    with SeveraSimulator(api_key="hook-key-3f9a0c", seed=False, now=now) as sim:
        sim.mass_update("Customer", 3, at=now)
        config = TenantConfig.model_validate({"tenant": "demo", "severa": {"url": sim.url}})
        severa = client.SeveraClient(config, Secret("hook-key-3f9a0c"))
        seen: list[dict[str, Any]] = []

        def hook(params: dict[str, Any]) -> None:
            seen.append(params)
            sim.delete("Customer", sim.records("Customer")[0]["GUID"])

        sim.on_call("ICustomer/GetAllCustomers", hook)
        read = list(severa.stream("ICustomer/GetAllCustomers", options=2, startFromIndex=0, count=100))
        assert len(read) == 2 and seen[0]["startFromIndex"] == 0  # deleted before the answer
        sim.clear_faults()
        assert (
            len(list(severa.stream("ICustomer/GetAllCustomers", options=2, startFromIndex=0, count=100))) == 2
        )
