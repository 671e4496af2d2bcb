"""``severa-sync run TYPE`` against the simulators on 127.0.0.1 with the embedded state store."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from severa_sync import registry
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.memory import MemoryStateStore
from severa_sync.state.table import create_state_table
from severa_sync_tools.cli import main
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator

API_KEY = "run-test-severa-key-123"
CLIENT_SECRET = "run-test-visma-secret-456"


@dataclass
class Endpoints:
    severa: SeveraSimulator
    visma: VismaSimulator
    state_file: Path

    def argv(self, data_type: str, *extra: str) -> list[str]:
        return [
            "run",
            data_type,
            "--severa-url",
            self.severa.url,
            "--visma-url",
            self.visma.base_url,
            "--visma-token-url",
            self.visma.token_url,
            "--state-file",
            str(self.state_file),
            *extra,
        ]

    def fast_config(self, **severa: object) -> str:
        """First runs start six weeks back (not 2024-01-01): the seed data is all from the last month."""
        start = (date.today() - timedelta(weeks=6)).isoformat()
        path = self.state_file.parent / "fast.json"
        types = {name: {"backfill_from": start} for name in registry.BY_NAME}
        projects = {"default_subaccount": [{"segment_id": 1, "value": "0000"}]}
        document = {"tenant": "demo", "types": types, "severa": severa, "projects": projects}
        path.write_text(json.dumps({**document, "products": {"item_class": "SERVICE"}}))
        return str(path)


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[SeveraSimulator, VismaSimulator]]:
    severa = SeveraSimulator(api_key=API_KEY, seed=True).start(port=0)
    visma = VismaSimulator(client_secret=CLIENT_SECRET).start(port=0)
    try:
        yield severa, visma
    finally:
        severa.stop()
        visma.stop()


@pytest.fixture
def endpoints(
    simulators: tuple[SeveraSimulator, VismaSimulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Endpoints:
    monkeypatch.setenv("SEVERA_API_KEY", API_KEY)
    monkeypatch.setenv("VISMA_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.chdir(tmp_path)  # nothing may land in the checkout
    named = tmp_path / "demo-tenant.json"
    named.write_text('{"tenant": "demo"}')
    monkeypatch.setenv("SEVERA_SYNC_CONFIG_FILE", str(named))  # the place, named once for the shell
    return Endpoints(*simulators, tmp_path / "state.json")


def test_run_needs_a_named_place(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEVERA_SYNC_CONFIG_FILE")
    code = main(endpoints.argv("accounts"))
    err = capsys.readouterr().err
    assert code == 2
    assert "--config FILE (or SEVERA_SYNC_CONFIG_FILE) or --stack NAME" in err
    assert not endpoints.state_file.exists(), "nothing ran against a guessed tenant"


def test_run_accounts_delivers_and_keeps_state_in_the_local_file(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    environment = dict(os.environ)
    code = main(endpoints.argv("accounts"))
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Account transfer started" in out and "accounts: succeeded" in out
    store = MemoryStateStore(endpoints.state_file)
    (item,) = store.watermarks("demo")
    assert item["data_type"] == "accounts" and item["watermark"] and item["last_run"]["status"] == "succeeded"
    assert item["last_run"]["delivered"] == len(endpoints.visma.customers) > 0
    assert dict(os.environ) == environment, "the run restores the environment"
    assert API_KEY not in out + err and CLIENT_SECRET not in out + err

    first_fetched = item["last_run"]["fetched"]
    code = main(endpoints.argv("accounts"))
    out, _ = capsys.readouterr()
    fetched, delivered = map(int, re.search(r"fetched (\d+), delivered (\d+)", out).groups())  # type: ignore[union-attr]
    assert code == 0 and delivered == 0 and fetched < first_fetched, "the second run is incremental"


def test_invoices_show_the_rejected_one_in_red_and_exit_3_succeeded_with_record_errors(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(endpoints.argv("invoices", "--config", endpoints.fast_config()))
    out, _ = capsys.readouterr()
    assert code == 3, "not plain success: a record is parked"
    assert "✗ Invoice number 10502 ERROR" in out
    assert "invoices: succeeded with 1 record error · " in out and "failed 1" in out
    counts = re.search(  # fetched = delivered + skipped + failed + dropped as overlap
        r"fetched (\d+), delivered (\d+), skipped (\d+), failed (\d+), dropped as overlap (\d+)", out
    )
    assert counts is not None
    fetched, *parts = map(int, counts.groups())
    assert fetched == sum(parts)
    assert "alert (local, not sent): record_errors" in out


def test_json_log_format_prints_lambda_lines(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # No AWS credentials from anywhere (another test's moto environment, the machine's files).
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session keeps the credentials it resolved first: an earlier moto test's.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code = main(endpoints.argv("hour_entries", "--log-format", "json", "--config", endpoints.fast_config()))
    out, _ = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    # No AWS credentials for the S3 export here: a configuration error that names them (exit 2).
    assert code == 2, out[-2000:]
    stop = next(line for line in lines if line.get("action") == "run_failed")
    assert stop["error_code"] == "invalid_configuration" and "credentials" in stop["message"]
    assert lines[0]["action"] == "run_started" and lines[-1]["action"] == "run_finished"
    assert all(line["data_type"] == "hour_entries" for line in lines)


def test_severa_in_maintenance_exits_75(endpoints: Endpoints, capsys: pytest.CaptureFixture[str]) -> None:
    endpoints.severa.maintenance(calls=50)
    try:
        code = main(endpoints.argv("cases", "--config", endpoints.fast_config(transport_retries=0)))
    finally:
        endpoints.severa.maintenance(calls=0)
    out, _ = capsys.readouterr()
    assert code == 75 and "cases: retry later" in out
    assert "does not retry by itself" in out, "a laptop has no retry machine: say so"


def test_a_wrong_api_key_fails_the_run_without_showing_any_key(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVERA_API_KEY", "wrong-key-789")
    code = main(endpoints.argv("cases"))
    out, err = capsys.readouterr()
    assert code == 1 and "cases: failed" in out
    assert "✗" in out
    assert "wrong-key-789" not in out + err and API_KEY not in out + err


def test_a_missing_secret_is_a_one_line_config_error(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEVERA_API_KEY")
    code = main(endpoints.argv("cases"))
    _, err = capsys.readouterr()
    assert code == 2
    assert "SEVERA_API_KEY" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"severa": {"read_timeout_seconds": 0}}, "severa.read_timeout_seconds"),
        ({"stage": "production", "severa": {"environment": "secure-test"}}, "stage"),
        ({"types": {"invoicez": {}}}, "types"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_invalid_config_exits_2_naming_the_field(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], content: dict[str, object], field: str
) -> None:
    config = endpoints.state_file.parent / "tenant.json"
    config.write_text(json.dumps({"tenant": "demo", **content}))
    code = main(endpoints.argv("accounts", "--config", str(config)))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("severa-sync: error: invalid") and err.count("\n") == 1 and field in err


def test_a_production_stage_refuses_a_secure_test_override(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    config = endpoints.state_file.parent / "tenant.toml"
    config.write_text(
        'tenant = "demo"\nstage = "production"\n[severa]\nenvironment = "production"\n[visma]\n'
        '[api_user]\norganisation = "Acme Oy"\nname = "Integrations"\nemail = "it@acme.example"\n'
    )
    argv = [
        "run",
        "accounts",
        "--config",
        str(config),
        "--severa-url",
        "https://sync-test.severa.com/webservice/S3/API.svc",
    ]
    code = main(argv)
    assert code == 2 and "refuses" in capsys.readouterr().err


def test_aws_state_and_secrets_manager_on_request(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SEVERA_API_KEY")  # from Secrets Manager this time, not the environment
    monkeypatch.delenv("VISMA_CLIENT_SECRET")
    config = endpoints.state_file.parent / "aws.json"
    config.write_text(
        json.dumps(
            {
                "tenant": "demo",
                "severa": {"api_key_secret": "acme/severa-api-key"},
                "visma": {"client_secret_secret": "acme/visma-client-secret"},
                "projects": {"template": "SEVERA"},
            }
        )
    )
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name="acme/severa-api-key", SecretString=API_KEY)
        secrets.create_secret(Name="acme/visma-client-secret", SecretString=CLIENT_SECRET)
        create_state_table(boto3.client("dynamodb"), "stack-state")
        code = main(
            endpoints.argv(
                "cases",
                "--config",
                str(config),
                "--state",
                "aws",
                "--table",
                "stack-state",
                "--secrets",
                "aws",
            )
        )
        out, err = capsys.readouterr()
        assert code == 0, out + err
        stored = DynamoStateStore(boto3.client("dynamodb"), "stack-state").read_watermark("demo", "cases")
        assert stored.raw is not None
    assert not endpoints.state_file.exists(), "the embedded store was not used"
    assert API_KEY not in out + err
