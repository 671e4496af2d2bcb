"""The streaming reader: typed records, UTC times, tolerance of newer members, stable hashes, and
refusal of malformed, truncated or hostile XML."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from severa_sync.errors import (
    CallInfo,
    Disposition,
    SeveraAnswerCutShort,
    SeveraMalformedResponse,
    SeveraNotFound,
    SeveraResponseTooLarge,
    SeveraTimeout,
)
from severa_sync.severa import models, schema
from severa_sync.severa.decoding import parse_datetime
from severa_sync.severa.streaming import BoundedReader, EnvelopeReader
from tests.severa import envelopes as env

CUSTOMERS = "ICustomer/GetCustomersChangedSince"
INVOICES = "IInvoice/GetInvoicesByDateAndStatus"


def read(
    operation: str, data: bytes, quota: list[tuple[str, str | None]] | None = None
) -> list[tuple[Any, str]]:
    op = schema.operation(operation)
    reader = EnvelopeReader(
        io.BytesIO(data),
        op,
        call=CallInfo("severa", operation),
        on_quota=None if quota is None else lambda n, v: quota.append((n, v)),
    )
    return list(reader.records())


def test_customer_members_are_typed() -> None:
    ((record, digest),) = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(7)]))
    assert isinstance(record, models.Customer)
    assert env.guid(7, 1) == record.GUID
    assert record.Number == 10_007
    assert record.InvoicingVat == Decimal("25.5")
    assert record.IsActive is True and record.IsInternal is False
    assert record.AccountGroupGUIDs == [env.guid(7, 7)]
    assert record.UpdatedTS == datetime(2026, 11, 20, 5, 30, 7, tzinfo=UTC)
    assert record.AccountRating is None
    assert len(digest) == 32


def test_empty_string_and_nil_differ() -> None:
    ((record, _),) = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(1, Notes="", Website=None)]))
    assert record.Notes == ""
    assert record.Website is None


def test_empty_string_among_many_nils() -> None:
    # Past a handful of textless members the reader counts nils in one XPath call first.
    nils = dict.fromkeys(
        [
            "Email",
            "IndustryGUID",
            "LanguageCode",
            "LanguageGUID",
            "PricelistGUID",
            "VatNumber",
            "Website",
            "TimezoneGUID",
            "CompanyGUID",
            "CurrencyGUID",
        ]
    )
    (with_empty, _), (all_nil, _) = read(
        CUSTOMERS,
        env.list_envelope(
            CUSTOMERS, [env.customer(1, Notes="", **nils), env.customer(2, Notes=None, **nils)]
        ),
    )
    assert with_empty.Notes == "" and with_empty.Email is None and with_empty.Website is None
    assert all_nil.Notes is None and all_nil.Email is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-11-20T05:30:00", datetime(2026, 11, 20, 5, 30, tzinfo=UTC)),  # naive: UTC
        ("2026-11-20T05:30:00Z", datetime(2026, 11, 20, 5, 30, tzinfo=UTC)),
        ("2026-11-20T07:30:00+02:00", datetime(2026, 11, 20, 5, 30, tzinfo=UTC)),
        ("2026-11-20T05:30:00.1234567", datetime(2026, 11, 20, 5, 30, 0, 123456, tzinfo=UTC)),  # .NET ticks
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ],
)
def test_datetimes_are_utc_aware(wire: str, expected: datetime) -> None:
    value = parse_datetime(wire)
    assert value == expected
    assert value.utcoffset() == timedelta(0)


def test_nested_invoice_rows_and_configs() -> None:
    ((invoice, _),) = read(INVOICES, env.list_envelope(INVOICES, [env.invoice(1)]))
    assert isinstance(invoice, models.Invoice)
    assert invoice.Number == 10_501
    assert invoice.InvoiceConfig is not None and invoice.InvoiceConfig.BillHour == "Summary"
    rows = invoice.InvoiceRows
    assert rows is not None and [r.rowNumber for r in rows if r] == [1, 2]
    assert rows[0] is not None and rows[0].rowAmount == Decimal("120.50")
    assert rows[0].HourGUIDs == [env.guid(1, 14), env.guid(2, 14)]
    assert invoice.NotesAfterInvoiceRows is None


def test_unknown_members_are_kept_not_errors() -> None:
    newer = env.customer(1, AnnualRevenue2=1500, CustomerTier={"Level": "Gold", "Since": "2025"})
    (record, _), (plain, _) = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [newer, env.customer(2)]))
    assert record.model_extra == {
        "AnnualRevenue2": "1500",
        "CustomerTier": {"Level": "Gold", "Since": "2025"},
    }
    assert record.Name == "Customer 1 Oy" and record.UpdatedTS is not None
    assert plain.model_extra == {} and plain.Name == "Customer 2 Oy"


def test_unknown_elements_in_the_envelope_are_ignored() -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1)]).replace(
        b"<s:Body>", b'<s:Body><Heartbeat xmlns="http://soap.severa.com/">ok</Heartbeat>'
    )
    assert [r.GUID for r, _ in read(CUSTOMERS, data)] == [env.guid(1, 1)]


def test_missing_members_default_to_none() -> None:
    ((record, _),) = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Name": "Only"}]))
    assert record.GUID == "g" and record.Name == "Only" and record.UpdatedTS is None
    assert record.model_fields_set == {"GUID", "Name"}


def test_records_with_different_members_in_one_answer() -> None:
    # A member left out of one record must not shift the others (each layout is checked).
    first = env.customer(1)
    second = {k: v for k, v in env.customer(2).items() if k != "Email"}
    third = {k: v for k, v in env.customer(3).items() if k != "Employees"}
    records = [
        r for r, _ in read(CUSTOMERS, env.list_envelope(CUSTOMERS, [first, second, third, env.customer(4)]))
    ]
    assert [r.Email for r in records] == [
        "billing1@example.com",
        None,
        "billing3@example.com",
        "billing4@example.com",
    ]
    assert [r.Employees for r in records] == [12, 12, None, 12]
    assert [r.Number for r in records] == [10_001, 10_002, 10_003, 10_004]


def test_nil_and_empty_results() -> None:
    nil_list = env.list_envelope(CUSTOMERS, []).replace(
        b"<GetCustomersChangedSinceResult ", b'<GetCustomersChangedSinceResult i:nil="true" '
    )
    assert read(CUSTOMERS, nil_list) == []
    assert read(CUSTOMERS, env.list_envelope(CUSTOMERS, [])) == []
    assert read("ICustomer/GetCustomerByGUID", env.single_envelope("ICustomer/GetCustomerByGUID", None)) == []


def test_single_record_answer() -> None:
    ((record, _),) = read("ICase/GetCaseByGUID", env.single_envelope("ICase/GetCaseByGUID", env.case(3)))
    assert isinstance(record, models.Case)
    assert record.CaseNumber == 503
    assert record.InsertTs == datetime(2026, 10, 1, 8, tzinfo=UTC)


def test_scalar_answers() -> None:
    def scalar(operation: str, text: str | None) -> str | None:
        data = env.scalar_envelope(operation, text)
        return EnvelopeReader(
            io.BytesIO(data), schema.operation(operation), call=CallInfo("severa", operation)
        ).scalar()

    assert scalar("IAPI/GetVersion", "1.0.0+4a5b6c") == "1.0.0+4a5b6c"
    assert scalar("IAPI/GetEntitySchemaVersion", None) is None
    assert scalar("IInvoice/SetInvoiceStatus", None) is None


def test_quota_headers_are_reported() -> None:
    seen: list[tuple[str, str | None]] = []
    read(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(1)], quota=100_000, used=4321), quota=seen)
    assert seen == [("Quota", "100000"), ("UsedQuota", "4321")]


# --- content hash ------------------------------------------------------------------------------
def _hash(operation: str, data: bytes) -> str:
    return read(operation, data)[0][1]


def test_hash_is_the_same_by_list_and_by_guid_and_across_formatting() -> None:
    listed = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(5)]))
    by_guid = _hash(
        "ICustomer/GetCustomerByGUID", env.single_envelope("ICustomer/GetCustomerByGUID", env.customer(5))
    )
    reprefixed = (
        env.list_envelope(CUSTOMERS, [env.customer(5)])
        .replace(b"a:", b"ent:")
        .replace(b"xmlns:a=", b"xmlns:ent=")
    )
    indented = env.list_envelope(CUSTOMERS, [env.customer(5)]).replace(b"><a:", b">\n      <a:")
    assert listed == by_guid == _hash(CUSTOMERS, reprefixed) == _hash(CUSTOMERS, indented)


def test_hash_changes_with_content() -> None:
    base = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(5)]))
    changed = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(5, Name="Renamed Oy")]))
    group = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(5, AccountGroupGUIDs=["x", "y"])]))
    assert len({base, changed, group}) == 3


def test_hash_sees_a_value_move_between_members() -> None:
    one = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Email": "x", "Website": None}]))
    other = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Email": None, "Website": "x"}]))
    assert one != other


def test_an_omitted_member_hashes_like_a_nil_one() -> None:
    # WCF omits a member written with EmitDefaultValue=false: the value is null either way.
    nil = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Email": None, "Website": "x"}]))
    omitted = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Website": "x"}]))
    empty = _hash(CUSTOMERS, env.list_envelope(CUSTOMERS, [{"GUID": "g", "Email": "", "Website": "x"}]))
    assert nil == omitted != empty


def test_hash_sees_nested_changes() -> None:
    base = env.invoice(1)
    moved = env.invoice(1)
    moved["InvoiceRows"] = [
        dict(moved["InvoiceRows"][0], HourGUIDs=[env.guid(1, 14)]),
        moved["InvoiceRows"][1],
    ]
    assert _hash(INVOICES, env.list_envelope(INVOICES, [base])) != _hash(
        INVOICES, env.list_envelope(INVOICES, [moved])
    )


# --- bad answers -------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", [10, 200, 1500, -40, -1])
def test_an_answer_cut_short_is_retried_later_not_a_crash(cut: int) -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1), env.customer(2)])
    with pytest.raises(SeveraAnswerCutShort) as caught:
        read(CUSTOMERS, data[:cut])
    assert caught.value.call is not None and caught.value.call.operation == CUSTOMERS
    assert caught.value.disposition is Disposition.RETRY_LATER


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<Envelope/>",
        # Broken in the middle, complete at the end: waiting will not mend it.
        env.list_envelope(CUSTOMERS, [env.customer(1), env.customer(2)]).replace(
            b"</a:Name>", b"</a:Nam>", 1
        ),
    ],
)
def test_a_broken_answer_is_malformed_and_stops_with_its_own_alert(body: bytes) -> None:
    with pytest.raises(SeveraMalformedResponse) as caught:
        read(CUSTOMERS, body)
    assert caught.value.disposition is Disposition.STOP
    assert caught.value.alert_kind == "malformed_answer"


def test_a_value_of_the_wrong_type_makes_that_record_undecodable() -> None:
    records = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(1, Number="ten")]))
    assert [type(record).__name__ for record, _hash in records] == ["UndecodableRecord"]
    records = read(CUSTOMERS, env.list_envelope(CUSTOMERS, [env.customer(1, IsActive="maybe")]))
    assert records[0][0].problem == "IsActive (xs:bool)"


def test_dtds_and_entities_are_refused() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    )
    data = laughs + env.list_envelope(CUSTOMERS, [env.customer(1, Name="&b;")]).replace(b"&amp;b;", b"&b;")
    with pytest.raises(SeveraMalformedResponse, match="DTD"):
        read(CUSTOMERS, data)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + env.list_envelope(CUSTOMERS, [env.customer(1)])
    )
    with pytest.raises(SeveraMalformedResponse, match="DTD"):
        read(CUSTOMERS, external)


def test_a_fault_inside_a_200_answer_is_raised() -> None:
    with pytest.raises(SeveraNotFound):
        read(CUSTOMERS, env.fault_envelope("NotFoundException", "gone"))


# --- byte limit and deadline -------------------------------------------------------------------
def test_bounded_reader_stops_past_the_limit() -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(i) for i in range(50)])
    call = CallInfo("severa", CUSTOMERS)
    source = BoundedReader(io.BytesIO(data).read, max_bytes=len(data) // 2, call=call)
    reader = EnvelopeReader(source, schema.operation(CUSTOMERS), call=call)
    got: list[Any] = []
    with pytest.raises(SeveraResponseTooLarge) as caught:
        got.extend(reader.records())
    assert 0 < len(got) < 50
    assert caught.value.call is call
    assert source.bytes_read == len(data) // 2 + 1  # never more than one byte past the limit


def test_bounded_reader_passes_an_answer_exactly_at_the_limit() -> None:
    data = env.list_envelope(CUSTOMERS, [env.customer(1)])
    call = CallInfo("severa", CUSTOMERS)
    source = BoundedReader(io.BytesIO(data).read, max_bytes=len(data), call=call)
    assert len(list(EnvelopeReader(source, schema.operation(CUSTOMERS), call=call).records())) == 1


def test_bounded_reader_enforces_the_deadline() -> None:
    now = [100.0]
    data = env.list_envelope(CUSTOMERS, [env.customer(i) for i in range(2000)])
    call = CallInfo("severa", CUSTOMERS)

    stream = io.BytesIO(data)

    def slow_read(size: int) -> bytes:
        now[0] += 1.0  # each chunk "takes" a second
        return stream.read(size)

    source = BoundedReader(slow_read, max_bytes=10**9, call=call, deadline=105.0, clock=lambda: now[0])
    with pytest.raises(SeveraTimeout):
        list(EnvelopeReader(source, schema.operation(CUSTOMERS), call=call).records())
