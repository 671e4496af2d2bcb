"""Background invoice jobs are a StateStore concept (``pending_job``/``remember_job``/``forget_job``)
kept in the items they always were: a job a deployed stack remembered before the port existed is
still found, and one remembered now is the same item."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from severa_sync.engine.ports import Mapping, PendingJob, RunSummary
from severa_sync.state import table as t
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.memory import MemoryStateStore

from .conftest import TABLE

TENANT = "acme"
QUEUED = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
#: The item the Visma.net target wrote before jobs had a port (``put_mapping`` of namespace
#: ``visma-invoice-jobs``), as DynamoDB holds it.
OLD_ITEM = {
    "pk": {"S": "TENANT#acme"},
    "sk": {"S": "MAP#visma-invoice-jobs#10501"},
    "data_type": {"S": "visma-invoice-jobs"},
    "key": {"S": "10501"},
    "target_key": {"S": "job-7"},
    "content_hash": {"S": ""},
    "delivered_at": {"S": "2026-11-20T05:30:00Z"},
    "extra": {"M": {"external_reference": {"S": "10501"}}},
    "tenant": {"S": "acme"},
}


def test_a_job_remembered_before_the_port_is_found_and_forgotten(
    store: DynamoStateStore, dynamodb: Any
) -> None:
    dynamodb.put_item(TableName=TABLE, Item=OLD_ITEM)
    assert store.pending_job(TENANT, "10501") == PendingJob("10501", "job-7", QUEUED)
    assert store.pending_job(TENANT, "10502") is None
    store.forget_job(TENANT, "10501")
    assert store.pending_job(TENANT, "10501") is None
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=t.item_key(TENANT, t.pending_job_sk("10501")))


def test_a_job_remembered_now_is_the_old_item(store: DynamoStateStore, dynamodb: Any) -> None:
    store.remember_job(TENANT, PendingJob("10501", "job-7", QUEUED))
    item = dynamodb.get_item(TableName=TABLE, Key=t.item_key(TENANT, "MAP#visma-invoice-jobs#10501"))["Item"]
    assert item == OLD_ITEM


def test_the_embedded_store_keeps_jobs_in_the_same_items(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    old = MemoryStateStore(path)
    old.put_mapping(
        TENANT, "visma-invoice-jobs", "10501", Mapping("job-7", "", QUEUED, {"external_reference": "10501"})
    )
    store = MemoryStateStore(path)  # a file written before the port existed
    assert store.pending_job(TENANT, "10501") == PendingJob("10501", "job-7", QUEUED)
    store.remember_job(TENANT, PendingJob("10502", "job-8", QUEUED))
    assert store.items[("TENANT#acme", "MAP#visma-invoice-jobs#10502")]["target_key"] == "job-8"
    store.forget_job(TENANT, "10501")
    assert store.pending_job(TENANT, "10501") is None


# --- the operator's list reads every watermark item through the port -----------------------------
@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_watermark_rows(kind: str, store: DynamoStateStore) -> None:
    state: Any = store if kind == "dynamodb" else MemoryStateStore()
    assert state.watermark_rows(TENANT) == []
    state.write_watermark(TENANT, "accounts", QUEUED, expected_raw=None, run_id="r1")
    summary = RunSummary("r1", "succeeded", 3, 2, 1, 0, QUEUED, QUEUED)
    state.record_run(TENANT, "accounts", summary)
    state.set_unavailable_attempts(TENANT, "cases", 2)  # an item with no watermark yet
    rows = {row.data_type: row for row in state.watermark_rows(TENANT)}
    assert set(rows) == {"accounts", "cases"}
    accounts = rows["accounts"]
    assert (accounts.watermark, accounts.updated_by) == ("2026-11-20T05:30:00Z", "run:r1")
    assert accounts.last_run["status"] == "succeeded" and int(accounts.last_run["fetched"]) == 3
    assert (rows["cases"].watermark, rows["cases"].last_run) == (None, {})
