"""Visma.net Financials simulator over real HTTP on 127.0.0.1 (stdlib ThreadingHTTPServer, JSON).

One process plays both Visma Connect (``/connect/token``) and the ERP API. Tests drive it through
the Python methods; another process through ``POST /admin/<control>`` (JSON keyword arguments) and
``GET /admin/state``.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from severa_sync_tools.simulators.visma.faults import ECHO_BEARER, Fault, FaultPlan, Shape
from severa_sync_tools.simulators.visma.ledger import Ledger, modified_now
from severa_sync_tools.simulators.visma.server import SimulatorServer
from severa_sync_tools.simulators.visma.tokens import TokenIssuer
from severa_sync_tools.simulators.visma.wire import Reply, error_body

HOST = "127.0.0.1"
TOKEN_PATH = "/connect/token"  # noqa: S105 - a URL path, not a password
BACKGROUND_HEADER = "erp-api-background"
ADMIN_CONTROLS = frozenset(
    {
        "commit_then_timeout",
        "stall",
        "fail_5xx",
        "throttle",
        "reject_next",
        "expire_tokens",
        "expire_background",
        "slow_background",
        "reset",
        "seed_customer",
        "seed_project",
        "seed_invoice",
        "seed_item",
        "pay",
        "touch",
    }
)


@dataclass(slots=True)
class Outcome:
    reply: Reply
    #: Seconds to hold the answer back (the client has given up by then).
    delay: float | None = None
    #: Close the connection without answering.
    drop: bool = False


class VismaSimulator:
    def __init__(
        self,
        client_id: str = "severa-sync",
        client_secret: str = "sim-secret",  # noqa: S107 - a simulator
        company_tenant_id: str = "local-company",
        *,
        token_lifetime_seconds: int = 3600,
        max_page_size: int = 100,
        background_polls: int = 1,
        background_ttl_seconds: float = 24 * 3600,
        background_defers_writes: bool = False,
        location_host: str = "https://api.finance.visma.net",
        rate_limit: int = 10_000,
        quota: int | None = None,
        quota_window_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.tokens = TokenIssuer(
            client_id=client_id,
            client_secret=client_secret,
            company_tenant_id=company_tenant_id,
            lifetime_seconds=token_lifetime_seconds,
        )
        self.ledger = Ledger(
            location_host=location_host,
            max_page_size=max_page_size,
            background_polls=background_polls,
            background_ttl_seconds=background_ttl_seconds,
            background_defers_writes=background_defers_writes,
        )
        self.faults = FaultPlan()
        #: Calls per fixed window: the ``X-RateLimit-Limit`` Visma.net sends. With ``quota`` set, that
        #: many API calls per window are answered and the rest get 429 with ``Retry-After`` until the
        #: window resets (Visma.net's hourly quota per company and client); without, it is headers only.
        self.rate_limit = quota if quota is not None else rate_limit
        self.quota = quota
        self.quota_window_seconds = quota_window_seconds
        self._configured = (rate_limit, quota, quota_window_seconds)  # what reset() returns to
        self._clock = clock
        self._clock_offset = 0.0  # advance(): hours of quota simulated in no time
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, int]] = []
        self._window_start = self._now()
        self._window_calls = 0
        self._stopping = threading.Event()
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, port: int = 0) -> VismaSimulator:
        server = SimulatorServer((HOST, port), self)
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="visma-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers holding an answer back
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VismaSimulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    # -- state ---------------------------------------------------------------------------------
    @property
    def customers(self) -> list[dict[str, Any]]:
        return self.ledger.snapshot()["customers"]

    @property
    def projects(self) -> list[dict[str, Any]]:
        return self.ledger.snapshot()["projects"]

    @property
    def invoices(self) -> list[dict[str, Any]]:
        return self.ledger.snapshot()["invoices"]

    @property
    def credit_notes(self) -> list[dict[str, Any]]:
        return self.ledger.snapshot()["credit_notes"]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.ledger.snapshot()["items"]

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._requests)

    @property
    def issued_tokens(self) -> list[str]:
        return list(self.tokens.issued)

    def state(self) -> dict[str, Any]:
        return {
            **self.ledger.snapshot(),
            "requests": [list(r) for r in self.requests],
            "faults": self.faults.pending(),
            "tokens_issued": self.tokens.fetches,
        }

    # -- documents already in the company (typed in by hand, or left by an earlier run) ---------
    def seed_customer(
        self, number: str, name: str, status: str = "Active", vat_registration_id: str | None = None
    ) -> None:
        with self.ledger.lock:
            self.ledger.customers[str(number)] = {
                "internalId": self.ledger._internal_id(),
                "number": str(number),
                "name": name,
                "status": status,
                "vatRegistrationId": vat_registration_id,
                "lastModifiedDateTime": modified_now(),
            }

    def seed_project(
        self, project_id: str, customer_number: str, description: str, status: str = "Active"
    ) -> None:
        with self.ledger.lock:
            self.ledger.projects[str(project_id)] = {
                "internalID": self.ledger._internal_id(),
                "projectID": str(project_id),
                "customer": {"number": str(customer_number), "name": None},
                "description": description,
                "status": status,
                "lastModifiedDateTime": modified_now(),
            }

    def seed_item(
        self, inventory_number: str, description: str, stock_item: bool = False, status: str = "Active"
    ) -> None:
        """An item the company keeps (typed in by hand): non-stock unless ``stock_item``."""
        with self.ledger.lock:
            self.ledger.items[str(inventory_number)] = {
                "inventoryId": self.ledger._internal_id(),
                "inventoryNumber": str(inventory_number),
                "description": description,
                "status": status,
                "type": "FinishedGoodItem" if stock_item else "NonStockItem",
                "stockItem": stock_item,
                "lastModifiedDateTime": modified_now(),
            }

    def seed_invoice(
        self,
        customer_number: str,
        external_reference: str,
        reference_number: str | None = None,
        document_date: str | None = None,
        lines: list[list[float]] | None = None,
    ) -> str:
        """An invoice with ``lines`` of [quantity, unit price] (none: a header typed in by hand)."""
        with self.ledger.lock:
            reference = reference_number or str(900000 + len(self.ledger.invoices) + 1)
            stored = [
                {
                    "lineNumber": n,
                    "quantity": float(quantity),
                    "unitPriceInCurrency": float(price),
                    "amount": float(Decimal(str(quantity)) * Decimal(str(price))),
                }
                for n, (quantity, price) in enumerate(lines or [], start=1)
            ]
            total = float(sum(Decimal(str(line["amount"])) for line in stored))
            self.ledger.invoices[reference] = {
                "referenceNumber": reference,
                "documentType": "Invoice",
                "status": "Open",
                "customer": {"number": str(customer_number)},
                "documentDate": f"{document_date}T00:00:00" if document_date else None,
                "externalReference": str(external_reference),
                "detailTotal": total,
                "detailTotalInCurrency": total,
                "invoiceLines": stored,
                "lastModifiedDateTime": modified_now(),
            }
            return reference

    def pay(
        self, reference: str, amount: float | None = None, kind: str = "invoice", on: str | None = None
    ) -> dict[str, Any]:
        """A payment applied in the ERP (None: the whole balance); see ``Ledger.pay``."""
        return self.ledger.pay(reference, amount, kind=kind, on=on)

    def touch(self, reference: str, at: str, kind: str = "invoice") -> None:
        """Move the document's ``lastModifiedDateTime`` to ``at`` (ISO, UTC, no offset)."""
        self.ledger.touch(reference, at, kind=kind)

    # -- controls ------------------------------------------------------------------------------
    def commit_then_timeout(
        self,
        path_prefix: str = "/v2/customerinvoice",
        calls: int = 1,
        delay: float | None = None,
        method: str | None = None,
    ) -> None:
        """The write is made, then the answer comes only after ``delay`` seconds (None: the connection
        is dropped), as when the gateway gives up while the ERP finishes."""
        self.faults.add(Fault("timeout", path_prefix, calls, method, delay=delay))

    def stall(
        self, path_prefix: str, calls: int = 1, delay: float | None = None, method: str | None = None
    ) -> None:
        """Nothing is written and the answer (504) comes only after ``delay`` (None: dropped)."""
        self.faults.add(Fault("stall", path_prefix, calls, method, delay=delay))

    def fail_5xx(
        self,
        path_prefix: str,
        calls: int = 1,
        status: int = 500,
        commit: bool = False,
        method: str | None = None,
        message: str = "An error has occurred.",
        shape: Shape = "message",
    ) -> None:
        """``status`` with ``message`` in the error body of ``shape`` (``{bearer}`` in it echoes the
        request's token); with ``commit`` the write is made first."""
        _check_shape(shape)
        self.faults.add(
            Fault(
                "fail", path_prefix, calls, method, status=status, commit=commit, message=message, shape=shape
            )
        )

    def throttle(
        self, calls: int = 1, retry_after: float = 1, rate_remaining: int | None = 0, path_prefix: str = "/v"
    ) -> None:
        """429 with Retry-After and X-RateLimit-* headers for the next ``calls`` API calls."""
        self.faults.add(
            Fault("throttle", path_prefix, calls, retry_after=retry_after, rate_remaining=rate_remaining)
        )

    def reject_next(
        self,
        path_prefix: str,
        message: str = "Error creating document.",
        shape: Shape = "message",
        calls: int = 1,
        method: str | None = None,
        body_contains: str | None = None,
        fault_code: str = "12000",
    ) -> None:
        """400 in either of Visma.net's error body shapes (or plain text); nothing is written.
        ``{bearer}`` in ``message`` echoes the request's token."""
        _check_shape(shape)
        self.faults.add(
            Fault(
                "reject",
                path_prefix,
                calls,
                method,
                body_contains,
                status=400,
                message=message,
                shape=shape,
                fault_code=fault_code,
            )
        )

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    def slow_background(self, polls: int, defer_writes: bool = True) -> None:
        """Background jobs queued from now on read "Started" for ``polls`` state polls; with
        ``defer_writes`` their write is made only when they finish (no look-up finds it before)."""
        if polls < 0:
            raise ValueError("polls must be at least 0")
        with self.ledger.lock:
            self.ledger.background_polls = polls
            self.ledger.background_defers_writes = defer_writes

    def expire_background(self) -> None:
        """As if 24 hours had passed: job states are gone (404) and their content answers 410."""
        self.ledger.expire_jobs()

    def set_quota(self, quota: int | None, window_seconds: float | None = None) -> None:
        """Enforce ``quota`` calls per window from now on (None: headers only, as constructed)."""
        with self._lock:
            self.quota = quota
            self.rate_limit = quota if quota is not None else self._configured[0]
            self.quota_window_seconds = window_seconds or self._configured[2]
            self._window_start, self._window_calls = self._now(), 0

    def reset(self) -> None:
        self.faults.clear()
        rate_limit, quota, window = self._configured
        self.rate_limit = quota if quota is not None else rate_limit
        self.quota, self.quota_window_seconds = quota, window
        with self.ledger.lock:
            for table in (
                self.ledger.customers,
                self.ledger.projects,
                self.ledger.invoices,
                self.ledger.credit_notes,
                self.ledger.jobs,
            ):
                table.clear()
            self.ledger.reset_items()
        with self._lock:
            self._requests.clear()
            self._clock_offset = 0.0
            self._window_start, self._window_calls = self._now(), 0

    def control(self, name: str, arguments: Mapping[str, Any]) -> Any:
        if name not in ADMIN_CONTROLS:
            raise ValueError(f"unknown control {name!r}; known: {sorted(ADMIN_CONTROLS)}")
        return getattr(self, name)(**arguments)

    # -- request processing --------------------------------------------------------------------
    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests.append((method, path, status))

    def hold(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def process(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], raw: bytes
    ) -> Outcome:
        text = raw.decode("utf-8", "replace")
        if path.rstrip("/").lower() == TOKEN_PATH:
            return self._token(method, path, text)
        throttle = self.faults.take(("throttle",), method, path, text)
        if throttle is not None:
            return Outcome(
                self._with_api_headers(
                    Reply(
                        429,
                        {
                            "statusCode": 429,
                            "message": f"Rate limit is exceeded. Try again in {throttle.retry_after:g} seconds.",
                        },
                        {"Retry-After": f"{throttle.retry_after:g}"},
                    ),
                    throttle,
                )
            )
        wait = self._quota_spent()
        if wait is not None:
            seconds = math.ceil(wait)
            return Outcome(
                self._with_api_headers(
                    Reply(
                        429,
                        {
                            "statusCode": 429,
                            "message": f"Rate limit is exceeded. Try again in {seconds} seconds.",
                        },
                        {"Retry-After": str(seconds)},
                    ),
                    counted=False,
                )
            )
        refusal = self.tokens.check(headers.get("authorization"), method)
        if refusal is not None:
            return Outcome(self._with_api_headers(Reply(*refusal)))
        if (reject := self.faults.take(("reject",), method, path, text)) is not None:
            message = _echo(reject.message, headers)
            return Outcome(
                self._with_api_headers(Reply(400, error_body(message, reject.shape, reject.fault_code)))
            )
        fail = self.faults.take(("fail",), method, path, text)
        if fail is not None and not fail.commit:
            body = error_body(_echo(fail.message, headers), fail.shape)
            return Outcome(self._with_api_headers(Reply(fail.status, body)))
        if (stall := self.faults.take(("stall",), method, path, text)) is not None:
            return Outcome(
                Reply(504, {"statusCode": 504, "message": "Gateway timeout"}),
                stall.delay,
                drop=stall.delay is None,
            )
        late = self.faults.take(("timeout",), method, path, text)
        reply = self.ledger.route(method, path, query, raw, background=BACKGROUND_HEADER in headers)
        if fail is not None:
            reply = Reply(fail.status, error_body(_echo(fail.message, headers), fail.shape))
        reply = self._with_api_headers(reply)
        if late is not None:
            return Outcome(reply, late.delay, drop=late.delay is None)
        return Outcome(reply)

    def _token(self, method: str, path: str, text: str) -> Outcome:
        if (fail := self.faults.take(("fail",), method, path, text)) is not None:
            return Outcome(Reply(fail.status, {"error": "server_error"}))
        if method != "POST":
            return Outcome(Reply(405, {"error": "invalid_request"}))
        form = {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}
        return Outcome(Reply(*self.tokens.issue(form), {"Cache-Control": "no-store"}))

    def _now(self) -> float:
        return self._clock() + self._clock_offset

    @property
    def clock_offset(self) -> float:
        """Seconds ``advance`` has moved the simulator's clock on (a client's clock can follow it)."""
        return self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock on (the quota window resets when it passes)."""
        with self._lock:
            self._clock_offset += seconds

    def _quota_spent(self) -> float | None:
        """Seconds until the window resets when the quota is spent (the call is refused), else None."""
        if self.quota is None:
            return None
        with self._lock:
            self._roll_window()
            if self._window_calls < self.quota:
                return None
            return max(self.quota_window_seconds - (self._now() - self._window_start), 1.0)

    def _roll_window(self) -> None:
        now = self._now()
        if now - self._window_start >= self.quota_window_seconds:
            elapsed_windows = (now - self._window_start) // self.quota_window_seconds
            self._window_start += elapsed_windows * self.quota_window_seconds
            self._window_calls = 0

    def _with_api_headers(
        self, reply: Reply, throttle: Fault | None = None, *, counted: bool = True
    ) -> Reply:
        """Rate-limit headers on every API answer (policy 4-fixed-window, section 9) and the ids
        Visma.net support asks for. A call refused for the quota is not counted against it."""
        with self._lock:
            self._roll_window()
            if counted:
                self._window_calls += 1
            remaining = max(self.rate_limit - self._window_calls, 0)
            reset = math.ceil(self.quota_window_seconds - (self._now() - self._window_start))
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Policy": "4-fixed-window",
            "Ipp-Request-Id": str(uuid.uuid4()),
            "Request-Context": f"appId=cid-v1:{uuid.uuid4()}",
        }
        if throttle is not None:
            headers["X-RateLimit-Reset"] = f"{throttle.retry_after:g}"
            if throttle.rate_remaining is None:
                del headers["X-RateLimit-Remaining"]
            else:
                headers["X-RateLimit-Remaining"] = str(throttle.rate_remaining)
        return Reply(reply.status, reply.body, {**headers, **reply.headers})

    def admin(self, method: str, path: str, raw: bytes) -> Reply:
        name = path.removeprefix("/admin/").strip("/")
        if method == "GET" and name == "state":
            return Reply(200, self.state())
        if method != "POST":
            return Reply(405, {"error": "use POST /admin/<control> or GET /admin/state"})
        try:
            arguments = json.loads(raw or b"{}")
            if not isinstance(arguments, dict):
                raise ValueError("the body must be a JSON object of keyword arguments")
            result = self.control(name, arguments)
        except (ValueError, TypeError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(200, {"ok": True, "result": result})


def _check_shape(shape: str) -> None:
    if shape not in ("message", "ipp", "text"):
        raise ValueError("shape must be 'message', 'ipp' or 'text'")


def _echo(message: str, headers: Mapping[str, str]) -> str:
    token = (headers.get("authorization") or "").removeprefix("Bearer ").strip()
    return message.replace(ECHO_BEARER, token)
