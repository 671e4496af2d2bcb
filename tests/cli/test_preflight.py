"""``severa-sync check``: the preflight over real HTTP to both simulators and S3 on moto.

Each deliberately broken setting is found by its own check (and only that one), with a fix.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from severa_sync.config import parse_config
from severa_sync.engine.ports import Versions
from severa_sync.secrets import EnvironmentSecrets
from severa_sync.state.memory import MemoryStateStore
from severa_sync_tools.cli import main
from severa_sync_tools.preflight import Preflight
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.severa.seed_tables import BUSINESS_UNIT
from severa_sync_tools.simulators.visma import VismaSimulator

API_KEY = "preflight-severa-key-123"
CLIENT_SECRET = "preflight-visma-secret-456"
BUCKET = "preflight-exports"


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
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield s3


@pytest.fixture
def good(
    simulators: tuple[SeveraSimulator, VismaSimulator], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    severa, visma = simulators
    monkeypatch.setenv("SEVERA_API_KEY", API_KEY)
    monkeypatch.setenv("VISMA_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return {
        "tenant": "acme",
        "severa": {"url": severa.url, "business_unit_guid": BUSINESS_UNIT["BusinessUnitGUID"]},
        "visma": {"base_url": visma.base_url, "token_url": visma.token_url},
        "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
        "products": {"item_class": "SERVICE"},
        "export_bucket": BUCKET,
    }


Checked = tuple[int, dict[str, list[str]], str]


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any]) -> Checked:
    """The findings by check name ([result, found, fix], from ``--json``), and everything printed
    (the table too, from a second run without ``--json``)."""
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(document))
    code = main(["check", "--config", str(path), "--json"])
    captured = capsys.readouterr()
    rows = {row["check"]: [row["result"], row["found"], row["fix"]] for row in json.loads(captured.out)}
    assert main(["check", "--config", str(path)]) == code
    table = capsys.readouterr()
    return code, rows, captured.out + captured.err + table.out + table.err


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(base))
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def test_a_good_configuration_passes_every_check(
    good: dict[str, Any], aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = _check(tmp_path, capsys, good)
    assert code == 0
    assert {name: cells[0] for name, cells in rows.items()} == {
        "Severa API key": "OK",
        "Severa entity schema version": "OK",
        "Severa business unit": "OK",
        "Severa invoice statuses": "OK",
        "Severa payment statuses": "OK",
        "Visma.net token": "OK",
        "Visma.net company and tenant": "OK",
        "Visma.net customer class": "OK",
        **{f"Visma.net VAT code {c}": "OK" for c in ("0", "1", "2", "3")},
        "Visma.net default item": "OK",
        "S3 export bucket": "OK",
        "Visma.net project origin": "OK",
        "Visma.net item class": "OK",
    }
    assert "Head office" in rows["Severa business unit"][1]


BROKEN = {
    "severa.api_key": ({}, "Severa API key", "API key"),
    "severa.business_unit_guid": (
        {"severa": {"business_unit_guid": "0b7c3a3e-1111-4222-8333-944455556666"}},
        "Severa business unit",
        "business_unit_guid",
    ),
    "invoices.source_status": (
        {"invoices": {"source_status": "Valmis siirtoon"}},
        "Severa invoice statuses",
        "source_status",
    ),
    "payments.paid_status": (
        {"payments": {"paid_status": "Maksettu"}},
        "Severa payment statuses",
        "paid_status",
    ),
    "visma.client_secret": ({}, "Visma.net token", "client_id"),
    "visma.company_tenant_id": (
        {"visma": {"company_tenant_id": "customer-tenant"}},
        "Visma.net company and tenant",
        "company tenant id",
    ),
    "invoices.customer_class_id": (
        {"invoices": {"customer_class_id": "9"}},
        "Visma.net customer class",
        "customer_class_id",
    ),
    "invoices.vat_codes": (
        {"invoices": {"vat_codes": {"24": "1", "14": "7"}}},
        "Visma.net VAT code 7",
        "vat_codes",
    ),
    "invoices.default_inventory_number": (
        {"invoices": {"default_inventory_number": "NO-SUCH-ITEM"}},
        "Visma.net default item",
        "default_inventory_number",
    ),
    "export_bucket": ({"export_bucket": "someone-elses-bucket"}, "S3 export bucket", "export_bucket"),
    "projects": ({"projects": {"default_subaccount": []}}, "Visma.net project origin", "projects.template"),
    "products": ({"products": {"item_class": None}}, "Visma.net item class", "products.item_class"),
}


@pytest.mark.parametrize("setting", list(BROKEN))
def test_each_broken_setting_is_found_with_its_fix(
    setting: str,
    good: dict[str, Any],
    aws: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    change, check, fix_names = BROKEN[setting]
    if setting == "severa.api_key":
        monkeypatch.setenv("SEVERA_API_KEY", "not-the-key")
    if setting == "visma.client_secret":
        monkeypatch.setenv("VISMA_CLIENT_SECRET", "not-the-secret")
    code, rows, output = _check(tmp_path, capsys, _merge(good, change))
    assert code == 1
    result, found, fix = rows[check]
    assert result == "PROBLEM", rows[check]
    assert fix_names in fix or fix_names in found
    problems = {name for name, cells in rows.items() if cells[0] == "PROBLEM"}
    assert problems == {check}, "one broken setting, one problem (the checks after it: NOT CHECKED)"
    for secret in ("not-the-key", "not-the-secret", API_KEY, CLIENT_SECRET):
        assert secret not in output


def test_unknown_statuses_list_the_tenants_real_ones(
    good: dict[str, Any], aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, rows, _ = _check(tmp_path, capsys, _merge(good, {"invoices": {"transferred_status": "Siirretty"}}))
    assert '"Ready for transfer"' in rows["Severa invoice statuses"][1]
    assert '"Transferred"' in rows["Severa invoice statuses"][1]


def test_a_changed_entity_schema_version_is_a_problem_before_the_first_run(
    good: dict[str, Any], simulators: tuple[SeveraSimulator, VismaSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(
        {
            **good,
            "types": {
                n: {"enabled": n == "accounts"}
                for n in ("accounts", "cases", "invoices", "hour_entries", "absences")
            },
        }
    )
    state = MemoryStateStore()
    state.write_versions("acme", Versions("1.0", "1999.1"))
    findings = {f.check: f for f in Preflight(config, EnvironmentSecrets(), state=state).run()}
    schema = findings["Severa entity schema version"]
    assert not schema.ok and "1999.1" in schema.detail and "clear-halt" in schema.fix
    assert "Severa invoice statuses" not in findings, "invoices are disabled"
    assert "S3 export bucket" not in findings, "no S3 type is enabled"


def test_check_needs_a_named_place(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEVERA_SYNC_CONFIG_FILE", raising=False)
    assert main(["check"]) == 2
    assert "--config FILE" in capsys.readouterr().err


def _closed_port() -> int:
    """A local port where nothing listens: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UNREACHABLE = {
    # setting broken -> (the check that finds it, the setting its fix names)
    "severa.url": ({"severa": {"transport_retries": 0}}, "Severa API key", "severa.url"),
    "visma.token_url": ({}, "Visma.net token", "visma.token_url"),
    "visma.base_url": ({}, "Visma.net company and tenant", "visma.base_url"),
}


