"""Streaming reader of Severa SOAP answers: one typed record at a time, memory flat.

A mass update can make a ``Get*ChangedSince`` answer tens of MB. zeep builds the whole tree and
then an object per element (about 8 KB of RSS per record, 6-10 times slower); here lxml
``iterparse`` reports only the elements we need (record ends, quota headers, the fault, the
response wrapper), each record is decoded with per-field converters chosen once per entity, and
then removed from the tree.

Hardening (the answer is untrusted input): no DTD (a DOCTYPE is refused), no entity expansion, no
network access; ``huge_tree`` only lifts libxml2's text-node size limit, the byte limit is ours
(``BoundedReader``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from lxml import etree

from severa_sync.errors import CallInfo, SeveraMalformedResponse, SeveraResponseTooLarge, SeveraTimeout
from severa_sync.severa import faults, schema
from severa_sync.severa.models import ENTITY_MODELS, SeveraRecord

NS_ENT = schema.NS_ENTITIES
XSI_NIL = f"{{{schema.NS_XSI}}}nil"
SOAP_FAULT = f"{{{schema.NS_SOAP_ENV}}}Fault"
QUOTA_TAGS = (f"{{{schema.NS_SEVERA}}}Quota", f"{{{schema.NS_SEVERA}}}UsedQuota")


# --- byte source -------------------------------------------------------------------------------
class BoundedReader:
    """File-like ``read(n)`` over a raw stream that enforces the size limit and the deadline.

    requests' read timeout bounds each socket read, not the whole answer: a slow 60 MB answer could
    outlive the Lambda, so the deadline is checked between chunks too.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        max_bytes: int,
        call: CallInfo,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._read = read
        self._max_bytes = max_bytes
        self._call = call
        self._deadline = deadline
        self._clock = clock
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        if self._deadline is not None and self._clock() > self._deadline:
            raise SeveraTimeout(
                f"{self._call.operation}: answer still arriving when the time budget ran out "
                f"({self.bytes_read} bytes read)",
                call=self._call,
            )
        # Never ask for more than one byte past the limit: enough to know it was passed.
        want = self._max_bytes + 1 - self.bytes_read
        chunk = self._read(want if size is None or size < 0 else min(size, want))
        self.bytes_read += len(chunk)
        if self.bytes_read > self._max_bytes:
            raise SeveraResponseTooLarge(
                f"{self._call.operation}: answer larger than the limit of {self._max_bytes} bytes",
                call=self._call,
                detail={"max_response_bytes": self._max_bytes},
            )
        return chunk


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


#: Nil members of a record, counted in C. WCF only ever writes ``i:nil="true"``; were a server to
#: write ``i:nil="false"`` on an empty string, that string would read as None (same content hash).
_count_nils = etree.XPath("count(*/@i:nil)", namespaces={"i": schema.NS_XSI})
#: Up to this many textless members, reading their attributes is cheaper than the XPath count.
_FEW = 8


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _unknown_value(elem: Any) -> Any:
    """A member this contract does not know (a newer API version): kept as text or nested dicts."""
    if len(elem) == 0:
        return elem.text
    return {_local(child.tag): _unknown_value(child) for child in elem if isinstance(child.tag, str)}


def _string(child: Any) -> str | None:
    """``<a:X/>`` is an empty string, ``<a:X i:nil="true"/>`` is None."""
    text = child.text
    return text if text is not None else (None if child.get(XSI_NIL) == "true" else "")


class _Layout:
    """How to decode one sequence of member tags; computed once, then reused for every record.

    WCF writes every member of every record in the same order, so after the first record the
    per-record work is: read tags and texts (lxml, in C), one list comparison, one ``zip``, then
    conversions for the few non-string members.
    """

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
                    self.unknown.append((index, _local(tag)))
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
        layout_text = "\x1f".join(_local(t) if isinstance(t, str) else "" for t in tags)
        self.digest = hashlib.blake2b(layout_text.encode(), digest_size=8).hexdigest()


