"""Faults as WCF writes them: shape, HTTP status, typed detail; and requests the server refuses."""

from __future__ import annotations

import pytest
import requests
import zeep

from severa_sync.severa import schema
from severa_sync.severa.schema import NS_API, NS_SEVERA, NS_SOAP_ENV, NS_XSI
from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import API_KEY, AUTH, envelope, parse, post, service

FAULT_PATH = f"{{{NS_SOAP_ENV}}}Body/{{{NS_SOAP_ENV}}}Fault"


def fault_of(response: requests.Response) -> tuple[str, str, str | None]:
    """(detail element name, faultstring, Description) of a fault answer, checking its shape."""
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/xml")
    fault = parse(response).find(FAULT_PATH)
    assert fault is not None
    assert fault.findtext("faultcode") == "s:Client"
    faultstring = fault.find("faultstring")
    assert faultstring is not None
    assert faultstring.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    detail = fault.find("detail")
    assert detail is not None and len(detail) == 1
    exception = detail[0]
    assert exception.tag.startswith(f"{{{NS_API}}}")
    assert [child.tag for child in exception] == [f"{{{NS_API}}}Description", f"{{{NS_API}}}Source"]
    source = exception.find(f"{{{NS_API}}}Source")
    assert source is not None and source.get(f"{{{NS_XSI}}}nil") == "true"
    return exception.tag.split("}")[1], faultstring.text or "", exception.findtext(f"{{{NS_API}}}Description")


@pytest.mark.parametrize("fault_type", schema.FAULT_TYPES)
def test_each_injected_fault_type_has_the_wcf_shape(sim: SeveraSimulator, fault_type: str) -> None:
    sim.fail_next(fault_type, description=f"injected {fault_type}", operation="IAPI/GetVersion")
    name, faultstring, description = fault_of(post(sim, "IAPI/GetVersion"))
    assert name == fault_type
    assert description == f"injected {fault_type}"
    if fault_type == "QuotaLimitExceededException":
        assert faultstring == "Quota limit reached"
    else:
        assert faultstring == description
    # Consumed: the next call answers normally.
    assert post(sim, "IAPI/GetVersion").status_code == 200


def test_injected_faults_follow_operation_and_count(sim: SeveraSimulator) -> None:
    sim.fail_next("GeneralFailureException", operation="IAPI/GetEntitySchemaVersion", calls=2)
    assert post(sim, "IAPI/GetVersion").status_code == 200
    assert fault_of(post(sim, "IAPI/GetEntitySchemaVersion"))[0] == "GeneralFailureException"
    assert fault_of(post(sim, "IAPI/GetEntitySchemaVersion"))[0] == "GeneralFailureException"
    assert post(sim, "IAPI/GetEntitySchemaVersion").status_code == 200


def test_injected_fault_without_description_uses_severas_wording(sim: SeveraSimulator) -> None:
    sim.fail_next("NoPermissionException")
    assert (
        fault_of(post(sim, "IAPI/GetVersion"))[2]
        == "API user does not have permission to perform the action."
    )


