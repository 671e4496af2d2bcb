"""DynamoStateStore against moto: every StateStore method, and the races it exists to settle."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from severa_sync.engine.ports import RunSummary, SourceRecord, Versions
from severa_sync.engine.resume import FallbackProgress, RecentChanges, RetryDays, UnreadableResume
from severa_sync.errors import ConfigError, TargetRejected
from severa_sync.state import table as t
from severa_sync.state.dynamodb import DynamoStateStore, StateStoreUnavailable

from .conftest import TABLE, Clock

TENANT = "acme"


class Payload(BaseModel):
    GUID: str


def record(key: str, display: str = "") -> SourceRecord:
    return SourceRecord(key, None, display or f"#{key}", f"hash-{key}", Payload(GUID=key))


def raw_item(client: Any, sk: str, tenant: str = TENANT) -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key=t.item_key(tenant, sk))["Item"]


def hand_edit(client: Any, sk: str, **attrs: str) -> None:
    """What an operator does in the console: set string attributes on the item."""
    names = {f"#{k}": k for k in attrs}
    values = {f":{k}": {"S": v} for k, v in attrs.items()}
    client.update_item(
        TableName=TABLE,
        Key=t.item_key(TENANT, sk),
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in attrs),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


# --- the table ----------------------------------------------------------------------------------
def test_table_is_created_as_declared(dynamodb: Any) -> None:
    desc = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert [dict(k) for k in t.KEY_SCHEMA] == desc["KeySchema"]
    assert sorted(map(dict, t.ATTRIBUTE_DEFINITIONS), key=str) == sorted(
        desc["AttributeDefinitions"], key=str
    )
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


# --- watermarks ---------------------------------------------------------------------------------
def test_watermark_round_trip_is_readable_and_exact(store: DynamoStateStore, dynamodb: Any) -> None:
    assert store.read_watermark(TENANT, "accounts").watermark is None
    new = datetime(2026, 11, 20, 5, 30, 0, 123456, tzinfo=UTC)
    assert store.write_watermark(TENANT, "accounts", new, expected_raw=None, run_id="r1", window_seconds=3600)
    state = store.read_watermark(TENANT, "accounts")
    assert state.watermark == new  # never rounded
    assert state.raw == "2026-11-20T05:30:00.123456Z"
    assert state.window_seconds == 3600
    item = raw_item(dynamodb, "WATERMARK#accounts")
    assert item["watermark"] == {"S": "2026-11-20T05:30:00.123456Z"}
    assert item["updated_by"] == {"S": "run:r1"}
    assert item["updated_at"] == {"S": "2026-11-21T05:30:00Z"}
    assert item["tenant"] == {"S": TENANT} and item["data_type"] == {"S": "accounts"}
    assert item["window_seconds"] == {"N": "3600"}


def test_conditional_write_loses_to_a_hand_edit(store: DynamoStateStore, dynamodb: Any) -> None:
    first = datetime(2026, 11, 20, tzinfo=UTC)
    store.write_watermark(TENANT, "cases", first, expected_raw=None, run_id="r1")
    read = store.read_watermark(TENANT, "cases")
    hand_edit(dynamodb, "WATERMARK#cases", watermark="2026-11-01", updated_by="operator:alice")  # mid-run
    later = first + timedelta(hours=5)
    assert store.write_watermark(TENANT, "cases", later, expected_raw=read.raw, run_id="r1") is False
    state = store.read_watermark(TENANT, "cases")
    assert state.raw == "2026-11-01"
    assert state.watermark == datetime(2026, 11, 1, tzinfo=UTC)
    # The next run starts from the operator's value and may advance it.
    assert store.write_watermark(TENANT, "cases", later, expected_raw=state.raw, run_id="r2") is True
    assert store.read_watermark(TENANT, "cases").watermark == later


def test_first_write_loses_when_someone_set_a_watermark_already(
    store: DynamoStateStore, dynamodb: Any
) -> None:
    hand_edit(dynamodb, "WATERMARK#cases", watermark="2026-10-01T00:00:00+03:00")
    assert not store.write_watermark(
        TENANT, "cases", datetime(2026, 11, 1, tzinfo=UTC), expected_raw=None, run_id="r1"
    )
    assert store.read_watermark(TENANT, "cases").watermark == datetime(2026, 9, 30, 21, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["yesterday", "2026-13-01", ""])
def test_unparsable_hand_typed_watermark_is_a_config_error_naming_it(
    store: DynamoStateStore, dynamodb: Any, typed: str
) -> None:
    hand_edit(dynamodb, "WATERMARK#invoices", watermark=typed)
    with pytest.raises(ConfigError) as caught:
        store.read_watermark(TENANT, "invoices")
    assert "WATERMARK#invoices" in caught.value.message
    assert repr(typed) in caught.value.message
    assert caught.value.call is not None and caught.value.call.operation == "GetItem"


def test_resume_window_and_attempts(store: DynamoStateStore) -> None:
    resume = FallbackProgress(cursor=datetime(2026, 11, 1, tzinfo=UTC)).stamped(None)
    assert store.save_resume(TENANT, "hour_entries", resume, expected_raw=None, window_seconds=86400)
    store.set_unavailable_attempts(TENANT, "hour_entries", 3)
    state = store.read_watermark(TENANT, "hour_entries")
    assert (state.watermark, state.resume, state.window_seconds, state.unavailable_attempts) == (
        None,
        resume,
        86400,
        3,
    )
    # Advancing with a resume point keeps it; advancing without one drops it (it was for the old place).
    when = datetime(2026, 11, 2, tzinfo=UTC)
    recent = RecentChanges(recent={"a": "0123456789ab"})
    assert store.write_watermark(TENANT, "hour_entries", when, expected_raw=None, run_id="r", resume=recent)
    assert store.read_watermark(TENANT, "hour_entries").resume == recent
    raw = store.read_watermark(TENANT, "hour_entries").raw
    assert store.write_watermark(TENANT, "hour_entries", when, expected_raw=raw, run_id="r")
    assert store.read_watermark(TENANT, "hour_entries").resume is None
    assert store.save_resume(
        TENANT, "hour_entries", RetryDays(retry_days=[date(2026, 11, 3)]), expected_raw=raw
    )
    assert store.save_resume(TENANT, "hour_entries", None, expected_raw=raw)
    assert store.read_watermark(TENANT, "hour_entries").resume is None
    assert store.read_watermark(TENANT, "hour_entries").window_seconds == 86400


def test_oversized_resume_is_refused(store: DynamoStateStore) -> None:
    with pytest.raises(StateStoreUnavailable, match="larger than"):
        big = RecentChanges(recent={f"{n:036d}": "x" * 12 for n in range(2000)})
        store.save_resume(TENANT, "accounts", big, expected_raw=None)


def test_a_resume_point_is_not_saved_over_a_rewind(store: DynamoStateStore) -> None:
    """A run's resume point belongs to the watermark it read: after an operator's rewind it is
    refused (the run then says it kept the hand-set value), and the rewind's removal stands."""
    start = datetime(2026, 11, 10, tzinfo=UTC)
    assert store.write_watermark(TENANT, "accounts", start, expected_raw=None, run_id="r")
    raw = store.read_watermark(TENANT, "accounts").raw
    store.rewind(TENANT, "accounts", start - timedelta(days=3), by="alice")
    assert not store.save_resume(TENANT, "accounts", FallbackProgress(), expected_raw=raw)
    assert not store.save_resume(TENANT, "accounts", FallbackProgress(), expected_raw=None)
    after = store.read_watermark(TENANT, "accounts")
    assert after.resume is None and after.watermark == start - timedelta(days=3)


