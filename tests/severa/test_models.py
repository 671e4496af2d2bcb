"""The generated models are current and match the contract in ``schema.py``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from severa_sync.severa import models, schema
from severa_sync_tools import modelgen


def test_generated_models_file_is_current() -> None:
    committed = modelgen.MODELS_PATH.read_text(encoding="utf-8")
    assert committed == modelgen.render(), "run: python -m severa_sync_tools.modelgen"


@pytest.mark.parametrize("entity", list(schema.ENTITIES))
def test_every_member_is_an_optional_field_in_wire_order(entity: str) -> None:
    model = models.ENTITY_MODELS[entity]
    assert list(model.model_fields) == [m.name for m in schema.ENTITIES[entity]]
    assert all(not field.is_required() for field in model.model_fields.values())


def test_models_validate_wire_types_and_keep_unknown_members() -> None:
    invoice = models.Invoice.model_validate(
        {
            "GUID": "g",
            "Number": "10501",
            "CurrencyRate": "1.5",
            "Date": "2026-11-19T00:00:00Z",
            "InvoiceRows": [{"rowAmount": "12.30", "HourGUIDs": ["h1", None]}],
            "BrandNewMember": "x",
        }
    )
    assert invoice.Number == 10501
    assert invoice.CurrencyRate == Decimal("1.5")
    assert isinstance(invoice.Date, datetime)
    assert invoice.InvoiceRows is not None and invoice.InvoiceRows[0] is not None
    assert invoice.InvoiceRows[0].rowAmount == Decimal("12.30")
    assert invoice.model_extra == {"BrandNewMember": "x"}


def test_records_are_frozen() -> None:
    customer = models.Customer(GUID="g")
    with pytest.raises(ValueError, match="frozen"):
        customer.GUID = "other"  # type: ignore[misc]
