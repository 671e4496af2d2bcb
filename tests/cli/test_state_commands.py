"""``severa-sync state ...`` on the embedded store's file and on a DynamoDB table (moto)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import BaseModel

from severa_sync import registry
from severa_sync.engine.ports import RunSummary, SourceRecord, Versions
from severa_sync.errors import MappingError
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.memory import MemoryStateStore
from severa_sync.state.table import create_state_table
from severa_sync_tools.cli import main

WATERMARK = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)


class Payload(BaseModel):
    GUID: str


def _fill(store: Any) -> None:
    store.write_watermark("demo", "accounts", WATERMARK, expected_raw=None, run_id="accounts-run-1")
    store.record_run(
        "demo", "accounts", RunSummary("accounts-run-1", "succeeded", 8, 7, 1, 0, WATERMARK, WATERMARK)
    )
    record = SourceRecord("guid-10502", None, "10502", "hash", Payload(GUID="guid-10502"))
    store.park("demo", "invoices", record, MappingError("VAT 17 % has no Visma.net VAT code"))
    store.write_versions("demo", Versions("1.0", "2019.2"))
    store.halt("demo", None, "schema_change", "Severa entity schema version changed from 2019.1 to 2019.2")
    store.halt("demo", "cases", "retries_exhausted", "Severa unavailable after 15 attempts; halted.")


@pytest.fixture(autouse=True)
def named_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """State commands act on a tenant the operator names (here once, for the shell session)."""
    path = tmp_path / "demo-tenant.json"
    path.write_text('{"tenant": "demo"}')
    monkeypatch.setenv("SEVERA_SYNC_CONFIG_FILE", str(path))
    return str(path)


@pytest.fixture
def state_file(tmp_path: Path) -> str:
    path = tmp_path / "state.json"
    _fill(MemoryStateStore(path))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def test_list_shows_watermarks_last_runs_halts_and_parked(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "list")
    assert code == 0
    rows = {
        cells[0]: cells
        for cells in map(_cells, out.splitlines())
        if cells[0] in ("accounts", "cases", "invoices")
    }
    assert rows["accounts"][1:8] == [
        "2026-11-20T05:30:00Z",
        "run:accounts-run-1",
        "succeeded",
        "8",
        "7",
        "1",
        "0",
    ]
    assert "tenant HALTED" in out
    assert rows["cases"][3] == "- (halted)"
    assert rows["invoices"][1] == "not set" and rows["invoices"][-1] == "1", "one parked invoice"


def test_options_are_accepted_after_the_action_too(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "state", "list", "--state-file", state_file, "--tenant", "other")
    assert code == 0 and "Watermarks of tenant other" in out and "2026-11-20" not in out


def test_rewind_with_yes_edits_the_item_and_logs_it(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "state",
        "--state-file",
        state_file,
        "--log-format",
        "json",
        "rewind",
        "accounts",
        "--to",
        "2026-11-01",
        "--yes",
        "--by",
        "ops-anna",
    )
    assert code == 0
    assert "2026-11-20T05:30:00Z -> 2026-11-01T00:00:00Z" in out
    (line,) = [json.loads(text) for text in out.splitlines() if text.startswith("{")]
    assert line["action"] == "watermark_rewound"
    assert (line["watermark_old"], line["watermark_new"], line["by"]) == (
        "2026-11-20T05:30:00Z",
        "2026-11-01T00:00:00Z",
        "ops-anna",
    )
    stored = MemoryStateStore(state_file).read_watermark("demo", "accounts")
    assert stored.raw == "2026-11-01T00:00:00Z"
    assert MemoryStateStore(state_file).watermarks("demo")[0]["updated_by"] == "operator:ops-anna"


@pytest.mark.parametrize(
    ("answer", "code", "raw"),
    [("n\n", 1, "2026-11-20T05:30:00Z"), ("", 1, "2026-11-20T05:30:00Z"), ("y\n", 0, "2026-11-19T00:00:00Z")],
)
def test_rewind_asks_first(
    state_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    raw: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    got, out, _ = _run(
        capsys, "state", "--state-file", state_file, "rewind", "accounts", "--to", "2026-11-19T00:00:00Z"
    )
    assert got == code and "Rewind? [y/N]" in out
    assert MemoryStateStore(state_file).read_watermark("demo", "accounts").raw == raw


@pytest.mark.parametrize("when", ["yesterday", "2999-01-01"])
def test_rewind_refuses_bad_times_in_one_line(
    state_file: str, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    code, _, err = _run(
        capsys, "state", "--state-file", state_file, "rewind", "accounts", "--to", when, "--yes"
    )
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("severa-sync: error: --to:")
    assert MemoryStateStore(state_file).read_watermark("demo", "accounts").raw == "2026-11-20T05:30:00Z"


def test_halts_lists_tenant_and_type_halts(state_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "halts")
    assert code == 0
    assert "whole tenant" in out and "schema_change" in out
    assert "cases" in out and "retries_exhausted" in out


def test_clear_halt_of_the_tenant_acknowledges_the_schema(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "clear-halt", "--yes", "--by", "ops")
    assert code == 0
    assert "acknowledges Severa API version 1.0 and entity schema version 2019.2" in out
    assert "cleared by ops" in out
    assert [h.data_type for h in MemoryStateStore(state_file).halts("demo")] == ["cases"]
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "clear-halt", "--yes")
    assert code == 1 and "No halt on the whole tenant" in out


def test_clear_halt_of_one_type(state_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "state", "--state-file", state_file, "clear-halt", "cases", "--yes")
    assert code == 0
    assert [h.data_type for h in MemoryStateStore(state_file).halts("demo")] == [None]


def test_retry_set_shows_parked_records_with_their_error(
    state_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "retry-set")
    assert code == 0
    row = next(line for line in out.splitlines() if "10502" in line)
    assert "invoices" in row and "mapping_error" in row and "VAT 17 % has no Visma.net VAT code" in row
    code, out, _ = _run(capsys, "state", "--state-file", state_file, "retry-set", "accounts")
    assert code == 0 and "10502" not in out and "empty" in out


def test_a_missing_state_file_reads_as_empty_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none.json"
    code, out, _ = _run(capsys, "state", "--state-file", str(path), "list")
    assert code == 0 and out.count("not set") == len(registry.DATA_TYPES)
    assert not path.exists()


def test_aws_backend_reads_and_edits_the_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, "stack-state")
        _fill(DynamoStateStore(client, "stack-state"))
        code, out, _ = _run(capsys, "state", "--state", "aws", "--table", "stack-state", "list")
        assert code == 0 and "2026-11-20T05:30:00Z" in out and "tenant HALTED" in out
        code, _, _ = _run(
            capsys,
            "state",
            "--state",
            "aws",
            "--table",
            "stack-state",
            "rewind",
            "accounts",
            "--to",
            "2026-11-02",
            "--yes",
        )
        assert code == 0
        assert (
            DynamoStateStore(client, "stack-state").read_watermark("demo", "accounts").raw
            == "2026-11-02T00:00:00Z"
        )
        code, _, err = _run(capsys, "state", "--state", "aws", "list")
        assert code == 2 and "--table" in err


def test_invalid_config_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tenant.json"
    config.write_text(json.dumps({"tenant": "acme", "severa": {"read_timeout_seconds": -1}}))
    code, _, err = _run(capsys, "state", "--config", str(config), "list")
    assert code == 2
    assert err.count("\n") == 1 and "severa.read_timeout_seconds" in err


def test_a_config_file_without_tenant_is_refused_naming_tenant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No silent tenant "demo": a file that names no tenant would read and edit demo's state."""
    config = tmp_path / "tenant.json"
    config.write_text(json.dumps({"stage": "local", "time_zone": "Europe/Helsinki"}))
    state = tmp_path / "state.json"
    code, out, err = _run(capsys, "state", "--config", str(config), "--state-file", str(state), "list")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "tenant: required" in err and str(config) in err
    assert not state.exists()


