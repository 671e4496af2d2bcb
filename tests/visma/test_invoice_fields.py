"""Issue 14, item 4: what else an invoice carries into Visma.net: the customer's reference, the
credit terms, and per line the sales account, subaccount and unit. Over HTTP against the simulator,
which refuses members outside the spec's DTOs and checks credit terms and segments."""

from __future__ import annotations

from collections.abc import Callable

from severa_sync import registry
from severa_sync.errors import MappingError

from .conftest import Harness, InvoiceRow
from .test_target import _credit_note, _invoice, _with_dependencies

INVOICES = registry.get("invoices")


def _sent(h: Harness, reference: str) -> dict:
    [found] = [i for i in h.sim.invoices if i["externalReference"] == reference]
    return found


def test_the_customer_s_reference_and_the_credit_terms_go_with_the_invoice(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    delivery = h.target.deliver(INVOICES, [_invoice(10501, YourReference="PO-2001", PaymentTerm=14)])
    assert delivery.delivered and not delivery.failed
    sent = _sent(h, "10501")
    assert (sent["customerRefNumber"], sent["creditTerms"]) == ("PO-2001", {"id": "14"})


def test_a_payment_term_with_no_credit_terms_parks_the_invoice_naming_it(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    delivery = h.target.deliver(INVOICES, [_invoice(10501, PaymentTerm=21), _invoice(10502, PaymentTerm=0)])
    [(failed, error)] = delivery.failed
    assert failed.key == "inv-10501" and isinstance(error, MappingError)
    assert "Invoice.PaymentTerm 21 days" in str(error) and "customers.credit_terms" in str(error)
    assert _sent(h, "10502").get("creditTerms") is None  # none in Severa: the customer's apply


def test_lines_carry_the_mapped_sales_account_the_subaccount_and_the_unit(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(
        {
            "sales_accounts": {"3000": "3010"},
            "line_subaccount": [{"segment_id": 1, "value": "100"}, {"segment_id": 2, "value": "20"}],
            "units": {"h": "HOUR"},
        }
    )
    _with_dependencies(h)
    rows = [
        InvoiceRow(articleName="Work", rowSalesAccountNumber="3000", quantityUnitCode="h"),
        InvoiceRow(articleName="Licence", rowSalesAccountNumber="3000", quantityUnitCode="pcs"),
    ]
    assert h.target.deliver(INVOICES, [_invoice(10501, InvoiceRows=rows)]).delivered
    first, second = _sent(h, "10501")["invoiceLines"]
    assert first["account"] == {"number": "3010"} and first["uom"] == "HOUR"
    assert first["subaccount"] == [
        {"segmentId": 1, "segmentValue": "100"},
        {"segmentId": 2, "segmentValue": "20"},
    ]
    assert second["uom"] is None  # a unit not mapped is not sent: the item's sales unit applies


def test_a_row_whose_sales_account_is_not_mapped_parks_its_invoice(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness({"sales_accounts": {"3000": "3010"}})
    _with_dependencies(h)
    rows = [InvoiceRow(articleName="Work", rowSalesAccountNumber="4000")]
    [(failed, error)] = h.target.deliver(INVOICES, [_invoice(10501, InvoiceRows=rows)]).failed
    assert failed.key == "inv-10501"
    assert "InvoiceRow.rowSalesAccountNumber 4000" in str(error) and "invoices.sales_accounts" in str(error)
    assert h.sim.invoices == []


def test_without_a_sales_account_map_no_account_is_sent(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    rows = [InvoiceRow(articleName="Work", rowSalesAccountNumber="4000")]
    assert h.target.deliver(INVOICES, [_invoice(10501, InvoiceRows=rows)]).delivered
    assert _sent(h, "10501")["invoiceLines"][0]["account"] is None


def test_a_credit_note_carries_the_customer_s_reference_but_no_credit_terms(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    credit = _credit_note(10601, None, YourReference="PO-9", PaymentTerm=14)
    delivery = h.target.deliver(INVOICES, [credit])
    assert delivery.delivered and not delivery.failed  # CustomerCreditNoteUpdateDto has no creditTermsId
