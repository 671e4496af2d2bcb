"""Records ``mass_update`` creates: minimal but plausible, linked to the seed's GUIDs.

100,000 of them must be made in well under a second or two, so GUIDs are a stable prefix plus the
serial instead of one uuid5 each.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from severa_sync_tools.simulators.severa.seed_tables import BUSINESS_UNIT, WORK_TYPES, guid


@functools.cache
def _bulk_prefix(entity: str) -> str:
    return guid("Bulk", entity)[:24]


def bulk_guid(entity: str, serial: int) -> str:
    """Stable GUIDs for bulk records without a uuid5 per record (100,000 of them must be quick)."""
    return f"{_bulk_prefix(entity)}{serial:012x}"


_BULK_LINKS = {
    "customer": guid("Customer", 1001),
    "case": guid("Case", 2001),
    "phase": guid("Phase", 2001),
    "user": guid("User", "BB"),
    "vacation": guid("ActivityType", "Vacation"),
}


def bulk_record(entity: str, serial: int, at: datetime) -> dict[str, Any]:
    """A new record for ``mass_update``: minimal but plausible, linked to seed GUIDs."""
    key = bulk_guid(entity, serial)
    links = _BULK_LINKS
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if entity == "Customer":
        return {
            "GUID": key,
            "Name": f"Bulk customer {serial}",
            "Number": 100_000 + serial,
            "IsActive": True,
            "CurrencyCode": "EUR",
        }
    if entity == "Case":
        return {
            "GUID": key,
            "CaseNumber": 100_000 + serial,
            "Name": f"Bulk case {serial}",
            "AccountGUID": links["customer"],
            **BUSINESS_UNIT,
            "IsClosed": False,
            "StartDate": day,
        }
    if entity == "Invoice":
        return {
            "GUID": key,
            "Number": 100_000 + serial,
            "InvoiceStatus": "Ready for transfer",
            "AccountGUID": links["customer"],
            "MainCaseGUID": links["case"],
            **BUSINESS_UNIT,
            "Date": day,
            "DueDate": day + timedelta(days=14),
            "InvoiceRows": [
                {
                    "GUID": bulk_guid("InvoiceRow", serial),
                    "rowNumber": 1,
                    "articleIdentifier": "CONSULT",
                    "articleName": "Consulting",
                    "deliveredQuantity": Decimal(1),
                    "quantityUnitCode": "h",
                    "unitPriceAmount": Decimal("120.00"),
                    "rowVatRatePercent": Decimal("25.5"),
                    "rowVatExcludedAmount": Decimal("120.00"),
                    "rowVatAmount": Decimal("30.60"),
                    "rowAmount": Decimal("150.60"),
                }
            ],
        }
    if entity == "HourEntry":
        return {
            "GUID": key,
            "EventDate": day,
            "Quantity": Decimal("1.5"),
            "UserGUID": links["user"],
            "CaseGUID": links["case"],
            "PhaseGUID": links["phase"],
            "WorkTypeGUID": WORK_TYPES["Development"],
            "Description": f"Bulk entry {serial}",
            "IsBillable": True,
            "IsReadOnly": False,
        }
    if entity == "Activity":
        return {
            "GUID": key,
            "Name": f"Bulk absence {serial}",
            "ActivityTypeGUID": links["vacation"],
            "OwnerUserGUID": links["user"],
            "StartDateTime": day,
            "EndDateTime": day + timedelta(days=1),
            "IsAllDay": True,
        }
    if entity == "ActivityType":
        return {"GUID": key, "Name": f"Bulk type {serial}", "Category": "Personal", "IsActive": True}
    if entity == "Product":
        return {
            "GUID": key,
            "Code": f"BULK-{serial}",
            "Name": f"Bulk product {serial}",
            "MeasurementUnit": "pcs",
            "UnitPrice": Decimal("10.00"),
            "IsActive": True,
        }
    if entity == "User":
        return {
            "GUID": key,
            "FirstName": "Bulk",
            "LastName": f"User {serial}",
            "Code": f"B{serial}",
            "IsActive": True,
            **BUSINESS_UNIT,
        }
    if entity == "InvoiceStatus":
        return {"Name": f"Bulk status {serial}", "SortOrder": 100 + serial, "IsActive": True}
    raise ValueError(f"unknown entity {entity!r}")