def test_aws_without_a_region_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = _run(capsys, "state", "--state", "aws", "--table", "t", "list")
    assert code == 2 and err.startswith("severa-sync: error: AWS:") and err.count("\n") == 1


def _delivered(store: Any, guid: str, at: datetime) -> None:
    from severa_sync.engine.ports import Mapping

    store.put_mapping("demo", "accounts", guid, Mapping(guid[-4:], "hash", at, {}))


@pytest.mark.parametrize("backend", ["file", "aws"])
def test_forget_drops_the_deliveries_since_a_time_and_only_those(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)
    with mock_aws():
        if backend == "aws":
            for key, value in {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "eu-west-1",
            }.items():
                monkeypatch.setenv(key, value)
            client = boto3.client("dynamodb")
            create_state_table(client, "stack-state")
            store: Any = DynamoStateStore(client, "stack-state")
            where = ["--state", "aws", "--table", "stack-state"]
        else:
            path = tmp_path / "state.json"
            store = MemoryStateStore(path)
            where = ["--state-file", str(path)]
        _delivered(store, "guid-old-0001", before)
        for i in range(30):  # more than one BatchWriteItem of 25
            _delivered(store, f"guid-new-{i:04}", after)
        code, out, _ = _run(
            capsys, "state", *where, "--log-format", "json", "forget", "accounts",
            "--delivered-since", "2026-11-18", "--yes", "--by", "ops-anna",
        )  # fmt: skip
        assert code == 0 and "30 accounts of tenant demo were delivered" in out and "rewind accounts" in out
        (line,) = [json.loads(text) for text in out.splitlines() if text.startswith("{")]
        assert (line["action"], line["count"], line["by"]) == ("deliveries_forgotten", 30, "ops-anna")
        reopened = MemoryStateStore(tmp_path / "state.json") if backend == "file" else store
        assert reopened.get_mapping("demo", "accounts", "guid-old-0001") is not None
        assert reopened.get_mapping("demo", "accounts", "guid-new-0007") is None
        assert reopened.mappings_delivered_since("demo", "accounts", before) == ["guid-old-0001"]


def test_forget_asks_first_and_knows_only_visma_types(
    state_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = MemoryStateStore(state_file)
    _delivered(store, "guid-new-0001", datetime(2026, 11, 19, tzinfo=UTC))
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = _run(
        capsys, "state", "--state-file", state_file, "forget", "accounts", "--delivered-since", "2026-11-18"
    )
    assert code == 1 and "Nothing changed" in out
    assert MemoryStateStore(state_file).get_mapping("demo", "accounts", "guid-new-0001") is not None
    with pytest.raises(SystemExit):
        main(
            ["state", "--state-file", state_file, "forget", "hour_entries", "--delivered-since", "2026-11-18"]
        )
