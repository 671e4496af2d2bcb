"""Streaming reader of Severa SOAP answers: one typed record at a time, memory flat.

A mass update can make a ``Get*ChangedSince`` answer tens of MB. zeep builds the whole tree and
then an object per element (about 15 KB of RSS per record, 6-10 times slower); here lxml
``iterparse`` reports only the elements we need (record ends, quota headers, the fault, the
response wrapper), each record is decoded (``decoding.EntityDecoder``) and then removed from the
tree.

Hardening (the answer is untrusted input): no DTD (a DOCTYPE is refused), no entity expansion, no
network access; ``huge_tree`` only lifts libxml2's text-node size limit, the byte limit is ours
(``BoundedReader``).

Every legal WCF answer is read (reference §2, §4): any namespace prefixes, a BOM, UTF-16, members
in any order or omitted, ``i:nil="true"`` or ``"1"``, empty elements, any xs:dateTime form. What is
not legal gets its own typed error:

- characters XML 1.0 forbids (WCF writes a customer's vertical tab as ``&#xB;``) are tolerated:
  each becomes U+FFFD (``XmlCharacters``), one warning per answer says how many;
- a record with a member not of its declared type becomes an ``UndecodableRecord`` (parked alone
  by the engine), the rest of the answer is delivered;
- an answer that ends before its document does is ``SeveraAnswerCutShort`` (retried: a cut
  connection); one that breaks in the middle is ``SeveraMalformedResponse`` (stops the run);
- an HTML page (a wrong URL, a login page) is ``SeveraEndpointNotSoap``, a configuration error.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from aws_lambda_powertools import Logger
from lxml import etree

from severa_sync.errors import (
    CallInfo,
    SeveraAnswerCutShort,
    SeveraEndpointNotSoap,
    SeveraMalformedResponse,
    SeveraRecordUndecodable,
    SeveraResponseTooLarge,
    SeveraTimeout,
)
from severa_sync.severa import faults, schema
from severa_sync.severa.decoding import (
    UndecodableRecord,
    decoder,
    is_nil,
    local_name,
    parse_bool,
    parse_datetime,
    undecodable,
)
from severa_sync.severa.models import SeveraRecord

__all__ = ["BoundedReader", "EnvelopeReader", "XmlCharacters", "parse_bool", "parse_datetime"]
log = Logger(service="severa-sync", child=True)  # the run's JSON lines: run_id, tenant

NS_ENT = schema.NS_ENTITIES
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


# --- characters XML 1.0 forbids ----------------------------------------------------------------
#: A raw control character, or any character reference (the callback keeps the legal ones).
_SUSPECT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|&#(?:x([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
REPLACEMENT_REF = b"&#xFFFD;"
REPLACEMENT_UTF8 = "\ufffd".encode()
#: A character reference is never longer than this (``&#x10FFFF;``, a few leading zeros allowed).
_LONGEST_REF = 20
#: Bytes kept from the start of an answer, to say what came back when it is not SOAP.
HEAD_BYTES = 2048


def legal_xml_char(code: int) -> bool:
    """XML 1.0 ``Char``: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


