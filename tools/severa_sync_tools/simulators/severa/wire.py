"""Scalar values on the wire: xs:* lexical forms in and out, as WCF's DataContractSerializer does.

Records inside the simulator hold Python values (str, int, bool, Decimal, tz-aware UTC datetime,
lists, nested dicts); this module converts them to and from the text that travels in the XML.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

#: What WCF writes for a non-nillable member nobody set (the CLR default values).
VALUE_DEFAULTS = {
    "bool": "false",
    "int": "0",
    "long": "0",
    "byte": "0",
    "unsignedByte": "0",
    "decimal": "0",
    "dateTime": "0001-01-01T00:00:00",
}

_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_NEEDS_ESCAPE = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Characters XML 1.0 forbids: WCF's XmlWriter writes them as character references (``&#xB;``).
_ILLEGAL_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (Severa's convention); aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """ISO-8601 UTC with ``Z``; fractions only when there are some (WCF trims trailing zeros)."""
    value = as_utc(value).replace(tzinfo=None)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if value.microsecond:
        text = text.rstrip("0")
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """xs:dateTime (or a bare xs:date, which WCF also accepts) as a tz-aware UTC datetime."""
    raw = text.strip()
    if len(raw) == 10:
        return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC)
    # .NET writes up to 7 fractional digits; Python reads at most 6.
    raw = _FRACTION.sub(lambda m: m.group(1), raw, count=1)
    return as_utc(datetime.fromisoformat(raw.replace("z", "Z")))


def escape_text(text: str) -> str:
    if not _NEEDS_ESCAPE.search(text):
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    return _ILLEGAL_IN_XML.sub(lambda m: f"&#x{ord(m.group(0)):X};", text)


def to_text(base: str, value: Any) -> str:
    """The lexical form of one scalar value of XSD base type ``base`` (already escaped)."""
    if base == "string":
        return escape_text(str(value))
    if base == "bool":
        return "true" if value else "false"
    if base == "dateTime":
        return format_datetime(value)
    if base == "decimal":
        return format(Decimal(value), "f") if not isinstance(value, Decimal) else format(value, "f")
    return str(int(value))


def from_text(base: str, text: str) -> Any:
    """Parse the lexical form of ``base``; raises ValueError on anything WCF would refuse."""
    if base == "string":
        return text
    stripped = text.strip()
    if base == "bool":
        if stripped in ("true", "1"):
            return True
        if stripped in ("false", "0"):
            return False
        raise ValueError(f"not an xs:boolean: {text!r}")
    if base == "dateTime":
        return parse_datetime(stripped)
    if base == "decimal":
        try:
            return Decimal(stripped)
        except InvalidOperation:
            raise ValueError(f"not an xs:decimal: {text!r}") from None
    return int(stripped)


def coerce(base: str, value: Any) -> Any:
    """A Python (or JSON) value as the simulator stores it for ``base``; ValueError when it cannot be."""
    if value is None:
        return None
    if base == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return value
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return from_text(base, value)
        raise ValueError(f"expected a boolean, got {type(value).__name__}")
    if base == "dateTime":
        if isinstance(value, datetime):
            return as_utc(value)
        if isinstance(value, str):
            return parse_datetime(value)
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if base == "decimal":
        if isinstance(value, bool):
            raise ValueError("expected a decimal, got bool")
        if isinstance(value, Decimal | int | float | str):
            try:
                return Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"not a decimal: {value!r}") from None
        raise ValueError(f"expected a decimal, got {type(value).__name__}")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return int(value)


def to_json(value: Any) -> Any:
    """Records and call parameters as JSON: datetimes as ISO-8601 Z, decimals as exact strings."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value
