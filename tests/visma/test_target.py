"""VismaTarget end to end over real HTTP: exactly-once delivery of accounts, cases and invoices."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from severa_sync import registry
from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import (
    ConfigError,
    MappingError,
    OutcomeUnknown,
    SeveraNotFound,
    TargetAuthFailed,
    TargetRejected,
    TargetUnavailable,
    TimeBudgetSpent,
)
from severa_sync.targets.visma.target import VismaTarget
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import CLIENT_SECRET, Case, Customer, Harness, Invoice, InvoiceRow, logged, record, rows

ACCOUNTS, CASES, INVOICES = registry.get("accounts"), registry.get("cases"), registry.get("invoices")


def _account(n: int = 1, **fields: object) -> SourceRecord:
    values: dict[str, object] = {
        "Name": f"Account {n} Oy",
        "Number": 5000 + n,
        "VatNumber": f"FI{n:08d}",
        **fields,
    }
    return record(Customer(GUID=f"acc-{n}", **values))  # type: ignore[arg-type]


def _case(n: int = 1, account: int = 1, **fields: object) -> SourceRecord:
    values: dict[str, object] = {
        "CaseNumber": 700 + n,
        "Name": f"Project {n}",
        "AccountGUID": f"acc-{account}",
        **fields,
    }
    return record(Case(GUID=f"case-{n}", **values))  # type: ignore[arg-type]


def _invoice(
    number: int = 10501, account: int = 1, case: int | None = 1, lines: int = 2, **fields: object
) -> SourceRecord:
    values: dict[str, object] = {
        "Number": number,
        "AccountGUID": f"acc-{account}",
        "Title": f"Invoice {number}",
        "MainCaseGUID": f"case-{case}" if case else None,
        "InvoiceRows": rows(lines),
        **fields,
    }
    return record(Invoice(GUID=f"inv-{number}", **values))  # type: ignore[arg-type]


def _posts(sim: VismaSimulator, path: str) -> list[int]:
    return [status for method, p, status in sim.requests if method == "POST" and p == path]


def _with_dependencies(h: Harness, accounts: int = 1, cases: int = 1) -> None:
    h.deps.add(*[_account(n) for n in range(1, accounts + 1)], *[_case(n) for n in range(1, cases + 1)])


# -- accounts -----------------------------------------------------------------------------------
def test_account_is_created_then_skipped_when_unchanged_and_updated_when_changed(harness: Harness) -> None:
    h = harness
    first = h.target.deliver(ACCOUNTS, [_account(1)])
    assert first.delivered and not first.failed
    [customer] = h.sim.customers
    assert (
        customer["number"],
        customer["name"],
        customer["vatRegistrationId"],
        customer["status"],
        customer["customerClass"]["id"],
    ) == ("5001", "Account 1 Oy", "FI00000001", "Active", h.config.invoices.customer_class_id)
    assert h.store.get_mapping("demo", "accounts", "acc-1").target_key == "5001"  # type: ignore[union-attr]

    again = h.target.deliver(ACCOUNTS, [_account(1)])
    assert [r.key for r in again.skipped] == ["acc-1"] and not again.delivered

    changed = h.target.deliver(ACCOUNTS, [_account(1, Name="Renamed Oy", IsActive=False)])
    assert changed.delivered
    [customer] = h.sim.customers
    assert (customer["name"], customer["status"]) == ("Renamed Oy", "Inactive")
    assert _posts(h.sim, "/v1/customer") == [201]
    assert [s for m, p, s in h.sim.requests if m == "PUT"] == [204]


def test_account_without_number_fails_naming_the_field_and_others_go(harness: Harness) -> None:
    delivery = harness.target.deliver(ACCOUNTS, [_account(1, Number=None), _account(2)])
    [(failed, error)] = delivery.failed
    assert failed.key == "acc-1" and isinstance(error, MappingError)
    assert "Customer.Number" in str(error) and error.detail["field"] == "Customer.Number"
    assert [r.key for r in delivery.delivered] == ["acc-2"]


def test_customer_already_in_visma_is_adopted_not_created_twice(harness: Harness) -> None:
    # The same company (same VAT id) under an older name; a different one is parked (test_adoption).
    harness.sim.seed_customer("5001", "Typed in by hand", vat_registration_id="FI00000001")
    delivery = harness.target.deliver(ACCOUNTS, [_account(1)])
    assert delivery.delivered
    assert [c["name"] for c in harness.sim.customers] == ["Account 1 Oy"]
    assert _posts(harness.sim, "/v1/customer") == []


# -- cases --------------------------------------------------------------------------------------
def test_case_with_a_missing_account_syncs_it_on_demand(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    delivery = h.target.deliver(CASES, [_case(1), _case(2)])
    assert len(delivery.delivered) == 2
    assert h.deps.calls == [("accounts", "acc-1")]  # once: the second case finds it
    assert {p["projectID"]: p["customer"]["number"] for p in h.sim.projects} == {"701": "5001", "702": "5001"}
    assert h.store.get_mapping("demo", "cases", "case-1").target_key == "701"  # type: ignore[union-attr]


def test_case_whose_account_cannot_be_synced_fails_alone(harness: Harness) -> None:
    harness.deps.add(_account(1))
    delivery = harness.target.deliver(CASES, [_case(1, account=9), _case(2)])
    [(failed, error)] = delivery.failed
    assert failed.key == "case-1" and isinstance(error, SeveraNotFound)
    assert [r.key for r in delivery.delivered] == ["case-2"]


def test_dependency_error_that_stops_the_run_is_raised(harness: Harness) -> None:
    class Down:
        def key_of(self, kind: str, guid: str) -> str:
            raise TargetUnavailable("Visma.net down")

    target = VismaTarget(harness.client, harness.store, "demo", harness.config, Down())  # type: ignore[arg-type]
    with pytest.raises(TargetUnavailable):
        target.deliver(CASES, [_case(1)])


# -- invoices -----------------------------------------------------------------------------------
def test_invoice_is_mapped_with_customer_project_lines_and_vat_codes(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    invoice = _invoice(
        10501,
        ReferenceNumber="105017",
        InvoiceRows=[
            InvoiceRow(
                articleIdentifier="CONSULT",
                articleName="Consulting",
                deliveredQuantity=Decimal("7.50"),
                unitPriceAmount=Decimal("120.00"),
                rowVatRatePercent=Decimal("24.00"),
            ),
            InvoiceRow(
                articleName="Books",
                deliveredQuantity=Decimal("2"),
                unitPriceAmount=Decimal("19.90"),
                rowVatRatePercent=Decimal("14"),
            ),
        ],
    )
    delivery = h.target.deliver(INVOICES, [invoice])
    assert delivery.delivered and not delivery.failed
    [stored] = h.sim.invoices
    assert (
        stored["customer"]["number"],
        stored["project"]["id"],
        stored["externalReference"],
        stored["documentDate"],
        stored["documentDueDate"],
        stored["invoiceText"],
        stored["currencyId"],
        stored["paymentReference"],
    ) == ("5001", "701", "10501", "2026-11-20", "2026-12-04", "Invoice 10501", "EUR", "105017")
    assert [
        (
            line["inventoryNumber"],
            line["description"],
            line["quantity"],
            line["unitPriceInCurrency"],
            line["vatCodeId"],
        )
        for line in stored["invoiceLines"]
    ] == [
        ("CONSULT", "Consulting", 7.5, 120.0, "1"),
        (h.config.invoices.default_inventory_number, "Books", 2.0, 19.9, "2"),
    ]
    mapping = h.store.get_mapping("demo", "invoices", "inv-10501")
    assert mapping is not None and mapping.target_key == stored["referenceNumber"]
    assert sorted(h.deps.calls) == [("accounts", "acc-1"), ("cases", "case-1")]


def test_rejected_invoice_fails_alone_while_others_go_through(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.sim.reject_next(
        "/v2/customerinvoice",
        message="Error creating document. TaxCategoryID '0' cannot be found.",
        body_contains="10502",
    )
    delivery = h.target.deliver(INVOICES, [_invoice(10501), _invoice(10502), _invoice(10503)])
    [(failed, error)] = delivery.failed
    assert failed.key == "inv-10502" and isinstance(error, TargetRejected)
    assert "TaxCategoryID '0' cannot be found." in str(error)
    assert error.call is not None and error.call.operation == "POST /v2/customerinvoice"
    assert [r.key for r in delivery.delivered] == ["inv-10501", "inv-10503"]
    assert sorted(i["externalReference"] for i in h.sim.invoices) == ["10501", "10503"]
    assert h.store.get_mapping("demo", "invoices", "inv-10502") is None


@pytest.mark.parametrize("delay", [1.5, None], ids=["late-answer", "dropped-connection"])
def test_invoice_post_that_times_out_after_committing_is_not_duplicated(
    make_harness: Callable[..., Harness], delay: float | None
) -> None:
    h = make_harness(timeout_seconds=0.5)
    _with_dependencies(h)
    h.sim.commit_then_timeout("/v2/customerinvoice", calls=1, delay=delay)
    delivery = h.target.deliver(INVOICES, [_invoice(10501), _invoice(10502)])
    assert [r.key for r in delivery.delivered] == ["inv-10501", "inv-10502"] and not delivery.failed
    assert sorted(i["externalReference"] for i in h.sim.invoices) == ["10501", "10502"]
    assert len(_posts(h.sim, "/v2/customerinvoice")) == 2  # the one that timed out was never re-sent
    by_reference = {i["externalReference"]: i["referenceNumber"] for i in h.sim.invoices}
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == by_reference["10501"]  # type: ignore[union-attr]


def test_invoice_post_answered_5xx_after_committing_is_not_duplicated(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.sim.fail_5xx("/v2/customerinvoice", calls=1, status=500, commit=True)
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered
    assert len(h.sim.invoices) == 1 and _posts(h.sim, "/v2/customerinvoice") == [500]


def test_invoice_post_answered_500_without_writing_is_sent_once_more(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.sim.fail_5xx("/v2/customerinvoice", calls=1, status=500, commit=False)
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered
    assert len(h.sim.invoices) == 1 and _posts(h.sim, "/v2/customerinvoice") == [500, 201]


@pytest.mark.parametrize("fault", ["gateway-504", "no-answer"])
def test_unsettled_invoice_is_parked_and_created_once_on_the_next_run(
    make_harness: Callable[..., Harness], fault: str
) -> None:
    h = make_harness(timeout_seconds=0.5)
    _with_dependencies(h)
    if fault == "gateway-504":
        h.sim.fail_5xx("/v2/customerinvoice", calls=1, status=504)
    else:
        h.sim.stall("/v2/customerinvoice", calls=1, delay=1.5)
    first = h.target.deliver(INVOICES, [_invoice(10501)])
    [(failed, error)] = first.failed
    assert isinstance(error, OutcomeUnknown) and error.call is not None
    assert h.sim.invoices == [] and len(_posts(h.sim, "/v2/customerinvoice")) == 1

    second = h.target.deliver(INVOICES, [failed])  # the engine's retry of the parked record
    assert second.delivered and len(h.sim.invoices) == 1


def test_invoice_already_in_visma_is_linked_not_created(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.target.deliver(ACCOUNTS, [_account(1)])
    # The same invoice (customer, date, total); one that differs is parked (test_adoption).
    existing = h.sim.seed_invoice("5001", "10501", document_date="2026-11-20", lines=[[1, 100], [1, 100]])
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered and _posts(h.sim, "/v2/customerinvoice") == []
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == existing  # type: ignore[union-attr]


def test_invoice_changed_after_transfer_is_not_sent_again_nor_passed_silently(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.target.deliver(INVOICES, [_invoice(10501)])
    again = h.target.deliver(INVOICES, [_invoice(10501, Title="Edited in Severa")])
    # Visma.net keeps the transferred document (never rewritten, never duplicated); the edit is a
    # per-record failure, so the invoice is parked and not marked transferred.
    assert not again.delivered and len(h.sim.invoices) == 1 and len(_posts(h.sim, "/v2/customerinvoice")) == 1
    [(_record, error)] = again.failed
    assert error.code == "invoice_changed_after_transfer" and error.detail["reference_number"]


def test_large_invoice_goes_through_the_background_api(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(background_threshold_lines=5)
    _with_dependencies(h)
    delivery = h.target.deliver(INVOICES, [_invoice(10501, lines=5), _invoice(10502, lines=4)])
    assert len(delivery.delivered) == 2
    assert _posts(h.sim, "/v2/customerinvoice") == [202, 201]
    polls = [r for r in h.sim.requests if r[1].startswith("/v1/background/")]
    assert len(polls) == 2 and all(status == 200 for _, _, status in polls)  # Started, then Finished
    by_reference = {i["externalReference"]: i for i in h.sim.invoices}
    assert len(by_reference["10501"]["invoiceLines"]) == 5
    assert (
        h.store.get_mapping("demo", "invoices", "inv-10501").target_key
        == (  # type: ignore[union-attr]
            by_reference["10501"]["referenceNumber"]
        )
    )
    assert h.sleeps.waits and set(h.sleeps.waits) == {h.config.visma.background_poll_seconds}


def test_background_job_rejected_by_visma_comes_back_as_rejected(
    make_harness: Callable[..., Harness],
) -> None:
    # 99 is a VAT code the simulated company does not have: the job finishes with a 400.
    h = make_harness(background_threshold_lines=1, invoices={"vat_codes": {"24": "99"}})
    _with_dependencies(h)
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    [(_, error)] = delivery.failed
    assert isinstance(error, TargetRejected) and "VatCode '99' cannot be found" in str(error)
    assert error.detail["background_id"]
    background = [r for r in h.sim.requests if r[1].startswith("/v1/background/")]
    assert background[-1][1].endswith("/content") and h.sim.invoices == []


def test_expired_background_state_is_settled_by_look_up(
    sim: VismaSimulator, make_harness: Callable[..., Harness]
) -> None:
    sim.ledger.background_polls = 3
    h = make_harness(background_threshold_lines=1)
    _with_dependencies(h)
    h.sleeps.hook = lambda _: sim.expire_background()  # 24 hours pass while we wait
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered and len(sim.invoices) == 1
    assert [s for _, p, s in sim.requests if p.startswith("/v1/background/")] == [404]
    # Looked up before the POST (nothing) and after the state was gone (found).
    assert [r[:2] for r in sim.requests].count(("GET", "/v1/customerinvoice")) == 2


def test_unknown_vat_rate_is_a_mapping_error_naming_the_rate(harness: Harness) -> None:
    _with_dependencies(harness)
    bad = _invoice(10501, InvoiceRows=[InvoiceRow(rowVatRatePercent=Decimal("25.50"))])
    delivery = harness.target.deliver(INVOICES, [bad, _invoice(10502)])
    [(_, error)] = delivery.failed
    assert isinstance(error, MappingError) and "25.5%" in str(error) and error.detail["vat_rate"] == "25.5"
    assert [r.key for r in delivery.delivered] == ["inv-10502"]
    assert harness.deps.calls == [("accounts", "acc-1"), ("cases", "case-1")]  # only for the good one


def test_invoice_for_an_account_severa_does_not_have_fails_alone(harness: Harness) -> None:
    _with_dependencies(harness)
    delivery = harness.target.deliver(INVOICES, [_invoice(10501, account=9), _invoice(10502)])
    [(failed, error)] = delivery.failed
    assert failed.key == "inv-10501" and isinstance(error, SeveraNotFound)
    assert ("accounts", "acc-9") in harness.deps.calls


def test_authentication_failure_stops_the_delivery(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(company_tenant_id="customer-tenant-id")
    with pytest.raises(TargetAuthFailed):
        h.target.deliver(ACCOUNTS, [_account(1)])


def test_other_data_types_are_refused(harness: Harness) -> None:
    with pytest.raises(ConfigError):
        harness.target.deliver(registry.get("hour_entries"), [])


def test_secrets_and_tokens_never_reach_logs_or_errors(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = make_harness(timeout_seconds=0.5)
    _with_dependencies(h)
    h.sim.reject_next("/v2/customerinvoice", shape="ipp", message="Rejected")
    h.sim.commit_then_timeout("/v2/customerinvoice", delay=None)
    h.sim.fail_5xx("/v2/customerinvoice", status=504)
    delivery = h.target.deliver(INVOICES, [_invoice(n) for n in (10501, 10502, 10503, 10504)])
    h.sim.expire_tokens()
    delivery.delivered += h.target.deliver(INVOICES, [_invoice(10505)]).delivered
    assert len(delivery.failed) == 2 and len(delivery.delivered) == 3
    texts = [logged(caplog), repr(h.target.last_call()), repr(h.client)]
    texts += [str(e) + repr(e.as_log()) for _, e in delivery.failed]
    tokens = h.sim.issued_tokens
    assert len(tokens) == 2
    for text in texts:
        assert CLIENT_SECRET not in text
        assert all(token not in text for token in tokens)


def test_time_budget_spent_ends_the_delivery_without_failing_a_record(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(remaining=lambda: 0.5)  # the Lambda's time is nearly up: no call is started
    delivery = h.target.deliver(ACCOUNTS, [_account(1), _account(2)])
    assert isinstance(delivery.stopped, TimeBudgetSpent)  # the engine ends the run partial
    assert not isinstance(delivery.stopped, TargetUnavailable)
    assert not delivery.delivered and not delivery.failed  # nothing tried, nothing failed
    assert h.sim.requests == [] and h.store.mappings == {}


# -- credit notes -------------------------------------------------------------------------------
def _credit_note(number: int, credits: int | None, quantity: str = "-2", **fields: object) -> SourceRecord:
    return _invoice(
        number,
        IsCreditNote=True,
        ReimburseInvoiceGUID=f"inv-{credits}" if credits else None,
        InvoiceRows=rows(1, deliveredQuantity=Decimal(quantity)),
        **fields,
    )


def test_a_credit_note_goes_to_visma_credit_notes_positive_and_linked_to_its_invoice(
    harness: Harness,
) -> None:
    h = harness
    _with_dependencies(h)
    assert h.target.deliver(INVOICES, [_invoice(10501, lines=1)]).delivered
    delivery = h.target.deliver(INVOICES, [_credit_note(10502, credits=10501)])
    assert delivery.delivered and not delivery.failed
    assert [i["externalReference"] for i in h.sim.invoices] == ["10501"], "not an invoice"
    [note] = h.sim.credit_notes
    invoice_number = h.sim.invoices[0]["referenceNumber"]
    assert note["externalReference"] == "10502" and note["documentType"] == "CreditNote"
    assert [(line["quantity"], line["unitPriceInCurrency"]) for line in note["lines"]] == [(2.0, 100.0)]
    assert note["applications"] == [{"docType": "Invoice", "refNbr": invoice_number}]
    mapping = h.store.get_mapping("demo", "invoices", "inv-10502")
    assert mapping is not None and mapping.target_key == note["referenceNumber"]
    assert _posts(h.sim, "/v2/customerCreditNote") == [201]


def test_a_credit_note_for_an_invoice_severa_sync_did_not_transfer_goes_unlinked(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    assert h.target.deliver(INVOICES, [_credit_note(10502, credits=999)]).delivered
    [note] = h.sim.credit_notes
    assert note["applications"] == []


@pytest.mark.parametrize("delay", [1.5, None], ids=["late-answer", "dropped-connection"])
def test_a_credit_note_post_that_times_out_after_committing_is_not_duplicated(
    make_harness: Callable[..., Harness], delay: float | None
) -> None:
    h = make_harness(timeout_seconds=0.5)
    _with_dependencies(h)
    h.sim.commit_then_timeout("/v2/customerCreditNote", calls=1, delay=delay)
    delivery = h.target.deliver(
        INVOICES, [_credit_note(10502, credits=None), _credit_note(10503, credits=None)]
    )
    assert [r.key for r in delivery.delivered] == ["inv-10502", "inv-10503"] and not delivery.failed
    assert sorted(n["externalReference"] for n in h.sim.credit_notes) == ["10502", "10503"]
    assert len(_posts(h.sim, "/v2/customerCreditNote")) == 2  # the one that timed out was never re-sent


def test_a_credit_note_already_in_visma_is_linked_not_created_again(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    assert h.target.deliver(INVOICES, [_credit_note(10502, credits=None)]).delivered
    h.store.mappings.clear()  # a run that died after the write, before the mapping
    again = h.target.deliver(INVOICES, [_credit_note(10502, credits=None)])
    assert again.delivered and len(h.sim.credit_notes) == 1
    assert _posts(h.sim, "/v2/customerCreditNote") == [201]
