"""Each benchmark runs at a tiny N and returns figures with the keys the report prints.

Never timings: only that the figures exist, are consistent with each other (counts add up, every
mode read every record) and that each target is judged.
"""

from __future__ import annotations

from typing import Any

import pytest

from severa_sync import registry
from severa_sync_tools.bench import (
    api_economy,
    cold_start,
    end_to_end,
    quota_backfill,
    read_profile,
    report,
    soap_read,
    visma_calls,
)
from severa_sync_tools.bench.measure import machine


def _targets_are_judged(figures: dict[str, Any]) -> None:
    assert figures["targets"]
    for target in figures["targets"]:
        assert set(target) == {"name", "value", "target", "met", "note"}
        assert target["met"] in (True, False, None)


def test_soap_read_every_mode_reads_every_record() -> None:
    figures = soap_read.run([300, 600], repeats=1, zeep_repeats=1, zeep_max=300)
    modes = {(r["mode"], r["n"]) for r in figures["rows"]}
    assert modes == {
        ("severa-sync", 300),
        ("zeep", 300),
        ("iterparse", 300),
        ("typed floor", 300),
        ("severa-sync (live simulator)", 300),
        ("severa-sync", 600),
        ("iterparse", 600),
        ("typed floor", 600),
        ("severa-sync (live simulator)", 600),
    }
    for row in figures["rows"]:
        assert row["records_per_s"] > 0 and row["peak_rss_mb"] >= row["rss_before_mb"] > 0
        assert row["answer_bytes"] > row["n"] * 500  # the same replayed answer, ~1 KB per customer
    by_n = {r["n"]: r for r in figures["ratios"]}
    assert by_n[300]["vs_zeep_speed"] is not None and by_n[600]["vs_zeep_speed"] is None  # zeep skipped
    assert by_n[600]["vs_iterparse_speed"] is not None and by_n[600]["floor_vs_iterparse_speed"] is not None
    assert by_n[300]["floor_vs_zeep_speed"] is not None and by_n[600]["floor_vs_zeep_speed"] is None
    _targets_are_judged(figures)
    assert "N=300" in "\n".join(report.soap_section(figures))


def test_end_to_end_counts_add_up_and_the_second_run_writes_nothing() -> None:
    figures = end_to_end.run(40, scenarios=(("defaults", None),))
    (scenario,) = figures["scenarios"]
    first, second = scenario["runs"]
    assert (first["status"], first["delivered"], first["failed"]) == ("succeeded", 40, 0)
    assert first["visma_calls_by_endpoint"]["POST /v1/customer"] == 40  # one create per new account
    assert first["soap_calls_by_operation"]["ICustomer/GetCustomersChangedSince"] == 1
    assert second["visma_calls"] == 0 and second["delivered"] == 0
    assert second["fetched"] == second["skipped_by_content_hash"] + second["dropped_by_overlap_filter"]
    assert scenario["state_items"] >= 40 and scenario["peak_rss_mb"] > 0 and scenario["log_lines"] > 0
    _targets_are_judged(figures)
    assert [t["met"] for t in figures["targets"]][1:] == [True, True]
    assert "second run" in "\n".join(report.e2e_section(figures))


def test_cold_start_measures_the_import_of_a_handler() -> None:
    figures = cold_start.run(repeats=1, data_types=["accounts"])
    (row,) = figures["rows"]
    assert row["data_type"] == "accounts"
    assert row["import_ms"] > row["empty_interpreter_ms"] > 0
    assert row["first_use_extra_ms"] > 0 and row["peak_rss_mb"] > row["empty_peak_rss_mb"]
    assert row["slowest_imports"] and all(m["self_ms"] >= 0 for m in row["slowest_imports"])
    _targets_are_judged(figures)
    assert "accounts" in "\n".join(report.cold_start_section(figures))


def test_cold_start_refuses_a_type_without_a_handler() -> None:
    with pytest.raises(KeyError):
        cold_start.run(repeats=1, data_types=["receipts"])


