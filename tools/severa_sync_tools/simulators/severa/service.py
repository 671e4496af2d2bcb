"""One SOAP call end to end: maintenance, envelope, dispatch, auth, quota, injected trouble, answer.

Returns a ``Reply`` that the HTTP layer writes; successful answers are a stream of byte chunks so
large results never exist as one string.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from severa_sync.errors import (
    CallInfo,
    SeveraAuthenticationFailed,
    SeveraFault,
    SeveraQuotaExceeded,
)
from severa_sync.secrets import Secret
from severa_sync.severa import schema
from severa_sync_tools.simulators.severa import soap, wire
from severa_sync_tools.simulators.severa.controls import DEFAULT_DESCRIPTIONS, Call, Controls
from severa_sync_tools.simulators.severa.dataset import Store
from severa_sync_tools.simulators.severa.operations import HANDLERS, Context

_log = logging.getLogger(__name__)
XML_TYPE = "text/xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
#: Bytes gathered before a chunk is written: big enough to be fast, small enough to stay flat.
CHUNK_BYTES = 64 * 1024
QUOTA_FAULTSTRING = "Quota limit reached"  # [SUP] quota article sample
MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    b"<h1>Visma Severa is having a maintenance break</h1>"
    b"<p>The service is temporarily unavailable. Please try again later.</p></body></html>"
)


@dataclass(slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes | None = None
    chunks: Iterator[bytes] | None = None  # streamed with chunked transfer encoding
    headers: dict[str, str] = field(default_factory=dict)


def batched(texts: Iterator[str], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Join small text pieces into chunks of about ``size`` bytes."""
    pending: list[str] = []
    length = 0
    for text in texts:
        pending.append(text)
        length += len(text)
        if length >= size:
            yield "".join(pending).encode("utf-8")
            pending, length = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


def operation_for_action(action: str | None) -> schema.Operation | None:
    """The operation a SOAPAction names (quoted or not), None when unknown."""
    text = (action or "").strip().strip('"')
    if not text.startswith(schema.NS_SEVERA):
        return None
    return schema.OPERATIONS_BY_NAME.get(text[len(schema.NS_SEVERA) :])


class SoapService:
    """Order of checks: maintenance (503, not counted), content type (415), envelope (400), operation,
    parameters, API key (faults before the key is known are not counted: no organization to bill),
    quota (counted from here on), slowness, injected fault, the operation itself."""

    def __init__(self, store: Store, controls: Controls, api_key: Secret, stopping: threading.Event):
        self._store = store
        self._controls = controls
        self._api_key = api_key
        self._stopping = stopping

    def handle(self, soap_action: str | None, content_type: str | None, body: bytes) -> Reply:
        operation = operation_for_action(soap_action)
        name = (
            operation.qualified if operation else (soap_action or "").strip().strip('"') or "(no SOAPAction)"
        )
        if self._controls.take_maintenance():
            fault = self._controls.maintenance_fault()
            if fault is None:
                return self._log(name, {}, Reply(503, HTML_TYPE, MAINTENANCE_PAGE))
            limit, used = self._controls.quota()
            reply = self._fault(fault, DEFAULT_DESCRIPTIONS[fault], limit, used)
            return self._log(name, {}, Reply(503, XML_TYPE, reply.body))
        page = self._controls.html.take(name)
        if page is not None:  # a wrong URL or a login page in front: HTTP 200, not SOAP
            return self._log(name, {}, Reply(200, HTML_TYPE, page))
        if not (content_type or "").lower().startswith("text/xml"):
            # WCF basicHttpBinding answers other content types with 415 and no envelope.
            refusal = (
                f"Cannot process the message because the content type '{content_type}' was not the "
                f"expected type '{XML_TYPE}'."
            )
            return self._log(name, {}, Reply(415, "text/plain; charset=utf-8", refusal.encode()))
        try:
            header, wrapper = soap.parse_envelope(body)
        except soap.MalformedRequest as exc:
            return self._log(name, {}, Reply(400, "text/plain; charset=utf-8", str(exc).encode()))
        limit, used = self._controls.quota()
        if operation is None:
            text = f"The message with Action '{name}' cannot be processed: no such operation."
            return self._log(name, {}, self._fault("GeneralFailureException", text, limit, used))
        if wrapper.tag != f"{{{schema.NS_SEVERA}}}{operation.name}":
            text = f"The SOAPAction names {operation.qualified} but the body holds {wrapper.tag}."
            return self._log(name, {}, self._fault("GeneralFailureException", text, limit, used))
        try:
            params = soap.read_params(operation, wrapper)
        except soap.ParamError as exc:
            return self._log(name, {}, self._fault("GeneralFailureException", str(exc), limit, used))
        password = soap.header_text(header, "WebServicePassword")
        if password is None or not hmac.compare_digest(password.encode(), self._api_key.reveal().encode()):
            fault = SeveraAuthenticationFailed.fault_type
            return self._log(name, params, self._fault(fault, DEFAULT_DESCRIPTIONS[fault], limit, used))
        limit, used, over = self._controls.count_call()
        if over:
            fault = SeveraQuotaExceeded.fault_type
            reply = self._fault(
                fault, DEFAULT_DESCRIPTIONS[fault], limit, used, faultstring=QUOTA_FAULTSTRING
            )
            return self._log(name, params, reply)
        delay = self._controls.take_slow(name)
        if delay:
            self._stopping.wait(delay)
        injected = self._controls.take_fault(name)
        if injected is not None:
            return self._log(name, params, self._fault(*injected, limit, used))
        self._controls.run_hooks(name, params)
        reply = self._answer(operation, params, limit, used)
        late = self._controls.take_late(name)
        if late:
            self._stopping.wait(late)  # carried out; the answer comes after the client gave up
        return self._log(name, params, reply)

    def _answer(self, operation: schema.Operation, params: dict[str, Any], limit: int, used: int) -> Reply:
        api_version, schema_version = self._controls.versions()
        call = CallInfo("severa", operation.qualified, wire.to_json(params))
        context = Context(self._store, self._controls.now(), api_version, schema_version, call)
        try:
            result = HANDLERS[operation.qualified](context, params)
        except SeveraFault as exc:
            return self._fault(exc.fault_type, exc.description, limit, used)
        except Exception as exc:  # a simulator bug must still answer, as WCF does for unhandled errors
            _log.exception("unhandled error in %s", operation.qualified)
            text = f"Internal error in the simulator: {type(exc).__name__}"
            return self._fault("GeneralFailureException", text, limit, used)
        pieces = soap.response_pieces(
            operation, result, quota=limit, used=used, dates=self._controls.dates.for_answer()
        )
        truncated = self._controls.take_truncation(operation.qualified)
        texts = pieces.truncated_texts() if truncated else pieces.texts()
        return Reply(200, XML_TYPE, chunks=batched(texts))

    @staticmethod
    def _fault(
        fault_type: str, description: str | None, limit: int, used: int, *, faultstring: str | None = None
    ) -> Reply:
        if fault_type == SeveraQuotaExceeded.fault_type and faultstring is None:
            faultstring = QUOTA_FAULTSTRING
        body = soap.fault_envelope(fault_type, description, quota=limit, used=used, faultstring=faultstring)
        return Reply(500, XML_TYPE, body)

    def _log(self, operation: str, params: dict[str, Any], reply: Reply) -> Reply:
        self._controls.log_call(Call(operation, params, reply.status, self._controls.now()))
        return reply
