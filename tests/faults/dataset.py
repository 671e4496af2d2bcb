"""The fault suite's Severa data: a small company (so 200 schedules fit in CI) and the ways it changes.

GUIDs of the base records come from the simulator's ``seed_tables.guid`` so ``mass_update``'s bulk
records (which link to customer 1001, case 2001, user BB and the Vacation type) point at real records.
Change operations pick their record with the schedule's own random generator, so a seed replays exactly.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.severa.seed_tables import guid

READY = "Ready for transfer"
TRANSFERRED = "Transferred"
#: A VAT rate the default ``invoices.vat_codes`` lacks: such invoices are rejected by the mapping.
UNMAPPED_VAT = Decimal("17")
ABSENCE_TYPES = (guid("ActivityType", "Vacation"), guid("ActivityType", "Sick leave"))
MEETING_TYPE = guid("ActivityType", "Meeting")
USERS = (guid("User", "AA"), guid("User", "BB"))


def _day(at: datetime, days: int) -> datetime:
    return (at + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


def invoice_rows(rates: list[Decimal], serial: int, sign: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "GUID": guid("InvoiceRow", f"{serial}:{i}"),
            "rowNumber": i,
            "articleIdentifier": "CONSULT",
            "articleName": f"Consulting {i}",
            "deliveredQuantity": Decimal(sign * (i + 1)),
            "unitPriceAmount": Decimal("120.00"),
            "rowVatRatePercent": rate,
        }
        for i, rate in enumerate(rates, start=1)
    ]


class Committing:
    """The simulator as people use it: every write is remembered with the moment, on our clock, it
    was committed (a late commit carries an older change time than that moment)."""

    def __init__(self, sim: SeveraSimulator, clock: Callable[[], datetime], committed: dict[str, datetime]):
        self._sim, self._clock, self._committed = sim, clock, committed

    def upsert(self, entity: str, record: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        out = self._sim.upsert(entity, record, at=at)
        self._committed[str(out.get("GUID") or out.get("Name"))] = self._clock()
        return out

    def mass_update(self, entity: str, n: int, *, at: datetime) -> list[str]:
        keys = self._sim.mass_update(entity, n, at=at)
        for key in keys:
            self._committed[key] = self._clock()
        return keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)


@dataclass
class Company:
    """What the harness knows about the data it put into Severa (the expectations' ground truth)."""

    severa: SeveraSimulator
    rng: random.Random
    t0: datetime
    clock: Callable[[], datetime]
    serial: int = 0
    #: Record key -> when (our clock) its last change was committed.
    committed: dict[str, datetime] = field(default_factory=dict)
    #: Invoices that were "Ready for transfer" at some point: each must end in Visma.net or parked.
    ever_ready: set[str] = field(default_factory=set)
    #: Of those, the ones whose rows carry a VAT rate the configuration cannot map.
    unmappable: set[str] = field(default_factory=set)
    #: Invoice GUID -> how many Severa calls had been made when it was last edited while ready.
    edited_at_call: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sim: Any = Committing(self.severa, self.clock, self.committed)

    # -- base data ------------------------------------------------------------------------------
    def seed(self) -> None:
        sim, t0 = self.sim, self.t0
        at = t0 - timedelta(days=30)
        for index, name in enumerate(("Draft", READY, TRANSFERRED, "Sent")):
            sim.upsert("InvoiceStatus", {"Name": name, "SortOrder": index + 1, "IsActive": True}, at=at)
        for name, category in (
            ("Vacation", "Absences"),
            ("Sick leave", "Absences"),
            ("Meeting", "CalendarEntry"),
        ):
            sim.upsert(
                "ActivityType",
                {"GUID": guid("ActivityType", name), "Name": name, "Category": category, "IsActive": True},
                at=at,
            )
        for code, guid_ in zip(("AA", "BB"), USERS, strict=True):
            sim.upsert("User", {"GUID": guid_, "Code": code, "FirstName": code, "IsActive": True}, at=at)
        for index, (number, name, vat) in enumerate(
            (
                (1001, "Acme Oy", "FI10000012"),
                (1002, "Borealis AB", "SE556012345601"),
                (1003, "Northwind Oy", None),
            )
        ):
            sim.upsert(
                "Customer",
                {
                    "GUID": guid("Customer", number),
                    "Number": number,
                    "Name": name,
                    "VatNumber": vat,
                    "IsActive": True,
                },
                at=t0 - timedelta(days=10 - 2 * index, seconds=self.rng.randint(0, 3600)),
            )
        for index, (number, name, account, closed) in enumerate(
            (
                (2001, "Website renewal", 1001, False),
                (2002, "ERP integration", 1002, False),
                (2003, "Pilot", 1001, True),
            )
        ):
            sim.upsert(
                "Case",
                {
                    "GUID": guid("Case", number),
                    "CaseNumber": number,
                    "Name": name,
                    "AccountGUID": guid("Customer", account),
                    "StartDate": _day(t0, -40),
                    "IsClosed": closed,
                },
                at=t0 - timedelta(days=9 - 2 * index, seconds=self.rng.randint(0, 3600)),
            )
        invoices: tuple[tuple[int | None, str, int, list[Decimal]], ...] = (
            (10500, TRANSFERRED, 2001, [Decimal("25.5")]),
            (10501, READY, 2001, [Decimal("25.5"), Decimal("10")]),
            (10502, READY, 2002, [Decimal("25.5"), UNMAPPED_VAT]),
            (10503, READY, 2003, [Decimal("24")]),
            (None, "Draft", 2002, [Decimal("25.5")]),
        )
        #: A credit note for 10500, transferred before severa-sync ran: sent, unlinked.
        credit_note = (10504, READY, 2001, [Decimal("25.5")])
        for index, (invoice_number, status, case, rates) in enumerate(invoices):
            self._put_invoice(
                invoice_number,
                status,
                case,
                rates,
                at=t0 - timedelta(days=5 - index, seconds=self.rng.randint(0, 3600)),
            )
        number_, status_, case_, rates_ = credit_note
        self._put_invoice(
            number_, status_, case_, rates_, at=t0 - timedelta(hours=20), credits=guid("Invoice", 10500)
        )
        for index, (days, user) in enumerate(((-9, 0), (-9, 1), (-8, 0), (-2, 1), (-1, 0), (-1, 1))):
            day = _day(t0, days)
            self._put_hour_entry(
                f"base:{index}", day, Decimal("7.5") - index, user, at=day + timedelta(hours=17)
            )
        for name, kind, start, days in (
            ("Autumn vacation", 0, -9, 3),
            ("Flu", 1, 2, 1),
            ("Winter vacation", 0, 12, 5),
        ):
            self._put_activity(name, ABSENCE_TYPES[kind], _day(t0, start), days, at=t0 - timedelta(days=12))
        self._put_activity(
            "Steering group", MEETING_TYPE, _day(t0, -1) + timedelta(hours=10), 0, at=t0 - timedelta(days=3)
        )

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _put_invoice(
        self,
        number: int | None,
        status: str,
        case: int,
        rates: list[Decimal],
        *,
        at: datetime,
        credits: str | None = None,
    ) -> str:
        """An invoice; with ``credits`` (an invoice's GUID) a credit note for it, rows negative."""
        account = {2001: 1001, 2002: 1002, 2003: 1001}.get(case, 1001)
        key = guid("Invoice", number if number is not None else f"draft-{self._next()}")
        self.sim.upsert(
            "Invoice",
            {
                "GUID": key,
                "Number": number,
                "InvoiceStatus": status,
                "AccountGUID": guid("Customer", account),
                "MainCaseGUID": guid("Case", case),
                "Date": _day(at, 0),
                "DueDate": _day(at, 14),
                "Title": f"{'Credit note' if credits else 'Invoice'} {number}",
                "CurrencyShortform": "EUR",
                "IsCreditNote": credits is not None,
                "ReimburseInvoiceGUID": credits,
                "InvoiceRows": invoice_rows(rates, number or 0, sign=-1 if credits else 1),
            },
            at=at,
        )
        if status == READY:
            self.ever_ready.add(key)
            if UNMAPPED_VAT in rates:
                self.unmappable.add(key)
        return key

    def _put_hour_entry(
        self, name: str, day: datetime, quantity: Decimal, user: int, *, at: datetime
    ) -> None:
        self.sim.upsert(
            "HourEntry",
            {
                "GUID": guid("HourEntry", name),
                "EventDate": day,
                "Quantity": quantity,
                "UserGUID": USERS[user],
                "CaseGUID": guid("Case", 2001),
                "Description": f"work {name}",
                "IsBillable": True,
            },
            at=at,
        )

    def _put_activity(self, name: str, kind: str, start: datetime, days: int, *, at: datetime) -> None:
        self.sim.upsert(
            "Activity",
            {
                "GUID": guid("Activity", name),
                "Name": name,
                "ActivityTypeGUID": kind,
                "OwnerUserGUID": USERS[0],
                "StartDateTime": start,
                "EndDateTime": start + timedelta(days=max(days, 0), hours=0 if days else 1),
                "IsAllDay": days > 0,
            },
            at=at,
        )

    # -- changes (what people do in Severa while the sync runs) ----------------------------------
    def _pick(self, entity: str, where: Any = None) -> dict[str, Any] | None:
        records = sorted(self.sim.records(entity), key=lambda r: str(r.get("GUID")))
        records = [r for r in records if where is None or where(r)]
        return self.rng.choice(records) if records else None

    def change(self, kind: str, at: datetime | None = None) -> str:
        """Apply one change of ``kind`` stamped ``at`` (default: now on the simulator's clock; earlier
        is a transaction that commits late); returns what was done."""
        sim, now, n = self.sim, at or self.sim.now(), self._next()
        if kind == "rename_customer" and (row := self._pick("Customer")):
            sim.upsert(
                "Customer", {"GUID": row["GUID"], "Name": f"{row['Name'].split(' #')[0]} #{n}"}, at=now
            )
            return f"renamed customer {row['Number']}"
        if kind == "new_customer":
            number = 1100 + n
            sim.upsert(
                "Customer",
                {
                    "GUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"c{n}")),
                    "Number": number,
                    "Name": f"New customer {n}",
                    "IsActive": True,
                },
                at=now,
            )
            return f"new customer {number}"
        if kind == "deactivate_customer" and (row := self._pick("Customer", lambda r: r.get("IsActive"))):
            sim.upsert("Customer", {"GUID": row["GUID"], "IsActive": False}, at=now)
            return f"deactivated customer {row['Number']}"
        if kind == "rename_case" and (row := self._pick("Case")):
            sim.upsert("Case", {"GUID": row["GUID"], "Name": f"{row['Name'].split(' #')[0]} #{n}"}, at=now)
            return f"renamed case {row['CaseNumber']}"
        if kind == "close_case" and (row := self._pick("Case")):
            sim.upsert("Case", {"GUID": row["GUID"], "IsClosed": not row.get("IsClosed")}, at=now)
            return f"toggled closed on case {row['CaseNumber']}"
        if kind == "new_case" and (account := self._pick("Customer")):
            number = 2100 + n
            sim.upsert(
                "Case",
                {
                    "GUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"k{n}")),
                    "CaseNumber": number,
                    "Name": f"New case {n}",
                    "AccountGUID": account["GUID"],
                    "StartDate": _day(now, -1),
                    "IsClosed": False,
                },
                at=now,
            )
            return f"new case {number} for customer {account['Number']}"
        if kind == "new_invoice":
            rates = [Decimal("25.5")] + ([UNMAPPED_VAT] if self.rng.random() < 0.2 else [])
            number = 10600 + n
            # One in four is a credit note for an earlier invoice (linked when that one went over).
            credited = self._pick("Invoice", lambda r: not r.get("IsCreditNote") and r.get("Number"))
            credits = credited["GUID"] if credited and self.rng.random() < 0.25 else None
            self._put_invoice(
                number, READY, self.rng.choice((2001, 2002, 2003)), rates, at=now, credits=credits
            )
            what = "credit note" if credits else "invoice"
            return f"new ready {what} {number} (rates {', '.join(map(str, rates))})"
        if kind == "draft_ready" and (
            row := self._pick("Invoice", lambda r: r.get("InvoiceStatus") == "Draft")
        ):
            number = 10700 + n
            sim.upsert("Invoice", {"GUID": row["GUID"], "Number": number, "InvoiceStatus": READY}, at=now)
            self.ever_ready.add(row["GUID"])
            return f"draft invoice numbered {number} and made ready"
        if kind == "edit_ready_invoice" and (
            row := self._pick("Invoice", lambda r: r.get("InvoiceStatus") == READY)
        ):
            sim.upsert("Invoice", {"GUID": row["GUID"], "Title": f"Edited {n}"}, at=now)
            self.edited_at_call[row["GUID"]] = len(self.severa.calls)
            return f"edited ready invoice {row['Number']}"
        if kind == "edit_all_ready_invoices":
            for row in self.sim.records("Invoice"):
                if row.get("InvoiceStatus") == READY:
                    sim.upsert("Invoice", {"GUID": row["GUID"], "Title": f"Edited {n}"}, at=now)
                    self.edited_at_call[row["GUID"]] = len(self.severa.calls)
            return "edited every ready invoice"
        if kind == "delete_hour_entry" and (row := self._pick("HourEntry")):
            sim.delete("HourEntry", row["GUID"])  # changed-since never reports it: the by-date image must
            return f"deleted hour entry {row['GUID'][:8]}"
        if kind == "remap_hour_entry_guids":  # Severa's GUID incident; the next remap call switches back
            if sim.restore_guids("HourEntry"):
                return "hour entries got their own GUIDs back"
            sim.remap_guids("HourEntry")
            return "every hour entry listed under another GUID"
        if kind == "delete_absence" and (
            row := self._pick("Activity", lambda r: r.get("ActivityTypeGUID") in ABSENCE_TYPES)
        ):
            sim.delete("Activity", row["GUID"])
            return f"deleted absence {row['Name']}"
        if kind == "edit_hour_entry" and (row := self._pick("HourEntry")):
            sim.upsert(
                "HourEntry",
                {
                    "GUID": row["GUID"],
                    "Quantity": Decimal(n % 8) + Decimal("0.25"),
                    "Description": f"edited {n}",
                },
                at=now,
            )
            return f"edited hour entry {row['GUID'][:8]}"
        if kind == "move_hour_entry" and (row := self._pick("HourEntry")):
            day = _day(self.t0, -self.rng.randint(0, 12))
            sim.upsert("HourEntry", {"GUID": row["GUID"], "EventDate": day}, at=now)
            return f"moved hour entry {row['GUID'][:8]} to {day.date()}"
        if kind == "new_hour_entry":
            self._put_hour_entry(
                f"new:{n}", _day(self.t0, -self.rng.randint(0, 12)), Decimal("2"), n % 2, at=now
            )
            return f"new hour entry new:{n}"
        if kind == "edit_absence" and (
            row := self._pick("Activity", lambda r: r.get("ActivityTypeGUID") in ABSENCE_TYPES)
        ):
            sim.upsert(
                "Activity", {"GUID": row["GUID"], "Name": f"{row['Name'].split(' #')[0]} #{n}"}, at=now
            )
            return f"renamed absence {row['Name']}"
        if kind == "move_absence" and (
            row := self._pick("Activity", lambda r: r.get("ActivityTypeGUID") in ABSENCE_TYPES)
        ):
            start = _day(self.t0, self.rng.randint(-14, 14))
            sim.upsert(
                "Activity",
                {"GUID": row["GUID"], "StartDateTime": start, "EndDateTime": start + timedelta(days=2)},
                at=now,
            )
            return f"moved absence {row['Name']} to {start.date()}"
        if kind == "new_absence":
            self._put_activity(
                f"Leave {n}", ABSENCE_TYPES[n % 2], _day(self.t0, self.rng.randint(-14, 14)), 1, at=now
            )
            return f"new absence Leave {n}"
        if kind == "mass_update_customers":
            count = self.rng.randint(3, 25)
            sim.mass_update("Customer", count, at=now)
            return f"mass update of {count} customers"
        if kind == "mass_update_hours":
            count = self.rng.randint(3, 25)
            sim.mass_update("HourEntry", count, at=now)
            return f"mass update of {count} hour entries"
        # Changes of issue 11's reader and text generators, in their own modules.
        from .reader_faults import reader_change
        from .texts import text_change

        return reader_change(self, kind, now) or text_change(self, kind, now) or f"{kind}: nothing to change"


def changed_type(kind: str) -> str:
    return next(name for name, kinds in CHANGES.items() if kind in kinds)


#: Which changes touch which data type (a schedule changes the data of the types it runs).
CHANGES: dict[str, tuple[str, ...]] = {
    "accounts": (
        "rename_customer",
        "new_customer",
        "deactivate_customer",
        "mass_update_customers",
        "control_chars_in_name",
        "new_prospect",
        "line_separators_in_customer_name",
    ),
    "cases": ("rename_case", "close_case", "new_case"),
    "invoices": ("new_invoice", "draft_ready", "edit_ready_invoice"),
    "hour_entries": (
        "edit_hour_entry",
        "move_hour_entry",
        "new_hour_entry",
        "mass_update_hours",
        "delete_hour_entry",
        "line_separators_in_description",
        "remap_hour_entry_guids",
    ),
    "absences": (
        "edit_absence",
        "move_absence",
        "new_absence",
        "delete_absence",
        "line_separators_in_absence_name",
    ),
}