@pytest.mark.parametrize("setting", list(UNREACHABLE))
def test_a_refused_connection_says_check_the_url_not_renew_the_key(
    setting: str, good: dict[str, Any], aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, check, named = UNREACHABLE[setting]
    section, field = setting.split(".")
    url = f"http://127.0.0.1:{_closed_port()}/" + ("token" if field == "token_url" else "API.svc")
    document = _merge(_merge(good, change), {section: {field: url}})
    code, rows, _ = _check(tmp_path, capsys, document)
    assert code == 1
    result, found, fix = rows[check]
    assert result == "PROBLEM" and "refused" in found and "127.0.0.1" in found
    assert named in fix and "DNS" in fix and "network" in fix, fix
    for wrong in ("API key", "secret", "company_tenant_id", "client_id"):
        assert wrong not in fix, f"a refused connection is not a credential problem: {fix}"


def test_a_host_that_does_not_resolve_says_check_the_url_and_dns(
    good: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "severa.nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    document = _merge(
        good, {"severa": {"url": "http://severa.nowhere.invalid/API.svc", "transport_retries": 0}}
    )
    document["types"] = {
        n: {"enabled": n == "accounts"} for n in ("cases", "invoices", "hour_entries", "absences", "accounts")
    }
    code, rows, _ = _check(tmp_path, capsys, document)
    assert code == 1
    result, found, fix = rows["Severa API key"]
    assert result == "PROBLEM" and "DNS" in found and "severa.nowhere.invalid" in found
    assert "severa.url" in fix and "DNS" in fix and "API key" not in fix, fix


def test_check_stack_reads_the_stacks_document_secrets_table_and_bucket(
    good: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check --stack``: the configuration from the stack's SSM parameter, the secrets from Secrets
    Manager and the schema version from the stack's table, all in the stack's region (not the shell's)."""
    from aws_lambda_powertools.utilities import parameters

    from severa_sync.state.dynamodb import DynamoStateStore
    from tests.cli.deployed_stack import REGION, create_stack

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "STATE_TABLE", "SEVERA_SYNC_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SEVERA_API_KEY")  # from Secrets Manager, not the environment
    monkeypatch.delenv("VISMA_CLIENT_SECRET")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    name = "severa-sync-acme-check"
    document = _merge(
        good,
        {
            "severa": {"api_key_secret": "acme/severa-api-key"},
            "visma": {"client_secret_secret": "acme/visma-client-secret"},
            "export_bucket": f"{name}-exports",
        },
    )
    with mock_aws():
        parameters.clear_caches()
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name="acme/severa-api-key", SecretString=API_KEY)
        secrets.create_secret(Name="acme/visma-client-secret", SecretString=CLIENT_SECRET)
        stack = create_stack(name, seed=document)

        assert main(["check", "--stack", name, "--region", REGION, "--json"]) == 0, (
            "a warning is not a problem"
        )
        rows = {row["check"]: row for row in json.loads(capsys.readouterr().out)}
        document = rows.pop("Configuration document")
        assert (
            document["result"] == "WARNING" and f"only the template's seed {stack.seed}" in document["found"]
        )
        assert f"severa-sync config push FILE --stack {name}" in document["fix"]
        assert {row["result"] for row in rows.values()} == {"OK"}
        assert rows["S3 export bucket"]["found"] == f"{name}-exports exists"
        pushed = json.dumps(document_of_seed(stack))  # what config push writes; no deploy touches it
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=stack.parameter, Value=pushed, Type="String"
        )
        assert main(["check", "--stack", name, "--region", REGION]) == 0
        out = capsys.readouterr().out
        assert "WARNING" not in out and f"{stack.parameter} (pushed)" in out

        store = DynamoStateStore(boto3.client("dynamodb", region_name=REGION), stack.table)
        store.write_versions("acme", Versions("1.0", "1999.1"))
        assert main(["check", "--stack", name, "--region", REGION, "--json"]) == 1
        rows = {row["check"]: row for row in json.loads(capsys.readouterr().out)}
        schema = rows["Severa entity schema version"]
        assert schema["result"] == "PROBLEM" and "1999.1" in schema["found"] and "clear-halt" in schema["fix"]
        assert {n for n, row in rows.items() if row["result"] != "OK"} == {"Severa entity schema version"}


def document_of_seed(stack: Any) -> dict[str, Any]:
    return dict(json.loads(stack.document(stack.seed)["Value"]))
