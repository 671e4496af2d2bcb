"""Configuration: validation names the field, stages refuse the wrong endpoint, docs list every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from severa_sync.config import TenantConfig, load_file, parse_config
from severa_sync.config_store import config_reader, parse_document
from severa_sync.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults_are_valid_and_point_at_secure_test():
    config = parse_config({"tenant": "demo"})
    assert config.severa.endpoint == "https://sync-test.severa.com/webservice/S3/API.svc"


@pytest.mark.parametrize("document", [{}, {"stage": "local"}, {"tenant": ""}])
def test_the_tenant_has_no_default(document):
    """A configuration names its tenant: no silent "demo" (only ``severa-sync demo`` builds that)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(document, origin="configuration file t.json")
    assert "tenant" in str(caught.value) and "demo" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"severa": {"read_timeout_seconds": 10_000}}, "severa.read_timeout_seconds"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"types": {"payroll": {}}}, "types"),
        ({"tenant": "Not Valid!"}, "tenant"),
        ({"severa": {"api_key": "oops"}}, "severa.api_key"),
        # A stock item type would make items no invoice line can take.
        ({"tenant": "t", "products": {"item_type": "FinishedGoodItem"}}, "products.item_type"),
        ({"tenant": "t", "products": {"item_class": ""}}, "products.item_class"),
        ({"tenant": "t", "products": {"itemClass": "SERVICE"}}, "products.itemClass"),
    ],
)
def test_invalid_configuration_names_the_field(data, field):
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert field in str(caught.value)


def test_production_refuses_secure_test_and_the_other_way_round():
    with pytest.raises(ConfigError, match="refuses"):
        parse_config({"tenant": "acme", "stage": "production", "severa": {"environment": "secure-test"}})
    with pytest.raises(ConfigError, match="refuses"):
        parse_config(
            {
                "tenant": "acme",
                "stage": "secure-test",
                "severa": {"url": "https://sync.severa.com/webservice/S3/API.svc"},
            }
        )
    user = {"organisation": "Acme Oy", "name": "Integrations", "email": "it@acme.example"}
    production = {
        "tenant": "acme",
        "stage": "production",
        "severa": {"environment": "production"},
        "visma": {},
        "api_user": user,
    }
    assert parse_config(production).stage == "production"


def load_from_environment(environ: dict[str, str]) -> TenantConfig:
    """What the Lambda runtime does with its environment: one read, parsed."""
    read, origin = config_reader(environ)
    return parse_document(read(), origin=origin)


def test_files_and_environment(tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text('tenant = "acme"\n[severa]\nenvironment = "production"\n')
    assert load_file(toml).severa.environment == "production"
    bad = tmp_path / "t.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid"):
        load_file(bad)
    config = load_from_environment({"SEVERA_SYNC_CONFIG": json.dumps({"tenant": "acme"})})
    assert config.tenant == "acme"
    with pytest.raises(ConfigError, match="no configuration"):
        load_from_environment({})


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(_fields(annotation, f"{prefix}{name}."))
        else:
            names.append(name)
    return names


def test_every_configuration_field_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    from severa_sync.config import DataTypeSettings

    missing = [name for name in _fields(TenantConfig) + _fields(DataTypeSettings) if f"`{name}`" not in text]
    assert missing == []


def test_deployed_stages_require_https_endpoints():
    with pytest.raises(ConfigError, match="https"):
        parse_config(
            {"tenant": "acme", "stage": "secure-test", "severa": {"url": "http://proxy.example/API.svc"}}
        )
    with pytest.raises(ConfigError, match=r"visma\.token_url"):
        parse_config(
            {
                "tenant": "acme",
                "stage": "production",
                "severa": {"environment": "production"},
                "visma": {"token_url": "http://connect.example/token"},
            }
        )
    assert (
        parse_config({"tenant": "acme", "stage": "local", "severa": {"url": "http://127.0.0.1:8081/x"}}).stage
        == "local"
    )


def test_an_unreadable_ssm_parameter_is_a_configuration_error(monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    def refuse(name, **kwargs):
        raise parameters.exceptions.GetParameterError("An error occurred (AccessDeniedException)")

    monkeypatch.setattr(parameters, "get_parameter", refuse)
    with pytest.raises(ConfigError, match="cannot read SSM parameter /severa-sync/acme: GetParameterError"):
        load_from_environment({"SEVERA_SYNC_CONFIG_PARAMETER": "/severa-sync/acme"})


def test_a_production_configuration_without_visma_or_api_user_is_rejected():
    # Issue 12 item 6: the defaults (Example Oy, integration@example.com) would reach Severa
    # support's error logs, and an unset [visma] section points at defaults nobody chose.
    base = {"tenant": "acme", "stage": "production", "severa": {"environment": "production"}}
    user = {"organisation": "Acme Oy", "name": "Integrations", "email": "it@acme.example"}
    with pytest.raises(ConfigError, match=r"\[visma\]"):
        parse_config({**base, "api_user": user})
    with pytest.raises(ConfigError, match=r"\[api_user\]"):
        parse_config({**base, "visma": {}})
    with pytest.raises(ConfigError, match=r"api_user\.email"):
        parse_config({**base, "visma": {}, "api_user": {"organisation": "Acme Oy", "name": "It"}})
    assert parse_config({**base, "visma": {}, "api_user": user}).stage == "production"
    assert parse_config(
        {"tenant": "acme", "stage": "local"}
    ).api_user.organisation  # local runs keep the defaults


def test_a_schedule_setting_is_refused_naming_the_stack_parameter():
    # Issue 12: types.<name>.schedule never changed anything (schedules are the template's
    # EventBridge Scheduler resources); a document that sets it is told where schedules live.
    with pytest.raises(ConfigError) as caught:
        parse_config({"tenant": "acme", "types": {"accounts": {"schedule": "rate(1 day)"}}})
    message = str(caught.value)
    assert "types.accounts.schedule is not a configuration setting" in message
    assert "AccountsSchedule" in message and "samconfig.toml" in message
    from severa_sync.config import DataTypeSettings

    assert "schedule" not in DataTypeSettings.model_fields
    assert not hasattr(TenantConfig, "schedule")


def test_a_schedule_setting_is_a_configuration_error_of_config_check(tmp_path, capsys):
    # The normal path: `severa-sync config check FILE` exits 2 with the one-line error naming it.
    from severa_sync_tools.cli import main

    path = tmp_path / "tenant.toml"
    path.write_text('tenant = "acme"\n[types.hour_entries]\nschedule = "cron(0 3 * * ? *)"\n')
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"invalid configuration file {path}" in err
    assert "types.hour_entries.schedule is not a configuration setting" in err
    assert "HourEntriesSchedule" in err
