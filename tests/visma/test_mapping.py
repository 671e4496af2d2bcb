"""Severa record -> Visma.net DTO mapping: keys, VAT codes, dates and the errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from severa_sync.config import ProjectSettings, TenantConfig
from severa_sync.errors import ConfigError, MappingError
from severa_sync.severa.schema import ENTITIES
from severa_sync.targets.visma import customers, mapping
from severa_sync.targets.visma.wire import wrap_values

from .conftest import Case, Customer, Invoice, InvoiceRow, record, rows

CONFIG = TenantConfig.model_validate(
    {
        "tenant": "demo",
        "invoices": {"vat_codes": {"24.0": "1", "14": "2"}, "customer_class_id": "7"},
        "projects": {
            "default_subaccount": [{"segment_id": 1, "value": "0000"}, {"segment_id": 2, "value": "A"}]
        },
    }
)


def _fields(model: Any) -> dict[str, Any]:
    return mapping.fields_of(record(model))


def test_members_read_exist_in_the_severa_contract() -> None:
    for entity, members in mapping.FIELDS_READ.items():
        known = {member.name for member in ENTITIES[entity]}
        assert set(members) <= known, f"{entity}: {sorted(set(members) - known)}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("24.00", "24"),
        (Decimal("25.50"), "25.5"),
        ("0.00", "0"),
        (100, "100"),
        (" 14 ", "14"),
        (None, None),
        ("", None),
        ("n/a", None),
    ],
)
def test_vat_rate_is_normalised(raw: object, expected: str | None) -> None:
    assert mapping.normalise_rate(raw) == expected


def test_vat_code_from_the_map_then_the_default_then_an_error() -> None:
    assert mapping.vat_code("24.00", CONFIG.invoices, "invoice 1") == "1"  # configured as "24.0"
    with pytest.raises(MappingError) as caught:
        mapping.vat_code(Decimal("10.00"), CONFIG.invoices, "invoice 1 row 2")
    assert "10%" in str(caught.value) and "invoice 1 row 2" in str(caught.value)
    assert caught.value.detail == {"field": "InvoiceRow.rowVatRatePercent", "vat_rate": "10"}
    with_default = CONFIG.invoices.model_copy(update={"default_vat_code": "9"})
    assert mapping.vat_code("10", with_default, "invoice 1") == "9"
    assert mapping.vat_code(None, with_default, "invoice 1") == "9"


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Customer(GUID="g", Name="Acme"), "Customer.Number"),
        (Customer(GUID="g", Number=1, Name="  "), "Customer.Name"),
        (Case(GUID="g", Name="P", AccountGUID="a"), "Case.CaseNumber"),
    ],
)
def test_missing_keys_name_the_field(model: Any, field: str) -> None:
    fields = _fields(model)
    with pytest.raises(MappingError) as caught:
        if isinstance(model, Customer):
            customers.create_dto(fields, CONFIG)
        else:
            mapping.project_dto(fields, "1", CONFIG, create=True)
    assert field in str(caught.value) and caught.value.detail["field"] == field


def test_project_body() -> None:
    fields = _fields(
        Case(
            GUID="g",
            CaseNumber=42,
            Name="Website",
            AccountGUID="a",
            StartDate=datetime(2026, 3, 1),
            IsClosed=True,
        )
    )
    assert mapping.project_dto(fields, "5001", CONFIG, create=True) == {
        "projectID": "42",
        "customer": "5001",
        "description": "Website",
        "startDate": "2026-03-01",
        "status": "Completed",
        # Bare segments, in the configured order (the spec's SegmentUpdateDto array).
        "defSub": [{"segmentId": 1, "segmentValue": "0000"}, {"segmentId": 2, "segmentValue": "A"}],
    }
    update = mapping.project_dto(fields, "5001", CONFIG, create=False)
    assert "defSub" not in update and "template" not in update, "Visma.net's own after creation"


def test_a_project_template_is_sent_instead_of_a_subaccount() -> None:
    config = CONFIG.model_copy(update={"projects": ProjectSettings(template="SEVERA")})
    fields = _fields(
        Case(GUID="g", CaseNumber=42, Name="Website", AccountGUID="a", StartDate=datetime(2026, 3, 1))
    )
    dto = mapping.project_dto(fields, "5001", config, create=True)
    assert dto["template"] == "SEVERA" and "defSub" not in dto


def test_a_project_without_template_or_subaccount_is_a_configuration_error_naming_both() -> None:
    config = CONFIG.model_copy(update={"projects": ProjectSettings()})
    fields = _fields(
        Case(GUID="g", CaseNumber=42, Name="Website", AccountGUID="a", StartDate=datetime(2026, 3, 1))
    )
    with pytest.raises(ConfigError, match=r"projects\.template or projects\.default_subaccount"):
        mapping.project_dto(fields, "5001", config, create=True)


def test_segment_arrays_go_bare_and_line_fields_wrapped() -> None:
    body = wrap_values(
        {
            "defSub": [{"segmentId": 1, "segmentValue": "0000"}],
            "invoiceLines": [
                {"operation": "Insert", "quantity": 2, "subaccount": [{"segmentId": 1, "segmentValue": "X"}]}
            ],
        }
    )
    assert body["defSub"] == [{"segmentId": 1, "segmentValue": "0000"}]
    assert body["invoiceLines"] == [
        {
            "operation": "Insert",
            "quantity": {"value": 2},
            "subaccount": [{"segmentId": 1, "segmentValue": "X"}],
        }
    ]


def test_invoice_dates_are_the_tenants_calendar_dates() -> None:
    # 22:30 UTC on the 19th is already the 20th in Helsinki.
    invoice = Invoice(
        GUID="g",
        Number=7,
        Date=datetime(2026, 11, 19, 22, 30, tzinfo=UTC),
        DueDate=datetime(2026, 12, 3),
        InvoiceRows=rows(1),
    )
    dto = mapping.invoice_dto(_fields(invoice), customer="1", project=None, config=CONFIG)
    assert (dto["documentDate"], dto["documentDueDate"]) == ("2026-11-20", "2026-12-03")


def test_invoice_line_falls_back_to_row_price_free_text_and_default_article() -> None:
    row = InvoiceRow(
        rowFreeText="Travel",
        unitPriceAmount=None,
        rowUnitPrice=Decimal("12.34"),
        deliveredQuantity=Decimal("3.000"),
        rowVatRatePercent=Decimal("14.00"),
    )
    dto = mapping.invoice_dto(
        _fields(Invoice(GUID="g", Number=8, Description="Nov", InvoiceRows=[row])),
        customer="1",
        project="42",
        config=CONFIG,
    )
    assert dto["invoiceLines"] == [
        {
            "operation": "Insert",
            "inventoryNumber": CONFIG.invoices.default_inventory_number,
            "description": "Travel",
            "quantity": 3,
            "unitPriceInCurrency": 12.34,
            "vatCodeId": "2",
        }
    ]
    assert (dto["invoiceText"], dto["project"], dto["externalReference"]) == ("Nov", "42", "8")


@pytest.mark.parametrize(
    ("invoice", "field"),
    [
        (Invoice(GUID="g", InvoiceRows=rows(1)), "Invoice.Number"),
        (Invoice(GUID="g", Number=1), "Invoice.InvoiceRows"),
        (Invoice(GUID="g", Number=1, IsCreditNote=True, InvoiceRows=rows(1)), "Invoice.IsCreditNote"),
        (
            Invoice(GUID="g", Number=1, InvoiceRows=[InvoiceRow(unitPriceAmount=None, rowUnitPrice=None)]),
            "InvoiceRow.unitPriceAmount",
        ),
    ],
)
def test_invoice_problems_name_the_field(invoice: Invoice, field: str) -> None:
    with pytest.raises(MappingError) as caught:
        mapping.invoice_dto(_fields(invoice), customer="1", project=None, config=CONFIG)
    assert field in str(caught.value)


def test_a_project_has_no_impossible_start_date_and_ends_when_the_case_closed() -> None:
    """WCF writes an unset StartDate as 0001-01-01: the case's creation day is used instead."""
    unset = _fields(
        Case(
            GUID="g",
            CaseNumber=43,
            Name="Support",
            AccountGUID="a",
            StartDate=datetime(1, 1, 1),
            InsertTs=datetime(2026, 2, 3, 12, 0, tzinfo=UTC),
            IsClosed=True,
            ClosedDate=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),  # 1 December in Helsinki
        )
    )
    dto = mapping.project_dto(unset, "5001", CONFIG, create=True)
    assert dto["startDate"] == "2026-02-03"
    assert dto["endDate"] == "2026-12-01"
    open_case = _fields(
        Case(GUID="g", CaseNumber=44, Name="Open", AccountGUID="a", StartDate=datetime(2026, 3, 1))
    )
    assert "endDate" not in mapping.project_dto(open_case, "5001", CONFIG, create=True)
    nothing = _fields(
        Case(GUID="g", CaseNumber=45, Name="Empty", AccountGUID="a", StartDate=datetime(1, 1, 1))
    )
    with pytest.raises(MappingError, match=r"Case\.StartDate is empty, and so is Case\.InsertTs"):
        mapping.project_dto(nothing, "5001", CONFIG, create=True)


