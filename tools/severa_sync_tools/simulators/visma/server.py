"""HTTP plumbing of the Visma.net simulator: one thread per connection, JSON in and out."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from severa_sync_tools.simulators.visma.wire import Reply

if TYPE_CHECKING:
    from severa_sync_tools.simulators.visma.simulator import VismaSimulator


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: VismaSimulator):
        super().__init__(address, _Handler)
        self.sim = sim


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends: without this, Nagle plus the client's delayed ACK adds
    # ~44 ms to every small answer on loopback (found by the benchmarks).
    disable_nagle_algorithm = True
    server: SimulatorServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator's request log is ``VismaSimulator.requests``."""

    def _handle(self, method: str) -> None:
        sim = self.server.sim
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if split.path.startswith("/admin/"):
            self._write(sim.admin(method, split.path, raw))
            return
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        outcome = sim.process(method, split.path, query, headers, raw)
        sim.record(method, split.path, 0 if outcome.drop else outcome.reply.status)
        if outcome.delay:
            sim.hold(outcome.delay)
        if outcome.drop:
            self.close_connection = True
            return
        try:
            self._write(outcome.reply)
        except OSError:  # the client gave up waiting
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        # Bytes go out as they are (a gateway's plain-text error page); anything else as JSON.
        raw = isinstance(reply.body, bytes)
        payload = b"" if reply.body is None else reply.body if raw else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload:
            kind = "text/plain" if raw else "application/json"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and reply.status != 204:
            self.wfile.write(payload)
