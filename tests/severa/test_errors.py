"""Every failure ends as a typed error with the CallInfo of its call: SOAP faults by detail
element, gateway/maintenance answers, refused and cut connections, timeouts; retries only for
transient transport failures, never for a fault, never past the remaining time."""

from __future__ import annotations

import socket

import pytest
import requests
import urllib3.exceptions

from severa_sync import errors
from severa_sync.errors import CallInfo, Disposition
from severa_sync.severa import faults, schema
from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer, MakeClient, Sleeps

GUID = "00000001-0000-4000-8000-000000000009"
EXPECTED_CLASSES = {
    "AuthenticationFailureException": errors.SeveraAuthenticationFailed,
    "NoPermissionException": errors.SeveraNoPermission,
    "NotFoundException": errors.SeveraNotFound,
    "ValidationException": errors.SeveraValidationFailed,
    "GeneralFailureException": errors.SeveraGeneralFailure,
    "QuotaLimitExceededException": errors.SeveraQuotaExceeded,
    "TosNotApprovedException": errors.SeveraTosNotApproved,
}


def test_every_fault_type_of_the_contract_has_a_class() -> None:
    assert set(EXPECTED_CLASSES) == set(schema.FAULT_TYPES)


@pytest.mark.parametrize(("detail_type", "cls"), list(EXPECTED_CLASSES.items()))
def test_fault_maps_to_its_type(
    server: CannedServer, make_client: MakeClient, detail_type: str, cls: type[errors.SeveraFault]
) -> None:
    server.push(Canned(env.fault_envelope(detail_type, f"{detail_type} happened"), status=500))
    with pytest.raises(cls) as caught:
        make_client().get("ICustomer/GetCustomerByGUID", accountGuid=GUID)
    error = caught.value
    assert type(error) is cls
    assert error.description == f"{detail_type} happened"
    assert error.source is None
    assert error.detail["fault_type"] == detail_type
    assert error.call is not None
    assert error.call.operation == "ICustomer/GetCustomerByGUID"
    assert error.call.params == {"accountGuid": GUID}
    assert error.call.status == 500
    assert len(server.requests) == 1, "a fault is an answer: never retried"


def test_quota_fault_exactly_as_the_reference_sample(server: CannedServer, make_client: MakeClient) -> None:
    # docs/reference/severa-soap-contract.md §2, "Fault skeleton" (Quota 100, UsedQuota 111).
    server.push(
        Canned(
            env.fault_envelope(
                "QuotaLimitExceededException",
                "Quota limit",
                faultstring="Quota limit reached",
                quota=100,
                used=111,
            ),
            status=500,
        )
    )
    client = make_client()
    with pytest.raises(errors.SeveraQuotaExceeded) as caught:
        client.get_version()
    assert caught.value.disposition is Disposition.STOP
    assert client.quota.limit == 100 and client.quota.used == 111


def test_wcf_exception_detail_shape(server: CannedServer, make_client: MakeClient) -> None:
    server.push(
        Canned(
            env.fault_envelope(
                None,
                "Object reference not set to an instance of an object.",
                exception_detail_type="System.NullReferenceException",
            ),
            status=500,
        )
    )
    server.push(
        Canned(
            env.fault_envelope(None, "No such case", exception_detail_type="Severa.API.NotFoundException"),
            status=500,
        )
    )
    client = make_client()
    with pytest.raises(errors.SeveraUnknownFault) as unknown:
        client.get("ICase/GetCaseByGUID", caseGuid=GUID)
    assert unknown.value.description == "Object reference not set to an instance of an object."
    assert unknown.value.detail["detail_element"] == "NullReferenceException"
    with pytest.raises(errors.SeveraNotFound) as typed:
        client.get("ICase/GetCaseByGUID", caseGuid=GUID)
    assert typed.value.description == "No such case"


