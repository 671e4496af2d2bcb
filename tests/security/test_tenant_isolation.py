"""Tenant isolation inside the state table: everything one tenant writes lives under its own
partition key and is invisible to another tenant, in DynamoDB (moto) and in the embedded store.

The deployment isolates customers by stack (test_template_least_privilege); the partition key is
the second wall, for operators who point two configurations at one table by mistake.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from severa_sync.engine.ports import Mapping, SourceRecord, StateStore, Versions
from severa_sync.errors import TargetRejected
from severa_sync.severa.models import Customer
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.memory import MemoryStateStore
from severa_sync.state.table import create_state_table

REGION = "eu-west-1"
WHEN = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StateStore, Any]]:
    """The store and a function listing every item's partition key as stored."""
    if request.param == "memory":
        memory = MemoryStateStore()
        yield memory, lambda: [pk for pk, _sk in memory.items]
        return
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_state_table(client, "state")

        def partition_keys() -> list[str]:
            return [item["pk"]["S"] for item in client.scan(TableName="state")["Items"]]

        yield DynamoStateStore(client, "state", clock=lambda: WHEN), partition_keys


def _record(key: str) -> SourceRecord:
    return SourceRecord(key, WHEN, "Acme Oy (1001)", "hash-1", Customer(GUID=key, Name="Acme Oy"))


def _write_everything(state: StateStore, tenant: str) -> None:
    state.write_watermark(tenant, "accounts", WHEN, expected_raw=None, run_id="run-1")
    assert state.acquire_lock(tenant, "accounts", "run-1", 900)
    state.park(tenant, "invoices", _record("11111111-1111-1111-1111-111111111111"), TargetRejected("no"))
    state.halt(tenant, "invoices", "entity_schema_changed", "schema changed")
    state.write_versions(tenant, Versions("1.0", "2019.1"))
    state.put_mapping(tenant, "accounts", "guid-1", Mapping("1001", "hash-1", WHEN))


def test_nothing_one_tenant_writes_is_visible_to_another(store: tuple[StateStore, Any]) -> None:
    state, partition_keys = store
    _write_everything(state, "acme")

    assert set(partition_keys()) == {"TENANT#acme"}
    other = "globex"
    assert state.read_watermark(other, "accounts").watermark is None
    assert state.parked(other, "invoices") == []
    assert state.halts(other) == []
    assert state.read_versions(other) is None
    assert state.get_mapping(other, "accounts", "guid-1") is None
    assert state.get_mappings(other, "accounts", ["guid-1"]) == {}
    # The other tenant's lock is its own: acme's held lock does not block it.
    assert state.acquire_lock(other, "accounts", "run-9", 900)
    # And acme still sees all of its own.
    assert state.read_watermark("acme", "accounts").watermark == WHEN
    assert [item.key for item in state.parked("acme", "invoices")] == ["11111111-1111-1111-1111-111111111111"]
    assert state.get_mapping("acme", "accounts", "guid-1") is not None


def test_a_tenant_name_cannot_reach_into_another_partition(store: tuple[StateStore, Any]) -> None:
    """Tenant names are validated (lowercase, digits, dashes) so none can smuggle a '#' separator."""
    from severa_sync.config import parse_config
    from severa_sync.errors import ConfigError

    for bad in ("acme#WATERMARK", "ACME", "acme/globex", ""):
        with pytest.raises(ConfigError):
            parse_config({"tenant": bad})
    state, partition_keys = store
    _write_everything(state, "acme-2")
    assert state.read_watermark("acme", "accounts").watermark is None
    assert set(partition_keys()) == {"TENANT#acme-2"}
