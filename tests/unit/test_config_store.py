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


class Ssm:
    """``read_ssm_document`` as the reader sees it: ParameterMissing, another ConfigError, or text."""

    def __init__(self, **documents: str | ConfigError) -> None:
        self.documents = documents
        self.asked: list[str] = []

    def read(self, name: str) -> str:
        from severa_sync.config_store import ParameterMissing

        self.asked.append(name)
        found = self.documents.get(name.strip("/"))
        if found is None:
            raise ParameterMissing(f"cannot read SSM parameter {name}: ParameterNotFound")
        if isinstance(found, ConfigError):
            raise found
        return found


def test_the_seed_is_read_only_while_the_operator_document_does_not_exist() -> None:
    from severa_sync.config_store import SsmDocumentReader

    ssm = Ssm(seed=_doc(time_zone="UTC"))
    reader = SsmDocumentReader("/config", "/seed", read=ssm.read)
    assert json.loads(reader())["time_zone"] == "UTC" and "the seed" in reader.origin
    ssm.documents["config"] = _doc()
    assert json.loads(reader()) == {"tenant": "acme"} and reader.origin == "SSM parameter /config"
    ssm.asked.clear()
    reader()
    assert ssm.asked == ["/config"], "the seed is not read while the operator's document exists"


def test_access_denied_on_the_operator_document_is_an_error_not_the_seed() -> None:
    from severa_sync.config_store import SsmDocumentReader

    denied = ConfigError("cannot read SSM parameter /config: GetParameterError")
    reader = SsmDocumentReader("/config", "/seed", read=Ssm(config=denied, seed=_doc()).read)
    with pytest.raises(ConfigError, match="/config: GetParameterError"):
        reader()


def test_a_rejected_seed_names_the_seed_parameter() -> None:
    from severa_sync.config_store import SsmDocumentReader

    reader = SsmDocumentReader("/config", "/seed", read=Ssm(seed="[1]").read)
    config = LastGoodConfig(reader, origin="SSM parameter /config", on_rejected=lambda _: None)
    with pytest.raises(ConfigError, match=r"SSM parameter /seed \(the seed; /config does not exist\)"):
        config.current()


def test_not_found_is_recognised_through_powertools() -> None:
    """powertools raises GetParameterError inside its ``except``: the SDK error is the context."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import ClientError

    from severa_sync.config_store import _not_found

    def wrapped(code: str) -> GetParameterError:
        try:
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "GetParameter")
        except ClientError as exc:
            try:
                raise GetParameterError(str(exc))
            except GetParameterError as wrapped:
                return wrapped

    assert _not_found(wrapped("ParameterNotFound"))
    assert not _not_found(wrapped("AccessDeniedException"))
