"""Write the per-data-type parts of ``template.yaml`` from the data-type declarations.

``python -m severa_sync_tools.templategen`` (``make template``) rewrites, in place, every region of
``template.yaml`` between ``# generated: <region> ...`` and ``# end generated: <region>``: the
per-type parameters and conditions, each type's log group, function (permissions, schedule) and
alarms, the retry machine's invoke list, the saved queries' log groups and the function outputs.
Everything outside the regions is hand-written. ``tests/infra/test_template_registry.py`` fails when
the committed file and this generator disagree (``--check`` does the same from the command line).

Plain CloudFormation on purpose: no ``AWS::LanguageExtensions`` transform, so the deployed stack,
``samtranslator`` and cfn-lint see the same resources, and logical ids stay what they were
(``<Type>Function``, ``<Type>LogGroup``, ``<Type>ErrorsAlarm`` ...; ``DataType.function_logical_id``).
Per-type differences come from the declaration: the target (Visma.net: both secrets; S3: the
Severa secret and the type's own export prefix) and the default schedule.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from severa_sync import registry
from severa_sync.registry import TargetKind

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


#: Refuses sub-hourly schedules at deploy time (tests/infra/test_schedules.py).
_SCHEDULE_PATTERN = r"""'^(rate\((1 hour|[1-9][0-9]* hours|1 day|[1-9][0-9]* days)\)|cron\([0-5]?[0-9]( [^ ()"\\\x00-\x1F]+){5}\))$'"""


class DataType(Protocol):
    """What the generator reads of a declaration (``severa_sync.registry.DataType``)."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> TargetKind: ...
    @property
    def default_schedule(self) -> str: ...
    @property
    def function_logical_id(self) -> str: ...
    @property
    def schedule_parameter(self) -> str: ...
    @property
    def nothing_delivered_days(self) -> int: ...


_REGION = re.compile(
    r"^(?P<indent>[ ]*)# generated: (?P<name>[a-z-]+)\b[^\n]*\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)# end generated: (?P=name)\n",
    re.MULTILINE | re.DOTALL,
)


def _prefix(dt: DataType) -> str:
    """``HourEntries``: the stem of every logical id and parameter of the type."""
    return dt.function_logical_id.removesuffix("Function")


def _dashed(dt: DataType) -> str:
    """``hour-entries``: function, log group and alarm names."""
    return dt.name.replace("_", "-")


def _plain(value: str) -> str:
    """A YAML scalar for a schedule expression: plain when it is safe (``cron(...)``), quoted otherwise."""
    if re.fullmatch(r"[a-z]+\([^#:'\"\\\[\]{}]*\)", value):
        return value
    return json.dumps(value)


def _parameters(dt: DataType) -> str:
    p = _prefix(dt)
    return f"""\
{p}Schedule:
  Type: String
  Default: {_plain(dt.default_schedule)}
  Description: When the {dt.name} sync runs (EventBridge Scheduler expression, in TimeZone). Never more often than hourly.
  AllowedPattern: {_SCHEDULE_PATTERN}
  ConstraintDescription: rate(N hours|days) or cron() whose minute field is one number (at most hourly)
{p}NothingDeliveredDays:
  Type: Number
  Default: {dt.nothing_delivered_days}
  MinValue: 0
  MaxValue: 7
  Description: Alarm when no {dt.name} record was delivered for this many days (0 turns the alarm off; CloudWatch evaluates at most 7 days).
"""


def _conditions(dt: DataType) -> str:
    p = _prefix(dt)
    return f'{p}NothingDeliveredAlarmOn: !Not [!Equals [!Ref {p}NothingDeliveredDays, "0"]]\n'


def _target_statements(dt: DataType) -> tuple[str, str, str]:
    """(secrets the function reads, the line's comment, extra statements) by target."""
    if dt.target is TargetKind.VISMA:
        return "[!Ref SeveraApiKeySecretArn, !Ref VismaClientSecretArn]", "", ""
    if dt.target is TargetKind.SEVERA:
        # Reads Visma.net, writes Severa: both secrets, no S3 (its state is the table's).
        return (
            "[!Ref SeveraApiKeySecretArn, !Ref VismaClientSecretArn]",
            "  # reads Visma.net, writes Severa",
            "",
        )
    if dt.target is TargetKind.S3:
        prefix = f"exports/tenant=*/type={dt.name}/*"
        return (
            "[!Ref SeveraApiKeySecretArn]",
            "  # S3 exports never call Visma.net",
            f"""\
          - Sid: OwnExportPrefix
            Effect: Allow
            Action: [s3:GetObject, s3:PutObject]
            Resource: !Sub ${{ExportBucket.Arn}}/{prefix}
          - Sid: ListOwnExportPrefix  # without it a missing object reads as 403, not 404
            Effect: Allow
            Action: s3:ListBucket
            Resource: !GetAtt ExportBucket.Arn
            Condition:
              StringLike:
                s3:prefix: {prefix}
""",
        )
    raise ValueError(f"{dt.name}: no template resources for target {dt.target!r}")


