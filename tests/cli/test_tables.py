"""Operator tables at any terminal width (issue 12 item 5): wrapped, never cut to ``2026-11-2…``;
``--wide`` keeps rows on one line; ``--json`` gives the same rows to a script. The last run's
counts add up and show what the overlap dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from severa_sync.engine.ports import RunSummary, SourceRecord
from severa_sync.errors import MappingError
from severa_sync.state.memory import MemoryStateStore
from severa_sync_tools.cli import main

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
