"""``severa_sync.secrets.Secret``: every way a value can turn into text or bytes shows ``***``.

The adapters' own tests prove their secrets stay out of their logs and errors (see
docs/security.md); these pin the wrapper they all rely on.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle

import pytest

from severa_sync.errors import CallInfo, SyncError
from severa_sync.secrets import EnvironmentSecrets, Secret

VALUE = "s3cr3t-Q9x-never-shown"


def test_text_forms_hide_the_value() -> None:
    secret = Secret(VALUE)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old formatting path too
        "{}".format(secret),  # noqa: UP032
        json.dumps({"key": secret}, default=str),
        repr([secret, {"k": secret}]),
        str(CallInfo("severa", "IAPI/GetVersion", params={"key": secret}).as_log()),
        str(SyncError("boom", detail={"key": secret}).as_log()),
    ]
    for text in shown:
        assert VALUE not in text and "***" in text


def test_logging_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("calling with %s", Secret(VALUE), extra={"key": Secret(VALUE)})
    assert VALUE not in caplog.text
    assert all(VALUE not in str(record.__dict__) for record in caplog.records)


def test_the_value_cannot_be_pickled_or_copied_out() -> None:
    secret = Secret(VALUE)
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            leak(secret)
    assert not hasattr(secret, "__dict__"), "no attribute dump (vars(), __dict__) can show it"


def test_reveal_is_the_only_way_out() -> None:
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert secret == Secret(VALUE) and secret != VALUE  # never equal to the bare string


def test_a_missing_secret_names_the_secret_not_a_value() -> None:
    resolver = EnvironmentSecrets({"OTHER": VALUE})
    with pytest.raises(SyncError) as caught:
        resolver.resolve("SEVERA_API_KEY")
    assert "SEVERA_API_KEY" in str(caught.value) and VALUE not in str(caught.value)
    assert isinstance(resolver.resolve("OTHER"), Secret)
