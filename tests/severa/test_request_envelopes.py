"""What goes on the wire for every operation severa-sync uses: checked against ``schema.py`` and
against the literal envelope of the reference (docs/reference/severa-soap-contract.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree

from severa_sync.severa import schema
from tests.severa import envelopes as env
from tests.severa.conftest import API_KEY, Canned, CannedServer, MakeClient

WSA_NAMESPACES = ("http://www.w3.org/2005/08/addressing", "http://schemas.xmlsoap.org/ws/2004/08/addressing")
START = datetime(2026, 11, 20, 5, 28, tzinfo=UTC)
END = datetime(2026, 11, 27, 5, 28, tzinfo=UTC)

#: (operation, parameters as severa-sync passes them, expected wire text per element).
USED_OPERATIONS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("IAPI/GetVersion", {}, {}),
    ("IAPI/GetEntitySchemaVersion", {}, {}),
    (
        "ICustomer/GetCustomersChangedSince",
        {"startDateTime": START, "options": 0},
        {"startDateTime": "2026-11-20T05:28:00Z", "options": "0"},
    ),
    ("ICustomer/GetCustomerByGUID", {"accountGuid": "a-1"}, {"accountGuid": "a-1"}),
    (
        "ICustomer/GetAllCustomers",
        {"options": 0, "startFromIndex": 200, "count": 100},
        {"options": "0", "startFromIndex": "200", "count": "100"},
    ),
    (
        "ICase/GetCasesChangedSince",
        {"businessUnitGUID": "", "startDateTime": START, "options": 0},
        {"businessUnitGUID": "", "startDateTime": "2026-11-20T05:28:00Z", "options": "0"},
    ),
    ("ICase/GetCaseByGUID", {"caseGuid": "c-1"}, {"caseGuid": "c-1"}),
    (
        "IInvoice/GetInvoicesByDateAndStatus",
        {
            "businessUnitGUID": "bu",
            "startDate": START,
            "endDate": END,
            "status": "Ready for transfer",
            "options": 0,
        },
        {
            "businessUnitGUID": "bu",
            "startDate": "2026-11-20T05:28:00Z",
            "endDate": "2026-11-27T05:28:00Z",
            "status": "Ready for transfer",
            "options": "0",
        },
    ),
    ("IInvoice/GetInvoiceByGUID", {"invoiceGUID": "i-1"}, {"invoiceGUID": "i-1"}),
    (
        "IInvoice/SetInvoiceStatus",
        {"invoiceGUID": "i-1", "status": "Transferred"},
        {"invoiceGUID": "i-1", "status": "Transferred"},
    ),
    ("IHourEntry/GetHourEntriesChangedSince", {"startDate": START}, {"startDate": "2026-11-20T05:28:00Z"}),
    (
        "IHourEntry/GetHourEntriesByDate",
        {"businessUnitGUID": "bu", "startdate": START, "enddate": END},
        {"businessUnitGUID": "bu", "startdate": "2026-11-20T05:28:00Z", "enddate": "2026-11-27T05:28:00Z"},
    ),
    (
        "IActivity/GetActivitiesByDate",
        {"startDate": START, "endDate": END, "activityCategory": "Absences", "businessUnitGuid": "bu"},
        {
            "startDate": "2026-11-20T05:28:00Z",
            "endDate": "2026-11-27T05:28:00Z",
            "activityCategory": "Absences",
            "businessUnitGuid": "bu",
        },
    ),
]


def _answer_for(operation: str) -> bytes:
    op = schema.operation(operation)
    if op.returns.endswith("[]"):
        return env.list_envelope(operation, [])
    if op.returns in schema.ENTITIES:
        return env.single_envelope(operation, {"GUID": "g"})
    return env.scalar_envelope(operation, "1")


def _send(client: Any, operation: str, params: dict[str, Any]) -> None:
    op = schema.operation(operation)
    if op.returns.endswith("[]"):
        list(client.stream(operation, **params))
    elif op.returns in schema.ENTITIES:
        client.get(operation, **params)
    else:
        client.call(operation, **params)


@pytest.mark.parametrize(
    ("operation", "params", "expected"), USED_OPERATIONS, ids=[o[0] for o in USED_OPERATIONS]
)
def test_request_on_the_wire(
    server: CannedServer,
    make_client: MakeClient,
    operation: str,
    params: dict[str, Any],
    expected: dict[str, str],
) -> None:
    op = schema.operation(operation)
    server.push(Canned(_answer_for(operation)))
    _send(make_client(), operation, params)

    (seen,) = server.requests
    assert seen.path == "/webservice/S3/API.svc"
    assert seen.headers["SOAPAction"] == f'"http://soap.severa.com/{operation}"'
    assert seen.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = etree.fromstring(seen.body)
    assert root.tag == f"{{{schema.NS_SOAP_ENV}}}Envelope"
    header, body = list(root)
    assert header.tag == f"{{{schema.NS_SOAP_ENV}}}Header"
    (password,) = list(header)
    assert password.tag == f"{{{schema.NS_SEVERA}}}WebServicePassword"
    assert password.text == API_KEY
    assert password.get(f"{{{schema.NS_SOAP_ENV}}}mustUnderstand") is None
    assert not any(ns in seen.body.decode() for ns in WSA_NAMESPACES), "no WS-Addressing"
    assert body.tag == f"{{{schema.NS_SOAP_ENV}}}Body"
    (wrapper,) = list(body)
    assert wrapper.tag == f"{{{schema.NS_SEVERA}}}{op.name}"
    sent = [(child.tag, child.text or "") for child in wrapper]
    # Element names, namespace and order exactly as the contract declares them.
    declared = [p.name for p in op.params if p.name in expected]
    assert sent == [(f"{{{schema.NS_SEVERA}}}{name}", expected[name]) for name in declared]


def _shape(elem: Any) -> tuple[str, str, list[Any]]:
    """An element as (qualified tag, text, children): prefixes and whitespace do not matter."""
    return (elem.tag, (elem.text or "").strip(), [_shape(child) for child in elem])


def test_envelope_matches_the_reference_skeleton_literally(
    server: CannedServer, make_client: MakeClient
) -> None:
    # docs/reference/severa-soap-contract.md §2, "Request skeleton", with the key and GUID filled in.
    reference = f"""
    <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
      <s:Header>
        <WebServicePassword xmlns="http://soap.severa.com/">{API_KEY}</WebServicePassword>
      </s:Header>
      <s:Body>
        <GetCaseByGUID xmlns="http://soap.severa.com/">
          <caseGuid>5b7c1f0e-0000-4000-8000-000000000001</caseGuid>
        </GetCaseByGUID>
      </s:Body>
    </s:Envelope>"""
    server.push(
        Canned(env.single_envelope("ICase/GetCaseByGUID", {"GUID": "5b7c1f0e-0000-4000-8000-000000000001"}))
    )
    make_client().get("ICase/GetCaseByGUID", caseGuid="5b7c1f0e-0000-4000-8000-000000000001")
    assert _shape(etree.fromstring(server.requests[0].body)) == _shape(etree.fromstring(reference))
    assert server.requests[0].headers["SOAPAction"] == '"http://soap.severa.com/ICase/GetCaseByGUID"'


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        (datetime(2026, 11, 20, 7, 28, tzinfo=timezone(timedelta(hours=2))), "2026-11-20T05:28:00Z"),
        (datetime(2026, 11, 20, 5, 28), "2026-11-20T05:28:00Z"),  # naive = UTC
        (datetime(2026, 11, 20, 5, 28, 0, 500, tzinfo=UTC), "2026-11-20T05:28:00.000500Z"),  # never rounded
    ],
)
def test_times_go_out_in_utc(make_client: MakeClient, given: datetime, wire: str) -> None:
    body, _headers = make_client().build_envelope("IHourEntry/GetHourEntriesChangedSince", startDate=given)
    (value,) = etree.fromstring(body).iter(f"{{{schema.NS_SEVERA}}}startDate")
    assert value.text == wire


def test_none_parameters_are_omitted(make_client: MakeClient) -> None:
    body, _headers = make_client().build_envelope(
        "IInvoice/GetInvoicesByDateAndStatus",
        businessUnitGUID="",
        startDate=START,
        endDate=None,
        status="S",
        options=0,
    )
    names = [etree.QName(e).localname for e in etree.fromstring(body).iter(f"{{{schema.NS_SEVERA}}}*")]
    assert names == [
        "WebServicePassword",
        "GetInvoicesByDateAndStatus",
        "businessUnitGUID",
        "startDate",
        "status",
        "options",
    ]


def test_every_interface_is_bound_at_the_tenant_endpoint(
    make_client: MakeClient, server: CannedServer
) -> None:
    client = make_client()
    for interface in schema.INTERFACES:
        service = client._service(interface)
        assert service._binding_options["address"] == server.url
        assert service._binding.name.text == f"{{{schema.NS_SEVERA}}}Severa.API.{interface}"
