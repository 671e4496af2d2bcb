"""Visma.net payment states written back into Severa over HTTP (issue 15, items 1, 2, 4, 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from severa_sync.engine.engine import RunStatus

from .conftest import PARTLY_PAID, World


def _calls(world: World, operation: str) -> list[dict]:
    return [c.params for c in world.severa.calls if c.operation == operation]


def test_paid_and_partly_paid_reach_severa(world: World) -> None:
    refs = world.transferred()
    assert {"10501", "10503"} <= set(refs), "the invoices run transferred them"
    world.visma.pay(refs["10501"], on="2026-11-30")  # the whole balance
    world.visma.pay(refs["10503"], amount=10.0, on="2026-12-01")

    result = world.run("payments")

    assert result.status is RunStatus.SUCCEEDED, result
    assert result.delivered == 2 and result.failed == 0
    paid = world.invoice(10501)
    assert paid["InvoiceStatus"] == "Paid"
    assert paid["PaymentDate"].date() == date(2026, 11, 30)
    partly = world.invoice(10503)
    assert partly["InvoiceStatus"] == PARTLY_PAID
    assert partly["PaymentDate"] is None
    assert world.run("payments").delivered == 0, "the same states again: nothing new"


def test_the_same_state_again_writes_nothing_even_after_a_rewind(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    assert world.run("payments").delivered == 1
    writes = len(_calls(world, "IInvoice/SetInvoicePaymentDate")) + len(
        _calls(world, "IInvoice/SetInvoiceStatus")
    )

    runtime = world.runtime()
    runtime.state.rewind("acme", "payments", datetime(2026, 1, 1, tzinfo=UTC), by="test")
    again = world.run("payments")

    assert again.status is RunStatus.SUCCEEDED and again.fetched >= 1
    after = len(_calls(world, "IInvoice/SetInvoicePaymentDate")) + len(
        _calls(world, "IInvoice/SetInvoiceStatus")
    )
    assert after == writes, "a rewind re-reads, never re-writes"


def test_a_write_whose_answer_never_came_is_settled_by_reading_first(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    # Severa commits the payment date, then answers after the client (2 s read timeout) gave up.
    world.severa.answer_late(4, operation="IInvoice/SetInvoicePaymentDate")

    first = world.run("payments")
    assert first.status is not RunStatus.SUCCEEDED or first.failed, first
    assert world.invoice(10501)["PaymentDate"].date() == date(2026, 11, 30), "Severa did commit"
    dates_written = len(_calls(world, "IInvoice/SetInvoicePaymentDate"))

    second = world.run("payments")

    assert second.status is RunStatus.SUCCEEDED, second
    assert len(_calls(world, "IInvoice/SetInvoicePaymentDate")) == dates_written, "not written twice"
    assert world.invoice(10501)["InvoiceStatus"] == "Paid", "what was left is written"


def test_a_severa_fault_on_one_invoice_parks_it_alone(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    world.visma.pay(refs["10503"], on="2026-12-01")
    world.severa.fail_next("NotFoundException", operation="IInvoice/SetInvoicePaymentDate")

    result = world.run("payments")

    assert result.status is RunStatus.SUCCEEDED_WITH_ERRORS and result.failed == 1 and result.delivered == 1
    runtime = world.runtime()
    (parked,) = runtime.state.parked("acme", "payments")
    retried = world.run("payments")
    assert retried.status is RunStatus.SUCCEEDED and not world.runtime().state.parked("acme", "payments")
    number = int(parked.display_key)
    assert world.invoice(number)["InvoiceStatus"] == "Paid"


def test_documents_severa_sync_did_not_create_are_never_written(world: World) -> None:
    hand_made = world.visma.seed_invoice("10023", external_reference="10501", reference_number="777001")
    world.visma.ledger.invoices[hand_made].update(
        {"amount": 100.0, "balance": 0.0, "status": "Closed", "lastModifiedDateTime": "2026-12-01T10:00:00"}
    )
    result = world.run("payments")
    assert result.delivered == 0
    assert not _calls(world, "IInvoice/SetInvoicePaymentDate")


def test_a_partly_paid_invoice_without_a_configured_status_is_a_log_line(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10503"], amount=10.0, on="2026-12-01")
    runtime = world.runtime(partly_paid_status=None)
    result = runtime.engine.run("payments")
    assert result.status is RunStatus.SUCCEEDED
    assert not _calls(world, "IInvoice/SetInvoiceStatus")[-1:] or all(
        c.get("status") != PARTLY_PAID for c in _calls(world, "IInvoice/SetInvoiceStatus")
    )
    assert world.invoice(10503)["InvoiceStatus"] == "Transferred"


def test_dry_run_writes_nothing_and_keeps_the_watermark(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    before = world.runtime().state.read_watermark("acme", "payments").raw

    result = world.run("payments", dry_run=True)

    assert result.status is RunStatus.SUCCEEDED and result.delivered == 1
    assert not _calls(world, "IInvoice/SetInvoicePaymentDate") and not _calls(
        world, "IInvoice/SetInvoiceStatus"
    )
    assert world.invoice(10501)["PaymentDate"] is None
    state = world.runtime().state
    assert state.read_watermark("acme", "payments").raw == before
    assert state.get_mapping("acme", "payments", world.invoice(10501)["GUID"]) is None
    assert world.run("payments").delivered == 1, "the real run still writes it"


def test_dry_run_is_refused_for_a_type_that_writes_elsewhere(world: World) -> None:
    result = world.run("accounts", dry_run=True)
    assert result.status is RunStatus.FAILED and result.error_code == "invalid_configuration"


def test_the_write_cap_stops_before_the_excess_write_with_an_alert(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    world.visma.pay(refs["10503"], on="2026-12-01")
    before = world.runtime().state.read_watermark("acme", "payments").raw

    result = world.run("payments", max_severa_writes=3)  # two invoices need four writes

    assert result.status is RunStatus.FAILED and result.error_code == "severa_write_cap_reached"
    writes = _calls(world, "IInvoice/SetInvoicePaymentDate") + _calls(world, "IInvoice/SetInvoiceStatus")
    assert len(writes) == 3
    alerts = world.last_runtime.alerts.published  # type: ignore[attr-defined]
    assert [a.kind for a in alerts] == ["severa_write_cap"]
    assert world.runtime().state.read_watermark("acme", "payments").raw == before
    finished = world.run("payments")
    assert finished.status is RunStatus.SUCCEEDED
    assert (
        len(_calls(world, "IInvoice/SetInvoicePaymentDate") + _calls(world, "IInvoice/SetInvoiceStatus")) == 4
    )


def test_an_unknown_paid_status_stops_before_any_write(world: World) -> None:
    refs = world.transferred()
    world.visma.pay(refs["10501"], on="2026-11-30")
    result = world.run("payments", paid_status="Maksettu")
    assert result.status is RunStatus.FAILED and result.error_code == "invoice_status_unknown"
    assert not _calls(world, "IInvoice/SetInvoicePaymentDate")
