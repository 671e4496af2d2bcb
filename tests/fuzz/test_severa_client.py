"""Fuzzing SeveraClient's reads over real HTTP: whatever status, headers and body come back (or none),
a call ends in records, a value or a typed ``SeveraError``; the API key never appears in an error or
a log line, even when the server echoes the request back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_sync.config import parse_config
from severa_sync.errors import SeveraError, SyncError
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from tests.faults.capture import LogCapture, assert_no_secrets

from .http_stub import Canned, CannedServer, Request
from .profile import fuzz
from .soap_envelopes import fault_envelope, good_list_answers, mutated

API_KEY = "severa-fuzz-key-Xr42-never-logged"
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
LIST_CALLS: dict[str, dict[str, Any]] = {
    "ICustomer/GetCustomersChangedSince": {"startDateTime": SINCE, "options": 2},
    "IHourEntry/GetHourEntriesChangedSince": {"startDate": SINCE},
    "IActivity/GetActivitiesByDate": {
        "startDate": SINCE,
        "endDate": SINCE,
        "activityCategory": "Absences",
        "businessUnitGuid": "",
    },
}


def client(server: CannedServer) -> SeveraClient:
    config = parse_config(
        {
            "tenant": "demo",
            "severa": {
                "url": server.url + "/webservice/S3/API.svc",
                "read_timeout_seconds": 2,
                "connect_timeout_seconds": 2,
            },
        }
    )
    return SeveraClient(config, Secret(API_KEY), sleep=lambda _: None)


ERROR_BODIES = st.one_of(
    st.builds(
        fault_envelope,
        st.sampled_from(
            [
                None,
                "NotFoundException",
                "AuthenticationFailureException",
                "QuotaLimitExceededException",
                "Weird",
            ]
        ),
        st.text(max_size=50),
        st.text(max_size=20),
        wcf=st.booleans(),
    ),
    st.just(b"<!DOCTYPE html><html><body>Service Unavailable</body></html>"),
    st.binary(max_size=300),
    st.just(b""),
)
HEADERS = st.lists(
    st.sampled_from(
        [
            ("Date", "Wed, 18 Nov 2026 09:00:00 GMT"),
            ("Date", "yesterday"),
            ("Date", "Thu, 99 Zzz 99999 99:99:99 GMT"),
            ("Quota", "lots"),
            ("UsedQuota", "-5"),
            ("Content-Type", "text/xml; charset=utf-8"),
            ("Content-Type", "text/html"),
            ("Content-Encoding", "gzip"),
        ]
    ),
    max_size=3,
    unique_by=lambda h: h[0],
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, Canned]:
    """(operation, what the server answers to it)."""
    operation, _, _, good = draw(good_list_answers())
    kind = draw(st.sampled_from(["good", "mutated", "error", "drop", "short", "cut"]))
    headers = tuple(draw(HEADERS))
    if kind == "drop":
        return operation, Canned(drop=True)
    if kind == "good":
        return operation, Canned(200, good, headers)
    if kind == "mutated":
        return operation, Canned(draw(st.sampled_from([200, 500])), draw(mutated(good))[0], headers)
    if kind in ("short", "cut"):
        # Content-Length shorter than the body (read stops early), or longer (the connection closes
        # first: the answer is cut in the middle).
        length = (
            draw(st.integers(0, max(len(good) - 1, 0)))
            if kind == "short"
            else len(good) + draw(st.integers(1, 10**6))
        )
        return operation, Canned(200, good, (*headers, ("Content-Length", str(length))))
    status = draw(st.sampled_from([400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 599]))
    return operation, Canned(status, draw(ERROR_BODIES), headers)


def outcome(call: Any) -> Any:
    try:
        return call()
    except SyncError as error:
        assert isinstance(error, SeveraError), type(error)
        assert error.call is not None
        assert API_KEY not in repr(error.as_log()) and API_KEY not in str(error)
        return error
    except Exception as error:  # the property
        pytest.fail(f"untyped {type(error).__name__} escaped SeveraClient: {error!r}")


@fuzz(120)
@given(answer=answers())
def test_list_reads_end_in_records_or_a_typed_error(
    server: CannedServer, logs: LogCapture, answer: Any
) -> None:
    operation, canned = answer
    logs.clear()
    server.answer(lambda request: canned)
    outcome(lambda: list(client(server).stream(operation, **LIST_CALLS[operation])))
    assert_no_secrets(logs.lines(), [API_KEY])


@fuzz(120)
@given(answer=answers(), scalar=st.booleans())
def test_single_and_scalar_calls_end_in_a_value_or_a_typed_error(
    server: CannedServer, logs: LogCapture, answer: Any, scalar: bool
) -> None:
    _, canned = answer
    logs.clear()
    server.answer(lambda request: canned)
    if scalar:
        outcome(lambda: client(server).get_version())
    else:
        outcome(
            lambda: client(server).get(
                "ICustomer/GetCustomerByGUID", accountGuid="4a0c1f6e-0000-4000-8000-000000000001"
            )
        )
    assert_no_secrets(logs.lines(), [API_KEY])


@fuzz(40)
@given(
    status=st.sampled_from([200, 400, 500, 502, 503, 504]),
    wrap=st.sampled_from(["fault", "plain", "wcf"]),
)
def test_an_answer_echoing_the_request_never_puts_the_key_in_errors_or_logs(
    server: CannedServer, logs: LogCapture, status: int, wrap: str
) -> None:
    """A server (or a proxy) that quotes what it received: the envelope carries the API key."""

    def echo(request: Request) -> Canned:
        text = request.body.decode("utf-8", "replace")
        if wrap == "plain":
            return Canned(status, request.body)
        return Canned(status, fault_envelope("GeneralFailureException", text, text[:300], wcf=wrap == "wcf"))

    server.answer(echo)
    outcome(
        lambda: list(
            client(server).stream("ICustomer/GetCustomersChangedSince", startDateTime=SINCE, options=2)
        )
    )
    assert API_KEY.encode() in server.requests[-1].body  # the echo really carried it
    assert_no_secrets(logs.lines(), [API_KEY], context="Severa echo")


@pytest.mark.parametrize(
    "headers",
    [(("Content-Encoding", "gzip"),), (("Content-Length", "100000"),)],
    ids=["not-really-gzip", "cut-in-the-middle"],
)
def test_a_broken_simple_answer_is_a_typed_error(
    server: CannedServer, headers: tuple[tuple[str, str], ...]
) -> None:
    """GetVersion (and SetInvoiceStatus) read their answer like the lists do: a cut connection or an
    undecodable body is Severa being unavailable, not an unclassified error."""
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetVersionResponse '
        b'xmlns="http://soap.severa.com/"><GetVersionResult>1.0</GetVersionResult></GetVersionResponse>'
        b"</s:Body></s:Envelope>"
    )
    server.answer(lambda request: Canned(200, body, headers))
    with pytest.raises(SeveraError):
        client(server).get_version()
