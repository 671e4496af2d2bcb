"""Every typed error scrubs the secrets the process holds, wherever it is built."""

from __future__ import annotations

from severa_sync.errors import SeveraGeneralFailure, TargetRejected
from severa_sync.secrets import Secret


def test_errors_never_carry_a_registered_secret():
    key = Secret("api-key-that-a-server-echoed")
    echoed = f"<WebServicePassword>{key.reveal()}</WebServicePassword>"
    fault = SeveraGeneralFailure(f"fault: {echoed}", description=echoed, source=echoed)
    rejected = TargetRejected(f"rejected {echoed}", detail={"body": echoed, "nested": [echoed]})
    for text in (
        str(fault),
        repr(fault.as_log()),
        fault.description,
        fault.source,
        str(rejected),
        repr(rejected.as_log()),
    ):
        assert key.reveal() not in text and "***" in text


def test_short_values_are_not_treated_as_secrets():
    Secret("abc")
    assert str(TargetRejected("abc is a word")) == "abc is a word"
