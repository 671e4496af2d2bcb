"""Decoding one Severa entity element into its typed record and the text of its content hash.

This is the hot loop of a mass update (``streaming.EnvelopeReader`` calls it once per record), so
the per-record work is kept to calls that run in C: lxml reads the children's tags and texts,
``map`` and ``zip`` build the lists and the dict, and only the few non-string members go through a
Python converter. Everything that depends on the member layout is worked out once per layout
(``_Layout``), because WCF writes every member of every record of a type in the same order.

The content hash is taken over the decoded values, never over the XML text: WCF may write one
DateTime as ``...Z``, without a designator or with an offset, a decimal with or without trailing
zeros, an omitted member or an ``i:nil`` one, and members in another order; none of that is a change.

Measured figures and the method: docs/benchmarks.md, section 1.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any

from severa_sync.severa import schema
from severa_sync.severa.models import ENTITY_MODELS, SeveraRecord

NS_ENT = schema.NS_ENTITIES
XSI_NIL = f"{{{schema.NS_XSI}}}nil"
#: xs:boolean lexical forms of "true" for ``i:nil`` (WCF writes "true"; "1" is as legal).
NIL_TRUE = frozenset({"true", "1"})
#: What a null (nil or omitted) member contributes to the content hash.
NULL_MARK = "\x00"


def is_nil(elem: Any) -> bool:
    value = elem.get(XSI_NIL)
    return value is not None and (value in NIL_TRUE or value.strip() in NIL_TRUE)


_tag_of = attrgetter("tag")
_text_of = attrgetter("text")


# --- value conversion --------------------------------------------------------------------------
_fromisoformat = datetime.fromisoformat


def parse_datetime(text: str) -> datetime:
    """xs:dateTime in any form WCF writes (``Z``, no designator, an offset; up to 7 fractional
    digits, of which Python keeps 6), as tz-aware UTC. Values without a zone are UTC (Severa's
    convention)."""
    if len(text) > 10 and text[-1] != "Z" and text[-6] not in "+-":
        # The common case, naive: parsing with an explicit UTC offset is 4x cheaper than .replace().
        try:
            return _fromisoformat(text + "+00:00")
        except ValueError:
            pass
    value = _fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # DateTime.MinValue/MaxValue written with an offset: the edge it names
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_bool_of = _BOOLS.__getitem__


def parse_bool(text: str) -> bool:
    """xs:boolean (whitespace around it is legal); a bad value raises KeyError: undecodable."""
    try:
        return _bool_of(text)
    except KeyError:
        return _bool_of(text.strip())


def _decimal_text(value: Decimal) -> str:
    # 120.00 and 120.0 are one value: the hash must not see the scale WCF happened to write.
    return format(value.normalize(), "f") if value else "0"


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


#: Per XSD base type: the converter from text and the canonical text of a value (for the hash).
_SCALARS: dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]] = {
    "dateTime": (parse_datetime, datetime.isoformat),
    "decimal": (Decimal, _decimal_text),
    "long": (int, str),
    "int": (int, str),
    "byte": (int, str),
    "unsignedByte": (int, str),
    "bool": (parse_bool, _bool_text),
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
    return text if text is not None else (None if is_nil(child) else "")


class _Layout:
    """How to decode one sequence of member tags; computed once, then reused for every record."""

    __slots__ = (
        "complex",
        "convert",
        "fields_set",
        "missing",
        "names",
        "pick",
        "positions",
        "scalars",
        "tags",
        "unknown",
    )

    def __init__(self, entity: str, tags: list[Any]):
        ordered = schema.ENTITIES[entity]
        members = {f"{{{NS_ENT}}}{m.name}": m for m in ordered}
        self.tags = tags
        self.names: list[str] = []
        self.positions: list[int] = []  # indexes of known members
        self.convert: list[tuple[int, str, Callable[[str], Any], Callable[[Any], str]]] = []
        self.scalars: list[tuple[int, str, bool]] = []  # (index, name, is a string) of simple members
        complex_: dict[str, tuple[int, str, schema.Member]] = {}
        self.unknown: list[tuple[int, str]] = []
        where: dict[str, int] = {}
        for index, tag in enumerate(tags):
            member = members.get(tag) if isinstance(tag, str) else None
            if member is None or member.name in where:  # unknown, or a repeated member (kept as extra)
                if isinstance(tag, str):
                    self.unknown.append((index, local_name(tag)))
                continue
            where[member.name] = index
            self.names.append(member.name)
            self.positions.append(index)
            if member.is_array or member.is_entity:
                complex_[member.name] = (index, member.name, member)
            else:
                self.scalars.append((index, member.name, member.base == "string"))
                if member.base != "string":
                    self.convert.append((index, member.name, *_SCALARS[member.base]))
        self.fields_set = frozenset(self.names)
        self.missing = [m.name for m in ordered if m.name not in self.fields_set]
        # The hash reads the simple members in the contract's order whatever order they came in; an
        # omitted member reads the null mark (index ``len(tags)``), exactly like an ``i:nil`` one.
        order = [where.get(m.name, len(tags)) for m in ordered if not (m.is_array or m.is_entity)]
        self.pick: Callable[[list[Any]], Any] = (
            itemgetter(*order) if len(order) > 1 else (lambda texts: tuple(texts[i] for i in order))
        )
        self.complex = [complex_[m.name] for m in ordered if m.name in complex_]
        self.unknown.sort(key=lambda item: item[1])


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
        """Decode ``elem``, appending the canonical text of its values (its content hash) to ``parts``.

        Raises ValueError/LookupError/ArithmeticError on a value that is not of its declared type.
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
        # ``texts`` becomes the canonical text of each value, for the hash.
        for index, name, convert, canonical in layout.convert:
            text = texts[index]
            if text is not None:
                value = values[name] = convert(text)
                texts[index] = canonical(value)
        if None in texts:
            # Members without text are nil (None) or, for strings, empty (""): only the attribute tells.
            for index, name, is_string in layout.scalars:
                if texts[index] is None:
                    if is_string and not is_nil(children[index]):
                        values[name] = texts[index] = ""
                    else:
                        texts[index] = NULL_MARK
        for name in layout.missing:
            values[name] = None
        texts.append(NULL_MARK)
        parts.append(self.entity)
        parts.append("\x1f".join(layout.pick(texts)))
        for _index, local in layout.unknown:
            parts.append(f"{local}={extra[local]!r}")
        if layout.complex:
            for index, name, member in layout.complex:
                values[name] = _complex(children[index], member, parts)
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
    if is_nil(child):
        parts.append(NULL_MARK)
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
        if is_nil(item):
            parts.append(NULL_MARK)
            records.append(None)
        else:
            records.append(inner.decode(item, parts))
    parts.append("\x1d")
    return records


