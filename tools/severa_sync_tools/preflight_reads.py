"""The reads the preflight makes that the sync itself never needs.

Visma.net (reference visma-net-dtos.md): ``GET /v1/customer/customerClass/{customerClassId}``,
``GET /v1/vatCategory/{taxCategoryId}`` (the invoice line's ``vatCodeId`` is a VAT category) and
``GET /v1/inventory/{inventoryNumber}``, each 404 when the key does not exist. Severa:
``IBusinessUnit.GetBusinessUnitByGUID(businessUnitGuid)``, ``NotFoundException`` when it does not.
All through the functions' own clients, so token, 401/429 and error handling are theirs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from severa_sync.config import VismaSettings
from severa_sync.errors import SeveraNotFound
from severa_sync.secrets import Secret
from severa_sync.targets.visma.auth import TokenCache
from severa_sync.targets.visma.client import VismaClient

BUSINESS_UNIT_OPERATION = "IBusinessUnit/GetBusinessUnitByGUID"


def business_unit(client: Any, guid: str) -> str | None:
    """The unit's name (or code), None when Severa has no unit with this GUID."""
    try:
        found = client.get(BUSINESS_UNIT_OPERATION, businessUnitGuid=guid)
    except SeveraNotFound:
        return None
    if found is None:
        return None
    record, _ = found
    return str(getattr(record, "Name", None) or getattr(record, "Code", None) or guid)


def _segment(value: str) -> str:
    return quote(value, safe="")


class VismaReads:
    def __init__(
        self, settings: VismaSettings, client_secret: Secret, session: requests.Session | None = None
    ):
        self._settings = settings
        self._session = session or requests.Session()
        self._tokens = TokenCache(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=client_secret,
            tenant_id=settings.company_tenant_id,
            scopes=settings.scopes,
        )
        self._client = VismaClient(settings, client_secret, session=self._session, token_cache=self._tokens)

    def token(self) -> None:
        """Visma Connect issues a token (a wrong tenant id still gets one: the next call tells)."""
        self._tokens.token(self._session, self._settings.timeout_seconds)

    def customer_class(self, class_id: str) -> str | None:
        found = self._client.get(f"/v1/customer/customerClass/{_segment(class_id)}")
        return None if found is None else str(found.get("description") or class_id)

    def vat_category(self, code: str) -> str | None:
        found = self._client.get(f"/v1/vatCategory/{_segment(code)}")
        return None if found is None else str(found.get("description") or code)

    def inventory_item(self, number: str) -> dict[str, Any] | None:
        found = self._client.get(f"/v1/inventory/{_segment(number)}")
        return found if isinstance(found, dict) else None
