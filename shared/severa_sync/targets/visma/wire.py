"""What goes over the wire to Visma.net, as pure functions (per Visma's published API documentation).

Request bodies are value-wrapped (section 4.1), responses are plain; errors come in two body shapes
(section 8); a new document's key is the last segment of ``Location`` (sections 2 and 4.4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions

from severa_sync import network
from severa_sync.errors import CallInfo, TargetUnavailable
from severa_sync.redaction import redact_and_cut

BACKGROUND_HEADER = "erp-api-background"
#: Response headers Visma.net support asks for.
SUPPORT_HEADERS = ("Ipp-Request-Id", "Request-Context")
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Policy")
#: Sent bare although scalar: the line ``operation`` and the flag of Visma's own customer example.
BARE_FIELDS = frozenset({"operation", "overrideWithClassValues"})
#: Arrays of SegmentUpdateDto: items are plain objects of bare fields (``segmentId``, ``segmentValue``).
BARE_ITEM_ARRAYS = frozenset({"subaccount", "defSub", "defAccrualSub"})
BODY_LOG_LIMIT = 8000
#: Server text in an error message, and in one of its details.
MESSAGE_LIMIT, DETAIL_LIMIT = 300, 500
_VISMA_ID = re.compile(r"VismaId:\s*([0-9a-fA-F-]{36})")


class Unsettled(Exception):  # a signal inside this package, never raised to callers
    """A write whose outcome is unknown: no answer (timeout, dropped connection) or a 5xx."""

    def __init__(
        self, reason: str, call: CallInfo, *, resend_safe: bool, detail: dict[str, Any] | None = None
    ):
        super().__init__(reason)
        self.reason = reason
        self.call = call
        #: The server answered and, if the look-up finds nothing, did not write: one re-send is safe.
        self.resend_safe = resend_safe
        self.detail = detail or {}


class Unreached(TargetUnavailable):
    """Visma.net (or Visma Connect) was never reached: the connection did not open (refused, DNS, a
    connect timeout), so nothing was sent. To callers it is ``TargetUnavailable``; GET and PUT retry
    it like any transient failure (``VismaClient._repeatable``), a POST never blindly."""


class HostUnreachable(Unreached):
    """The configured host does not resolve or refuses connections (``network``): still retried
    briefly like any ``Unreached``, then reported at once with the host name and an alert."""

    code = "target_unreachable"
    alert_kind = "connection"

    @property
    def alert_summary(self) -> str:
        return network.alert_summary(self.message)  # names the host (the configured URL's)


def never_connected(
    exc: requests.RequestException, call: CallInfo, *, url: str, setting: str, what: str
) -> Unreached | None:
    """The error for a request that never reached ``url``; None when it may have been sent."""
    if may_have_been_sent(exc):
        return None
    reason = network.unreachable_reason(exc)
    if reason is not None:
        return HostUnreachable(f"{what}: {network.describe('Visma.net', url, reason, setting)}", call=call)
    return Unreached(f"{what} ({type(exc).__name__})", call=call)


def wrap_values(dto: Mapping[str, Any]) -> dict[str, Any]:
    """Request DTO -> wire body: scalars and objects in ``{"value": ...}``, arrays bare; None left out
    (PUT is a partial update: only the fields sent change)."""
    out: dict[str, Any] = {}
    for key, value in dto.items():
        if value is None:
            continue
        if key in BARE_FIELDS or key in BARE_ITEM_ARRAYS:
            out[key] = value
        elif isinstance(value, list):
            out[key] = [wrap_values(item) if isinstance(item, Mapping) else item for item in value]
        elif isinstance(value, Mapping):
            out[key] = {"value": wrap_values(value)}
        else:
            out[key] = {"value": value}
    return out


def error_message(text: str) -> tuple[str, dict[str, str]]:
    """Message and details from either error body shape: ``{"message"}`` or ``{"Exception*"}``.
    Server text is masked before it is cut (``redact_and_cut``): it may echo our token."""
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):  # not JSON, or absurdly nested: keep the raw text
        body = None
    detail: dict[str, str] = {}
    if isinstance(body, dict) and ("ExceptionMessage" in body or "ExceptionType" in body):
        kind = str(body.get("ExceptionType") or "Exception")
        code = body.get("ExceptionFaultCode")
        message = f"{kind}{f' {code}' if code else ''}: {body.get('ExceptionMessage') or ''}".strip()
        names = {
            "ExceptionFaultCode": "fault_code",
            "ExceptionMessageID": "message_id",
            "ExceptionDetails": "details",
        }
        detail.update(
            {name: redact_and_cut(body[key], DETAIL_LIMIT) for key, name in names.items() if body.get(key)}
        )
    elif isinstance(body, dict):
        found = next(
            (body[k] for k in ("message", "Message", "error_description", "error") if body.get(k)), None
        )
        message = str(found) if found is not None else redact_and_cut(json.dumps(body), MESSAGE_LIMIT)
    else:
        message = redact_and_cut(text.strip(), MESSAGE_LIMIT) or "(empty body)"
    if match := _VISMA_ID.search(message):
        detail["visma_id"] = match.group(1)
    return message, detail


def location_key(location: str | None) -> str | None:
    """The new document's key: the last path segment of ``Location``. Its host is never followed
    (it may name api.finance.visma.net or an old host)."""
    if not location:
        return None
    try:
        path = urlsplit(location).path
    except ValueError:  # not a URL at all (e.g. a broken IPv6 host): no key from it
        return None
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    return unquote(segment) or None


def json_or_none(response: requests.Response) -> Any | None:
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def retry_after(response: requests.Response) -> float:
    """Seconds to wait after a 429: ``Retry-After``, else ``X-RateLimit-Reset``, else one."""
    for header in ("Retry-After", "X-RateLimit-Reset"):
        try:
            return max(float(response.headers[header]), 0.0)
        except (KeyError, ValueError):
            continue
    return 1.0


def may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the connection never opened (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0] if exc.args else None, "reason", None)
        return not isinstance(
            reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
        )
    return not isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema)


#: Ends a body cut to ``BODY_LOG_LIMIT``, so a reader never takes a part for the whole.
CUT_MARK = " [cut]"


def failure_log_fields(
    method: str,
    url: str,
    params: Mapping[str, Any] | None,
    response: requests.Response | None,
    raw_body: str | None,
    call: CallInfo,
    reason: str | None = None,
) -> dict[str, Any]:
    """What Visma.net support asks for about a failed call. Request headers (the token) never."""
    fields: dict[str, Any] = {
        "method": method,
        "url": url,
        "query": dict(params or {}),
        "previous_call": call.as_log(),
    }
    if response is not None:
        fields["status"] = response.status_code
        fields["response_body"] = redact_and_cut(response.text, BODY_LOG_LIMIT, CUT_MARK)
        for header in SUPPORT_HEADERS:
            if header in response.headers:
                fields[header.lower().replace("-", "_")] = response.headers[header]
    if raw_body is not None:
        fields["request_body"] = redact_and_cut(raw_body, BODY_LOG_LIMIT, CUT_MARK)
    if reason:
        fields["reason"] = reason
    return fields
