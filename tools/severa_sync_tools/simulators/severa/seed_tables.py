"""The seed's world as tables: one business unit, users, customers, cases, products, invoices,
activities.

GUIDs are uuid5 of names, so they are the same in every run and every process.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://severa-sync.invalid/simulators/severa")
CENT = Decimal("0.01")


def guid(kind: str, name: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


BUSINESS_UNIT = {"BusinessUnitGUID": guid("BusinessUnit", "HQ"), "BusinessUnitName": "Head office"}
COMPANY_NAME = "Severa Sim Oy"
COMPANY_VAT = "FI20000104"

USERS = [  # first, last, code, title
    ("Anna", "Aalto", "AA", "Project manager"),
    ("Bruno", "Berg", "BB", "Consultant"),
    ("Cecilia", "Carlsson", "CC", "Consultant"),
    ("Daniel", "Dahl", "DD", "Designer"),
    ("Eeva", "Eskola", "EE", "Developer"),
]
CUSTOMERS = [  # number, name, VAT number, language
    (1001, "Acme Oy", "FI10000012", "fi"),
    (1002, "Borealis AB", "SE556012345601", "sv"),
    (1003, "Northwind Traders Oy", "FI10000020", "fi"),
    (1004, "Lakeside Media Oy", "FI10000039", "fi"),
    (1005, "Fjord Logistics AS", "NO923609016MVA", "en"),
    (1006, "Helmi Design Oy", "FI10000047", "fi"),
    (1007, "Kvarken Shipping Ab", "FI10000055", "sv"),
    (1008, "Sisu Software Oy", "FI10000063", "fi"),
]
#: Head-office (postal and visiting) address of each customer, by number: street, postcode, city,
#: country, phone. Customers listed in BILLING_ADDRESSES also have a separate billing address.
ADDRESSES = {
    1001: ("Mannerheimintie 12 B", "00100", "Helsinki", "FI", "+358 9 123 4567"),
    1002: ("Kungsgatan 44", "111 35", "Stockholm", "SE", "+46 8 555 010 20"),
    1003: ("Hämeenkatu 20", "33200", "Tampere", "FI", "+358 3 222 3300"),
    1004: ("Järvikatu 3", "40100", "Jyväskylä", "FI", "+358 14 333 4400"),
    1005: ("Strandkaien 8", "5013", "Bergen", "NO", "+47 55 55 01 23"),
    1006: ("Aleksanterinkatu 5", "00170", "Helsinki", "FI", "+358 9 765 4321"),
    1007: ("Hovioikeudenpuistikko 9", "65100", "Vaasa", "FI", "+358 6 312 0000"),
    1008: ("Yliopistonkatu 7", "20100", "Turku", "FI", "+358 2 444 5500"),
}
BILLING_ADDRESSES = {
    1001: ("PL 100", "00021", "Laskutus", "FI"),
    1002: ("Box 5120", "102 43", "Stockholm", "SE"),
}
CASES = [  # number, name, customer index
    (2001, "Website renewal", 0),
    (2002, "ERP integration", 0),
    (2003, "Brand refresh", 1),
    (2004, "Mobile app", 2),
    (2005, "Data warehouse", 3),
    (2006, "Fleet tracking", 4),
    (2007, "Design system", 5),
    (2008, "Port logistics portal", 6),
    (2009, "Support 2026", 7),
    (2010, "Pilot study", 2),
]
WORK_TYPES = {
    "Development": guid("WorkType", "Development"),
    "Design": guid("WorkType", "Design"),
    "Project management": guid("WorkType", "Project management"),
}
INVOICE_STATUSES = [  # name, description, flags (HasInvoiceNumber, IsReadOnly, IsSent, IsWaitingPayment, IsPaid)
    ("Draft", "Not yet approved", (False, False, False, False, False)),
    ("Ready for transfer", "Approved, waiting for transfer to the ERP", (True, False, False, False, False)),
    ("Transferred", "Transferred to the ERP", (True, True, False, False, False)),
    ("Sent", "Sent to the customer", (True, True, True, True, False)),
    ("Paid", "Paid in full", (True, True, True, False, True)),
]
ARTICLES = {  # identifier: name, unit, unit price
    "CONSULT": ("Consulting", "h", Decimal("120.00")),
    "DESIGN": ("Design work", "h", Decimal("95.00")),
    "LICENSE": ("Software licence", "pcs", Decimal("450.00")),
    "TRAINING": ("Training day", "day", Decimal("900.00")),
    "HANDBOOK": ("Handbook", "pcs", Decimal("35.00")),
    "EVENT": ("Event ticket", "pcs", Decimal("250.00")),
}
#: Articles that are Severa products (the others bill hours by work type), with the product's VAT %;
#: and one product no longer sold (inactive).
PRODUCTS = {"LICENSE": "25.5", "TRAINING": "25.5", "HANDBOOK": "10", "EVENT": "25.5"}
INACTIVE_PRODUCT = ("LEGACY", "Legacy support plan", "month", Decimal("80.00"), "25.5")
INVOICES = [  # number, status, case index, rows (article, quantity, VAT %)
    (10498, "Paid", 0, [("CONSULT", "12", "25.5")]),
    (10499, "Sent", 3, [("DESIGN", "8", "25.5"), ("HANDBOOK", "3", "10")]),
    (10500, "Transferred", 4, [("CONSULT", "20", "25.5")]),
    (10501, "Ready for transfer", 1, [("CONSULT", "16.5", "25.5"), ("LICENSE", "2", "25.5")]),
    (10502, "Ready for transfer", 5, [("TRAINING", "1", "25.5"), ("EVENT", "2", "17")]),
    (
        10503,
        "Ready for transfer",
        7,
        [("DESIGN", "10", "25.5"), ("HANDBOOK", "5", "10"), ("CONSULT", "4", "25.5")],
    ),
    (None, "Draft", 8, [("CONSULT", "6", "25.5")]),
]
ACTIVITY_TYPES = [  # name, code, category, paid leave
    ("Vacation", "VAC", "Absences", True),
    ("Sick leave", "SICK", "Absences", True),
    ("Unpaid leave", "UNPAID", "Absences", False),
    ("Meeting", "MEET", "CalendarEntry", None),
    ("Task", "TODO", "ToDo", None),
]
ACTIVITIES = [  # name, type, user index, start day (relative to today), days, start hour, hours
    ("Summer vacation", "Vacation", 1, -10, 5, None, None),
    ("Flu", "Sick leave", 2, -3, 1, None, None),
    ("Autumn vacation", "Vacation", 3, 7, 5, None, None),
    ("Moving day", "Unpaid leave", 4, 3, 1, None, None),
    ("Winter vacation", "Vacation", 0, 14, 5, None, None),
    ("Steering group", "Meeting", 0, -2, 0, 9, 1),
    ("Sprint review", "Meeting", 1, -1, 0, 10, 2),
    ("Customer workshop", "Meeting", 4, 2, 0, 12, 3),
    ("Kick-off", "Meeting", 2, 5, 0, 13, 1),
    ("Prepare offer", "Task", 3, 1, 0, 8, 4),
]
