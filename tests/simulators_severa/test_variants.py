"""The simulator writes every legal WCF form on demand (DateTime forms per answer and per record,
character references for characters XML 1.0 forbids), answers HTML with HTTP 200, and honours
``ExcludeNotNumbered`` (prospects)."""

from __future__ import annotations

import re

import pytest

from severa_sync_tools.simulators.severa import SeveraSimulator, wire
from severa_sync_tools.simulators.severa.variants import FORMS

from .conftest import post

CUSTOMERS = "ICustomer/GetCustomersChangedSince"
SINCE = "<startDateTime>2000-01-01T00:00:00Z</startDateTime>"
STAMP = re.compile(rb"<a:UpdatedTS>([^<]*)</a:UpdatedTS>")


def _stamps(sim: SeveraSimulator, options: int = 2) -> list[bytes]:
    answer = post(sim, CUSTOMERS, f"{SINCE}<options>{options}</options>")
    assert answer.status_code == 200
    return STAMP.findall(answer.content)


def test_every_form_writes_the_same_instant(sim: SeveraSimulator) -> None:
    seen = {}
    for name in FORMS:
        sim.datetime_forms(name)
        seen[name] = _stamps(sim)[0]
    assert (
        seen["utc"].endswith(b"Z") and b"+" not in seen["unspecified"] and seen["offset"].endswith(b"+02:00")
    )
    assert re.search(rb"\.\d{7}Z$", seen["ticks"])
    assert len({wire.parse_datetime(value.decode()) for value in seen.values()}) == 1


def test_per_answer_and_per_record_forms_vary(sim: SeveraSimulator) -> None:
    sim.datetime_forms("per_answer", seed=3)
    answers = [set(map(_shape, _stamps(sim))) for _ in range(8)]
    assert all(len(shapes) == 1 for shapes in answers)  # one form within an answer
    assert len(set().union(*answers)) > 1  # another form in another answer
    sim.datetime_forms("per_record", seed=3)
    assert len(set(map(_shape, _stamps(sim)))) > 1
    with pytest.raises(ValueError, match="unknown DateTime form"):
        sim.datetime_forms("local")


def _shape(text: bytes) -> bytes:
    return re.sub(rb"\d", b"9", text)


def test_characters_illegal_in_xml_are_written_as_references(sim: SeveraSimulator) -> None:
    guid = sim.records("Customer")[0]["GUID"]
    sim.upsert("Customer", {"GUID": guid, "Notes": "one\x0btwo\x00three\r\n"})
    body = post(sim, "ICustomer/GetCustomerByGUID", f"<accountGuid>{guid}</accountGuid>").content
    assert b"one&#xB;two&#x0;three&#xD;\n" in body


def test_html_next_answers_200_with_a_page_then_soap_again(sim: SeveraSimulator) -> None:
    sim.html_next(calls=1, operation=CUSTOMERS, page="wrong_url")
    version = post(sim, "IAPI/GetVersion")
    assert version.headers["Content-Type"].startswith("text/xml")  # another operation: not affected
    page = post(sim, CUSTOMERS, f"{SINCE}<options>2</options>")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert b"<title>Visma Severa</title>" in page.content
    assert _stamps(sim)  # only one call was asked for
    with pytest.raises(ValueError, match="unknown page"):
        sim.html_next(page="teapot")


def test_exclude_not_numbered_leaves_out_prospects(sim: SeveraSimulator) -> None:
    prospect = sim.upsert("Customer", {"Name": "Maybe Oy", "Number": None, "IsActive": True})
    every = post(sim, CUSTOMERS, f"{SINCE}<options>2</options>").content
    numbered = post(sim, CUSTOMERS, f"{SINCE}<options>6</options>").content
    paged = post(
        sim,
        "ICustomer/GetAllCustomers",
        "<options>6</options><startFromIndex>0</startFromIndex><count>100</count>",
    ).content
    assert prospect["GUID"].encode() in every
    assert prospect["GUID"].encode() not in numbered and prospect["GUID"].encode() not in paged
    assert numbered.count(b"<a:Customer>") == every.count(b"<a:Customer>") - 1
