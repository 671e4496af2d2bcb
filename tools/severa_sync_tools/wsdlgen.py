"""Generate the bundled Severa WSDL from ``severa_sync.severa.schema``.

``python -m severa_sync_tools.wsdlgen`` rewrites ``shared/severa_sync/severa/wsdl/API.wsdl``;
``tests/severa/test_wsdl.py`` fails when the committed file and this generator disagree, and checks
both against the reference contract operation by operation.

Shapes follow what WCF (basicHttpBinding, DataContractSerializer) emits. Where the reference says
INFERRED we chose the WCF default:
- all contracts in one definitions document at ``http://soap.severa.com/`` (WCF would split it
  across ``?wsdl=wsdl0`` imports; the content is the same);
- binding and port names ``Severa.API.I<Name>`` (from the svcutil config names);
- no ``wsaw:Action`` attributes: they make zeep add WS-Addressing headers, which Severa's
  basicHttpBinding neither needs nor documents (the reference: no WS-Addressing);
- ``WebServicePassword`` declared as a literal input header so zeep sends it as Severa expects;
- ``QuotaLimitExceededException``/``TosNotApprovedException`` declared as types and elements (the
  wire carries them) but not as operation faults (the real WSDL lacks them).
"""

from __future__ import annotations

from pathlib import Path

from severa_sync.severa import schema as s

WSDL_PATH = Path(__file__).resolve().parents[2] / "shared" / "severa_sync" / "severa" / "wsdl" / "API.wsdl"
PRODUCTION_ADDRESS = "https://sync.severa.com/webservice/S3/API.svc"


def _xsd_type(base: str, prefix_entities: str) -> str:
    return s.XSD_SIMPLE.get(base) or f"{prefix_entities}:{base}"


def _element(member: s.Member, ent: str, arrays: str) -> str:
    if member.is_array:
        typ = (
            f"{arrays}:ArrayOf{member.base}" if member.base in s.XSD_SIMPLE else f"{ent}:ArrayOf{member.base}"
        )
    else:
        typ = _xsd_type(member.base, ent)
    nil = ' nillable="true"' if member.nillable else ""
    return f'<xs:element minOccurs="0" name="{member.name}"{nil} type="{typ}"/>'


def _entity_schema() -> list[str]:
    out = [
        f'<xs:schema elementFormDefault="qualified" targetNamespace="{s.NS_ENTITIES}" '
        f'xmlns:tns="{s.NS_ENTITIES}" xmlns:ser="{s.NS_ARRAYS}">',
        f'<xs:import namespace="{s.NS_ARRAYS}"/>',
    ]
    for name, members in s.ENTITIES.items():
        out.append(f'<xs:complexType name="{name}"><xs:sequence>')
        out.extend(_element(m, "tns", "ser") for m in members)
        out.append("</xs:sequence></xs:complexType>")
        out.append(f'<xs:element name="{name}" nillable="true" type="tns:{name}"/>')
        out.append(
            f'<xs:complexType name="ArrayOf{name}"><xs:sequence>'
            f'<xs:element minOccurs="0" maxOccurs="unbounded" name="{name}" nillable="true" type="tns:{name}"/>'
            f"</xs:sequence></xs:complexType>"
        )
        out.append(f'<xs:element name="ArrayOf{name}" nillable="true" type="tns:ArrayOf{name}"/>')
    out.append("</xs:schema>")
    return out


def _arrays_schema() -> list[str]:
    return [
        f'<xs:schema elementFormDefault="qualified" targetNamespace="{s.NS_ARRAYS}" xmlns:tns="{s.NS_ARRAYS}">',
        '<xs:complexType name="ArrayOfstring"><xs:sequence>'
        '<xs:element minOccurs="0" maxOccurs="unbounded" name="string" nillable="true" type="xs:string"/>'
        "</xs:sequence></xs:complexType>",
        '<xs:element name="ArrayOfstring" nillable="true" type="tns:ArrayOfstring"/>',
        "</xs:schema>",
    ]


def _faults_schema() -> list[str]:
    out = [
        f'<xs:schema elementFormDefault="qualified" targetNamespace="{s.NS_API}" xmlns:tns="{s.NS_API}">',
        '<xs:complexType name="SeveraApiException"><xs:sequence>'
        '<xs:element minOccurs="0" name="Description" nillable="true" type="xs:string"/>'
        '<xs:element minOccurs="0" name="Source" nillable="true" type="xs:string"/>'
        "</xs:sequence></xs:complexType>",
        '<xs:element name="SeveraApiException" nillable="true" type="tns:SeveraApiException"/>',
    ]
    for fault in s.FAULT_TYPES:
        out.append(
            f'<xs:complexType name="{fault}"><xs:complexContent mixed="false">'
            f'<xs:extension base="tns:SeveraApiException"><xs:sequence/></xs:extension>'
            f"</xs:complexContent></xs:complexType>"
        )
        out.append(f'<xs:element name="{fault}" nillable="true" type="tns:{fault}"/>')
    out.append("</xs:schema>")
    return out