def test_record_run_is_a_readable_map(store: DynamoStateStore, dynamodb: Any) -> None:
    started = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    summary = RunSummary("run-7", "partial", 10, 7, 2, 1, started, started + timedelta(minutes=14))
    store.record_run(TENANT, "invoices", summary)
    last_run = raw_item(dynamodb, "WATERMARK#invoices")["last_run"]["M"]
    assert last_run["status"] == {"S": "partial"} and last_run["run_id"] == {"S": "run-7"}
    assert [last_run[k]["N"] for k in ("fetched", "delivered", "skipped", "failed")] == ["10", "7", "2", "1"]
    assert last_run["finished_at"] == {"S": "2026-11-21T03:14:00Z"}
    assert store.read_watermark(TENANT, "invoices").watermark is None  # a run record is not a watermark


def test_rewind_is_unconditional_and_returns_the_old_value(store: DynamoStateStore, dynamodb: Any) -> None:
    store.write_watermark(
        TENANT,
        "accounts",
        datetime(2026, 11, 20, tzinfo=UTC),
        expected_raw=None,
        run_id="r1",
        resume=RecentChanges(recent={"a": "0123456789ab"}),
    )
    read = store.read_watermark(TENANT, "accounts")
    old = store.rewind(TENANT, "accounts", datetime(2026, 11, 1, tzinfo=UTC), by="alice")
    assert old == "2026-11-20T00:00:00Z"
    state = store.read_watermark(TENANT, "accounts")
    assert state.watermark == datetime(2026, 11, 1, tzinfo=UTC) and state.resume is None
    assert raw_item(dynamodb, "WATERMARK#accounts")["updated_by"] == {"S": "operator:alice"}
    # A run that read before the rewind cannot overwrite it.
    assert not store.write_watermark(
        TENANT, "accounts", datetime(2026, 11, 21, tzinfo=UTC), expected_raw=read.raw, run_id="r1"
    )
    assert store.rewind(TENANT, "cases", datetime(2026, 1, 1, tzinfo=UTC), by="operator:bob") is None


