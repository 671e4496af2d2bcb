"""Adoption by key checks that it is the same document (issue 11, class 6).

A Visma.net document found under the key a record would use is adopted only when severa-sync
created it or it matches by the rule of docs/operations.md ("what adoption accepts"); otherwise the
record is parked with ``ForeignDocument`` naming both documents, and the document is not touched.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pytest

from severa_sync.engine.ports import Mapping
from severa_sync.errors import Disposition, ForeignDocument
from severa_sync.targets.visma.adoption import normal_name, normal_vat, same_vat
from severa_sync.targets.visma.creations import CREATING

from .conftest import Harness, MemoryMappings
from .test_target import ACCOUNTS, CASES, INVOICES, _account, _case, _invoice, _posts, _with_dependencies


def _puts(h: Harness) -> list[str]:
    return [path for method, path, _ in h.sim.requests if method == "PUT"]


def _foreign(delivery_failed: Sequence[tuple[object, Exception]]) -> ForeignDocument:
    [(_record, error)] = delivery_failed
    assert isinstance(error, ForeignDocument), error
    assert error.disposition is Disposition.PER_RECORD
    return error


# -- customers -------------------------------------------------------------------------------------
def test_an_accountants_own_customer_with_the_same_number_is_not_renamed(harness: Harness) -> None:
    h = harness
    h.sim.seed_customer("5001", "Typed in by hand")  # no VAT id, another name
    before = copy.deepcopy(h.sim.customers)
    delivery = h.target.deliver(ACCOUNTS, [_account(1)])
    error = _foreign(delivery.failed)
    assert not delivery.delivered and h.sim.customers == before
    assert _puts(h) == [] and _posts(h.sim, "/v1/customer") == []
    assert "account 5001" in error.message and "customer 5001 'Typed in by hand'" in error.message
    assert "names differ" in error.message and "FI00000001" not in error.message  # no needless data
    assert h.store.get_mapping("demo", "accounts", "acc-1") is None


def test_a_customer_with_another_vat_id_is_foreign_even_with_the_same_name(harness: Harness) -> None:
    harness.sim.seed_customer("5001", "Account 1 Oy", vat_registration_id="FI99999999")
    error = _foreign(harness.target.deliver(ACCOUNTS, [_account(1)]).failed)
    assert "VAT ids differ" in error.message and "FI99999999" not in error.message


@pytest.mark.parametrize(
    ("name", "vat"),
    [
        ("Old name of the account", "fi 0000000-1"),  # same VAT id, renamed: ours by VAT id
        ("Old name of the account", "00000001"),  # same VAT id without its country prefix
        ("ACCOUNT  1 oy.", None),  # no VAT id there: the same name, written differently
    ],
)
def test_a_matching_customer_is_adopted_and_updated(harness: Harness, name: str, vat: str | None) -> None:
    h = harness
    h.sim.seed_customer("5001", name, vat_registration_id=vat)
    delivery = h.target.deliver(ACCOUNTS, [_account(1)])
    assert delivery.delivered and not delivery.failed
    assert [c["name"] for c in h.sim.customers] == ["Account 1 Oy"]
    assert _posts(h.sim, "/v1/customer") == []
    assert h.store.get_mapping("demo", "accounts", "acc-1").target_key == "5001"  # type: ignore[union-attr]


def test_normalisation_of_names_and_vat_ids() -> None:
    assert normal_name(" Acme   Oy. ") == normal_name("ACME oy") == "acme oy"
    assert normal_name("Müller GmbH") == normal_name("MÜLLER  GMBH")
    assert same_vat(normal_vat("FI 1234567-8"), normal_vat("12345678"))
    assert not same_vat(normal_vat("SE12345678"), normal_vat("FI12345678"))
    assert not same_vat(normal_vat("12345678"), normal_vat("12345679"))


# -- projects --------------------------------------------------------------------------------------
def test_a_project_of_another_customer_with_the_same_id_is_not_changed(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    h.sim.seed_customer("4000", "Someone else")
    h.sim.seed_project("701", "4000", "Project 1")
    before = copy.deepcopy(h.sim.projects)
    error = _foreign(h.target.deliver(CASES, [_case(1)]).failed)
    assert h.sim.projects == before and not [p for p in _puts(h) if p.startswith("/v1/project")]
    assert "case 701" in error.message and "project 701" in error.message
    assert "customer 4000, not 5001" in error.message


def test_a_project_with_another_description_is_foreign(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    h.target.deliver(ACCOUNTS, [_account(1)])
    h.sim.seed_project("701", "5001", "The accountants' own project")
    error = _foreign(h.target.deliver(CASES, [_case(1)]).failed)
    assert "description is not the case name" in error.message


def test_a_matching_project_is_adopted(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    h.target.deliver(ACCOUNTS, [_account(1)])
    h.sim.seed_project("701", "5001", "project 1", status="Planned")
    delivery = h.target.deliver(CASES, [_case(1)])
    assert delivery.delivered and [p["status"] for p in h.sim.projects] == ["Active"]
    assert _posts(h.sim, "/v1/project") == []


# -- invoices --------------------------------------------------------------------------------------
def test_a_hand_typed_invoice_with_the_same_external_reference_is_not_taken(harness: Harness) -> None:
    """The issue's case: another customer, no lines. Severa must not be marked transferred."""
    h = harness
    _with_dependencies(h)
    h.sim.seed_customer("4000", "Someone else")
    typed = h.sim.seed_invoice("4000", "10501", document_date="2026-11-20")
    before = copy.deepcopy(h.sim.invoices)
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    error = _foreign(delivery.failed)
    assert not delivery.delivered and h.sim.invoices == before
    assert _posts(h.sim, "/v2/customerinvoice") == []
    assert "invoice 10501" in error.message and f"invoice {typed}" in error.message
    assert "customer 4000, not 5001" in error.message and "no total and no lines" not in error.message
    assert error.detail["visma_key"] == typed
    assert h.store.get_mapping("demo", "invoices", "inv-10501") is None


