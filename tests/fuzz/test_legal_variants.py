"""Fuzzing the legal variants of an answer: any text as WCF escapes it, any DateTime in any form WCF
writes, any cut of an answer. The reader must deliver the values (characters XML 1.0 forbids as
U+FFFD), hash equal values equally, and call a cut answer cut short, never malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from severa_sync.errors import SeveraAnswerCutShort, SeveraMalformedResponse
from severa_sync.severa.streaming import legal_xml_char
from severa_sync_tools.simulators.severa import variants, wire
from tests.severa import envelopes as env

from .profile import fuzz
from .test_soap_reader import read_all, typed_outcome

CUSTOMERS = "ICustomer/GetCustomersChangedSince"
#: Any character Python can encode in UTF-8 (no lone surrogates): WCF would not send those either.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _with_notes(notes_xml: str) -> bytes:
    return env.list_envelope(CUSTOMERS, [env.customer(1, Notes="@@"), env.customer(2)]).replace(
        b"@@", notes_xml.encode()
    )


@fuzz(200)
@given(text=ANY_TEXT, chunk=st.one_of(st.none(), st.integers(min_value=1, max_value=31)))
def test_any_text_as_wcf_writes_it_is_read_with_illegal_characters_replaced(
    text: str, chunk: int | None
) -> None:
    got = read_all(_with_notes(wire.escape_text(text)), CUSTOMERS, chunk=chunk)
    expected = "".join(c if legal_xml_char(ord(c)) else "\ufffd" for c in text)
    # XML normalises a raw CR (and CRLF) to LF; WCF writes CR as &#xD;, which keeps it.
    assert got[0][0].Notes == expected
    assert env.guid(2, 1) == got[1][0].GUID


INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda value: value.replace(microsecond=value.microsecond // 10 * 10))


@fuzz(150)
@given(instant=INSTANTS, forms=st.lists(st.sampled_from(sorted(variants.FORMS)), min_size=2, max_size=2))
def test_any_instant_in_any_two_forms_reads_and_hashes_the_same(instant: datetime, forms: list[str]) -> None:
    answers = [
        read_all(
            env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS=variants.FORMS[f](instant))]), CUSTOMERS
        )
        for f in forms
    ]
    (first, first_hash), (second, second_hash) = answers[0][0], answers[1][0]
    assert first.UpdatedTS == second.UpdatedTS == instant
    assert first_hash == second_hash
    later = instant + timedelta(seconds=1)
    moved = read_all(
        env.list_envelope(CUSTOMERS, [env.customer(1, UpdatedTS=variants.FORMS[forms[0]](later))]), CUSTOMERS
    )
    assert moved[0][1] != first_hash


@fuzz(150)
@given(data=st.data())
def test_any_cut_of_an_answer_is_cut_short_never_malformed(data: st.DataObject) -> None:
    body = env.list_envelope(CUSTOMERS, [env.customer(n) for n in range(3)])
    cut = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    outcome = typed_outcome(body[:cut], CUSTOMERS, chunk=data.draw(st.sampled_from([None, 5, 977])))
    assert not isinstance(outcome, SeveraMalformedResponse), outcome
    assert isinstance(outcome, SeveraAnswerCutShort), outcome
