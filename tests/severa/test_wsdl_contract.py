"""The bundled WSDL against the reference contract, operation by operation and entity by entity.

``docs/reference/severa-soap-contract.md`` (appendices A and B, reconstructed from a svcutil proxy of
the live WSDL) is the spec. The WSDL is generated from ``schema.py``; these tests check the file is
current, that ``schema.py`` says what the reference says, and that the WSDL says what ``schema.py``
says (parameter names with their casing and order, types, faults, SOAPAction, entity members in XML
order, minOccurs/nillable as WCF emits them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from severa_sync.severa import schema
from severa_sync_tools import wsdlgen

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "severa-soap-contract.md"
WSDL = ROOT / "shared" / "severa_sync" / "severa" / "wsdl" / "API.wsdl"
NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
#: Not in the <=2019 appendix: the 2020 contract ([FS] Activities Domain.fs), noted in schema.py.
NOT_IN_APPENDIX = {"IActivity/GetActivitiesByDate"}


@pytest.fixture(scope="module")
def reference() -> str:
    if not REFERENCE.exists():
        pytest.fail(f"the Severa contract {REFERENCE.relative_to(ROOT)} is missing from the repository")
    return REFERENCE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def wsdl() -> etree._Element:
    return etree.parse(str(WSDL)).getroot()


def test_the_contract_is_a_document_of_the_repository():
    assert REFERENCE.is_file(), f"the Severa contract {REFERENCE.relative_to(ROOT)} is missing"


def test_bundled_wsdl_is_the_generators_output():
    assert WSDL.read_text(encoding="utf-8") == wsdlgen.render(), "run python -m severa_sync_tools.wsdlgen"


@pytest.mark.parametrize("op", schema.OPERATIONS, ids=lambda op: op.qualified)
def test_operation_matches_reference_appendix_a(op, reference):
    if op.qualified in NOT_IN_APPENDIX:
        pytest.skip("2020 contract, not in the <=2019 appendix")
    appendix = reference[reference.index("## Appendix A") : reference.index("## Appendix B")]
    section = appendix[appendix.index(f"- **{op.interface}** ") :]
    line = re.search(rf"^  - `{op.name}\((.*?)\)` -> `(.*?)` — (.*)$", section, re.M)
    assert line, f"{op.qualified} not in the reference"
    params = [tuple(p.split(": ")) for p in line.group(1).split(", ")] if line.group(1) else []
    assert [(m.name, m.type) for m in op.params] == params
    assert op.returns == line.group(2)
    codes = [] if line.group(3).strip() == "none" else line.group(3).strip().split(",")
    assert list(op.faults) == [schema.DECLARED_FAULTS[c] for c in codes]


def _appendix_members(entity: str, appendix: str) -> list[list[str]]:
    """The entity's members in XML order: a derived type's base members first (DataContract
    inheritance, "(derives from X)" in the appendix), then its own."""
    line = re.search(
        rf"^- \*\*{re.escape(entity)}\*\* \[dc:Severa.Entities.API\] (?:\(derives from (\w+)\) )?"
        r"\((\d+)\): (.*)$",
        appendix,
        re.M,
    )
    assert line, f"{entity} not in the reference"
    members = [re.sub(r" \[Order=\d+\]$", "", part).split(": ") for part in line.group(3).split("; ")]
    assert len(members) == int(line.group(2))
    return (_appendix_members(line.group(1), appendix) if line.group(1) else []) + members


@pytest.mark.parametrize("entity", list(schema.ENTITIES))
def test_entity_members_match_reference_appendix_b(entity, reference):
    appendix = reference[reference.index("## Appendix B") :]
    members = _appendix_members(entity, appendix)
    assert [[m.name, m.type] for m in schema.ENTITIES[entity]] == members


@pytest.mark.parametrize("op", schema.OPERATIONS, ids=lambda op: op.qualified)
def test_wsdl_declares_the_operation_as_schema_says(op, wsdl):
    element = wsdl.find(
        f".//xs:schema[@targetNamespace='{schema.NS_SEVERA}']/xs:element[@name='{op.name}']", NS
    )
    declared = element.findall(".//xs:element", NS)
    assert [(e.get("name"), e.get("minOccurs"), e.get("nillable") == "true") for e in declared] == [
        (m.name, "0", m.nillable) for m in op.params
    ]
    binding = wsdl.find(
        f"wsdl:binding[@name='Severa.API.{op.interface}']/wsdl:operation[@name='{op.name}']", NS
    )
    assert (
        binding.find("soap:operation", NS).get("soapAction")
        == f"http://soap.severa.com/{op.interface}/{op.name}"
    )
    assert binding.find("wsdl:input/soap:header", NS).get("part") == "WebServicePassword"
    faults = [f.get("name") for f in binding.findall("wsdl:fault", NS)]
    assert faults == [f"{name}Fault" for name in op.faults]


@pytest.mark.parametrize("entity", list(schema.ENTITIES))
def test_wsdl_entity_members_in_xml_order(entity, wsdl):
    complex_type = wsdl.find(
        f".//xs:schema[@targetNamespace='{schema.NS_ENTITIES}']/xs:complexType[@name='{entity}']", NS
    )
    declared = complex_type.findall("xs:sequence/xs:element", NS)
    assert [(e.get("name"), e.get("minOccurs"), e.get("nillable") == "true") for e in declared] == [
        (m.name, "0", m.nillable) for m in schema.ENTITIES[entity]
    ]


def test_wsdl_carries_the_undeclared_fault_types(wsdl):
    api = wsdl.find(f".//xs:schema[@targetNamespace='{schema.NS_API}']", NS)
    names = {e.get("name") for e in api.findall("xs:element", NS)}
    assert {
        "QuotaLimitExceededException",
        "TosNotApprovedException",
        *schema.DECLARED_FAULTS.values(),
    } <= names
