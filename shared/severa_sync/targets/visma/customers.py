"""A Severa account and its addresses -> Visma.net CustomerUpdateDto (reference visma-net-dtos.md §1.2,
§1.3; ``wire.wrap_values`` adds the wrapping: nested DTOs as ``{"value": {...}}``, their members wrapped).

Which fields severa-sync owns (docs/configuration.md, "Customers: what severa-sync owns"):

- ``OWNED``: Severa is their source. Sent on create, and on an update when their value in Severa
  changed since it was last sent: each one's digest is kept in the customer's mapping
  (``SENT_DIGESTS``), so a PUT carries only what changed and an edit an accountant made in
  Visma.net to one of them stays until it changes in Severa.
- ``CREATE_ONLY``: the number, and the customer class the new customer is made from.
- Every other member (accounts, credit limit, price class, delivery settings, printing and
  e-mailing flags...) is never sent: the accountants'.

An empty Severa value is left out (Visma.net keeps what it has), except inside an address, which is
sent whole (an empty line as ``""``) so a line removed in Severa does not linger in Visma.net.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from severa_sync.config import TenantConfig
from severa_sync.errors import MappingError

#: Severa members read here, per entity (a test checks them against ``severa.schema``).
FIELDS_READ: dict[str, tuple[str, ...]] = {
    "Customer": (
        "GUID",
        "Name",
        "Number",
        "VatNumber",
        "IsActive",
        "Email",
        "Website",
        "CurrencyCode",
        "PaymentTerm",
        "ReverseCharge",
        "HeadOfficeAddressGUID",
        "eInvoiceAddress",
        "eInvoiceOperator",
    ),
    "Address": (
        "GUID",
        "Addressline",
        "Addressline2",
        "Addressline3",
        "PostalCode",
        "City",
        "CountryCode",
        "Phone",
        "Fax",
        "IsBillingAddress",
        "IsPostalAddress",
        "IsVisitAddress",
    ),
}
#: The payload member the account's addresses arrive in (``datatypes.accounts.ADDRESSES``).
ADDRESSES = "Addresses"

OWNED = (
    "name",
    "status",
    "vatRegistrationId",
    "corporateId",
    "currencyId",
    "creditTermsId",
    "vatZoneId",
    "mainAddress",
    "mainContact",
    "invoiceAddress",
    "invoiceContact",
    "eInvoiceContract",
)
CREATE_ONLY = ("number", "customerClassId", "overrideWithClassValues")
#: ``Mapping.extra`` key: the digest of each owned field's value last sent (compact JSON).
SENT_DIGESTS = "sent_fields"
DIGEST_CHARS = 8

# Visma.net status values (INFERRED from the screens' names; confirm on the first live call).
CUSTOMER_ACTIVE, CUSTOMER_INACTIVE = "Active", "Inactive"
#: A Finnish VAT number is the business ID (Y-tunnus, NNNNNNN-C) with FI before it and no hyphen.
FINNISH_VAT_NUMBER = re.compile(r"^FI(\d{7})(\d)$")


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _fail(record_name: str, member: str, problem: str, **detail: str) -> MappingError:
    return MappingError(f"{record_name}: {member} {problem}", detail={"field": member, **detail})


def customer_number(fields: dict[str, Any]) -> str:
    """The Visma.net customer number: the Severa account ``Number``."""
    value = fields.get("Number")
    name = f"account {fields.get('Name') or fields.get('GUID')}"
    if value is None or str(value).strip() == "":
        raise _fail(name, "Customer.Number", "is empty; the Visma.net customer number comes from it")
    try:
        return str(int(str(value)))
    except ValueError:
        raise _fail(name, "Customer.Number", f"is not a number ({value!r})") from None


def owned_fields(fields: dict[str, Any], config: TenantConfig) -> dict[str, Any]:
    """Every owned field with its value from Severa (None: empty in Severa, not sent)."""
    name = f"account {customer_number(fields)}"
    customer_name = _text(fields.get("Name"))
    if customer_name is None:
        raise _fail(name, "Customer.Name", "is empty")
    vat_number = _text(fields.get("VatNumber"))
    main, billing = _main_and_billing(fields)
    return {
        "name": customer_name,
        "status": CUSTOMER_INACTIVE if fields.get("IsActive") is False else CUSTOMER_ACTIVE,
        "vatRegistrationId": vat_number,
        "corporateId": corporate_id(vat_number),
        "currencyId": (_text(fields.get("CurrencyCode")) or "").upper() or None,
        "creditTermsId": credit_terms(fields, config, name),
        "vatZoneId": vat_zone(fields, config),
        "mainAddress": _address(main),
        "mainContact": _with_values(
            name=customer_name,
            email=fields.get("Email"),
            web=fields.get("Website"),
            phone1=(main or {}).get("Phone"),
            fax=(main or {}).get("Fax"),
        ),
        "invoiceAddress": _address(billing),
        "invoiceContact": _with_values(
            name=customer_name, email=fields.get("Email"), phone1=(billing or {}).get("Phone")
        ),
        "eInvoiceContract": _with_values(
            fInvoiceContractID=fields.get("eInvoiceAddress"),
            fInvoiceIntermediatorID=fields.get("eInvoiceOperator"),
        ),
    }


def create_dto(fields: dict[str, Any], config: TenantConfig) -> dict[str, Any]:
    """POST body: the number, every owned field that has a value, and the class it is made from
    (the class supplies what severa-sync does not send: accounts, and terms or zone left unset)."""
    return {
        "number": customer_number(fields),
        **_present(owned_fields(fields, config)),
        "customerClassId": config.invoices.customer_class_id,
        "overrideWithClassValues": True,
    }


def update_dto(
    fields: dict[str, Any], config: TenantConfig, sent: dict[str, str] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """PUT body and the mapping's new ``extra``: the owned fields whose value changed since it was
    last sent (``sent``: the mapping's extra; every owned field when it holds no digests, e.g. a
    customer adopted or mapped before digests were kept). An empty body means nothing to send."""
    owned = owned_fields(fields, config)
    digests = field_digests(owned)
    before = _stored_digests(sent)
    changed = {key: value for key, value in owned.items() if before.get(key) != digests[key]}
    return _present(changed), sent_extra(digests)


def field_digests(owned: dict[str, Any]) -> dict[str, str]:
    return {
        key: hashlib.blake2b(
            json.dumps(value, sort_keys=True).encode(), digest_size=DIGEST_CHARS // 2
        ).hexdigest()
        for key, value in owned.items()
    }


def sent_extra(digests: dict[str, str]) -> dict[str, str]:
    return {SENT_DIGESTS: json.dumps(digests, separators=(",", ":"), sort_keys=True)}


def _stored_digests(extra: dict[str, str] | None) -> dict[str, str]:
    raw = (extra or {}).get(SENT_DIGESTS)
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except ValueError:
        return {}  # unreadable: send every owned field again, which is always safe
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _present(dto: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in dto.items() if value is not None}


# -- the parts ------------------------------------------------------------------------------------
def corporate_id(vat_number: str | None) -> str | None:
    """The Finnish business ID a Finnish VAT number is made of (FI12345678 -> 1234567-8); None for
    any other country's: Severa keeps no corporate id of its own (Customer has only VatNumber)."""
    match = FINNISH_VAT_NUMBER.match((vat_number or "").replace(" ", "").upper())
    return f"{match.group(1)}-{match.group(2)}" if match else None