_TARGET_TITLE = {TargetKind.VISMA: "Visma.net", TargetKind.S3: "S3", TargetKind.SEVERA: "Severa"}


def _direction(dt: DataType) -> str:
    """The function's description: where its records come from and go."""
    source = "Visma.net" if getattr(dt, "source", "severa") == "visma" else "Severa"
    return f"{source} {dt.name} -> {_TARGET_TITLE[dt.target]}"


def _resources(dt: DataType) -> str:
    p, n, d = _prefix(dt), dt.name, _dashed(dt)
    secrets, secrets_comment, extra_statements = _target_statements(dt)
    schedule_input = json.dumps({"data_type": n, "source": "schedule"})
    return f"""\
# --- {n} ({dt.target.value}) ---------------------------------------------------------------
{p}LogGroup:
  Type: AWS::Logs::LogGroup
  Properties:
    LogGroupName: !Sub /aws/lambda/${{AWS::StackName}}-{d}
    RetentionInDays: !Ref LogRetentionDays

{p}Function:
  Type: AWS::Serverless::Function
  DependsOn: {p}LogGroup  # the log group (with retention) exists before the first invocation
  Properties:
    FunctionName: !Sub ${{AWS::StackName}}-{d}
    Description: !Sub {_direction(dt)} (${{Tenant}}, ${{Stage}})
    CodeUri: functions/{n}/
    Policies:
      - Statement:
          - Sid: StateTable
            Effect: Allow
            Action:  # no Scan: every read is by key
              - dynamodb:GetItem
              - dynamodb:BatchGetItem
              - dynamodb:Query
              - dynamodb:PutItem
              - dynamodb:UpdateItem
              - dynamodb:DeleteItem
              - dynamodb:BatchWriteItem
              - dynamodb:ConditionCheckItem
            Resource: !GetAtt StateTable.Arn
          - Sid: OwnSecrets
            Effect: Allow
            Action: secretsmanager:GetSecretValue
            Resource: {secrets}{secrets_comment}
          - Sid: OwnConfiguration  # this stack's tenant document and its seed only (docs/configuration.md)
            Effect: Allow
            Action: ssm:GetParameter
            Resource:
              - !Sub arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/severa-sync/${{AWS::StackName}}/config
              - !Sub arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{ConfigParameter}}
          - Sid: Alerts
            Effect: Allow
            Action: sns:Publish
            Resource: !Ref AlertTopic
          - Sid: AlertsKey
            Effect: Allow
            Action: [kms:GenerateDataKey, kms:Decrypt]
            Resource: !GetAtt AlertKey.Arn
          - Sid: StartRetries
            Effect: Allow
            Action: states:StartExecution
            Resource: !Ref RetryStateMachine
{extra_statements}\
    Events:
      Schedule:
        Type: ScheduleV2
        Properties:
          ScheduleExpression: !Ref {dt.schedule_parameter}
          ScheduleExpressionTimezone: !Ref TimeZone
          State: !Ref SchedulesState
          Input: '{schedule_input}'
          RetryPolicy:
            MaximumRetryAttempts: 0  # the retry state machine does retries, with Severa's 10-minute wait

{p}ErrorsAlarm:
  Type: AWS::CloudWatch::Alarm
  Properties:
    AlarmName: !Sub ${{AWS::StackName}}-{d}-errors
    AlarmDescription: !Sub The {n} function raised instead of returning a run summary. Logs Insights query severa-sync/errors-with-previous-call.
    Namespace: AWS/Lambda
    MetricName: Errors
    Dimensions: [{{Name: FunctionName, Value: !Ref {p}Function}}]
    Statistic: Sum
    Period: 300
    EvaluationPeriods: 1
    Threshold: 1
    ComparisonOperator: GreaterThanOrEqualToThreshold
    TreatMissingData: notBreaching
    AlarmActions: [!Ref AlertTopic]

{p}RunsFailedAlarm:
  Type: AWS::CloudWatch::Alarm
  Properties:
    AlarmName: !Sub ${{AWS::StackName}}-{d}-runs-failed
    AlarmDescription: A {n} run stopped (status failed, e.g. Visma.net down or a bad credential) without an alert of its own. Logs Insights query severa-sync/errors-with-previous-call.
    Namespace: SeveraSync
    MetricName: RunsFailed
    Dimensions:
      - {{Name: service, Value: severa-sync}}
      - {{Name: data_type, Value: {n}}}
    Statistic: Sum
    Period: 3600
    EvaluationPeriods: 1
    Threshold: 1
    ComparisonOperator: GreaterThanOrEqualToThreshold
    TreatMissingData: notBreaching
    AlarmActions: [!Ref AlertTopic]

{p}ThrottlesAlarm:
  Type: AWS::CloudWatch::Alarm
  Properties:
    AlarmName: !Sub ${{AWS::StackName}}-{d}-throttles
    AlarmDescription: !Sub The {n} function was throttled (account concurrency); its run did not start.
    Namespace: AWS/Lambda
    MetricName: Throttles
    Dimensions: [{{Name: FunctionName, Value: !Ref {p}Function}}]
    Statistic: Sum
    Period: 300
    EvaluationPeriods: 1
    Threshold: 1
    ComparisonOperator: GreaterThanOrEqualToThreshold
    TreatMissingData: notBreaching
    AlarmActions: [!Ref AlertTopic]

{p}NothingDeliveredAlarm:
  Type: AWS::CloudWatch::Alarm
  Condition: {p}NothingDeliveredAlarmOn
  Properties:
    AlarmName: !Sub ${{AWS::StackName}}-{d}-nothing-delivered
    AlarmDescription: !Sub No {n} record delivered for ${{{p}NothingDeliveredDays}} days. Logs Insights query severa-sync/last-run-per-type.
    Namespace: SeveraSync
    MetricName: RecordsDelivered
    Dimensions:
      - {{Name: service, Value: severa-sync}}
      - {{Name: data_type, Value: {n}}}
    Statistic: Sum
    Period: 86400
    EvaluationPeriods: !Ref {p}NothingDeliveredDays
    DatapointsToAlarm: !Ref {p}NothingDeliveredDays
    Threshold: 1
    ComparisonOperator: LessThanThreshold
    TreatMissingData: breaching  # no runs at all is exactly what this alarm is for
    AlarmActions: [!Ref AlertTopic]
"""


