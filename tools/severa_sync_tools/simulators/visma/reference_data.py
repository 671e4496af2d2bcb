"""The company's reference data the preflight reads: customer classes, VAT categories, items.

Items are a table of the ledger (``Ledger.items``, written by ``POST``/``PUT /v1/inventory``); the
company starts with the non-stock items below (the default item and the hour items Severa's hour
rows name by work-type code) and the item classes new items may be assigned to.

Shapes from reference visma-net-dtos.md: ``GET /v1/customer/customerClass/{customerClassId}``
(CustomerClassDto ``id, description``), ``GET /v1/vatCategory/{taxCategoryId}`` (VatCategoryDto
``taxCategoryId, description, active``) and ``GET /v1/inventory/{inventoryNumber}`` (InventoryDto
``inventoryId, inventoryNumber, status, type, stockItem, description``); 404 with Visma.net's
``{"message": ...}`` when the key does not exist. Mixed into ``Ledger``: its lock guards these too.
"""

from __future__ import annotations

import copy
from typing import Any

from severa_sync_tools.simulators.visma.wire import Reply, error_body

ROUTES = (
    ("GET", r"/v1/customer/customerClass/(?P<key>[^/]+)", "get_customer_class"),
    ("GET", r"/v1/vatCategory/(?P<key>[^/]+)", "get_vat_category"),
    ("GET", r"/v1/inventory/(?P<key>[^/]+)", "get_inventory_item"),
)


def default_customer_classes() -> dict[str, dict[str, Any]]:
    return {
        "1": {"id": "1", "description": "Domestic customers"},
        "2": {"id": "2", "description": "EU customers"},
    }


#: Credit terms (``GET /v1/creditTerm`` termsId) and VAT zones (``GET /v1/vatZone`` id) the company has.
DEFAULT_CREDIT_TERMS = frozenset({"7", "14", "30"})
DEFAULT_VAT_ZONES = frozenset({"01", "02", "03"})


def default_item_classes() -> dict[str, dict[str, Any]]:
    return {
        "SERVICE": {"id": "SERVICE", "description": "Services", "type": "NonStockItem"},
        "STOCK": {"id": "STOCK", "description": "Stock items", "type": "FinishedGoodItem"},
    }


def default_items() -> dict[str, dict[str, Any]]:
    def item(number: int, key: str, description: str) -> dict[str, Any]:
        return {
            "inventoryId": number,
            "inventoryNumber": key,
            "status": "Active",
            "type": "NonStockItem",
            "stockItem": False,
            "description": description,
            "itemClass": {"id": "SERVICE", "description": "Services", "type": "NonStockItem"},
            "lastModifiedDateTime": "2026-01-05T08:00:00.000",  # kept by the company long before
        }

    return {
        "SEVERA": item(1, "SEVERA", "Severa invoice row"),
        "CONSULT": item(2, "CONSULT", "Consulting"),
        "DESIGN": item(3, "DESIGN", "Design work"),
    }


class ReferenceData:
    """Customer classes and non-stock items by key; VAT categories are the ledger's ``vat_codes``."""

    vat_codes: frozenset[str]
    customer_classes: dict[str, dict[str, Any]]
    items: dict[str, dict[str, Any]]

    def _customer_references(self) -> tuple[frozenset[str], frozenset[str]]:
        return (
            getattr(self, "credit_terms", DEFAULT_CREDIT_TERMS),
            getattr(self, "vat_zones", DEFAULT_VAT_ZONES),
        )

    def get_customer_class(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.customer_classes.get(key)
        return (
            Reply(200, copy.deepcopy(found))
            if found
            else Reply(404, error_body(f"CustomerClass '{key}' not found."))
        )

    def get_vat_category(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        if key not in self.vat_codes:
            return Reply(404, error_body(f"VatCategory '{key}' not found."))
        return Reply(200, {"taxCategoryId": key, "description": f"VAT category {key}", "active": True})

    def get_inventory_item(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.items.get(key)
        return (
            Reply(200, copy.deepcopy(found))
            if found
            else Reply(404, error_body(f"Inventory item '{key}' not found."))
        )
