"""A tiny HTTP server on 127.0.0.1 that answers with canned Severa envelopes and failures.

Tests queue answers (``server.push(...)``) or set a router (``server.route = fn``); the server
records every request (headers and body) so tests can check what went on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from severa_sync.config import SeveraSettings, TenantConfig
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from tests.severa import envelopes as env

API_KEY = "sk-live-7f3a9c2e-do-not-log-4b1d"


@dataclass
class Canned:
    """One answer. ``body`` may be bytes or an iterable of chunks (sent chunked)."""

    body: bytes | Iterable[bytes] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/xml; charset=utf-8"
    #: Seconds to wait before answering (a read timeout on the client's side).
    delay: float = 0.0
    #: Send only this many body bytes, then close (with the full Content-Length announced).
    cut_after: int | None = None
    #: Close the connection without any answer.
    hang_up: bool = False
    #: HTTP ``Date`` header (default: the real time, as any server sends).
    date: str | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: CannedServer
    protocol_version = "HTTP/1.1"

    _answer: Canned | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        if self._answer is not None and self._answer.date is not None:
            return self._answer.date
        return super().date_time_string(timestamp)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        seen = Seen(self.path, {k: v for k, v in self.headers.items()}, body)
        self.server.requests.append(seen)
        answer = self._answer = self.server.next_answer(seen)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.hang_up:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if isinstance(answer.body, bytes | bytearray):
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            data = bytes(answer.body) if answer.cut_after is None else bytes(answer.body[: answer.cut_after])
            with contextlib.suppress(OSError):
                self.wfile.write(data)
            if answer.cut_after is not None:
                self.close_connection = True
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in answer.body:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client stopped reading (size limit): fine


class CannedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Seen] = []
        self.answers: deque[Canned] = deque()
        self.route: Callable[[Seen], Canned] | None = None
        #: The reads attached to each record (a customer's addresses, ``DataType.attached``) are
        #: answered here, outside the queue, so a test's canned answers stay in their order: no
        #: addresses unless a test says otherwise.
        self.attached_requests: list[Seen] = []
        self.attached: dict[str, Callable[[Seen], Canned]] = {
            "IAddress/GetAddressesChangedSince": lambda seen: Canned(
                env.list_envelope("IAddress/GetAddressesChangedSince", [])
            )
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webservice/S3/API.svc"

    def push(self, *answers: Canned) -> None:
        self.answers.extend(answers)

    def next_answer(self, seen: Seen) -> Canned:
        action = seen.headers.get("SOAPAction", "").strip('"').rsplit("/", 2)
        attached = self.attached.get("/".join(action[-2:]))
        if attached is not None:
            # Kept apart: ``requests`` stays the calls a test's canned answers are for.
            self.attached_requests.append(self.requests.pop())
            return attached(seen)
        if self.answers:
            return self.answers.popleft()
        if self.route is not None:
            return self.route(seen)
        return Canned(b"no canned answer left", status=599, content_type="text/plain")


@pytest.fixture
def server() -> Iterator[CannedServer]:
    srv = CannedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


MakeClient = Callable[..., SeveraClient]


@pytest.fixture
def make_client(server: CannedServer, sleeps: Sleeps) -> MakeClient:
    """``make_client(**severa_settings, remaining_seconds=..., url=...)``: a client on the canned server."""

    def make(
        *, remaining_seconds: Callable[[], float] | None = None, url: str | None = None, **settings: Any
    ) -> SeveraClient:
        severa = SeveraSettings(url=url or server.url, **settings)
        return SeveraClient(severa, Secret(API_KEY), remaining_seconds=remaining_seconds, sleep=sleeps)

    return make


@pytest.fixture
def tenant_config(server: CannedServer) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant": "demo",
            "severa": {"url": server.url, "business_unit_guid": "bu-0001"},
            "invoices": {"source_status": "Ready for transfer", "transferred_status": "Transferred"},
        }
    )
