"""Wire format of the simulated Visma.net API: replies, the two error body shapes and value unwrapping
(reference visma-net-api.md sections 4.1 and 8)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

BARE_FIELDS = frozenset({"operation", "overrideWithClassValues"})
BARE_ITEM_ARRAYS = frozenset(
    {"subaccount", "defSub", "defAccrualSub", "expenseSubaccount", "cogsSubaccount", "salesSubaccount"}
)
#: Fields typed directly as a DTO: a bare object whose own fields are wrapped (visma-net-dtos.md 8.1).
BARE_OBJECTS = frozenset({"visibility", "rotRutDetails", "packaging", "intrastat"})


@dataclass(slots=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def error_body(message: str, shape: str = "message", fault_code: str = "12000") -> Any:
    """Visma.net's two error body shapes (section 8); ``text``: a gateway's plain-text page (bytes)."""
    if shape == "text":
        return message.encode()
    if shape == "ipp":
        return {
            "ExceptionType": "IPPException",
            "ExceptionMessage": message,
            "ExceptionFaultCode": fault_code,
            "ExceptionMessageID": f"{fault_code}_{uuid.uuid4()}",
            "ExceptionDetails": "",
        }
    return {"message": f"VismaId: {uuid.uuid4()}. {message}"}


def unwrap(body: Any, where: str = "") -> dict[str, Any]:
    """A wrapped request DTO -> plain values; BadRequest naming the first unwrapped field."""
    if not isinstance(body, dict):
        raise BadRequest(f"The request is invalid: {where or 'the body'} must be a JSON object.")
    plain: dict[str, Any] = {}
    for key, value in body.items():
        name = f"{where}.{key}" if where else key
        if key in BARE_FIELDS:
            if isinstance(value, (dict, list)):
                raise BadRequest(f"The request is invalid: field '{name}' must be sent bare, not wrapped.")
            plain[key] = value
        elif key in BARE_ITEM_ARRAYS:
            plain[key] = _segments(value, name)
        elif key in BARE_OBJECTS:
            if not isinstance(value, dict) or set(value) == {"value"}:
                raise BadRequest(
                    f"The request is invalid: field '{name}' must be a bare object, not wrapped."
                )
            plain[key] = unwrap(value, name)
        elif isinstance(value, list):
            plain[key] = [unwrap(item, f"{name}[{i}]") for i, item in enumerate(value)]
        elif isinstance(value, dict) and set(value) == {"value"}:
            inner = value["value"]
            plain[key] = unwrap(inner, name) if isinstance(inner, dict) else inner
        else:
            raise BadRequest(f"The request is invalid: field '{name}' must be sent as {{\"value\": ...}}.")
    return plain


def _segments(value: Any, name: str) -> list[dict[str, Any]]:
    """A SegmentUpdateDto array: plain objects whose ``segmentId`` (int) and ``segmentValue``
    (string) are bare, as the spec's A(Dto) kind has them."""
    if not isinstance(value, list):
        raise BadRequest(f"The request is invalid: field '{name}' must be an array of segments.")
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict) or set(item) - {"segmentId", "segmentValue"}:
            raise BadRequest(f"The request is invalid: {where} must be a segment object.")
        if not isinstance(item.get("segmentId"), int) or isinstance(item.get("segmentId"), bool):
            raise BadRequest(f"The request is invalid: {where}.segmentId must be a bare integer.")
        if not isinstance(item.get("segmentValue"), str):
            raise BadRequest(f"The request is invalid: {where}.segmentValue must be a bare string.")
    return value
