"""Every legal WCF answer is read, and what is not legal gets its own typed error (issue 11 classes
7, 12, 13, 14): characters XML 1.0 forbids, per-record decode failures, HTML pages with HTTP 200,
DateTime lexical forms and other equal values written differently, prospects."""

from __future__ import annotations

import codecs
import io
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from severa_sync import registry
from severa_sync.engine.ports import Window
from severa_sync.errors import (
    CallInfo,
    ConfigError,
    Disposition,
    SeveraAnswerCutShort,
    SeveraEndpointNotSoap,
    SeveraMalformedResponse,
    SeveraRecordUndecodable,
)
from severa_sync.severa import schema
from severa_sync.severa import source as source_module
from severa_sync.severa import streaming as streaming_module
from severa_sync.severa.decoding import UndecodableRecord, parse_datetime
from severa_sync.severa.source import SeveraSource
from severa_sync.severa.streaming import EnvelopeReader, XmlCharacters
from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer, MakeClient

CUSTOMERS = "ICustomer/GetCustomersChangedSince"
INVOICES = "IInvoice/GetInvoicesByDateAndStatus"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def read(data: bytes, operation: str = CUSTOMERS, *, chunk: int | None = None) -> list[tuple[Any, str]]:
    stream = io.BytesIO(data)
    source: Any = stream if chunk is None else _Chunked(stream, chunk)
    reader = EnvelopeReader(source, schema.operation(operation), call=CallInfo("severa", operation))
    return list(reader.records())


class _Chunked:
    def __init__(self, stream: io.BytesIO, size: int):
        self._stream, self._size = stream, size

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(self._size)


# --- class 7: characters XML 1.0 forbids ------------------------------------------------------
def _notes(text_xml: str) -> bytes:
    return env.list_envelope(CUSTOMERS, [env.customer(1, Notes="@@"), env.customer(2)]).replace(
        b"@@", text_xml.encode()
    )


@pytest.mark.parametrize("reference", ["&#xB;", "&#11;", "&#x0;", "&#x1F;", "&#xFFFE;", "&#xD800;"])
def test_a_character_reference_illegal_in_xml_is_replaced_and_the_rest_delivered(reference: str) -> None:
    records = read(_notes(f"line one{reference}line two"))
    assert [r.Notes for r, _ in records] == ["line one\ufffdline two", ""]
    assert env.guid(2, 1) == records[1][0].GUID


def test_a_raw_control_character_is_replaced_too() -> None:
    records = read(_notes("tab\tok\x0bvt\x1fus"))
    assert records[0][0].Notes == "tab\tok\ufffdvt\ufffdus"


def test_legal_character_references_are_kept() -> None:
    records = read(_notes("cr&#xD;lf&#10;euro&#x20AC;&#8364;astral&#x1F600;"))
    assert records[0][0].Notes == "cr\rlf\neuro\u20ac\u20acastral\U0001f600"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_a_reference_split_across_reads_is_still_seen(chunk: int) -> None:
    records = read(_notes("a&#xB;b&amp;c&#x0000000B;d"), chunk=chunk)
    assert records[0][0].Notes == "a\ufffdb&c\ufffdd"


def test_the_replacements_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=streaming_module.log.name):
        read(_notes("&#xB;&#xC;\x01"))
    lines = [r for r in caplog.records if "illegal in XML 1.0" in r.getMessage()]
    assert len(lines) == 1 and lines[0].__dict__["replaced_characters"] == 3


def test_utf16_and_bom_answers_are_read_unfiltered() -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1, Notes="ä€")])
    for encoded in (codecs.BOM_UTF8 + data, codecs.BOM_UTF16_LE + data.decode().encode("utf-16-le")):
        ((record, _hash),) = read(encoded)
        assert record.Notes == "ä€"
    filtered = XmlCharacters(io.BytesIO(codecs.BOM_UTF16_LE + "<a>\x0b</a>".encode("utf-16-le")).read)
    assert b"\xef\xbf\xbd" not in filtered.read(100)  # UTF-16 bytes are never rewritten


