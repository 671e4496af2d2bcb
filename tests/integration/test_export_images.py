"""S3 exports equal Severa after the next run that covers a day (issue 11 classes 1, 2 and 15).

Real stack: the Severa simulator over HTTP, the S3 export target and the DynamoDB state in moto.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from severa_sync.config import parse_config
from severa_sync.engine.engine import RunStatus, SyncEngine
from severa_sync.engine.ports import Mapping
from severa_sync.engine.resume import RetryDays
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table
from severa_sync.targets.s3 import S3ExportTarget
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa import SeveraSimulator
from tests.fakes import ListAlerts

API_KEY = "images-key-never-logged"
T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
BUCKET = "exports"
USER = "0b5f6a55-6b1e-4b8e-9a35-6f2a1c3f0001"
CASE = "0b5f6a55-6b1e-4b8e-9a35-6f2a1c3f0002"
VACATION = "0b5f6a55-6b1e-4b8e-9a35-6f2a1c3f0003"
BY_DATE = "IHourEntry/GetHourEntriesByDate"


def day(days_back: int) -> datetime:
    return (T0 - timedelta(days=days_back)).replace(hour=0)


class Stack:
    def __init__(self, sim: SeveraSimulator, s3: Any, dynamodb: Any, **overrides: Any):
        self.sim, self.s3 = sim, s3
        config = {
            "tenant": "acme",
            "severa": {"url": sim.url, "read_timeout_seconds": 30, **overrides.pop("severa", {})},
            "export_bucket": BUCKET,
            "types": {
                name: {"backfill_from": (T0 - timedelta(days=20)).date().isoformat(), **overrides}
                for name in ("hour_entries", "absences")
            },
        }
        self.config = parse_config(config)
        self.state = DynamoStateStore(dynamodb, "state", clock=sim.now)
        self.target = S3ExportTarget(s3, self.state, self.config, clock=sim.now)
        self.alerts = ListAlerts()
        source = SeveraSource(SeveraClient(self.config, Secret(API_KEY)), self.config)
        self.engine = SyncEngine(
            config=self.config,
            source=source,
            target_for=lambda dt: self.target,
            state=self.state,
            alerts=self.alerts,
            telemetry=CollectingTelemetry(),
            clock=sim.now,
        )

    def run(self, name: str = "hour_entries", **kwargs: Any) -> Any:
        result = self.engine.run(name, **kwargs)
        self.sim.set_clock(self.sim.now() + timedelta(hours=1))
        return result

    def files(self, name: str = "hour_entries") -> dict[str, list[dict[str, Any]]]:
        """Partition -> lines, every export file of ``name`` (split on newlines only)."""
        prefix = f"exports/tenant=acme/type={name}/"
        out: dict[str, list[dict[str, Any]]] = {}
        for item in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
            body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            assert len(body.splitlines()) == body.count("\n"), "a line breaks for str.splitlines readers"
            partition = item["Key"][len(prefix) :].split("/")[0].split("=")[1]
            out[partition] = [json.loads(line) for line in body.split("\n") if line]
        return out

    def image_problems(self) -> list[str]:
        """Every day file holds exactly Severa's entries of its day."""
        severa: dict[str, set[str]] = {}
        for row in self.sim.records("HourEntry"):
            severa.setdefault(row["EventDate"].date().isoformat(), set()).add(row["GUID"])
        problems = []
        for partition, lines in self.files().items():
            if sorted(line["GUID"] for line in lines) != sorted(severa.get(partition, set())):
                problems.append(
                    f"{partition}: S3 {sorted(line['GUID'] for line in lines)} != {severa.get(partition)}"
                )
        problems += [f"{p}: no file" for p in severa if p not in self.files()]
        return problems


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb, "state")
        yield s3, dynamodb


