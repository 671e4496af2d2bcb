"""template.yaml, read as CloudFormation reads it: what no principal may do, and who may come in.

tests/infra checks each grant the functions need (and its resource); these tests close the set:
nothing beyond an allowlist, KMS only on the alert key, no way in but the schedules, no resource
policy that lets an outsider in, secrets only by ARN, every physical name per stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from severa_sync.registry import DATA_TYPES, DataType, TargetKind
from tests.infra.cfn import load_template, resources_of_type

STATE_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
EVERY_FUNCTION = STATE_ITEM_ACTIONS | {
    "secretsmanager:GetSecretValue",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "states:StartExecution",
    "ssm:GetParameter",  # its own tenant document and seed only (tests/infra/test_template_iam.py)
}
EXPORT_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
RETRY_MACHINE = {
    "lambda:InvokeFunction",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "dynamodb:PutItem",
}
ALERT_KEY = {"Fn::GetAtt": ["AlertKey", "Arn"]}
#: Resource types that would open a way in other than the schedules.
ENTRY_POINTS = (
    "AWS::Lambda::Permission",
    "AWS::Lambda::Url",
    "AWS::Serverless::Api",
    "AWS::Serverless::HttpApi",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::Lambda::EventSourceMapping",
)
#: Physical names that must carry the stack name, so two customers' stacks never share a resource.
NAME_PROPERTIES = ("FunctionName", "TableName", "BucketName", "TopicName", "LogGroupName", "LayerName",
                   "AlarmName", "DashboardName", "Name")  # fmt: skip


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in resource["Properties"].get("Policies", []) for s in policy["Statement"]]


def _principals(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        **resources_of_type(template, "AWS::Serverless::Function"),
        **resources_of_type(template, "AWS::Serverless::StateMachine"),
    }


def _allowed_actions(logical_id: str) -> set[str]:
    if logical_id == "RetryStateMachine":
        return RETRY_MACHINE
    dt = next(dt for dt in DATA_TYPES if dt.function_logical_id == logical_id)
    return EVERY_FUNCTION | (EXPORT_ACTIONS if dt.target is TargetKind.S3 else set())


def test_every_principal_is_known(template: dict[str, Any]) -> None:
    expected = {dt.function_logical_id for dt in DATA_TYPES} | {"RetryStateMachine"}
    assert set(_principals(template)) == expected, "a new principal needs its allowlist here"


@pytest.mark.parametrize("logical_id", [*(dt.function_logical_id for dt in DATA_TYPES), "RetryStateMachine"])
def test_no_action_beyond_the_allowlist(template: dict[str, Any], logical_id: str) -> None:
    granted = {a for s in _statements(template["Resources"][logical_id]) for a in _as_list(s["Action"])}
    assert granted <= _allowed_actions(logical_id), (
        f"{logical_id}: {sorted(granted - _allowed_actions(logical_id))}"
    )


def test_ssm_only_on_this_stacks_document_and_its_seed(template: dict[str, Any]) -> None:
    """Two parameters per stack (the operator's /config and the template's /config-seed), by exact
    ARN: no wildcard, no path another stack's name could match."""
    prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    expected = [
        {"Fn::Sub": f"{prefix}/severa-sync/${{AWS::StackName}}/config"},
        {"Fn::Sub": f"{prefix}${{ConfigParameter}}"},
    ]
    seed_name = template["Resources"]["ConfigParameter"]["Properties"]["Name"]["Fn::Sub"]
    assert seed_name == "/severa-sync/${AWS::StackName}/config-seed"
    for logical_id, resource in _principals(template).items():
        for statement in _statements(resource):
            if any(action.startswith("ssm:") for action in _as_list(statement["Action"])):
                assert _as_list(statement["Resource"]) == expected, logical_id
                assert not any("*" in r["Fn::Sub"] for r in expected)


def test_kms_only_on_the_alert_key(template: dict[str, Any]) -> None:
    for logical_id, resource in _principals(template).items():
        for statement in _statements(resource):
            if any(action.startswith("kms:") for action in _as_list(statement["Action"])):
                assert _as_list(statement["Resource"]) == [ALERT_KEY], logical_id


