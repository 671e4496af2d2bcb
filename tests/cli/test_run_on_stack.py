"""``severa-sync run TYPE --stack NAME`` end to end on moto: the stack's outputs name the state
table, the alert topic, the region and the configuration parameter; the simulators answer over HTTP.
Hour entries go to the stack's bucket, and ``state mappings`` shows the object each one is in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from severa_sync import registry
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync_tools.cli import main
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator
from tests.cli.deployed_stack import REGION, SEED, MotoStack, create_stack

API_KEY = "stack-run-severa-key-123"
CLIENT_SECRET = "stack-run-visma-secret-456"
NAME = "severa-sync-acme-test"
#: The Visma.net company of the SSM document: the simulator answers only that one.
_VISMA: Any = SEED["visma"]
COMPANY = str(_VISMA["company_tenant_id"])


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[SeveraSimulator, VismaSimulator]]:
    severa = SeveraSimulator(api_key=API_KEY, seed=True).start(port=0)
    visma = VismaSimulator(client_secret=CLIENT_SECRET, company_tenant_id=COMPANY).start(port=0)
    try:
        yield severa, visma
    finally:
        severa.stop()
        visma.stop()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoStack]:
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "STATE_TABLE",
        "SEVERA_SYNC_CONFIG_FILE",
        "SEVERA_API_KEY",
        "VISMA_CLIENT_SECRET",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")  # not the stack's: --stack finds its own
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.chdir(tmp_path)  # nothing may land in the checkout
    start = (date.today() - timedelta(weeks=6)).isoformat()  # the seed data is from the last month
    seed = {
        **SEED,
        "export_bucket": f"{NAME}-exports",  # the stack's bucket, as preflight demands
        "types": {name: {"backfill_from": start} for name in registry.BY_NAME},
    }
    with mock_aws():
        parameters.clear_caches()
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name="acme/severa-api-key", SecretString=API_KEY)
        secrets.create_secret(Name="acme/visma-client-secret", SecretString=CLIENT_SECRET)
        yield create_stack(NAME, seed)
        parameters.clear_caches()


def _argv(sims: tuple[SeveraSimulator, VismaSimulator], data_type: str, *extra: str) -> list[str]:
    severa, visma = sims
    return [
        "run",
        data_type,
        "--severa-url",
        severa.url,
        "--visma-url",
        visma.base_url,
        "--visma-token-url",
        visma.token_url,
        *extra,
    ]


def _store(stack: MotoStack) -> DynamoStateStore:
    return DynamoStateStore(boto3.client("dynamodb", region_name=REGION), stack.table)


def test_run_on_a_stack_uses_its_table_config_and_secrets(
    stack: MotoStack,
    simulators: tuple[SeveraSimulator, VismaSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(_argv(simulators, "accounts", "--stack", stack.name, "--region", REGION))
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err
    assert "accounts: succeeded" in out
    # The tenant is the SSM document's (acme), the watermark in the stack's table in its region.
    stored = _store(stack).read_watermark("acme", "accounts")
    assert stored.raw is not None
    assert not Path(".severa-sync").exists(), "the embedded store was not used"
    assert API_KEY not in out + err and CLIENT_SECRET not in out + err


def test_hour_entries_on_a_stack_name_their_object_in_logs_and_mappings(
    stack: MotoStack,
    simulators: tuple[SeveraSimulator, VismaSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = _argv(
        simulators, "hour_entries", "--stack", stack.name, "--region", REGION, "--log-format", "json"
    )
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    delivered = [line for line in lines if line.get("action") == "record_delivered"]
    assert delivered, "the seed has hour entries in the last six weeks"
    s3 = boto3.client("s3", region_name=REGION)
    written = {o["Key"] for o in s3.list_objects_v2(Bucket=stack.bucket)["Contents"]}
    # exports/ is the SSM document's export_prefix, acme its tenant
    assert all(line["target_key"] in written for line in delivered), "each line names its file"
    assert all(key.startswith("exports/tenant=acme/type=hour_entries/date=") for key in written)
    assert _store(stack).read_watermark("acme", "hour_entries").raw is not None

    first = delivered[0]
    guid, key = first["record_key"], first["target_key"]
    place = ("--stack", stack.name, "--region", REGION)
    code = main(["state", "mappings", "hour_entries", *place])
    out, _ = capsys.readouterr()
    assert code == 0 and key in out and f"s3://{stack.bucket}" in out
    for wanted in (guid, key):
        code = main(["state", "mappings", "hour_entries", wanted, *place])
        out, _ = capsys.readouterr()
        rows = [line for line in out.splitlines() if guid in line]
        assert code == 0 and len(rows) == 1 and key in rows[0], out
    in_file = {line["record_key"] for line in delivered if line["target_key"] == key}
    code = main(["state", "mappings", "hour_entries", key, *place])
    out, _ = capsys.readouterr()
    assert {g for g in in_file if g in out} == in_file, "by object key: every entry of that file"


def test_an_unknown_stack_is_a_one_line_error(
    stack: MotoStack,
    simulators: tuple[SeveraSimulator, VismaSimulator],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(_argv(simulators, "accounts", "--stack", "no-such-stack", "--region", REGION))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert (
        err
        == f"severa-sync: error: stack no-such-stack does not exist in {REGION} (check --stack and --region)\n"
    )
    assert not Path(".severa-sync").exists()