def test_a_credit_note_is_applied_with_its_total_including_vat_and_its_lines_positive() -> None:
    note = Invoice(
        GUID="c",
        Number=10502,
        IsCreditNote=True,
        InvoiceRows=rows(1, deliveredQuantity=Decimal("-2")),
        InvoiceDetails={"invoiceTotalVatIncludedAmount": Decimal("-248.00")},
    )
    dto = mapping.credit_note_dto(
        _fields(note), customer="5001", project=None, credited="100001", config=CONFIG
    )
    assert [(line["quantity"], line["unitPriceInCurrency"]) for line in dto["lines"]] == [(2, 100)]
    assert dto["applicationLines"] == [
        {"operation": "Insert", "documentType": "Invoice", "refNbr": "100001", "amountPaid": 248}
    ]
    assert "documentDueDate" not in dto and "paymentReference" not in dto and "invoiceLines" not in dto
    without_total = note.model_copy(update={"InvoiceDetails": None})
    dto = mapping.credit_note_dto(
        _fields(without_total), customer="5001", project=None, credited="100001", config=CONFIG
    )
    assert "amountPaid" not in dto["applicationLines"][0], "left to Visma.net, never a guess"


# -- products -> items -----------------------------------------------------------------------------
def _product_fields(**values: Any) -> dict[str, Any]:
    base = {"GUID": "p-1", "Code": " LIC ", "Name": "Licence", "IsActive": True, "MeasurementUnit": "pcs"}
    return {**base, "UnitPrice": "450.50", "VAT": "24.00", **values}


