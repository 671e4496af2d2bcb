"""SOAP 1.1 envelopes as WCF (basicHttpBinding, DataContractSerializer) reads and writes them.

Requests are parsed with a hardened lxml parser. Responses are written as text pieces, one per
record, so a 100,000-record answer streams in bounded memory (see ``response_pieces``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lxml import etree

from severa_sync.severa import schema
from severa_sync.severa.schema import NS_API, NS_ARRAYS, NS_ENTITIES, NS_SEVERA, NS_SOAP_ENV, NS_XSI
from severa_sync_tools.simulators.severa import variants, wire

ENVELOPE_OPEN = f'<s:Envelope xmlns:s="{NS_SOAP_ENV}">'
ENVELOPE_CLOSE = "</s:Body></s:Envelope>"
_RESULT_NS = f'xmlns:a="{NS_ENTITIES}" xmlns:i="{NS_XSI}"'
_NIL = f"{{{NS_XSI}}}nil"

# No DTDs, no entity expansion, no network: a request is data, never instructions.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class MalformedRequest(Exception):
    """Not a SOAP 1.1 envelope we can read: answered with HTTP 400, as WCF does."""


class ParamError(ValueError):
    """A parameter that does not deserialise (answered as a GeneralFailureException fault)."""


def parse_envelope(body: bytes) -> tuple[etree._Element | None, etree._Element]:
    """The Header element (if any) and the single Body child (the operation's wrapper)."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedRequest(f"the request is not well-formed XML: {exc}") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):  # (lxml-stubs lack DocInfo.doctype)
        raise MalformedRequest("DTDs are prohibited in requests")
    if root.tag != f"{{{NS_SOAP_ENV}}}Envelope":
        raise MalformedRequest(f"the root element is {root.tag!r}, not a SOAP 1.1 Envelope")
    header = root.find(f"{{{NS_SOAP_ENV}}}Header")
    body_el = root.find(f"{{{NS_SOAP_ENV}}}Body")
    if body_el is None:
        raise MalformedRequest("the envelope has no Body")
    children = [child for child in body_el if isinstance(child.tag, str)]
    if len(children) != 1:
        raise MalformedRequest(f"the Body holds {len(children)} elements, expected one")
    return header, children[0]


def header_text(header: etree._Element | None, name: str) -> str | None:
    if header is None:
        return None
    element = header.find(f"{{{NS_SEVERA}}}{name}")
    return None if element is None else (element.text or "")


def read_params(operation: schema.Operation, wrapper: etree._Element) -> dict[str, Any]:
    """Parameters by name; missing or ``i:nil`` ones are None. Unknown elements are ignored (WCF)."""
    params: dict[str, Any] = {}
    for member in operation.params:
        element = wrapper.find(f"{{{NS_SEVERA}}}{member.name}")
        if element is None or element.get(_NIL) in ("true", "1"):
            params[member.name] = None
            continue
        try:
            if member.is_array:
                params[member.name] = [
                    wire.from_text(member.base, item.text or "")
                    for item in element
                    if isinstance(item.tag, str)
                ]
            elif member.is_entity:
                raise ParamError(f"entity parameters are not supported by the simulator ({member.name})")
            else:
                params[member.name] = wire.from_text(member.base, element.text or "")
        except ValueError as exc:
            raise ParamError(
                f"The formatter threw an exception while trying to deserialize parameter "
                f"{NS_SEVERA}:{member.name}: {exc}"
            ) from None
    return params


# --- response writing ------------------------------------------------------------------------
_SCALAR, _SCALAR_ARRAY, _ENTITY, _ENTITY_ARRAY = range(4)
_Plan = list[tuple[str, int, str, str, str, str, Callable[[Any], str]]]
_PLANS: dict[str, _Plan] = {}


def _formatter(base: str) -> Callable[[Any], str]:
    if base == "string":
        return wire.escape_text
    if base == "bool":
        return lambda value: "true" if value else "false"
    if base == "dateTime":
        return variants.format_datetime  # in the form chosen for the record being written
    return lambda value: wire.to_text(base, value)


def _plan(entity: str) -> _Plan:
    """Per member: name, kind, base type, open tag, close tag, text when missing, formatter."""
    plan = _PLANS.get(entity)
    if plan is not None:
        return plan
    plan = []
    for member in schema.ENTITIES[entity]:
        tag = f"a:{member.name}"
        if member.is_array:
            kind = _ENTITY_ARRAY if member.is_entity else _SCALAR_ARRAY
        else:
            kind = _ENTITY if member.is_entity else _SCALAR
        opening = f'<{tag} xmlns:b="{NS_ARRAYS}">' if kind == _SCALAR_ARRAY else f"<{tag}>"
        missing = (
            f'<{tag} i:nil="true"/>'
            if member.nillable
            else f"<{tag}>{wire.VALUE_DEFAULTS[member.base]}</{tag}>"
        )
        plan.append((member.name, kind, member.base, opening, f"</{tag}>", missing, _formatter(member.base)))
    _PLANS[entity] = plan
    return plan


def write_members(entity: str, record: dict[str, Any], out: list[str]) -> None:
    """Every member of ``entity`` in schema order; nulls as ``i:nil``, unset value types as defaults."""
    append = out.append
    for name, kind, base, opening, closing, missing, fmt in _plan(entity):
        value = record.get(name)
        if value is None:
            append(missing)
        elif kind == _SCALAR:
            # Three appends, no concatenation: fewer allocations on the 100,000-record path.
            append(opening)
            append(fmt(value))
            append(closing)
        elif kind == _SCALAR_ARRAY:
            out.append(opening)
            out.extend(
                f"<b:{base}>{fmt(item)}</b:{base}>" if item is not None else f'<b:{base} i:nil="true"/>'
                for item in value
            )
            out.append(closing)
        elif kind == _ENTITY:
            out.append(opening)
            write_members(base, value, out)
            out.append(closing)
        else:
            out.append(opening)
            for item in value:
                if item is None:
                    out.append(f'<a:{base} i:nil="true"/>')
                    continue
                out.append(f"<a:{base}>")
                write_members(base, item, out)
                out.append(f"</a:{base}>")
            out.append(closing)


def _envelope_head(quota: int, used: int) -> str:
    return (
        f'{ENVELOPE_OPEN}<s:Header><Quota xmlns="{NS_SEVERA}">{quota}</Quota>'
        f'<UsedQuota xmlns="{NS_SEVERA}">{used}</UsedQuota></s:Header><s:Body>'
    )


class ResponsePieces:
    """A response as ``head``, one text per record, and ``tail``: the writer joins them in batches."""

    def __init__(self, head: str, records: Sequence[Any], render: Callable[[Any], str], tail: str):
        self.head = head
        self.records = records
        self.render = render
        self.tail = tail

    def texts(self) -> Iterator[str]:
        yield self.head
        for record in self.records:
            yield self.render(record)
        yield self.tail

    def truncated_texts(self) -> Iterator[str]:
        """The same answer cut in the middle of its middle record (mid-envelope when it has none)."""
        if not self.records:
            whole = self.head + self.tail
            yield whole[: len(whole) // 2]
            return
        cut = len(self.records) // 2
        yield self.head
        for record in self.records[:cut]:
            yield self.render(record)
        text = self.render(self.records[cut])
        yield text[: len(text) // 2]


def response_pieces(
    operation: schema.Operation,
    result: Any,
    *,
    quota: int,
    used: int,
    dates: Callable[[Any], Callable[[Any], str]] | None = None,
) -> ResponsePieces:
    """The answer to ``operation``: ``result`` is None, a string, one record or a list of records.
    ``dates`` chooses each record's DateTime form (``variants.DateForms``; None: ``Z``)."""
    name = operation.name
    head = _envelope_head(quota, used) + f'<{name}Response xmlns="{NS_SEVERA}">'
    tail = f"</{name}Response>{ENVELOPE_CLOSE}"
    returns = operation.returns
    if returns == "void":
        return ResponsePieces(
            _envelope_head(quota, used) + f'<{name}Response xmlns="{NS_SEVERA}"/>', (), str, ENVELOPE_CLOSE
        )
    if result is None:
        return ResponsePieces(head + f'<{name}Result i:nil="true" {_RESULT_NS}/>', (), str, tail)
    if returns in schema.XSD_SIMPLE:
        return ResponsePieces(
            head + f"<{name}Result>{wire.to_text(returns, result)}</{name}Result>", (), str, tail
        )
    entity = returns.removesuffix("[]")
    if returns.endswith("[]"):

        def render_item(record: dict[str, Any]) -> str:
            out = [f"<a:{entity}>"]
            with variants.writing(dates(record) if dates else None):
                write_members(entity, record, out)
            out.append(f"</a:{entity}>")
            return "".join(out)

        return ResponsePieces(
            head + f"<{name}Result {_RESULT_NS}>", result, render_item, f"</{name}Result>{tail}"
        )

    def render_single(record: dict[str, Any]) -> str:
        out: list[str] = []
        with variants.writing(dates(record) if dates else None):
            write_members(entity, record, out)
        return "".join(out)

    return ResponsePieces(
        head + f"<{name}Result {_RESULT_NS}>", [result], render_single, f"</{name}Result>{tail}"
    )


def fault_envelope(
    fault_type: str, description: str | None, *, quota: int, used: int, faultstring: str | None = None
) -> bytes:
    """A declared Severa fault: ``s:Client``, the detail element named after the exception type."""
    described = (
        f"<Description>{wire.escape_text(description)}</Description>"
        if description is not None
        else '<Description i:nil="true"/>'
    )
    text = wire.escape_text(faultstring if faultstring is not None else (description or fault_type))
    return (
        f"{_envelope_head(quota, used)}<s:Fault><faultcode>s:Client</faultcode>"
        f'<faultstring xml:lang="en-US">{text}</faultstring><detail>'
        f'<{fault_type} xmlns="{NS_API}" xmlns:i="{NS_XSI}">{described}<Source i:nil="true"/>'
        f"</{fault_type}></detail></s:Fault>{ENVELOPE_CLOSE}"
    ).encode()
