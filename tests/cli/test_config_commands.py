"""The configuration round trip on moto: push, the functions read it, an invalid push is refused,
a bad document in the store is a configuration error with an alert naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from severa_sync.errors import ConfigError
from severa_sync.handler import handle
from severa_sync.runtime import get_runtime, reset_runtime
from severa_sync_tools.cli import main
from tests.cli.deployed_stack import REGION, SEED, MotoStack, create_stack


@dataclass
class Context:
    function_name: str = "severa-sync-acme-test-accounts"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "SEVERA_SYNC_CONFIG", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        parameters.clear_caches()
        created = create_stack()
        # The functions' environment, as template.yaml's Globals give it.
        monkeypatch.setenv("SEVERA_SYNC_CONFIG_PARAMETER", created.parameter)
        monkeypatch.setenv("SEVERA_SYNC_CONFIG_SEED_PARAMETER", created.seed)
        monkeypatch.setenv("STATE_TABLE", created.table)
        monkeypatch.setenv("ALERT_TOPIC_ARN", created.topic)
        monkeypatch.setenv("STATE_BACKEND", "dynamodb")
        reset_runtime()
        yield created
        reset_runtime()
        parameters.clear_caches()


def _file(tmp_path: Path, document: dict[str, Any], name: str = "tenant.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def _pushed(stack: MotoStack) -> dict[str, Any] | None:
    """The operator's parameter, or None: it exists only after a push."""
    try:
        return stack.document()
    except boto3.client("ssm", region_name=REGION).exceptions.ParameterNotFound:
        return None


def _five_minutes_pass() -> None:
    parameters.clear_caches()  # what powertools' max_age=300 does after five minutes


def test_check_validates_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", _file(tmp_path, SEED)]) == 0
    assert "valid configuration of tenant acme" in capsys.readouterr().out
    bad = _file(tmp_path, {**SEED, "engine": {"batch_size": 0}}, "bad.json")
    assert main(["config", "check", bad]) == 2
    assert "engine.batch_size" in capsys.readouterr().err


