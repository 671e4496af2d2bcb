"""Hypothesis strategies for Severa SOAP answers: well-formed ones built from ``severa.schema``, and
the ways a real answer goes wrong (cut short, wrong namespaces, junk and deeply nested elements, values
that are not of their declared type, stray bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st

from severa_sync.severa import schema as s

ENVELOPE_OPEN = f'<s:Envelope xmlns:s="{s.NS_SOAP_ENV}">'
RESULT_NS = f'xmlns:a="{s.NS_ENTITIES}" xmlns:i="{s.NS_XSI}"'

#: Characters XML 1.0 allows in text, less CR (the parser turns it into LF, so it cannot round-trip).
xml_text = st.text(
    alphabet=st.characters(min_codepoint=0x9, max_codepoint=0xFFFD).filter(
        lambda c: c in "\t\n" or (ord(c) >= 0x20 and not 0xD800 <= ord(c) <= 0xDFFF)
    ),
    max_size=40,
)


@dataclass(frozen=True)
class Value:
    """One member as sent (``text`` None: nil) and what the reader must give back."""

    text: str | None
    expected: Any


def _scalar_values(base: str) -> st.SearchStrategy[Value]:
    if base == "string":
        return xml_text.map(lambda t: Value(t, t))
    if base == "dateTime":
        naive = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))
        offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda m: timezone(timedelta(minutes=m))
        )
        aware = st.tuples(naive, offsets).map(lambda p: p[0].replace(tzinfo=p[1]))
        return st.one_of(
            naive.map(lambda d: Value(d.isoformat(), d.replace(tzinfo=UTC))),
            naive.map(lambda d: Value(d.isoformat() + "Z", d.replace(tzinfo=UTC))),
            aware.map(lambda d: Value(d.isoformat(), d.astimezone(UTC))),
        )
    if base == "decimal":
        return st.decimals(allow_nan=False, allow_infinity=False, places=4).map(lambda d: Value(str(d), d))
    if base in ("long", "int", "byte", "unsignedByte"):
        return st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda i: Value(str(i), i))
    if base == "bool":
        return st.sampled_from([("true", True), ("false", False), ("1", True), ("0", False)]).map(
            lambda p: Value(*p)
        )
    raise ValueError(base)


def _member_value(member: s.Member) -> st.SearchStrategy[Value | None]:
    """A value for a simple member, nil where the contract allows it; None: the member is left out."""
    options: list[st.SearchStrategy[Value | None]] = [_scalar_values(member.base), st.just(None)]
    if member.nillable:
        options.append(st.just(Value(None, None)))
    return st.one_of(*options)


SIMPLE_LIST_OPERATIONS = {
    "ICustomer/GetCustomersChangedSince": "Customer",
    "IHourEntry/GetHourEntriesChangedSince": "HourEntry",
    "IActivity/GetActivitiesByDate": "Activity",
}


@st.composite
def simple_records(draw: st.DrawFn, entity: str) -> dict[str, Value]:
    """Scalar members of ``entity`` (arrays and nested entities left out), each present or not."""
    out: dict[str, Value] = {}
    for member in s.ENTITIES[entity]:
        if member.is_array or member.is_entity:
            continue
        value = draw(_member_value(member))
        if value is not None:
            out[member.name] = value
    return out


def record_xml(entity: str, values: dict[str, Value]) -> str:
    parts = []
    for name, value in values.items():
        if value.text is None:
            parts.append(f'<a:{name} i:nil="true"/>')
        else:
            parts.append(f"<a:{name}>{escape(value.text)}</a:{name}>")
    return f"<a:{entity}>{''.join(parts)}</a:{entity}>"


def list_envelope(operation: str, records_xml: list[str], *, quota: int = 100_000, used: int = 1) -> bytes:
    op = s.operation(operation)
    header = (
        f'<s:Header><Quota xmlns="{s.NS_SEVERA}">{quota}</Quota>'
        f'<UsedQuota xmlns="{s.NS_SEVERA}">{used}</UsedQuota></s:Header>'
    )
    return (
        f'{ENVELOPE_OPEN}{header}<s:Body><{op.name}Response xmlns="{s.NS_SEVERA}">'
        f"<{op.name}Result {RESULT_NS}>{''.join(records_xml)}</{op.name}Result>"
        f"</{op.name}Response></s:Body></s:Envelope>"
    ).encode()


@st.composite
def good_list_answers(draw: st.DrawFn) -> tuple[str, str, list[dict[str, Value]], bytes]:
    operation = draw(st.sampled_from(sorted(SIMPLE_LIST_OPERATIONS)))
    entity = SIMPLE_LIST_OPERATIONS[operation]
    records = draw(st.lists(simple_records(entity), max_size=5))
    body = list_envelope(operation, [record_xml(entity, r) for r in records])
    return operation, entity, records, body


# --- what goes wrong ---------------------------------------------------------------------------
JUNK_FRAGMENTS = st.sampled_from(
    [
        "<junk/>",
        '<x:junk xmlns:x="urn:junk">text</x:junk>',
        f'<a:Customer xmlns:a="{s.NS_ENTITIES}"><a:Name>inner</a:Name></a:Customer>',
        f'<a:Number xmlns:a="{s.NS_ENTITIES}">not-a-number</a:Number>',
        f'<a:UpdatedTS xmlns:a="{s.NS_ENTITIES}">2026-02-30T25:61:00</a:UpdatedTS>',
        f'<a:IsActive xmlns:a="{s.NS_ENTITIES}">maybe</a:IsActive>',
        f'<a:InvoicingVat xmlns:a="{s.NS_ENTITIES}">1,5</a:InvoicingVat>',
        f'<s:Fault xmlns:s="{s.NS_SOAP_ENV}"><faultcode>s:Client</faultcode></s:Fault>',
        f'<Quota xmlns="{s.NS_SEVERA}">lots</Quota>',
        f'<UsedQuota xmlns="{s.NS_SEVERA}">-1</UsedQuota>',
        "<!-- a comment -->",
        "<?pi target?>",
        "<![CDATA[<a:Customer>]]>",
        "&amp;&lt;&#0;",
        "&#x1F600;",
        "&undefined;",
        "</unbalanced>",
        "\x00",
    ]
)

NAMESPACES = [s.NS_SOAP_ENV, s.NS_SEVERA, s.NS_ENTITIES, s.NS_XSI]


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> tuple[bytes, list[str]]:
    """``body`` after a few random mutations, and their names (shown when a property fails)."""
    steps: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(
            st.sampled_from(
                ["truncate", "namespace", "junk", "nested", "flip", "prefix", "bad_value", "duplicate"]
            )
        )
        if kind == "truncate":
            cut = draw(st.integers(min_value=0, max_value=max(len(body) - 1, 0)))
            body = body[:cut]
        elif kind == "namespace":
            old = draw(st.sampled_from(NAMESPACES))
            new = draw(st.sampled_from(["urn:wrong", "", *NAMESPACES]))
            body = body.replace(old.encode(), new.encode())
        elif kind in ("junk", "nested"):
            fragment = (
                draw(JUNK_FRAGMENTS)
                if kind == "junk"
                else "<j>" * (depth := draw(st.integers(1, 3000))) + "x" + "</j>" * depth
            )
            ends = [i + 1 for i, byte in enumerate(body) if byte == ord(">")] or [0]
            at = draw(st.sampled_from(ends))
            body = body[:at] + fragment.encode() + body[at:]
        elif kind == "flip" and body:
            at = draw(st.integers(min_value=0, max_value=len(body) - 1))
            body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
        elif kind == "prefix":
            body = (
                draw(
                    st.sampled_from(
                        [
                            b"\xef\xbb\xbf",
                            b"   \n",
                            b'<?xml version="1.0" encoding="utf-16"?>',
                            b'<?xml version="1.1"?>',
                            b"HTTP/1.1 200 OK\r\n\r\n",
                            b"<html>",
                        ]
                    )
                )
                + body
            )
        elif kind == "bad_value":
            junk = draw(st.sampled_from([b"x", b"", b"1e99999", b"NaN", b"-", b"9" * 400, b"\xff\xfe"]))
            opens = [i for i in range(len(body) - 3) if body[i : i + 3] == b"<a:"]
            if opens:
                # A tag cut short by an earlier truncation has no ">": nothing to replace then.
                start = body.find(b">", draw(st.sampled_from(opens))) + 1
                end = body.find(b"<", start) if start else -1
                if end > start:
                    body = body[:start] + junk + body[end:]
        elif kind == "duplicate":
            body = body + body[: draw(st.integers(0, len(body)))]
        steps.append(kind)
    return body, steps


def fault_envelope(
    detail: str | None, description: str, faultstring: str = "Fault", *, wcf: bool = False
) -> bytes:
    """A SOAP 1.1 fault: Severa's ``<XException>`` detail, WCF's ``ExceptionDetail``, or none."""
    if wcf:
        inner = (
            '<detail><ExceptionDetail xmlns="http://schemas.datacontract.org/2004/07/System.ServiceModel">'
            f"<Message>{escape(description)}</Message><Type>Severa.API.{detail or 'X'}</Type></ExceptionDetail></detail>"
        )
    elif detail is None:
        inner = ""
    else:
        inner = (
            f'<detail><{detail} xmlns="{s.NS_API}"><Description>{escape(description)}</Description>'
            f"<Source>Severa.API</Source></{detail}></detail>"
        )
    return (
        f"{ENVELOPE_OPEN}<s:Body><s:Fault><faultcode>s:Client</faultcode>"
        f"<faultstring>{escape(faultstring)}</faultstring>{inner}</s:Fault></s:Body></s:Envelope>"
    ).encode()
