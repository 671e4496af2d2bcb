"""The payments type's Visma.net reads: changed since the watermark, paged, through 429s."""

from __future__ import annotations

from dataclasses import replace

import requests

from severa_sync.engine.engine import RunStatus

from .conftest import World


def test_read_page_by_page_through_throttling(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    world.visma.pay(refs["10503"], on="2026-12-01")
    world.visma.ledger.max_page_size = 1  # one document a page: the reader must page on
    world.visma.throttle(calls=2, retry_after=0.01)  # 429 with Retry-After on the first two calls

    result = world.run("payments")

    assert result.status is RunStatus.SUCCEEDED and result.delivered == 2
    assert all(world.invoice(n)["InvoiceStatus"] == "Paid" for n in (10501, 10503))
    pages = [p for m, p, s in world.visma.requests if m == "GET" and p.startswith("/v1/customerinvoice")]
    assert len(pages) >= 3, "three invoices, one a page"


def test_documents_changed_before_the_watermark_less_the_overlap_are_not_read(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    assert world.run("payments").delivered == 1
    world.visma.pay(refs["10503"], on="2026-12-01")
    world.visma.touch(refs["10503"], "2025-01-01T00:00:00")  # changed long before the watermark
    again = world.run("payments")
    assert again.delivered == 0 and again.fetched == again.dropped_overlap, "only 10501 again, dropped"
    assert world.invoice(10503)["InvoiceStatus"] == "Transferred", "the filter reached Visma.net"


def test_the_simulator_refuses_a_filter_without_its_condition(world: World) -> None:
    reply = world.visma.ledger.route(
        "GET", "/v1/customerinvoice", {"lastModifiedDateTime": "2026-01-01"}, b"", background=False
    )
    assert reply.status == 400 and "must be used together" in str(reply.body)
    reply = world.visma.ledger.route(
        "GET",
        "/v1/customerinvoice",
        {"lastModifiedDateTime": "2026-01-01 10:00:00", "lastModifiedDateTimeCondition": ">="},
        b"",
        background=False,
    )
    assert reply.status == 200 and all("applications" not in row for row in reply.body)


def test_a_credit_note_paid_by_its_application_gets_its_payment_date(world: World) -> None:
    """Credit notes are read at their own path, keyed by the Severa credit note's GUID."""
    guid = world.invoice(10501)["GUID"]
    credit_note = world.visma.ledger.credit_notes
    number = "900777"
    credit_note[number] = {
        "referenceNumber": number,
        "documentType": "CreditNote",
        "status": "Closed",
        "externalReference": "10501",
        "amount": 50.0,
        "balance": 0.0,
        "applications": [{"docType": "Invoice", "refNbr": "x", "applicationDate": "2026-12-02T00:00:00"}],
        "lastModifiedDateTime": "2026-12-06T08:00:00",
    }
    # The invoices' mapping points at the credit note (as for a Severa credit note).
    state = world.runtime().state
    mapping = state.get_mapping("acme", "invoices", guid)
    assert mapping is not None
    state.put_mapping("acme", "invoices", guid, replace(mapping, target_key=number))
    result = world.run("payments")
    assert result.delivered == 1
    assert world.invoice(10501)["PaymentDate"].date().isoformat() == "2026-12-02"


def test_the_simulator_pays_and_moves_documents_over_its_admin_endpoint(world: World) -> None:
    reference = world.transferred()["10503"]
    answer = requests.post(
        f"{world.visma.base_url}/admin/pay",
        json={"reference": reference, "amount": 5, "on": "2026-12-03"},
        timeout=10,
    ).json()
    assert answer["ok"] and answer["result"]["status"] == "Open"
    assert answer["result"]["applications"][-1]["applicationDate"] == "2026-12-03T00:00:00"
    moved = requests.post(
        f"{world.visma.base_url}/admin/touch",
        json={"reference": reference, "at": "2026-12-04T08:00:00"},
        timeout=10,
    )
    assert moved.status_code == 200
    assert world.visma.ledger.invoices[reference]["lastModifiedDateTime"] == "2026-12-04T08:00:00"
    assert (
        requests.post(f"{world.visma.base_url}/admin/pay", json={"reference": "nope"}, timeout=10).status_code
        == 400
    )