def _invoke_arn(dt: DataType) -> str:
    return (
        "- !Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
        f"${{AWS::StackName}}-{_dashed(dt)}\n"
    )


def _log_group_ref(dt: DataType) -> str:
    return f"- !Ref {_prefix(dt)}LogGroup\n"


def _output(dt: DataType) -> str:
    return f"""\
{_prefix(dt)}FunctionName:
  Description: The {dt.name} sync function
  Value: !Ref {dt.function_logical_id}
"""


#: region name -> (text of one type, separator between types)
REGIONS: dict[str, tuple[Callable[[DataType], str], str]] = {
    "type-parameters": (_parameters, ""),
    "type-conditions": (_conditions, ""),
    "type-resources": (_resources, "\n"),
    "retry-invoke-functions": (_invoke_arn, ""),
    "type-log-groups": (_log_group_ref, ""),
    "type-outputs": (_output, ""),
}


#: (metric, statistic, title, x, y, width) of the per-type dashboard widgets.
_TYPE_WIDGETS = (
    ("RecordsFetched", "Sum", "Records fetched per type", 0, 0, 8),
    ("RecordsDelivered", "Sum", "Records delivered per type", 8, 0, 8),
    ("RecordsFailed", "Sum", "Records failed per type", 16, 0, 8),
    ("WatermarkLagSeconds", "Maximum", "Watermark lag (seconds behind now)", 0, 6, 12),
)


def _widget(x: int, y: int, width: int, title: str, stat: str | None, metrics: list[str]) -> list[str]:
    stat_key = f'"stat": "{stat}", ' if stat else ""
    head = (
        f'        {{"type": "metric", "x": {x}, "y": {y}, "width": {width}, "height": 6, "properties": '
        f'{{"title": "{title}", "region": "${{AWS::Region}}", {stat_key}"period": 3600, '
        '"view": "timeSeries", "stacked": false, "metrics": ['
    )
    rows = [f"                  {m}," for m in metrics[:-1]] + [f"                  {metrics[-1]}"]
    return [head, *rows, "                ]}}"]


