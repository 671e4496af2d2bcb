"""The JSON line a failed Visma.net call leaves is what Visma.net support asks for: the endpoint URL
and method, the HTTP status, the response body and the raw JSON we sent (POST and PUT), every
secret masked and every body bounded, whatever the server echoes back."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import severa_sync.logs  # noqa: F401  (sets up the "severa-sync" logger and its JSON formatter)
from severa_sync.errors import TargetRejected
from severa_sync.redaction import MASK
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.wire import BODY_LOG_LIMIT
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import CLIENT_SECRET

Factory = Callable[..., VismaClient]
#: Far over the limit: a gateway's HTML error page, or a body echoing a whole large request.
HUGE = 50_000


@pytest.fixture
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """The lines as CloudWatch gets them: through the service logger's own JSON formatter."""
    lines: list[dict[str, Any]] = []
    logger = logging.getLogger("severa-sync")
    formatter = next(h.formatter for h in logger.handlers if h.formatter)

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(formatter.format(record)))

    handler = Keep(level=logging.ERROR)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def _failure(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (line,) = [line for line in lines if str(line.get("message", "")).startswith("Visma.net call failed")]
    return line


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_rejected_write_logs_what_support_asks_for(
    sim: VismaSimulator, make_client: Factory, json_lines: list[dict[str, Any]], method: str
) -> None:
    client = make_client()
    echo = f"Bearer {{bearer}} client_secret={CLIENT_SECRET} " + "x" * HUGE
    sim.reject_next("/v1/customer", message=f"Customer class 'X' cannot be found. {echo}", method=method)
    customer = {"number": "12", "name": "Logged Oy " + "n" * HUGE, "customerClassId": "X"}
    if method == "POST":
        with pytest.raises(TargetRejected):
            client.create("/v1/customer", customer, lookup=lambda: None)
        path = "/v1/customer"
    else:
        with pytest.raises(TargetRejected):
            client.put("/v1/customer/12", customer)
        path = "/v1/customer/12"
    line = _failure(json_lines)
    assert line["level"] == "ERROR"
    assert line["method"] == method and line["url"] == sim.base_url + path
    assert line["status"] == 400
    assert "Customer class 'X' cannot be found." in line["response_body"]
    # The raw JSON sent, as sent (the {"value": ...} wrapping included), cut to the limit.
    assert line["request_body"].startswith('{"number": {"value": "12"}, "name": {"value": "Logged Oy nnn')
    assert len(line["request_body"]) <= BODY_LOG_LIMIT and len(line["response_body"]) <= BODY_LOG_LIMIT
    assert line["request_body"].endswith(" [cut]") and line["response_body"].endswith(" [cut]")
    assert len(json.dumps(line)) < 3 * BODY_LOG_LIMIT, "the whole line is bounded"
    # The server echoed the token it was sent and our client secret: both masked, the rest kept.
    assert f"Bearer {MASK} client_secret={MASK} xxx" in line["response_body"]
    text = json.dumps(json_lines)
    assert CLIENT_SECRET not in text
    assert sim.issued_tokens and all(token not in text for token in sim.issued_tokens)
    assert line["ipp_request_id"], "Visma.net's request id: support finds the call by it"
