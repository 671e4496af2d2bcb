"""Fuzzing Visma.net response handling: error bodies, ``Location`` headers, token answers and whole
responses over real HTTP end in a result or a typed ``TargetError``; the client secret and the issued
token never reach an error or a log line."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st

from severa_sync.config import VismaSettings
from severa_sync.errors import SyncError, TargetError, TimeBudgetSpent
from severa_sync.secrets import Secret
from severa_sync.targets.visma.auth import TokenCache
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.wire import error_message, location_key
from tests.faults.capture import LogCapture, assert_no_secrets

from .http_stub import Canned, CannedServer, Request
from .profile import fuzz

CLIENT_SECRET = "visma-fuzz-secret-Hq93-never-logged"
TOKEN = "visma-fuzz-token-Lm07-never-logged"
TOKEN_PATH = "/connect/token"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=4),
    max_leaves=12,
)
ERROR_SHAPES = st.one_of(
    st.builds(lambda m: json.dumps({"message": m}), st.text(max_size=60)),
    st.builds(
        lambda t, c, m: json.dumps({"ExceptionType": t, "ExceptionFaultCode": c, "ExceptionMessage": m}),
        st.text(max_size=20),
        st.one_of(st.none(), st.text(max_size=6), st.integers()),
        st.text(max_size=60),
    ),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5000).map(lambda depth: '{"message":' * depth + "1" + "}" * depth),
)


@fuzz(150)
@example(body="[" * 5000 + "]" * 5000)
@given(body=ERROR_SHAPES)
def test_error_bodies_always_give_a_message(body: str) -> None:
    message, detail = error_message(body)
    assert isinstance(message, str) and message
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in detail.items())


@fuzz(150)
@example(location="http://[")
@given(
    location=st.one_of(
        st.none(),
        st.text(max_size=80),
        st.builds(
            lambda host, path: f"https://{host}/v1/customer/{path}",
            st.text(max_size=20),
            st.text(max_size=20),
        ),
        st.sampled_from(
            ["http://[", "http://[::1/x/1", "https://api.finance.visma.net/v1/customer/%ZZ", "//", "?"]
        ),
    )
)
def test_location_headers_give_a_key_or_none(location: str | None) -> None:
    key = location_key(location)
    assert key is None or (isinstance(key, str) and key)


def visma_settings(server: CannedServer) -> VismaSettings:
    return VismaSettings(base_url=server.url, token_url=server.url + TOKEN_PATH, timeout_seconds=2)


def token_answer(request: Request) -> Canned | None:
    if request.path.startswith(TOKEN_PATH):
        return Canned(200, json.dumps({"access_token": TOKEN, "expires_in": 3600}).encode())
    return None


HEADER_SETS = st.lists(
    st.sampled_from(
        [
            ("Retry-After", "0"),
            ("Retry-After", "-5"),
            ("Retry-After", "soon"),
            ("Retry-After", "1e9"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "nan"),
            ("Location", "https://api.finance.visma.net/v1/customer/1001"),
            ("Location", "http://["),
            ("Location", ""),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("Ipp-Request-Id", "abc"),
        ]
    ),
    max_size=4,
    unique_by=lambda h: h[0],
)
BACKGROUND = st.one_of(
    st.builds(
        lambda job: {"id": job, "stateLocation": "https://api.finance.visma.net/v1/background/x"},
        st.text(max_size=8),
    ),
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(["Started", "Finished", "Failed", "", "Weird"]),
            "statusCode": st.one_of(
                st.integers(0, 600), st.text(max_size=4), st.none(), st.just(float("inf"))
            ),
            "responseHeaders": st.one_of(
                json_values,
                st.just({"Location": ["https://api.finance.visma.net/v1/customerinvoice/5"]}),
                st.just({"location": "http://["}),
            ),
        }
    ),
)
RESPONSES = st.builds(
    Canned,
    status=st.sampled_from(
        [200, 201, 202, 204, 301, 400, 401, 403, 404, 405, 409, 410, 429, 500, 502, 503, 504]
    ),
    body=st.one_of(
        ERROR_SHAPES.map(str.encode),
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        BACKGROUND.map(lambda v: json.dumps(v).encode()),
    ),
    headers=HEADER_SETS.map(tuple),
    drop=st.sampled_from([False] * 7 + [True]),
)


def countdown(start: int = 120) -> Any:
    """The caller's remaining time, a second less at every look: polling loops end."""
    left = iter(range(start, -1_000_000, -1))
    return lambda: float(next(left))


def typed(call: Any) -> Any:
    try:
        return call()
    except SyncError as error:
        assert isinstance(error, TargetError | TimeBudgetSpent), type(error)
        text = repr(error.as_log()) + str(error)
        assert CLIENT_SECRET not in text and TOKEN not in text
        return error
    except Exception as error:  # the property
        pytest.fail(f"untyped {type(error).__name__} escaped the Visma.net client: {error!r}")


