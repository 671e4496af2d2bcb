"""template.yaml and the data-type registry agree: one function per type, wired the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from severa_sync.registry import DATA_TYPES, DataType
from tests.infra.cfn import ROOT, render_sub, resources_of_type


def _dashed(dt: DataType) -> str:
    return dt.name.replace("_", "-")


def _log_group_id(template: dict[str, Any], dt: DataType) -> str:
    expected = {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{_dashed(dt)}"}
    matches = [
        lid
        for lid, res in resources_of_type(template, "AWS::Logs::LogGroup").items()
        if res["Properties"]["LogGroupName"] == expected
    ]
    assert len(matches) == 1, f"{dt.name}: expected one log group named {expected}, found {matches}"
    return matches[0]


def test_exactly_one_function_per_registry_type(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {dt.function_logical_id for dt in DATA_TYPES}
    assert not resources_of_type(template, "AWS::Lambda::Function")


@pytest.mark.parametrize("dt", DATA_TYPES, ids=lambda dt: dt.name)
def test_function_code_name_and_layer(template: dict[str, Any], dt: DataType) -> None:
    props = template["Resources"][dt.function_logical_id]["Properties"]
    assert props["CodeUri"] == f"functions/{dt.name}/"
    handler_file = ROOT / "functions" / dt.name / "app.py"
    assert handler_file.is_file()
    assert f'"{dt.name}"' in handler_file.read_text(encoding="utf-8"), "handler is built for another type"
    assert props["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{_dashed(dt)}"}
    globals_ = template["Globals"]["Function"]
    assert props.get("Handler", globals_["Handler"]) == "app.handler"
    assert props.get("Layers", globals_["Layers"]) == [{"Ref": "SharedLayer"}]


@pytest.mark.parametrize("dt", DATA_TYPES, ids=lambda dt: dt.name)
def test_function_schedule(template: dict[str, Any], dt: DataType) -> None:
    events = template["Resources"][dt.function_logical_id]["Properties"]["Events"]
    assert len(events) == 1
    (event,) = events.values()
    assert event["Type"] == "ScheduleV2"
    props = event["Properties"]
    assert props["ScheduleExpression"] == {"Ref": dt.schedule_parameter}
    assert props["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}
    assert json.loads(props["Input"]) == {"data_type": dt.name, "source": "schedule"}
    assert props["RetryPolicy"]["MaximumRetryAttempts"] == 0
    parameter = template["Parameters"][dt.schedule_parameter]
    assert parameter["Default"] == dt.default_schedule


@pytest.mark.parametrize("dt", DATA_TYPES, ids=lambda dt: dt.name)
def test_function_log_group_has_retention_and_exists_first(template: dict[str, Any], dt: DataType) -> None:
    log_group_id = _log_group_id(template, dt)
    assert template["Resources"][log_group_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Resources"][dt.function_logical_id]["DependsOn"] == log_group_id


@pytest.mark.parametrize("dt", DATA_TYPES, ids=lambda dt: dt.name)
def test_function_alarms(template: dict[str, Any], dt: DataType) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    by_metric = {}
    for alarm in alarms:
        props = alarm["Properties"]
        dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        if dims in (
            {"FunctionName": {"Ref": dt.function_logical_id}},
            {"service": "severa-sync", "data_type": dt.name},
        ):
            assert props["AlarmActions"] == [{"Ref": "AlertTopic"}]
            by_metric[(props["Namespace"], props["MetricName"])] = props
    assert set(by_metric) == {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("SeveraSync", "RecordsDelivered"),
        ("SeveraSync", "RunsFailed"),
    }
    failed_runs = by_metric[("SeveraSync", "RunsFailed")]
    assert (
        failed_runs["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and failed_runs["Threshold"] == 1
    )
    nothing = by_metric[("SeveraSync", "RecordsDelivered")]
    assert nothing["TreatMissingData"] == "breaching"
    assert nothing["ComparisonOperator"] == "LessThanThreshold" and nothing["Threshold"] == 1
    days_parameter = nothing["EvaluationPeriods"]["Ref"]
    assert nothing["Period"] == 86400 and nothing["DatapointsToAlarm"] == {"Ref": days_parameter}
    # CloudWatch caps Period x EvaluationPeriods at 7 days.
    assert (
        0
        < template["Parameters"][days_parameter]["Default"]
        <= template["Parameters"][days_parameter]["MaxValue"]
        <= 7
    )


def test_invoices_nothing_delivered_defaults_to_seven_days(template: dict[str, Any]) -> None:
    assert template["Parameters"]["InvoicesNothingDeliveredDays"]["Default"] == 7


def test_retry_machine_failures_alarm(template: dict[str, Any]) -> None:
    alarms = [
        a["Properties"]
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ExecutionsFailed"
    ]
    assert len(alarms) == 1
    assert alarms[0]["Namespace"] == "AWS/States"
    assert alarms[0]["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "RetryStateMachine"}}]
    assert alarms[0]["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_saved_queries_cover_every_function_log_group(template: dict[str, Any]) -> None:
    queries = resources_of_type(template, "AWS::Logs::QueryDefinition")
    expected_groups = [{"Ref": _log_group_id(template, dt)} for dt in DATA_TYPES]
    names = set()
    for query in queries.values():
        props = query["Properties"]
        assert props["Name"].startswith("severa-sync/")
        assert props["LogGroupNames"] == expected_groups
        assert 0 < len(props["QueryString"]) <= 10_000
        names.add(props["Name"])
    assert {
        "severa-sync/last-run-per-type",
        "severa-sync/errors-with-previous-call",
        "severa-sync/invoice-trail",
        "severa-sync/watermark-changes",
    } <= names


def test_queries_use_the_engine_log_keys(template: dict[str, Any]) -> None:
    text = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in resources_of_type(template, "AWS::Logs::QueryDefinition").values()
    }
    assert "previous_call.operation" in text["severa-sync/errors-with-previous-call"]
    assert 'display_key = "' in text["severa-sync/invoice-trail"]
    for action in ("watermark_advanced", "watermark_kept_hand_edit", "watermark_rewound"):
        assert f'"{action}"' in text["severa-sync/watermark-changes"]


def test_dashboard_shows_every_type(template: dict[str, Any]) -> None:
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(
        render_sub(
            dashboard["Properties"]["DashboardBody"],
            {
                "AWS::Region": "eu-west-1",
                "AWS::StackName": "stack",
                "RetryStateMachine": "arn:aws:states:eu-west-1:111122223333:stateMachine:stack-retry",
            },
        )
    )
    shown = {
        (m[1], m[5]) for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "SeveraSync"
    }
    for dt in DATA_TYPES:
        for metric in ("RecordsFetched", "RecordsDelivered", "RecordsFailed", "WatermarkLagSeconds"):
            assert (metric, dt.name) in shown
    errors = {
        m[3] for w in body["widgets"] for m in w["properties"]["metrics"] if m[:2] == ["AWS/Lambda", "Errors"]
    }
    assert errors == {f"stack-{_dashed(dt)}" for dt in DATA_TYPES}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    values = [o["Value"] for o in outputs.values()]
    for ref in (
        "StateTable",
        "AlertTopic",
        "ExportBucket",
        "RetryStateMachine",
        *(dt.function_logical_id for dt in DATA_TYPES),
    ):
        assert {"Ref": ref} in values, ref
