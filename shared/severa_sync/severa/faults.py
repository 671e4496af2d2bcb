"""SOAP faults, HTTP statuses and transport exceptions -> typed ``severa_sync.errors`` classes.

Severa names the fault by its detail element (``<NotFoundException xmlns="…/Severa.API">`` with
``Description`` and ``Source``, reference §2/§5); unhandled server errors may come in WCF's
``ExceptionDetail`` shape instead (``Message``/``Type``), which the official PHP example also reads.
Anything without a SOAP envelope (a maintenance page, a gateway error, a cut connection) is
availability, never a fault: the engine waits and tries again.
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3.exceptions
from lxml import etree

from severa_sync import errors, network
from severa_sync.errors import CallInfo, SeveraError, SeveraFault
from severa_sync.redaction import redact_and_cut

FAULT_CLASSES: dict[str, type[SeveraFault]] = {
    cls.fault_type: cls
    for cls in (
        errors.SeveraAuthenticationFailed,
        errors.SeveraNoPermission,
        errors.SeveraNotFound,
        errors.SeveraValidationFailed,
        errors.SeveraGeneralFailure,
        errors.SeveraQuotaExceeded,
        errors.SeveraTosNotApproved,
    )
}
#: What reading a streamed body can raise (urllib3 wraps most socket errors, not all).
READ_ERRORS = (OSError, requests.RequestException, urllib3.exceptions.HTTPError)
#: Gateway statuses that mean "Severa is not there right now" whatever the body says.
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child_text(elem: Any, name: str) -> str | None:
    for child in elem:
        if _local(child.tag) == name:
            return child.text
    return None


def fault_error(fault: Any, call: CallInfo) -> SeveraFault:
    """The typed error for a SOAP 1.1 ``<s:Fault>`` element."""
    faultcode = _child_text(fault, "faultcode") or ""
    faultstring = (_child_text(fault, "faultstring") or "").strip()
    detail = next((child for child in fault if _local(child.tag) == "detail"), None)
    body = (
        next((child for child in detail if isinstance(child.tag, str)), None) if detail is not None else None
    )

    name = _local(body.tag) if body is not None else ""
    description = source = None
    if name == "ExceptionDetail":
        # WCF includeExceptionDetailInFaults: the exception's .NET type names the fault.
        type_name = (_child_text(body, "Type") or "").rpartition(".")[2]
        description = _child_text(body, "Message")
        cls = FAULT_CLASSES.get(type_name, errors.SeveraUnknownFault)
        name = type_name or name
    elif body is not None:
        description = _child_text(body, "Description")
        source = _child_text(body, "Source")
        cls = FAULT_CLASSES.get(name, errors.SeveraUnknownFault)
    else:
        cls = errors.SeveraUnknownFault
    shown = name or faultcode or "fault without detail"
    text = description or faultstring or "(no description)"
    error = cls(
        f"{call.operation}: Severa answered {shown}: {text}",
        description=description,
        source=source,
        call=call,
    )
    if cls is errors.SeveraUnknownFault:
        # Keep what the wire said: an unknown fault type is exactly what an operator must see.
        error.detail["detail_element"] = name or None
        error.detail["faultcode"] = faultcode or None
    return error


_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def parse_error_body(body: bytes) -> tuple[Any | None, Any | None]:
    """(``<s:Fault>``, ``<s:Header>``) of a non-200 answer's body, or (None, None) when it is not SOAP."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return None, None
    if _has_doctype(root) or _local(root.tag) != "Envelope":
        return None, None
    header = next((c for c in root if _local(c.tag) == "Header"), None)
    soap_body = next((c for c in root if _local(c.tag) == "Body"), None)
    fault = None if soap_body is None else next((c for c in soap_body if _local(c.tag) == "Fault"), None)
    return fault, header


def _has_doctype(elem: Any) -> bool:
    return bool(elem.getroottree().docinfo.doctype)


#: Declared faults that already say why Severa does not serve now, more precisely than "unavailable":
#: kept as they are even under an unavailable status (a spent quota must stop the run and alert).
_KEPT_UNDER_UNAVAILABLE = (errors.SeveraUnavailable, errors.SeveraQuotaExceeded)


