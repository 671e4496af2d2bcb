"""The simulator's invoice writes for payments (issue 15): ``SetInvoicePaymentDate``,
``AddNewInvoiceLogEntry`` with Severa's ``ignoreDuplicates``, their faults, a write committed
then answered late, and the results through the admin endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from severa_sync.config import parse_config
from severa_sync.errors import SeveraNotFound, SeveraTimeout
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import API_KEY


def _client(sim: SeveraSimulator, read_timeout: float = 10) -> SeveraClient:
    config = parse_config(
        {
            "tenant": "t",
            "severa": {"url": sim.url, "read_timeout_seconds": read_timeout, "transport_retries": 0},
        }
    )
    return SeveraClient(config, Secret(API_KEY), sleep=lambda _s: None)


def _guid(sim: SeveraSimulator, number: int) -> str:
    return next(r["GUID"] for r in sim.records("Invoice") if r.get("Number") == number)


def _entry(guid: str, text: str, ignore: bool) -> dict[str, object]:
    return {
        "invoiceGuid": guid,
        "context": "severa-sync",
        "text": text,
        "source": "severa-sync",
        "eventTimeUtc": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "ignoreDuplicates": ignore,
    }


def test_log_entries_keep_one_of_a_duplicate_only_when_asked(sim: SeveraSimulator) -> None:
    client, guid = _client(sim), _guid(sim, 10501)
    for ignore in (True, True, False):
        client.call("IInvoice/AddNewInvoiceLogEntry", **_entry(guid, "Visma.net customer invoice 1", ignore))
    entries = requests.get(f"{sim.admin_url}/invoice_log/{guid}", timeout=10).json()
    assert [e["text"] for e in entries] == ["Visma.net customer invoice 1"] * 2
    assert entries[0]["eventTimeUtc"].startswith("2026-11-20T12:00:00")


def test_unknown_invoices_answer_not_found(sim: SeveraSimulator) -> None:
    client, missing = _client(sim), "0b7c2f9e-1111-4222-8333-944455556666"
    with pytest.raises(SeveraNotFound):
        client.call("IInvoice/SetInvoicePaymentDate", invoiceGUID=missing, paymentDate=None)
    with pytest.raises(SeveraNotFound):
        client.call("IInvoice/AddNewInvoiceLogEntry", **_entry(missing, "x", True))


def test_a_payment_date_committed_then_answered_late(sim: SeveraSimulator) -> None:
    guid = _guid(sim, 10501)
    answered = requests.post(
        f"{sim.admin_url}/answer_late",
        json={"seconds": 1.5, "operation": "IInvoice/SetInvoicePaymentDate"},
        timeout=10,
    )
    assert answered.status_code == 200
    with pytest.raises(SeveraTimeout):
        _client(sim, read_timeout=0.5).call(
            "IInvoice/SetInvoicePaymentDate", invoiceGUID=guid, paymentDate=datetime(2026, 11, 30, tzinfo=UTC)
        )
    record = requests.get(f"{sim.admin_url}/records/Invoice/{guid}", timeout=10).json()
    assert record["PaymentDate"].startswith("2026-11-30"), "Severa committed before it answered"
    _client(sim).call("IInvoice/SetInvoicePaymentDate", invoiceGUID=guid, paymentDate=None)
    assert sim.get("Invoice", guid)["PaymentDate"] is None, "nil clears it"  # type: ignore[index]
