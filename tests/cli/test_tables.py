"""Operator tables at any terminal width (issue 12 item 5): wrapped, never cut to ``2026-11-2…``;
``--wide`` keeps rows on one line; ``--json`` gives the same rows to a script. The last run's
counts add up and show what the overlap dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from severa_sync.engine.ports import Mapping, RunSummary, SourceRecord
from severa_sync.errors import MappingError
from severa_sync.state.memory import MemoryStateStore
from severa_sync.timeutil import format_watermark
from severa_sync_tools.cli import main
from severa_sync_tools.preflight import NOT_CHECKED, Finding, Preflight

WATERMARK = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)


class Payload(BaseModel):
    GUID: str


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = tmp_path / "tenant.json"
    config.write_text('{"tenant": "acme"}')
    monkeypatch.setenv("SEVERA_SYNC_CONFIG_FILE", str(config))
    path = tmp_path / "state.json"
    store = MemoryStateStore(path)
    store.write_watermark("acme", "accounts", WATERMARK, expected_raw=None, run_id="accounts-run-1")
    store.record_run(
        "acme", "accounts", RunSummary("accounts-run-1", "succeeded", 10, 7, 1, 0, WATERMARK, WATERMARK, 2)
    )
    record = SourceRecord("guid-10502", None, "10502", "hash", Payload(GUID="guid-10502"))
    store.park("acme", "invoices", record, MappingError("VAT 17 % has no Visma.net VAT code " * 3))
    return str(path)


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("action", ["list", "retry-set"])
def test_a_narrow_terminal_wraps_and_never_cuts_a_value(
    state_file: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = _out(capsys, "state", "--state-file", state_file, action)
    assert "…" not in out, "a cell was cut instead of wrapped"
    assert "acme" in out and max(len(line) for line in out.splitlines()) <= 60


def test_wide_keeps_every_row_on_one_line(
    state_file: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = _out(capsys, "state", "--state-file", state_file, "list", "--wide")
    line = next(line for line in out.splitlines() if line.strip("│ ").startswith("accounts"))
    assert "2026-11-20T05:30:00Z" in line and "run:accounts-run-1" in line and "…" not in out


def test_json_gives_the_rows_with_the_overlap_and_counts_that_add_up(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(_out(capsys, "state", "--state-file", state_file, "list", "--json"))
    accounts = next(row for row in rows if row["data type"] == "accounts")
    assert accounts["watermark"] == "2026-11-20T05:30:00Z" and accounts["overlap"] == "2"
    counted = sum(int(accounts[k]) for k in ("delivered", "skipped", "failed", "overlap"))
    assert counted == int(accounts["fetched"])
    parked = json.loads(_out(capsys, "state", "--state-file", state_file, "retry-set", "--json"))
    assert parked[0]["record"] == "10502" and parked[0]["error code"] == "mapping_error"


# --- state mappings, state halts and check: the same tables (print_table), not cut ---------------
DELIVERED = datetime(2026, 11, 5, 16, 0, 12, tzinfo=UTC)
OBJECT_KEY = "exports/tenant=acme/type=hour_entries/date=2026-11-05/hour_entries.jsonl"
LONG_REASON = "Severa stayed unavailable through 15 attempts 10 minutes apart (HTTP 503 maintenance)"
FIX = "Create a new API key in Severa (Settings > Integrations) and store it in secret severa/acme/api-key"


@pytest.fixture
def operator_state(state_file: str) -> str:
    store = MemoryStateStore(state_file)
    store.halt("acme", "hour_entries", "retries_exhausted", LONG_REASON)
    store.halt("acme", None, "schema_change", "Severa's entity schema version changed from 2026.1 to 2026.2")
    store.put_mapping(
        "acme", "hour_entries", "0b7c3a3e-1111-4222-8333-944455556666", Mapping("2026-11-05", "h", DELIVERED)
    )
    store.put_mapping(
        "acme", "invoices", "guid-10501", Mapping("100001", "h", DELIVERED, {"display_key": "10501"})
    )
    return state_file


def _halt_times(state_file: str) -> set[str]:
    return {format_watermark(h.since) for h in MemoryStateStore(state_file).halts("acme")}


TABLES = {
    "mappings hour_entries": (("mappings", "hour_entries"), [OBJECT_KEY, "2026-11-05T16:00:12Z"]),
    "mappings invoices": (("mappings", "invoices"), ["10501", "100001", "guid-10501"]),
    "halts": (("halts",), ["whole tenant", "retries_exhausted"]),
}


def _no_value_cut(out: str) -> None:
    assert "…" not in out, "a cell was cut instead of wrapped"
    assert max(len(line) for line in out.splitlines()) <= 60


def _unwrapped(out: str) -> str:
    """Each column's text read down the table (a wrapped value joined again, spaces dropped), the
    columns separated by "|": a value shown whole is a substring of its column's text."""
    columns: dict[int, str] = {}
    for line in out.splitlines():
        if line.count("│") < 2:
            continue
        for index, segment in enumerate(line.split("│")[1:-1]):
            columns[index] = columns.get(index, "") + segment.replace(" ", "")
    return "|".join(columns.values())


