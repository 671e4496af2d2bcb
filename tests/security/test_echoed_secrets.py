"""Secrets echoed by a server are masked before any text is cut to a size (issue 11, class 11).

Every place that bounds text which may carry server-echoed or configured secrets is driven here with
each kind of secret the process holds, placed so that it straddles the cut at every offset. Nothing
of it may survive: no substring of four or more of its characters in the error, its log form, the
log lines or the alert. (A cut before the mask leaves the part before the cut, which no longer
matches the whole value, in the text.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import boto3
import pytest
import requests
from moto import mock_aws

from severa_sync.alerts.sns import MAX_SUMMARY_CHARS, format_alert
from severa_sync.config import VismaSettings
from severa_sync.engine.ports import Alert
from severa_sync.errors import CallInfo, SyncError, TargetRejected
from severa_sync.secrets import Secret
from severa_sync.severa.faults import http_status_error, transport_error
from severa_sync.state.dynamodb import MAX_MESSAGE_CHARS, DynamoStateStore
from severa_sync.state.memory import MESSAGE_LIMIT, MemoryStateStore
from severa_sync.state.table import create_state_table
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.wire import BODY_LOG_LIMIT
from tests.faults.capture import captured_logs
from tests.fuzz.http_stub import Canned, CannedServer, Request

#: One value of each kind the process holds; mixed case and digits, so no four characters of one
#: occur in ordinary text. The client secret has characters a form or URL encodes.
SECRETS = {
    "visma_client_secret": "Vc+Sx/7qLm2Rt9Wz4Kp8Nd3Hs6Jf1Bc5=",
    "bearer_token": "tK9vQ2mZ7xR4wL8nB3pJ6hF1cD5gS0aYeU2kW7qPz",  # 43 characters, as the issue's
    "severa_api_key": "SvKy-Wq8Zr2Mt6Ln4Px9Vb3Gh7Jd5",
}
HELD = {kind: Secret(value) for kind, value in SECRETS.items()}  # registered, as the product does
FILL = "~"
WINDOW = 4


def pieces(secret: str) -> list[str]:
    return [secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)]


def leaks(secret: str, texts: list[str]) -> list[str]:
    return [piece for piece in pieces(secret) if any(piece in text for text in texts)]


def straddling(limit: int, secret: str, room: int = 48) -> Iterator[int]:
    """Filler lengths that put the secret across a cut at ``limit`` at every offset (``room`` covers
    the text the product puts before the server's: a JSON key, a prefix)."""
    yield from range(max(limit - len(secret) - room, 0), limit + 1)


def assert_masked_at_every_offset(
    secret: str, limit: int, produce: Callable[[str], list[str]], *, wrap: Callable[[str], str] = str
) -> None:
    failures = []
    for filler in straddling(limit, secret):
        text = FILL * filler + wrap(secret) + FILL * 64
        found = leaks(secret, produce(text))
        if found:
            failures.append((filler, found[:3]))
    assert not failures, f"parts of the secret survived at {len(failures)} offsets: {failures[:5]}"


def error_texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error)]
    if isinstance(error, SyncError):
        texts.append(json.dumps(error.as_log(), default=str))
    return texts


# -- Visma.net over real HTTP (a canned server plays Visma Connect and the API) -----------------------
@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    canned = CannedServer().start()
    yield canned
    canned.stop()


def visma_client(server: CannedServer) -> VismaClient:
    settings = VismaSettings(base_url=server.url, token_url=server.url + "/connect/token", timeout_seconds=5)
    return VismaClient(settings, HELD["visma_client_secret"], transient_retries=0, sleep=lambda _: None)


def answering(api: Callable[[Request], Canned]) -> Callable[[Request], Canned]:
    def respond(request: Request) -> Canned:
        if request.path.startswith("/connect/token"):
            token = {"access_token": SECRETS["bearer_token"], "expires_in": 3600, "token_type": "Bearer"}
            return Canned(200, json.dumps(token).encode(), (("Content-Type", "application/json"),))
        return api(request)

    return respond


def visma_failure(
    server: CannedServer, body: Callable[[str], bytes], call: str = "get"
) -> Callable[[str], list[str]]:
    """What a failing Visma.net call leaves: the typed error and every log line."""
    client = visma_client(server)

    def produce(text: str) -> list[str]:
        server.answer(answering(lambda request: Canned(400, body(text), (("Content-Type", "text/plain"),))))
        with captured_logs() as logs:
            try:
                if call == "put":
                    client.put("/v1/customer/1", {"note": text})
                else:
                    client.get("/v1/customer/1")
            except SyncError as error:
                return error_texts(error) + logs.lines()
        raise AssertionError("the call did not fail")

    return produce


