"""Decoding one Severa entity element into its typed record and the text of its content hash.

This is the hot loop of a mass update (``streaming.EnvelopeReader`` calls it once per record), so
the per-record work is kept to calls that run in C: lxml reads the children's tags and texts,
``map`` and ``zip`` build the lists and the dict, and only the few non-string members go through a
Python converter. Everything that depends on the member layout is worked out once per layout
(``_Layout``), because WCF writes every member of every record of a type in the same order.

Measured figures and the method: docs/benchmarks.md, section 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from severa_sync.severa import schema
from severa_sync.severa.models import ENTITY_MODELS, SeveraRecord

NS_ENT = schema.NS_ENTITIES
XSI_NIL = f"{{{schema.NS_XSI}}}nil"

_tag_of = attrgetter("tag")
_text_of = attrgetter("text")


# --- value conversion --------------------------------------------------------------------------
_fromisoformat = datetime.fromisoformat


def parse_datetime(text: str) -> datetime:
    """xs:dateTime as Severa sends it; values without a zone are UTC (Severa's convention)."""
    if len(text) > 10 and text[-1] != "Z" and text[-6] not in "+-":
        # The common case, naive: parsing with an explicit UTC offset is 4x cheaper than .replace().
        try:
            return _fromisoformat(text + "+00:00")
        except ValueError:
            pass
    value = _fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


#: xs:boolean; a dict lookup is a C call (a bad value raises KeyError: malformed).
parse_bool: Callable[[str], bool] = {"true": True, "false": False, "1": True, "0": False}.__getitem__


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "dateTime": parse_datetime,
    "decimal": Decimal,
    "long": int,
    "int": int,
    "byte": int,
    "unsignedByte": int,
    "bool": parse_bool,
}


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _unknown_value(elem: Any) -> Any:
    """A member this contract does not know (a newer API version): kept as text or nested dicts."""
    if len(elem) == 0:
        return elem.text
    return {local_name(child.tag): _unknown_value(child) for child in elem if isinstance(child.tag, str)}


def _string(child: Any) -> str | None:
    """``<a:X/>`` is an empty string, ``<a:X i:nil="true"/>`` is None."""
    text = child.text
    return text if text is not None else (None if child.get(XSI_NIL) == "true" else "")


class _Layout:
    """How to decode one sequence of member tags; computed once, then reused for every record."""

    __slots__ = (
        "complex",
        "convert",
        "digest",
        "fields_set",
        "missing",
        "names",
        "positions",
        "strings",
        "tags",
        "unknown",
    )

    def __init__(self, entity: str, tags: list[Any]):
        members = {f"{{{NS_ENT}}}{m.name}": m for m in schema.ENTITIES[entity]}
        self.tags = tags
        self.names: list[str] = []
        self.positions: list[int] = []  # indexes of known members
        self.convert: list[tuple[int, str, Callable[[str], Any]]] = []
        self.strings: list[tuple[int, str]] = []
        self.complex: list[tuple[int, str, schema.Member]] = []
        self.unknown: list[tuple[int, str]] = []
        for index, tag in enumerate(tags):
            member = members.get(tag) if isinstance(tag, str) else None
            if member is None:
                if isinstance(tag, str):
                    self.unknown.append((index, local_name(tag)))
                continue
            self.names.append(member.name)
            self.positions.append(index)
            if member.is_array or member.is_entity:
                self.complex.append((index, member.name, member))
            elif member.base == "string":
                self.strings.append((index, member.name))
            else:
                self.convert.append((index, member.name, _SCALARS[member.base]))
        self.fields_set = frozenset(self.names)
        self.missing = [m.name for m in schema.ENTITIES[entity] if m.name not in self.fields_set]
        # The hash covers which members were present, so a value moving between members shows.
        layout_text = "\x1f".join(local_name(t) if isinstance(t, str) else "" for t in tags)
        self.digest = hashlib.blake2b(layout_text.encode(), digest_size=8).hexdigest()


class EntityDecoder:
    """Turns one entity element into its pydantic record and the text its content hash is made of."""

    def __init__(self, entity: str):
        self.entity = entity
        self.model = ENTITY_MODELS[entity]
        self._layouts: dict[tuple[Any, ...], _Layout] = {}
        self._last: _Layout | None = None

    def _layout(self, tags: list[Any]) -> _Layout:
        key = tuple(tags)
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) > 64:  # a misbehaving server must not grow this without bound
                self._layouts.clear()
            layout = self._layouts[key] = _Layout(self.entity, tags)
        self._last = layout
        return layout

    def decode(self, elem: Any, parts: list[str]) -> SeveraRecord:
        """Decode ``elem``, appending its hashable text to ``parts``.

        Raises ValueError/ArithmeticError on a value that is not of its declared type.
        """
        children = list(elem)
        # Every record's tags are compared with its layout's: a record whose members differ from
        # the one before (another member set, another order) is decoded by its own layout.
        tags = list(map(_tag_of, children))
        layout = self._last
        if layout is None or tags != layout.tags:
            layout = self._layout(tags)
        texts = list(map(_text_of, children))
        if layout.unknown or len(layout.positions) != len(texts):
            values = {name: texts[i] for name, i in zip(layout.names, layout.positions, strict=True)}
            extra = {local: _unknown_value(children[index]) for index, local in layout.unknown}
        else:
            values = dict(zip(layout.names, texts, strict=True))
            extra = {}
        for index, name, convert in layout.convert:
            text = texts[index]
            if text is not None:
                values[name] = convert(text)
        if layout.strings and None in texts:
            # Members without text are nil (None) or empty strings (""): only the attribute tells.
            for index, name in layout.strings:
                if texts[index] is None and children[index].get(XSI_NIL) != "true":
                    values[name] = ""
        for name in layout.missing:
            values[name] = None
        parts.append(layout.digest)
        if layout.complex:
            nested: list[str] = []
            for index, name, member in layout.complex:
                texts[index] = ""  # whitespace inside a container depends on indentation, not content
                values[name] = _complex(children[index], member, nested)
            parts.append("\x1f".join([text or "" for text in texts]))
            parts.extend(nested)
        else:
            parts.append("\x1f".join([text or "" for text in texts]))
        # What ``model_construct`` does, without its per-field Python loop: the values are already
        # of the declared types (converted above), so validation would only cost time.
        record = object.__new__(self.model)
        _set = object.__setattr__
        _set(record, "__dict__", values)
        _set(record, "__pydantic_fields_set__", set(layout.fields_set))
        _set(record, "__pydantic_extra__", extra)
        _set(record, "__pydantic_private__", None)
        return record


def _complex(child: Any, member: schema.Member, parts: list[str]) -> Any:
    """An array or nested entity member."""
    if child.get(XSI_NIL) == "true":
        parts.append("\x00")
        return None
    if not member.is_entity:
        values = list(map(_text_of, child))
        if None in values:
            values = [_string(item) for item in child]
            parts.append("\x1d".join([v if v is not None else "\x00" for v in values]))
        else:
            parts.append("\x1d".join(values))
        return values
    inner = decoder(member.base)
    if not member.is_array:
        return inner.decode(child, parts)
    records: list[Any] = []
    for item in child:
        if item.get(XSI_NIL) == "true":
            parts.append("\x00")
            records.append(None)
        else:
            records.append(inner.decode(item, parts))
    parts.append("\x1d")
    return records


_DECODERS: dict[str, EntityDecoder] = {}


def decoder(entity: str) -> EntityDecoder:
    found = _DECODERS.get(entity)
    if found is None:
        found = _DECODERS[entity] = EntityDecoder(entity)
    return found