def error_answer(status: int, body: bytes, fault: Any | None, call: CallInfo) -> SeveraError:
    """The typed error of a non-200 answer whose body was parsed to ``fault`` (None: no SOAP fault).

    An unavailable status (``UNAVAILABLE_STATUSES``) means unavailable whatever the body says: a
    gateway or a maintenance front may well answer with a SOAP fault of its own, and that is no
    reason to stop the run. Only a fault that is itself a maintenance/unavailable or quota fault
    keeps its own, more specific, class.
    """
    if fault is None:
        return http_status_error(status, body, call)
    error = fault_error(fault, call)
    if status not in UNAVAILABLE_STATUSES or isinstance(error, _KEPT_UNDER_UNAVAILABLE):
        return error
    unavailable = errors.SeveraUnavailable(
        f"{call.operation}: HTTP {status} (Severa unavailable or in maintenance); "
        f"the answer carried a fault: {error.message.removeprefix(f'{call.operation}: ')}",
        call=call,
        detail={"status": status, **error.detail},
    )
    unavailable.__cause__ = error
    return unavailable


def http_status_error(status: int, body: bytes, call: CallInfo) -> SeveraError:
    """A non-200 answer that carried no SOAP fault."""
    # Masked before it is cut: a secret across the cut would no longer match whole.
    snippet = redact_and_cut(" ".join(body.decode("utf-8", "replace").split()), 200)
    message = f"{call.operation}: HTTP {status} without a SOAP fault"
    detail = {"status": status, "body_start": snippet}
    if status in UNAVAILABLE_STATUSES or status >= 500:
        return errors.SeveraUnavailable(
            f"{message} (Severa unavailable or in maintenance)", call=call, detail=detail
        )
    if status in (401, 403):
        return errors.SeveraAuthenticationFailed(
            f"{message} (access denied)", description=snippet or None, call=call
        )
    # 404 and other client errors: the endpoint URL or the request is wrong, retrying will not help.
    return SeveraError(f"{message} (check the Severa endpoint)", call=call, detail=detail)


def transport_error(exc: BaseException, call: CallInfo, *, host: str | None = None) -> SeveraError:
    """Timeouts, refused/reset connections, DNS failures and cut streams. ``host`` is the configured
    endpoint URL: with it, a name that does not resolve or a refused connection is
    ``SeveraUnreachable`` (a wrong address, said at once), not maintenance."""
    reason = f"{type(exc).__name__}: {_reason(exc)}"
    unreachable = network.unreachable_reason(exc) if host else None
    if host and unreachable:
        return errors.SeveraUnreachable(
            f"{call.operation}: {network.describe('Severa', host, unreachable, 'severa.url')}", call=call
        )
    read_timeouts = (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)
    if isinstance(exc, read_timeouts) and not isinstance(exc, requests.exceptions.ConnectTimeout):
        return errors.SeveraTimeout(
            f"{call.operation}: no answer within the read timeout ({reason})", call=call
        )
    if _is_truncation(exc):
        return errors.SeveraAnswerCutShort(
            f"{call.operation}: the answer was cut short ({reason})", call=call
        )
    if isinstance(exc, urllib3.exceptions.DecodeError | requests.exceptions.ContentDecodingError):
        return errors.SeveraMalformedResponse(
            f"{call.operation}: the answer's content encoding could not be decoded ({reason})", call=call
        )
    return errors.SeveraUnavailable(f"{call.operation}: cannot reach Severa ({reason})", call=call)


def is_transient(exc: BaseException) -> bool:
    """Worth a short in-process retry: the request never reached Severa or it answered 'not now'."""
    return isinstance(exc, requests.exceptions.ConnectionError | urllib3.exceptions.NewConnectionError)


def _is_truncation(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.IncompleteRead):
            return True
        if isinstance(current, urllib3.exceptions.ProtocolError) and any(
            isinstance(arg, urllib3.exceptions.IncompleteRead) for arg in current.args
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    # requests' messages name the host and the urllib3 reason, never the request body.
    text = " ".join(str(exc).split())
    return redact_and_cut(text, 300) if text else "no detail"