# --- class 7: one record that does not decode -------------------------------------------------
def test_an_undecodable_record_is_parked_alone_with_its_guid(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    bad = env.customer(2, Number="ten thousand")
    server.push(Canned(env.list_envelope(CUSTOMERS, [env.customer(1), bad, env.customer(3)])))
    source = SeveraSource(make_client(), tenant_config)
    records = list(source.read(registry.get("accounts"), Window(LONG_AGO)))
    assert [r.key for r in records] == [env.guid(1, 1), env.guid(2, 1), env.guid(3, 1)]
    assert [r.error is None for r in records] == [True, False, True]
    error = records[1].error
    assert isinstance(error, SeveraRecordUndecodable) and error.disposition is Disposition.PER_RECORD
    assert "Number (xs:long)" in error.message and "ten thousand" not in error.message
    assert records[1].display_key == "Customer 2 Oy"
    assert isinstance(records[1].payload, UndecodableRecord)


def test_an_undecodable_record_without_a_guid_gets_a_key_of_its_own() -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1, GUID=None, IsActive="perhaps")])
    ((record, content_hash),) = read(data)
    assert isinstance(record, UndecodableRecord) and content_hash == ""
    assert record.GUID is not None and record.GUID.startswith("undecodable-")
    assert record.problem == "IsActive (xs:bool)"


def test_a_nested_member_that_does_not_decode_is_named_by_its_path() -> None:
    invoice = env.invoice(1)
    invoice["InvoiceRows"] = [dict(invoice["InvoiceRows"][0], rowNumber="first")]
    ((record, _hash),) = read(env.list_envelope(INVOICES, [invoice]), INVOICES)
    assert record.problem == "InvoiceRows/rowNumber (xs:int)"


def test_a_single_record_read_that_does_not_decode_raises_per_record(
    server: CannedServer, make_client: MakeClient
) -> None:
    op = "ICustomer/GetCustomerByGUID"
    server.push(Canned(env.single_envelope(op, env.customer(4, InsertTS="yesterday"))))
    with pytest.raises(SeveraRecordUndecodable) as caught:
        make_client().get(op, accountGuid=env.guid(4, 1))
    assert caught.value.disposition is Disposition.PER_RECORD and "InsertTS" in caught.value.message


# --- class 7: broken answers are not maintenance ----------------------------------------------
def test_a_broken_answer_is_its_own_class_never_unavailable(
    server: CannedServer, make_client: MakeClient
) -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1)]).replace(b"</a:Email>", b"</a:Emai>")
    server.push(Canned(data))
    with pytest.raises(SeveraMalformedResponse) as caught:
        list(make_client().stream(CUSTOMERS, startDateTime=LONG_AGO, options=0))
    assert caught.value.disposition is Disposition.STOP and caught.value.alert_kind == "malformed_answer"
    assert "not well-formed" in caught.value.message


# --- class 12: HTML with HTTP 200 ------------------------------------------------------------
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Visma Sign in</title></head>"
    b"<body><form action='/login'><input name=user></form></body></html>"
)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", ""])
def test_an_html_page_with_200_is_a_configuration_error_naming_the_url(
    server: CannedServer, make_client: MakeClient, content_type: str
) -> None:
    server.push(Canned(LOGIN_PAGE, content_type=content_type), Canned(LOGIN_PAGE, content_type=content_type))
    client = make_client()
    with pytest.raises(SeveraEndpointNotSoap) as caught:
        client.get_version()
    error = caught.value
    assert isinstance(error, ConfigError) and error.alert_kind == "configuration"
    assert error.disposition is Disposition.STOP
    assert server.url in error.message and '"Visma Sign in"' in error.message
    with pytest.raises(SeveraEndpointNotSoap):
        list(client.stream(CUSTOMERS, startDateTime=LONG_AGO, options=0))
    assert len(server.requests) == 2, "never retried"


def test_xhtml_served_as_xml_is_a_configuration_error_too() -> None:
    page = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>404</title></head></html>'
    with pytest.raises(SeveraEndpointNotSoap, match='"404"'):
        read(page)


# --- class 13: equal values written differently hash the same ---------------------------------
SAME_INSTANT = (
    "2026-11-20T05:30:00Z",
    "2026-11-20T05:30:00",
    "2026-11-20T07:30:00+02:00",
    "2026-11-20T00:30:00-05:00",
    "2026-11-20T05:30:00.0000000Z",
    "2026-11-20T05:30:00.000+00:00",
)


@pytest.mark.parametrize("form", SAME_INSTANT)
def test_every_datetime_form_of_one_instant_hashes_the_same(form: str) -> None:
    base = read(env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS=SAME_INSTANT[0])]))[0]
    other = read(env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS=form)]))[0]
    assert other[0].UpdatedTS == datetime(2026, 11, 20, 5, 30, tzinfo=UTC) == base[0].UpdatedTS
    assert other[1] == base[1]


