"""A Visma.net customer document's payment state, as the payments type writes it into Severa.

Read from the list answers of ``/v1/customerinvoice`` and ``/v1/customerCreditNote`` (reference
visma-net-dtos.md 7.2-7.4; responses are plain, never value-wrapped). The spec gives no payment
date on the document: a fully paid document's date is its latest application's
``applicationDate`` (``applications[]``, asked for with ``expandApplications``). What counts as
paid follows ``balance`` against ``amount``, as the spec defines ``balance`` ("the balance after
the payments were applied"): 0 is paid, between 0 and the amount partly paid. A voided or
unreleased document (``Voided``, ``Hold``, ``Balanced``) has no payment state.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Document statuses with no payment to tell (reference 7.3: not released, or cancelled).
NO_PAYMENT_STATUSES = frozenset({"Hold", "Balanced", "Voided", "Scheduled", "Reserved"})


class Paid(enum.StrEnum):
    UNPAID = "unpaid"
    PARTLY = "partly paid"
    FULLY = "paid"


class PaymentState(BaseModel):
    """One document's payment state, keyed by the Severa invoice it was transferred from."""

    model_config = ConfigDict(frozen=True)

    GUID: str  # the Severa invoice GUID (the invoices' mapping key)
    Number: str | None  # the Severa invoice number (the document's externalReference)
    document: str  # "invoice" or "credit note"
    reference_number: str  # the Visma.net document number
    paid: Paid
    amount: Decimal
    balance: Decimal
    payment_date: date | None  # fully paid: the latest application's date
    last_modified: datetime

    @property
    def content_hash(self) -> str:
        """What a write into Severa depends on: a change of any of these is news."""
        text = f"{self.paid.value}|{self.payment_date}|{self.balance}|{self.amount}"
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def parse_time(value: Any) -> datetime | None:
    """A Visma.net date-time as UTC. The spec states no zone for customer documents' times
    (reference 9); an answer without an offset is read as UTC, as the simulator writes it."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def paid_state(amount: Decimal, balance: Decimal) -> Paid:
    if balance <= 0:
        return Paid.FULLY
    return Paid.PARTLY if balance < amount else Paid.UNPAID


def payment_date(document: dict[str, Any]) -> date | None:
    """The latest ``applicationDate`` of the document's applications (payments, credit notes)."""
    dates = [
        parsed
        for item in document.get("applications") or []
        if isinstance(item, dict) and not item.get("voided")
        if (parsed := parse_time(item.get("applicationDate"))) is not None
    ]
    return max(dates).date() if dates else None


def state_of(
    document: dict[str, Any], *, kind: str, severa_guid: str, severa_number: str | None
) -> PaymentState | None:
    """The document's payment state; None when it has none to tell (unreleased, voided, or the
    answer lacks the amounts or the change time the watermark needs)."""
    if document.get("status") in NO_PAYMENT_STATUSES or document.get("hold") is True:
        return None
    amount = _decimal(document.get("amount"))
    balance = _decimal(document.get("balance"))
    changed = parse_time(document.get("lastModifiedDateTime"))
    if amount is None or balance is None or changed is None:
        return None
    amount, balance = abs(amount), abs(balance)  # a credit note's sign convention is not stated
    paid = paid_state(amount, balance)
    when = payment_date(document) if paid is Paid.FULLY else None
    if paid is Paid.FULLY and when is None:
        when = changed.date()  # closed without an application shown: the day Visma.net closed it
    return PaymentState(
        GUID=severa_guid,
        Number=severa_number,
        document=kind,
        reference_number=str(document.get("referenceNumber") or ""),
        paid=paid,
        amount=amount,
        balance=balance,
        payment_date=when,
        last_modified=changed,
    )