def test_api_economy_counts_calls_per_round_and_the_unknown_outcome_writes_once() -> None:
    figures = api_economy.run(changes=3)
    rounds = {(r["phase"], r["data_type"]) for r in figures["rows"]}
    assert ("no_changes", "accounts") in rounds and ("unknown_outcome", "invoices") in rounds
    # Types read from Visma.net (payments) read it on every run, changes or not.
    quiet = [
        r
        for r in figures["rows"]
        if r["phase"] == "no_changes" and registry.get(r["data_type"]).visma_read is None
    ]
    assert all(r["visma_calls"] == 0 for r in quiet)
    assert all(r["soap_calls"] == sum(r["soap_calls_by_operation"].values()) for r in figures["rows"])
    assert figures["changes_per_type"]["invoices"] == 3
    invoices = figures["invoices"]
    assert invoices["happy_path_writes_per_invoice"] == 1
    assert (invoices["unknown_outcome_writes"], invoices["unknown_outcome_copies_in_visma"]) == (1, 1)
    _targets_are_judged(figures)
    assert "commits then times out" in "\n".join(report.economy_section(figures))
    daily = {d["data_type"]: d for d in figures["per_day"]}
    assert set(daily) == {r["data_type"] for r in figures["rows"] if r["phase"] == "no_changes"}
    hours = daily["hour_entries"]  # the reconciliation span is read by date on every run
    assert hours["soap_calls_per_run"] > 3 and hours["soap_calls_per_day"] == hours["soap_calls_per_run"] * 1
    assert "SOAP/day" in "\n".join(report.economy_section(figures))


def test_visma_calls_per_created_and_updated_record_are_counted_and_judged() -> None:
    figures = visma_calls.run(40)
    first = [r for r in figures["rows"] if r["phase"] == "first run"]
    assert {r["data_type"] for r in first} == {"accounts", "cases", "products", "invoices"}
    assert figures["created_records"] == sum(r["delivered"] for r in first) >= 120
    # The census reads the list once per type; every other call is one record's write.
    for row in first:
        writes = sum(v for k, v in row["by_endpoint"].items() if k.startswith("POST"))
        assert writes == row["delivered"] and row["visma_calls"] == writes + 1
    assert figures["calls_per_updated_record"] == 1.0
    assert figures["most_copies_of_one_invoice"] == 1 and figures["unknown_outcome_look_ups"] == 1
    _targets_are_judged(figures)
    assert "Per created record" in "\n".join(report.calls_section(figures))


def test_a_quota_paced_backfill_is_counted_window_by_window() -> None:
    figures = quota_backfill.run(300, quota=100)
    assert figures["final_status"] == "succeeded" and figures["statuses"]["paused"] >= 2
    assert figures["customers"] == 300 and figures["duplicates"] == 0 and figures["alerts"] == []
    assert figures["windows"] == figures["runs"] and figures["refused_429"] == 0
    assert figures["first_eta_seconds"] and figures["eta_error"] is not None
    _targets_are_judged(figures)
    assert "windows used" in "\n".join(report.quota_section(figures))


def test_runs_per_day_of_the_schedule_shapes_the_defaults_use() -> None:
    assert api_economy.runs_per_day("cron(0 * * * ? *)") == 24
    assert api_economy.runs_per_day("cron(30 4 * * ? *)") == 1
    assert api_economy.runs_per_day("cron(0 2 ? * MON *)") == 1 / 7
    assert api_economy.runs_per_day("cron(0 6,18 ? * MON,WED,FRI *)") == 2 * 3 / 7
    assert api_economy.runs_per_day("rate(2 hours)") == 12


def test_read_profile_times_every_stage_on_every_record() -> None:
    figures = read_profile.run(200, repeats=1)  # each stage checks it read all 200 records
    stages = [row["stage"] for row in figures["rows"]]
    assert stages == [name for name, _stage in read_profile.STAGES]
    assert stages[0].startswith("parse") and stages[-1] == "severa-sync reader"
    first, *rest = figures["rows"]
    assert first["added_us"] is None and first["parse_over_stage"] == 1.0
    assert all(row["us_per_record"] > 0 and row["added_us"] is not None for row in rest)
    assert figures["answer_bytes"] > 200 * 500
    assert "typed floor" in "\n".join(report.profile_section(figures))


def test_report_states_missed_targets_plainly() -> None:
    figures = {"targets": [{"name": "speed", "value": 2.0, "target": ">= 8x", "met": False, "note": ""}]}
    text = report.targets_section({"soap": figures}, {"e2e": "RuntimeError: boom"})
    assert "  [MISSED] speed: 2.00, target >= 8x" in text
    assert any(line.startswith("  [FAILED] benchmark e2e") for line in text)
    assert report.missed({"soap": figures}) == ["speed"]
    assert "vCPU" in report.machine_section(machine())[0]
