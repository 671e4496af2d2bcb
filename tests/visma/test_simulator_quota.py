"""The Visma.net simulator enforces an hourly quota as Visma.net does (issue 16 item 3): the real
``X-RateLimit-*`` headers, 429 with ``Retry-After`` once the window's calls are spent, and a clock
tests can advance, so hours of quota take no time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from severa_sync.errors import TargetQuotaPaused
from severa_sync.secrets import Secret
from severa_sync.targets.visma.client import VismaClient
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import tenant_config


@pytest.fixture
def limited() -> Iterator[VismaSimulator]:
    sim = VismaSimulator(quota=3, quota_window_seconds=3600).start(port=0)
    try:
        yield sim
    finally:
        sim.stop()


def _token(sim: VismaSimulator) -> str:
    answer = requests.post(
        sim.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "severa-sync",
            "client_secret": "sim-secret",
            "tenant_id": "local-company",
            "scope": "vismanet_erp_service_api:read",
        },
        timeout=10,
    )
    return str(answer.json()["access_token"])


def test_the_window_s_calls_then_429_with_retry_after_then_reset(limited: VismaSimulator) -> None:
    headers = {"Authorization": f"Bearer {_token(limited)}", "ipp-company-id": "local-company"}
    seen = []
    for _ in range(3):
        answer = requests.get(f"{limited.base_url}/v1/customer", headers=headers, timeout=10)
        seen.append((answer.status_code, answer.headers["X-RateLimit-Remaining"]))
    assert seen == [(200, "2"), (200, "1"), (200, "0")]
    refused = requests.get(f"{limited.base_url}/v1/customer", headers=headers, timeout=10)
    assert refused.status_code == 429
    assert 3590 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    again = requests.get(f"{limited.base_url}/v1/customer", headers=headers, timeout=10)
    assert again.status_code == 429, "a refused call does not count, and does not open the window"
    limited.advance(3600)
    after = requests.get(f"{limited.base_url}/v1/customer", headers=headers, timeout=10)
    assert after.status_code == 200 and after.headers["X-RateLimit-Remaining"] == "2"


def test_a_client_pauses_at_the_reserve_before_the_window_refuses_anything(limited: VismaSimulator) -> None:
    config = tenant_config(limited, quota_reserve_percent=34)  # of 3 calls: 2 kept for others
    client = VismaClient(config.visma, Secret("sim-secret"), remaining_seconds=lambda: 30.0)
    client.get("/v1/customer/none")  # 2 left: at the reserve
    with pytest.raises(TargetQuotaPaused) as paused:
        client.get("/v1/customer/none")
    assert paused.value.budget == 1 and 3590 <= paused.value.resets_in_seconds <= 3600
    assert "resets in 3600 s" in paused.value.message or "resets in 3599 s" in paused.value.message
    assert [status for _, _, status in limited.requests if status == 429] == []  # paced, never refused


def test_a_client_without_time_to_wait_for_a_refused_window_pauses_until_its_reset(
    limited: VismaSimulator,
) -> None:
    config = tenant_config(limited, quota_reserve_percent=0)
    spender = VismaClient(config.visma, Secret("sim-secret"))  # another integration spends the window
    for _ in range(3):
        spender.get("/v1/customer/none")
    client = VismaClient(config.visma, Secret("sim-secret"), remaining_seconds=lambda: 30.0)
    with pytest.raises(TargetQuotaPaused) as paused:
        client.get("/v1/customer/none")  # knows nothing yet: refused (429, Remaining 0)
    assert paused.value.call is not None and paused.value.call.status == 429
    assert paused.value.resets_in_seconds > 3500