class XmlCharacters:
    """``read(n)`` that makes XML 1.0 of a UTF-8 answer: every character XML 1.0 forbids, written as
    a character reference (WCF's way: ``&#xB;``) or raw, becomes U+FFFD, so one customer's notes can
    never stop a whole type. Only text can hold them in a well-formed answer; markup is untouched.

    In UTF-8 no byte below 0x20 is part of another character, so the bytes can be filtered as they
    come. UTF-16/32 answers (a BOM or a NUL in their first bytes) pass unfiltered: libxml2 reads
    them as they are. Also keeps the answer's first bytes (``head``) to say what came back.
    """

    def __init__(self, read: Callable[[int], bytes]):
        self._read = read
        self._carry = b""
        self._filter: bool | None = None  # decided by the first bytes
        self.head = b""
        self.replaced = 0

    def read(self, size: int = 65536) -> bytes:
        while True:  # never an empty chunk before the end: the parser would take it for the end
            chunk = self._read(size)
            if not chunk:
                rest, self._carry = self._carry, b""
                return self._clean(rest) if rest and self._filter is not False else rest
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            if self._carry:
                chunk, self._carry = self._carry + chunk, b""
            if self._filter is None:
                if len(self.head) < 4:
                    self._carry = chunk  # too few bytes yet to tell UTF-8 from UTF-16
                    continue
                start = self.head[:4]
                self._filter = not (start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start)
            if not self._filter:
                return chunk
            # A reference cut by the chunk boundary waits for the rest of it.
            amp = chunk.rfind(b"&", max(0, len(chunk) - _LONGEST_REF))
            if amp != -1 and b";" not in chunk[amp:]:
                chunk, self._carry = chunk[:amp], chunk[amp:]
            if chunk:
                return self._clean(chunk)

    def _clean(self, chunk: bytes) -> bytes:
        if b"&#" not in chunk and _CONTROL.search(chunk) is None:
            return chunk  # the common case: nothing to look at
        return _SUSPECT.sub(self._replace, chunk)

    def _replace(self, match: re.Match[bytes]) -> bytes:
        hex_digits, decimal = match.group(1), match.group(2)
        if hex_digits is None and decimal is None:
            self.replaced += 1
            return REPLACEMENT_UTF8
        code = int(hex_digits, 16) if hex_digits is not None else int(decimal)
        if legal_xml_char(code):
            return match.group(0)
        self.replaced += 1
        return REPLACEMENT_REF


def looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml"):
        text = text.partition(b"?>")[2].lstrip()
    return text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]


def what_came_back(head: bytes) -> str:
    """A page's title, or its first words: enough to recognise a login or proxy page."""
    text = head.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    words = title.group(1) if title else re.sub(r"<[^>]*>", " ", text)
    shown = " ".join(words.split())[:160]
    return f'"{shown}"' if shown else "an empty page"


# --- the envelope ------------------------------------------------------------------------------
QuotaSink = Callable[[str, str | None], None]
#: Bytes handed to the parser at a time.
FEED_BYTES = 16 * 1024