def _operations_schema() -> list[str]:
    out = [
        f'<xs:schema elementFormDefault="qualified" targetNamespace="{s.NS_SEVERA}" '
        f'xmlns:q1="{s.NS_ENTITIES}" xmlns:ser="{s.NS_ARRAYS}">',
        f'<xs:import namespace="{s.NS_ENTITIES}"/>',
        f'<xs:import namespace="{s.NS_ARRAYS}"/>',
        '<xs:element name="WebServicePassword" nillable="true" type="xs:string"/>',
        '<xs:element name="Quota" type="xs:long"/>',
        '<xs:element name="UsedQuota" type="xs:long"/>',
    ]
    for op in s.OPERATIONS:
        out.append(f'<xs:element name="{op.name}"><xs:complexType><xs:sequence>')
        out.extend(_element(p, "q1", "ser") for p in op.params)
        out.append("</xs:sequence></xs:complexType></xs:element>")
        out.append(f'<xs:element name="{op.name}Response"><xs:complexType><xs:sequence>')
        if op.returns != "void":
            out.append(_element(s.Member(f"{op.name}Result", op.returns), "q1", "ser"))
        out.append("</xs:sequence></xs:complexType></xs:element>")
    out.append("</xs:schema>")
    return out


def _messages() -> list[str]:
    out = [
        '<wsdl:message name="WebServicePasswordHeader">'
        '<wsdl:part name="WebServicePassword" element="tns:WebServicePassword"/></wsdl:message>'
    ]
    for op in s.OPERATIONS:
        base = f"{op.interface}_{op.name}"
        out.append(
            f'<wsdl:message name="{base}_InputMessage"><wsdl:part name="parameters" element="tns:{op.name}"/>'
            "</wsdl:message>"
        )
        out.append(
            f'<wsdl:message name="{base}_OutputMessage">'
            f'<wsdl:part name="parameters" element="tns:{op.name}Response"/></wsdl:message>'
        )
        for fault in op.faults:
            out.append(
                f'<wsdl:message name="{base}_{fault}Fault_FaultMessage">'
                f'<wsdl:part name="detail" element="api:{fault}"/></wsdl:message>'
            )
    return out


def _port_types() -> list[str]:
    out = []
    for iface in s.INTERFACES:
        out.append(f'<wsdl:portType name="{iface}">')
        for op in (o for o in s.OPERATIONS if o.interface == iface):
            base = f"{iface}_{op.name}"
            out.append(f'<wsdl:operation name="{op.name}">')
            out.append(f'<wsdl:input message="tns:{base}_InputMessage"/>')
            out.append(f'<wsdl:output message="tns:{base}_OutputMessage"/>')
            for fault in op.faults:
                out.append(
                    f'<wsdl:fault name="{fault}Fault" message="tns:{base}_{fault}Fault_FaultMessage"/>'
                )
            out.append("</wsdl:operation>")
        out.append("</wsdl:portType>")
    return out


def _bindings() -> list[str]:
    out = []
    for iface in s.INTERFACES:
        out.append(f'<wsdl:binding name="Severa.API.{iface}" type="tns:{iface}">')
        out.append('<soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>')
        for op in (o for o in s.OPERATIONS if o.interface == iface):
            out.append(f'<wsdl:operation name="{op.name}">')
            out.append(f'<soap:operation soapAction="{op.soap_action}" style="document"/>')
            out.append(
                '<wsdl:input><soap:header message="tns:WebServicePasswordHeader" part="WebServicePassword" '
                'use="literal"/><soap:body use="literal"/></wsdl:input>'
            )
            out.append('<wsdl:output><soap:body use="literal"/></wsdl:output>')
            for fault in op.faults:
                out.append(
                    f'<wsdl:fault name="{fault}Fault"><soap:fault name="{fault}Fault" use="literal"/>'
                    "</wsdl:fault>"
                )
            out.append("</wsdl:operation>")
        out.append("</wsdl:binding>")
    return out


def _service() -> list[str]:
    out = ['<wsdl:service name="API">']
    for iface in s.INTERFACES:
        out.append(
            f'<wsdl:port name="Severa.API.{iface}" binding="tns:Severa.API.{iface}">'
            f'<soap:address location="{PRODUCTION_ADDRESS}"/></wsdl:port>'
        )
    out.append("</wsdl:service>")
    return out


def render() -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!-- Generated by severa_sync_tools.wsdlgen from severa_sync/severa/schema.py: do not edit by hand. -->",
        f'<wsdl:definitions name="API" targetNamespace="{s.NS_SEVERA}" '
        'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:tns="{s.NS_SEVERA}" xmlns:api="{s.NS_API}">',
        "<wsdl:types>",
        *_operations_schema(),
        *_entity_schema(),
        *_faults_schema(),
        *_arrays_schema(),
        "</wsdl:types>",
        *_messages(),
        *_port_types(),
        *_bindings(),
        *_service(),
        "</wsdl:definitions>",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    WSDL_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {WSDL_PATH}")


if __name__ == "__main__":
    main()
