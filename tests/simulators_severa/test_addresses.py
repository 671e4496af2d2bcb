"""Addresses in the simulator: their own change times, ``IAddress/GetAddressesChangedSince`` by
account, and ``CheckAddressChanges`` (64) on the customer reads; changed over the admin API too."""

from __future__ import annotations

from datetime import timedelta

import requests

from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.severa.seed_tables import guid

from .conftest import NOW, post
from .test_semantics import customers_since, guids, iso

ACME = guid("Customer", 1001)
LATER = NOW + timedelta(minutes=10)


def addresses_since(sim: SeveraSimulator, account: str, since: str, options: int = 0) -> list[str]:
    params = f"<accountGUID>{account}</accountGUID><startDateTime>{since}</startDateTime><options>{options}</options>"
    return guids(post(sim, "IAddress/GetAddressesChangedSince", params), "Address")


def test_an_account_answers_its_companys_addresses_changed_since(sim: SeveraSimulator) -> None:
    head_office, billing = guid("Address", "1001:head office"), guid("Address", "1001:billing")
    assert set(addresses_since(sim, ACME, "2000-01-01")) == {head_office, billing}
    assert addresses_since(sim, ACME, iso(LATER)) == []
    sim.upsert("Address", {"GUID": billing, "City": "Espoo"}, at=LATER)
    assert addresses_since(sim, ACME, iso(LATER)) == [billing]
    assert sim.get("Address", billing)["City"] == "Espoo"  # type: ignore[index]


def test_unknown_accounts_have_none_and_an_empty_account_means_every_one(sim: SeveraSimulator) -> None:
    assert addresses_since(sim, guid("Customer", 4242), "2000-01-01") == []
    assert len(addresses_since(sim, "", "2000-01-01")) == len(sim.records("Address"))


def test_addresses_of_inactive_accounts_only_with_option_2(sim: SeveraSimulator) -> None:
    sim.upsert("Customer", {"GUID": ACME, "IsActive": False})
    assert addresses_since(sim, ACME, "2000-01-01") == []
    assert len(addresses_since(sim, ACME, "2000-01-01", options=2)) == 2


def test_check_address_changes_answers_the_customer_of_a_changed_address(sim: SeveraSimulator) -> None:
    sim.upsert("Address", {"GUID": guid("Address", "1001:billing"), "City": "Espoo"}, at=LATER)
    assert customers_since(sim, iso(LATER), options=6) == []  # the customer itself did not change
    assert customers_since(sim, iso(LATER), options=70) == [ACME]
    assert customers_since(sim, iso(LATER), options=65) == []  # NewOnly: inserted customers only


def test_the_admin_api_changes_an_address(sim: SeveraSimulator) -> None:
    billing = guid("Address", "1001:billing")
    answer = requests.post(
        f"{sim.admin_url}/upsert",
        json={"entity": "Address", "record": {"GUID": billing, "Addressline": "PL 300"}, "at": iso(LATER)},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    assert addresses_since(sim, ACME, iso(LATER)) == [billing]
    assert (
        requests.get(f"{sim.admin_url}/records/Address/{billing}", timeout=5).json()["Addressline"]
        == "PL 300"
    )