def test_control_arguments_are_checked(sim: SeveraSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault type"):
        sim.fail_next("TeapotException")
    with pytest.raises(ValueError, match="unknown operation"):
        sim.fail_next("NotFoundException", operation="ICustomer/GetEverything")
    with pytest.raises(ValueError, match="calls"):
        sim.truncate_next(calls=0)


@pytest.mark.parametrize("key", ["wrong-key", "", None])
def test_wrong_or_missing_api_key_is_an_authentication_fault(sim: SeveraSimulator, key: str | None) -> None:
    response = post(sim, "IAPI/GetVersion", key=key)
    name, _, description = fault_of(response)
    assert name == "AuthenticationFailureException"
    assert description == "The caller could not be authenticated."
    assert sim.calls[-1].status == 500


def test_zeep_sees_the_authentication_fault_with_its_detail(
    sim: SeveraSimulator, zeep_client: zeep.Client
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service(zeep_client, sim, "ICustomer").GetCustomerByGUID(
            accountGuid=sim.records("Customer")[0]["GUID"], _soapheaders={"WebServicePassword": "nope"}
        )
    assert caught.value.code == "s:Client"
    assert caught.value.detail[0].tag == f"{{{NS_API}}}AuthenticationFailureException"


@pytest.mark.parametrize(
    "operation,param",
    [
        ("ICustomer/GetCustomerByGUID", "accountGuid"),
        ("ICase/GetCaseByGUID", "caseGuid"),
        ("IInvoice/GetInvoiceByGUID", "invoiceGUID"),
    ],
)
def test_by_guid_reads_fault_on_missing_and_malformed_guids(
    sim: SeveraSimulator, operation: str, param: str
) -> None:
    missing = post(sim, operation, f"<{param}>0b7c2f9e-1111-4222-8333-944455556666</{param}>")
    assert fault_of(missing)[0] == "NotFoundException"
    malformed = post(sim, operation, f"<{param}>guid</{param}>")
    assert fault_of(malformed)[0] == "GeneralFailureException"


def test_set_invoice_status_faults(sim: SeveraSimulator) -> None:
    invoice = sim.records("Invoice")[0]
    unknown_status = post(
        sim,
        "IInvoice/SetInvoiceStatus",
        f"<invoiceGUID>{invoice['GUID']}</invoiceGUID><status>Lost in space</status>",
    )
    name, _, description = fault_of(unknown_status)
    assert (name, description) == ("NotFoundException", "Invoice or invoice status could not be found.")
    assert sim.get("Invoice", invoice["GUID"]) == invoice  # unchanged
    malformed = post(sim, "IInvoice/SetInvoiceStatus", "<invoiceGUID>guid</invoiceGUID><status>Paid</status>")
    assert fault_of(malformed)[0] == "GeneralFailureException"


def test_missing_since_is_a_general_failure(sim: SeveraSimulator) -> None:
    name, _, description = fault_of(post(sim, "ICustomer/GetCustomersChangedSince", "<options>0</options>"))
    assert (name, description) == ("GeneralFailureException", "startDateTime not supplied")


def test_undeserialisable_parameter_is_a_general_failure(sim: SeveraSimulator) -> None:
    response = post(sim, "ICustomer/GetCustomersChangedSince", "<startDateTime>yesterday</startDateTime>")
    assert fault_of(response)[0] == "GeneralFailureException"


def test_unknown_action_and_mismatched_body_are_general_failures(sim: SeveraSimulator) -> None:
    unknown = post(sim, "IAPI/GetVersion", action=f"{NS_SEVERA}IAPI/GetEverything")
    assert fault_of(unknown)[0] == "GeneralFailureException"
    mismatch = post(sim, "IAPI/GetVersion", action=f"{NS_SEVERA}IAPI/GetEntitySchemaVersion")
    assert fault_of(mismatch)[0] == "GeneralFailureException"
    assert [c.status for c in sim.calls] == [500, 500]


def test_unquoted_soap_action_is_accepted(sim: SeveraSimulator) -> None:
    assert post(sim, "IAPI/GetVersion", action=f"{NS_SEVERA}IAPI/GetVersion").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"<s:Envelope",  # not well-formed
        b"\x00\xff garbage",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',  # DTDs are refused
        b"<Envelope/>",  # not SOAP
        f'<s:Envelope xmlns:s="{NS_SOAP_ENV}"><s:Body/></s:Envelope>'.encode(),  # no operation
    ],
)
def test_malformed_requests_get_400_and_the_server_keeps_serving(sim: SeveraSimulator, body: bytes) -> None:
    assert post(sim, "IAPI/GetVersion", body=body).status_code == 400
    assert post(sim, "IAPI/GetVersion").status_code == 200


def test_entities_are_never_expanded(sim: SeveraSimulator) -> None:
    # An internal entity inside a parameter would smuggle data if expanded; the request is refused.
    body = f'<!DOCTYPE s:Envelope [<!ENTITY key "{API_KEY}">]>' + envelope("IAPI/GetVersion").replace(
        API_KEY, "&key;"
    )
    assert post(sim, "IAPI/GetVersion", body=body).status_code == 400


def test_other_content_types_get_415(sim: SeveraSimulator) -> None:
    response = requests.post(
        sim.url,
        data=envelope("IAPI/GetVersion"),
        timeout=10,
        headers={"Content-Type": "application/soap+xml", "SOAPAction": "x"},
    )
    assert response.status_code == 415


def test_the_api_key_never_leaves_the_simulator(sim: SeveraSimulator) -> None:
    post(sim, "IAPI/GetVersion")
    post(sim, "IAPI/GetVersion", key="wrong")
    seen = [
        repr(sim),
        repr(sim.calls),
        requests.get(f"{sim.admin_url}/calls", timeout=10).text,
        requests.get(f"{sim.admin_url}/state", timeout=10).text,
    ]
    assert not [text for text in seen if API_KEY in text]
    assert AUTH["WebServicePassword"] == API_KEY  # the key above is the one the calls used