# --- locks --------------------------------------------------------------------------------------
def test_lock_lifecycle(store: DynamoStateStore, dynamodb: Any, clock: Clock) -> None:
    assert store.acquire_lock(TENANT, "accounts", "run-a", 900)
    assert not store.acquire_lock(TENANT, "accounts", "run-b", 900)
    assert store.acquire_lock(TENANT, "cases", "run-b", 900)  # locks are per data type
    assert store.acquire_lock(TENANT, "accounts", "run-a", 900)  # its own token may take it again
    item = raw_item(dynamodb, "LOCK#accounts")
    assert item["owner"] == {"S": "run-a"}
    assert item["expires_at"] == {"N": str(int(clock.now.timestamp()) + 900)}
    assert not store.renew_lock(TENANT, "accounts", "run-b", 900)
    clock.advance(seconds=600)
    assert store.renew_lock(TENANT, "accounts", "run-a", 900)
    clock.advance(seconds=600)  # past the first lease, inside the renewed one
    assert not store.acquire_lock(TENANT, "accounts", "run-b", 900)
    store.release_lock(TENANT, "accounts", "run-b")  # not the owner: nothing happens
    assert not store.acquire_lock(TENANT, "accounts", "run-b", 900)
    store.release_lock(TENANT, "accounts", "run-a")
    assert store.acquire_lock(TENANT, "accounts", "run-b", 900)
    store.release_lock(TENANT, "accounts", "run-a")  # releasing a lock one lost is harmless


def test_a_lock_belongs_to_one_invocation_not_to_its_run_id(
    store: DynamoStateStore, dynamodb: Any, clock: Clock
) -> None:
    """Two live attempts of one run (a Step Functions retry while the first still runs) carry the
    same run id and different tokens: the second is refused until the first releases it."""
    assert store.acquire_lock(TENANT, "invoices", "req-1:aaaa", 900, run_id="invoices-run-1")
    assert not store.acquire_lock(TENANT, "invoices", "req-2:bbbb", 900, run_id="invoices-run-1")
    item = raw_item(dynamodb, "LOCK#invoices")
    assert item["owner"] == {"S": "req-1:aaaa"} and item["run_id"] == {"S": "invoices-run-1"}
    assert not store.renew_lock(TENANT, "invoices", "req-2:bbbb", 900)
    store.release_lock(TENANT, "invoices", "req-2:bbbb")  # not its lock: nothing happens
    assert not store.acquire_lock(TENANT, "invoices", "req-2:bbbb", 900, run_id="invoices-run-1")
    store.release_lock(TENANT, "invoices", "req-1:aaaa")
    assert store.acquire_lock(TENANT, "invoices", "req-2:bbbb", 900, run_id="invoices-run-1")


