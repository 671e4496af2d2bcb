"""Customers with their addresses, end to end over real HTTP: the Severa simulator's seed through the
engine and VismaTarget into the Visma.net simulator, DynamoDB state in moto (issue 14, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from severa_sync.engine.engine import RunStatus, SyncEngine
from severa_sync.secrets import Secret
from severa_sync.targets.visma import VismaClient, VismaTarget
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa.seed_tables import guid
from severa_sync_tools.simulators.visma import VismaSimulator
from tests.fakes import ListAlerts

SECRET = "customers-secret"


class NoDependencies:
    def key_of(self, kind: str, guid: str) -> str:
        raise AssertionError(f"accounts have no dependencies ({kind} {guid})")


@pytest.fixture
def world(stack) -> Iterator[Any]:
    with VismaSimulator(client_secret=SECRET) as visma:
        config = stack.config.model_copy(
            update={
                "visma": stack.config.visma.model_copy(
                    update={"base_url": visma.base_url, "token_url": visma.token_url, "timeout_seconds": 5}
                )
            }
        )
        client = VismaClient(config.visma, Secret(SECRET), sleep=lambda _: None, retry_backoff_seconds=0.01)
        target = VismaTarget(client, stack.state, "acme", config, NoDependencies())  # type: ignore[arg-type]
        stack.alerts = ListAlerts()
        stack.engine = SyncEngine(
            config=config,
            source=stack.source,
            target_for=lambda dt: target,
            state=stack.state,
            alerts=stack.alerts,
            telemetry=CollectingTelemetry(),
        )
        stack.visma = visma
        yield stack


def _customer(world: Any, number: str) -> dict[str, Any]:
    return next(c for c in world.visma.customers if c["number"] == number)


def _puts(world: Any) -> list[str]:
    return [path for method, path, _ in world.visma.requests if method == "PUT"]


def test_customers_arrive_with_addresses_contacts_terms_and_e_invoicing(world: Any) -> None:
    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    acme = _customer(world, "1001")
    assert acme["mainAddress"] == {
        "addressLine1": "Mannerheimintie 12 B",
        "addressLine2": "",
        "addressLine3": "",
        "postalCode": "00100",
        "city": "Helsinki",
        "country": {"id": "FI"},
    }
    assert (acme["invoiceAddress"]["addressLine1"], acme["invoiceAddress"]["city"]) == ("PL 100", "Laskutus")
    assert acme["mainContact"] == {
        "name": "Acme Oy",
        "email": "invoices@acme.example",
        "web": "https://acme.example",
        "phone1": "+358 9 123 4567",
    }
    assert acme["eInvoiceContract"] == {
        "fInvoiceContractID": "003710000012",
        "fInvoiceIntermediatorID": "003721291126",
    }
    assert (acme["creditTerms"], acme["currencyId"], acme["corporateId"]) == (
        {"id": "14"},
        "EUR",
        "1000001-2",
    )
    # A customer with one address: it is the billing address too; a Swedish VAT id is no Finnish
    # business id, and Swedish customers carry no Finnish e-invoice address.
    northwind = _customer(world, "1003")
    assert northwind["invoiceAddress"] == northwind["mainAddress"]
    borealis = _customer(world, "1002")
    assert "corporateId" not in borealis and "eInvoiceContract" not in borealis
    assert borealis["mainAddress"]["country"] == {"id": "SE"}


def test_an_address_change_alone_reaches_visma_and_only_it_is_sent(world: Any) -> None:
    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    customer_before = world.sim.get("Customer", guid("Customer", 1001))
    world.sim.upsert("Address", {"GUID": guid("Address", "1001:billing"), "Addressline": "PL 200"})
    assert world.sim.get("Customer", guid("Customer", 1001)) == customer_before, "the customer did not change"

    result = world.engine.run("accounts")
    assert result.status is RunStatus.SUCCEEDED and result.delivered == 1
    assert _puts(world) == ["/v1/customer/1001"]
    acme = _customer(world, "1001")
    assert acme["invoiceAddress"]["addressLine1"] == "PL 200"
    assert acme["mainAddress"]["addressLine1"] == "Mannerheimintie 12 B"
    # Nothing changed since: the next run sends nothing.
    assert world.engine.run("accounts").delivered == 0 and len(_puts(world)) == 1


def test_an_update_sends_what_changed_and_leaves_the_accountants_fields(world: Any) -> None:
    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    with world.visma.ledger.lock:  # the accountants' work in Visma.net
        row = world.visma.ledger.customers["1001"]
        row["note"] = "Call before invoicing"
        row["creditTerms"] = {"id": "30"}
        row["mainAddress"] = {**row["mainAddress"], "addressLine2": "Reception 3rd floor"}
    world.sim.upsert("Customer", {"GUID": guid("Customer", 1001), "Name": "Acme Group Oy"})

    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    acme = _customer(world, "1001")
    assert acme["name"] == "Acme Group Oy"
    assert acme["mainContact"]["name"] == "Acme Group Oy"
    assert acme["note"] == "Call before invoicing"
    assert acme["creditTerms"] == {"id": "30"}, "the payment term did not change in Severa"
    assert acme["mainAddress"]["addressLine2"] == "Reception 3rd floor", "nor did the address"


def test_an_unmapped_payment_term_parks_the_customer_naming_the_term(world: Any) -> None:
    world.sim.upsert("Customer", {"GUID": guid("Customer", 1004), "PaymentTerm": 21})
    result = world.engine.run("accounts")
    assert result.status is RunStatus.SUCCEEDED_WITH_ERRORS and result.failed == 1
    [parked] = world.state.parked("acme", "accounts")
    assert parked.last_error_code == "mapping_error"
    assert "payment term 21" in parked.last_error_message
    assert "customers.credit_terms" in parked.last_error_message
    assert {c["number"] for c in world.visma.customers} == {str(n) for n in range(1001, 1009)} - {"1004"}


def test_an_address_change_is_not_passed_while_visma_is_down(world: Any) -> None:
    """The watermark never passes an address change not yet delivered: Visma.net down during the
    run, the change arrives with the next run."""
    assert world.engine.run("accounts").status is RunStatus.SUCCEEDED
    watermark_before = world.state.read_watermark("acme", "accounts").watermark
    world.sim.upsert("Address", {"GUID": guid("Address", "1002:head office"), "City": "Uppsala"})
    world.visma.fail_5xx("/v1/customer", calls=10, status=503, method="PUT")
    down = world.engine.run("accounts")
    assert down.status is not RunStatus.SUCCEEDED and down.delivered == 0
    assert _customer(world, "1002")["mainAddress"]["city"] == "Stockholm"

    world.visma.faults.clear()
    again = world.engine.run("accounts")
    assert again.status is RunStatus.SUCCEEDED, again
    assert _customer(world, "1002")["mainAddress"]["city"] == "Uppsala"
    assert world.state.read_watermark("acme", "accounts").watermark >= watermark_before
