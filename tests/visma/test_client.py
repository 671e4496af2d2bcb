"""VismaClient over real HTTP against the simulator: tokens, wrapping, paging, throttling, errors."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable

import pytest
import requests

from severa_sync.errors import (
    OutcomeUnknown,
    TargetAuthFailed,
    TargetQuotaPaused,
    TargetRejected,
    TargetUnavailable,
    TimeBudgetSpent,
)
from severa_sync.targets.visma.auth import TokenCache
from severa_sync.targets.visma.client import TIME_RESERVE_SECONDS, VismaClient
from severa_sync.targets.visma.wire import error_message, location_key, wrap_values
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import CLIENT_SECRET, Sleeps, logged, tenant_config

Factory = Callable[..., VismaClient]


def _customer(number: str, name: str = "Acme Oy") -> dict[str, object]:
    return {"number": number, "name": name, "customerClassId": "1", "overrideWithClassValues": True}


def _token_calls(sim: VismaSimulator) -> int:
    return sum(1 for method, path, _ in sim.requests if path == "/connect/token")


# -- tokens -------------------------------------------------------------------------------------
def test_token_is_fetched_once_and_reused(sim: VismaSimulator, make_client: Factory) -> None:
    client = make_client()
    for _ in range(3):
        assert client.get("/v1/customer/404404") is None
    assert _token_calls(sim) == 1


def test_token_is_refreshed_before_it_expires() -> None:
    with VismaSimulator(client_secret=CLIENT_SECRET, token_lifetime_seconds=120) as sim:
        now = [1000.0]
        cache = TokenCache(
            token_url=sim.token_url,
            client_id="severa-sync",
            client_secret=_secret(),
            tenant_id="local-company",
            scopes=("vismanet_erp_service_api:read",),
            clock=lambda: now[0],
        )
        session = requests.Session()
        first = cache.token(session, 5)
        now[0] += 100  # well inside the lifetime: the cached token
        assert cache.token(session, 5) == first
        now[0] += 10  # inside the lifetime, but past it minus the margin (a tenth of 120 s)
        second = cache.token(session, 5)
        assert first != second
        assert cache.fetches == 2 == _token_calls(sim)


def test_401_refreshes_the_token_once(sim: VismaSimulator, make_client: Factory) -> None:
    client = make_client()
    client.get("/v1/customer/1")
    sim.expire_tokens()
    assert client.get("/v1/customer/1") is None  # 401 -> new token -> 404
    assert _token_calls(sim) == 2
    statuses = [status for method, path, status in sim.requests if path == "/v1/customer/1"]
    assert statuses == [404, 401, 404]


def test_wrong_company_tenant_gives_auth_failure_after_one_refresh(
    sim: VismaSimulator, make_client: Factory
) -> None:
    client = make_client(company_tenant_id="customer-tenant")
    with pytest.raises(TargetAuthFailed) as caught:
        client.get("/v1/customer")
    assert "tenant" in str(caught.value) and "API User" in str(caught.value)
    assert caught.value.call is not None and caught.value.call.status == 401
    assert _token_calls(sim) == 2


def test_wrong_secret_is_refused_at_the_token_endpoint(
    sim: VismaSimulator, make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(secret="not-the-secret")
    with pytest.raises(TargetAuthFailed) as caught:
        client.get("/v1/customer")
    assert "invalid_client" in str(caught.value)
    everything = logged(caplog) + str(caught.value) + repr(caught.value.as_log()) + repr(client)
    assert "not-the-secret" not in everything
    assert not [r for r in sim.requests if r[1] == "/v1/customer"]


# -- wrapping and paging ------------------------------------------------------------------------
def test_wrap_values_wraps_scalars_and_objects_but_not_arrays_or_operation() -> None:
    dto = {
        "name": "Acme",
        "skip": None,
        "overrideWithClassValues": True,
        "mainAddress": {"addressLine1": "Katu 1"},
        "invoiceLines": [{"operation": "Insert", "quantity": 2, "subaccount": [{"segmentId": 1}]}],
    }
    assert wrap_values(dto) == {
        "name": {"value": "Acme"},
        "overrideWithClassValues": True,
        "mainAddress": {"value": {"addressLine1": {"value": "Katu 1"}}},
        "invoiceLines": [{"operation": "Insert", "quantity": {"value": 2}, "subaccount": [{"segmentId": 1}]}],
    }


def test_simulator_refuses_unwrapped_bodies_and_accepts_the_clients(
    sim: VismaSimulator, make_client: Factory
) -> None:
    client = make_client()
    token = client._tokens.token(requests.Session(), 5).reveal()
    plain = requests.post(
        sim.base_url + "/v1/customer",
        json=_customer("11"),
        timeout=5,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert plain.status_code == 400 and "'number'" in plain.json()["message"]
    assert client.create("/v1/customer", _customer("11"), lookup=lambda: None) == "11"
    assert [(c["number"], c["name"], c["customerClass"]) for c in sim.customers] == [
        ("11", "Acme Oy", {"id": "1"})
    ]


@pytest.mark.parametrize(("count", "page_size"), [(23, 5), (20, 5), (7, 50), (0, 5)])
def test_paging_reads_every_item_once(
    sim: VismaSimulator, make_client: Factory, count: int, page_size: int
) -> None:
    for n in range(count):
        sim.seed_customer(str(1000 + n), f"Customer {n}")
    client = make_client(page_size=page_size)
    numbers = [item["number"] for item in client.get_pages("/v1/customer")]
    assert numbers == [str(1000 + n) for n in range(count)]
    pages = [r for r in sim.requests if r[:2] == ("GET", "/v1/customer")]
    assert len(pages) == max(math.ceil(count / page_size), 1)


def test_page_size_above_the_maximum_is_cut_and_still_read_whole(
    sim: VismaSimulator, make_client: Factory
) -> None:
    for n in range(120):
        sim.seed_customer(str(n + 1), f"C{n}")
    client = make_client(page_size=1000)  # the simulator's maximum is 50
    assert len(list(client.get_pages("/v1/customer"))) == 120


# -- throttling and time ------------------------------------------------------------------------
def test_429_waits_retry_after_and_logs_rate_headers(
    sim: VismaSimulator, make_client: Factory, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.get("/v1/customer/1")
    sim.throttle(calls=2, retry_after=7)
    assert client.get("/v1/customer/1") is None
    assert sleeps.waits == [7.0, 7.0]
    throttled = [r for r in caplog.records if "429" in r.getMessage()]
    assert throttled and throttled[0].rate_limit["X-RateLimit-Policy"] == "4-fixed-window"  # type: ignore[attr-defined]


def test_429_for_a_spent_quota_longer_than_the_time_left_pauses_until_the_reset(
    sim: VismaSimulator, make_client: Factory, sleeps: Sleeps
) -> None:
    client = make_client(remaining=lambda: 30.0)
    sim.throttle(calls=1, retry_after=600)
    with pytest.raises(TargetQuotaPaused) as caught:
        client.get("/v1/customer")
    assert sleeps.waits == []
    assert caught.value.call is not None and caught.value.call.status == 429
    assert caught.value.resets_in_seconds == 600


def test_429_without_quota_headers_past_the_time_left_is_unavailable(
    sim: VismaSimulator, make_client: Factory
) -> None:
    client = make_client(remaining=lambda: 30.0)
    sim.throttle(calls=1, retry_after=600, rate_remaining=None)
    with pytest.raises(TargetUnavailable):
        client.get("/v1/customer")


def test_no_call_is_started_without_time_left(sim: VismaSimulator, make_client: Factory) -> None:
    client = make_client(remaining=lambda: 0.5)
    with pytest.raises(TimeBudgetSpent) as caught:
        client.get("/v1/customer")
    assert not isinstance(caught.value, TargetUnavailable)  # no service failed: the run ends partial
    assert "no time left for GET /v1/customer" in str(caught.value)
    assert caught.value.call is not None and caught.value.call.operation == "GET /v1/customer"
    assert sim.requests == []


def test_a_write_cut_by_the_time_budget_before_it_is_sent_is_not_an_unknown_outcome(
    sim: VismaSimulator, make_client: Factory
) -> None:
    client = make_client(remaining=lambda: 0.5)
    looked_up: list[int] = []
    with pytest.raises(TimeBudgetSpent):
        client.create("/v1/customer", _customer("17"), lookup=lambda: looked_up.append(1) or None)
    assert sim.requests == [] and looked_up == []


def test_a_look_up_cut_by_the_time_budget_leaves_the_write_an_unknown_outcome(
    sim: VismaSimulator, make_client: Factory
) -> None:
    def remaining() -> float:  # plenty until the POST has been answered, then nothing
        return 0.5 if ("POST", "/v1/customer") in [r[:2] for r in sim.requests] else 100.0

    client = make_client(remaining=remaining)
    sim.fail_5xx("/v1/customer", calls=1, status=504, method="POST")
    with pytest.raises(OutcomeUnknown) as caught:
        client.create("/v1/customer", _customer("18"), lookup=lambda: client.get("/v1/customer/18"))
    assert "no time left" in str(caught.value)
    assert [r[:2] for r in sim.requests if r[1] != "/connect/token"] == [("POST", "/v1/customer")]


class _RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        self.timeouts.append(kwargs.get("timeout"))
        return super().request(method, url, *args, **kwargs)


@pytest.mark.parametrize(("remaining", "configured"), [(2.5, 60.0), (500.0, 20.0)])
def test_every_call_has_a_timeout_within_the_remaining_time(
    sim: VismaSimulator, remaining: float, configured: float
) -> None:
    config = tenant_config(sim, timeout_seconds=configured)
    session = _RecordingSession()
    client = VismaClient(config.visma, _secret(), session=session, remaining_seconds=lambda: remaining)
    client.get("/v1/customer")
    client.create("/v1/customer", _customer("16"), lookup=lambda: None)
    expected = min(configured, remaining - TIME_RESERVE_SECONDS)
    assert len(session.timeouts) == 3  # token, GET, POST
    for timeout in session.timeouts:
        assert isinstance(timeout, tuple) and timeout[1] == expected and timeout[0] <= expected


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["message", "ipp"])
def test_400_in_either_body_shape_becomes_target_rejected(
    sim: VismaSimulator, make_client: Factory, shape: str
) -> None:
    client = make_client()
    sim.reject_next(
        "/v1/customer", message="Customer class 'X' cannot be found.", shape=shape, fault_code="12345"
    )
    with pytest.raises(TargetRejected) as caught:
        client.create("/v1/customer", _customer("12"), lookup=lambda: None)
    assert "Customer class 'X' cannot be found." in str(caught.value)
    if shape == "ipp":
        assert caught.value.detail["fault_code"] == "12345"
        assert "IPPException" in str(caught.value)
    else:
        assert "visma_id" in caught.value.detail
    assert sim.customers == []


def test_error_message_parses_both_shapes_and_plain_text() -> None:
    message, detail = error_message(
        json.dumps({"message": "VismaId: 0b6c1f2e-1111-2222-3333-444455556666. Bad."})
    )
    assert message.endswith("Bad.") and detail["visma_id"] == "0b6c1f2e-1111-2222-3333-444455556666"
    message, detail = error_message(
        json.dumps(
            {
                "ExceptionType": "IPPException",
                "ExceptionMessage": "No license",
                "ExceptionFaultCode": "12027",
                "ExceptionMessageID": "12027_x",
            }
        )
    )
    assert message == "IPPException 12027: No license" and detail["message_id"] == "12027_x"
    assert error_message("<html>Bad gateway</html>")[0] == "<html>Bad gateway</html>"


def test_failed_write_is_logged_for_visma_support_without_the_token(
    sim: VismaSimulator, make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    sim.reject_next("/v1/customer", message="Nope")
    with pytest.raises(TargetRejected):
        client.create("/v1/customer", _customer("13", name="Logged Oy"), lookup=lambda: None)
    failure = next(r for r in caplog.records if r.levelname == "ERROR")
    fields = failure.__dict__
    assert fields["method"] == "POST" and fields["url"] == sim.base_url + "/v1/customer"
    assert fields["status"] == 400 and "Nope" in fields["response_body"]
    assert json.loads(fields["request_body"])["name"] == {"value": "Logged Oy"}
    assert fields["ipp_request_id"] and fields["request_context"].startswith("appId=")
    text = logged(caplog)
    assert "Bearer" not in text and "Authorization" not in text
    assert all(token not in text for token in sim.issued_tokens)


def test_get_5xx_is_retried_then_unavailable(sim: VismaSimulator, make_client: Factory) -> None:
    client = make_client()
    sim.fail_5xx("/v1/customer", calls=1, status=503, method="GET")
    assert client.get("/v1/customer/77") is None  # one 503, then the answer
    sim.fail_5xx("/v1/customer", calls=10, status=500, method="GET")
    with pytest.raises(TargetUnavailable) as caught:
        client.get("/v1/customer/77")
    assert caught.value.call is not None and caught.value.call.status == 500


def _closed_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_on_first_backoff(sleeps: Sleeps, simulator: VismaSimulator, port: int) -> None:
    """Nothing listens on ``port`` until the client's first backoff: then ``simulator`` does."""

    def start(_: float) -> None:
        if simulator._server is None:
            simulator.start(port)

    sleeps.hook = start


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_get_and_put_are_retried_when_the_connection_never_opened(
    sim: VismaSimulator, sleeps: Sleeps, method: str
) -> None:
    port = _closed_port()
    # Tokens from the running simulator; the API on a port that refuses the first connection.
    config = tenant_config(sim, base_url=f"http://127.0.0.1:{port}")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    api = VismaSimulator(client_secret=CLIENT_SECRET)
    api.tokens = sim.tokens  # the same Visma Connect
    _start_on_first_backoff(sleeps, api, port)
    try:
        if method == "GET":
            assert client.get("/v1/customer/77") is None
        else:
            assert client.put("/v1/customer/77", {"name": "Acme"}) is False
    finally:
        api.stop()
    assert sleeps.waits == [0.01]  # refused once, sent again after the backoff
    assert [r[:2] for r in api.requests] == [(method, "/v1/customer/77")]


