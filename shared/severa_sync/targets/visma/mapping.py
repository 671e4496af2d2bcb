"""Severa records -> Visma.net request DTOs (plain dicts; ``client.wrap_values`` adds the wrapping).

Keys that link the two systems (from Visma's published Visma.net API documentation):

- customer: the Severa account ``Number`` is sent as the Visma.net customer number, so a look-up
  after an unknown outcome is exact (``GET /v1/customer/{number}``). Companies that let Visma.net
  number customers automatically need another look-up key (e.g. ``corporateId`` or a customer
  attribute holding the Severa GUID); that is not supported here.
- project: Severa owns project numbering, ``projectID`` = ``CaseNumber``.
- invoice: ``externalReference`` = the Severa invoice ``Number``, filterable on
  ``GET /v1/customerinvoice``; Visma.net numbers the invoice itself (``referenceNumber``).
- item: ``inventoryNumber`` = the Severa product ``Code`` (``GET /v1/inventory/{inventoryNumber}``);
  an invoice row is sent with the item of its product's code (the target resolves it).

Records arrive as pydantic models; they are read through ``model_dump(mode="json", by_alias=True)``,
i.e. by Severa's member names (``severa.schema.ENTITIES``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from severa_sync.config import InvoiceSettings, ProductSettings, TenantConfig
from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import ConfigError, MappingError
from severa_sync.targets.visma import customers

#: Severa members this module reads, per entity (a test checks them against ``severa.schema``).
FIELDS_READ: dict[str, tuple[str, ...]] = {
    **customers.FIELDS_READ,  # Customer and Address (targets/visma/customers.py)
    "Case": ("GUID", "CaseNumber", "Name", "AccountGUID", "StartDate", "InsertTs", "IsClosed", "ClosedDate"),
    "Invoice": (
        "GUID",
        "Number",
        "AccountGUID",
        "MainCaseGUID",
        "Date",
        "DueDate",
        "Title",
        "Description",
        "CurrencyShortform",
        "ReferenceNumber",
        "IsCreditNote",
        "ReimburseInvoiceGUID",
        "InvoiceDetails",
        "InvoiceRows",
    ),
    "InvoiceRow": (
        "ProductGUIDs",
        "articleIdentifier",
        "articleName",
        "rowFreeText",
        "deliveredQuantity",
        "unitPriceAmount",
        "rowUnitPrice",
        "rowVatRatePercent",
    ),
    "Product": ("GUID", "Code", "Name", "IsActive", "MeasurementUnit", "UnitPrice", "VAT"),
}

# Visma.net status values (INFERRED from the screens' names; confirm on the first live call).
PROJECT_ACTIVE, PROJECT_COMPLETED = "Active", "Completed"
# InventoryUpdateDto status values (the spec's enum, visma-net-dtos.md 6.2).
ITEM_ACTIVE, ITEM_INACTIVE = "Active", "Inactive"


def fields_of(record: SourceRecord) -> dict[str, Any]:
    """The record's members by their Severa names, JSON-typed."""
    return record.payload.model_dump(mode="json", by_alias=True)


#: Dates before this year are unset values (WCF's DateTime.MinValue), never real ones.
EARLIEST_PLAUSIBLE_YEAR = 1900


def _fail(record_name: str, member: str, problem: str) -> MappingError:
    return MappingError(f"{record_name}: {member} {problem}", detail={"field": member})


def _text(
    fields: dict[str, Any], entity: str, member: str, record_name: str, *, required: bool
) -> str | None:
    value = fields.get(member)
    text = str(value).strip() if value is not None else ""
    if not text and required:
        raise _fail(record_name, f"{entity}.{member}", "is empty")
    return text or None


def _integer_key(fields: dict[str, Any], entity: str, member: str, record_name: str, why: str) -> str:
    value = fields.get(member)
    if value is None or str(value).strip() == "":
        raise _fail(record_name, f"{entity}.{member}", f"is empty; {why}")
    try:
        return str(int(str(value)))
    except ValueError:
        raise _fail(record_name, f"{entity}.{member}", f"is not a number ({value!r})") from None