VISMA_BODIES: dict[str, tuple[int, Callable[[str], bytes], str]] = {
    # a gateway's plain-text page: the error message is its first 300 characters
    "text_body_message": (300, lambda text: text.encode(), "get"),
    # a JSON object without a message field: the message is the object's JSON, cut
    "json_body_message": (300, lambda text: json.dumps({"detail": text}).encode(), "get"),
    # the IPP shape: ExceptionDetails is cut into the error's detail
    "ipp_details": (
        500,
        lambda text: json.dumps(
            {"ExceptionType": "IPPException", "ExceptionMessage": "failed", "ExceptionDetails": text}
        ).encode(),
        "get",
    ),
    # the response body in the failure log line
    "logged_response_body": (BODY_LOG_LIMIT, lambda text: json.dumps({"message": text}).encode(), "get"),
    # the request body in the failure log line (a value we sent, e.g. one a person typed a key into)
    "logged_request_body": (BODY_LOG_LIMIT, lambda text: b'{"message": "rejected"}', "put"),
}


@pytest.mark.parametrize("kind", SECRETS)
@pytest.mark.parametrize("cut", VISMA_BODIES)
def test_visma_errors_and_logs_mask_before_they_cut(server: CannedServer, cut: str, kind: str) -> None:
    limit, body, call = VISMA_BODIES[cut]
    assert_masked_at_every_offset(SECRETS[kind], limit, visma_failure(server, body, call))


@pytest.mark.parametrize("encoding", ["verbatim", "form-encoded"])
@pytest.mark.parametrize("kind", SECRETS)
def test_the_token_error_masks_before_it_cuts(server: CannedServer, kind: str, encoding: str) -> None:
    """Visma Connect's OAuth error may echo the form we posted (the client secret form-encoded)."""

    def produce(text: str) -> list[str]:
        body = json.dumps({"error": "invalid_client", "error_description": text}).encode()
        server.answer(lambda request: Canned(400, body, (("Content-Type", "application/json"),)))
        client = visma_client(server)
        with captured_logs() as logs:
            try:
                client.get("/v1/customer/1")
            except SyncError as error:
                return error_texts(error) + logs.lines()
        raise AssertionError("the token request did not fail")

    def spell(secret: str) -> str:
        return requests.models.RequestEncodingMixin._encode_params({"s": secret})[2:]  # type: ignore[attr-defined]

    assert_masked_at_every_offset(
        SECRETS[kind], 300, produce, wrap=spell if encoding == "form-encoded" else str
    )


# -- Severa -------------------------------------------------------------------------------------------
SEVERA_CALL = CallInfo("severa", "ICustomer/GetCustomersChangedSince")


@pytest.mark.parametrize("status", [503, 401, 404])
@pytest.mark.parametrize("kind", SECRETS)
def test_severa_http_error_body_masks_before_it_cuts(kind: str, status: int) -> None:
    def produce(text: str) -> list[str]:
        return error_texts(http_status_error(status, text.encode(), SEVERA_CALL))

    assert_masked_at_every_offset(SECRETS[kind], 200, produce)


@pytest.mark.parametrize("kind", SECRETS)
def test_severa_transport_error_reason_masks_before_it_cuts(kind: str) -> None:
    def produce(text: str) -> list[str]:
        return error_texts(transport_error(requests.exceptions.ConnectionError(text), SEVERA_CALL))

    assert_masked_at_every_offset(SECRETS[kind], 300, produce)


# -- alerts and state ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SECRETS)
def test_alert_summary_masks_before_it_cuts(kind: str) -> None:
    now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)

    def produce(text: str) -> list[str]:
        alert = Alert("run_failed", "demo", "invoices", text, text, now, now, "fields @message")
        return list(format_alert(alert))

    assert_masked_at_every_offset(SECRETS[kind], MAX_SUMMARY_CHARS, produce)


@pytest.mark.parametrize("kind", SECRETS)
def test_stored_halt_reasons_and_park_messages_mask_before_they_cut(kind: str) -> None:
    memory = MemoryStateStore()
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_state_table(client, "state")
        dynamo = DynamoStateStore(client, "state", sleep=lambda _: None)

        def stored(text: str) -> list[str]:
            dynamo.halt("demo", "invoices", "target_rejected", text)
            record = _record()
            memory.park("demo", "invoices", record, TargetRejected(text))
            dynamo.park("demo", "invoices", record, TargetRejected(text))
            items = json.dumps(client.scan(TableName="state")["Items"])
            return [items, json.dumps(list(memory.items.values()), default=str)]

        assert_masked_at_every_offset(SECRETS[kind], MAX_MESSAGE_CHARS, stored)
        assert_masked_at_every_offset(SECRETS[kind], MESSAGE_LIMIT, stored)


def _record():  # type: ignore[no-untyped-def]
    from pydantic import BaseModel

    from severa_sync.engine.ports import SourceRecord

    class Row(BaseModel):
        GUID: str

    return SourceRecord(
        key="inv-1", changed_at=None, display_key="invoice 1", content_hash="h", payload=Row(GUID="inv-1")
    )
