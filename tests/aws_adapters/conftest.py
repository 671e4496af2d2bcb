"""moto in-process fixtures: every test gets fresh, empty AWS services and fake credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table

REGION = "eu-west-1"
TABLE = "severa-sync-state"


class Clock:
    """A clock tests move by hand: leases expire without sleeping."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def dynamodb() -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_state_table(client, TABLE)
    return client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(dynamodb: Any, clock: Clock) -> DynamoStateStore:
    return DynamoStateStore(dynamodb, TABLE, clock=clock, sleep=lambda _: None)
