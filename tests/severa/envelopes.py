"""Severa answers as the WCF service writes them, built from ``schema.py`` for the canned server.

Shapes follow the reference (§2): quota headers in ``http://soap.severa.com/``, the result wrapper
declaring ``a:`` (entities) and ``i:`` (XSI), nil members as ``i:nil="true"``, fault details named
after the exception in ``…/Severa.API``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from severa_sync.severa import schema as s

ENVELOPE_OPEN = f'<s:Envelope xmlns:s="{s.NS_SOAP_ENV}">'
RESULT_NS = f'xmlns:a="{s.NS_ENTITIES}" xmlns:i="{s.NS_XSI}"'


def header(quota: int | None = 100_000, used: int | None = 1) -> str:
    parts = []
    if quota is not None:
        parts.append(f'<Quota xmlns="{s.NS_SEVERA}">{quota}</Quota>')
    if used is not None:
        parts.append(f'<UsedQuota xmlns="{s.NS_SEVERA}">{used}</UsedQuota>')
    return f"<s:Header>{''.join(parts)}</s:Header>" if parts else ""


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return escape(str(value))


def member_xml(entity: str, values: Mapping[str, Any], prefix: str = "a") -> str:
    """The members of one entity in schema order; None is nil, absent keys are omitted."""
    members = {m.name: m for m in s.ENTITIES[entity]}
    out = []
    ordered = [m.name for m in s.ENTITIES[entity] if m.name in values]
    ordered += [name for name in values if name not in members]  # unknown (newer) members last
    for name in ordered:
        value = values[name]
        tag = f"{prefix}:{name}"
        member = members.get(name)
        if value is None:
            out.append(f'<{tag} i:nil="true"/>')
        elif member is not None and member.is_array and not member.is_entity:
            items = "".join(f"<b:string>{escape(v)}</b:string>" for v in value)
            out.append(f'<{tag} xmlns:b="{s.NS_ARRAYS}">{items}</{tag}>')
        elif member is not None and member.is_array:
            items = "".join(f"<a:{member.base}>{member_xml(member.base, v)}</a:{member.base}>" for v in value)
            out.append(f"<{tag}>{items}</{tag}>")
        elif member is not None and member.is_entity:
            out.append(f"<{tag}>{member_xml(member.base, value)}</{tag}>")
        elif isinstance(value, Mapping):  # an unknown complex member
            inner = "".join(f"<a:{k}>{_scalar(v)}</a:{k}>" for k, v in value.items())
            out.append(f"<{tag}>{inner}</{tag}>")
        else:
            out.append(f"<{tag}>{_scalar(value)}</{tag}>")
    return "".join(out)


def list_chunks(
    operation: str,
    records: Iterable[Mapping[str, Any]],
    *,
    quota: int | None = 100_000,
    used: int | None = 1,
) -> Iterator[bytes]:
    """A list answer as a stream of chunks (a 100k-record answer is never held whole)."""
    op = s.operation(operation)
    entity = op.returns.removesuffix("[]")
    yield (
        f'{ENVELOPE_OPEN}{header(quota, used)}<s:Body><{op.name}Response xmlns="{s.NS_SEVERA}">'
        f"<{op.name}Result {RESULT_NS}>"
    ).encode()
    for values in records:
        yield f"<a:{entity}>{member_xml(entity, values)}</a:{entity}>".encode()
    yield f"</{op.name}Result></{op.name}Response></s:Body></s:Envelope>".encode()


def list_envelope(operation: str, records: Sequence[Mapping[str, Any]], **quota: int | None) -> bytes:
    return b"".join(list_chunks(operation, records, **quota))


def single_envelope(
    operation: str, values: Mapping[str, Any] | None, *, quota: int | None = 100_000, used: int | None = 1
) -> bytes:
    """A by-GUID answer: the entity's members directly inside ``<OpResult>`` (nil when None)."""
    op = s.operation(operation)
    if values is None:
        result = f'<{op.name}Result xmlns:i="{s.NS_XSI}" i:nil="true"/>'
    else:
        result = f"<{op.name}Result {RESULT_NS}>{member_xml(op.returns, values)}</{op.name}Result>"
    return (
        f'{ENVELOPE_OPEN}{header(quota, used)}<s:Body><{op.name}Response xmlns="{s.NS_SEVERA}">'
        f"{result}</{op.name}Response></s:Body></s:Envelope>"
    ).encode()


def scalar_envelope(
    operation: str, text: str | None, *, quota: int | None = 100_000, used: int | None = 1
) -> bytes:
    op = s.operation(operation)
    if op.returns == "void":
        inner = ""
    elif text is None:
        inner = f'<{op.name}Result xmlns:i="{s.NS_XSI}" i:nil="true"/>'
    else:
        inner = f"<{op.name}Result>{escape(text)}</{op.name}Result>"
    body = (
        f'<{op.name}Response xmlns="{s.NS_SEVERA}">{inner}</{op.name}Response>'
        if inner
        else f'<{op.name}Response xmlns="{s.NS_SEVERA}"/>'
    )
    return f"{ENVELOPE_OPEN}{header(quota, used)}<s:Body>{body}</s:Body></s:Envelope>".encode()


