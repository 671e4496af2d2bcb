"""template.yaml and the data-type registry agree: one function per type, wired the same way.

The per-type regions of the template are written by ``severa_sync_tools.templategen`` (``make
template``); the first tests here check that the committed file is what the generator writes, that
the generator follows the declarations, and that no resource, parameter, condition or output of a
type outside the registry is left in the template. The rest check what the template says per type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from severa_sync.registry import DATA_TYPES, DataType, TargetKind
from severa_sync_tools import templategen
from tests.infra.cfn import ROOT, TEMPLATE, parse_template, render_sub, resources_of_type

#: Logical ids of a type's resources: ``<Type><suffix>``. They never change (an update of a
#: deployed stack would replace the function, log group or alarm).
PER_TYPE_RESOURCES = (
    "LogGroup",
    "Function",
    "ErrorsAlarm",
    "RunsFailedAlarm",
    "ThrottlesAlarm",
    "NothingDeliveredAlarm",
)
#: Logical ids of everything shared by the types, pinned for the same reason.
SHARED_RESOURCES = {
    "SharedLayer",
    "ConfigParameter",
    "StateTable",
    "AlertKey",
    "AlertTopic",
    "AlertEmailSubscription",
    "ExportBucket",
    "ExportBucketPolicy",
    "RetryStateMachine",
    "RetryExecutionsFailedAlarm",
    "Dashboard",
    "LastRunPerTypeQuery",
    "ErrorsWithPreviousCallQuery",
    "InvoiceTrailQuery",
    "WatermarkChangesQuery",
    "OneRunQuery",
}
QUERIES = {lid for lid in SHARED_RESOURCES if lid.endswith("Query")}


def _stem(dt: Any) -> str:
    return str(dt.function_logical_id).removesuffix("Function")


def _per_type_names(template: dict[str, Any]) -> dict[str, set[str]]:
    """Per-type names in each section, found by their suffixes (shared names excluded)."""
    resources = set(template["Resources"]) - SHARED_RESOURCES
    return {
        "Resources": resources,
        "Parameters": {p for p in template["Parameters"] if p.endswith(("Schedule", "NothingDeliveredDays"))},
        "Conditions": {c for c in template["Conditions"] if c.endswith("NothingDeliveredAlarmOn")},
        "Outputs": {o for o in template["Outputs"] if o.endswith("FunctionName")},
    }


def _expected_names(types: Any) -> dict[str, set[str]]:
    return {
        "Resources": {f"{_stem(dt)}{suffix}" for dt in types for suffix in PER_TYPE_RESOURCES},
        "Parameters": {
            name for dt in types for name in (dt.schedule_parameter, f"{_stem(dt)}NothingDeliveredDays")
        },
        "Conditions": {f"{_stem(dt)}NothingDeliveredAlarmOn" for dt in types},
        "Outputs": {f"{_stem(dt)}FunctionName" for dt in types},
    }


def test_committed_template_is_the_generated_one() -> None:
    committed = TEMPLATE.read_text(encoding="utf-8")
    assert committed == templategen.render(committed), "template.yaml is out of date: run make template"


def test_every_type_has_its_resources_and_nothing_else_is_per_type(template: dict[str, Any]) -> None:
    assert _per_type_names(template) == _expected_names(DATA_TYPES)
    assert set(template["Resources"]) >= SHARED_RESOURCES


@dataclass(frozen=True)
class _Declared:
    """A declaration as the generator reads it (templategen.DataType), for types that do not exist."""

    name: str
    target: TargetKind
    default_schedule: str
    function_logical_id: str
    schedule_parameter: str
    nothing_delivered_days: int = 7


def test_the_generator_follows_the_declarations() -> None:
    """Drop a type and add two: the template gains and loses exactly their parts."""
    payments = _Declared(
        "receipts", TargetKind.VISMA, "rate(6 hours)", "ReceiptsFunction", "ReceiptsSchedule"
    )
    images = _Declared(
        "product_images",
        TargetKind.S3,
        "cron(5 1 ? * MON-FRI *)",
        "ProductImagesFunction",
        "ProductImagesSchedule",
        nothing_delivered_days=3,
    )
    types = [*DATA_TYPES[1:], payments, images]
    text = templategen.render(TEMPLATE.read_text(encoding="utf-8"), types)
    assert templategen.render(text, types) == text, "regenerating is stable"
    generated = parse_template(text)

    assert _per_type_names(generated) == _expected_names(types)
    params = generated["Parameters"]
    assert params["ReceiptsSchedule"]["Default"] == "rate(6 hours)"
    assert params["ProductImagesSchedule"]["Default"] == "cron(5 1 ? * MON-FRI *)"
    assert params["ReceiptsNothingDeliveredDays"]["Default"] == 7
    assert params["ProductImagesNothingDeliveredDays"]["Default"] == 3, "the declaration's default"
    resources = generated["Resources"]
    for dt in types:
        function = resources[dt.function_logical_id]
        assert function["DependsOn"] == f"{_stem(dt)}LogGroup"
        assert function["Properties"]["CodeUri"] == f"functions/{dt.name}/"
        (event,) = function["Properties"]["Events"].values()
        assert event["Properties"]["ScheduleExpression"] == {"Ref": dt.schedule_parameter}
        assert json.loads(event["Properties"]["Input"]) == {"data_type": dt.name, "source": "schedule"}
    statements = {
        s["Sid"]: s for s in resources["ProductImagesFunction"]["Properties"]["Policies"][0]["Statement"]
    }
    assert statements["OwnSecrets"]["Resource"] == [{"Ref": "SeveraApiKeySecretArn"}]
    assert statements["OwnExportPrefix"]["Resource"] == {
        "Fn::Sub": "${ExportBucket.Arn}/exports/tenant=*/type=product_images/*"
    }
    statements = {
        s["Sid"]: s for s in resources["ReceiptsFunction"]["Properties"]["Policies"][0]["Statement"]
    }
    assert len(statements["OwnSecrets"]["Resource"]) == 2 and "OwnExportPrefix" not in statements
    for query in QUERIES:
        assert resources[query]["Properties"]["LogGroupNames"] == [
            {"Ref": f"{_stem(dt)}LogGroup"} for dt in types
        ]
    invoke = resources["RetryStateMachine"]["Properties"]["Policies"][0]["Statement"][0]
    assert invoke["Sid"] == "InvokeSyncFunctions"
    assert [r["Fn::Sub"].rsplit("}-", 1)[1] for r in invoke["Resource"]] == [
        dt.name.replace("_", "-") for dt in types
    ]
    body = json.loads(
        render_sub(
            resources["Dashboard"]["Properties"]["DashboardBody"],
            {"AWS::Region": "eu-west-1", "AWS::StackName": "stack", "RetryStateMachine": "arn:sm"},
        )
    )
    seed = resources["ConfigParameter"]["Properties"]["Value"]["Fn::Sub"]
    document = json.loads(re.sub(r"\$\{[A-Za-z:.]+\}", "x", seed))
    assert list(document["types"]) == [dt.name for dt in types], "the seed lists exactly the types"
    for widget in body["widgets"]:
        labels = [m[-1]["label"] for m in widget["properties"]["metrics"]]
        if widget["properties"]["title"] == "Errors":
            assert labels == [f"{dt.name} errors" for dt in types] + ["retry machine failed"]
        else:
            assert labels == [dt.name for dt in types], widget["properties"]["title"]


def test_generator_refuses_a_template_without_its_regions() -> None:
    committed = TEMPLATE.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="regions missing: type-outputs"):
        templategen.render(committed.replace("# generated: type-outputs", "# type-outputs"))
    with pytest.raises(ValueError, match="unknown generated region 'types'"):
        templategen.render(committed + "  # generated: types\n  # end generated: types\n")


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
