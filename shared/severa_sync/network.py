"""Which connection failures mean "the configured address is wrong", not "the service is down".

A host name that does not resolve, or a port where nothing accepts connections, will not heal in
the retry machine's 2.5 hours of waiting: it is a wrong URL, a DNS record gone or a firewall, and
somebody must be told now, with the host name. Adapters try a few short times first (a restarting
service refuses for a moment) and then raise their own ``*Unreachable`` error with ``describe``'s
text. Timeouts and resets stay "unavailable": an overloaded or restarting service looks like that.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

DNS_FAILURE = "the host name does not resolve (DNS)"
REFUSED = "the connection was refused (nothing listens at that address and port)"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests -> urllib3 MaxRetryError.reason -> the socket error."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 12:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return seen


def unreachable_reason(exc: BaseException) -> str | None:
    """``DNS_FAILURE`` or ``REFUSED`` when the connection never opened for one of those reasons."""
    for item in _chain(exc):
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return DNS_FAILURE
        if isinstance(item, ConnectionRefusedError) or getattr(item, "errno", None) == errno.ECONNREFUSED:
            return REFUSED
    return None


def host_of(url: str) -> str:
    """``host:port`` (or ``host``) of ``url``: what an operator compares with the configuration."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def describe(system: str, url: str, reason: str, setting: str) -> str:
    return f"cannot connect to {system} at {host_of(url)}: {reason}; check {setting} and DNS/firewall"


def alert_summary(message: str) -> str:
    """The ``connection`` alert's summary: ``describe``'s text (system, host, reason, setting) itself,
    so the operator reads which address failed in the alert, not only in the log line."""
    return (
        f"The run stopped: {message}. Nothing was sent to that address; correct the setting if it is "
        "wrong, and the next scheduled run tries again."
    )