@pytest.fixture
def sim() -> Iterator[SeveraSimulator]:
    simulator = SeveraSimulator(api_key=API_KEY, seed=False, now=T0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def stack(sim: SeveraSimulator, aws: tuple[Any, Any]) -> Stack:
    return Stack(sim, *aws)


def put_entry(
    sim: SeveraSimulator, n: int, days_back: int, *, at: datetime | None = None, text: str = ""
) -> str:
    guid = f"0b5f6a55-6b1e-4b8e-9a35-{n:012d}"
    sim.upsert(
        "HourEntry",
        {
            "GUID": guid,
            "EventDate": day(days_back),
            "Quantity": Decimal("7.5"),
            "UserGUID": USER,
            "CaseGUID": CASE,
            "Description": text or f"work {n}",
            "IsBillable": True,
        },
        at=at or sim.now() - timedelta(hours=1),
    )
    return guid


def test_a_deleted_hour_entry_leaves_its_day_file_after_the_next_run(stack: Stack) -> None:
    kept, gone = put_entry(stack.sim, 1, 3), put_entry(stack.sim, 2, 3)
    assert stack.run().status is RunStatus.SUCCEEDED
    assert {line["GUID"] for line in stack.files()[day(3).date().isoformat()]} == {kept, gone}
    stack.sim.delete("HourEntry", gone)  # GetHourEntriesChangedSince will never mention it
    assert stack.run().status is RunStatus.SUCCEEDED
    assert stack.image_problems() == []
    stack.sim.delete("HourEntry", kept)  # the day is now empty: so is its file
    stack.run()
    assert stack.files()[day(3).date().isoformat()] == []


def test_a_guid_remap_and_back_never_doubles_the_hours(stack: Stack) -> None:
    for n in range(4):
        put_entry(stack.sim, n, n)
    stack.run()
    stack.sim.remap_guids("HourEntry")  # February 2020: other GUIDs for every entry, no change time
    stack.run()
    assert stack.image_problems() == []
    hours = sum(Decimal(line["Quantity"]) for lines in stack.files().values() for line in lines)
    assert hours == Decimal("30.0")
    stack.sim.restore_guids("HourEntry")
    stack.run()
    assert stack.image_problems() == []


def test_a_run_with_no_change_delivers_nothing(stack: Stack) -> None:
    """The reconciliation span is read again every run, but unchanged lines count as skipped."""
    for n in range(5):
        put_entry(stack.sim, n, n)
    first = stack.run()
    assert (first.fetched, first.delivered, first.skipped) == (5, 5, 0)
    again = stack.run()
    assert again.status is RunStatus.SUCCEEDED
    assert (again.fetched, again.delivered, again.skipped) == (5, 0, 5)
    put_entry(stack.sim, 1, 1, text="corrected")
    edited = stack.run()
    assert (edited.fetched, edited.delivered, edited.skipped) == (5, 1, 4)
    assert stack.image_problems() == []


def test_a_change_committed_past_the_skew_margin_is_exported_by_the_next_run(stack: Stack) -> None:
    put_entry(stack.sim, 1, 2)
    stack.run()
    # Changed 300 s before this moment, but committed (visible) only now: the last run's watermark
    # (its signpost less 120 s) is already past its change time.
    late = put_entry(stack.sim, 2, 2, at=stack.sim.now() - timedelta(minutes=65))
    stack.run()
    assert late in {line["GUID"] for line in stack.files()[day(2).date().isoformat()]}
    assert stack.image_problems() == []


def test_line_separators_in_texts_keep_every_later_run_working(stack: Stack) -> None:
    put_entry(stack.sim, 1, 1, text="Meeting\u2028notes\u2029and\x85more")
    assert stack.run().status is RunStatus.SUCCEEDED
    put_entry(stack.sim, 2, 1)
    assert stack.run().status is RunStatus.SUCCEEDED
    assert stack.image_problems() == []
    assert stack.files()[day(1).date().isoformat()][0]["Description"] == "Meeting\u2028notes\u2029and\x85more"


def test_an_absence_entered_five_weeks_back_is_exported(stack: Stack) -> None:
    stack.sim.upsert(
        "ActivityType", {"GUID": VACATION, "Name": "Vacation", "Category": "Absences", "IsActive": True}
    )
    stack.run("absences")
    start = day(35).replace(hour=8)
    stack.sim.upsert(
        "Activity",
        {
            "GUID": "0b5f6a55-6b1e-4b8e-9a35-6f2a1c3f0009",
            "Name": "Late leave",
            "ActivityTypeGUID": VACATION,
            "OwnerUserGUID": USER,
            "StartDateTime": start,
            "EndDateTime": start + timedelta(hours=8),
            "IsAllDay": False,
        },
    )
    stack.sim.set_clock(stack.sim.now() + timedelta(days=7))  # the next weekly run
    stack.run("absences")
    names = [line["Name"] for lines in stack.files("absences").values() for line in lines]
    assert names == ["Late leave"]


def test_the_by_date_read_resumes_where_it_stopped(stack: Stack) -> None:
    for n in range(20):
        put_entry(stack.sim, n, n)
    stack.sim.reset_calls()
    budget = iter([1000.0] * 8)
    first = stack.run(remaining_seconds=lambda: next(budget, 0.0))
    assert first.status is RunStatus.PARTIAL
    before = len([c for c in stack.sim.calls if c.operation == BY_DATE])
    second = stack.engine.run("hour_entries")
    assert second.status is RunStatus.SUCCEEDED
    calls = [c for c in stack.sim.calls if c.operation == BY_DATE]
    # From 1 September (the reconciliation span) to 18 November: 79 days in windows of 7, and a year
    # ahead in one: 13 reads in all, none of them twice.
    assert before == 7 and len(calls) == 13
    starts = [c.params["startdate"] for c in calls]
    assert len(set(starts)) == len(starts)
    assert stack.image_problems() == []


def big_day(sim: SeveraSimulator) -> tuple[datetime, str]:
    """Day 5 back over a 16 KB answer limit even alone; one small entry on day 2."""
    for n in range(40):
        put_entry(sim, 100 + n, 5, text="x" * 200)
    return day(5), put_entry(sim, 1, 2)


def alone(of: datetime) -> datetime:
    """Where the read of a day alone starts: 12:00 the day before (``images.HALF_DAY``)."""
    return of - timedelta(hours=12)


def test_a_day_over_the_size_cap_is_read_whole(sim: SeveraSimulator, aws: tuple[Any, Any]) -> None:
    """Issue 11 class 8: the reader streams with flat memory, so the answer limit must not stop a
    day that nothing smaller can read exactly (it used to end in day_unreadable)."""
    stack = Stack(sim, *aws, severa={"max_response_bytes": 16_000})
    big, small = big_day(sim)
    sim.reset_calls()
    result = stack.run()
    assert result.status is RunStatus.SUCCEEDED, result
    assert stack.alerts.sent == []
    assert len(stack.files()[big.date().isoformat()]) == 40
    assert small in {line["GUID"] for line in stack.files()[day(2).date().isoformat()]}
    assert stack.image_problems() == []
    # The big day read alone once, past the limit (so were its neighbours, whose margins hold it).
    assert [c.params["startdate"] for c in sim.calls if c.params.get("startdate") == alone(big)] == [
        alone(big)
    ]
    assert not isinstance(stack.state.read_watermark("acme", "hour_entries").resume, RetryDays)


def test_a_day_too_slow_even_alone_is_read_again_by_the_next_run(
    sim: SeveraSimulator, aws: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What cannot be read (Severa too slow for one day alone) still does not halt the type."""
    stack = Stack(
        sim, *aws, severa={"max_response_bytes": 16_000, "read_timeout_seconds": 0.3, "transport_retries": 0}
    )
    big, small = big_day(sim)
    source = stack.engine.source
    original = source.read_fallback

    def slow_when_alone(data_type: Any, window: Any) -> Any:
        if window.start == alone(big):  # the big day read alone: Severa takes longer than the timeout
            sim.slow(1.0, calls=1, operation=BY_DATE)
        return original(data_type, window)

    monkeypatch.setattr(source, "read_fallback", slow_when_alone)
    result = stack.run()
    assert result.status is RunStatus.FAILED and result.error_code == "day_unreadable"
    assert [a.kind for a in stack.alerts.sent] == ["day_unreadable"]
    assert small in {line["GUID"] for line in stack.files()[day(2).date().isoformat()]}
    assert big.date().isoformat() not in stack.files()
    resume = stack.state.read_watermark("acme", "hour_entries").resume
    assert isinstance(resume, RetryDays) and resume.retry_days == [big.date()]
    # Once Severa answers in time, the next run exports the day.
    monkeypatch.setattr(source, "read_fallback", original)
    stack.target = S3ExportTarget(aws[0], stack.state, stack.config, clock=sim.now)
    assert stack.run().status is RunStatus.SUCCEEDED
    assert len(stack.files()[big.date().isoformat()]) == 40
    assert stack.image_problems() == []


def test_hour_entries_are_logged_by_the_case_number_and_the_users_code(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Payroll recognises a case by its number and a person by their code: an entry's log line
    shows the case where the cases type has delivered it (its mapping keeps the number, read from
    state) and the user by the code one users read per run answers."""
    stack.sim.upsert("User", {"GUID": USER, "FirstName": "Aino", "LastName": "A", "Code": "E042"}, at=T0)
    put_entry(stack.sim, 1, 2)
    put_entry(stack.sim, 2, 3)
    stack.state.put_mapping("acme", "cases", CASE, Mapping("P-512", "h", T0, {"display_key": "512"}))
    calls = len(stack.sim.calls)
    with caplog.at_level(logging.INFO, logger="severa-sync"):
        assert stack.run().status is RunStatus.SUCCEEDED
    delivered = [r for r in caplog.records if getattr(r, "action", None) == "record_delivered"]
    assert len(delivered) == 2 and all("case 512" in r.getMessage() for r in delivered)
    assert all("user E042" in r.getMessage() and USER not in r.getMessage() for r in delivered)
    assert all(CASE not in r.getMessage() and "Aino" not in r.getMessage() for r in delivered)
    operations = [c.operation for c in stack.sim.calls[calls:]]
    assert "ICase/GetCaseByGUID" not in operations
    assert operations.count("IUser/GetUsersChangedSince") == 1, "one users read per run"