def test_expired_lease_can_be_taken_over(store: DynamoStateStore, clock: Clock) -> None:
    assert store.acquire_lock(TENANT, "invoices", "crashed-run", 120)
    clock.advance(seconds=119)
    assert not store.acquire_lock(TENANT, "invoices", "next-run", 120)
    clock.advance(seconds=2)
    assert store.acquire_lock(TENANT, "invoices", "next-run", 120)
    assert not store.renew_lock(TENANT, "invoices", "crashed-run", 120)


class SerializedWrites:
    """DynamoDB applies writes to one item one at a time; moto in-process checks a condition and
    writes without a lock, so two threads could both pass its check. This client restores the
    service's guarantee; which thread gets there first is still left to the race."""

    _lock = threading.Lock()

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.put_item(**kwargs)


def test_racing_acquirers_exactly_one_wins(dynamodb: Any, clock: Clock) -> None:
    contenders = 8
    service = SerializedWrites(dynamodb)
    for round_no in range(5):
        data_type = f"race{round_no}"
        barrier = threading.Barrier(contenders)
        wins: list[str] = []

        def contend(
            run_id: str,
            data_type: str = data_type,
            barrier: threading.Barrier = barrier,
            wins: list[str] = wins,
        ) -> None:
            store = DynamoStateStore(service, TABLE, clock=clock)
            barrier.wait()
            if store.acquire_lock(TENANT, data_type, run_id, 900):
                wins.append(run_id)

        threads = [threading.Thread(target=contend, args=(f"run-{i}",)) for i in range(contenders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1, wins
        assert raw_item(dynamodb, f"LOCK#{data_type}")["owner"] == {"S": wins[0]}


# --- retry set ----------------------------------------------------------------------------------
def test_park_repark_unpark(store: DynamoStateStore, clock: Clock) -> None:
    store.park(TENANT, "cases", record("g1", "Case 1001"), TargetRejected("project id taken"))
    store.park(TENANT, "cases_archive", record("g9"), TargetRejected("other type"))
    first_at = clock.now
    clock.advance(hours=1)
    store.park(TENANT, "cases", record("g1", "Case 1001"), TargetRejected("still bad " + "x" * 5000))
    store.park(TENANT, "cases", record("g2"), TargetRejected("bad"))
    parked = {item.key: item for item in store.parked(TENANT, "cases")}
    assert set(parked) == {"g1", "g2"}  # "cases_archive" is not "cases"
    g1 = parked["g1"]
    assert (g1.attempts, g1.display_key, g1.last_error_code, g1.first_failed_at) == (
        2,
        "Case 1001",
        "target_rejected",
        first_at,
    )
    assert g1.last_error_message.startswith("still bad") and len(g1.last_error_message) <= 1000
    store.unpark(TENANT, "cases", "g1")
    assert [item.key for item in store.parked(TENANT, "cases")] == ["g2"]


class SmallPages:
    """A DynamoDB client whose queries return pages of two items, as a 1 MB page limit would."""

    def __init__(self, client: Any):
        self._client = client
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        self.pages += 1
        return self._client.query(Limit=2, **kwargs)


def test_parked_pages_through_every_page(dynamodb: Any, clock: Clock) -> None:
    paged = SmallPages(dynamodb)
    store = DynamoStateStore(paged, TABLE, clock=clock)
    for i in range(7):
        store.park(TENANT, "invoices", record(f"k{i}"), TargetRejected("bad"))
    assert sorted(item.key for item in store.parked(TENANT, "invoices")) == [f"k{i}" for i in range(7)]
    assert paged.pages >= 4


# --- versions and halts -------------------------------------------------------------------------
def test_versions(store: DynamoStateStore) -> None:
    assert store.read_versions(TENANT) is None
    store.write_versions(TENANT, Versions("2.1", "2019.4"))
    assert store.read_versions(TENANT) == Versions("2.1", "2019.4")


def test_halts_include_the_state_machine_s_items(
    store: DynamoStateStore, dynamodb: Any, clock: Clock
) -> None:
    store.halt(TENANT, None, "entity_schema_changed", "Severa schema 2019.4 -> 2020.1")
    store.halt(TENANT, "invoices", "severa_authentication_failed", "API key refused")
    # Written exactly as the retry machine's DynamoDB putItem task writes it.
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "TENANT#acme"},
            "sk": {"S": "HALT#accounts"},
            "code": {"S": "retries_exhausted"},
            "reason": {"S": "Severa unavailable after 15 attempts"},
            "since": {"S": "2026-11-21T08:12:03.456Z"},
            "data_type": {"S": "accounts"},
        },
    )
    store.halt("other-tenant", None, "x", "not ours")
    halts = {h.data_type: h for h in store.halts(TENANT)}
    assert set(halts) == {None, "invoices", "accounts"}
    assert halts["accounts"].code == "retries_exhausted"
    assert halts["accounts"].since == datetime(2026, 11, 21, 8, 12, 3, 456000, tzinfo=UTC)
    assert halts[None].reason == "Severa schema 2019.4 -> 2020.1" and halts[None].since == clock.now
    clock.advance(hours=2)
    store.halt(TENANT, "invoices", "severa_authentication_failed", "refused again")
    again = {h.data_type: h for h in store.halts(TENANT)}["invoices"]
    assert again.since == halts["invoices"].since and again.reason == "refused again"
    assert store.clear_halt(TENANT, "accounts", by="operator:alice") is True
    assert store.clear_halt(TENANT, "accounts", by="operator:alice") is False
    assert {h.data_type for h in store.halts(TENANT)} == {None, "invoices"}