class EntityDecoder:
    """Turns one entity element into its pydantic record and the text its content hash is made of."""

    def __init__(self, entity: str):
        self.entity = entity
        self.model = ENTITY_MODELS[entity]
        self._layouts: dict[tuple[Any, ...], _Layout] = {}
        self._last: _Layout | None = None

    def _new_layout(self, tags: list[Any]) -> _Layout:
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

        Raises ValueError/ArithmeticError on a value that is not of its declared type. This is the
        hot loop of a mass update: keep per-record work to list operations done in C.
        """
        children = list(elem)
        tags = [child.tag for child in children]
        layout = self._last
        if layout is None or tags != layout.tags:
            layout = self._new_layout(tags)
        texts = [child.text for child in children]
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
        if layout.strings:
            # Members without text are nil (None) or empty strings (""): only an attribute tells.
            # Reading it per member is the costliest step of a nil-heavy record, so count the nils
            # in one C call first; when every textless member is nil there is nothing to tell apart.
            textless = texts.count(None)
            if textless and (textless <= _FEW or _count_nils(elem) != textless):
                for index, name in layout.strings:
                    if texts[index] is None and children[index].get(XSI_NIL) != "true":
                        values[name] = ""
        for name in layout.missing:
            values[name] = None
        if layout.complex:
            nested: list[str] = []
            for index, name, member in layout.complex:
                texts[index] = ""  # whitespace inside a container depends on indentation, not content
                values[name] = _complex(children[index], member, nested)
            parts.append(layout.digest)
            parts.append("\x1f".join([text or "" for text in texts]))
            parts.extend(nested)
        else:
            parts.append(layout.digest)
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
        values = [item.text for item in child]
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


# --- the envelope ------------------------------------------------------------------------------
QuotaSink = Callable[[str, str | None], None]


class EnvelopeReader:
    """Reads one SOAP answer of ``operation`` from a file-like source.

    ``records()`` yields ``(record, content_hash)`` for a list or single-entity answer;
    ``scalar()`` returns the text of a simple answer (None for void or nil). Quota headers go to
    ``on_quota`` as they pass; a SOAP fault raises its typed error; malformed or truncated XML
    raises SeveraMalformedResponse.
    """

    def __init__(
        self,
        source: BinaryIO | BoundedReader,
        operation: schema.Operation,
        *,
        call: CallInfo,
        on_quota: QuotaSink | None = None,
    ):
        self._source = source
        self._op = operation
        self._call = call
        self._on_quota = on_quota
        self._response_tag = f"{{{schema.NS_SEVERA}}}{operation.name}Response"
        self._result_tag = f"{{{schema.NS_SEVERA}}}{operation.name}Result"
        returns = operation.returns
        self._list_entity = returns[:-2] if returns.endswith("[]") else None
        self._single_entity = returns if returns in schema.ENTITIES else None
        self._seen_response = False

    def _iterparse(self, wanted: str) -> Any:
        return etree.iterparse(
            self._source,
            events=("end",),
            tag=(wanted, *QUOTA_TAGS, SOAP_FAULT, self._response_tag),
            load_dtd=False,
            no_network=True,
            resolve_entities=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )

    def _refuse_dtd(self, elem: Any) -> None:
        if elem.getroottree().docinfo.doctype:
            raise SeveraMalformedResponse(
                f"{self._call.operation}: answer carries a DTD; refused", call=self._call
            )

    def _envelope_part(self, elem: Any, tag: str) -> None:
        """A quota header, the fault, or the response wrapper's end."""
        if tag == SOAP_FAULT:
            raise faults.fault_error(elem, self._call)
        if tag == self._response_tag:
            self._seen_response = True
        elif self._on_quota is not None:
            self._on_quota(_local(tag), elem.text)

    def _malformed(self, exc: etree.XMLSyntaxError) -> SeveraMalformedResponse:
        return SeveraMalformedResponse(
            f"{self._call.operation}: malformed or truncated XML answer: {exc.msg}", call=self._call
        )

    def _check_complete(self) -> None:
        if not self._seen_response:
            raise SeveraMalformedResponse(
                f"{self._call.operation}: the answer has no {self._op.name}Response element "
                "(not a Severa SOAP answer)",
                call=self._call,
            )

    def records(self) -> Iterator[tuple[SeveraRecord, str]]:
        entity = self._list_entity or self._single_entity
        if entity is None:
            raise TypeError(f"{self._op.qualified} does not return records")
        single = self._single_entity is not None
        record_tag = self._result_tag if single else f"{{{NS_ENT}}}{entity}"
        result_tag = self._result_tag
        result = None  # the list's <OpResult>, once its first record is seen
        decode = decoder(entity).decode
        blake2b = hashlib.blake2b
        first = True
        try:
            for _event, elem in self._iterparse(record_tag):
                parent = elem.getparent()
                if parent is not result or result is None:
                    # Not (yet) a plain list record: the first element, headers, the fault, nesting.
                    if first:
                        self._refuse_dtd(elem)
                        first = False
                    tag = elem.tag
                    if tag != record_tag:
                        self._envelope_part(elem, tag)
                        continue
                    if single:
                        if elem.get(XSI_NIL) == "true":
                            continue  # nil: "not found" answered as null
                    elif parent is None or parent.tag != result_tag:
                        continue  # the same tag nested inside a record: decoded with its record
                    else:
                        result = parent
                parts: list[str] = []
                try:
                    record = decode(elem, parts)
                except (ValueError, LookupError, ArithmeticError, RecursionError) as exc:
                    raise SeveraMalformedResponse(
                        f"{self._call.operation}: a {entity} member is not of its declared type: {exc}",
                        call=self._call,
                    ) from None
                # Drop the record from the tree so memory stays flat whatever the answer's size.
                elem.clear(keep_tail=False)
                if parent is not None:
                    parent.remove(elem)
                yield record, blake2b("\x1e".join(parts).encode(), digest_size=16).hexdigest()
        except etree.XMLSyntaxError as exc:
            raise self._malformed(exc) from None
        self._check_complete()

    def scalar(self) -> str | None:
        value: str | None = None
        try:
            for index, (_event, elem) in enumerate(self._iterparse(self._result_tag)):
                if index == 0:
                    self._refuse_dtd(elem)
                tag = elem.tag
                if tag == self._result_tag:
                    value = None if elem.get(XSI_NIL) == "true" else (elem.text or "")
                else:
                    self._envelope_part(elem, tag)
        except etree.XMLSyntaxError as exc:
            raise self._malformed(exc) from None
        self._check_complete()
        return value
