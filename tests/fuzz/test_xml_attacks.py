"""XML attacks on the SOAP readers: entity expansion bombs and external entities (XXE) are refused,
deep nesting ends in a typed error, and nothing from a local file ever reaches a record or a message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from severa_sync.errors import CallInfo, SeveraError, SeveraMalformedResponse
from severa_sync.severa import faults, schema
from severa_sync.severa.streaming import BoundedReader, EnvelopeReader

from .soap_envelopes import ENVELOPE_OPEN, RESULT_NS

OPERATION = schema.operation("ICustomer/GetCustomersChangedSince")
CALL = CallInfo("severa", OPERATION.qualified, {})
SECRET_TEXT = "xxe-secret-contents-7f3a"

BILLION_LAUGHS = "".join(
    ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
)


def answer(doctype: str, name: str) -> bytes:
    """A customer list answer whose Name member is ``name`` (raw XML), after ``doctype``."""
    return (
        f'<?xml version="1.0"?>{doctype}{ENVELOPE_OPEN}<s:Body>'
        f'<{OPERATION.name}Response xmlns="{schema.NS_SEVERA}"><{OPERATION.name}Result {RESULT_NS}>'
        f"<a:Customer><a:Name>{name}</a:Name></a:Customer>"
        f"</{OPERATION.name}Result></{OPERATION.name}Response></s:Body></s:Envelope>"
    ).encode()


def read(body: bytes) -> list[object]:
    source = BoundedReader(io.BytesIO(body).read, max_bytes=64 << 20, call=CALL)
    return list(EnvelopeReader(source, OPERATION, call=CALL).records())


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET_TEXT)
    return path


def test_billion_laughs_is_refused_without_expanding() -> None:
    with pytest.raises(SeveraMalformedResponse) as caught:
        read(answer(f"<!DOCTYPE lolz [{BILLION_LAUGHS}]>", "&lol9;"))
    assert "lollol" not in caught.value.message


def test_quadratic_blowup_with_one_big_entity_is_refused() -> None:
    big = "A" * 100_000
    with pytest.raises(SeveraMalformedResponse):
        read(answer(f'<!DOCTYPE x [<!ENTITY big "{big}">]>', "&big;" * 2000))


@pytest.mark.parametrize(
    "doctype, reference",
    [
        ('<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{path}">]>', "&xxe;"),
        ('<!DOCTYPE x [<!ENTITY % p SYSTEM "file://{path}"> %p;]>', "plain"),
        ('<!DOCTYPE x SYSTEM "file://{path}">', "plain"),
        ('<!DOCTYPE x [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/never">]>', "&xxe;"),
    ],
    ids=["general-entity", "parameter-entity", "external-dtd", "network-entity"],
)
def test_external_entities_are_refused_and_never_read(
    secret_file: Path, doctype: str, reference: str
) -> None:
    body = answer(doctype.format(path=secret_file), reference)
    with pytest.raises(SeveraError) as caught:
        records = read(body)
        pytest.fail(f"an answer with a DTD was accepted: {records}")
    assert SECRET_TEXT not in repr(caught.value.as_log())


@pytest.mark.parametrize("depth", [300, 1500, 2100, 5000, 50_000])
def test_deep_nesting_inside_a_record_ends_in_records_or_a_typed_error(depth: int) -> None:
    """An unknown member nested ``depth`` deep: kept as nested values, or refused with a typed error
    (libxml2 allows 2048 levels with huge_tree; the reader must not overflow Python's stack first)."""
    nested = "<a:Junk>" * depth + "x" + "</a:Junk>" * depth
    body = answer("", "Acme").replace(b"<a:Name>", nested.encode() + b"<a:Name>")
    try:
        records = read(body)
    except SeveraError:
        return
    assert len(records) == 1


def test_error_answers_with_a_dtd_are_not_soap_faults(secret_file: Path) -> None:
    """A non-200 answer is parsed for its fault with the same refusals; a DTD makes it "not SOAP"."""
    body = answer(f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret_file}">]>', "&xxe;")
    assert faults.parse_error_body(body) == (None, None)
    error = faults.http_status_error(500, body, CALL)
    assert isinstance(error, SeveraError)
    assert SECRET_TEXT not in repr(error.as_log())
    bomb = answer(f"<!DOCTYPE lolz [{BILLION_LAUGHS}]>", "&lol9;")
    assert faults.parse_error_body(bomb) == (None, None)
