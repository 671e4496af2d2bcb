"""Deterministic seed data: a small consulting company as it looks in Severa.

Times are relative to ``now`` and all change times lie in the 30 days before it. Products are the
articles that are not hours (``PRODUCTS``), plus an inactive one; their invoice rows name them
(``ProductGUIDs``). Invoices
10501-10503 are "Ready for transfer"; 10502 carries a 17 % VAT row, a rate the default VAT mapping
lacks (the demo's one rejected invoice, as in Severa's guideline example).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from severa_sync_tools.simulators.severa.dataset import Store
from severa_sync_tools.simulators.severa.seed_tables import (
    ACTIVITIES,
    ACTIVITY_TYPES,
    ADDRESSES,
    ARTICLES,
    BILLING_ADDRESSES,
    BUSINESS_UNIT,
    CASES,
    CENT,
    COMPANY_NAME,
    COMPANY_VAT,
    CUSTOMERS,
    INACTIVE_PRODUCT,
    INVOICE_STATUSES,
    INVOICES,
    PRODUCTS,
    USERS,
    WORK_TYPES,
    guid,
)


def _user(index: int) -> dict[str, Any]:
    first, last, code, title = USERS[index]
    return {
        "GUID": guid("User", code),
        "FirstName": first,
        "LastName": last,
        "Code": code,
        "Title": title,
        "Email": f"{first.lower()}.{last.lower()}@severa-sim.example",
        **BUSINESS_UNIT,
        "BusinessUnitCode": "HQ",
        "Culture": "fi-FI",
        "LanguageCode": "en",
        "CountryCode": "FI",
        "IsActive": True,
        "SendDailyMail": False,
        "SendWeeklyMail": False,
        "WorktypeGUID": WORK_TYPES["Design" if code == "DD" else "Development"],
    }


def _customer(index: int) -> dict[str, Any]:
    number, name, vat, language = CUSTOMERS[index]
    slug = name.split()[0].lower()
    domestic = vat.startswith("FI")
    return {
        "GUID": guid("Customer", number),
        "CompanyGUID": guid("Company", number),
        "HeadOfficeAddressGUID": guid("Address", f"{number}:head office"),
        "Number": number,
        "Name": name,
        "VatNumber": vat,
        "IsActive": True,
        "IsInternal": False,
        "CurrencyCode": "EUR",
        "LanguageCode": language,
        "PaymentTerm": 14,
        "InvoicingVat": Decimal("25.5") if domestic else None,
        "ReverseCharge": not domestic,
        "Email": f"invoices@{slug}.example",
        "Website": f"https://{slug}.example",
        "AccountOwnerUserGUID": guid("User", "AA"),
        "AccountGroupGUIDs": [],
        "eInvoiceAddress": f"0037{vat[2:10]}" if domestic else None,
        "eInvoiceOperator": "003721291126" if domestic else None,
    }


def _addresses(number: int) -> list[dict[str, Any]]:
    """The customer's head-office address and, for some, a billing address of its own."""
    street, postcode, city, country, phone = ADDRESSES[number]
    billing = BILLING_ADDRESSES.get(number)
    head_office = {
        "GUID": guid("Address", f"{number}:head office"),
        "CompanyGUID": guid("Company", number),
        "Addressline": street,
        "PostalCode": postcode,
        "City": city,
        "CountryCode": country,
        "Phone": phone,
        "IsPostalAddress": True,
        "IsVisitAddress": True,
        "IsBillingAddress": billing is None,
    }
    if billing is None:
        return [head_office]
    street, postcode, city, country = billing
    return [
        head_office,
        {
            "GUID": guid("Address", f"{number}:billing"),
            "CompanyGUID": guid("Company", number),
            "Addressline": street,
            "PostalCode": postcode,
            "City": city,
            "CountryCode": country,
            "IsPostalAddress": False,
            "IsVisitAddress": False,
            "IsBillingAddress": True,
        },
    ]