class EnvelopeReader:
    """Reads one SOAP answer of ``operation`` from a file-like source.

    ``records()`` yields ``(record, content_hash)`` for a list or single-entity answer (an
    ``UndecodableRecord`` with an empty hash for a list record that does not decode); ``scalar()``
    returns the text of a simple answer (None for void or nil). Quota headers go to ``on_quota`` as
    they pass; a SOAP fault raises its typed error; see the module for the others.
    """

    def __init__(
        self,
        source: BinaryIO | BoundedReader,
        operation: schema.Operation,
        *,
        call: CallInfo,
        on_quota: QuotaSink | None = None,
        endpoint: str | None = None,
    ):
        self._source = XmlCharacters(source.read)
        self._op = operation
        self._call = call
        self._on_quota = on_quota
        self._endpoint = endpoint
        self._response_tag = f"{{{schema.NS_SEVERA}}}{operation.name}Response"
        self._result_tag = f"{{{schema.NS_SEVERA}}}{operation.name}Result"
        returns = operation.returns
        self._list_entity = returns[:-2] if returns.endswith("[]") else None
        self._single_entity = returns if returns in schema.ENTITIES else None
        self._seen_response = False

    def _events(self, wanted: str) -> Iterator[tuple[str, Any]]:
        """lxml's pull parser, fed by hand: an error while feeding is a broken answer, an error
        only when the input ends is an answer that ended too soon (a cut connection)."""
        parser = etree.XMLPullParser(
            events=("end",),
            tag=(wanted, *QUOTA_TAGS, SOAP_FAULT, self._response_tag),
            load_dtd=False,
            no_network=True,
            resolve_entities=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        read = self._source.read
        while chunk := read(FEED_BYTES):
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError as exc:
                raise self._broken(exc) from None
            yield from parser.read_events()
        try:
            parser.close()
        except etree.XMLSyntaxError as exc:
            raise self._ended_early(exc) from None
        yield from parser.read_events()
        self._replacements_logged()

    def _replacements_logged(self) -> None:
        if self._source.replaced:
            log.warning(
                "characters illegal in XML 1.0 replaced by U+FFFD",
                extra={"severa_call": self._call.as_log(), "replaced_characters": self._source.replaced},
            )

    def _not_soap(self, what: str) -> SeveraEndpointNotSoap:
        where = self._endpoint or "the Severa endpoint"
        return SeveraEndpointNotSoap(
            f"{self._call.operation}: {where} answered HTTP 200 with {what} ({what_came_back(self._source.head)})"
            ", not a Severa SOAP answer: check severa.url in the configuration (a wrong URL, or a login "
            "or proxy page in the way)",
            call=self._call,
            detail={"endpoint": self._endpoint, "answer_start": what_came_back(self._source.head)},
        )

    def _refuse_dtd(self, elem: Any) -> None:
        if elem.getroottree().docinfo.doctype:
            if looks_like_html(self._source.head):
                raise self._not_soap("an HTML page")
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
            self._on_quota(local_name(tag), elem.text)

    def _broken(self, exc: etree.XMLSyntaxError) -> SeveraMalformedResponse | SeveraEndpointNotSoap:
        if looks_like_html(self._source.head):
            return self._not_soap("an HTML page")
        return SeveraMalformedResponse(
            f"{self._call.operation}: the answer is not well-formed XML: {exc.msg}",
            call=self._call,
            detail={"xml_error": exc.msg},
        )

    def _ended_early(self, exc: etree.XMLSyntaxError) -> SeveraAnswerCutShort | SeveraEndpointNotSoap:
        if looks_like_html(self._source.head):
            return self._not_soap("an HTML page")
        return SeveraAnswerCutShort(
            f"{self._call.operation}: the answer ended before its XML did (cut short): {exc.msg}",
            call=self._call,
        )

    def _check_complete(self) -> None:
        if not self._seen_response:
            if looks_like_html(self._source.head):
                raise self._not_soap("an HTML page")
            raise SeveraMalformedResponse(
                f"{self._call.operation}: the answer has no {self._op.name}Response element "
                "(not a Severa SOAP answer)",
                call=self._call,
            )

    def _undecodable(self, entity: str, elem: Any, exc: BaseException) -> UndecodableRecord:
        record = undecodable(entity, elem, exc)
        key = record.GUID
        if key is None:
            # Parked under a key of its own making; Severa cannot be asked for it by key.
            key = "undecodable-" + hashlib.blake2b(etree.tostring(elem), digest_size=8).hexdigest()
        message = (
            f"{self._call.operation}: {entity} {record.display or key}: member {record.problem} is not "
            "of its declared type; this record is parked, the rest of the answer is delivered"
        )
        return record.model_copy(update={"GUID": key, "message": message})

    def undecodable_error(self, record: UndecodableRecord) -> SeveraRecordUndecodable:
        return SeveraRecordUndecodable(
            record.message, call=self._call, detail={"entity": record.entity, "member": record.problem}
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
        for _event, elem in self._events(record_tag):
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
                    if is_nil(elem):
                        continue  # nil: "not found" answered as null
                elif parent is None or parent.tag != result_tag:
                    continue  # the same tag nested inside a record: decoded with its record
                else:
                    result = parent
            parts: list[str] = []
            try:
                record: SeveraRecord = decode(elem, parts)
                content_hash = blake2b("\x1e".join(parts).encode(), digest_size=16).hexdigest()
            except (ValueError, LookupError, ArithmeticError, RecursionError) as exc:
                broken = self._undecodable(entity, elem, exc)
                if single:
                    raise self.undecodable_error(broken) from None
                record, content_hash = broken, ""
            # Drop the record from the tree so memory stays flat whatever the answer's size.
            elem.clear(keep_tail=False)
            if parent is not None:
                parent.remove(elem)
            yield record, content_hash
        self._check_complete()

    def scalar(self) -> str | None:
        value: str | None = None
        for index, (_event, elem) in enumerate(self._events(self._result_tag)):
            if index == 0:
                self._refuse_dtd(elem)
            tag = elem.tag
            if tag == self._result_tag:
                value = None if is_nil(elem) else (elem.text or "")
            else:
                self._envelope_part(elem, tag)
        self._check_complete()
        return value