@pytest.mark.parametrize("table", list(TABLES))
def test_state_mappings_and_halts_wrap_at_a_narrow_width(
    operator_state: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    argv, values = TABLES[table]
    out = _out(capsys, "state", "--state-file", operator_state, *argv)
    _no_value_cut(out)
    expected = values + (sorted(_halt_times(operator_state)) if table == "halts" else [])
    expected += [LONG_REASON] if table == "halts" else []
    for value in expected:
        assert value.replace(" ", "") in _unwrapped(out), f"{value} not shown whole"


@pytest.mark.parametrize("table", list(TABLES))
def test_state_mappings_and_halts_as_json_keep_full_values(
    operator_state: str, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    argv, values = TABLES[table]
    rows = json.loads(_out(capsys, "state", "--state-file", operator_state, *argv, "--json"))
    cells = {str(v) for row in rows for v in row.values()}
    assert set(values) <= cells
    if table == "halts":
        assert {"scope", "code", "since", "reason"} == set(rows[0])
        assert LONG_REASON in cells and _halt_times(operator_state) <= cells
    if table == "mappings hour_entries":
        assert rows == [
            {
                "Severa hour entry": "-",
                "S3 object key": OBJECT_KEY,
                "delivered": "2026-11-05T16:00:12Z",
                "Severa GUID": "0b7c3a3e-1111-4222-8333-944455556666",
            }
        ]


def test_state_halts_and_mappings_wide_keep_a_row_on_one_line(
    operator_state: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = _out(capsys, "state", "--state-file", operator_state, "halts", "--wide")
    assert any(LONG_REASON in line and "retries_exhausted" in line for line in out.splitlines())
    out = _out(capsys, "state", "--state-file", operator_state, "mappings", "hour_entries", "--wide")
    assert any(OBJECT_KEY in line and "2026-11-05T16:00:12Z" in line for line in out.splitlines())


def test_nothing_to_show_as_json_is_an_empty_list(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert json.loads(_out(capsys, "state", "--state-file", state_file, "halts", "--json")) == []
    assert json.loads(_out(capsys, "state", "--state-file", state_file, "mappings", "cases", "--json")) == []


FINDINGS = [
    Finding("Severa API key", False, "Severa refused the key at 2026-12-04T18:38:05Z (HTTP 401)", FIX),
    Finding(
        "Visma.net token",
        True,
        "token for client_id acme-integration-client valid until 2026-12-04T19:38:05Z",
    ),
    Finding("S3 export bucket", False, NOT_CHECKED, "", checked=False),
]


@pytest.fixture
def checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = tmp_path / "check.json"
    config.write_text('{"tenant": "acme"}')
    monkeypatch.setattr(Preflight, "run", lambda self: list(FINDINGS))
    return str(config)


def test_check_wraps_at_a_narrow_width(
    checked: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["check", "--config", checked]) == 1
    out = capsys.readouterr().out
    _no_value_cut(out)
    for finding in FINDINGS:
        for value in (finding.check, finding.detail, finding.fix):
            assert value.replace(" ", "") in _unwrapped(out), f"{value} not shown whole"


def test_check_json_gives_every_finding_whole(checked: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", checked, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"check": f.check, "result": f.result, "found": f.detail, "fix": f.fix} for f in FINDINGS]


def test_check_wide_keeps_a_finding_on_one_line(
    checked: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["check", "--config", checked, "--wide"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(FIX in line and FINDINGS[0].detail in line for line in lines)