def _case(index: int) -> dict[str, Any]:
    number, name, customer = CASES[index]
    account = CUSTOMERS[customer]
    closed = number == 2010
    return {
        "GUID": guid("Case", number),
        "CaseNumber": number,
        "Name": name,
        "AccountGUID": guid("Customer", account[0]),
        "AccountName": account[1],
        "AccountNumber": account[0],
        **BUSINESS_UNIT,
        "BusinessUnitNumber": "1",
        "CaseOwnerUserGUID": guid("User", "AA"),
        "CaseOwnerUserCode": "AA",
        "CurrencyShortform": "EUR",
        "RootTaskGUID": guid("Phase", number),
        "PricingType": "Time and materials",
        "IsClosed": closed,
        "IsInternal": False,
        "Priority": 0,
        "IncludeExceptions": False,
        "IncludeOverTime": False,
        "SharedToExtranet": False,
        "UseDefaultWorkTypes": True,
        "UseDefaultProductsInWorkTimeEntry": False,
    }


def _product(code: str, name: str, unit: str, price: Decimal, vat: str, active: bool) -> dict[str, Any]:
    return {
        "GUID": guid("Product", code),
        "Code": code,
        "Name": name,
        "MeasurementUnit": unit,
        "UnitPrice": price,
        "UnitCost": _money(price * Decimal("0.4")),
        "VAT": Decimal(vat),
        "IsActive": active,
        "Type": "Product",
        "UseInWorkTimeEntry": False,
    }


def _products() -> list[dict[str, Any]]:
    """The articles that are products, and one inactive product."""
    out = [_product(code, *ARTICLES[code], vat, True) for code, vat in PRODUCTS.items()]
    code, name, unit, price, vat = INACTIVE_PRODUCT
    return [*out, _product(code, name, unit, price, vat, False)]


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _finnish_reference(base: int) -> str:
    """A Finnish creditor reference: the base digits and a 7-3-1 weighted check digit."""
    digits = str(base)
    weights = (7, 3, 1)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(digits)))
    return f"{digits}{(10 - total % 10) % 10}"


