"""Visma Connect client-credentials tokens, cached until shortly before they expire.

Visma Connect issues service tokens with a form POST of ``grant_type=client_credentials``, ``scope``,
``client_id``, ``client_secret`` and ``tenant_id`` (Visma Connect's published client-credentials flow). Lifetimes
are set per application in the Developer Portal, so the cache follows ``expires_in`` and never
assumes an hour. The secret and the token stay ``Secret`` objects: neither is ever logged, raised or
put into a ``CallInfo``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from aws_lambda_powertools import Logger

from severa_sync.errors import CallInfo, TargetAuthFailed, TargetUnavailable
from severa_sync.redaction import redact_and_cut
from severa_sync.secrets import Secret
from severa_sync.targets.visma.wire import never_connected

logger = Logger(service="severa-sync", child=True)

#: Refresh this long before the token expires (capped at a tenth of the lifetime for short tokens).
EXPIRY_MARGIN_SECONDS = 60.0
#: Only these fields of an OAuth error body are logged: the rest could echo what we sent.
_OAUTH_ERROR_FIELDS = ("error", "error_description")


class TokenCache:
    """One company's service token. Thread-safe; ``invalidate()`` forces the next call to refresh."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        tenant_id: str,
        scopes: Sequence[str],
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(client_secret, Secret):
            raise TypeError("client_secret must be a severa_sync.secrets.Secret")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._tenant_id = tenant_id
        self._scopes = tuple(scopes)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._valid_until = 0.0
        self.fetches = 0  # how many tokens were requested (for logs and tests)

    def __repr__(self) -> str:
        return f"TokenCache(client_id={self._client_id!r}, tenant_id={self._tenant_id!r})"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._valid_until = 0.0

    def token(self, session: requests.Session, timeout: float) -> Secret:
        """A valid token, fetched when there is none or it is about to expire."""
        with self._lock:
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            token, lifetime = self._fetch(session, timeout)
            margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
            self._token = token
            self._valid_until = self._clock() + lifetime - margin
            return token

    def _call(self, status: int | None, started: float) -> CallInfo:
        return CallInfo(
            system="visma",
            operation=f"POST {self._token_url}",
            params={
                "client_id": self._client_id,
                "tenant_id": self._tenant_id,
                "scope": " ".join(self._scopes),
            },
            status=status,
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    def _fetch(self, session: requests.Session, timeout: float) -> tuple[Secret, float]:
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(self._scopes),
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            "tenant_id": self._tenant_id,
        }
        started = time.monotonic()
        self.fetches += 1
        try:
            response = session.post(
                self._token_url,
                data=form,
                timeout=(min(10.0, timeout), timeout),
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            call = self._call(None, started)
            # The exception text may quote the request; only its type is logged.
            logger.error(
                "Visma Connect token request failed",
                extra={
                    "method": "POST",
                    "url": self._token_url,
                    "reason": type(exc).__name__,
                    "previous_call": call.as_log(),
                },
            )
            # Never connected: ``Unreached``, which a GET or PUT retries like any transient failure.
            what = "Visma Connect token endpoint unreachable"
            unreached = never_connected(exc, call, url=self._token_url, setting="visma.token_url", what=what)
            raise unreached or TargetUnavailable(f"{what} ({type(exc).__name__})", call=call) from None
        call = self._call(response.status_code, started)
        body = _json_object(response)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            lifetime = _lifetime(body.get("expires_in"))
            logger.info(
                "Visma Connect token issued", extra={"expires_in": lifetime, "tenant_id": self._tenant_id}
            )
            return Secret(body["access_token"]), lifetime
        oauth_error = {k: redact_and_cut(body[k], 300) for k in _OAUTH_ERROR_FIELDS if k in body}
        logger.error(
            "Visma Connect token request failed",
            extra={
                "method": "POST",
                "url": self._token_url,
                "status": response.status_code,
                "response_body": oauth_error,
                "previous_call": call.as_log(),
            },
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise TargetUnavailable(
                f"Visma Connect token endpoint answered {response.status_code}", call=call
            )
        code = oauth_error.get("error", "no error code")
        raise TargetAuthFailed(
            f"Visma Connect refused the token request ({response.status_code} {code}): check the client id "
            "and secret, the company tenant id and that the application has the API User role",
            call=call,
            detail=oauth_error,
        )


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _lifetime(expires_in: object) -> float:
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 300.0  # no lifetime given: assume a short one rather than reuse a dead token
    return max(seconds, 1.0)