def test_token_endpoint_that_refuses_the_connection_is_retried_for_a_get(
    sim: VismaSimulator, sleeps: Sleeps
) -> None:
    port = _closed_port()
    base = f"http://127.0.0.1:{port}"
    config = tenant_config(sim, base_url=base, token_url=base + "/connect/token")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    later = VismaSimulator(client_secret=CLIENT_SECRET)
    _start_on_first_backoff(sleeps, later, port)
    try:
        assert client.get("/v1/customer/77") is None
    finally:
        later.stop()
    assert sleeps.waits == [0.01]
    assert [r[1] for r in later.requests] == ["/connect/token", "/v1/customer/77"]


def test_refused_connections_are_retried_within_bounds_then_unavailable(
    sim: VismaSimulator, sleeps: Sleeps
) -> None:
    config = tenant_config(sim, base_url=f"http://127.0.0.1:{_closed_port()}")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    with pytest.raises(TargetUnavailable) as caught:
        client.get("/v1/customer/77")
    assert "unreachable" in str(caught.value) and sleeps.waits == [0.01, 0.02]  # two retries, no more
    # Without the time for a backoff and one more call it is not retried at all.
    sleeps.waits.clear()
    hurried = VismaClient(
        config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=5, remaining_seconds=lambda: 6.5
    )
    with pytest.raises(TargetUnavailable):
        hurried.get("/v1/customer/77")
    assert sleeps.waits == []


