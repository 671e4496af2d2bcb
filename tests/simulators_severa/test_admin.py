"""The admin HTTP endpoint drives every control of a simulator from another process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import NOW, post, quota_headers
from .test_faults import fault_of


def control(sim: SeveraSimulator, name: str, body: Any) -> requests.Response:
    return requests.post(f"{sim.admin_url}/{name}", json=body, timeout=10)


def read(sim: SeveraSimulator, path: str) -> requests.Response:
    return requests.get(f"{sim.admin_url}/{path}", timeout=10)


def test_records_and_one_record_as_json(sim: SeveraSimulator) -> None:
    listed = read(sim, "records/Invoice").json()
    assert [r["GUID"] for r in listed] == [r["GUID"] for r in sim.records("Invoice")]
    invoice = next(r for r in listed if r["Number"] == 10502)
    assert "17" in {row["rowVatRatePercent"] for row in invoice["InvoiceRows"]}  # decimals as exact strings
    one = read(sim, f"records/Invoice/{invoice['GUID']}").json()
    assert one == invoice
    status = read(sim, f"records/InvoiceStatus/{quote('Ready for transfer')}").json()
    assert status["Name"] == "Ready for transfer"
    assert read(sim, "records/Invoice/0b7c2f9e-1111-4222-8333-944455556666").status_code == 404
    assert read(sim, "records/Spaceship").status_code == 400


def test_upsert_and_mass_update(sim: SeveraSimulator) -> None:
    created = control(
        sim,
        "upsert",
        {
            "entity": "Customer",
            "record": {"Name": "Remote Oy", "InvoicingVat": "24"},
            "at": "2026-11-20T10:00:45Z",
        },
    ).json()
    assert created["UpdatedTS"] == "2026-11-20T10:00:45Z"
    stored = sim.get("Customer", created["GUID"])
    assert stored is not None and stored["Name"] == "Remote Oy" and str(stored["InvoicingVat"]) == "24"
    mass = control(sim, "mass_update", {"entity": "HourEntry", "n": 120, "at": "2026-11-20T11:00:00Z"}).json()
    assert mass["count"] == 120 == len(set(mass["guids"]))
    assert all(sim.change_time("HourEntry", guid) == NOW.replace(hour=11) for guid in mass["guids"])


def test_trouble_controls(sim: SeveraSimulator) -> None:
    assert control(
        sim, "fail_next", {"fault_type": "TosNotApprovedException", "operation": "IAPI/GetVersion"}
    ).ok
    assert fault_of(post(sim, "IAPI/GetVersion"))[0] == "TosNotApprovedException"
    assert control(sim, "maintenance", {"calls": 1}).ok
    assert post(sim, "IAPI/GetVersion").status_code == 503
    assert control(sim, "set_quota", {"limit": 7, "used": 3}).ok
    assert quota_headers(post(sim, "IAPI/GetVersion")) == (7, 4)
    assert control(sim, "truncate_next", {}).ok
    assert b"</s:Envelope>" not in post(sim, "IAPI/GetVersion").content
    assert control(sim, "slow", {"seconds": 0.01, "operation": "IAPI/GetVersion"}).ok
    assert post(sim, "IAPI/GetVersion").status_code == 200
    assert control(sim, "set_versions", {"api_version": "2.0.0+remote"}).ok
    assert b"2.0.0+remote" in post(sim, "IAPI/GetVersion").content


def test_clock_calls_and_state(sim: SeveraSimulator) -> None:
    answer = control(sim, "set_clock", {"frozen_at": "2026-11-21T08:00:00Z", "offset": 90}).json()
    assert answer["now"] == "2026-11-21T08:01:30Z"
    assert sim.now() == NOW + timedelta(hours=20, seconds=90)
    post(sim, "IAPI/GetVersion")
    calls = read(sim, "calls").json()
    assert calls == [
        {"operation": "IAPI/GetVersion", "params": {}, "status": 200, "at": "2026-11-21T08:01:30Z"}
    ]
    state = read(sim, "state").json()
    assert (state["now"], state["clock_frozen"], state["used_quota"]) == ("2026-11-21T08:01:30Z", True, 1)
    assert control(sim, "reset_calls", {}).ok
    assert read(sim, "calls").json() == [] and sim.calls == []


@pytest.mark.parametrize(
    "name,body,status",
    [
        ("explode", {}, 404),
        ("fail_next", {"fault_type": "NopeException"}, 400),
        ("fail_next", {"fault_type": "NotFoundException", "colour": "red"}, 400),
        ("mass_update", {"entity": "HourEntry", "n": 3}, 400),
        ("upsert", {"entity": "Customer", "record": {"Shoe": 1}}, 400),
        ("upsert", {"record": {}}, 400),
        ("set_clock", {"offset": "soon"}, 400),
        ("maintenance", ["calls"], 400),
    ],
)
def test_bad_admin_requests_are_refused_with_a_reason(
    sim: SeveraSimulator, name: str, body: Any, status: int
) -> None:
    response = control(sim, name, body)
    assert response.status_code == status
    assert response.json()["error"]
    assert post(sim, "IAPI/GetVersion").status_code == 200  # the simulator is unaffected
