"""S3ExportTarget against moto S3 with the DynamoDB mapping store: partitions, reruns, moves, weeks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from pydantic import BaseModel

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import SourceRecord, Window
from severa_sync.errors import ConfigError, MappingError, TargetError
from severa_sync.state.dynamodb import DynamoStateStore, StateStoreUnavailable
from severa_sync.targets.s3 import S3ExportTarget, covered_weeks

from .conftest import REGION, Clock

BUCKET = "acme-exports"
HOURS = registry.get("hour_entries")
ABSENCES = registry.get("absences")
HELSINKI = ZoneInfo("Europe/Helsinki")


class HourEntry(BaseModel):
    GUID: str
    EventDate: datetime | None
    Quantity: Decimal = Decimal("1.5")
    Description: str = ""


class Activity(BaseModel):
    GUID: str
    StartDateTime: datetime | None
    Name: str = "Vacation"


class OddEntry(BaseModel):
    GUID: str
    EventDate: str


def entry(guid: str, day: str | None, description: str = "work") -> SourceRecord:
    when = datetime.fromisoformat(day).replace(tzinfo=UTC) if day else None
    payload = HourEntry(GUID=guid, EventDate=when, Description=description)
    return SourceRecord(guid, None, f"hour entry {guid}", f"{guid}:{day}:{description}", payload)


def absence(guid: str, start: datetime, name: str = "Vacation") -> SourceRecord:
    return SourceRecord(
        guid,
        None,
        f"absence {guid}",
        f"{guid}:{start}:{name}",
        Activity(GUID=guid, StartDateTime=start, Name=name),
    )


@pytest.fixture
def s3() -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


@pytest.fixture
def config() -> TenantConfig:
    return TenantConfig(tenant="acme", export_bucket=BUCKET, export_prefix="exports/")


@pytest.fixture
def target(s3: Any, store: DynamoStateStore, config: TenantConfig, clock: Clock) -> S3ExportTarget:
    return S3ExportTarget(s3, store, config, clock=clock)


def read_lines(s3: Any, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def day_key(day: str) -> str:
    return f"exports/tenant=acme/type=hour_entries/date={day}/hour_entries.jsonl"


def week_key(week: str) -> str:
    return f"exports/tenant=acme/type=absences/week={week}/absences.jsonl"


def guids(s3: Any, key: str) -> list[str]:
    return [line["GUID"] for line in read_lines(s3, key)]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI)  # type: ignore[misc]


# --- hour entries -------------------------------------------------------------------------------
def test_day_files_hold_each_entry_once_and_a_rerun_replaces(s3: Any, target: S3ExportTarget) -> None:
    batch = [entry("e1", "2026-11-20"), entry("e2", "2026-11-20"), entry("e3", "2026-11-21")]
    delivery = target.deliver(HOURS, batch)
    assert delivery.delivered == batch and not delivery.failed
    target.flush(HOURS, None)
    target.deliver(HOURS, [entry("e1", "2026-11-20", "corrected"), *batch[1:]])
    target.flush(HOURS, None)
    lines = read_lines(s3, day_key("2026-11-20"))
    assert [line["GUID"] for line in lines] == ["e1", "e2"]
    assert lines[0] == {
        "GUID": "e1",
        "EventDate": "2026-11-20T00:00:00Z",
        "Quantity": "1.5",
        "Description": "corrected",
        "_synced_at": "2026-11-21T05:30:00Z",
        "_content_hash": "e1:2026-11-20:corrected",
    }
    assert guids(s3, day_key("2026-11-21")) == ["e3"]
    head = s3.head_object(Bucket=BUCKET, Key=day_key("2026-11-21"))
    assert head["ContentType"] == "application/x-ndjson" and head["ServerSideEncryption"] == "AES256"


def test_each_record_names_the_object_it_went_to(
    s3: Any, target: S3ExportTarget, store: DynamoStateStore
) -> None:
    """The record-delivered log line and ``state mappings`` show the file a record is in: the key
    the target wrote, from the one function both use."""
    from severa_sync_tools.mapping_view import target_key

    delivery = target.deliver(HOURS, [entry("e1", "2026-11-20"), entry("e2", "2026-11-21")])
    target.deliver(ABSENCES, [absence("a1", local(2026, 11, 16, 8))])
    target.flush(HOURS, None)
    target.flush(ABSENCES, None)
    assert delivery.target_keys == {"e1": day_key("2026-11-20"), "e2": day_key("2026-11-21")}
    for guid in ("e1", "e2"):
        s3.head_object(Bucket=BUCKET, Key=delivery.target_keys[guid])  # the object exists
    for data_type, guid, key in (
        ("hour_entries", "e1", day_key("2026-11-20")),
        ("absences", "a1", week_key("2026-W47")),
    ):
        mapping = store.get_mapping("acme", data_type, guid)
        assert mapping is not None and target_key(mapping, data_type, "acme", "exports/") == key
        s3.head_object(Bucket=BUCKET, Key=key)


def test_an_entry_moving_days_leaves_its_old_file(
    s3: Any, target: S3ExportTarget, store: DynamoStateStore
) -> None:
    target.deliver(HOURS, [entry("e1", "2026-11-20"), entry("e2", "2026-11-20")])
    target.flush(HOURS, None)
    target.deliver(HOURS, [entry("e1", "2026-11-23")])
    target.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == ["e2"]
    assert guids(s3, day_key("2026-11-23")) == ["e1"]
    mapping = store.get_mapping("acme", "hour_entries", "e1")
    assert mapping is not None and mapping.target_key == "2026-11-23" and mapping.extra == {}
    target.deliver(HOURS, [entry("e2", "2026-11-24")])  # the last entry leaves: an empty day file
    target.flush(HOURS, None)
    assert s3.get_object(Bucket=BUCKET, Key=day_key("2026-11-20"))["Body"].read() == b""


class FailingSettle:
    """A mapping store that fails on the n-th put_mappings call: a crash after the objects."""

    def __init__(self, store: DynamoStateStore, fail_on: int):
        self._store = store
        self.fail_on = fail_on
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def put_mappings(self, tenant: str, data_type: str, items: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise StateStoreUnavailable("DynamoDB went away")
        self._store.put_mappings(tenant, data_type, items)


def test_a_crash_between_objects_and_mappings_strands_no_copy(
    s3: Any, store: DynamoStateStore, config: TenantConfig, clock: Clock
) -> None:
    first = S3ExportTarget(s3, store, config, clock=clock)
    first.deliver(HOURS, [entry("e1", "2026-11-20")])
    first.flush(HOURS, None)
    # Run 2: e1 moves to the 21st; the objects are written, then the run dies before settling.
    crashing = S3ExportTarget(s3, FailingSettle(store, fail_on=2), config, clock=clock)  # type: ignore[arg-type]
    crashing.deliver(HOURS, [entry("e1", "2026-11-21")])
    with pytest.raises(StateStoreUnavailable):
        crashing.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-21")) == ["e1"]
    # Run 3: e1 moved again; the copy run 2 wrote must go too.
    rerun = S3ExportTarget(s3, store, config, clock=clock)
    rerun.deliver(HOURS, [entry("e1", "2026-11-22")])
    rerun.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == guids(s3, day_key("2026-11-21")) == []
    assert guids(s3, day_key("2026-11-22")) == ["e1"]


def test_memory_stays_bounded_on_a_mass_update(
    s3: Any, store: DynamoStateStore, config: TenantConfig
) -> None:
    target = S3ExportTarget(s3, store, config, flush_threshold=40)
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    batch = [entry(f"m{i:03d}", days[i % 3]) for i in range(130)]
    for start in range(0, 130, 25):
        target.deliver(HOURS, batch[start : start + 25])
        assert target.buffered(HOURS) < 40
    assert len(guids(s3, day_key(days[0]))) > 0  # early flushes already wrote
    target.flush(HOURS, None)
    assert target.buffered(HOURS) == 0
    written = [g for day in days for g in guids(s3, day_key(day))]
    assert sorted(written) == sorted(r.key for r in batch)


def test_records_without_a_usable_date_fail_alone(s3: Any, target: S3ExportTarget) -> None:
    good = entry("ok", "2026-11-20")
    no_date = entry("nodate", None)
    odd = SourceRecord("odd", None, "hour entry odd", "h", OddEntry(GUID="odd", EventDate="last Tuesday"))
    delivery = target.deliver(HOURS, [no_date, good, odd])
    assert delivery.delivered == [good]
    assert [(r.key, type(e)) for r, e in delivery.failed] == [("nodate", MappingError), ("odd", MappingError)]
    assert "EventDate" in delivery.failed[1][1].message
    target.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == ["ok"]


def test_event_date_with_a_local_offset_keeps_its_local_day(s3: Any, target: S3ExportTarget) -> None:
    payload = HourEntry(GUID="tz", EventDate=local(2026, 11, 20))  # 2026-11-19T22:00Z
    target.deliver(HOURS, [SourceRecord("tz", None, "tz", "h", payload)])
    target.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == ["tz"]


def test_a_concurrent_writer_is_merged_not_overwritten(s3: Any, target: S3ExportTarget) -> None:
    class Interloper:
        """Someone else writes the object between our read and our write, once."""

        def __init__(self) -> None:
            self.done = False

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def put_object(self, **kwargs: Any) -> Any:
            if not self.done:
                self.done = True
                s3.put_object(Bucket=BUCKET, Key=kwargs["Key"], Body=b'{"GUID":"theirs"}\n')
            return s3.put_object(**kwargs)

    target._s3 = Interloper()  # type: ignore[assignment]
    target.deliver(HOURS, [entry("ours", "2026-11-20")])
    target.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == ["theirs", "ours"]


def test_a_missing_bucket_is_a_configuration_error_with_the_call(
    store: DynamoStateStore, clock: Clock
) -> None:
    # Issue 12 item 6: not "S3 unavailable": export_bucket names a bucket that does not exist.
    s3 = boto3.client("s3", region_name=REGION)  # no bucket
    target = S3ExportTarget(s3, store, TenantConfig(tenant="acme", export_bucket=BUCKET), clock=clock)
    with pytest.raises(ConfigError) as caught:  # at the first read of the day file: to count it
        target.deliver(HOURS, [entry("e1", "2026-11-20")])
    assert caught.value.alert_kind == "configuration"
    call = caught.value.call
    assert call is not None and (call.system, call.operation, call.status) == ("s3", "GetObject", 404)
    assert call.params == {"bucket": BUCKET, "key": day_key("2026-11-20")}
    assert "NoSuchBucket" in caught.value.message and target.last_call() == call
    assert BUCKET in caught.value.message and "export_bucket" in caught.value.message


def test_kms_encryption_and_an_unparsable_existing_file(
    s3: Any, store: DynamoStateStore, config: TenantConfig
) -> None:
    target = S3ExportTarget(s3, store, config, kms_key_id="alias/severa-sync")
    target.deliver(HOURS, [entry("e1", "2026-11-20")])
    target.flush(HOURS, None)
    assert s3.head_object(Bucket=BUCKET, Key=day_key("2026-11-20"))["ServerSideEncryption"] == "aws:kms"
    s3.put_object(Bucket=BUCKET, Key=day_key("2026-11-20"), Body=b'{"GUID":"e1"}\nnot json\n')
    target.deliver(HOURS, [entry("e2", "2026-11-20")])
    with pytest.raises(TargetError, match="line 2"):
        target.flush(HOURS, None)


def test_other_types_are_refused(target: S3ExportTarget) -> None:
    with pytest.raises(ConfigError, match="invoices"):
        target.deliver(registry.get("invoices"), [])


# --- absences -----------------------------------------------------------------------------------
TWO_WEEKS = Window(local(2026, 11, 9).astimezone(UTC), local(2026, 11, 23).astimezone(UTC))  # W46, W47


def test_weeks_follow_the_tenant_zone(s3: Any, target: S3ExportTarget) -> None:
    sunday_night_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Monday 01:30 in Helsinki
    target.deliver(ABSENCES, [absence("a1", sunday_night_utc)])
    target.flush(ABSENCES, None)
    assert guids(s3, week_key("2026-W48")) == ["a1"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=week_key("2026-W47"))


def test_covered_weeks_replace_and_drop_deleted_absences(s3: Any, target: S3ExportTarget) -> None:
    a1, a2, a3 = (
        absence("a1", local(2026, 11, 10, 8)),
        absence("a2", local(2026, 11, 17, 8)),
        absence("a3", local(2026, 11, 19, 8)),
    )
    target.deliver(ABSENCES, [a1, a2, a3])
    target.flush(ABSENCES, TWO_WEEKS)
    assert guids(s3, week_key("2026-W46")) == ["a1"] and guids(s3, week_key("2026-W47")) == ["a2", "a3"]
    target.deliver(ABSENCES, [a1, a2])  # a3 was deleted in Severa
    target.flush(ABSENCES, TWO_WEEKS)
    assert guids(s3, week_key("2026-W47")) == ["a2"]
    target.flush(ABSENCES, TWO_WEEKS)  # and then every absence of week 46 and 47 was deleted
    assert guids(s3, week_key("2026-W46")) == guids(s3, week_key("2026-W47")) == []


def test_partly_covered_weeks_are_merged(s3: Any, target: S3ExportTarget) -> None:
    target.deliver(ABSENCES, [absence("a1", local(2026, 11, 16, 8)), absence("a2", local(2026, 11, 20, 8))])
    target.flush(ABSENCES, TWO_WEEKS)
    wednesday_to_wednesday = Window(local(2026, 11, 18).astimezone(UTC), local(2026, 11, 25).astimezone(UTC))
    target.deliver(ABSENCES, [absence("a3", local(2026, 11, 19, 8))])
    target.flush(ABSENCES, wednesday_to_wednesday)
    assert guids(s3, week_key("2026-W47")) == ["a1", "a2", "a3"]


def test_a_mid_window_flush_counts_toward_the_week_it_replaces(s3: Any, target: S3ExportTarget) -> None:
    target.deliver(ABSENCES, [absence("stale", local(2026, 11, 18, 8))])
    target.flush(ABSENCES, TWO_WEEKS)
    target.deliver(ABSENCES, [absence("a1", local(2026, 11, 16, 8))])
    target.flush(ABSENCES, None)  # mid-window
    target.deliver(ABSENCES, [absence("a2", local(2026, 11, 20, 8))])
    target.flush(ABSENCES, TWO_WEEKS)
    assert guids(s3, week_key("2026-W47")) == ["a1", "a2"]


def test_covered_weeks() -> None:
    assert list(covered_weeks(TWO_WEEKS, HELSINKI)) == ["2026-W46", "2026-W47"]
    shifted = Window(TWO_WEEKS.start + timedelta(minutes=1), TWO_WEEKS.end)
    assert list(covered_weeks(shifted, HELSINKI)) == ["2026-W47"]
    # The week daylight saving ends in (25 October 2026) is covered in local time.
    dst = Window(local(2026, 10, 19).astimezone(UTC), local(2026, 10, 26).astimezone(UTC))
    assert list(covered_weeks(dst, HELSINKI)) == ["2026-W43"]
    assert list(covered_weeks(Window(TWO_WEEKS.start, None), HELSINKI)) == []
