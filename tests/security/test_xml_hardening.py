"""Severa's answers are untrusted XML: no DTD, no entity expansion, no network, on every path.

The streaming reader's refusal of DTDs and entities is tested in tests/severa/test_streaming.py.
Here: every lxml parser the product builds is hardened (read from the source, so a new one cannot
slip in unhardened), zeep keeps its protections, and the error path (fault bodies of non-200
answers, parsed apart from the reader) refuses DTDs and external entities too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from severa_sync.errors import CallInfo
from severa_sync.severa import faults
from severa_sync.severa.client import zeep_client

PACKAGE = Path(faults.__file__).resolve().parents[1]  # shared/severa_sync
PARSER_FACTORIES = {"XMLParser", "iterparse", "XMLPullParser"}
PARSING_CALLS = {"fromstring", "parse", "XML"}
CALL = CallInfo("severa", "IInvoice/SetInvoiceStatus")


def _etree_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "etree"
                and node.func.attr in PARSER_FACTORIES | PARSING_CALLS
            ):
                found.append((f"{path.relative_to(PACKAGE)}:{node.lineno}", node))
    return found


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return "missing"


def test_the_product_parses_xml_somewhere() -> None:
    names = {call.func.attr for _where, call in _etree_calls()}  # type: ignore[attr-defined]
    assert {"XMLParser", "XMLPullParser", "fromstring"} <= names  # the scan below is not vacuous


@pytest.mark.parametrize("where,call", _etree_calls(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_parser_is_hardened(where: str, call: ast.Call) -> None:
    name = call.func.attr  # type: ignore[attr-defined]
    if name in PARSER_FACTORIES:
        assert _keyword(call, "resolve_entities") is False, f"{where}: entities must not be resolved"
        assert _keyword(call, "no_network") is True, f"{where}: the parser must not fetch anything"
        assert _keyword(call, "load_dtd") in (False, "missing"), f"{where}: no DTD loading"
    else:
        # fromstring/parse/XML with lxml's default parser would resolve internal entities.
        has_parser = len(call.args) >= 2 or any(k.arg == "parser" for k in call.keywords)
        assert has_parser, f"{where}: etree.{name} without the hardened parser"


def test_zeep_refuses_dtds_and_entities() -> None:
    # zeep only builds request envelopes here (answers go to the streaming reader), from the
    # bundled WSDL; these still guard anything it would parse.
    settings = zeep_client().settings
    assert settings.forbid_dtd is True
    assert settings.forbid_entities is True


def test_the_bundled_wsdl_loads_with_every_external_fetch_forbidden() -> None:
    """zeep's ``forbid_external`` defaults to False; the WSDL must never need it (no cold-start fetch,
    nothing an attacker could redirect), so loading it with the fetches forbidden must work."""
    import zeep

    from severa_sync.severa.client import WSDL_PATH

    strict = zeep.Settings(strict=False, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    client = zeep.Client(str(WSDL_PATH), settings=strict)
    assert client.wsdl.services


def _fault_body(prolog: bytes, fault_string: bytes) -> bytes:
    return (
        prolog + b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Client</faultcode><faultstring>" + fault_string + b"</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )


def test_a_fault_body_with_an_external_entity_is_not_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("TOP-SECRET-FILE-CONTENT")
    body = _fault_body(
        f'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'.encode(),
        b"&x;",
    )
    fault, header = faults.parse_error_body(body)
    assert (fault, header) == (None, None)
    error = faults.http_status_error(500, body, CALL)
    assert "TOP-SECRET-FILE-CONTENT" not in f"{error} {error.detail}"


def test_a_fault_body_with_entity_expansion_is_not_expanded() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    )
    fault, _header = faults.parse_error_body(_fault_body(laughs, b"&b;"))
    assert fault is None


def test_a_plain_fault_body_still_parses() -> None:
    fault, _header = faults.parse_error_body(_fault_body(b"", b"Quota limit reached"))
    assert fault is not None  # the refusals above are about the DTD, not about faults