def test_unknown_and_detail_less_faults(server: CannedServer, make_client: MakeClient) -> None:
    server.push(Canned(env.fault_envelope("BrandNewException", "new"), status=500))
    server.push(
        Canned(
            env.fault_envelope(None, faultstring="The server was unable to process the request"), status=500
        )
    )
    client = make_client()
    with pytest.raises(errors.SeveraUnknownFault) as new:
        client.get_version()
    assert new.value.detail["detail_element"] == "BrandNewException"
    with pytest.raises(errors.SeveraUnknownFault, match="unable to process"):
        client.get_version()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_maintenance_pages_are_unavailable(
    server: CannedServer, make_client: MakeClient, sleeps: Sleeps, status: int
) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Service Unavailable</h1>Maintenance break</body></html>"
    server.route = lambda seen: Canned(page, status=status, content_type="text/html")
    with pytest.raises(errors.SeveraUnavailable) as caught:
        make_client(transport_retries=2).get_version()
    assert type(caught.value) is errors.SeveraUnavailable
    assert caught.value.disposition is Disposition.RETRY_LATER
    assert caught.value.call is not None and caught.value.call.status == status
    assert len(server.requests) == 3 and sleeps == [1.0, 2.0]  # two short retries, then give up


def test_a_retry_that_succeeds(server: CannedServer, make_client: MakeClient, sleeps: Sleeps) -> None:
    server.push(
        Canned(b"Bad Gateway", status=502, content_type="text/plain"),
        Canned(env.scalar_envelope("IAPI/GetVersion", "9.9")),
    )
    assert make_client(transport_retries=1).get_version() == "9.9"
    assert len(server.requests) == 2 and sleeps == [1.0]


def test_other_http_errors(server: CannedServer, make_client: MakeClient) -> None:
    server.push(
        Canned(b"<html>Not Found</html>", status=404, content_type="text/html"),
        Canned(b"Access denied", status=401, content_type="text/plain"),
        Canned(b"<html>Internal error</html>", status=500, content_type="text/html"),
    )
    client = make_client(transport_retries=0)
    with pytest.raises(errors.SeveraError) as not_found:
        client.get_version()
    assert type(not_found.value) is errors.SeveraError and not_found.value.disposition is Disposition.STOP
    with pytest.raises(errors.SeveraAuthenticationFailed):
        client.get_version()
    with pytest.raises(errors.SeveraUnavailable):
        client.get_version()


def test_refused_connection_is_reported_at_once_with_the_host(
    make_client: MakeClient, free_port: int, sleeps: Sleeps
) -> None:
    # Not maintenance: nothing listens at the configured address. Said now, with the host name,
    # not after 2.5 hours of retry-machine silence (issue 12 item 6).
    client = make_client(url=f"http://127.0.0.1:{free_port}/webservice/S3/API.svc", transport_retries=2)
    with pytest.raises(errors.SeveraUnreachable) as caught:
        client.get_version()
    assert caught.value.disposition is Disposition.STOP and caught.value.alert_kind == "connection"
    assert f"127.0.0.1:{free_port}" in str(caught.value) and "refused" in str(caught.value)
    assert "severa.url" in str(caught.value)
    assert caught.value.call is not None and caught.value.call.operation == "IAPI/GetVersion"
    assert sleeps == [1.0, 2.0]  # a few short tries first: a restart of the service is not an alert


def test_hang_up_without_answer_is_unavailable(server: CannedServer, make_client: MakeClient) -> None:
    server.route = lambda seen: Canned(hang_up=True)
    with pytest.raises(errors.SeveraUnavailable):
        make_client(transport_retries=0).get_version()


def test_read_timeout(server: CannedServer, make_client: MakeClient) -> None:
    server.push(Canned(env.scalar_envelope("IAPI/GetVersion", "1"), delay=1.0))
    with pytest.raises(errors.SeveraTimeout) as caught:
        make_client(read_timeout_seconds=0.2, transport_retries=2).get_version()
    assert caught.value.disposition is Disposition.RETRY_LATER
    assert len(server.requests) == 1, "a read timeout is not retried in-process"


