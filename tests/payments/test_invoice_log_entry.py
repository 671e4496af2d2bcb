"""After an invoice is transferred, Severa's invoice log names the Visma.net document (item 3)."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.engine.engine import RunStatus

from .conftest import World


def test_each_transferred_invoice_has_one_entry_naming_its_document(world: World) -> None:
    refs = world.transferred()
    for number in ("10501", "10503"):
        (entry,) = world.severa.invoice_log(world.invoice(int(number))["GUID"])
        assert entry["text"] == f"Transferred to Visma.net Financials as customer invoice {refs[number]}"
        assert entry["source"] == "severa-sync"
    assert world.severa.invoice_log(world.invoice(10502)["GUID"]) == [], "10502 was not transferred"
    world.run("invoices")
    assert len(world.severa.invoice_log(world.invoice(10501)["GUID"])) == 1, "once per document"
    assert not world.runtime().state.mappings_delivered_since(
        "acme", "invoices-log-entries", world.severa.now() - timedelta(days=1)
    ), "nothing left pending"


def test_a_failed_entry_never_undoes_the_transfer_and_is_written_next_run(world: World) -> None:
    guid = world.invoice(10501)["GUID"]
    # Transferred anew: back in the queue, its Visma.net document and mapping gone.
    world.severa.upsert("Invoice", {"GUID": guid, "InvoiceStatus": "Ready for transfer"})
    del world.visma.ledger.invoices[world.transferred()["10501"]]
    state = world.runtime().state
    state.forget_mappings("acme", "invoices", [guid])
    before = len(world.severa.invoice_log(guid))
    world.severa.fail_next("GeneralFailureException", operation="IInvoice/AddNewInvoiceLogEntry")

    result = world.run("invoices")

    assert result.status in (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED_WITH_ERRORS)
    assert world.invoice(10501)["InvoiceStatus"] == "Transferred", "the transfer stands"
    assert len(world.severa.invoice_log(guid)) == before, "the entry failed"
    world.run("invoices")
    log = world.severa.invoice_log(guid)
    assert len(log) == before + 1 and log[-1]["text"].endswith(world.transferred()["10501"])