def _invoice(spec: tuple[Any, ...], when: datetime) -> dict[str, Any]:
    number, status, case_index, rows_spec = spec
    case_number, case_name, customer_index = CASES[case_index]
    account_number, account_name, vat, _ = CUSTOMERS[customer_index]
    key = number if number is not None else f"draft-{case_number}"
    date = when.replace(hour=0, minute=0, second=0, microsecond=0)
    case_guid = guid("Case", case_number)
    rows = []
    for row_number, (article, quantity, rate) in enumerate(rows_spec, start=1):
        name, unit, price = ARTICLES[article]
        excluded = _money(Decimal(quantity) * price)
        vat_amount = _money(excluded * Decimal(rate) / 100)
        rows.append(
            {
                "GUID": guid("InvoiceRow", f"{key}:{row_number}"),
                "rowNumber": row_number,
                "EventDate": date,
                "rowDeliveryDate": date,
                "articleIdentifier": article,
                "articleName": name,
                "deliveredQuantity": Decimal(quantity),
                "quantityUnitCode": unit,
                "unitPriceAmount": price,
                "rowUnitPrice": price,
                "rowVatRatePercent": Decimal(rate),
                "rowVatExcludedAmount": excluded,
                "rowVatAmount": vat_amount,
                "rowAmount": excluded + vat_amount,  # Finvoice: RowAmount incl. VAT
                "rowAmountCurrencyIdentifier": "EUR",
                "unitPriceCurrencyIdentifier": "EUR",
                "rowVatCurrencyIdentifier": "EUR",
                "rowVatExcludedCurrencyIdentifier": "EUR",
                "rowSalesAccountNumber": "3000",
                "rowCostAmount": Decimal(0),
                "MainCaseGUID": case_guid,
                "MainCaseName": case_name,
                "MainCaseNumber": case_number,
                "CaseGUIDs": [case_guid],
                "ProductGUIDs": [guid("Product", article)] if article in PRODUCTS else [],
            }
        )
    total_excluded = sum((r["rowVatExcludedAmount"] for r in rows), Decimal(0))
    total_vat = sum((r["rowVatAmount"] for r in rows), Decimal(0))
    numbered = number is not None
    return {
        "GUID": guid("Invoice", key),
        "Number": number,
        "InvoiceStatus": status,
        "AccountGUID": guid("Customer", account_number),
        "AccountName": account_name,
        "AccountNumber": account_number,
        **BUSINESS_UNIT,
        "BusinessUnitCode": "HQ",
        "MainCaseGUID": case_guid,
        "InvoiceAllowedCaseGUIDs": [case_guid],
        "CurrencyShortform": "EUR",
        "CurrencyName": "Euro",
        "CurrencyRate": Decimal(1),
        "Date": date,
        "EntryDate": date,
        "DueDate": date + timedelta(days=14),
        "PaymentTerm": 14,
        "OverDueInterest": Decimal("8.0"),
        "ReferenceNumber": _finnish_reference(number) if numbered else None,
        "PaymentStatus": "Paid" if status == "Paid" else "Not paid",
        "PaymentDate": date + timedelta(days=10) if status == "Paid" else None,
        "Title": case_name,
        "OurReference": "Anna Aalto",
        "YourReference": f"PO-{case_number}",
        "Culture": "fi-FI",
        "LanguageCode": "fi",
        "IsCreditNote": False,
        "IsReimbursed": False,
        "IsTaxFree": False,
        "ReceiverCustomerName": account_name,
        "ReceiverVatNumber": vat,
        "ReceiverAddressline": "Main Street 1",
        "ReceiverPostalCode": "00100",
        "ReceiverCity": "Helsinki",
        "ReceiverCountry": "Finland",
        "SenderName": COMPANY_NAME,
        "SenderVatNumber": COMPANY_VAT,
        "SenderAddressline": "Simulaattorinkatu 1",
        "SenderPostalCode": "00100",
        "SenderCity": "Helsinki",
        "SenderCountry": "Finland",
        "InvoiceRows": rows,
        "InvoiceDetails": {
            "invoiceDate": date,
            "invoiceDueDate": date + timedelta(days=14),
            "invoiceNumber": number,
            "invoiceTotalVatExcludedAmount": total_excluded,
            "invoiceTotalVatAmount": total_vat,
            "invoiceTotalVatIncludedAmount": total_excluded + total_vat,
            "vatBaseAmount": total_excluded,
            "vatRateAmount": total_vat,
            "invoiceTypeText": "INVOICE",
            "originCode": "Original",
        },
    }


def _hour_entries(today: datetime) -> list[tuple[dict[str, Any], datetime]]:
    """About 40 entries on the weekdays of the last three weeks, entered the same evening."""
    open_cases = [c for c in CASES if c[0] != 2010]
    quantities = [Decimal("7.5"), Decimal("4"), Decimal("3.5"), Decimal("6"), Decimal("2")]
    out = []
    weekday_index = 0
    for days_ago in range(21, 0, -1):
        day = today - timedelta(days=days_ago)
        if day.weekday() >= 5:
            continue
        users = [weekday_index % 5, (weekday_index + 2) % 5] + (
            [(weekday_index + 4) % 5] if weekday_index % 2 == 0 else []
        )
        for slot, user in enumerate(users):
            case_number, case_name, customer = open_cases[(weekday_index + user) % len(open_cases)]
            code = USERS[user][2]
            record = {
                "GUID": guid("HourEntry", f"{day.date()}:{code}"),
                "EventDate": day,
                "Quantity": quantities[(weekday_index + slot) % len(quantities)],
                "UserGUID": guid("User", code),
                "CaseGUID": guid("Case", case_number),
                "PhaseGUID": guid("Phase", case_number),
                "AccountGUID": guid("Customer", CUSTOMERS[customer][0]),
                "WorkTypeGUID": WORK_TYPES["Design" if code == "DD" else "Development"],
                "Description": f"{case_name}: work",
                "IsBillable": True,
                "IsReadOnly": False,
                "IsApproved": True,
                "UnitPrice": Decimal("120.00"),
                "UnitPriceInBaseCurrency": Decimal("120.00"),
                "UnitCost": Decimal("55.00"),
            }
            out.append((record, day + timedelta(hours=17, minutes=5 * slot + weekday_index, seconds=23)))
        weekday_index += 1
    return out