# --- a record that cannot be decoded -------------------------------------------------------------
class UndecodableRecord(SeveraRecord):
    """Stands in the stream for a record one of whose members is not of its declared type, so the
    engine parks that record alone (by its GUID, when the raw record has one) and delivers the rest."""

    entity: str
    GUID: str | None = None
    display: str | None = None  # the raw number or name, for the log line
    problem: str  # which member, of which type: never the value (it is customer data)
    message: str = ""  # the whole explanation, for the parked item and the log line


#: Members whose raw text names a record in a log line, in order of preference.
_DISPLAY_MEMBERS = ("Number", "CaseNumber", "Name")


def _raw_child_text(elem: Any, name: str) -> str | None:
    for child in elem:
        if isinstance(child.tag, str) and local_name(child.tag) == name and child.text:
            return child.text.strip() or None
    return None


def _bad_member(entity: str, elem: Any, depth: int = 0) -> str | None:
    """The path of the first member of ``elem`` that does not convert to its declared type."""
    members = {m.name: m for m in schema.ENTITIES.get(entity, ())}
    for child in elem:
        member = members.get(local_name(child.tag)) if isinstance(child.tag, str) else None
        if member is None or is_nil(child):
            continue
        if member.is_entity and depth < 8:
            items = list(child) if member.is_array else [child]
            for item in items:
                inner = _bad_member(member.base, item, depth + 1) if isinstance(item.tag, str) else None
                if inner is not None:
                    return f"{member.name}/{inner}"
        elif not member.is_array and member.base != "string" and child.text is not None:
            try:
                _SCALARS[member.base][0](child.text)
            except (ValueError, LookupError, ArithmeticError):
                return f"{member.name} (xs:{member.base})"
    return None


def undecodable(entity: str, elem: Any, exc: BaseException) -> UndecodableRecord:
    """What can be told about a record that did not decode, from its raw element."""
    guid = _raw_child_text(elem, "GUID")
    try:
        guid = str(uuid.UUID(guid)) if guid else None
    except ValueError:
        guid = None  # not a GUID: Severa could not be asked for it by key
    problem = _bad_member(entity, elem) or f"a member ({type(exc).__name__})"
    shown = (name for name in _DISPLAY_MEMBERS if not problem.startswith(f"{name} "))  # not the bad value
    display = next((text for name in shown if (text := _raw_child_text(elem, name))), None)
    return UndecodableRecord.model_construct(entity=entity, GUID=guid, display=display, problem=problem)


_DECODERS: dict[str, EntityDecoder] = {}


def decoder(entity: str) -> EntityDecoder:
    found = _DECODERS.get(entity)
    if found is None:
        found = _DECODERS[entity] = EntityDecoder(entity)
    return found