def credit_terms(fields: dict[str, Any], config: TenantConfig, record_name: str) -> str | None:
    """``Customer.PaymentTerm`` (days) -> Visma.net ``creditTermsId`` by ``customers.credit_terms``;
    None when Severa has no term (the class's terms apply); a term with no mapping is an error."""
    term = fields.get("PaymentTerm")
    if term is None or str(term).strip() == "":
        return None
    key = str(term).strip()
    mapped = config.customers.credit_terms.get(key)
    if mapped is None:
        raise MappingError(
            f"{record_name}: Severa payment term {key} days (Customer.PaymentTerm) has no Visma.net "
            "credit terms: add it to customers.credit_terms",
            detail={"field": "Customer.PaymentTerm", "payment_term": key},
        )
    return mapped


def vat_zone(fields: dict[str, Any], config: TenantConfig) -> str | None:
    """``Customer.ReverseCharge`` -> the configured VAT zone (None: unset, the class's applies)."""
    reverse_charge = fields.get("ReverseCharge")
    if reverse_charge is None:
        return None
    settings = config.customers
    return settings.reverse_charge_vat_zone if reverse_charge else settings.domestic_vat_zone


def _main_and_billing(fields: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The head-office address (``Customer.HeadOfficeAddressGUID``, else the first postal, else the
    first visiting address) and the billing address (the first marked ``IsBillingAddress``, else
    the head office's). Addresses arrive in GUID order, so "first" is stable."""
    addresses = [a for a in fields.get(ADDRESSES) or [] if isinstance(a, dict)]
    head_office_guid = str(fields.get("HeadOfficeAddressGUID") or "").lower()
    main = (
        next((a for a in addresses if str(a.get("GUID") or "").lower() == head_office_guid), None)
        if head_office_guid
        else None
    )
    main = main or next((a for a in addresses if a.get("IsPostalAddress")), None)
    main = main or next((a for a in addresses if a.get("IsVisitAddress")), None)
    main = main or next(iter(addresses), None)
    billing = next((a for a in addresses if a.get("IsBillingAddress")), None) or main
    return main, billing


def _address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    """AddressUpdateDto; ``countryId`` is the ISO code Severa keeps (``Address.CountryCode``)."""
    if address is None:
        return None
    dto: dict[str, Any] = {
        "addressLine1": _text(address.get("Addressline")) or "",
        "addressLine2": _text(address.get("Addressline2")) or "",
        "addressLine3": _text(address.get("Addressline3")) or "",
        "postalCode": _text(address.get("PostalCode")) or "",
        "city": _text(address.get("City")) or "",
    }
    country = _text(address.get("CountryCode"))
    if country:
        dto["countryId"] = country.upper()
    return dto


def _with_values(**members: Any) -> dict[str, Any] | None:
    """A nested DTO (a contact, the e-invoice contract) of the members that have a value; None when
    none has."""
    present = {key: text for key, value in members.items() if (text := _text(value)) is not None}
    return present or None
