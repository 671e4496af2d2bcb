"""Replays one captured SOAP answer over HTTP on 127.0.0.1, to every reader alike.

The Severa simulator builds each answer in Python as it sends it (about 90,000 customers/s here);
a reader as fast as that would be timed at the simulator's speed. So the SOAP read bench asks the
simulator once, saves the answer's bytes, and serves those same bytes to zeep, to the streaming
reader and to bare ``iterparse``: all three read the identical HTTP response, and the server's cost
is a ``sendfile``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from severa_sync.secrets import Secret
from severa_sync.severa import schema

SOAP_PATH = "/webservice/S3/API.svc"


def soap_request(
    operation: schema.Operation, params_xml: str, api_key: Secret
) -> tuple[bytes, dict[str, str]]:
    """The envelope and headers a WCF client sends for ``operation`` (the key in the SOAP header)."""
    body = (
        f'<s:Envelope xmlns:s="{schema.NS_SOAP_ENV}"><s:Header>'
        f'<WebServicePassword xmlns="{schema.NS_SEVERA}">{api_key.reveal()}</WebServicePassword></s:Header>'
        f'<s:Body><{operation.name} xmlns="{schema.NS_SEVERA}">{params_xml}</{operation.name}>'
        "</s:Body></s:Envelope>"
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation.soap_action}"'}
    return body.encode(), headers


def capture(url: str, operation: schema.Operation, params_xml: str, api_key: Secret, path: Path) -> int:
    """POST one call to ``url`` and stream its answer to ``path``; returns the byte count."""
    body, headers = soap_request(operation, params_xml, api_key)
    size = 0
    with (
        requests.post(url, data=body, headers=headers, stream=True, timeout=(5, 300)) as response,
        path.open("wb") as out,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"capturing {operation.qualified} answered HTTP {response.status_code}")
        for chunk in response.iter_content(1 << 16):
            out.write(chunk)
            size += len(chunk)
    return size


class ReplayServer:
    """Answers every POST with the file's bytes (HTTP 200, text/xml); GET serves nothing."""

    def __init__(self, answer: Path):
        self.answer = answer
        self.posts = 0
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-replay", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{SOAP_PATH}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a bench prints figures, not request lines."""

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            replay.posts += 1
            size = replay.answer.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with replay.answer.open("rb") as body:
                self.connection.sendfile(body)

    return Handler
