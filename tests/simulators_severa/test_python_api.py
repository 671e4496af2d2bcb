"""The Python face of the simulator: copies, validation, lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import API_KEY, NOW


def test_records_are_copies() -> None:
    sim = SeveraSimulator(now=NOW)
    invoice = sim.records("Invoice")[0]
    invoice["InvoiceRows"][0]["rowAmount"] = 0
    invoice["Title"] = "changed outside"
    again = sim.get("Invoice", invoice["GUID"])
    assert again is not None
    assert again["Title"] != "changed outside" and again["InvoiceRows"][0]["rowAmount"] != 0


def test_upsert_creates_merges_and_validates() -> None:
    sim = SeveraSimulator(now=NOW, seed=False)
    created = sim.upsert("Case", {"Name": "New case", "CaseNumber": 1}, at=NOW - timedelta(hours=1))
    assert created["InsertTs"] == created["UpdatedTs"] == NOW - timedelta(hours=1)
    merged = sim.upsert("Case", {"GUID": created["GUID"].upper(), "Name": "Renamed"})
    assert (merged["GUID"], merged["Name"], merged["CaseNumber"]) == (created["GUID"], "Renamed", 1)
    assert merged["InsertTs"] == NOW - timedelta(hours=1) and merged["UpdatedTs"] == NOW  # default `at` = now
    with pytest.raises(ValueError, match="no member"):
        sim.upsert("Case", {"Colour": "red"})
    with pytest.raises(ValueError, match="CaseNumber"):
        sim.upsert("Case", {"CaseNumber": "twelve"})
    with pytest.raises(ValueError, match="unknown entity"):
        sim.upsert("Spaceship", {})
    with pytest.raises(ValueError, match="not a GUID"):
        sim.upsert("Case", {"GUID": "case-1"})
    with pytest.raises(ValueError, match="Name"):
        sim.upsert("InvoiceStatus", {"SortOrder": 9})


def test_get_with_a_non_guid_finds_nothing() -> None:
    sim = SeveraSimulator(now=NOW)
    assert sim.get("Customer", "not-a-guid") is None
    assert sim.get("InvoiceStatus", "Paid") is not None


def test_lifecycle_and_repr() -> None:
    sim = SeveraSimulator(api_key=API_KEY, now=NOW)
    with pytest.raises(RuntimeError):
        _ = sim.url
    sim.start()
    try:
        assert sim.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            sim.start()
        assert API_KEY not in repr(sim)
    finally:
        sim.stop()
    sim.stop()  # idempotent
    with sim:  # and it can serve again
        assert sim.url.endswith("/webservice/S3/API.svc")
