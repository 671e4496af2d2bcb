"""HTTP/1.1 plumbing on 127.0.0.1 (stdlib ThreadingHTTPServer): routing, bodies, chunked streaming.

Paths: the SOAP endpoint ``/webservice/S3/API.svc`` (POST), its WSDL at ``.../API.svc/WSDL`` (and
``?wsdl``), and the admin endpoint ``/admin/...`` (see ``admin``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from severa_sync_tools.simulators.severa.service import HTML_TYPE, XML_TYPE, Reply

SOAP_PATH = "/webservice/S3/API.svc"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_log = logging.getLogger(__name__)

HELP_PAGE = (
    "<!DOCTYPE html><html><head><title>Severa API simulator</title></head><body><h1>API Service</h1>"
    f'<p>This is a local simulator of the Visma Severa SOAP API. The WSDL is at <a href="{SOAP_PATH}/WSDL">'
    f"{SOAP_PATH}/WSDL</a>.</p></body></html>"
).encode()


class App(Protocol):
    """What the HTTP layer needs from the simulator."""

    @property
    def wsdl(self) -> bytes: ...

    def now(self) -> datetime: ...

    def soap(self, action: str | None, content_type: str | None, body: bytes) -> Reply: ...

    def admin(self, method: str, path: str, body: bytes) -> Reply: ...


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # two simulators must never share a port

    def __init__(self, port: int, app: App):
        super().__init__(("127.0.0.1", port), _Handler)
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, active: bool) -> None:
        with self._connections_lock:
            (self._connections.add if active else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SeveraSimulator/1.0"
    # Headers and body go out in two sends: without this, Nagle plus the client's delayed ACK adds
    # ~44 ms to every small answer on loopback (found by the benchmarks).
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections
    server: SimulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, active=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, active=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The HTTP Date header follows the simulator clock: clients use it to detect skew.
        return format_datetime(self.server.app.now(), usegmt=True)

    # --- routing -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path.startswith("/admin/"):
            self._write(self.server.app.admin("GET", path, b""))
        elif path.lower() == f"{SOAP_PATH}/wsdl".lower() or (
            path == SOAP_PATH and url.query.lower() == "wsdl"
        ):
            self._write(Reply(200, XML_TYPE, self.server.app.wsdl))
        elif path == SOAP_PATH:
            self._write(Reply(200, HTML_TYPE, HELP_PAGE))
        else:
            self._write(Reply(404, "text/plain; charset=utf-8", b"Not found"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        body = self._read_body()
        if body is None:
            return
        if path == SOAP_PATH:
            reply = self.server.app.soap(
                self.headers.get("SOAPAction"), self.headers.get("Content-Type"), body
            )
        elif path.startswith("/admin/"):
            reply = self.server.app.admin("POST", path, body)
        else:
            reply = Reply(404, "text/plain; charset=utf-8", b"Not found")
        self._write(reply)

    # --- bodies --------------------------------------------------------------------------------
    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self._write(Reply(411, "text/plain; charset=utf-8", b"Length required"))
            return None
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._write(Reply(413 if length > 0 else 400, "text/plain; charset=utf-8", b"Bad request length"))
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                size = -1
            total += max(size, 0)
            if size < 0 or total > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._write(Reply(400, "text/plain; charset=utf-8", b"Bad chunked body"))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunks is None:
                body = reply.body or b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer: nothing to do