def test_push_shows_the_diff_and_the_functions_use_it_within_minutes(
    stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert get_runtime().config.engine.batch_size == 500  # the seeded document
    changed = {**SEED, "engine": {"batch_size": 200}}
    code = main(["config", "push", _file(tmp_path, changed), "--stack", stack.name, "--yes"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '+  "engine": {' in out and '+    "batch_size": 200' in out, "the diff against the seed in effect"
    assert f"in effect: {stack.seed} (the seed)" in out
    assert stack.document()["Version"] == 1, "the operator's parameter, created by the first push"
    assert json.loads(stack.document(stack.seed)["Value"]) == SEED, "the seed is the template's alone"
    runtime = get_runtime()
    assert runtime.config.engine.batch_size == 200, "a first push is used at once: no document was cached"
    again = {**SEED, "engine": {"batch_size": 300}}
    assert main(["config", "push", _file(tmp_path, again), "--stack", stack.name, "--yes"]) == 0
    assert '-    "batch_size": 200' in capsys.readouterr().out, "the diff against the pushed one"
    assert get_runtime().config.engine.batch_size == 200, "cached: SSM is not asked on every invocation"
    _five_minutes_pass()
    assert get_runtime().config.engine.batch_size == 300
    assert get_runtime() is not runtime, "a new document builds a new runtime, whole"
    changed = again
    assert main(["config", "push", _file(tmp_path, changed), "--stack", stack.name, "--yes"]) == 0
    assert "nothing to push" in capsys.readouterr().out
    assert main(["config", "show", "--stack", stack.name]) == 0
    out = capsys.readouterr().out
    assert '"batch_size": 300' in out and f"{stack.parameter}, pushed with severa-sync config push" in out


def test_an_invalid_push_is_refused_and_nothing_is_written(
    stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _file(tmp_path, {**SEED, "severa": {**SEED["severa"], "read_timeout_seconds": 5000}})
    assert main(["config", "push", bad, "--stack", stack.name, "--yes"]) == 2
    assert "severa.read_timeout_seconds" in capsys.readouterr().err
    assert _pushed(stack) is None
    other_tenant = _file(tmp_path, {**SEED, "tenant": "globex"}, "other.json")
    assert main(["config", "push", other_tenant, "--stack", stack.name, "--yes"]) == 2
    assert "tenant 'globex' differs" in capsys.readouterr().err
    assert _pushed(stack) is None


def test_a_bad_document_keeps_the_last_good_one_and_alerts_naming_the_field(stack: MotoStack) -> None:
    good = get_runtime().config
    ssm = boto3.client("ssm", region_name=REGION)
    broken = {**SEED, "engine": {"lock_lease_seconds": 5}}
    ssm.put_parameter(Name=stack.parameter, Value=json.dumps(broken), Type="String", Overwrite=True)
    _five_minutes_pass()
    assert get_runtime().config == good, "never half applied: the last good configuration stays"
    alerts = stack.alerts()
    assert len(alerts) == 1
    body = alerts[0]["Message"]
    assert "invalid configuration" in alerts[0]["Subject"]
    assert "engine.lock_lease_seconds" in body and "last good configuration stays" in body
    _five_minutes_pass()
    get_runtime()
    assert stack.alerts() == [], "one alert per bad document, not one per invocation"


def test_a_bad_document_at_a_cold_start_stops_the_run_with_an_alert(stack: MotoStack) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(
        Name=stack.parameter, Value='{"tenant": "acme", "stage": "staging"}', Type="String", Overwrite=True
    )
    with pytest.raises(ConfigError, match="stage"):
        get_runtime()
    answer = handle("accounts", {"data_type": "accounts"}, Context(), get_runtime)
    assert answer["status"] == "failed" and answer["error_code"] == "invalid_configuration"
    assert "stage" in answer["error_message"]
    alerts = stack.alerts()
    assert len(alerts) == 1 and "runs stop until it is fixed" in alerts[0]["Message"]
    assert alerts[0]["Subject"] == "[severa-sync] acme/all: invalid configuration", "the tenant it names"


def test_an_unreadable_parameter_is_a_configuration_error(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVERA_SYNC_CONFIG_PARAMETER", "/severa-sync/someone-else/config")
    monkeypatch.setenv("SEVERA_SYNC_CONFIG_SEED_PARAMETER", "/severa-sync/someone-else/config-seed")
    reset_runtime()
    with pytest.raises(ConfigError, match="cannot read SSM parameter /severa-sync/someone-else/config-seed"):
        get_runtime()


def test_a_deploy_that_changes_the_seed_never_overwrites_the_pushed_document(
    stack: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit item 1: ``sam deploy`` with a changed seed parameter used to rewrite the pushed document."""
    assert get_runtime().config.engine.batch_size == 500, "before any push: the seed"
    assert main(["config", "show", "--stack", stack.name]) == 0
    assert f"{stack.seed}, the template's seed: no document has been pushed" in capsys.readouterr().out
    pushed = {**SEED, "engine": {"batch_size": 200}}
    assert main(["config", "push", _file(tmp_path, pushed), "--stack", stack.name, "--yes"]) == 0
    capsys.readouterr()

    stack.redeploy({**SEED, "engine": {"batch_size": 42}})  # e.g. a new BackfillFrom
    assert json.loads(stack.document(stack.seed)["Value"])["engine"] == {"batch_size": 42}, "redeployed"
    assert json.loads(stack.document()["Value"])["engine"] == {"batch_size": 200}, "the pushed one kept"
    _five_minutes_pass()
    reset_runtime()  # a cold start after the deploy
    assert get_runtime().config.engine.batch_size == 200, "the handler's runtime reads the pushed document"
    assert main(["config", "show", "--stack", stack.name]) == 0
    assert '"batch_size": 200' in capsys.readouterr().out


def test_the_seed_is_used_only_while_nothing_was_pushed_and_the_log_says_so(
    stack: MotoStack, caplog: pytest.LogCaptureFixture
) -> None:
    from severa_sync.config_store import config_reader

    read, _ = config_reader(
        {"SEVERA_SYNC_CONFIG_PARAMETER": stack.parameter, "SEVERA_SYNC_CONFIG_SEED_PARAMETER": stack.seed}
    )
    assert json.loads(read()) == SEED
    assert f"{stack.parameter} does not exist, using the template's seed {stack.seed}" in caplog.text
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=stack.parameter, Value=json.dumps({**SEED, "time_zone": "UTC"}), Type="String")
    _five_minutes_pass()
    assert json.loads(read())["time_zone"] == "UTC"


def test_commands_on_a_stack_that_does_not_exist_say_so(
    stack: MotoStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--stack", "severa-sync-nobody"]) == 2
    assert "stack severa-sync-nobody does not exist in eu-west-1" in capsys.readouterr().err
