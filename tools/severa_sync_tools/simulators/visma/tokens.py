"""The simulator's Visma Connect: client-credentials tokens, and checking them on API calls.

As the real service (reference visma-net-api.md section 3): a wrong client secret is refused at the
token endpoint (400 ``invalid_client``), but a wrong tenant id gets a token that every API call
then refuses with 401 ("No license for this company", IPPException 12027).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KNOWN_SCOPES = frozenset(f"vismanet_erp_service_api:{op}" for op in ("read", "create", "update", "delete"))
SCOPE_FOR_METHOD = {
    "GET": "vismanet_erp_service_api:read",
    "POST": "vismanet_erp_service_api:create",
    "PUT": "vismanet_erp_service_api:update",
    "DELETE": "vismanet_erp_service_api:delete",
}


@dataclass(slots=True)
class IssuedToken:
    expires_at: float
    company_ok: bool
    scopes: frozenset[str]


class TokenIssuer:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        company_tenant_id: str,
        lifetime_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.company_tenant_id = company_tenant_id
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self.issued: list[str] = []  # every token handed out (tests check none of them leaks)

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer a token request (status, JSON body)."""
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        secret_ok = hmac.compare_digest(form.get("client_secret", "").encode(), self.client_secret.encode())
        if form.get("client_id") != self.client_id or not secret_ok:
            return 400, {"error": "invalid_client"}
        if not form.get("tenant_id"):
            return 400, {"error": "invalid_request", "error_description": "tenant_id is required"}
        scopes = frozenset(form.get("scope", "").split())
        if not scopes or not scopes <= KNOWN_SCOPES:
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(
                self._clock() + self.lifetime_seconds, form["tenant_id"] == self.company_tenant_id, scopes
            )
            self.issued.append(token)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime_seconds,
            "scope": " ".join(sorted(scopes)),
        }

    def check(self, authorization: str | None, method: str) -> tuple[int, dict[str, Any]] | None:
        """None when the call may go on, else the refusal (status, JSON body)."""
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            issued = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if issued is None or issued.expires_at <= self._clock():
            return 401, {"message": "Unauthorized. Access token is missing, invalid or expired."}
        if not issued.company_ok:
            return 401, {
                "ExceptionType": "IPPException",
                "ExceptionMessage": "No license for this company.",
                "ExceptionFaultCode": "12027",
                "ExceptionMessageID": f"12027_{uuid.uuid4()}",
                "ExceptionDetails": "",
            }
        needed = SCOPE_FOR_METHOD.get(method)
        if needed and needed not in issued.scopes:
            return 403, {"message": f"Insufficient scope: {needed} is required."}
        return None

    def expire_all(self) -> None:
        """Make every token handed out so far invalid (as if it had expired)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    @property
    def fetches(self) -> int:
        return len(self.issued)