@pytest.mark.parametrize("cut_after", [5, 300])
def test_connection_cut_mid_answer_is_cut_short(
    server: CannedServer, make_client: MakeClient, cut_after: int
) -> None:
    data = env.list_envelope("ICustomer/GetCustomersChangedSince", [env.customer(i) for i in range(5)])
    server.push(Canned(data, cut_after=cut_after))
    with pytest.raises(errors.SeveraAnswerCutShort) as caught:
        list(
            make_client().stream("ICustomer/GetCustomersChangedSince", startDateTime=env.BASE_TIME, options=0)
        )
    assert caught.value.call is not None and caught.value.call.status == 200


def test_truncated_chunked_answer_is_cut_short(server: CannedServer, make_client: MakeClient) -> None:
    data = env.list_envelope("ICustomer/GetCustomersChangedSince", [env.customer(i) for i in range(3)])
    server.push(Canned(iter([data[: len(data) // 2]])))  # a complete HTTP answer with half a document
    with pytest.raises(errors.SeveraAnswerCutShort):
        list(
            make_client().stream("ICustomer/GetCustomersChangedSince", startDateTime=env.BASE_TIME, options=0)
        )


def test_dns_failure_is_reported_at_once_with_the_host_name() -> None:
    # No network in tests: the exception requests raises for an unknown host, built by hand.
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    reason = urllib3.exceptions.NameResolutionError("sync.severa.invalid", None, lookup)  # type: ignore[arg-type]
    reason.__cause__ = lookup
    retries = urllib3.exceptions.MaxRetryError(None, "/", reason)  # type: ignore[arg-type]
    exc = requests.exceptions.ConnectionError(retries)
    call = CallInfo("severa", "IAPI/GetVersion")
    error = faults.transport_error(exc, call, host="sync.severa.invalid")
    assert type(error) is errors.SeveraUnreachable and error.call is call
    assert error.disposition is Disposition.STOP
    assert "sync.severa.invalid" in error.message and "DNS" in error.message
    assert faults.is_transient(exc)


def test_connect_timeout_is_unavailable_and_read_timeout_is_timeout() -> None:
    call = CallInfo("severa", "IAPI/GetVersion")
    assert (
        type(faults.transport_error(requests.exceptions.ConnectTimeout("slow"), call))
        is errors.SeveraUnavailable
    )
    assert type(faults.transport_error(requests.exceptions.ReadTimeout("slow"), call)) is errors.SeveraTimeout
    stream_timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "slow")  # type: ignore[arg-type]
    assert type(faults.transport_error(stream_timeout, call)) is errors.SeveraTimeout
    assert type(faults.transport_error(ConnectionResetError(104, "reset"), call)) is errors.SeveraUnavailable


@pytest.mark.parametrize(("remaining", "expected_sleeps"), [(60.0, [1.0, 2.0, 4.0]), (8.0, [1.0]), (6.5, [])])
def test_retries_never_go_past_the_remaining_time(
    make_client: MakeClient, free_port: int, sleeps: Sleeps, remaining: float, expected_sleeps: list[float]
) -> None:
    client = make_client(
        url=f"http://127.0.0.1:{free_port}/x", transport_retries=3, remaining_seconds=lambda: remaining
    )
    with pytest.raises(errors.SeveraUnreachable):  # refused: reported after the short retries
        client.get_version()
    # 5 s are kept back for the caller; a retry must leave at least 2 s for its own answer.
    assert sleeps == expected_sleeps


def test_no_call_without_time_left(server: CannedServer, make_client: MakeClient) -> None:
    # The run's time is up: not a Severa timeout (that would shrink the window or wait for Severa).
    with pytest.raises(errors.TimeBudgetSpent) as caught:
        make_client(remaining_seconds=lambda: 5.5).get_version()
    assert not isinstance(caught.value, errors.SeveraError)
    assert "IAPI/GetVersion not called: the run's time is up" in str(caught.value)
    assert caught.value.call is not None and caught.value.call.operation == "IAPI/GetVersion"
    assert caught.value.detail == {"reason": "time_budget"}
    assert server.requests == []


def test_time_budget_spent_before_a_retry_is_not_retried_nor_converted(
    server: CannedServer, make_client: MakeClient, sleeps: Sleeps
) -> None:
    remaining = iter([60.0, 60.0])  # the first call and its retry decision; then the time is up
    server.route = lambda seen: Canned(b"<html>down</html>", status=503, content_type="text/html")
    client = make_client(transport_retries=3, remaining_seconds=lambda: next(remaining, 5.5))
    with pytest.raises(errors.TimeBudgetSpent) as caught:
        list(client.stream("ICustomer/GetCustomersChangedSince", startDateTime=env.BASE_TIME, options=0))
    assert caught.value.call is not None
    assert caught.value.call.operation == "ICustomer/GetCustomersChangedSince"
    assert len(server.requests) == 1 and sleeps == [1.0]


# --- an unavailable status wins over the fault its body carries --------------------------------
GATEWAY_FAULTS = [
    pytest.param(env.fault_envelope("GeneralFailureException", "Service is down"), id="general-failure"),
    pytest.param(env.fault_envelope(None, faultstring="The service is unavailable."), id="no-detail"),
    pytest.param(env.fault_envelope("BrandNewException", "Maintenance"), id="unknown-type"),
    pytest.param(
        env.fault_envelope(
            None, "Server too busy", exception_detail_type="System.ServiceModel.ServerTooBusyException"
        ),
        id="wcf-exception-detail",
    ),
    pytest.param(env.fault_envelope("NotFoundException", "Endpoint not found"), id="not-found"),
]


@pytest.mark.parametrize("body", GATEWAY_FAULTS)
@pytest.mark.parametrize("status", sorted(faults.UNAVAILABLE_STATUSES))
def test_unavailable_status_with_a_fault_body_is_unavailable(
    server: CannedServer, make_client: MakeClient, sleeps: Sleeps, status: int, body: bytes
) -> None:
    server.route = lambda seen: Canned(body, status=status)
    client = make_client(transport_retries=1)
    with pytest.raises(errors.SeveraUnavailable) as caught:
        client.get_version()
    error = caught.value
    assert type(error) is errors.SeveraUnavailable
    assert error.disposition is Disposition.RETRY_LATER
    assert error.call is not None and error.call.status == status
    assert error.detail["status"] == status and "fault_type" in error.detail
    assert f"HTTP {status}" in str(error)
    assert client.quota.limit == 100_000 and client.quota.used == 1, "quota headers still read"
    retried = status in (502, 503, 504)
    assert len(server.requests) == (2 if retried else 1)


def test_503_fault_keeps_its_quota_readings_and_names_the_fault(
    server: CannedServer, make_client: MakeClient
) -> None:
    server.push(
        Canned(
            env.fault_envelope("GeneralFailureException", "Down for an upgrade", quota=5000, used=4321),
            status=503,
        )
    )
    client = make_client(transport_retries=0)
    with pytest.raises(errors.SeveraUnavailable) as caught:
        client.get_version()
    assert caught.value.detail["fault_type"] == "GeneralFailureException"
    assert caught.value.detail["description"] == "Down for an upgrade"
    assert "GeneralFailureException" in str(caught.value) and "Down for an upgrade" in str(caught.value)
    assert client.quota.limit == 5000 and client.quota.used == 4321


def test_503_with_a_quota_fault_stays_a_quota_fault(server: CannedServer, make_client: MakeClient) -> None:
    # A declared fault saying more than "unavailable" keeps its class (and its alert).
    server.push(
        Canned(
            env.fault_envelope("QuotaLimitExceededException", "Quota limit", quota=100, used=111), status=503
        )
    )
    with pytest.raises(errors.SeveraQuotaExceeded):
        make_client(transport_retries=0).get_version()


def test_500_with_a_fault_is_still_the_fault(server: CannedServer, make_client: MakeClient) -> None:
    server.push(
        Canned(env.fault_envelope("GeneralFailureException", "StartDateTime not supplied"), status=500)
    )
    with pytest.raises(errors.SeveraGeneralFailure):
        make_client(transport_retries=2).get_version()
    assert len(server.requests) == 1
