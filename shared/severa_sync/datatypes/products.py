"""Severa products -> Visma.net non-stock items, keyed by the product code, before invoices.

An invoice row names the products it bills (``InvoiceRow.ProductGUIDs``) and is sent with the item
of the same code (``inventoryNumber``); an item missing in Visma.net is synced on demand, and a row
whose item cannot be had parks its invoice (targets/visma/target.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from severa_sync.datatypes import options
from severa_sync.datatypes.display import text
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    SeveraCall,
    VismaDocument,
    VismaExport,
    WindowKind,
)


def display_product(record: Any, names: Mapping[str, str]) -> str | None:
    """ "LICENSE Software licence": the code people type and the product's name."""
    code, name = text(getattr(record, "Code", None)), text(getattr(record, "Name", None))
    return f"{code} {name}" if code and name else code or name


PRODUCTS = DataType(
    name="products",
    noun="Product",
    entity="Product",
    read=SeveraCall(
        "IProduct/GetProductsChangedSince",
        (("startDateTime", Bind.WINDOW_START), ("options", options.INCLUDE_INACTIVE)),
    ),
    window_kind=WindowKind.SINCE,
    by_key=SeveraCall("IProduct/GetProductByGUID", (("productGUID", Bind.KEY),)),
    export=VismaExport(VismaDocument.ITEM),
    # Daily, before the invoices' 04:30 (products change rarely; a new one an invoice needs earlier
    # is synced on demand).
    default_schedule="cron(0 4 * * ? *)",
    default_window=timedelta(days=7),
    default_overlap=timedelta(minutes=2),
    display_key=display_product,
    # Product carries no change time: the watermark follows the run's signpost.
)
