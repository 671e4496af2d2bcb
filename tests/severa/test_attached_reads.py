"""Records read with each record (``DataType.attached``: a customer's addresses): one call per
record, by its GUID; the content hash covers them in any order; one that does not decode parks
its record alone, with the rest of the answer delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from severa_sync import registry
from severa_sync.engine.ports import Window
from severa_sync.errors import SeveraRecordUndecodable
from severa_sync.severa.source import SeveraSource
from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer, MakeClient, Seen

ACCOUNTS = registry.get("accounts")
ADDRESSES = "IAddress/GetAddressesChangedSince"
CUSTOMERS = "ICustomer/GetCustomersChangedSince"
LONG_AGO = Window(datetime(2000, 1, 1, tzinfo=UTC))


def _address(n: int, **members: Any) -> dict[str, Any]:
    return {
        "GUID": env.guid(n, 30),
        "Addressline": f"Street {n}",
        "City": "Helsinki",
        "IsPostalAddress": True,
        **members,
    }


def _answering(addresses: dict[str, list[dict[str, Any]]]) -> Any:
    def answer(seen: Seen) -> Canned:
        account = next(key for key in addresses if key.encode() in seen.body)
        return Canned(env.list_envelope(ADDRESSES, addresses[account]))

    return answer


def _read(server: CannedServer, source: SeveraSource, customers: list[dict[str, Any]]) -> list[Any]:
    server.push(Canned(env.list_envelope(CUSTOMERS, customers)))
    return list(source.read(ACCOUNTS, LONG_AGO))


def test_each_customer_carries_its_addresses_read_by_its_guid(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    one, two = env.customer(1), env.customer(2)
    server.attached[ADDRESSES] = _answering(
        {one["GUID"]: [_address(1), _address(2, IsBillingAddress=True)], two["GUID"]: []}
    )
    first, second = _read(server, SeveraSource(make_client(), tenant_config), [one, two])
    assert [a.Addressline for a in first.payload.Addresses] == ["Street 1", "Street 2"]
    assert second.payload.Addresses == []
    bodies = [seen.body for seen in server.attached_requests]
    assert len(bodies) == 2 and one["GUID"].encode() in bodies[0] and two["GUID"].encode() in bodies[1]
    assert b"2000-01-01T00:00:00Z" in bodies[0] and b"<ns0:options>2</ns0:options>" in bodies[0]


def test_the_hash_covers_the_addresses_whatever_order_they_come_in(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    source = SeveraSource(make_client(), tenant_config)
    one = env.customer(1)
    hashes = []
    for addresses in (
        [_address(1), _address(2)],
        [_address(2), _address(1)],
        [_address(1), _address(2, City="Espoo")],
        [_address(1)],
    ):
        server.attached[ADDRESSES] = _answering({one["GUID"]: addresses})
        [record] = _read(server, source, [one])
        hashes.append(record.content_hash)
    assert hashes[0] == hashes[1], "the order Severa answers in is no change"
    assert len({hashes[0], hashes[2], hashes[3]}) == 3, "an address changed or gone is a change"


def test_a_customer_without_a_company_has_no_addresses_to_read(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    [record] = _read(server, SeveraSource(make_client(), tenant_config), [env.customer(1, CompanyGUID=None)])
    assert record.payload.Addresses == [] and server.attached_requests == []


def test_an_address_that_does_not_decode_parks_its_customer_alone(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    one, two = env.customer(1), env.customer(2)
    server.attached[ADDRESSES] = _answering(
        {one["GUID"]: [_address(1, IsBillingAddress="perhaps")], two["GUID"]: [_address(2)]}
    )
    first, second = _read(server, SeveraSource(make_client(), tenant_config), [one, two])
    assert isinstance(first.error, SeveraRecordUndecodable) and first.key == one["GUID"]
    assert "Addresses of Customer 1 Oy" in first.error.message and "perhaps" not in first.error.message
    assert first.error.detail["attached"] == "Addresses"
    assert second.error is None and second.payload.Addresses[0].Addressline == "Street 2"


def test_every_legal_form_of_an_address_decodes(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    """xs:boolean as 1/0 as well as true/false, nil members, absent members, an empty string."""
    one = env.customer(1)
    written = [
        _address(1, IsBillingAddress="1", IsPostalAddress="0", Addressline2=None, Phone=""),
        {"GUID": env.guid(2, 30)},  # every other member absent
    ]
    server.attached[ADDRESSES] = _answering({one["GUID"]: written})
    [record] = _read(server, SeveraSource(make_client(), tenant_config), [one])
    first, second = record.payload.Addresses
    assert record.error is None
    assert (first.IsBillingAddress, first.IsPostalAddress, first.Addressline2) == (True, False, None)
    assert first.Phone in ("", None) and second.City is None and second.IsBillingAddress is None
