"""DynamoStateStore's mapping store: batches over the API limits, unprocessed keys and items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from severa_sync.engine.ports import Mapping
from severa_sync.state.dynamodb import DynamoStateStore, StateStoreUnavailable

from .conftest import TABLE, Clock

TENANT = "acme"


def mapping(i: int) -> Mapping:
    return Mapping(f"C{i:05d}", f"h{i}", datetime(2026, 11, 21, 5, 0, i % 60, tzinfo=UTC), {"n": str(i)})


def test_mapping_round_trip(store: DynamoStateStore) -> None:
    assert store.get_mapping(TENANT, "accounts", "g1") is None
    store.put_mapping(TENANT, "accounts", "g1", mapping(1))
    assert store.get_mapping(TENANT, "accounts", "g1") == mapping(1)
    assert store.get_mapping(TENANT, "cases", "g1") is None


def test_mappings_in_batches_over_100_keys(store: DynamoStateStore) -> None:
    items = {f"guid-{i:04d}": mapping(i) for i in range(260)}
    store.put_mappings(TENANT, "hour_entries", items)
    wanted = [*items, "missing-1", "missing-2", "guid-0000"]  # absent keys are left out, repeats harmless
    assert store.get_mappings(TENANT, "hour_entries", wanted) == items
    assert store.get_mappings(TENANT, "hour_entries", []) == {}


class FlakyBatches:
    """A DynamoDB client that leaves part of each batch unprocessed for the first ``flaky`` calls."""

    def __init__(self, client: Any, flaky: int):
        self._client = client
        self.flaky = flaky
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls += 1
        keys = RequestItems[TABLE]["Keys"]
        if self.calls > self.flaky:
            return self._client.batch_get_item(RequestItems=RequestItems)
        done = self._client.batch_get_item(RequestItems={TABLE: {"Keys": keys[: len(keys) // 2]}})
        done["UnprocessedKeys"] = {TABLE: {"Keys": keys[len(keys) // 2 :]}}
        return done

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls += 1
        puts = RequestItems[TABLE]
        if self.calls > self.flaky:
            return self._client.batch_write_item(RequestItems=RequestItems)
        done = self._client.batch_write_item(RequestItems={TABLE: puts[:1]})
        done["UnprocessedItems"] = {TABLE: puts[1:]} if len(puts) > 1 else {}
        return done


def test_unprocessed_keys_and_items_are_asked_again(dynamodb: Any, clock: Clock) -> None:
    pauses: list[float] = []
    flaky = FlakyBatches(dynamodb, flaky=3)
    store = DynamoStateStore(flaky, TABLE, clock=clock, sleep=pauses.append)
    items = {f"g{i}": mapping(i) for i in range(30)}
    store.put_mappings(TENANT, "absences", items)
    flaky.calls, flaky.flaky = 0, 2
    assert store.get_mappings(TENANT, "absences", list(items)) == items
    assert pauses and all(p > 0 for p in pauses)


def test_keys_never_processed_stop_the_run(dynamodb: Any, clock: Clock) -> None:
    store = DynamoStateStore(FlakyBatches(dynamodb, flaky=10**6), TABLE, clock=clock, sleep=lambda _: None)
    store.put_mapping(TENANT, "absences", "a", mapping(1))
    with pytest.raises(StateStoreUnavailable) as caught:
        store.get_mappings(TENANT, "absences", ["a", "b"])
    assert caught.value.call is not None and caught.value.call.operation == "BatchGetItem"