@pytest.mark.parametrize(
    "dt", [dt for dt in DATA_TYPES if dt.target is TargetKind.VISMA], ids=lambda d: d.name
)
def test_visma_functions_reach_no_bucket(template: dict[str, Any], dt: DataType) -> None:
    text = json.dumps(_statements(template["Resources"][dt.function_logical_id]))
    assert "ExportBucket" not in text and '"s3:' not in text


def test_the_schedules_are_the_only_way_in(template: dict[str, Any]) -> None:
    for type_name in ENTRY_POINTS:
        assert not resources_of_type(template, type_name), f"{type_name} opens a way in"
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        props = function["Properties"]
        assert "FunctionUrlConfig" not in props and "FunctionUrlConfig" not in template["Globals"]["Function"]
        kinds = {event["Type"] for event in props.get("Events", {}).values()}
        assert kinds == {"ScheduleV2"}, f"{logical_id} is triggered by {kinds}"


def _allow_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Allow"]


def test_resource_policies_let_no_outsider_in(template: dict[str, Any]) -> None:
    for policy in resources_of_type(template, "AWS::S3::BucketPolicy").values():
        assert not _allow_statements(policy["Properties"]["PolicyDocument"]), "bucket policies only deny"
    for logical_id, key in resources_of_type(template, "AWS::KMS::Key").items():
        principals = [s["Principal"] for s in _allow_statements(key["Properties"]["KeyPolicy"])]
        for principal in principals:
            assert principal in (
                {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                {"Service": "cloudwatch.amazonaws.com"},
            ), f"{logical_id} lets {principal} use the key"
    for type_name in (
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Lambda::LayerVersionPermission",
    ):
        assert not resources_of_type(template, type_name), f"{type_name} would widen access"
    assert '"Principal": "*"' not in json.dumps(
        [s for r in template["Resources"].values() for s in _allow_statements(_policy_document(r))]
    )


def _policy_document(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties", {})
    return props.get("PolicyDocument") or props.get("KeyPolicy") or {"Statement": []}


def test_secrets_enter_only_by_arn(template: dict[str, Any]) -> None:
    """A secret value passed as a parameter would show in the console and in the function's
    environment; the stack takes Secrets Manager ARNs and the functions read the values at run time."""
    parameters = template["Parameters"]
    secret_parameters = {name for name in parameters if "Secret" in name or "ApiKey" in name}
    assert secret_parameters == {"SeveraApiKeySecretArn", "VismaClientSecretArn"}
    for name in secret_parameters:
        assert parameters[name]["AllowedPattern"].startswith("^arn:aws[a-z-]*:secretsmanager:")
    assert not resources_of_type(template, "AWS::SecretsManager::Secret"), (
        "secret values never live in the stack"
    )
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for name in variables:  # SECRETS_BACKEND names a resolver, not a value
        assert not re.search(r"(SECRET|PASSWORD|TOKEN|API_KEY|CREDENTIALS?)$", name), name
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        assert "Environment" not in function["Properties"], "one environment, in Globals, checked here"
    config = template["Resources"]["ConfigParameter"]["Properties"]["Value"]["Fn::Sub"]
    assert '"api_key_secret": "${SeveraApiKeySecretArn}"' in config
    assert '"client_secret_secret": "${VismaClientSecretArn}"' in config


def test_every_physical_name_belongs_to_its_stack(template: dict[str, Any]) -> None:
    """One stack per customer environment: names derive from the stack name, or CloudFormation makes
    them up (table, bucket, topic, key). Saved Logs Insights queries are named per product (the
    console lists them by name) and each lists only its own stack's log groups."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Logs::QueryDefinition":
            groups = resource["Properties"]["LogGroupNames"]
            assert all(set(g) == {"Ref"} and g["Ref"].endswith("LogGroup") for g in groups), logical_id
            continue
        for prop in NAME_PROPERTIES:
            value = resource.get("Properties", {}).get(prop)
            if value is None:
                continue
            assert isinstance(value, dict) and "${AWS::StackName}" in value.get("Fn::Sub", ""), (
                f"{logical_id}.{prop} = {value!r} is not per stack"
            )