def test_the_forms_may_differ_per_record_within_one_answer() -> None:
    mixed = [env.customer(n, UpdatedTS=form, InsertTS=form) for n, form in enumerate(SAME_INSTANT)]
    plain = [env.customer(n, UpdatedTS=SAME_INSTANT[0], InsertTS=SAME_INSTANT[0]) for n in range(6)]
    assert [h for _r, h in read(env.list_envelope(CUSTOMERS, mixed))] == [
        h for _r, h in read(env.list_envelope(CUSTOMERS, plain))
    ]


def test_another_instant_is_a_change() -> None:
    one = read(env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS="2026-11-20T05:30:00Z")]))[0][1]
    other = read(env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS="2026-11-20T05:30:00+02:00")]))[0][1]
    assert one != other


def test_decimal_scale_boolean_forms_nil_forms_and_member_order_do_not_change_the_hash() -> None:
    base = env.customer(1)
    variants = [
        env.customer(1, InvoicingVat=Decimal("25.50"), OverdueInterest=Decimal("8")),
        env.customer(1, Number=" 10001 "),
    ]
    hashes = {read(env.list_envelope(CUSTOMERS, [v]))[0][1] for v in [base, *variants]}
    text = env.list_envelope(CUSTOMERS, [base])
    email = text[text.index(b"<a:Email>") : text.index(b"</a:Email>") + len(b"</a:Email>")]
    reordered = text.replace(email, b"").replace(b"</a:Customer>", email + b"</a:Customer>")
    one_for_true = text.replace(b"<a:IsActive>true</a:IsActive>", b"<a:IsActive> 1 </a:IsActive>")
    nil_one = text.replace(b'<a:AccountRating i:nil="true"/>', b'<a:AccountRating i:nil="1"/>')
    other_prefix = text.replace(b'i:nil="true"', b'x:nil="true"').replace(
        b'xmlns:i="', b'xmlns:x="' + schema.NS_XSI.encode() + b'" xmlns:i="'
    )
    for variant in (reordered, one_for_true, nil_one, other_prefix):
        hashes.add(read(variant)[0][1])
    assert len(hashes) == 1
    assert read(nil_one)[0][0].AccountRating is None


def test_a_transferred_invoice_reread_in_another_form_is_not_a_change(
    server: CannedServer, tenant_config: Any, make_client: MakeClient
) -> None:
    listed = env.invoice(1, Date="2026-11-20T00:00:00")
    by_guid = env.invoice(1, Date="2026-11-20T02:00:00+02:00")
    server.push(
        Canned(env.list_envelope(INVOICES, [listed])),
        Canned(env.single_envelope("IInvoice/GetInvoiceByGUID", by_guid)),
    )
    source = SeveraSource(make_client(), tenant_config)
    invoices = registry.get("invoices")
    (record,) = source.read(invoices, Window(LONG_AGO, datetime(2030, 1, 1, tzinfo=UTC)))
    again = source.read_by_key(invoices, record.key)
    assert again is not None and again.content_hash == record.content_hash


def test_parse_datetime_takes_the_edges_wcf_writes() -> None:
    assert parse_datetime("0001-01-01T00:00:00+02:00") == datetime.min.replace(tzinfo=UTC)
    assert parse_datetime("9999-12-31T23:59:59.9999999-05:00") == datetime.max.replace(tzinfo=UTC)
    assert parse_datetime(" 2026-11-20T05:30:00Z ") == datetime(2026, 11, 20, 5, 30, tzinfo=UTC)


# --- class 14: prospects ------------------------------------------------------------------------
def test_prospects_are_excluded_by_the_contract_option_and_skipped_if_still_sent(
    server: CannedServer, tenant_config: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    prospects = [env.customer(n, Number=None) for n in (2, 3)]
    server.push(Canned(env.list_envelope(CUSTOMERS, [env.customer(1), *prospects])))
    source = SeveraSource(make_client(), tenant_config)
    with caplog.at_level(logging.INFO, logger=source_module.log.name):
        records = list(source.read(registry.get("accounts"), Window(LONG_AGO)))
    assert [r.key for r in records] == [env.guid(1, 1)]
    assert b"<ns0:options>70</ns0:options>" in server.requests[0].body  # + CheckAddressChanges
    lines = [r for r in caplog.records if "prospects" in r.getMessage()]
    assert len(lines) == 1 and lines[0].__dict__["prospects_skipped"] == 2


def test_the_html_check_does_not_misjudge_soap(server: CannedServer, make_client: MakeClient) -> None:
    server.push(Canned(env.scalar_envelope("IAPI/GetVersion", "1.2"), content_type="application/soap+xml"))
    assert make_client().get_version() == "1.2"


def test_an_empty_answer_is_cut_short() -> None:
    with pytest.raises(SeveraAnswerCutShort):
        read(b"")
