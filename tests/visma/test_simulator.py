"""The Visma.net simulator's own contract, over raw HTTP: tokens, wrapping, paging, background jobs,
faults and the admin endpoints another process uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import requests

from severa_sync_tools.simulators.visma import VismaSimulator
from severa_sync_tools.simulators.visma.wire import BadRequest

from .conftest import CLIENT_SECRET

READ_WRITE = "vismanet_erp_service_api:read vismanet_erp_service_api:create vismanet_erp_service_api:update"


def _token(
    sim: VismaSimulator,
    *,
    tenant: str = "local-company",
    scope: str = READ_WRITE,
    secret: str = CLIENT_SECRET,
) -> requests.Response:
    return requests.post(
        sim.token_url,
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": "severa-sync",
            "client_secret": secret,
            "tenant_id": tenant,
            "scope": scope,
        },
    )


def _api(
    sim: VismaSimulator,
    method: str,
    path: str,
    token: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    return requests.request(
        method,
        sim.base_url + path,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=5,
        **kwargs,
    )


def _customer_body(number: str) -> dict[str, Any]:
    return {"number": {"value": number}, "name": {"value": f"Customer {number}"}}


@pytest.fixture
def token(sim: VismaSimulator) -> str:
    answer = _token(sim)
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


def test_token_endpoint_refuses_a_wrong_secret_but_not_a_wrong_tenant(sim: VismaSimulator) -> None:
    refused = _token(sim, secret="wrong")
    assert (refused.status_code, refused.json()) == (400, {"error": "invalid_client"})
    wrong_tenant = _token(sim, tenant="customer-tenant")
    assert wrong_tenant.status_code == 200 and wrong_tenant.json()["expires_in"] == 3600
    call = _api(sim, "GET", "/v1/customer", wrong_tenant.json()["access_token"])
    assert call.status_code == 401 and call.json()["ExceptionFaultCode"] == "12027"
    assert _api(sim, "GET", "/v1/customer", "made-up").status_code == 401


def test_scopes_are_enforced(sim: VismaSimulator) -> None:
    read_only = _token(sim, scope="vismanet_erp_service_api:read").json()["access_token"]
    assert _api(sim, "GET", "/v1/customer", read_only).status_code == 200
    assert _api(sim, "POST", "/v1/customer", read_only, json=_customer_body("1")).status_code == 403


def test_writes_need_wrapped_values_and_answer_with_location(sim: VismaSimulator, token: str) -> None:
    unwrapped = _api(sim, "POST", "/v1/customer", token, json={"number": "1", "name": "X"})
    assert unwrapped.status_code == 400 and "VismaId:" in unwrapped.json()["message"]
    created = _api(sim, "POST", "/v1/customer", token, json=_customer_body("1"))
    assert created.status_code == 201
    assert created.headers["Location"] == "https://api.finance.visma.net/v1/customer/1"
    duplicate = _api(sim, "POST", "/v1/customer", token, json=_customer_body("1"))
    assert duplicate.status_code == 400
    updated = _api(sim, "PUT", "/v1/customer/1", token, json={"name": {"value": "Renamed"}})
    assert updated.status_code == 204 and updated.content == b""
    assert _api(sim, "PUT", "/v1/customer/2", token, json={"name": {"value": "X"}}).status_code == 404
    assert _api(sim, "GET", "/v1/customer/1", token).json()["name"] == "Renamed"
    assert _api(sim, "DELETE", "/v1/customer/1", token).status_code == 403  # no delete scope asked for
    assert _api(sim, "GET", "/v2/customerinvoice", token).status_code == 405
    assert _api(sim, "GET", "/v1/nothing", token).status_code == 404


def test_invoice_lines_need_a_bare_operation(sim: VismaSimulator, token: str) -> None:
    sim.seed_customer("1", "C")
    sim.seed_item("X", "An item")
    body = {
        "customerNumber": {"value": "1"},
        "externalReference": {"value": "77"},
        "invoiceLines": [{"operation": {"value": "Insert"}, "inventoryNumber": {"value": "X"}}],
    }
    assert _api(sim, "POST", "/v2/customerinvoice", token, json=body).status_code == 400
    body["invoiceLines"] = [{"operation": "Insert", "inventoryNumber": {"value": "X"}}]
    created = _api(sim, "POST", "/v2/customerinvoice", token, json=body)
    assert created.status_code == 201
    reference = created.headers["Location"].rsplit("/", 1)[-1]
    found = _api(sim, "GET", "/v1/customerinvoice", token, params={"externalReference": "77"}).json()
    assert [i["referenceNumber"] for i in found] == [reference]
    assert _api(sim, "GET", "/v1/customerinvoice", token, params={"externalReference": "78"}).json() == []


def test_lists_are_paged_with_metadata(token: str) -> None:
    with VismaSimulator(client_secret=CLIENT_SECRET, max_page_size=4) as small:
        for n in range(10):
            small.seed_customer(str(n), f"C{n}")
        fresh = _token(small).json()["access_token"]
        page = _api(small, "GET", "/v1/customer", fresh, params={"pageNumber": 3, "pageSize": 100}).json()
        assert [c["number"] for c in page] == ["8", "9"]
        assert page[0]["metadata"] == {"totalCount": 10, "maxPageSize": 4}


def test_background_job_is_polled_then_expires(sim: VismaSimulator, token: str) -> None:
    queued = _api(
        sim, "POST", "/v1/customer", token, json=_customer_body("5"), headers={"erp-api-background": "none"}
    )
    assert queued.status_code == 202
    job = queued.json()
    assert job["stateLocation"].endswith(f"/v1/background/{job['id']}")
    states = [_api(sim, "GET", f"/v1/background/{job['id']}", token).json() for _ in range(2)]
    assert [(s["status"], s["statusCode"]) for s in states] == [("Started", 0), ("Finished", 201)]
    assert states[1]["responseHeaders"]["Location"] == ["https://api.finance.visma.net/v1/customer/5"]
    assert _api(sim, "GET", f"/v1/background/{job['id']}/content", token).status_code == 204
    sim.expire_background()
    assert _api(sim, "GET", f"/v1/background/{job['id']}", token).status_code == 404
    assert _api(sim, "GET", f"/v1/background/{job['id']}/content", token).status_code == 410


def test_throttle_answers_429_with_rate_limit_headers(sim: VismaSimulator, token: str) -> None:
    sim.throttle(calls=1, retry_after=3)
    throttled = _api(sim, "GET", "/v1/customer", token)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    assert throttled.headers["X-RateLimit-Policy"] == "4-fixed-window"
    normal = _api(sim, "GET", "/v1/customer", token)
    assert normal.status_code == 200 and int(normal.headers["X-RateLimit-Remaining"]) > 0
    assert normal.headers["Ipp-Request-Id"] and normal.headers["Request-Context"]


def test_fail_5xx_can_write_first(sim: VismaSimulator, token: str) -> None:
    sim.fail_5xx("/v1/customer", status=500, commit=True, method="POST")
    sim.fail_5xx("/v1/customer", status=503, commit=False, method="POST")
    assert _api(sim, "POST", "/v1/customer", token, json=_customer_body("1")).status_code == 500
    assert _api(sim, "POST", "/v1/customer", token, json=_customer_body("2")).status_code == 503
    assert [c["number"] for c in sim.customers] == ["1"]


def test_admin_endpoints_drive_the_simulator(sim: VismaSimulator, token: str) -> None:
    control = requests.post(
        sim.base_url + "/admin/reject_next",
        timeout=5,
        json={"path_prefix": "/v1/customer", "message": "No way", "shape": "ipp"},
    )
    assert control.status_code == 200
    rejected = _api(sim, "POST", "/v1/customer", token, json=_customer_body("1"))
    assert rejected.status_code == 400 and rejected.json()["ExceptionMessage"] == "No way"
    assert requests.post(sim.base_url + "/admin/no_such_control", json={}, timeout=5).status_code == 400
    assert requests.post(sim.base_url + "/admin/throttle", json={"bogus": 1}, timeout=5).status_code == 400
    state = requests.get(sim.base_url + "/admin/state", timeout=5).json()
    assert ["POST", "/v1/customer", 400] in state["requests"] and state["tokens_issued"] == 1
    assert not any(path.startswith("/admin") for _, path, _ in state["requests"])


def test_main_serves_until_terminated() -> None:
    env = {**os.environ, "VISMA_CLIENT_SECRET": "cli-secret"}
    process = subprocess.Popen(
        [sys.executable, "-m", "severa_sync_tools.simulators.visma", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        assert urls["base_url"].startswith("http://127.0.0.1:")
        assert "cli-secret" not in json.dumps(urls)
        answer = requests.post(
            urls["token_url"],
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": "severa-sync",
                "client_secret": "cli-secret",
                "tenant_id": "local-company",
                "scope": READ_WRITE,
            },
        )
        assert answer.status_code == 200
        assert requests.get(urls["admin_url"] + "/state", timeout=5).json()["tokens_issued"] == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_a_member_the_spec_does_not_have_is_refused_naming_it_and_the_dto() -> None:
    """Visma.net may drop an unknown member silently; the simulator names it, so a misspelt field
    (the spec spells the manager ``projectManger``) never goes unnoticed."""
    sim = VismaSimulator()
    ledger = sim.ledger
    ledger.create_customer(body={"number": "1", "name": "Acme"}, query={})
    with pytest.raises(BadRequest, match=r"'projectManager' is not a member of ProjectUpdateDto"):
        ledger.create_project(
            body={
                "projectID": "9",
                "customer": "1",
                "description": "x",
                "template": "T",
                "projectManager": "a",
            },
            query={},
        )
    with pytest.raises(BadRequest, match=r"ProjectUpdateDto.status 'Closed' is not one of"):
        ledger.create_project(
            body={"projectID": "9", "customer": "1", "description": "x", "template": "T", "status": "Closed"},
            query={},
        )
    with pytest.raises(BadRequest, match=r"'invoiceLines\[1\]\.amount' is not a member"):
        ledger.create_invoice(
            body={"customerNumber": "1", "invoiceLines": [{"operation": "Insert", "amount": 3}]}, query={}
        )
    ledger.create_project(
        body={"projectID": "9", "customer": "1", "description": "x", "template": "T", "projectManger": "a"},
        query={},
    )


def test_reset_forgets_every_document_and_the_quota_window() -> None:
    sim = VismaSimulator(quota=1)
    ledger = sim.ledger
    company_items = sim.items
    ledger.create_customer(body={"number": "1", "name": "Acme"}, query={})
    ledger.create_item(body={"inventoryNumber": "X", "itemClass": "SERVICE", "description": "X"}, query={})
    line = {"operation": "Insert", "inventoryNumber": "X", "quantity": 1, "unitPriceInCurrency": 5}
    ledger.create_invoice(body={"customerNumber": "1", "invoiceLines": [line]}, query={})
    ledger.create_credit_note(body={"customerNumber": "1", "lines": [line]}, query={})
    sim.advance(10)
    sim.reset()
    assert sim.customers == sim.invoices == sim.credit_notes == []
    assert sim.items == company_items  # the company's own items stay, those created are gone
    assert sim._window_calls == 0 and sim._clock_offset == 0.0