@pytest.mark.parametrize(
    ("date", "lines", "differs"),
    [
        ("2026-11-21", [[1, 100], [1, 100]], "document date differs"),
        ("2026-11-20", [[1, 100], [1, 90]], "total differs"),
        ("2026-11-20", None, "total differs"),  # typed in by hand: no lines, total 0
    ],
)
def test_an_invoice_of_the_same_customer_that_differs_is_foreign(
    harness: Harness, date: str, lines: list[list[float]] | None, differs: str
) -> None:
    h = harness
    _with_dependencies(h)
    h.target.deliver(ACCOUNTS, [_account(1)])
    h.sim.seed_invoice("5001", "10501", document_date=date, lines=lines)
    error = _foreign(h.target.deliver(INVOICES, [_invoice(10501)]).failed)
    assert differs in error.message


def test_a_matching_invoice_is_linked_within_rounding(harness: Harness) -> None:
    h = harness
    _with_dependencies(h)
    h.target.deliver(ACCOUNTS, [_account(1)])
    existing = h.sim.seed_invoice("5001", "10501", document_date="2026-11-20", lines=[[1, 100.004], [1, 100]])
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered and _posts(h.sim, "/v2/customerinvoice") == []
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == existing  # type: ignore[union-attr]


# -- our own documents, whose mapping was never saved ------------------------------------------------
class DiesOnMapping(MemoryMappings):
    """The Lambda dies right after the write, before the mapping of ``data_type`` is saved."""

    def __init__(self, data_type: str) -> None:
        super().__init__()
        self.data_type, self.armed = data_type, True

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None:
        if data_type == self.data_type and self.armed:
            self.armed = False
            raise SystemExit("killed")
        super().put_mapping(tenant, data_type, key, mapping)


def test_our_own_customer_is_adopted_although_renamed_since_the_run_died(harness: Harness) -> None:
    h = harness
    store = DiesOnMapping("accounts")
    h.target._state = store
    h.target._creations._state = store
    with pytest.raises(SystemExit):
        h.target.deliver(ACCOUNTS, [_account(1, VatNumber=None)])
    assert [c["name"] for c in h.sim.customers] == ["Account 1 Oy"]  # written, mapping not saved
    renamed = h.target.deliver(ACCOUNTS, [_account(1, VatNumber=None, Name="Renamed meanwhile")])
    assert renamed.delivered and not renamed.failed
    assert [c["name"] for c in h.sim.customers] == ["Renamed meanwhile"]
    assert _posts(h.sim, "/v1/customer") == [201]
    assert not [k for k in store.mappings if k[1] == CREATING]  # the creation record is gone


def test_our_own_project_is_adopted_although_renamed_since_the_run_died(harness: Harness) -> None:
    h = harness
    h.deps.add(_account(1))
    store = DiesOnMapping("cases")
    h.target._state = store
    h.target._creations._state = store
    h.deps.store = store
    with pytest.raises(SystemExit):
        h.target.deliver(CASES, [_case(1)])
    renamed = h.target.deliver(CASES, [_case(1, Name="Renamed meanwhile")])
    assert renamed.delivered and [p["description"] for p in h.sim.projects] == ["Renamed meanwhile"]
    assert _posts(h.sim, "/v1/project") == [201]


def test_a_refused_creation_leaves_no_creation_record(harness: Harness) -> None:
    h = harness
    h.sim.reject_next("/v1/customer", method="POST")
    delivery = h.target.deliver(ACCOUNTS, [_account(1)])
    assert delivery.failed and not [k for k in h.store.mappings if k[1] == CREATING]
    h.sim.seed_customer("5001", "An accountant typed it in afterwards")
    _foreign(h.target.deliver(ACCOUNTS, [_account(1)]).failed)  # not taken for ours