def _dashboard(data_types: Sequence[DataType]) -> str:
    """The dashboard: one line per type in each metric widget, and each function's Lambda errors."""
    widgets = [
        _widget(
            x,
            y,
            width,
            title,
            stat if stat == "Sum" else None,
            [
                f'["SeveraSync", "{metric}", "service", "severa-sync", "data_type", "{dt.name}", '
                f'{{"stat": "{stat}", "label": "{dt.name}"}}]'
                for dt in data_types
            ],
        )
        for metric, stat, title, x, y, width in _TYPE_WIDGETS
    ]
    errors = [
        f'["AWS/Lambda", "Errors", "FunctionName", "${{AWS::StackName}}-{_dashed(dt)}", '
        f'{{"stat": "Sum", "label": "{dt.name} errors"}}]'
        for dt in data_types
    ]
    errors.append(
        '["AWS/States", "ExecutionsFailed", "StateMachineArn", "${RetryStateMachine}", '
        '{"stat": "Sum", "label": "retry machine failed"}]'
    )
    widgets.append(_widget(12, 6, 12, "Errors", None, errors))
    lines: list[str] = []
    for number, widget in enumerate(widgets):
        last = number == len(widgets) - 1
        lines += [*widget[:-1], widget[-1] + ("" if last else ",")]
    body = "\n".join(lines)
    return f"""Dashboard:
  Type: AWS::CloudWatch::Dashboard
  Properties:
    DashboardName: !Sub ${{AWS::StackName}}
    DashboardBody: !Sub |
      {{"widgets": [
{body}
      ]}}

"""


#: The seed document up to its ``types``; edit the seed here (``make template`` writes it).
_CONFIG_SEED_HEAD = """\
ConfigParameter:
  Type: AWS::SSM::Parameter
  UpdateReplacePolicy: Retain
  DeletionPolicy: Delete
  Properties:
    Name: !Sub /severa-sync/${AWS::StackName}/config-seed
    Description: !Sub severa-sync tenant configuration seed of ${Tenant} (${Stage}); secrets by ARN only
    Type: String
    Tier: Intelligent-Tiering  # Standard (free) up to 4 KB, Advanced beyond
    # TenantConfig (shared/severa_sync/config.py) as JSON. Secrets are referenced by ARN only.
    # No schedules: they are the <Type>Schedule parameters of the Scheduler resources below.
    Value: !Sub >-
      {"tenant": "${Tenant}", "stage": "${Stage}", "time_zone": "${TimeZone}",
      "severa": {"environment": "${SeveraEnvironment}", "api_key_secret": "${SeveraApiKeySecretArn}",
      "business_unit_guid": "${SeveraBusinessUnitGuid}"},
      "visma": {"client_id": "${VismaClientId}", "client_secret_secret": "${VismaClientSecretArn}",
      "company_tenant_id": "${VismaCompanyTenantId}"},
      "api_user": {"organisation": "${ApiUserOrganisation}", "name": "${ApiUserName}", "email": "${ApiUserEmail}"},
      "export_bucket": "${ExportBucket}", "export_prefix": "exports",
      "types": {
"""


def _config_seed(data_types: Sequence[DataType]) -> str:
    """The tenant document's seed (``/config-seed``): every type with the stack's backfill date."""
    lines = [f'      "{dt.name}": {{"backfill_from": "${{BackfillFrom}}"}}' for dt in data_types]
    return _CONFIG_SEED_HEAD + ",\n".join(lines) + "}}\n\n"


#: region name -> text of all types at once (resources that list every type inside one value).
WHOLE_REGIONS: dict[str, Callable[[Sequence[DataType]], str]] = {
    "dashboard": _dashboard,
    "config-seed": _config_seed,
}


def render_region(name: str, indent: str, data_types: Sequence[DataType]) -> str:
    if name in WHOLE_REGIONS:
        text = WHOLE_REGIONS[name](data_types)
    else:
        one, separator = REGIONS[name]
        text = separator.join(one(dt) for dt in data_types)
    return "".join(indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def render(text: str, data_types: Sequence[DataType] | None = None) -> str:
    """``text`` (a template) with every generated region written again from ``data_types``."""
    types = tuple(registry.DATA_TYPES if data_types is None else data_types)
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in REGIONS and name not in WHOLE_REGIONS:
            known = ", ".join([*REGIONS, *WHOLE_REGIONS])
            raise ValueError(f"template.yaml: unknown generated region {name!r}; known: {known}")
        seen.add(name)
        head = text[match.start() : match.start("body")]
        tail = text[match.end("body") : match.end()]
        return head + render_region(name, match["indent"], types) + tail

    out = _REGION.sub(replace, text)
    missing = (set(REGIONS) | set(WHOLE_REGIONS)) - seen
    if missing:
        raise ValueError(f"template.yaml: generated regions missing: {', '.join(sorted(missing))}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m severa_sync_tools.templategen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if template.yaml is not up to date")
    args = parser.parse_args(argv)
    current = TEMPLATE_PATH.read_text(encoding="utf-8")
    wanted = render(current)
    if current == wanted:
        print(f"{TEMPLATE_PATH.name} is up to date")
        return 0
    if args.check:
        print(f"{TEMPLATE_PATH.name} is out of date: run make template", file=sys.stderr)
        return 1
    TEMPLATE_PATH.write_text(wanted, encoding="utf-8")
    print(f"wrote {TEMPLATE_PATH.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
