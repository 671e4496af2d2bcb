"""LastGoodConfig: a document is applied whole or not at all; each rejection is reported once."""

from __future__ import annotations

import json

import pytest

from severa_sync.config_store import LastGoodConfig, Rejection, parse_document, tenant_hint
from severa_sync.errors import ConfigError


class Store:
    def __init__(self, text: str) -> None:
        self.text: str | None = text

    def read(self) -> str:
        if self.text is None:
            raise ConfigError("cannot read SSM parameter /x: GetParameterError")
        return self.text


def _doc(**fields: object) -> str:
    return json.dumps({"tenant": "acme", **fields})


def test_the_last_good_document_stays_until_a_valid_one_replaces_it() -> None:
    store, rejected = Store(_doc()), []
    config = LastGoodConfig(store.read, origin="SSM parameter /x", on_rejected=rejected.append)
    first = config.current()
    store.text = _doc(engine={"batch_size": 0, "lock_lease_seconds": 10})
    assert config.current() is first
    assert config.current() is first
    assert len(rejected) == 1, "one report per bad document"
    assert rejected[0].kept_last_good and rejected[0].tenant == "acme"
    assert (
        "engine.batch_size" in rejected[0].error.message
        and "engine.lock_lease_seconds" in rejected[0].error.message
    )
    store.text = None  # SSM unreachable or access denied: also kept, also reported once
    assert config.current() is first and len(rejected) == 2
    store.text = _doc(engine={"batch_size": 7})
    assert config.current().engine.batch_size == 7
    store.text = _doc(engine={"batch_size": 0})
    config.current()
    assert len(rejected) == 3, "the same kind of mistake again, after a good one, is reported again"


def test_with_nothing_good_yet_the_run_stops() -> None:
    rejected: list[Rejection] = []
    config = LastGoodConfig(Store("[1, 2]").read, origin="SSM parameter /x", on_rejected=rejected.append)
    with pytest.raises(ConfigError, match="not a JSON object"):
        config.current()
    assert not rejected[0].kept_last_good and "runs stop" in rejected[0].summary


def test_tenant_hint_takes_only_a_plain_tenant_name() -> None:
    assert tenant_hint('{"tenant": "acme"}') == "acme"
    assert tenant_hint('{"tenant": "ACME Oy <script>"}') == "unknown"
    assert tenant_hint("{not json") == "unknown"
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_document("{not json", origin="SSM parameter /x")
