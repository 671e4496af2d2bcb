"""Issue 16, item 2: a backfill paced by Visma.net's quota windows, not failed by them.

The engine and the real adapters against both simulators over HTTP; the Visma.net simulator enforces
a quota per fixed window with a clock the test advances, and the client's own clock follows it, so
hours of quota pass in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from severa_sync.config import parse_config
from severa_sync.engine.engine import RunResult, SyncEngine
from severa_sync.engine.pause import eta_seconds
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from severa_sync.state.memory import MemoryStateStore
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.target import VismaTarget
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator
from tests.fakes import ListAlerts

from .conftest import CLIENT_SECRET

SEVERA_KEY = "pacing-key-never-logged"
WINDOW = 3600.0
QUOTA = 100  # calls per window; 10 of them kept for other integrations


class Clock:
    """The client's monotonic clock, moved on with the simulator's."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pacing:
    severa: SeveraSimulator
    visma: VismaSimulator
    engine: SyncEngine
    alerts: ListAlerts
    clock: Clock

    def advance(self, seconds: float) -> None:
        self.visma.advance(seconds)
        self.clock.now += seconds

    def run(self, attempt: int = 0, run_id: str | None = None) -> RunResult:
        return self.engine.run("accounts", attempt=attempt, run_id=run_id)


class NoDependencies:
    def key_of(self, data_type: str, severa_guid: str) -> str:  # accounts refer to nothing
        raise AssertionError("accounts have no dependencies")


@pytest.fixture
def pacing() -> Iterator[Pacing]:
    yield from _pacing()


def _pacing(engine: dict[str, Any] | None = None, **severa_settings: Any) -> Iterator[Pacing]:
    with (
        SeveraSimulator(api_key=SEVERA_KEY, seed=True) as severa,
        VismaSimulator(client_secret=CLIENT_SECRET, quota=QUOTA, quota_window_seconds=WINDOW) as visma,
    ):
        config = parse_config(
            {
                "tenant": "acme",
                "severa": {"url": severa.url, **severa_settings},
                "visma": {"base_url": visma.base_url, "token_url": visma.token_url},
                "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
                **({"engine": engine} if engine else {}),
                "types": {
                    "accounts": {"backfill_from": (severa.now() - timedelta(days=60)).date().isoformat()}
                },
            }
        )
        clock, state = Clock(), MemoryStateStore()
        client = VismaClient(config.visma, Secret(CLIENT_SECRET), monotonic=clock)
        target = VismaTarget(client, state, "acme", config, NoDependencies())
        alerts = ListAlerts()
        engine = SyncEngine(
            config=config,
            source=SeveraSource(SeveraClient(config, Secret(SEVERA_KEY)), config),
            target_for=lambda dt: target,
            state=state,
            alerts=alerts,
            telemetry=CollectingTelemetry(),
        )
        yield Pacing(severa, visma, engine, alerts, clock)


def _backfill(p: Pacing, accounts: int) -> None:
    at = p.severa.now() - timedelta(minutes=5)
    for guid in p.severa.mass_update("Customer", accounts, at=at):
        # Renamed: a change to nothing severa-sync owns (the seed's touched accounts) costs no call.
        name = (p.severa.get("Customer", guid) or {}).get("Name")
        p.severa.upsert("Customer", {"GUID": guid, "Name": f"{name} (changed)"}, at=at)


def test_a_backfill_pauses_at_each_window_and_finishes_with_no_failure_alert_or_duplicate(
    pacing: Pacing, caplog: pytest.LogCaptureFixture
) -> None:
    p = pacing
    _backfill(p, 250)
    first = p.run()
    assert first.status.value == "paused" and first.error_code == "target_quota_paused"
    assert 80 <= first.delivered <= 90  # the window's 90 calls less the census
    assert 0 < first.resume_in_seconds <= WINDOW
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Delivered ")]
    assert line.startswith(f"Delivered {first.delivered} of 250 accounts; quota window resets in 60 min")
    assert line.endswith("to go") and "about 2 hours" in line  # 250 - 89 left at 90 a window
    assert p.alerts.sent == []

    windows, result = 1, first
    while result.status.value == "paused":
        assert windows < 10, "the backfill stopped making progress"
        p.advance(result.resume_in_seconds)
        result = p.run(attempt=windows, run_id=first.run_id)  # the retry machine's next call
        windows += 1
    assert result.status.value == "succeeded"
    numbers = [c["number"] for c in p.visma.customers]
    assert len(numbers) == len(set(numbers)) == len(p.severa.records("Customer"))  # 250 + the seed's 8
    assert windows <= math.ceil(len(numbers) / 90) + 1
    assert p.alerts.sent == []
    assert [s for _, _, s in p.visma.requests if s == 429] == []  # paced: never refused


