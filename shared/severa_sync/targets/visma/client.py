"""HTTP client for the Visma.net Financials REST API (per Visma's published API documentation).

What it takes care of, so callers think in documents:

- ``{"value": ...}`` wrapping of request bodies (section 4.1); responses are plain and returned as-is.
- Visma Connect tokens (``auth.TokenCache``): refreshed once on a 401, then ``TargetAuthFailed``.
- 429: waits ``Retry-After`` when the caller's remaining time allows it, else stops the run.
- A timeout on every call, never past the Lambda's remaining time.
- Creating without duplicates although there is no idempotency key (``writes``), through the
  background API for long writes (``background``); ``pageNumber``/``pageSize`` paging.
- Every failed call is logged with what Visma.net support asks for, never the Authorization header.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from aws_lambda_powertools import Logger

from severa_sync.config import VismaSettings
from severa_sync.errors import (
    CallInfo,
    OutcomeUnknown,
    SyncError,
    TargetAuthFailed,
    TargetError,
    TargetRejected,
    TargetUnavailable,
    TimeBudgetSpent,
)
from severa_sync.redaction import redact
from severa_sync.secrets import Secret
from severa_sync.targets.visma.auth import TokenCache
from severa_sync.targets.visma.quota import QuotaWindow
from severa_sync.targets.visma.wire import (
    RATE_LIMIT_HEADERS,
    Unreached,
    Unsettled,
    error_message,
    failure_log_fields,
    json_or_none,
    never_connected,
    retry_after,
    wrap_values,
)
from severa_sync.targets.visma.writes import JobAccepted, Lookup, create_document

logger = Logger(service="severa-sync", child=True)

#: A call is not started with less time than this left, nor a wait begun that would leave less.
MIN_CALL_SECONDS = 1.0
#: Kept free of the remaining time for logging and state writes after the last call.
TIME_RESERVE_SECONDS = 1.0
MAX_THROTTLE_WAITS = 10
MAX_THROTTLE_WAIT_SECONDS = 300.0


class VismaClient:
    """One company's Visma.net API. Serial by design: the quota is per company and client."""

    def __init__(
        self,
        settings: VismaSettings,
        client_secret: Secret,
        *,
        session: requests.Session | None = None,
        remaining_seconds: Callable[[], float] | None = None,
        token_cache: TokenCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transient_retries: int = 2,
        retry_backoff_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self._base = settings.base_url.rstrip("/")
        self._session = session or requests.Session()
        self._remaining = remaining_seconds
        self._sleep = sleep
        self._retries = transient_retries
        self._backoff = retry_backoff_seconds
        self._tokens = token_cache or TokenCache(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=client_secret,
            tenant_id=settings.company_tenant_id,
            scopes=settings.scopes,
        )
        self._last_call: CallInfo | None = None
        self.quota = QuotaWindow(settings, monotonic)

    def __repr__(self) -> str:
        return f"VismaClient(base_url={self._base!r}, tenant_id={self.settings.company_tenant_id!r})"

    def last_call(self) -> CallInfo | None:
        return self._last_call

    def forget_last_call(self) -> None:
        """Before each record: its errors then carry its own call or none, never an earlier one's."""
        self._last_call = None

    # -- time ----------------------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds the caller still has (infinite without a limit), less a small reserve."""
        return math.inf if self._remaining is None else self._remaining() - TIME_RESERVE_SECONDS

    def has_time_for(self, wait: float, calls: int = 1) -> bool:
        return self.remaining() >= wait + calls * MIN_CALL_SECONDS

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def _timeout(self, method: str, path: str) -> float:
        """The call's timeout; ``TimeBudgetSpent`` (no service failed: the run ends ``partial`` and
        continues at once) when the Lambda's time is nearly up."""
        if not self.has_time_for(0):
            raise TimeBudgetSpent(
                f"no time left for {method} {path} before the Lambda ends",
                call=CallInfo("visma", f"{method} {path}"),
            )
        return min(self.settings.timeout_seconds, self.remaining())

    # -- the one place requests are sent -------------------------------------------------------
    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        raw_body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[requests.Response, CallInfo]:
        """One request with token, timeout, a 401 refresh and 429 waits; any other answer is returned.

        Raises ``wire.Unsettled`` when the request may have reached Visma.net but no answer came, and
        ``wire.Unreached`` (a ``TargetUnavailable``) when the connection never opened.
        """
        operation = f"{method} {path}"
        call_params = {k: v for k, v in (params or {}).items() if k != "pageSize"}
        refreshed = False
        throttled = 0
        while True:
            self.quota.check(operation)  # before the token too: nothing is started past the budget
            token = self._tokens.token(self._session, self._timeout(method, path))
            timeout = self._timeout(method, path)  # after the token call, which may have used some
            request_headers = {
                "Accept": "application/json",
                **(headers or {}),
                "Authorization": f"Bearer {token.reveal()}",
            }
            if raw_body is not None:
                request_headers["Content-Type"] = "application/json"
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    self._base + path,
                    params=params,
                    headers=request_headers,
                    data=raw_body.encode() if raw_body is not None else None,
                    timeout=(min(10.0, timeout), timeout),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                call = self._remember(CallInfo("visma", operation, call_params, None, _ms(started)))
                reason = type(exc).__name__  # the exception text can quote the request
                self.log_failure(method, path, params, None, raw_body, call, reason=reason)
                unreached = never_connected(
                    exc,
                    call,
                    url=self._base,
                    setting="visma.base_url",
                    what=f"Visma.net unreachable: {operation}",
                )
                if unreached is not None:
                    raise unreached from None
                raise Unsettled(f"no answer to {operation} ({reason})", call, resend_safe=False) from None
            call = self._remember(
                CallInfo("visma", operation, call_params, response.status_code, _ms(started))
            )
            self.quota.observe(response.headers)
            if response.status_code == 401 and not refreshed:
                logger.warning(
                    "Visma.net refused the token; refreshing it once",
                    extra={"method": method, "url": self._base + path, "status": 401},
                )
                self._tokens.invalidate()
                refreshed = True
            elif response.status_code == 429:
                throttled += 1
                self._wait_for_throttle(response, method, path, params, raw_body, call, throttled)
            else:
                return response, call

    def _remember(self, call: CallInfo) -> CallInfo:
        self._last_call = call
        return call

    def _wait_for_throttle(
        self,
        response: requests.Response,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        raw_body: str | None,
        call: CallInfo,
        throttled: int,
    ) -> None:
        wait = retry_after(response)
        # Server text: scrubbed like every other field a log line takes from an answer.
        rate = redact({h: response.headers[h] for h in RATE_LIMIT_HEADERS if h in response.headers})
        if throttled <= MAX_THROTTLE_WAITS and wait <= MAX_THROTTLE_WAIT_SECONDS and self.has_time_for(wait):
            logger.warning(
                "Visma.net throttled the call (429); waiting Retry-After",
                extra={
                    "method": method,
                    "url": self._base + path,
                    "retry_after_seconds": wait,
                    "rate_limit": rate,
                },
            )
            self._sleep(wait)
            self.quota.waited()  # the server's own word: after Retry-After the call may be made
            return
        self.log_failure(
            method, path, params, response, raw_body, call, reason="throttled past the time left"
        )
        detail = {"retry_after_seconds": wait, **rate}
        if response.headers.get("X-RateLimit-Remaining") == "0":
            self.quota.refused(wait)
            raise self.quota.paused(call.operation, wait, call)  # refused, so nothing was written
        raise TargetUnavailable(
            f"Visma.net throttled {call.operation} for {wait:.0f} s, longer than the time left",
            call=call,
            detail=detail,
        )

    # -- failures ------------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        response: requests.Response,
        raw_body: str | None,
        call: CallInfo,
    ) -> TargetError:
        """The typed error for a non-2xx answer (logged here, raised by the caller)."""
        self.log_failure(method, path, params, response, raw_body, call)
        message, detail = error_message(response.text)  # TargetError scrubs secrets itself
        status = response.status_code
        detail["status"] = str(status)
        if status in (401, 403):
            return TargetAuthFailed(
                f"Visma.net refused {call.operation} ({status}): check the company tenant id "
                "and that the API user has the API User role",
                call=call,
                detail=detail,
            )
        if status >= 500:
            return TargetUnavailable(
                f"Visma.net failed {call.operation} ({status}): {message}", call=call, detail=detail
            )
        return TargetRejected(
            f"Visma.net rejected {call.operation} ({status}): {message}", call=call, detail=detail
        )

    def log_failure(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        response: requests.Response | None,
        raw_body: str | None,
        call: CallInfo,
        reason: str | None = None,
    ) -> None:
        fields = failure_log_fields(method, self._base + path, params, response, raw_body, call, reason)
        # The answer may echo our request: no secret or token may ride along into the log.
        logger.error(f"Visma.net call failed: {method} {path}", extra=redact(fields))

    # -- reads and updates (safe to repeat) ----------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any | None:
        """The plain JSON answer of a GET; None on 404."""
        with self._typed("GET", path, unknown_outcome=False):
            response = self._repeatable("GET", path, params=params)
            return None if response is None else json_or_none(response)

    def put(self, path: str, dto: Mapping[str, Any]) -> bool:
        """Update with a partial body; False when the document does not exist (404)."""
        with self._typed("PUT", path, unknown_outcome=False):
            raw = json.dumps(wrap_values(dto), ensure_ascii=False)
            return self._repeatable("PUT", path, raw_body=raw) is not None

    @contextlib.contextmanager
    def _typed(self, method: str, path: str, *, unknown_outcome: bool) -> Iterator[None]:
        """An answer of a shape nobody expected (a non-object body, an odd ``Location``, absurd
        nesting or numbers) is a typed error like any other, never a crash. After a POST it may
        hide a committed write: then the outcome is unknown and the record is looked up next run."""
        try:
            yield
        except SyncError:
            raise
        except (ValueError, TypeError, AttributeError, LookupError, ArithmeticError, RecursionError) as exc:
            call = self._last_call or CallInfo("visma", f"{method} {path}")
            reason = f"Visma.net answered {method} {path} in an unexpected shape ({type(exc).__name__})"
            if unknown_outcome:
                raise OutcomeUnknown(reason, call=call) from None
            raise TargetUnavailable(reason, call=call) from None

    def _repeatable(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, raw_body: str | None = None
    ) -> requests.Response | None:
        """GET and PUT change nothing when repeated: transient failures (a 5xx, no answer, a
        connection that never opened) are retried briefly, within the caller's remaining time."""
        for attempt in range(1, self._retries + 2):
            try:
                response, call = self.send(method, path, params=params, raw_body=raw_body)
            except Unsettled as exc:
                failure: TargetError = TargetUnavailable(f"Visma.net: {exc.reason}", call=exc.call)
            except Unreached as exc:
                failure = exc
            else:
                if response.status_code == 404:
                    return None
                if response.ok:
                    return response
                failure = self.fail(method, path, params, response, raw_body, call)
                if not isinstance(failure, TargetUnavailable):
                    raise failure
            backoff = self._backoff * attempt
            if attempt > self._retries or not self.has_time_for(backoff):
                raise failure
            self._sleep(backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, one page after another (the quota is per company+client).

        A page that is not a list is an unexpected shape (``TargetUnavailable``), never "no items":
        a look-up that read an error object as an empty list would let a document be created twice."""
        page_size = self.settings.page_size
        page_number, seen = 1, 0
        while True:
            with self._typed("GET", path, unknown_outcome=False):
                page = self.get(path, {**(params or {}), "pageNumber": page_number, "pageSize": page_size})
                if page is not None and not isinstance(page, list):
                    raise TypeError(f"a page of {type(page).__name__}, not a list")
                items = [item for item in (page or []) if isinstance(item, dict)]
                seen += len(items)
                last = not items or _last_page(items, seen, page_size)
            yield from items
            if last:
                return
            page_number += 1

    # -- creation ------------------------------------------------------------------------------
    def create(
        self,
        path: str,
        dto: Mapping[str, Any],
        *,
        lookup: Lookup,
        background: bool = False,
        describe: str = "document",
        on_accepted: JobAccepted | None = None,
    ) -> str:
        """POST a new document; its key from ``Location`` (or the look-up). Never creates it twice:
        ``lookup`` (a key we sent -> the Visma.net key or None) settles every ambiguous answer.
        ``on_accepted`` is told the job id as soon as a background write is queued (before it is
        awaited), so a caller can remember a job that may outlive this invocation."""
        raw = json.dumps(wrap_values(dto), ensure_ascii=False)
        with self._typed("POST", path, unknown_outcome=True):
            return create_document(
                self,
                path,
                raw,
                lookup=lookup,
                background=background,
                describe=describe,
                on_accepted=on_accepted,
            )


def _last_page(items: list[dict[str, Any]], seen: int, page_size: int) -> bool:
    metadata = items[0].get("metadata") or {}
    total = metadata.get("totalCount")
    effective = min(page_size, int(metadata.get("maxPageSize") or page_size))
    return (isinstance(total, int) and seen >= total) or len(items) < effective


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
