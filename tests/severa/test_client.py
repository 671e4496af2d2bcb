"""SeveraClient behaviour around the calls: quota, time budget, size limit, server time, the
previous call, and the API key never leaking."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from severa_sync.config import SeveraSettings, TenantConfig
from severa_sync.errors import SeveraQuotaReserve, SeveraResponseTooLarge, SyncError
from severa_sync.secrets import Secret
from severa_sync.severa import client as client_module
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.quota import QuotaTracker
from tests.severa import envelopes as env
from tests.severa.conftest import API_KEY, Canned, CannedServer, MakeClient

CUSTOMERS = "ICustomer/GetCustomersChangedSince"


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        return super().post(*args, **kwargs)


def test_one_session_for_every_call_and_timeouts_always_set(server: CannedServer) -> None:
    session = RecordingSession()
    client = SeveraClient(
        SeveraSettings(url=server.url, connect_timeout_seconds=3, read_timeout_seconds=40),
        Secret(API_KEY),
        session=session,
    )
    server.route = lambda seen: Canned(env.scalar_envelope("IAPI/GetVersion", "1"))
    client.get_version()
    client.get_version()
    assert session.timeouts == [(3, 40), (3, 40)]
    assert server.requests[1].headers["Connection"] == "keep-alive"


def test_read_timeout_never_longer_than_the_remaining_time(server: CannedServer) -> None:
    session = RecordingSession()
    remaining = [300.0]
    client = SeveraClient(
        SeveraSettings(url=server.url, connect_timeout_seconds=10, read_timeout_seconds=120),
        Secret(API_KEY),
        session=session,
        remaining_seconds=lambda: remaining[0],
    )
    server.route = lambda seen: Canned(env.scalar_envelope("IAPI/GetVersion", "1"))
    client.get_version()
    remaining[0] = 35.0
    client.get_version()
    remaining[0] = 8.0
    client.get_version()
    assert session.timeouts == [(10, 120), (10, 30.0), (3.0, 3.0)]


def test_tenant_config_endpoint_by_name_or_url(server: CannedServer) -> None:
    named = SeveraClient(
        TenantConfig.model_validate({"tenant": "demo", "severa": {"environment": "production"}}),
        Secret(API_KEY),
    )
    assert named.endpoint == "https://sync.severa.com/webservice/S3/API.svc"
    explicit = SeveraClient(
        TenantConfig.model_validate({"tenant": "demo", "severa": {"url": server.url}}), Secret(API_KEY)
    )
    assert explicit.endpoint == server.url


def test_the_api_key_must_be_a_secret(server: CannedServer) -> None:
    with pytest.raises(TypeError):
        SeveraClient(SeveraSettings(url=server.url), API_KEY)  # type: ignore[arg-type]


# --- quota -------------------------------------------------------------------------------------
def test_quota_is_read_from_every_answer(server: CannedServer, make_client: MakeClient) -> None:
    client = make_client()
    assert client.quota.limit is None and client.quota.remaining is None
    server.push(
        Canned(env.scalar_envelope("IAPI/GetVersion", "1", quota=100_000, used=10)),
        Canned(env.list_envelope(CUSTOMERS, [env.customer(1)], quota=100_000, used=11)),
        Canned(env.fault_envelope("GeneralFailureException", "bad", quota=100_000, used=12), status=500),
    )
    client.get_version()
    assert (client.quota.limit, client.quota.used, client.quota.remaining) == (100_000, 10, 99_990)
    list(client.stream(CUSTOMERS, startDateTime=env.BASE_TIME, options=0))
    assert client.quota.used == 11
    with pytest.raises(SyncError):
        client.get_version()
    assert client.quota.used == 12, "fault answers carry the quota too"


def test_quota_reserve_refuses_the_call_without_sending_it(
    server: CannedServer, make_client: MakeClient
) -> None:
    client = make_client(quota_reserve_calls=5000)
    server.push(
        Canned(env.scalar_envelope("IAPI/GetVersion", "1", quota=100_000, used=94_999)),
        Canned(env.scalar_envelope("IAPI/GetVersion", "1", quota=100_000, used=95_000)),
    )
    client.get_version()
    client.get_version()  # allowed: 94 999 < 95 000 when it was made
    with pytest.raises(SeveraQuotaReserve) as caught:
        client.get_version()
    assert len(server.requests) == 2
    assert caught.value.detail == {"quota": 100_000, "used": 95_000, "reserve": 5000}
    assert caught.value.call is not None and caught.value.call.operation == "IAPI/GetVersion"


def test_quota_from_http_headers_and_reset_at_utc_midnight() -> None:
    now = [datetime(2026, 11, 20, 23, 59, tzinfo=UTC)]
    tracker = QuotaTracker(100, now=lambda: now[0])
    tracker.observe_http_headers({"Quota": "1000", "UsedQuota": "950"})
    with pytest.raises(SeveraQuotaReserve):
        tracker.check(_call())
    now[0] += timedelta(minutes=2)  # a new UTC day: yesterday's usage no longer counts
    tracker.check(_call())
    tracker.observe("UsedQuota", "not a number")
    assert tracker.quota.used == 950


def _call() -> Any:
    from severa_sync.errors import CallInfo

    return CallInfo("severa", "IAPI/GetVersion")


# --- size limit --------------------------------------------------------------------------------
def test_declared_oversize_answer_is_refused_before_reading(
    server: CannedServer, make_client: MakeClient
) -> None:
    server.push(Canned(env.list_envelope(CUSTOMERS, [env.customer(i) for i in range(20)])))
    with pytest.raises(SeveraResponseTooLarge) as caught:
        list(make_client(max_response_bytes=4096).stream(CUSTOMERS, startDateTime=env.BASE_TIME, options=0))
    assert caught.value.detail == {"max_response_bytes": 4096}


def test_streamed_oversize_answer_stops_at_the_limit(server: CannedServer, make_client: MakeClient) -> None:
    server.push(
        Canned(env.list_chunks(CUSTOMERS, (env.customer(i) for i in range(2000))))
    )  # chunked: no length
    got: list[Any] = []
    with pytest.raises(SeveraResponseTooLarge):
        got.extend(
            make_client(max_response_bytes=64 * 1024).stream(
                CUSTOMERS, startDateTime=env.BASE_TIME, options=0
            )
        )
    assert 0 < len(got) < 2000


# --- previous call and server time -------------------------------------------------------------
def test_last_call_and_server_time(server: CannedServer, make_client: MakeClient) -> None:
    client = make_client()
    assert client.last_call is None and client.server_time is None
    server.push(Canned(env.list_envelope(CUSTOMERS, []), date="Fri, 20 Nov 2026 05:31:07 GMT"))
    list(client.stream(CUSTOMERS, startDateTime=datetime(2026, 11, 20, 5, 28, tzinfo=UTC), options=0))
    assert client.server_time == datetime(2026, 11, 20, 5, 31, 7, tzinfo=UTC)
    call = client.last_call
    assert call is not None
    assert (call.system, call.operation, call.status) == ("severa", CUSTOMERS, 200)
    assert call.params == {"startDateTime": "2026-11-20T05:28:00+00:00", "options": 0}
    assert call.duration_ms is not None and call.duration_ms >= 0


# --- the API key never leaks -------------------------------------------------------------------
def test_api_key_never_in_logs_errors_repr_or_callinfo(
    server: CannedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture, free_port: int
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=client_module.log.name)  # the per-call debug lines too
    client = make_client(transport_retries=1)
    server.push(
        Canned(env.scalar_envelope("IAPI/GetVersion", "1")),
        # A server that echoes the key back in its fault must not make us print it.
        Canned(
            env.fault_envelope(
                "AuthenticationFailureException",
                f"Invalid key {API_KEY}",
                faultstring=f"Invalid key {API_KEY}",
            ),
            status=500,
        ),
        Canned(b"<html>down</html>", status=503, content_type="text/html"),
        Canned(b"<html>down</html>", status=503, content_type="text/html"),
    )
    texts: list[str] = [repr(client), str(vars(client).get("_api_key"))]
    client.get_version()
    raised = []
    for _ in range(2):
        with pytest.raises(SyncError) as caught:
            client.get_version()
        raised.append(caught.value)
        error = caught.value
        texts += [str(error), repr(error), repr(error.as_log()), repr(error.detail), repr(vars(error))]
    refused = make_client(url=f"http://127.0.0.1:{free_port}/x", transport_retries=1)
    with pytest.raises(SyncError) as refused_error:
        refused.get_version()
    texts += [str(refused_error.value), repr(refused_error.value.as_log())]
    texts += [repr(client.last_call), repr(client.last_call.as_log() if client.last_call else None)]
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    assert caplog.records, "the retries were logged"
    assert any(record.getMessage() == "severa call" for record in caplog.records), "and the calls"
    assert not [text for text in texts if API_KEY in text]
    assert "Invalid key ***" in str(raised[0])
