"""The local retry loop interprets retry.asl.json as Step Functions does.

Differential: each scenario runs through moto's own ASL executor (which cannot call our Lambda, so
it pops queued answers) and through ``RetryMachine`` calling a scripted handler; invocations, waits,
outcome, alert and halt item must be the same. Then the corners the demo does not reach: Retry with
backoff, Catch, intrinsics, and what the interpreter refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.stepfunctions.parser.asl.eval.states import ExecutionData
from moto.stepfunctions.parser.backend import execution_worker

from severa_sync.engine.engine import RunResult, RunStatus
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table
from severa_sync_tools import localstack
from severa_sync_tools.retry_loop import (
    LAMBDA_INVOKE,
    RetryMachine,
    StateMachineError,
    TaskFailed,
    aws_tasks,
    load_definition,
    resolve,
)
from tests.infra.cfn import RETRY_ASL, load_template

REGION = "eu-west-1"


def _iso_start_time(**fields: Any) -> ExecutionData:
    # moto passes $$.Execution.StartTime as a datetime; Step Functions passes an ISO string.
    start = fields["StartTime"]
    if isinstance(start, dt.datetime):
        fields["StartTime"] = (
            start.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    return ExecutionData(**fields)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setattr(execution_worker, "ExecutionData", _iso_start_time)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        create_state_table(dynamodb, "state")
        substitutions = {
            "RetryWaitSeconds": "600",
            "MaxAttempts": "3",
            "MaxContinuations": "2",
            "AlertTopicArn": topic,
            "StateTableName": "state",
        }
        yield {"sns": sns, "sqs": sqs, "queue": queue, "dynamodb": dynamodb, "subs": substitutions}


def _start(status: str) -> dict[str, Any]:
    return {
        "data_type": "invoices",
        "tenant": "acme",
        "function_name": "stack-invoices",
        "attempt": 1,
        "status": status,
        "run_id": "run-7",
    }


def _answer(status: str) -> dict[str, Any]:
    """A run summary as the handler answers it (the engine's own RunResult, plus the handler's keys)."""
    result = RunResult(
        "acme",
        "invoices",
        "run-7",
        RunStatus(status),
        attempt=1,
        finished_utc="2026-11-20T10:00:00+00:00",
        finished_local="2026-11-20T12:00:00+02:00",
    )
    return {**result.as_dict(), "data_type": "invoices", "function_name": "stack-invoices"}


def _drain(aws: dict[str, Any]) -> list[tuple[str, list[str]]]:
    got = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    for message in got:
        aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=message["ReceiptHandle"])
    # The alert is readable text; its "When (UTC)" line differs between the two executions.
    return [
        (
            json.loads(m["Body"])["Subject"],
            [
                line
                for line in json.loads(m["Body"])["Message"].split("\n")
                if not line.startswith("When (UTC)")
            ],
        )
        for m in got
    ]


def _halts(aws: dict[str, Any]) -> list[tuple[str, str]]:
    items = aws["dynamodb"].scan(TableName="state")["Items"]
    found = [(i["sk"]["S"], i["code"]["S"]) for i in items if i["sk"]["S"].startswith("HALT")]
    for item in items:
        aws["dynamodb"].delete_item(TableName="state", Key={"pk": item["pk"], "sk": item["sk"]})
    return found


def _in_moto(aws: dict[str, Any], start: dict[str, Any], answers: list[str]) -> dict[str, Any]:
    definition = load_definition(RETRY_ASL, {**aws["subs"], "RetryWaitSeconds": "0"})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name=f"retry-{time.monotonic_ns()}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/retry",
    )["stateMachineArn"]
    queue = lambda_simple_backends[DEFAULT_ACCOUNT_ID][REGION].lambda_simple_results_queue
    queue.clear()
    queue.extend(json.dumps(_answer(status)) for status in answers)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(start))["executionArn"]
    for _ in range(1000):  # a guard against a hung execution, not a timing assertion
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.02)
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    payloads = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
        for e in history
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
    ]
    return {
        "status": described["status"],
        "error": described.get("error"),
        "payloads": payloads,
        "waits": sum(e["type"] == "WaitStateEntered" for e in history),
        "alerts": _drain(aws),
        "halts": _halts(aws),
    }


def _locally(aws: dict[str, Any], start: dict[str, Any], answers: list[str]) -> dict[str, Any]:
    script, payloads, sleeps = iter(answers), [], []

    def invoke(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert function_name == "stack-invoices"
        payloads.append(payload)
        return _answer(next(script))

    machine = RetryMachine(
        load_definition(RETRY_ASL, aws["subs"]),
        tasks=aws_tasks(invoke, aws["sns"], aws["dynamodb"]),
        sleep=sleeps.append,
    )
    outcome = machine.run(start)
    assert all(s == 600 for s in sleeps), "the wait comes from the substituted RetryWaitSeconds"
    return {
        "status": outcome.status,
        "error": outcome.error,
        "payloads": payloads,
        "waits": len(sleeps),
        "alerts": _drain(aws),
        "halts": _halts(aws),
    }


SCENARIOS = {
    "recovers": ("retry_later", ["retry_later", "succeeded"]),
    "exhausted": ("retry_later", ["retry_later"] * 3),
    "continues_partial": ("partial", ["partial", "succeeded"]),
    "too_many_continuations": ("partial", ["partial"] * 3),
    "partial_then_unavailable": ("partial", ["retry_later", "failed"]),
    "invalid_input": ("succeeded", []),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_local_loop_and_step_functions_agree(aws: dict[str, Any], scenario: str) -> None:
    status, answers = SCENARIOS[scenario]
    expected = _in_moto(aws, _start(status), answers)
    got = _locally(aws, _start(status), answers)
    assert got == expected
    assert len(expected["payloads"]) == len(answers), "every scripted answer was asked for"


def test_exhausted_retries_write_the_halt_the_engine_reads(aws: dict[str, Any]) -> None:
    machine = RetryMachine(
        load_definition(RETRY_ASL, aws["subs"]),
        sleep=lambda s: None,
        tasks=aws_tasks(lambda name, p: _answer("retry_later"), aws["sns"], aws["dynamodb"]),
    )
    outcome = machine.run(_start("retry_later"))
    assert (outcome.status, outcome.error) == ("FAILED", "RetriesExhausted")
    (halt,) = DynamoStateStore(aws["dynamodb"], "state").halts("acme")
    assert (halt.data_type, halt.code) == ("invoices", "retries_exhausted")
    assert "after 3 attempts" in halt.reason
    assert halt.since.year >= 2024, "$$.State.EnteredTime parses as the halt's since"


def test_template_defaults_are_the_local_stack_settings() -> None:
    template = load_template()
    params = template["Parameters"]
    machine = template["Resources"]["RetryStateMachine"]["Properties"]
    subs = machine["DefinitionSubstitutions"]
    assert params[subs["MaxAttempts"]["Ref"]]["Default"] == localstack.RETRY_MAX_ATTEMPTS
    assert params[subs["MaxContinuations"]["Ref"]]["Default"] == localstack.RETRY_MAX_CONTINUATIONS
    assert params[subs["RetryWaitSeconds"]["Ref"]]["Default"] == localstack.RETRY_WAIT_SECONDS_AWS
    assert set(subs) == {
        "RetryWaitSeconds",
        "MaxAttempts",
        "MaxContinuations",
        "AlertTopicArn",
        "StateTableName",
    }
    load_definition(RETRY_ASL, dict.fromkeys(subs, "1"))  # the local stack substitutes every name


def test_lambda_service_errors_wait_out_the_lease_then_succeed(aws: dict[str, Any]) -> None:
    failures, sleeps = (
        iter(
            [
                TaskFailed("Lambda.ServiceException", "boom"),
                TaskFailed("Lambda.TooManyRequestsException", "slow"),
            ]
        ),
        [],
    )

    def invoke(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return _answer("succeeded")

    machine = RetryMachine(
        load_definition(RETRY_ASL, aws["subs"]),
        sleep=sleeps.append,
        tasks=aws_tasks(invoke, aws["sns"], aws["dynamodb"]),
    )
    assert machine.run(_start("partial")).status == "SUCCEEDED"
    # A service error may leave the attempt running: its lease is waited out (issue 11 class 5);
    # a throttled call never started: retried after 2 seconds.
    assert sleeps == [1020, 2]


def test_a_function_that_raises_fails_the_execution_unretried(aws: dict[str, Any]) -> None:
    calls = []

    def invoke(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload)
        raise ValueError("handler bug")

    machine = RetryMachine(
        load_definition(RETRY_ASL, aws["subs"]),
        sleep=lambda s: None,
        tasks=aws_tasks(invoke, aws["sns"], aws["dynamodb"]),
    )
    outcome = machine.run(_start("partial"))
    assert (outcome.status, outcome.error, len(calls)) == ("FAILED", "ValueError", 1)


def test_a_failing_topic_is_caught_and_the_halt_still_written(aws: dict[str, Any]) -> None:
    class BrokenSns:
        def publish(self, **params: Any) -> None:
            raise RuntimeError("topic gone")

    sleeps: list[float] = []
    machine = RetryMachine(
        load_definition(RETRY_ASL, aws["subs"]),
        sleep=sleeps.append,
        tasks=aws_tasks(lambda n, p: _answer("retry_later"), BrokenSns(), aws["dynamodb"]),
    )
    outcome = machine.run(_start("retry_later"))
    assert outcome.error == "RetriesExhausted"
    assert outcome.visited[-3:] == ["PublishAlert", "WriteHalt", "Halted"]
    assert sleeps[-3:] == [5, 10, 20], "PublishAlert's Retry ran before its Catch"
    assert _halts(aws) == [("HALT#invoices", "retries_exhausted")]


def test_intrinsics_and_paths() -> None:
    data = {"a": {"n": 2}, "s": "x"}
    context = {"State": {"EnteredTime": "T"}}
    template = {
        "sum.$": "States.MathAdd($.a.n, 3)",
        "text.$": "States.Format('n={} s={} \\{literal\\} it\\'s', $.a.n, $.s)",
        "json.$": "States.JsonToString($.a)",
        "back.$": "States.StringToJson('{\"k\": [1, 2]}')",
        "when.$": "$$.State.EnteredTime",
        "nested": {"copy.$": "$.s", "fixed": 1},
    }
    assert resolve(template, data, context) == {
        "sum": 5,
        "text": "n=2 s=x {literal} it's",
        "json": '{"n":2}',
        "back": {"k": [1, 2]},
        "when": "T",
        "nested": {"copy": "x", "fixed": 1},
    }


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True}}}, "Map is not supported"),
        (
            {
                "StartAt": "T",
                "States": {
                    "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}
                },
            },
            "no local implementation",
        ),
        (
            {
                "StartAt": "P",
                "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.Hash($.a)"}, "End": True}},
            },
            "unsupported intrinsic States.Hash",
        ),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.a[0]"}, "End": True}}},
            "unsupported path",
        ),
    ],
)
def test_what_it_cannot_run_it_refuses(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(StateMachineError, match=message):
        RetryMachine(definition, tasks={LAMBDA_INVOKE: lambda p: {}}).run({"a": [1]})


def test_missing_substitution_is_named(tmp_path: Any) -> None:
    with pytest.raises(StateMachineError, match="MaxAttempts"):
        load_definition(RETRY_ASL, {"RetryWaitSeconds": "1"})