def test_a_post_whose_connection_never_opened_is_not_retried(sim: VismaSimulator, sleeps: Sleeps) -> None:
    config = tenant_config(sim, base_url=f"http://127.0.0.1:{_closed_port()}")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    looked_up: list[int] = []
    with pytest.raises(TargetUnavailable) as caught:
        client.create("/v1/customer", _customer("19"), lookup=lambda: looked_up.append(1) or None)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert sleeps.waits == [] and looked_up == []


def test_location_gives_the_key_and_is_never_followed(sim: VismaSimulator, make_client: Factory) -> None:
    client = make_client()
    assert client.create("/v1/customer", _customer("14"), lookup=lambda: None) == "14"
    assert [r[:2] for r in sim.requests if r[1] != "/connect/token"] == [("POST", "/v1/customer")]
    assert location_key("https://api.finance.visma.net/v1/customerinvoice/000123") == "000123"
    assert location_key("/v1/customer/A%2FB/") == "A/B"
    assert location_key(None) is None


def test_post_timeout_with_nothing_written_is_outcome_unknown(
    sim: VismaSimulator, make_client: Factory
) -> None:
    client = make_client(timeout_seconds=0.5)
    sim.stall("/v1/customer", delay=3, method="POST")
    looked_up: list[int] = []
    with pytest.raises(OutcomeUnknown) as caught:
        client.create("/v1/customer", _customer("15"), lookup=lambda: looked_up.append(1) or None)
    assert looked_up == [1]  # asked before giving up; never re-sent
    assert [r[0] for r in sim.requests if r[1] == "/v1/customer"] == ["POST"]
    assert caught.value.call is not None and caught.value.call.operation == "POST /v1/customer"