def fault_envelope(
    detail_type: str | None,
    description: str | None = "Something failed",
    *,
    faultstring: str = "Something failed",
    quota: int | None = 100_000,
    used: int | None = 1,
    exception_detail_type: str | None = None,
) -> bytes:
    """A SOAP 1.1 fault as in the reference's quota sample; ``exception_detail_type`` gives WCF's
    ``ExceptionDetail`` shape instead."""
    if exception_detail_type is not None:
        detail = (
            f'<detail><ExceptionDetail xmlns="http://schemas.datacontract.org/2004/07/System.ServiceModel" '
            f'xmlns:i="{s.NS_XSI}"><HelpLink i:nil="true"/><InnerException i:nil="true"/>'
            f"<Message>{escape(description or '')}</Message><StackTrace>at Severa.API</StackTrace>"
            f"<Type>{exception_detail_type}</Type></ExceptionDetail></detail>"
        )
    elif detail_type is None:
        detail = ""
    else:
        desc = (
            '<Description i:nil="true"/>'
            if description is None
            else f"<Description>{escape(description)}</Description>"
        )
        detail = (
            f'<detail><{detail_type} xmlns="{s.NS_API}" xmlns:i="{s.NS_XSI}">{desc}'
            f'<Source i:nil="true"/></{detail_type}></detail>'
        )
    return (
        f"{ENVELOPE_OPEN}{header(quota, used)}<s:Body><s:Fault><faultcode>s:Client</faultcode>"
        f'<faultstring xml:lang="en-US">{escape(faultstring)}</faultstring>{detail}</s:Fault>'
        f"</s:Body></s:Envelope>"
    ).encode()


# --- sample records ------------------------------------------------------------------------------
BASE_TIME = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)


def guid(n: int, kind: int = 0) -> str:
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


def customer(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "AccountGroupGUIDs": [guid(n, 7)],
        "AccountOwnerUserGUID": guid(n % 17, 2),
        "AccountRating": None,
        "AnnualRevenue": None,
        "CompanyGUID": guid(n, 3),
        "CurrencyCode": "EUR",
        "CurrencyGUID": guid(1, 4),
        "Email": f"billing{n}@example.com",
        "Employees": 12,
        "GUID": guid(n, 1),
        "HeadOfficeAddressGUID": guid(n, 5),
        "IndustryGUID": None,
        "InsertTS": (BASE_TIME - timedelta(days=30)).replace(tzinfo=None),
        "InvoicingVat": Decimal("25.5"),
        "IsActive": True,
        "IsInternal": False,
        "LanguageCode": "fi-FI",
        "LanguageGUID": guid(1, 6),
        "Name": f"Customer {n} Oy",
        "Notes": "",
        "Number": 10_000 + n,
        "OverdueInterest": Decimal("8.00"),
        "PaymentTerm": 14,
        "PricelistGUID": guid(1, 8),
        "ReverseCharge": False,
        "TimezoneGUID": guid(1, 9),
        "UpdatedTS": (BASE_TIME + timedelta(seconds=n)).replace(tzinfo=None),
        "VatNumber": f"FI{n:08d}",
        "Website": None,
        "eInvoiceAddress": "003712345678",
        "eInvoiceOperator": "BAWCFI22",
    }
    values.update(overrides)
    return values


def case(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "AccountGUID": guid(n % 50, 1),
        "AccountName": f"Customer {n % 50} Oy",
        "AccountNumber": 10_000 + n % 50,
        "BusinessUnitGUID": guid(1, 10),
        "CaseNumber": 500 + n,
        "CurrencyShortform": "EUR",
        "GUID": guid(n, 11),
        "InsertTs": "2026-10-01T08:00:00",
        "IsClosed": False,
        "IsInternal": False,
        "Name": f"Project {n}",
        "Priority": 1,
        "StartDate": "2026-10-01T00:00:00",
        "UpdatedTs": None,
    }
    values.update(overrides)
    return values


def invoice(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "AccountGUID": guid(n % 50, 1),
        "AccountName": f"Customer {n % 50} Oy",
        "CurrencyRate": Decimal("1"),
        "Date": "2026-11-19T00:00:00",
        "DueDate": "2026-12-03T00:00:00",
        "GUID": guid(n, 12),
        "InvoiceAllowedCaseGUIDs": [guid(n, 11)],
        "InvoiceConfig": {"BillHour": "Summary", "IsTaxFree": False, "ShowVAT": True},
        "InvoiceRows": [
            {
                "GUID": guid(n * 10 + k, 13),
                "articleName": f"Work {k}",
                "rowAmount": Decimal("120.50"),
                "rowNumber": k,
                "rowVatRatePercent": Decimal("25.5"),
                "HourGUIDs": [guid(k, 14), guid(k + 1, 14)],
            }
            for k in (1, 2)
        ],
        "InvoiceStatus": "Ready for transfer",
        "IsCreditNote": False,
        "Number": 10_500 + n,
        "PaymentTerm": 14,
        "NotesAfterInvoiceRows": None,
    }
    values.update(overrides)
    return values


def product(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Code": f"P-{n}",
        "GUID": guid(n, 18),
        "IsActive": True,
        "MeasurementUnit": "pcs",
        "Name": f"Product {n}",
        "UnitPrice": Decimal("45.50"),
        "VAT": Decimal("25.5"),
        "ProductCategoryGUID": guid(1, 19),
    }
    values.update(overrides)
    return values


def hour_entry(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "CaseGUID": guid(n % 7, 11),
        "EventDate": "2026-11-18T00:00:00",
        "GUID": guid(n, 15),
        "IsBillable": True,
        "Quantity": Decimal("7.5"),
        "UnitPrice": Decimal("95"),
        "UserGUID": guid(n % 5, 2),
    }
    values.update(overrides)
    return values


def activity(n: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ActivityTypeGUID": guid(1, 16),
        "EndDateTime": "2026-11-25T16:00:00Z",
        "GUID": guid(n, 17),
        "IsAllDay": True,
        "IsClosed": False,
        "IsDuration": False,
        "IsPrivate": False,
        "Name": "Vacation",
        "OwnerUserGUID": guid(n % 5, 2),
        "StartDateTime": "2026-11-24T08:00:00Z",
    }
    values.update(overrides)
    return values
