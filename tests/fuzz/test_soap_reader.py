"""Fuzzing the streaming SOAP reader (``severa/streaming.py``): whatever Severa (or a proxy, or a cut
connection) sends, reading ends in typed records or a typed ``severa_sync.errors`` error."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_sync.errors import CallInfo, SeveraError, SeveraResponseTooLarge, SyncError
from severa_sync.severa import schema
from severa_sync.severa.streaming import BoundedReader, EnvelopeReader

from .profile import fuzz
from .soap_envelopes import (
    ENVELOPE_OPEN,
    RESULT_NS,
    Value,
    good_list_answers,
    list_envelope,
    mutated,
    record_xml,
    simple_records,
)


def read_all(body: bytes, operation: str, *, chunk: int | None = None, max_bytes: int = 64 << 20) -> Any:
    """Records (or the scalar) of ``body``, read as the client reads: through a ``BoundedReader``."""
    call = CallInfo("severa", operation, {"startDateTime": "2026-11-20T00:00:00"})
    stream = io.BytesIO(body)
    read = stream.read if chunk is None else (lambda n: stream.read(min(n, chunk)))
    source = BoundedReader(read, max_bytes=max_bytes, call=call)
    quota: list[tuple[str, str | None]] = []
    reader = EnvelopeReader(
        source, schema.operation(operation), call=call, on_quota=lambda n, v: quota.append((n, v))
    )
    if schema.operation(operation).returns in ("string", "void"):
        return reader.scalar()
    return list(reader.records())


def typed_outcome(body: bytes, operation: str, **kwargs: Any) -> Any:
    """Read ``body``; fail the test on anything but records or a typed Severa error."""
    try:
        return read_all(body, operation, **kwargs)
    except SyncError as error:
        assert isinstance(error, SeveraError), f"not a Severa error: {type(error).__name__}"
        assert error.call is not None and error.call.operation == operation
        assert error.message
        return error
    except Exception as error:  # the property: nothing untyped escapes
        pytest.fail(
            f"untyped {type(error).__name__} escaped the SOAP reader: {error!r}\nbody: {body[:600]!r}"
        )


def expected_value(member: schema.Member, value: Value | None) -> Any:
    return None if value is None else value.expected


@fuzz(150)
@given(answer=good_list_answers(), chunk=st.one_of(st.none(), st.integers(min_value=1, max_value=97)))
def test_well_formed_answers_round_trip_every_member(answer: Any, chunk: int | None) -> None:
    operation, entity, records, body = answer
    got = read_all(body, operation, chunk=chunk)
    assert len(got) == len(records)
    for (record, content_hash), sent in zip(got, records, strict=True):
        for member in schema.ENTITIES[entity]:
            if member.is_array or member.is_entity:
                continue
            assert getattr(record, member.name) == expected_value(member, sent.get(member.name)), member.name
        assert len(content_hash) == 32
    again = read_all(body, operation)
    assert [h for _, h in again] == [h for _, h in got]  # the content hash is a function of content


@fuzz(150)
@given(data=st.data())
def test_mutated_answers_end_in_records_or_a_typed_error(data: st.DataObject) -> None:
    operation, _, _, body = data.draw(good_list_answers())
    bad, steps = data.draw(mutated(body))
    outcome = typed_outcome(bad, operation, chunk=data.draw(st.sampled_from([None, 7, 4096])))
    if not isinstance(outcome, SyncError):
        assert isinstance(outcome, list), steps


@fuzz(150)
@given(body=st.binary(max_size=2000), operation=st.sampled_from(sorted(schema.OPERATIONS_BY_NAME)))
def test_arbitrary_bytes_end_in_records_or_a_typed_error(body: bytes, operation: str) -> None:
    typed_outcome(body, operation)


@fuzz(150)
@given(data=st.data(), nil=st.booleans())
def test_single_record_answers_survive_mutation(data: st.DataObject, nil: bool) -> None:
    values = data.draw(simple_records("Customer"))
    op = schema.operation("ICustomer/GetCustomerByGUID")
    inner = record_xml("Customer", values)[len("<a:Customer>") : -len("</a:Customer>")]
    result = (
        f'<{op.name}Result xmlns:i="{schema.NS_XSI}" i:nil="true"/>'
        if nil
        else f"<{op.name}Result {RESULT_NS}>{inner}</{op.name}Result>"
    )
    body = (
        f'{ENVELOPE_OPEN}<s:Body><{op.name}Response xmlns="{schema.NS_SEVERA}">{result}'
        f"</{op.name}Response></s:Body></s:Envelope>"
    ).encode()
    clean = read_all(body, op.qualified)
    assert len(clean) == (0 if nil else 1)
    bad, _ = data.draw(mutated(body))
    typed_outcome(bad, op.qualified)


@fuzz(150)
@given(data=st.data(), text=st.one_of(st.none(), st.text(max_size=30)))
def test_scalar_answers_survive_mutation(data: st.DataObject, text: str | None) -> None:
    op = schema.operation("IAPI/GetEntitySchemaVersion")
    from xml.sax.saxutils import escape

    result = (
        f'<{op.name}Result xmlns:i="{schema.NS_XSI}" i:nil="true"/>'
        if text is None
        else f"<{op.name}Result>{escape(text)}</{op.name}Result>"
    )
    body = (
        f'{ENVELOPE_OPEN}<s:Body><{op.name}Response xmlns="{schema.NS_SEVERA}">{result}'
        f"</{op.name}Response></s:Body></s:Envelope>"
    ).encode()
    bad, _ = data.draw(mutated(body))
    typed_outcome(bad, op.qualified)


def test_huge_text_member_is_read_whole_and_the_byte_limit_is_ours() -> None:
    name = "N" * (12 << 20)  # past libxml2's default 10 MB text-node limit
    body = list_envelope(
        "ICustomer/GetCustomersChangedSince", [record_xml("Customer", {"Name": Value(name, name)})]
    )
    [(record, _)] = read_all(body, "ICustomer/GetCustomersChangedSince")
    assert record.Name == name
    with pytest.raises(SeveraResponseTooLarge):
        read_all(body, "ICustomer/GetCustomersChangedSince", max_bytes=1 << 20)


def test_many_records_with_random_junk_between_them_keep_their_order() -> None:
    rng = random.Random(7)
    junk = ["<junk/>", '<x:y xmlns:x="urn:x"><x:z/></x:y>', "<!-- c -->", "<?pi x?>"]
    parts = []
    for number in range(300):
        parts.append(record_xml("Customer", {"Number": Value(str(number), number)}))
        if rng.random() < 0.5:
            parts.append(rng.choice(junk))
    records = read_all(
        list_envelope("ICustomer/GetCustomersChangedSince", parts), "ICustomer/GetCustomersChangedSince"
    )
    assert [record.Number for record, _ in records] == list(range(300))