@pytest.mark.parametrize(
    ("others_leave", "delivered", "said"),
    [(0, 0, "before this account run delivered anything"), (12, 2, "A normal incremental account run")],
    ids=["no-progress", "incremental"],
)
def test_a_pause_that_is_not_a_planned_backfill_pause_alerts(
    pacing: Pacing, others_leave: int, delivered: int, said: str
) -> None:
    p = pacing
    assert p.run().status.value == "succeeded"  # the seed's 8 accounts
    others = parse_config(
        {"tenant": "x", "visma": {"base_url": p.visma.base_url, "token_url": p.visma.token_url}}
    ).visma.model_copy(update={"quota_reserve_percent": 0})
    spender = VismaClient(others, Secret(CLIENT_SECRET))  # another integration of the company
    spender.get("/v1/customer/none")
    while spender.quota.remaining is not None and spender.quota.remaining > others_leave:
        spender.get("/v1/customer/none")
    _backfill(p, 3)
    paused = p.run()  # 12 left: 2 calls above the reserve of 10, then the pause
    assert paused.status.value == "paused" and paused.delivered == delivered
    assert p.alerts.kinds() == ["quota"] and said in p.alerts.sent[0].summary


def test_the_eta_counts_whole_windows_after_the_reset() -> None:
    assert eta_seconds(0, 600, 90, 3600) == 0
    assert eta_seconds(90, 600, 90, 3600) == 600  # all of it in the next window
    assert eta_seconds(91, 600, 90, 3600) == 600 + 3600
    assert eta_seconds(85_100, 1380, 13_500, 3600) == 1380 + 6 * 3600
    assert eta_seconds(10, 600, None, 3600) is None


def test_a_since_read_found_over_the_size_cap_while_counting_continues_with_the_fallback() -> None:
    # Batches of 50: the first window's 89 accounts go before the answer's end; the whole answer of
    # 258 accounts is bigger than the cap, which only counting the rest finds.
    world = _pacing(engine={"batch_size": 50}, max_response_bytes=150_000)
    p = next(world)
    try:
        _backfill(p, 250)
        first = p.run()
        assert first.status.value == "paused" and first.eta_seconds is None  # not countable
        p.severa.reset_calls()
        p.advance(first.resume_in_seconds)
        second = p.run(attempt=1, run_id=first.run_id)
        operations = [call.operation for call in p.severa.calls]
        assert "ICustomer/GetCustomersChangedSince" not in operations  # not decoded a second time
        assert "ICustomer/GetAllCustomers" in operations
        assert second.skipped >= first.delivered  # what the first window delivered is not re-sent
    finally:
        world.close()


def test_counting_the_rest_of_an_answer_makes_no_attached_reads(pacing: Pacing) -> None:
    from severa_sync import registry
    from severa_sync.engine.ports import Window

    accounts = registry.get("accounts")
    source = pacing.engine.source_for(accounts)
    assert isinstance(source, SeveraSource)
    since = Window(pacing.severa.now() - timedelta(days=400))

    def address_reads(read: Any) -> int:
        pacing.severa.reset_calls()
        read()
        return sum(1 for c in pacing.severa.calls if c.operation.startswith("IAddress/"))

    assert address_reads(lambda: list(source.read(accounts, since))) > 0  # the seed's have addresses
    with source.counting():
        assert address_reads(lambda: sum(1 for _ in source.read(accounts, since))) == 0
