"""Operator commands act on a named place: ``--stack NAME`` resolves the table, the tenant and the
region from the deployed stack (moto); no command guesses a tenant; ``state mappings`` shows where
each Severa record went."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from severa_sync.engine.ports import Mapping, RunSummary
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.memory import MemoryStateStore
from severa_sync_tools.cli import main
from tests.cli.deployed_stack import REGION, MotoStack, create_stack

WATERMARK = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 21, 4, 31, tzinfo=UTC)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "STATE_TABLE", "SEVERA_SYNC_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The shell's default region is another one: --stack must find the stack's own.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    with mock_aws():
        parameters.clear_caches()
        yield create_stack()


def _fill(store: Any, tenant: str = "acme") -> None:
    store.write_watermark(tenant, "accounts", WATERMARK, expected_raw=None, run_id="accounts-run-1")
    store.record_run(
        tenant, "accounts", RunSummary("accounts-run-1", "succeeded", 3, 3, 0, 0, WATERMARK, WATERMARK)
    )
    store.put_mapping(
        tenant, "invoices", "guid-10501", Mapping("100001", "h1", DELIVERED, {"display_key": "10501"})
    )
    store.put_mapping(
        tenant, "invoices", "guid-10503", Mapping("100002", "h2", DELIVERED, {"display_key": "10503"})
    )


def _stack_store(stack: MotoStack) -> DynamoStateStore:
    return DynamoStateStore(boto3.client("dynamodb", region_name=REGION), stack.table)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_state_on_a_stack_reads_its_table_for_its_tenant(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(_stack_store(stack))
    _fill(_stack_store(stack), tenant="globex")  # another tenant's items in the same table
    code, out, err = _run(capsys, "state", "--stack", stack.name, "--region", REGION, "list")
    assert code == 0, err
    assert "Watermarks of tenant acme" in out and "2026-11-20T05:30:00Z" in out


def test_rewind_on_a_stack_edits_its_table(stack: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(_stack_store(stack))
    code, _, err = _run(
        capsys,
        "state",
        "rewind",
        "accounts",
        "--to",
        "2026-11-01",
        "--yes",
        "--stack",
        stack.name,
        "--region",
        REGION,
    )
    assert code == 0, err
    assert _stack_store(stack).read_watermark("acme", "accounts").raw == "2026-11-01T00:00:00Z"


def test_mappings_show_severa_number_to_visma_key(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(_stack_store(stack))
    code, out, _ = _run(
        capsys, "state", "mappings", "invoices", "10501", "--stack", stack.name, "--region", REGION
    )
    assert code == 0
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines() if "guid-" in line]
    assert rows == [["10501", "100001", "2026-11-21T04:31:00Z", "guid-10501"]]
    code, out, _ = _run(capsys, "state", "mappings", "invoices", "--stack", stack.name, "--region", REGION)
    assert code == 0 and "100001" in out and "100002" in out
    code, out, _ = _run(
        capsys, "state", "mappings", "invoices", "100002", "--stack", stack.name, "--region", REGION
    )
    assert "10503" in out and "10501" not in out, "found by the Visma.net key too"
    code, out, _ = _run(
        capsys, "state", "mappings", "invoices", "99999", "--stack", stack.name, "--region", REGION
    )
    assert code == 1 and "No invoice 99999" in out


def test_mappings_on_a_local_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    _fill(MemoryStateStore(path))
    config = tmp_path / "acme.json"
    config.write_text('{"tenant": "acme"}')
    code, out, _ = _run(
        capsys, "state", "--config", str(config), "--state-file", str(path), "mappings", "invoices"
    )
    assert code == 0 and "10501" in out and "100001" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["state", "list"],
        ["state", "--state", "aws", "--table", "t", "halts"],
        ["state", "mappings", "invoices"],
    ],
)
def test_state_commands_never_guess_a_tenant(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEVERA_SYNC_CONFIG_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert "--config FILE (or SEVERA_SYNC_CONFIG_FILE) or --stack NAME" in err
    assert list(tmp_path.iterdir()) == [], "nothing created"
