"""A Visma.net document's payment state, from its list answer (reference visma-net-dtos.md 7.2-7.4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from severa_sync.targets.visma.payment_state import Paid, state_of


def _doc(**fields: object) -> dict[str, object]:
    return {
        "referenceNumber": "100001",
        "status": "Open",
        "amount": 1000.0,
        "balance": 1000.0,
        "lastModifiedDateTime": "2026-12-01T10:15:30.123",
        **fields,
    }


def _state(**fields: object):
    return state_of(_doc(**fields), kind="invoice", severa_guid="g-1", severa_number="10501")


def test_unpaid_partly_paid_and_paid() -> None:
    assert _state().paid is Paid.UNPAID  # type: ignore[union-attr]
    partly = _state(balance=400.0)
    assert partly is not None and partly.paid is Paid.PARTLY and partly.payment_date is None
    applications = [
        {"docType": "Payment", "applicationDate": "2026-11-20T00:00:00", "voided": False},
        {"docType": "Payment", "applicationDate": "2026-11-28T00:00:00", "voided": False},
        {"docType": "Payment", "applicationDate": "2026-11-30T00:00:00", "voided": True},
    ]
    paid = _state(balance=0.0, status="Closed", applications=applications)
    assert paid is not None and paid.paid is Paid.FULLY
    assert paid.payment_date == date(2026, 11, 28), "the latest application that was not voided"


def test_closed_without_applications_takes_the_day_it_closed() -> None:
    paid = _state(balance=0.0, status="Closed")
    assert paid is not None and paid.payment_date == date(2026, 12, 1)


def test_unreleased_voided_or_incomplete_documents_have_no_state() -> None:
    for status in ("Hold", "Balanced", "Voided"):
        assert _state(status=status, balance=0.0) is None
    assert _state(balance=None) is None
    assert _state(lastModifiedDateTime=None) is None


def test_a_credit_note_with_negative_amounts_reads_as_positive() -> None:
    state = state_of(
        _doc(amount=-200.0, balance=-50.0), kind="credit note", severa_guid="g-2", severa_number="10507"
    )
    assert state is not None and state.paid is Paid.PARTLY and state.balance == Decimal("50.0")


def test_the_content_hash_follows_the_payment_state_only() -> None:
    one, same = _state(balance=400.0), _state(balance=400.0, lastModifiedDateTime="2026-12-02T00:00:00")
    other = _state(balance=300.0)
    assert one is not None and same is not None and other is not None
    assert one.content_hash == same.content_hash != other.content_hash


def test_times_without_an_offset_are_utc() -> None:
    state = _state(lastModifiedDateTime="2026-12-01T10:15:30")
    assert state is not None and state.last_modified.utcoffset() is not None
    assert state.last_modified.isoformat() == "2026-12-01T10:15:30+00:00"
