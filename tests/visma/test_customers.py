"""A Severa account and its addresses -> CustomerUpdateDto: owned fields, nested DTOs on the wire,
credit terms and VAT zones from the configuration, and a PUT that carries only what changed."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import MappingError
from severa_sync.severa.models import Address, Customer
from severa_sync.severa.schema import ENTITIES
from severa_sync.targets.visma import customers
from severa_sync.targets.visma.wire import wrap_values
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import Harness, record
from .test_simulator import _api, _token

ACCOUNTS = registry.get("accounts")
CONFIG = TenantConfig.model_validate(
    {
        "tenant": "demo",
        "invoices": {"customer_class_id": "7"},
        "customers": {
            "credit_terms": {"14": "14", "30": "30"},
            "reverse_charge_vat_zone": "02",
            "domestic_vat_zone": "01",
        },
    }
)
HEAD_OFFICE = Address(
    GUID="b-head",
    Addressline="Mannerheimintie 12 B",
    PostalCode="00100",
    City="Helsinki",
    CountryCode="fi",
    Phone="+358 9 123",
    IsPostalAddress=True,
    IsVisitAddress=True,
)
BILLING = Address(
    GUID="a-bill", Addressline="PL 100", PostalCode="00021", City="Laskutus", IsBillingAddress=True
)


def _account(addresses: list[Address] | None = None, **members: Any) -> Customer:
    values: dict[str, Any] = {
        "GUID": "acc-1",
        "Number": 1001,
        "Name": "Acme Oy",
        "IsActive": True,
        "VatNumber": "FI10000012",
        "Email": "invoices@acme.example",
        "Website": "https://acme.example",
        "CurrencyCode": "eur",
        "PaymentTerm": 14,
        "ReverseCharge": False,
        "HeadOfficeAddressGUID": "b-head",
        "eInvoiceAddress": "003710000012",
        "eInvoiceOperator": "003721291126",
        **members,
    }
    customer = Customer(**values)
    return customer.model_copy(
        update={"Addresses": [HEAD_OFFICE, BILLING] if addresses is None else addresses}
    )


def _fields(customer: Customer) -> dict[str, Any]:
    return customer.model_dump(mode="json", by_alias=True)


def _record(customer: Customer) -> SourceRecord:
    return record(customer, display_key="Acme Oy (1001)")


def test_members_read_exist_in_the_severa_contract() -> None:
    for entity, members in customers.FIELDS_READ.items():
        assert set(members) <= {m.name for m in ENTITIES[entity]}, entity
    assert ACCOUNTS.attached[0].member == customers.ADDRESSES


def test_create_carries_every_owned_field_that_has_a_value() -> None:
    dto = customers.create_dto(_fields(_account()), CONFIG)
    assert dto == {
        "number": "1001",
        "name": "Acme Oy",
        "status": "Active",
        "vatRegistrationId": "FI10000012",
        "corporateId": "1000001-2",
        "currencyId": "EUR",
        "creditTermsId": "14",
        "vatZoneId": "01",
        "mainAddress": {
            "addressLine1": "Mannerheimintie 12 B",
            "addressLine2": "",
            "addressLine3": "",
            "postalCode": "00100",
            "city": "Helsinki",
            "countryId": "FI",
        },
        "mainContact": {
            "name": "Acme Oy",
            "email": "invoices@acme.example",
            "web": "https://acme.example",
            "phone1": "+358 9 123",
        },
        "invoiceAddress": {
            "addressLine1": "PL 100",
            "addressLine2": "",
            "addressLine3": "",
            "postalCode": "00021",
            "city": "Laskutus",
        },
        "invoiceContact": {"name": "Acme Oy", "email": "invoices@acme.example"},
        "eInvoiceContract": {"fInvoiceContractID": "003710000012", "fInvoiceIntermediatorID": "003721291126"},
        "customerClassId": "7",
        "overrideWithClassValues": True,
    }
    assert set(dto) == set(customers.OWNED) | set(customers.CREATE_ONLY)


def test_on_the_wire_nested_dtos_are_wrapped_objects_of_wrapped_members() -> None:
    wire = wrap_values(customers.create_dto(_fields(_account()), CONFIG))
    assert wire["mainAddress"] == {
        "value": {
            "addressLine1": {"value": "Mannerheimintie 12 B"},
            "addressLine2": {"value": ""},
            "addressLine3": {"value": ""},
            "postalCode": {"value": "00100"},
            "city": {"value": "Helsinki"},
            "countryId": {"value": "FI"},
        }
    }
    assert wire["eInvoiceContract"]["value"]["fInvoiceIntermediatorID"] == {"value": "003721291126"}
    assert wire["overrideWithClassValues"] is True and wire["creditTermsId"] == {"value": "14"}


@pytest.mark.parametrize(
    ("addresses", "head_office", "main", "billing"),
    [
        ([HEAD_OFFICE, BILLING], "b-head", "Mannerheimintie 12 B", "PL 100"),
        ([HEAD_OFFICE], "b-head", "Mannerheimintie 12 B", "Mannerheimintie 12 B"),  # one for both
        ([BILLING, HEAD_OFFICE], None, "Mannerheimintie 12 B", "PL 100"),  # no head office: the postal
        ([BILLING], "gone", "PL 100", "PL 100"),  # the head office GUID names no address
    ],
)
def test_main_and_billing_address(
    addresses: list[Address], head_office: str | None, main: str, billing: str
) -> None:
    dto = customers.create_dto(_fields(_account(addresses, HeadOfficeAddressGUID=head_office)), CONFIG)
    assert (dto["mainAddress"]["addressLine1"], dto["invoiceAddress"]["addressLine1"]) == (main, billing)


def test_without_addresses_or_optional_members_nothing_empty_is_sent() -> None:
    bare = Customer(GUID="g", Number=5, Name="Bare Oy").model_copy(update={"Addresses": []})
    assert customers.create_dto(_fields(bare), CONFIG) == {
        "number": "5",
        "name": "Bare Oy",
        "status": "Active",
        "mainContact": {"name": "Bare Oy"},
        "invoiceContact": {"name": "Bare Oy"},
        "customerClassId": "7",
        "overrideWithClassValues": True,
    }


@pytest.mark.parametrize(
    ("vat", "corporate"),
    [("FI10000012", "1000001-2"), ("fi 1000 0012", "1000001-2"), ("SE556012345601", None), ("FI123", None)],
)
def test_corporate_id_is_the_finnish_business_id_of_a_finnish_vat_number(
    vat: str, corporate: str | None
) -> None:
    assert customers.corporate_id(vat) == corporate


def test_reverse_charge_picks_the_vat_zone_and_an_unset_zone_is_left_out() -> None:
    assert customers.vat_zone(_fields(_account(ReverseCharge=True)), CONFIG) == "02"
    assert customers.vat_zone(_fields(_account(ReverseCharge=None)), CONFIG) is None
    unset = CONFIG.model_copy(
        update={"customers": CONFIG.customers.model_copy(update={"domestic_vat_zone": None})}
    )
    assert customers.vat_zone(_fields(_account()), unset) is None


def test_an_unmapped_payment_term_is_a_mapping_error_naming_the_term() -> None:
    with pytest.raises(MappingError) as caught:
        customers.create_dto(_fields(_account(PaymentTerm=21)), CONFIG)
    assert "payment term 21 days" in str(caught.value) and "customers.credit_terms" in str(caught.value)
    assert caught.value.detail == {"field": "Customer.PaymentTerm", "payment_term": "21"}
    assert "creditTermsId" not in customers.create_dto(_fields(_account(PaymentTerm=None)), CONFIG)


def test_an_update_sends_only_the_owned_fields_that_changed() -> None:
    first, sent = customers.update_dto(_fields(_account()), CONFIG, None)
    assert set(first) == {k for k in customers.OWNED}, "no digests yet: every owned field"
    again, same = customers.update_dto(_fields(_account()), CONFIG, sent)
    assert again == {} and same == sent
    moved = _account([HEAD_OFFICE, BILLING.model_copy(update={"Addressline": "PL 200"})])
    changed, _ = customers.update_dto(_fields(moved), CONFIG, sent)
    assert list(changed) == ["invoiceAddress"] and changed["invoiceAddress"]["addressLine1"] == "PL 200"
    unreadable, _ = customers.update_dto(_fields(_account()), CONFIG, {customers.SENT_DIGESTS: "{not json"})
    assert set(unreadable) == set(customers.OWNED)


# -- over HTTP: the simulator checks the nested DTOs as the spec has them --------------------------
def test_the_target_creates_then_puts_only_the_change(harness: Harness) -> None:
    h = harness
    assert h.target.deliver(ACCOUNTS, [_record(_account())]).delivered
    [created] = h.sim.customers
    assert created["invoiceAddress"]["addressLine1"] == "PL 100"
    assert created["mainAddress"]["country"] == {"id": "FI"}
    with h.sim.ledger.lock:
        h.sim.ledger.customers["1001"]["mainContact"]["phone2"] = "accountant's line"
    renamed = _account(Name="Acme Group Oy")
    assert h.target.deliver(ACCOUNTS, [_record(renamed)]).delivered
    [updated] = h.sim.customers
    assert (updated["name"], updated["mainContact"]["name"]) == ("Acme Group Oy", "Acme Group Oy")
    assert updated["mainContact"]["phone2"] == "accountant's line"
    mapping = h.store.get_mapping("demo", "accounts", "acc-1")
    assert mapping is not None and customers.SENT_DIGESTS in mapping.extra


def test_a_change_to_no_owned_field_makes_no_call(harness: Harness) -> None:
    h = harness
    h.target.deliver(ACCOUNTS, [_record(_account())])
    calls = len(h.sim.requests)
    notes = _account(Notes="a Severa note severa-sync does not send")
    assert h.target.deliver(ACCOUNTS, [_record(notes)]).delivered
    assert len(h.sim.requests) == calls


def _put(sim: VismaSimulator, body: dict[str, Any]) -> requests.Response:
    token = _token(sim).json()["access_token"]
    return _api(sim, "PUT", "/v1/customer/1001", token, json=body)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"mainAddress": {"addressLine1": {"value": "x"}}}, "must be sent as"),  # the object bare
        ({"mainAddress": {"value": {"addressLine1": "x"}}}, "must be sent as"),  # a member bare
        ({"mainAddress": {"value": {"street": {"value": "x"}}}}, "'mainAddress.street' is not a member"),
        ({"mainAddress": {"value": "Mannerheimintie 12"}}, "must be a AddressUpdateDto object"),
        (
            {"eInvoiceContract": {"value": {"fInvoiceContractId": {"value": "x"}}}},
            "EInvoiceContractUpdateDto",
        ),
        ({"mainContact": {"value": {"email": {"value": 5}}}}, "must be a string"),
        ({"creditTermsId": {"value": "99"}}, "'Terms' cannot be found"),
        ({"status": {"value": "Closed"}}, "is not one of"),
    ],
)
def test_the_simulator_refuses_what_the_spec_does_not_allow(
    harness: Harness, body: dict[str, Any], complaint: str
) -> None:
    harness.target.deliver(ACCOUNTS, [_record(_account())])
    answer = _put(harness.sim, body)
    assert answer.status_code == 400 and complaint in answer.text
