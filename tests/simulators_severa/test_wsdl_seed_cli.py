"""The WSDL is served unchanged; the seed is deterministic and shaped for the demo; main() serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import NOW, WSDL_PATH


@pytest.mark.parametrize("suffix", ["/WSDL", "/WSDL?wsdl", "?wsdl"])
def test_wsdl_is_served_byte_identical(sim: SeveraSimulator, suffix: str) -> None:
    response = requests.get(sim.url + suffix, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.content == Path(WSDL_PATH).read_bytes()
    assert sim.wsdl_url == sim.url + "/WSDL"


def test_unknown_paths_are_404(sim: SeveraSimulator) -> None:
    assert requests.get(sim.url.replace("API.svc", "Other.svc"), timeout=10).status_code == 404


def test_seed_is_deterministic_given_now() -> None:
    first, second = SeveraSimulator(now=NOW), SeveraSimulator(now=NOW)
    for entity in (
        "Customer",
        "Case",
        "Invoice",
        "InvoiceStatus",
        "HourEntry",
        "Activity",
        "ActivityType",
        "User",
    ):
        assert first.records(entity) == second.records(entity), entity
    later = SeveraSimulator(now=NOW + timedelta(days=1))
    assert [r["GUID"] for r in later.records("Customer")] == [r["GUID"] for r in first.records("Customer")]
    assert later.records("Customer") != first.records("Customer")  # times move with `now`


def test_default_seed_is_relative_to_today() -> None:
    sim = SeveraSimulator()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = [sim.change_time("Customer", r["GUID"]) for r in sim.records("Customer")]
    assert all(t is not None and today - timedelta(days=30) <= t < today for t in times)


def test_seed_change_times_are_recent_and_before_now() -> None:
    sim = SeveraSimulator(now=NOW)
    for entity in ("Customer", "Case", "Invoice", "HourEntry", "Activity", "User"):
        key = "GUID"
        for record in sim.records(entity):
            changed = sim.change_time(entity, record[key])
            assert changed is not None and NOW - timedelta(days=30) <= changed < NOW, (entity, record[key])


def test_seed_has_the_demo_shape() -> None:
    sim = SeveraSimulator(now=NOW)
    invoices = {r["Number"]: r for r in sim.records("Invoice")}
    ready = sorted(n for n, r in invoices.items() if r["InvoiceStatus"] == "Ready for transfer")
    assert ready == [10501, 10502, 10503]
    rates = {n: {row["rowVatRatePercent"] for row in invoices[n]["InvoiceRows"]} for n in ready}
    assert Decimal(17) in rates[10502]
    assert all(Decimal(17) not in rates[n] for n in (10501, 10503))
    customers = {r["GUID"]: r for r in sim.records("Customer")}
    cases = {r["GUID"]: r for r in sim.records("Case")}
    for invoice in invoices.values():
        assert invoice["AccountGUID"] in customers and invoice["MainCaseGUID"] in cases
        assert 1 <= len(invoice["InvoiceRows"]) <= 3
        for row in invoice["InvoiceRows"]:
            assert row["rowAmount"] == row["rowVatExcludedAmount"] + row["rowVatAmount"]
    assert all(c["AccountGUID"] in customers for c in cases.values())
    assert all(c["Number"] and c["VatNumber"] for c in customers.values())
    assert [s["Name"] for s in sim.records("InvoiceStatus")] == [
        "Draft",
        "Ready for transfer",
        "Transferred",
        "Sent",
        "Paid",
    ]
    categories = {t["Name"]: t["Category"] for t in sim.records("ActivityType")}
    assert categories["Vacation"] == categories["Sick leave"] == "Absences"
    assert categories["Meeting"] == "CalendarEntry"
    users = {u["GUID"] for u in sim.records("User")}
    entries = sim.records("HourEntry")
    assert len(entries) >= 30
    assert all(e["UserGUID"] in users and e["CaseGUID"] in cases for e in entries)
    assert all(NOW - timedelta(days=22) <= e["EventDate"] < NOW for e in entries)


def test_no_seed_means_no_data() -> None:
    sim = SeveraSimulator(seed=False)
    assert sim.records("Customer") == [] and sim.records("InvoiceStatus") == []


def test_main_serves_until_terminated() -> None:
    code = "import sys; from severa_sync_tools.simulators.severa import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--api-key", "cli-key", "--no-seed"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/webservice/S3/API.svc")
        assert requests.get(url + "/WSDL", timeout=10).content == Path(WSDL_PATH).read_bytes()
        assert requests.get(url.split("/webservice")[0] + "/admin/records/Customer", timeout=10).json() == []
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert process.returncode == 0
    assert "cli-key" not in first + output
