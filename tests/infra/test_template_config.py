"""The tenant document (ConfigParameter), the stage guard, and the stateful resources (table, topic, bucket)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_sync.config import SEVERA_ENDPOINTS, TenantConfig, parse_config
from severa_sync.errors import ConfigError
from severa_sync.registry import DATA_TYPES
from tests.infra.cfn import load_template, parameter_overrides, render_sub, sub_variables

TEMPLATE = load_template()
CONFIG_SUB = TEMPLATE["Resources"]["ConfigParameter"]["Properties"]["Value"]
#: Resources the config refers to, as CloudFormation would resolve them.
RESOLVED = {"ExportBucket": "stack-exportbucket-1a2b3c4d5e6f"}


def _values(environment: str, **changes: str) -> dict[str, str]:
    """Parameter values of a samconfig environment, template defaults filled in."""
    values = {name: str(p["Default"]) for name, p in TEMPLATE["Parameters"].items() if "Default" in p}
    return {**values, **parameter_overrides(environment), **RESOLVED, **changes}


def _config(values: dict[str, str]) -> dict[str, Any]:
    return json.loads(render_sub(CONFIG_SUB, values))


def _string_leaves(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [leaf for child in node.values() for leaf in _string_leaves(child)]
    return [node] if isinstance(node, str) else []


def _config_parameters() -> list[str]:
    return sorted(sub_variables(CONFIG_SUB) - set(RESOLVED))


@pytest.mark.parametrize("environment", ["secure-test", "production"])
def test_config_is_a_valid_tenant_config(environment: str) -> None:
    values = _values(environment)
    config = parse_config(_config(values), origin="template")
    assert isinstance(config, TenantConfig)
    assert config.stage == environment and config.severa.environment == environment
    assert config.severa.api_key_secret == values["SeveraApiKeySecretArn"]
    assert config.visma.client_secret_secret == values["VismaClientSecretArn"]
    assert config.export_bucket == RESOLVED["ExportBucket"]
    assert config.api_user.organisation == values["ApiUserOrganisation"]
    assert set(config.types) == {dt.name for dt in DATA_TYPES}
    backfill = date.fromisoformat(values["BackfillFrom"])
    assert all(config.type_settings(dt.name).backfill_from == backfill for dt in DATA_TYPES)


def test_every_config_parameter_is_constrained_to_json_safe_values() -> None:
    unsafe = ['a"b', "a\\b", "a\nb", "a\tb", "a\x00b", "a\x1bb", "a\x1fb"]
    for name in _config_parameters():
        parameter = TEMPLATE["Parameters"][name]
        if "AllowedValues" in parameter:
            assert all(json.dumps(v)[1:-1] == v for v in parameter["AllowedValues"]), name
            continue
        assert "AllowedPattern" in parameter, f"{name} is spliced into JSON without a constraint"
        pattern = re.compile(parameter["AllowedPattern"])
        for value in unsafe:
            assert not pattern.fullmatch(value), f"{name} allows {value!r}"


@pytest.mark.parametrize("name", _config_parameters())
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_allowed_value_keeps_the_config_valid_json(name: str, data: st.DataObject) -> None:
    parameter = TEMPLATE["Parameters"][name]
    if "AllowedValues" in parameter:
        value = data.draw(st.sampled_from([str(v) for v in parameter["AllowedValues"]]))
    else:
        value = data.draw(st.from_regex(parameter["AllowedPattern"], fullmatch=True))
    document = _config(_values("secure-test", **{name: value}))  # raises unless valid JSON
    assert any(value in leaf for leaf in _string_leaves(document)), "the value did not land intact"


@settings(max_examples=25, deadline=None)
@given(
    organisation=st.from_regex(
        TEMPLATE["Parameters"]["ApiUserOrganisation"]["AllowedPattern"], fullmatch=True
    ),
    name=st.from_regex(TEMPLATE["Parameters"]["ApiUserName"]["AllowedPattern"], fullmatch=True),
)
def test_free_text_parameters_round_trip_into_tenant_config(organisation: str, name: str) -> None:
    config = parse_config(_config(_values("secure-test", ApiUserOrganisation=organisation, ApiUserName=name)))
    assert (config.api_user.organisation, config.api_user.name) == (organisation, name)


def test_stage_and_severa_environment_must_match() -> None:
    stage, environment = TEMPLATE["Parameters"]["Stage"], TEMPLATE["Parameters"]["SeveraEnvironment"]
    assert set(stage["AllowedValues"]) == set(environment["AllowedValues"]) == set(SEVERA_ENDPOINTS)
    assertions = [a for rule in TEMPLATE["Rules"].values() for a in rule["Assertions"]]
    assert {
        "Assert": {"Fn::Equals": [{"Ref": "Stage"}, {"Ref": "SeveraEnvironment"}]},
        "AssertDescription": assertions[0]["AssertDescription"],
    } in assertions
    # The same guard in code, should the rule ever be bypassed.
    for stage_value, other in (("production", "secure-test"), ("secure-test", "production")):
        with pytest.raises(ConfigError, match="refuses"):
            parse_config(_config(_values(stage_value, Stage=stage_value, SeveraEnvironment=other)))


@pytest.mark.parametrize("environment", ["secure-test", "production"])
def test_samconfig_environment_targets_its_own_stage(environment: str) -> None:
    overrides = parameter_overrides(environment)
    assert overrides["Stage"] == overrides["SeveraEnvironment"] == environment
    assert set(overrides) <= set(TEMPLATE["Parameters"]), "override of a parameter the template lacks"
    required = {n for n, p in TEMPLATE["Parameters"].items() if "Default" not in p}
    assert required <= set(overrides), f"missing: {required - set(overrides)}"
    for key, value in overrides.items():
        parameter = TEMPLATE["Parameters"][key]
        if "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], value), f"{environment}: {key}={value!r}"
        if "AllowedValues" in parameter:
            assert value in [str(v) for v in parameter["AllowedValues"]], f"{environment}: {key}={value!r}"


def test_samconfig_stacks_are_separate() -> None:
    from tests.infra.cfn import samconfig

    stacks = {
        env: samconfig()[env]["deploy"]["parameters"]["stack_name"] for env in ("secure-test", "production")
    }
    assert len(set(stacks.values())) == 2
    # FunctionName is "<stack>-hour-entries": Lambda allows 64 characters.
    assert all(len(name) + len("-hour-entries") <= 64 for name in stacks.values())


def test_function_environment(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "severa-sync"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SeveraSync"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["STATE_TABLE"] == {"Ref": "StateTable"}
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    assert variables["RETRY_STATE_MACHINE_ARN"] == {"Ref": "RetryStateMachine"}
    assert variables["SECRETS_BACKEND"] == "secretsmanager"
    # The operator's document (config push; no CloudFormation resource) and the template's seed.
    assert variables["SEVERA_SYNC_CONFIG_PARAMETER"] == {"Fn::Sub": "/severa-sync/${AWS::StackName}/config"}
    assert variables["SEVERA_SYNC_CONFIG_SEED_PARAMETER"] == {"Ref": "ConfigParameter"}
    assert "SEVERA_SYNC_CONFIG" not in variables, "the document lives in SSM, changeable without a deploy"
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.11"
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Timeout"] <= 900


def test_layer(template: dict[str, Any]) -> None:
    layer = template["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert set(layer["Properties"]["CompatibleArchitectures"]) == set(
        template["Globals"]["Function"]["Architectures"]
    )


def test_state_table(template: dict[str, Any]) -> None:
    table = template["Resources"]["StateTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("sk", "S"),
    }
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_alert_topic_is_encrypted_with_a_key_alarms_can_use(template: dict[str, Any]) -> None:
    topic = template["Resources"]["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlertKey"}
    key_statements = template["Resources"]["AlertKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} and "kms:Decrypt" in s["Action"]
        for s in key_statements
    )
    subscription = template["Resources"]["AlertEmailSubscription"]["Properties"]
    assert subscription == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }


def test_export_bucket_is_private_encrypted_versioned_and_tls_only(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ExportBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r and r["Status"] == "Enabled" for r in rules)
    policy = template["Resources"]["ExportBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ExportBucket"}
    deny_tls = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(deny_tls) == 1
    assert {"Fn::Sub": "${ExportBucket.Arn}/*"} in deny_tls[0]["Resource"]
    assert {"Fn::GetAtt": ["ExportBucket", "Arn"]} in deny_tls[0]["Resource"]


def test_state_table_matches_the_state_module(template: dict[str, Any]) -> None:
    table_module = pytest.importorskip(
        "severa_sync.state.table",
        reason="severa_sync/state/table.py (the table's schema in code) is not written yet",
    )
    props = template["Resources"]["StateTable"]["Properties"]
    assert props["KeySchema"] == [dict(k) for k in table_module.KEY_SCHEMA]
    assert props["AttributeDefinitions"] == [dict(a) for a in table_module.ATTRIBUTE_DEFINITIONS]
    assert props["BillingMode"] == table_module.BILLING_MODE
    assert props["TimeToLiveSpecification"]["AttributeName"] == table_module.TTL_ATTRIBUTE


def test_config_parameter_is_a_per_stack_string_that_may_grow(template: dict[str, Any]) -> None:
    props = template["Resources"]["ConfigParameter"]["Properties"]
    assert props["Type"] == "String", "no secrets in it; SecureString cannot be created by CloudFormation"
    assert props["Tier"] == "Intelligent-Tiering", "a document over 4 KB needs the Advanced tier"
    assert props["Name"] == {"Fn::Sub": "/severa-sync/${AWS::StackName}/config-seed"}, (
        "the template owns only the seed: a deploy never rewrites the pushed /config"
    )
    assert template["Resources"]["ConfigParameter"]["UpdateReplacePolicy"] == "Retain", (
        "a stack whose ConfigParameter was /config keeps that document on upgrade"
    )
    names = [
        r["Properties"].get("Name")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter"
    ]
    assert {"Fn::Sub": "/severa-sync/${AWS::StackName}/config"} not in names, "no resource owns /config"


def test_outputs_name_what_the_cli_resolves_for_stack(template: dict[str, Any]) -> None:
    from severa_sync_tools.stack import OUTPUTS

    outputs = template["Outputs"]
    assert set(OUTPUTS.values()) <= set(outputs)
    assert outputs["ConfigParameterName"]["Value"] == {"Fn::Sub": "/severa-sync/${AWS::StackName}/config"}
    assert outputs["ConfigSeedParameterName"]["Value"] == {"Ref": "ConfigParameter"}
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    assert outputs["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}