OPERATIONS = {
    "get": lambda c: c.get("/v1/customer/1001"),
    "put": lambda c: c.put("/v1/customer/1001", {"name": "Acme"}),
    "create": lambda c: c.create("/v1/customer", {"number": "1001", "name": "Acme"}, lookup=lambda: None),
    "create_found": lambda c: c.create("/v1/customer", {"number": "1001"}, lookup=lambda: "1001"),
    "pages": lambda c: list(c.get_pages("/v1/customerinvoice", {"externalReference": "10501"})),
    "background": lambda c: c.create("/v2/customerinvoice", {"x": 1}, lookup=lambda: None, background=True),
}


@fuzz(150)
@given(answers=st.lists(RESPONSES, min_size=1, max_size=4), operation=st.sampled_from(sorted(OPERATIONS)))
def test_api_answers_end_in_a_result_or_a_typed_error(
    server: CannedServer, logs: LogCapture, answers: list[Canned], operation: str
) -> None:
    logs.clear()
    queue = list(answers)

    def respond(request: Request) -> Canned:
        return token_answer(request) or (queue.pop(0) if len(queue) > 1 else queue[0])

    server.answer(respond)
    client = VismaClient(
        visma_settings(server),
        Secret(CLIENT_SECRET),
        sleep=lambda _: None,
        retry_backoff_seconds=0,
        remaining_seconds=countdown(),
    )
    typed(lambda: OPERATIONS[operation](client))
    assert_no_secrets(logs.lines(), [CLIENT_SECRET, TOKEN])


@fuzz(150)
@given(
    status=st.sampled_from([200, 200, 201, 400, 401, 403, 429, 500, 503]),
    body=st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda token, expires: json.dumps({"access_token": token, "expires_in": expires}).encode(),
            st.one_of(st.text(max_size=20), st.integers(), st.none()),
            st.one_of(st.integers(-10, 10**9), st.text(max_size=5), st.none(), st.floats(allow_nan=True)),
        ),
        st.builds(
            lambda e, d: json.dumps({"error": e, "error_description": d}).encode(),
            st.text(max_size=20),
            st.text(max_size=60),
        ),
        st.binary(max_size=100),
    ),
)
def test_token_answers_end_in_a_token_or_a_typed_error(
    server: CannedServer, logs: LogCapture, status: int, body: bytes
) -> None:
    logs.clear()
    server.answer(lambda request: Canned(status, body))
    cache = TokenCache(
        token_url=server.url + TOKEN_PATH,
        client_id="severa-sync",
        client_secret=Secret(CLIENT_SECRET),
        tenant_id="company",
        scopes=("vismanet_erp_service_api:read",),
    )
    token = typed(lambda: cache.token(requests.Session(), 2.0))
    if not isinstance(token, SyncError):
        assert isinstance(token, Secret) and "***" in repr(token)
    assert_no_secrets(logs.lines(), [CLIENT_SECRET])


@pytest.mark.parametrize("where", ["api_error", "token_error"])
def test_an_answer_echoing_the_request_never_puts_a_secret_in_logs(
    server: CannedServer, logs: LogCapture, where: str
) -> None:
    """A gateway that quotes what it received: the token (API calls) or the client secret (token call)."""

    def echo(request: Request) -> Canned:
        if where == "api_error" and not request.path.startswith(TOKEN_PATH):
            quoted = json.dumps({"message": f"bad request; headers were {request.headers}"}).encode()
            return Canned(400, quoted)
        if where == "token_error" and request.path.startswith(TOKEN_PATH):
            quoted = json.dumps(
                {"error": "invalid_client", "error_description": request.body.decode()}
            ).encode()
            return Canned(401, quoted)
        return token_answer(request) or Canned(404)

    server.answer(echo)
    before = len(logs.lines())
    client = VismaClient(
        visma_settings(server), Secret(CLIENT_SECRET), sleep=lambda _: None, retry_backoff_seconds=0
    )
    typed(lambda: client.put("/v1/customer/1001", {"name": "Acme"}))
    assert_no_secrets(logs.lines()[before:], [CLIENT_SECRET, TOKEN], context=f"Visma.net echo ({where})")


@pytest.mark.parametrize(
    "answers",
    [
        [Canned(301, b"", (("Location", "http://["),))],
        [Canned(202, b'{"id": "job-1"}'), Canned(200, b"[]")],
        [Canned(202, b'{"id": "job-1"}'), Canned(200, b'{"status": "Finished", "statusCode": Infinity}')],
        [Canned(400, b"[" * 5000 + b"]" * 5000)],
    ],
    ids=[
        "redirect-to-a-bad-url",
        "background-state-not-an-object",
        "background-status-infinite",
        "deep-json-error",
    ],
)
def test_odd_answers_found_by_fuzzing_are_typed_errors(server: CannedServer, answers: list[Canned]) -> None:
    queue = list(answers)
    server.answer(lambda request: token_answer(request) or (queue.pop(0) if len(queue) > 1 else queue[0]))
    client = VismaClient(
        visma_settings(server),
        Secret(CLIENT_SECRET),
        sleep=lambda _: None,
        retry_backoff_seconds=0,
        remaining_seconds=countdown(),
    )
    typed(lambda: client.create("/v2/customerinvoice", {"x": 1}, lookup=lambda: None, background=True))
