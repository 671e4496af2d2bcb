"""Least privilege: each function and the retry machine get only what they use."""

from __future__ import annotations

from typing import Any

import pytest

from severa_sync.registry import DATA_TYPES, DataType, TargetKind
from tests.infra.cfn import resources_of_type

SECRETS = [{"Ref": "SeveraApiKeySecretArn"}, {"Ref": "VismaClientSecretArn"}]
TABLE_ARN = {"Fn::GetAtt": ["StateTable", "Arn"]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    policies = resource["Properties"].get("Policies", [])
    for policy in policies:
        # Inline documents only: a named managed policy or SAM policy template hides what it grants.
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, f"not an inline policy: {policy}"
    return [s for policy in policies for s in policy["Statement"]]


def _grants(resource: dict[str, Any]) -> dict[str, list[Any]]:
    """action -> resources it is allowed on."""
    out: dict[str, list[Any]] = {}
    for statement in _statements(resource):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in _as_list(statement["Action"]):
            out.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return out


def _principals(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        **resources_of_type(template, "AWS::Serverless::Function"),
        **resources_of_type(template, "AWS::Serverless::StateMachine"),
    }


def test_no_wildcard_actions_or_resources(template: dict[str, Any]) -> None:
    assert not resources_of_type(template, "AWS::IAM::Role"), "roles come from SAM, policies are inline"
    for logical_id, resource in _principals(template).items():
        for action, targets in _grants(resource).items():
            assert "*" not in action, f"{logical_id}: wildcard action {action}"
            assert "*" not in targets, f"{logical_id}: {action} on every resource"
        assert "Role" not in resource["Properties"], f"{logical_id}: bring-your-own role escapes this check"


@pytest.mark.parametrize("dt", DATA_TYPES, ids=lambda dt: dt.name)
def test_function_grants(template: dict[str, Any], dt: DataType) -> None:
    grants = _grants(template["Resources"][dt.function_logical_id])
    dynamodb = {a: r for a, r in grants.items() if a.startswith("dynamodb:")}
    assert dynamodb and all(r == [TABLE_ARN] for r in dynamodb.values())
    assert "dynamodb:Scan" not in dynamodb and "dynamodb:DeleteTable" not in dynamodb
    # Least privilege: the S3 export functions never build the Visma.net client, so never read its secret.
    # The payments function reads Visma.net and writes Severa: both secrets.
    both = dt.target is TargetKind.VISMA or dt.visma_read is not None
    expected = SECRETS if both else [{"Ref": "SeveraApiKeySecretArn"}]
    assert grants.pop("secretsmanager:GetSecretValue") == expected
    assert grants.pop("sns:Publish") == [{"Ref": "AlertTopic"}]
    # Its own tenant document (the operator's) and the template's seed, by exact ARN (a parameter
    # named /... has ARN ...:parameter/...).
    assert grants.pop("ssm:GetParameter") == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
            ":parameter/severa-sync/${AWS::StackName}/config"
        },
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameter}"},
    ]
    assert not any(a.startswith("ssm:") for a in grants), "no other parameter is read"
    assert grants.pop("states:StartExecution") == [{"Ref": "RetryStateMachine"}]
    assert "cloudwatch:PutMetricData" not in grants, "metrics go out as EMF log lines"
    s3 = {a: r for a, r in grants.items() if a.startswith("s3:")}
    if dt.target in (TargetKind.VISMA, TargetKind.SEVERA):
        assert not s3, f"{dt.name} writes to {dt.target.value} and needs no S3"
        return
    own_prefix = {"Fn::Sub": f"${{ExportBucket.Arn}}/exports/tenant=*/type={dt.name}/*"}
    assert s3.pop("s3:GetObject") == [own_prefix]
    assert s3.pop("s3:PutObject") == [own_prefix]
    assert set(s3) <= {"s3:ListBucket"}
    for statement in _statements(template["Resources"][dt.function_logical_id]):
        if "s3:ListBucket" in _as_list(statement["Action"]):
            prefix = statement["Condition"]["StringLike"]["s3:prefix"]
            assert prefix == f"exports/tenant=*/type={dt.name}/*"


def test_no_function_reaches_another_types_export_prefix(template: dict[str, Any]) -> None:
    for dt in DATA_TYPES:
        text = repr(_statements(template["Resources"][dt.function_logical_id]))
        for other in DATA_TYPES:
            if other is not dt:
                assert f"type={other.name}/" not in text, f"{dt.name} can touch {other.name} exports"


def test_retry_machine_grants(template: dict[str, Any]) -> None:
    grants = _grants(template["Resources"]["RetryStateMachine"])
    invoke = grants.pop("lambda:InvokeFunction")
    expected = [
        {
            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
            f"${{AWS::StackName}}-{dt.name.replace('_', '-')}"
        }
        for dt in DATA_TYPES
    ]
    assert invoke == expected, "exactly this stack's sync functions, by name"
    assert grants.pop("sns:Publish") == [{"Ref": "AlertTopic"}]
    assert not any(a.startswith("ssm:") for a in grants), "the retry machine reads no configuration"
    assert grants.pop("dynamodb:PutItem") == [TABLE_ARN]
    assert set(grants) <= {"kms:GenerateDataKey", "kms:Decrypt"}
    assert all(r == [{"Fn::GetAtt": ["AlertKey", "Arn"]}] for r in grants.values())
