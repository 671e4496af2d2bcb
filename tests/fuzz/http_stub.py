"""A canned HTTP server on 127.0.0.1: each request is answered by a Python function of the request.

Fuzz tests put arbitrary statuses, headers and bodies on a real socket so the adapters' whole HTTP
path (requests, urllib3, their parsing) is exercised, not a mocked response object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Canned:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    #: Close the connection without answering (a cut connection).
    drop: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Request], Canned]


@dataclass
class _State:
    responder: Responder = field(default=lambda request: Canned(404))
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a bad answer never poisons the next
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: fuzzing sends thousands of requests."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        state = self.server.state
        with state.lock:
            state.requests.append(request)
            responder = state.responder
        canned = responder(request)
        if canned.drop:
            self.close_connection = True
            return
        self.send_response(canned.status)
        names = {name.lower() for name, _ in canned.headers}
        for name, value in canned.headers:
            self.send_header(name, value)
        if "content-length" not in names and canned.status not in (204, 304):
            self.send_header("Content-Length", str(len(canned.body)))
        self.end_headers()
        if canned.status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(canned.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()


class CannedServer:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> CannedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, responder: Responder) -> None:
        with self._server.state.lock:
            self._server.state.responder = responder
            self._server.state.requests.clear()

    @property
    def requests(self) -> list[Request]:
        with self._server.state.lock:
            return list(self._server.state.requests)