def test_a_product_is_an_inventory_item_dto_wrapped_as_the_spec_says() -> None:
    config = CONFIG.model_copy(
        update={"products": CONFIG.products.model_copy(update={"item_class": "SRV", "posting_class": "P1"})}
    )
    created = mapping.item_dto(_product_fields(), config, create=True)
    assert created == {
        "inventoryNumber": "LIC",
        "description": "Licence",
        "status": "Active",
        "baseUnit": "pcs",
        "salesUnit": "pcs",
        "defaultPrice": 450.5,
        "vatCode": "1",
        "itemClass": "SRV",
        "type": "NonStockItem",
        "postingClass": "P1",
    }
    assert wrap_values(created)["defaultPrice"] == {"value": 450.5}  # every member is a W kind
    updated = mapping.item_dto(
        _product_fields(IsActive=False, UnitPrice=None, VAT=None), config, create=False
    )
    assert updated == {"description": "Licence", "status": "Inactive", "baseUnit": "pcs", "salesUnit": "pcs"}


def test_a_product_without_an_item_class_is_a_configuration_error_on_creation_only() -> None:
    assert mapping.item_dto(_product_fields(), CONFIG, create=False)["description"] == "Licence"
    with pytest.raises(ConfigError, match=r"products\.item_class"):
        mapping.item_dto(_product_fields(), CONFIG, create=True)


def test_a_product_vat_rate_without_a_code_names_the_product_member() -> None:
    with pytest.raises(MappingError) as caught:
        mapping.item_dto(_product_fields(VAT="17"), CONFIG, create=False)
    assert "Product.VAT" in caught.value.message and caught.value.detail["vat_rate"] == "17"
