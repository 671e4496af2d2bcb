"""SeveraClient: Severa's legacy SOAP API, exactly as the service expects it, streamed.

zeep builds every request envelope from the bundled WSDL (one service per interface, bindings
``{http://soap.severa.com/}Severa.API.<Interface>``, all at the tenant's endpoint); we POST it
ourselves with one ``requests.Session`` and ``stream=True`` and read the answer with
``streaming.EnvelopeReader``, because zeep has no streaming parse and a mass update can make an
answer tens of MB (reference: toolchain.md, zeep speed).

Time: the connect and read timeouts are always set and never reach past the Lambda's remaining
time (less a few seconds to checkpoint); the whole answer must also arrive by then. Retries: only
transient transport failures (refused/reset connections, gateway 502/503/504), a few, short, and
never past the remaining time; a SOAP fault is an answer and is never retried.

The API key is a ``Secret``: it is revealed only into the envelope bytes, never into a log line,
an exception, a repr or a ``CallInfo``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NamedTuple

import requests
from aws_lambda_powertools import Logger
from lxml import etree
from zeep import Client as ZeepClient
from zeep import Settings
from zeep.transports import Transport

from severa_sync import __version__
from severa_sync.config import SeveraSettings, TenantConfig
from severa_sync.errors import (
    CallInfo,
    SeveraEndpointNotSoap,
    SeveraResponseTooLarge,
    SyncError,
    TimeBudgetSpent,
)
from severa_sync.secrets import Secret
from severa_sync.severa import faults, schema
from severa_sync.severa.models import SeveraRecord
from severa_sync.severa.quota import Quota, QuotaTracker
from severa_sync.severa.streaming import HEAD_BYTES, BoundedReader, EnvelopeReader, what_came_back
from severa_sync.timeutil import as_utc

log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant

WSDL_PATH = Path(__file__).with_name("wsdl") / "API.wsdl"
BINDING = "{{" + schema.NS_SEVERA + "}}Severa.API.{interface}"
#: Seconds of the caller's remaining time never given to a call: enough to checkpoint and report.
TIME_RESERVE_SECONDS = 5.0
#: A call is not started with less time than this for its answer.
MIN_CALL_SECONDS = 1.0
#: Error answers are small; read at most this much of one (a maintenance page, a fault).
ERROR_BODY_BYTES = 1024 * 1024
RETRY_STATUSES = frozenset({502, 503, 504})
#: What a SOAP 1.1 answer may be labelled (WCF writes text/xml; the others are XML too).
SOAP_MEDIA_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})


class _Answer(NamedTuple):
    response: requests.Response
    call: CallInfo
    deadline: float | None  # monotonic clock time by which the whole answer must have arrived


@functools.lru_cache(maxsize=1)
def zeep_client() -> ZeepClient:
    """The zeep client over the bundled WSDL, built once per process (≈0.3 s; warm Lambdas reuse it)."""
    settings = Settings(
        strict=False, xml_huge_tree=True, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    return ZeepClient(str(WSDL_PATH), transport=Transport(cache=None), settings=settings)


def _wire_value(value: Any) -> Any:
    # Naive datetimes are UTC (Severa's convention); zeep then writes them with a ``Z``.
    return as_utc(value) if isinstance(value, datetime) else value


def _log_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class SeveraClient:
    """One Severa tenant's API. Build once per process; every call shares the session."""

    def __init__(
        self,
        settings: SeveraSettings | TenantConfig,
        api_key: Secret,
        *,
        remaining_seconds: Callable[[], float] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a severa_sync.secrets.Secret")
        self.settings = settings.severa if isinstance(settings, TenantConfig) else settings
        self.endpoint = self.settings.endpoint
        self._api_key = api_key
        self._remaining = remaining_seconds
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"severa-sync/{__version__}"
        self._sleep = sleep
        self._clock = clock
        self._zeep = zeep_client()
        self._services: dict[str, Any] = {}
        self._quota = QuotaTracker(self.settings.quota_reserve_calls)
        self._last_call: CallInfo | None = None
        self._server_time: datetime | None = None

    def __repr__(self) -> str:
        return f"SeveraClient(endpoint={self.endpoint!r})"

    # -- what callers may look at -----------------------------------------------------------
    @property
    def quota(self) -> Quota:
        return self._quota.quota

    @property
    def last_call(self) -> CallInfo | None:
        """The previous call with its parameters (never the API key), for error logs."""
        return self._last_call

    def forget_last_call(self) -> None:
        """A new invocation (or record) starts: an error must never show an older call as its own."""
        self._last_call = None

    @property
    def server_time(self) -> datetime | None:
        """Severa's clock: the HTTP ``Date`` of the last answer (tz-aware UTC)."""
        return self._server_time

    # -- calls ------------------------------------------------------------------------------
    def call(self, operation: str, **params: Any) -> str | None:
        """A simple call (``IAPI/GetVersion``, ``IInvoice/SetInvoiceStatus``...): its text or None."""
        op = schema.operation(operation)
        if op.returns.endswith("[]") or op.returns in schema.ENTITIES:
            raise TypeError(f"{operation} returns records: use get() or stream()")
        answer = self._post(op, params)
        with answer.response:
            try:
                return self._reader(answer, op).scalar()
            except faults.READ_ERRORS as exc:  # cut or undecodable while arriving
                raise faults.transport_error(exc, answer.call) from None

    def get(self, operation: str, **params: Any) -> tuple[SeveraRecord, str] | None:
        """A single-record call (``ICustomer/GetCustomerByGUID``...): (record, content hash) or None
        when Severa answers null. ``NotFoundException`` raises ``SeveraNotFound``."""
        op = schema.operation(operation)
        if op.returns not in schema.ENTITIES:
            raise TypeError(f"{operation} does not return one record")
        answer = self._post(op, params)
        with answer.response:
            # One record cannot be asked for in parts: the size limit would only stop it.
            return next(iter(self._records(answer, op, past_size_cap=True)), None)

    def stream(
        self, operation: str, *, past_size_cap: bool = False, **params: Any
    ) -> Iterator[tuple[SeveraRecord, str]]:
        """A list call, streamed: (record, content hash) one at a time, memory flat.

        The request is sent when iteration starts; an error can surface after some records.
        ``past_size_cap`` reads the whole answer whatever ``max_response_bytes`` says: for reads that
        cannot be made smaller (the smallest window, a type with no fallback); the time budget still
        bounds the answer.
        """
        op = schema.operation(operation)
        if not op.returns.endswith("[]"):
            raise TypeError(f"{operation} does not return a list")
        answer = self._post(op, params)
        with answer.response:
            yield from self._records(answer, op, past_size_cap=past_size_cap)

    def get_version(self) -> str:
        return self.call("IAPI/GetVersion") or ""

    def get_entity_schema_version(self) -> str:
        return self.call("IAPI/GetEntitySchemaVersion") or ""

    def set_invoice_status(self, invoice_guid: str, status: str) -> None:
        self.call("IInvoice/SetInvoiceStatus", invoiceGUID=invoice_guid, status=status)

    # -- the envelope -----------------------------------------------------------------------
    def _service(self, interface: str) -> Any:
        service = self._services.get(interface)
        if service is None:
            binding = BINDING.format(interface=interface)
            service = self._services[interface] = self._zeep.create_service(binding, self.endpoint)
        return service

    def build_envelope(self, operation: str, **params: Any) -> tuple[bytes, dict[str, str]]:
        """The request exactly as it goes on the wire: (envelope bytes, HTTP headers).

        Holds the API key: never log it.
        """
        op = schema.operation(operation)
        service = self._service(op.interface)
        kwargs = {name: _wire_value(value) for name, value in params.items()}
        kwargs["_soapheaders"] = {"WebServicePassword": self._api_key.reveal()}
        # zeep's own send() path, minus its transport: the envelope and SOAPAction/Content-Type.
        envelope, headers = service._binding._create(
            op.name, (), kwargs, client=self._zeep, options=service._binding_options
        )
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), dict(headers)

    # -- HTTP -------------------------------------------------------------------------------
    def _budget(self, call: CallInfo) -> float | None:
        """Seconds this call may take, or None when the caller has no deadline.

        No time left is not a Severa failure (not a timeout, not unavailability): ``TimeBudgetSpent``
        tells the engine to save progress and end the run ``partial``, never to shrink the window.
        """
        if self._remaining is None:
            return None
        budget = self._remaining() - TIME_RESERVE_SECONDS
        if budget < MIN_CALL_SECONDS:
            raise TimeBudgetSpent(
                f"{call.operation} not called: the run's time is up",
                call=call,
                detail={"reason": "time_budget"},
            )
        return budget

    def _post(self, op: schema.Operation, params: Mapping[str, Any]) -> _Answer:
        call = CallInfo("severa", op.qualified, params={k: _log_value(v) for k, v in params.items()})
        self._last_call = call
        self._quota.check(call)
        body, headers = self.build_envelope(op.qualified, **params)
        attempt = 0
        while True:
            budget = self._budget(call)
            connect = self.settings.connect_timeout_seconds
            read = self.settings.read_timeout_seconds
            if budget is not None:
                connect, read = min(connect, budget), min(read, budget)
            started = self._clock()
            deadline = None if budget is None else started + budget
            log.debug("severa call", extra={"severa_call": call.as_log(), "attempt": attempt + 1})
            try:
                response = self._session.post(
                    self.endpoint, data=body, headers=headers, timeout=(connect, read), stream=True
                )
            except requests.RequestException as exc:
                error: SyncError = faults.transport_error(exc, call, host=self.endpoint)
                if faults.is_transient(exc) and self._may_retry(attempt, call, error):
                    attempt += 1
                    continue
                raise error from None
            call = replace(
                call, status=response.status_code, duration_ms=int((self._clock() - started) * 1000)
            )
            self._last_call = call
            self._observe(response)
            if response.status_code == 200:
                return _Answer(response, call, deadline)
            with response:
                error = self._error_answer(response, call)
            if response.status_code in RETRY_STATUSES and self._may_retry(attempt, call, error):
                attempt += 1
                continue
            raise error

    def _may_retry(self, attempt: int, call: CallInfo, error: SyncError) -> bool:
        if attempt >= self.settings.transport_retries:
            return False
        delay = float(min(2**attempt, 5))
        if (
            self._remaining is not None
            and self._remaining() - TIME_RESERVE_SECONDS - delay < MIN_CALL_SECONDS * 2
        ):
            return False
        log.warning(
            "severa call failed, retrying",
            extra={"severa_call": call.as_log(), "error": error.as_log(), "retry_in_seconds": delay},
        )
        self._sleep(delay)
        return True

    def _observe(self, response: requests.Response) -> None:
        date_header = response.headers.get("Date")
        if date_header:
            with contextlib.suppress(TypeError, ValueError):  # an odd Date header must not fail the call
                self._server_time = as_utc(parsedate_to_datetime(date_header))
        self._quota.observe_http_headers(response.headers)

    def _error_answer(self, response: requests.Response, call: CallInfo) -> SyncError:
        """The typed error for a non-200 answer: an unavailable status (502/503/504...) whatever
        its body, else its SOAP fault, else its HTTP status. Quota headers are read either way."""
        try:
            body = response.raw.read(ERROR_BODY_BYTES, decode_content=True)
        except faults.READ_ERRORS as exc:  # an error answer cut short is still an error
            return faults.transport_error(exc, call)
        fault, header = faults.parse_error_body(body)
        if header is not None:
            for child in header:
                if isinstance(child.tag, str):
                    self._quota.observe(etree.QName(child).localname, child.text)
        return faults.error_answer(response.status_code, body, fault, call)

    def _reader(
        self, answer: _Answer, op: schema.Operation, *, past_size_cap: bool = False
    ) -> EnvelopeReader:
        response, call = answer.response, answer.call
        self._refuse_non_soap(response, call)
        limit = sys.maxsize if past_size_cap else self.settings.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise SeveraResponseTooLarge(
                f"{call.operation}: answer of {declared} bytes is over the limit of {limit} bytes",
                call=call,
                detail={"max_response_bytes": limit},
            )
        raw = response.raw
        source = BoundedReader(
            functools.partial(raw.read, decode_content=True),
            max_bytes=limit,
            call=call,
            deadline=answer.deadline,
            clock=self._clock,
        )
        return EnvelopeReader(source, op, call=call, on_quota=self._quota.observe, endpoint=self.endpoint)

    def _refuse_non_soap(self, response: requests.Response, call: CallInfo) -> None:
        """A 200 answer that says it is not XML (an HTML page at a wrong URL, a login or proxy
        page) is a configuration error naming the URL and what came back: never "unavailable".
        Answers without a Content-Type are judged by their first bytes (``EnvelopeReader``)."""
        media = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if not media or media in SOAP_MEDIA_TYPES or media.endswith("+xml"):
            return
        try:
            head = response.raw.read(HEAD_BYTES, decode_content=True)
        except faults.READ_ERRORS:
            head = b""
        shown = what_came_back(head)
        raise SeveraEndpointNotSoap(
            f"{call.operation}: {self.endpoint} answered HTTP 200 with {media} ({shown}), not a Severa "
            "SOAP answer: check severa.url in the configuration (a wrong URL, or a login or proxy page "
            "in the way)",
            call=call,
            detail={"endpoint": self.endpoint, "content_type": media, "answer_start": shown},
        )

    def _records(
        self, answer: _Answer, op: schema.Operation, *, past_size_cap: bool = False
    ) -> Iterator[tuple[SeveraRecord, str]]:
        try:
            yield from self._reader(answer, op, past_size_cap=past_size_cap).records()
        except SyncError:
            raise
        except faults.READ_ERRORS as exc:
            # The connection broke or timed out while the answer was arriving.
            raise faults.transport_error(exc, answer.call) from None