def _calendar_date(value: Any, zone: ZoneInfo, record_name: str, member: str) -> str:
    """Severa dates as the tenant's calendar date; an aware instant is read in the tenant's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _fail(record_name, member, f"is not a date ({value!r})") from None
    else:
        raise _fail(record_name, member, "is empty")
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return moment.date().isoformat()


def _decimal(value: Any, record_name: str, member: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        raise _fail(record_name, member, f"is not a number ({value!r})")
    return number


def _wire_number(value: Decimal) -> int | float:
    """JSON number with the decimal's digits (float repr is the shortest round-trip text)."""
    return int(value) if value == value.to_integral_value() else float(value)


def normalise_rate(value: Any) -> str | None:
    """``"24.00"`` -> ``"24"``, ``25.50`` -> ``"25.5"``; None for an empty or unreadable rate."""
    if value is None or str(value).strip() == "":
        return None
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return f"{rate.normalize():f}"


def vat_code(rate: Any, settings: InvoiceSettings, record_name: str) -> str:
    """Visma.net VAT code for a Severa VAT percent: configured map, else the default, else an error."""
    normal = normalise_rate(rate)
    codes = {normalise_rate(key): code for key, code in settings.vat_codes.items()}
    if normal is not None and normal in codes:
        return codes[normal]
    if settings.default_vat_code:
        return settings.default_vat_code
    shown = normal if normal is not None else "(empty)"
    raise MappingError(
        f"{record_name}: VAT rate {shown}% (InvoiceRow.rowVatRatePercent) has no Visma.net VAT "
        "code: add it to invoices.vat_codes or set invoices.default_vat_code",
        detail={"field": "InvoiceRow.rowVatRatePercent", "vat_rate": shown},
    )


# -- accounts -> customers: targets/visma/customers.py ------------------------------------------


# -- cases -> projects ----------------------------------------------------------------------------
def project_id(fields: dict[str, Any]) -> str:
    name = f"case {fields.get('Name') or fields.get('GUID')}"
    return _integer_key(fields, "Case", "CaseNumber", name, "Severa owns the Visma.net project id")


def project_dto(
    fields: dict[str, Any], customer: str, config: TenantConfig, *, create: bool
) -> dict[str, Any]:
    pid = project_id(fields)
    name = f"case {pid}"
    dto: dict[str, Any] = {
        "customer": customer,
        "description": _text(fields, "Case", "Name", name, required=True),
        "startDate": _project_start(fields, config.zone, name),
        "status": PROJECT_COMPLETED if fields.get("IsClosed") else PROJECT_ACTIVE,
    }
    if fields.get("IsClosed") and _plausible(fields.get("ClosedDate")):
        dto["endDate"] = _calendar_date(fields["ClosedDate"], config.zone, name, "Case.ClosedDate")
    if not create:
        return dto  # template and subaccount are Visma.net's after creation (accountants may change them)
    return {"projectID": pid, **dto, **project_origin(config)}


