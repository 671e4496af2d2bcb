"""Building blocks of the human keys records are logged by (each type's ``display_key``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def member(name: str) -> Callable[[Any, Mapping[str, str]], str | None]:
    """The record's ``name`` member as its display key (``CaseNumber``, an invoice's ``Number``)."""
    return lambda record, names: text(getattr(record, name, None))


def with_guid(parts: list[str | None], record: Any) -> str | None:
    """The parts that are there, then the GUID to look the record up by."""
    shown = ", ".join(part for part in parts if part)
    guid = text(getattr(record, "GUID", None))
    return f"{shown} ({guid})" if shown and guid else shown or guid