def _secret():  # type: ignore[no-untyped-def]
    from severa_sync.secrets import Secret

    return Secret(CLIENT_SECRET)


def test_a_refused_api_host_is_reported_with_the_host_name_and_an_alert(
    sim: VismaSimulator, sleeps: Sleeps
) -> None:
    # Issue 12 item 6: a wrong address is said at once, with the host, not as a silent outage.
    port = _closed_port()
    config = tenant_config(sim, base_url=f"http://127.0.0.1:{port}")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    with pytest.raises(TargetUnavailable) as caught:
        client.get("/v1/customer/77")
    assert caught.value.alert_kind == "connection" and caught.value.code == "target_unreachable"
    assert f"127.0.0.1:{port}" in str(caught.value) and "visma.base_url" in str(caught.value)
    assert sleeps.waits == [0.01, 0.02]  # still the short retries first


def test_a_refused_token_host_is_reported_with_the_host_name(sim: VismaSimulator, sleeps: Sleeps) -> None:
    port = _closed_port()
    base = f"http://127.0.0.1:{port}"
    config = tenant_config(sim, token_url=base + "/connect/token")
    client = VismaClient(config.visma, _secret(), sleep=sleeps, retry_backoff_seconds=0.01)
    with pytest.raises(TargetUnavailable) as caught:
        client.get("/v1/customer/77")
    assert caught.value.alert_kind == "connection"
    assert f"127.0.0.1:{port}" in str(caught.value) and "visma.token_url" in str(caught.value)