def test_access_errors_are_typed_with_the_call(dynamodb: Any, clock: Clock) -> None:
    store = DynamoStateStore(dynamodb, "no-such-table", clock=clock)
    with pytest.raises(StateStoreUnavailable) as caught:
        store.read_watermark(TENANT, "accounts")
    call = caught.value.call
    assert call is not None and call.system == "dynamodb" and call.operation == "GetItem"
    assert call.params == {"table": "no-such-table", "sk": "WATERMARK#accounts"} and call.status == 400
    assert "ResourceNotFoundException" in caught.value.message
    assert store.last_call() == call


def test_the_stored_resume_map_is_what_operators_see_and_an_edited_one_is_unreadable(
    store: DynamoStateStore, dynamodb: Any
) -> None:
    """The map in the console keeps its documented keys; a hand-edited one parses as unreadable."""
    signpost = datetime(2026, 11, 5, 3, 0, tzinfo=UTC)
    progress = FallbackProgress(signpost=signpost, cursor=datetime(2026, 11, 1, tzinfo=UTC)).stamped(None)
    assert store.save_resume(TENANT, "hour_entries", progress, expected_raw=None)
    stored = raw_item(dynamodb, "WATERMARK#hour_entries")["resume"]["M"]
    assert stored == {
        "mode": {"S": "fallback"},
        "signpost": {"S": "2026-11-05T03:00:00Z"},
        "cursor": {"S": "2026-11-01T00:00:00Z"},
        "for_watermark": {"NULL": True},
    }
    assert store.read_watermark(TENANT, "hour_entries").resume == progress
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"TENANT#{TENANT}"}, "sk": {"S": "WATERMARK#hour_entries"}},
        UpdateExpression="SET #r.#c = :bad",
        ExpressionAttributeNames={"#r": "resume", "#c": "cursor"},
        ExpressionAttributeValues={":bad": {"S": "yesterday"}},
    )
    unreadable = store.read_watermark(TENANT, "hour_entries").resume
    assert isinstance(unreadable, UnreadableResume) and "cursor" in unreadable.problem