def _activity(spec: tuple[Any, ...], today: datetime) -> dict[str, Any]:
    name, type_name, user, start_day, days, hour, hours = spec
    start = today + timedelta(days=start_day)
    all_day = hour is None
    if all_day:
        end = start + timedelta(days=days)
    else:
        start += timedelta(hours=hour)
        end = start + timedelta(hours=hours)
    return {
        "GUID": guid("Activity", name),
        "Name": name,
        "ActivityTypeGUID": guid("ActivityType", type_name),
        "OwnerUserGUID": guid("User", USERS[user][2]),
        "StartDateTime": start,
        "EndDateTime": end,
        "IsAllDay": all_day,
        "IsClosed": start_day < 0,
        "IsDuration": not all_day,
        "IsPrivate": False,
        "IsReadOnly": False,
        "AccountGUID": guid("Customer", 1001) if type_name == "Meeting" else None,
        "Location": "Helsinki office" if type_name == "Meeting" else None,
    }


def seed(store: Store, now: datetime) -> None:
    """Fill ``store``; every change time lies within the 30 days before ``now``."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = now - timedelta(days=30)

    def at(days: float, seconds: int = 0) -> datetime:
        return start + timedelta(days=days, seconds=seconds)

    for i in range(len(USERS)):
        store.upsert("User", _user(i), at=at(0.5 + i * 0.25, 7 + i))
    for i, (name, _, flags) in enumerate(INVOICE_STATUSES):
        has_number, read_only, sent, waiting, paid = flags
        store.upsert(
            "InvoiceStatus",
            {
                "Name": name,
                "Description": INVOICE_STATUSES[i][1],
                "SortOrder": i + 1,
                "IsActive": True,
                "IsDefault": i == 0,
                "HasInvoiceNumber": has_number,
                "IsReadOnly": read_only,
                "IsSent": sent,
                "IsWaitingPayment": waiting,
                "IsPaid": paid,
            },
            at=at(1),
        )
    for name, code, category, paid_leave in ACTIVITY_TYPES:
        store.upsert(
            "ActivityType",
            {
                "GUID": guid("ActivityType", name),
                "Name": name,
                "Code": code,
                "Category": category,
                "IsActive": True,
                "IsDefault": name == "Meeting",
                "IsPaidLeave": paid_leave,
            },
            at=at(1, 30),
        )
    for i in range(len(CUSTOMERS)):
        store.upsert("Customer", _customer(i), at=at(3 + i * 2.5, 41), inserted=at(2, 11 * i))
        for address in _addresses(CUSTOMERS[i][0]):
            store.upsert("Address", address, at=at(3 + i * 2.5, 43), inserted=at(2, 11 * i))
    for i in range(len(CASES)):
        store.upsert("Case", _case(i), at=at(4 + i * 2.2, 37), inserted=at(3, 13 * i))
    for i, product in enumerate(_products()):
        store.upsert("Product", product, at=at(5 + i * 1.1, 29), inserted=at(4, 17 * i))
    for i, invoice in enumerate(INVOICES):
        changed = at(20 + i * 1.3, 52)
        store.upsert("Invoice", _invoice(invoice, changed), at=changed, inserted=at(15 + i, 5))
    for record, changed in _hour_entries(today):
        store.upsert("HourEntry", record, at=min(changed, now - timedelta(minutes=1)))
    for i, activity in enumerate(ACTIVITIES):
        store.upsert("Activity", _activity(activity, today), at=at(10 + i * 1.7, 19))