def _plausible(value: Any) -> bool:
    """A date that was set: WCF writes an unset non-nullable DateTime as 0001-01-01 (MinValue)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return bool(value.strip())  # not a date: _calendar_date names the problem
    return isinstance(value, date) and value.year >= EARLIEST_PLAUSIBLE_YEAR


def _project_start(fields: dict[str, Any], zone: ZoneInfo, name: str) -> str:
    """``Case.StartDate``; where Severa has none (empty, or WCF's 0001-01-01) the day the case was
    created (``Case.InsertTs``): Visma.net requires a start date, and never an impossible one."""
    if _plausible(fields.get("StartDate")):
        return _calendar_date(fields["StartDate"], zone, name, "Case.StartDate")
    if _plausible(fields.get("InsertTs")):
        return _calendar_date(fields["InsertTs"], zone, name, "Case.InsertTs")
    raise _fail(name, "Case.StartDate", "is empty, and so is Case.InsertTs")


def project_origin(config: TenantConfig) -> dict[str, Any]:
    """What a new project is made from: its template, else its default subaccount (``defSub``, a bare
    array of bare segments). Neither is a configuration error: Visma.net requires one of them."""
    settings = config.projects
    if settings.template:
        return {"template": settings.template}
    if settings.default_subaccount:
        return {
            "defSub": [
                {"segmentId": s.segment_id, "segmentValue": s.value} for s in settings.default_subaccount
            ]
        }
    raise ConfigError(
        "projects.template or projects.default_subaccount must be set to create Visma.net projects "
        "(Visma.net requires a project template or the project's default subaccount, defSub); set one "
        "with severa-sync config push (docs/configuration.md, [projects])",
        detail={"field": "projects"},
    )


# -- invoices -------------------------------------------------------------------------------------
def external_reference(fields: dict[str, Any]) -> str:
    return _integer_key(
        fields,
        "Invoice",
        "Number",
        f"invoice {fields.get('GUID')}",
        "it is the externalReference that finds the invoice in Visma.net",
    )


def invoice_dto(
    fields: dict[str, Any], *, customer: str, project: str | None, config: TenantConfig
) -> dict[str, Any]:
    reference = external_reference(fields)
    name = f"invoice {reference}"
    if fields.get("IsCreditNote"):  # the target sends these with credit_note_dto
        raise _fail(name, "Invoice.IsCreditNote", "is set: a credit note is not an invoice")
    rows = fields.get("InvoiceRows") or []
    if not rows:
        raise _fail(name, "Invoice.InvoiceRows", "is empty")
    settings = config.invoices
    lines = [_invoice_line(row, index, name, settings) for index, row in enumerate(rows, start=1)]
    return {
        "customerNumber": customer,
        "documentDate": _calendar_date(fields.get("Date"), config.zone, name, "Invoice.Date"),
        "documentDueDate": _calendar_date(fields.get("DueDate"), config.zone, name, "Invoice.DueDate"),
        "externalReference": reference,
        "project": project,
        "invoiceText": _text(fields, "Invoice", "Title", name, required=False)
        or _text(fields, "Invoice", "Description", name, required=False)
        or f"Severa invoice {reference}",
        "currencyId": _text(fields, "Invoice", "CurrencyShortform", name, required=False),
        # The Finnish payment reference Severa printed on the invoice: the payer quotes it.
        "paymentReference": _text(fields, "Invoice", "ReferenceNumber", name, required=False),
        # The customer's own reference ("your reference" on the printed invoice).
        "customerRefNumber": _text(fields, "Invoice", "YourReference", name, required=False),
        "creditTermsId": invoice_credit_terms(fields.get("PaymentTerm"), config, name),
        "invoiceLines": lines,
    }


def invoice_credit_terms(term: Any, config: TenantConfig, name: str) -> str | None:
    """Severa's payment term in days (``Invoice.PaymentTerm``) as Visma.net credit terms, through
    the customers' map (``customers.credit_terms``); 0 or none: not sent (the customer's apply)."""
    if term in (None, "", 0, "0"):
        return None
    days = str(term).strip()
    terms = config.customers.credit_terms
    if days not in terms:
        raise _fail(
            name,
            "Invoice.PaymentTerm",
            f"{days} days has no Visma.net credit terms: add it to customers.credit_terms",
        )
    return terms[days]


def credit_note_dto(
    fields: dict[str, Any], *, customer: str, project: str | None, credited: str | None, config: TenantConfig
) -> dict[str, Any]:
    """A Severa credit note (``Invoice.IsCreditNote``) as Visma.net's CustomerCreditNoteUpdateDto:
    ``lines`` (not ``invoiceLines``) with positive amounts (the document type carries the sign),
    no due date or payment reference (the DTO has none), and, when the credited invoice is known
    (``credited``: its Visma.net reference number), one application line that links the two."""
    reference = external_reference(fields)
    name = f"credit note {reference}"
    rows = fields.get("InvoiceRows") or []
    if not rows:
        raise _fail(name, "Invoice.InvoiceRows", "is empty")
    settings = config.invoices
    lines = [
        _credited_line(_invoice_line(row, index, name, settings)) for index, row in enumerate(rows, start=1)
    ]
    dto: dict[str, Any] = {
        "customerNumber": customer,
        "documentDate": _calendar_date(fields.get("Date"), config.zone, name, "Invoice.Date"),
        "externalReference": reference,
        "project": project,
        "invoiceText": _text(fields, "Invoice", "Title", name, required=False)
        or _text(fields, "Invoice", "Description", name, required=False)
        or f"Severa credit note {reference}",
        "currencyId": _text(fields, "Invoice", "CurrencyShortform", name, required=False),
        "customerRefNumber": _text(fields, "Invoice", "YourReference", name, required=False),
        "lines": lines,
    }
    if credited:
        # The amount applied is the credit note's total with VAT (the invoice's balance carries VAT;
        # Visma.net computes the lines' VAT, so their sum would under-apply). Without Severa's total
        # the amount is left out.
        application: dict[str, Any] = {"operation": "Insert", "documentType": "Invoice", "refNbr": credited}
        total = (fields.get("InvoiceDetails") or {}).get("invoiceTotalVatIncludedAmount")
        if total is not None:
            member = "InvoiceDetails.invoiceTotalVatIncludedAmount"
            application["amountPaid"] = _wire_number(abs(_decimal(total, name, member)))
        dto["applicationLines"] = [application]
    return dto


def _credited_line(line: dict[str, Any]) -> dict[str, Any]:
    """Severa writes a credit note's rows with negative values (usually the quantity); Visma.net's
    credit-note lines are positive (the document type carries the sign). The quantity becomes
    positive and the price carries the row's sign against the credit: -2 x 100 and 2 x -100 both
    become 2 x 100, while a charge inside a credit note (2 x 100) becomes 2 x -100."""
    quantity, price = Decimal(str(line["quantity"])), Decimal(str(line["unitPriceInCurrency"]))
    credited_price = price if quantity < 0 else -price
    return {
        **line,
        "quantity": _wire_number(abs(quantity)),
        "unitPriceInCurrency": _wire_number(credited_price),
    }


def _invoice_line(
    row: dict[str, Any], index: int, invoice_name: str, settings: InvoiceSettings
) -> dict[str, Any]:
    name = f"{invoice_name} row {index}"
    quantity = row.get("deliveredQuantity")
    price = row.get("unitPriceAmount") if row.get("unitPriceAmount") is not None else row.get("rowUnitPrice")
    if quantity is None:
        raise _fail(name, "InvoiceRow.deliveredQuantity", "is empty")
    if price is None:
        raise _fail(name, "InvoiceRow.unitPriceAmount", "is empty")
    article = str(row.get("articleIdentifier") or "").strip()
    description = str(row.get("articleName") or row.get("rowFreeText") or "").strip()
    line: dict[str, Any] = {
        "operation": "Insert",
        "inventoryNumber": article or settings.default_inventory_number,
        "description": description or None,
        "quantity": _wire_number(_decimal(quantity, name, "InvoiceRow.deliveredQuantity")),
        "unitPriceInCurrency": _wire_number(_decimal(price, name, "InvoiceRow.unitPriceAmount")),
        "vatCodeId": vat_code(row.get("rowVatRatePercent"), settings, name),
    }
    account = str(row.get("rowSalesAccountNumber") or "").strip()
    if account and settings.sales_accounts:
        if account not in settings.sales_accounts:
            raise _fail(
                name,
                "InvoiceRow.rowSalesAccountNumber",
                f"{account} has no Visma.net sales account: add it to invoices.sales_accounts",
            )
        line["accountNumber"] = settings.sales_accounts[account]
    if settings.line_subaccount:
        line["subaccount"] = [
            {"segmentId": s.segment_id, "segmentValue": s.value} for s in settings.line_subaccount
        ]
    unit = str(row.get("quantityUnitCode") or "").strip()
    if unit in settings.units:
        line["uom"] = settings.units[unit]
    return line


# -- products -> items ----------------------------------------------------------------------------
def item_number(fields: dict[str, Any]) -> str:
    """The Visma.net inventory number: the Severa product ``Code`` (an invoice row's
    ``articleIdentifier`` for a product row is the same code)."""
    name = f"product {fields.get('Name') or fields.get('GUID')}"
    return _text(fields, "Product", "Code", name, required=True) or ""


def item_dto(fields: dict[str, Any], config: TenantConfig, *, create: bool) -> dict[str, Any]:
    """A Severa product as InventoryUpdateDto. On creation the item's class, type and posting
    defaults come from ``[products]``; an update sends only what Severa owns (name, unit, price,
    VAT, status), and never ``inventoryNumber`` (the spec: "not applicable for PUT")."""
    number = item_number(fields)
    name = f"product {number}"
    settings = config.products
    unit = _text(fields, "Product", "MeasurementUnit", name, required=False) or settings.default_unit
    if unit is None:
        raise _fail(name, "Product.MeasurementUnit", "is empty and products.default_unit is not set")
    dto: dict[str, Any] = {
        "description": _text(fields, "Product", "Name", name, required=True),
        "status": ITEM_ACTIVE if fields.get("IsActive", True) is not False else ITEM_INACTIVE,
        "baseUnit": unit,
        "salesUnit": unit,
    }
    if fields.get("UnitPrice") is not None:
        dto["defaultPrice"] = _wire_number(_decimal(fields["UnitPrice"], name, "Product.UnitPrice"))
    if fields.get("VAT") is not None:
        dto["vatCode"] = _item_vat_code(fields["VAT"], config.invoices, name)
    if not create:
        return dto  # class, type and posting defaults are Visma.net's after creation
    return {"inventoryNumber": number, **dto, **item_origin(settings)}


def _item_vat_code(rate: Any, settings: InvoiceSettings, record_name: str) -> str:
    try:
        return vat_code(rate, settings, record_name)
    except MappingError:
        shown = normalise_rate(rate) or "(empty)"
        raise MappingError(
            f"{record_name}: VAT rate {shown}% (Product.VAT) has no Visma.net VAT code: add it to "
            "invoices.vat_codes or set invoices.default_vat_code",
            detail={"field": "Product.VAT", "vat_rate": shown},
        ) from None


def item_origin(settings: ProductSettings) -> dict[str, Any]:
    """What a new item is made from: its class (mandatory), its non-stock type, and the posting
    defaults configured."""
    if not settings.item_class:
        raise ConfigError(
            "products.item_class must be set to create Visma.net items (Visma.net: the item class is "
            "mandatory and provides the item's defaults); set it with severa-sync config push "
            "(docs/configuration.md, [products])",
            detail={"field": "products.item_class"},
        )
    origin: dict[str, Any] = {"itemClass": settings.item_class, "type": settings.item_type}
    if settings.posting_class:
        origin["postingClass"] = settings.posting_class
    if settings.sales_account:
        origin["salesAccount"] = settings.sales_account
    return origin


def row_article(row: dict[str, Any]) -> tuple[str, str]:
    """An invoice row's article code and name as Severa printed them (either may be empty)."""
    code = str(row.get("articleIdentifier") or "").strip()
    name = str(row.get("articleName") or row.get("rowFreeText") or "").strip()
    return code, name
