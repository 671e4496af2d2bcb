"""Executions of the retry state machine in moto (in process, no Docker, no AWS).

moto runs the ASL for real but cannot run our Lambda without Docker: with ``use_docker`` off, each
``lambda:invoke`` pops the next answer queued in the simple Lambda backend (toolchain.md). So these
tests drive the control flow with queued run summaries; the handler is tested on its own.
The wait is substituted as 0 seconds; attempts use the template's real default (15).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.asl.eval.states import ExecutionData
from moto.stepfunctions.parser.backend import execution_worker

from tests.infra.cfn import RETRY_ASL, load_template

REGION = "eu-west-1"
TEMPLATE = load_template()
MAX_ATTEMPTS = TEMPLATE["Parameters"]["RetryMaxAttempts"]["Default"]
SECRET_CUSTOMER_TEXT = "Acme Secret Customer Oy"  # must never reach an alert


def _iso_start_time(**fields: Any) -> ExecutionData:
    # moto hands $$.Execution.StartTime over as a datetime; AWS gives an ISO 8601 string.
    start = fields["StartTime"]
    if isinstance(start, dt.datetime):
        fields["StartTime"] = (
            start.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
    return ExecutionData(**fields)


@dataclass
class Machine:
    sfn: Any
    dynamodb: Any
    arn: str
    topic_arn: str
    table: str

    def run(
        self, start: dict[str, Any], answers: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        queue = lambda_simple_backends[DEFAULT_ACCOUNT_ID][REGION].lambda_simple_results_queue
        queue.clear()
        queue.extend(json.dumps(a) for a in answers)
        execution = self.sfn.start_execution(stateMachineArn=self.arn, input=json.dumps(start))[
            "executionArn"
        ]
        try:
            for _ in range(600):  # a guard against a hung execution, not a timing assertion
                described = self.sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    break
                time.sleep(0.02)
            else:
                pytest.fail("execution did not finish")
        finally:
            if self.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
                self.sfn.stop_execution(executionArn=execution)
        assert not queue, f"{len(queue)} queued answers were never asked for"
        history = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return described, history

    def alerts(self) -> list[tuple[str, str]]:
        topic = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[self.topic_arn]
        return [(subject, message) for _id, message, subject, _attrs, _group in topic.sent_notifications]

    def halt_items(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.table)["Items"]
        return [{k: v["S"] for k, v in item.items()} for item in items if item["sk"]["S"].startswith("HALT#")]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    monkeypatch.setattr(execution_worker, "ExecutionData", _iso_start_time)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = TEMPLATE["Resources"]["StateTable"]["Properties"]  # the deployed table's schema
        dynamodb.create_table(
            TableName="state",
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
        )
        substitutions = {
            "RetryWaitSeconds": "0",
            "MaxAttempts": str(MAX_ATTEMPTS),
            "MaxContinuations": "3",
            "AlertTopicArn": topic_arn,
            "StateTableName": "state",
        }
        definition = RETRY_ASL.read_text(encoding="utf-8")
        for key, value in substitutions.items():
            definition = definition.replace(f"${{{key}}}", value)
        assert "${" not in definition
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="retry", definition=definition, roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/retry"
        )["stateMachineArn"]
        yield Machine(sfn, dynamodb, arn, topic_arn, "state")


def _start(status: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "data_type": "invoices",
        "tenant": "acme",
        "function_name": "stack-invoices",
        "attempt": attempt,
        "status": status,
        "run_id": "run-42",
    }


def _answer(status: str, attempt: int = 0, resume_in_seconds: int = 0) -> dict[str, Any]:
    return {
        "tenant": "acme",
        "data_type": "invoices",
        "run_id": "run-42",
        "status": status,
        "finished_utc": "2026-11-20T05:30:00Z",
        "finished_local": "2026-11-20T07:30:00+02:00",
        "attempt": attempt,
        "fetched": 3,
        "delivered": 0,
        "skipped": 0,
        "failed": 0,
        "error_code": "severa_unavailable" if status == "retry_later" else None,
        "resume_in_seconds": resume_in_seconds,
        "display_key": SECRET_CUSTOMER_TEXT,
    }


def _invocations(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scheduled = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])
        for e in history
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
    ]
    for parameters in scheduled:
        assert parameters["FunctionName"] == "stack-invoices"
    return [p["Payload"] for p in scheduled]


def _waits(history: list[dict[str, Any]]) -> int:
    return sum(e["type"] == "WaitStateEntered" for e in history)


def test_recovers_after_three_retry_later_answers(machine: Machine) -> None:
    answers = [_answer("retry_later")] * 3 + [_answer("succeeded")]
    described, history = machine.run(_start("retry_later"), answers)
    assert described["status"] == "SUCCEEDED"
    payloads = _invocations(history)
    assert [p["attempt"] for p in payloads] == [1, 2, 3, 4]
    assert all(
        p
        == {
            "data_type": "invoices",
            "tenant": "acme",
            "attempt": p["attempt"],
            "source": "retry",
            "run_id": "run-42",
        }
        for p in payloads
    )
    assert _waits(history) == 4, "every retry call comes after a wait"
    assert machine.alerts() == [] and machine.halt_items() == []


def test_exhausts_after_max_attempts_then_alerts_and_halts(machine: Machine) -> None:
    described, history = machine.run(_start("retry_later"), [_answer("retry_later")] * MAX_ATTEMPTS)
    assert described["status"] == "FAILED"
    assert described["error"] == "RetriesExhausted"
    assert [p["attempt"] for p in _invocations(history)] == list(range(1, MAX_ATTEMPTS + 1))

    ((subject, message),) = machine.alerts()
    # The same postcard as the engine's alerts (alerts/sns.py format_alert): subject and layout.
    assert subject == "[severa-sync] acme/invoices: halted"  # a 63-character tenant still fits 100
    lines = message.split("\n")
    assert lines[:5] == [
        "severa-sync alert: retries exhausted",
        "",
        "Tenant:        acme",
        "Data type:     invoices",
        f"What happened: Severa unavailable after {MAX_ATTEMPTS} attempts; halted. Nothing runs for this "
        "data type until an operator clears the halt.",
    ]
    assert dt.datetime.fromisoformat(lines[5].removeprefix("When (UTC):    ")).tzinfo is not None
    assert lines[6].startswith("When (local):  ") and lines[6].endswith("(the last attempt)")
    assert lines[7:11] == [
        "Run id:        run-42",
        "What to do:    see docs/operations.md#retries_exhausted (the runbook)",
        "",
        "CloudWatch Logs Insights query for the details:",
    ]
    assert 'filter run_id = "run-42"' in lines[11]
    assert "{" not in message and not message.lstrip().startswith("{"), "readable text, not JSON"
    assert SECRET_CUSTOMER_TEXT not in message, "alerts carry no customer data"

    (halt,) = machine.halt_items()
    assert halt["pk"] == "TENANT#acme" and halt["sk"] == "HALT#invoices"
    assert halt["code"] == "retries_exhausted" and halt["data_type"] == "invoices"
    assert "Severa unavailable" in halt["reason"]
    assert dt.datetime.fromisoformat(halt["since"]).tzinfo is not None


def test_the_engine_reads_the_halt_the_machine_writes(machine: Machine) -> None:
    store_module = pytest.importorskip(
        "severa_sync.state.dynamodb",
        reason="severa_sync/state/dynamodb.py (the engine's state store) is not written yet",
    )
    before = dt.datetime.now(dt.UTC)
    machine.run(_start("retry_later"), [_answer("retry_later")] * MAX_ATTEMPTS)
    (halt,) = store_module.DynamoStateStore(machine.dynamodb, machine.table).halts("acme")
    assert (halt.code, halt.data_type) == ("retries_exhausted", "invoices")
    assert before <= halt.since <= dt.datetime.now(dt.UTC), "since must parse as the time of the halt"
    assert "Severa unavailable" in halt.reason


def test_partial_run_continues_without_waiting(machine: Machine) -> None:
    described, history = machine.run(
        _start("partial"), [_answer("partial"), _answer("partial"), _answer("succeeded")]
    )
    assert described["status"] == "SUCCEEDED"
    assert len(_invocations(history)) == 3
    assert _waits(history) == 0
    assert machine.alerts() == [] and machine.halt_items() == []


def test_partial_continuations_are_capped(machine: Machine) -> None:
    # MaxContinuations is substituted as 3: the first call plus three continuations, then stop.
    described, history = machine.run(_start("partial"), [_answer("partial")] * 4)
    assert described["status"] == "FAILED"
    assert described["error"] == "TooManyContinuations"
    assert len(_invocations(history)) == 4


def test_maintenance_ending_in_a_partial_run_continues_at_once(machine: Machine) -> None:
    answers = [_answer("retry_later"), _answer("partial"), _answer("succeeded")]
    described, history = machine.run(_start("retry_later"), answers)
    assert described["status"] == "SUCCEEDED"
    assert len(_invocations(history)) == 3
    assert _waits(history) == 2, "waits before both retry_later calls, none after the partial one"


def test_a_paused_run_waits_for_the_quota_reset_then_continues(machine: Machine) -> None:
    start = {**_start("paused"), "resume_in_seconds": 0}  # the run's own answer said when
    answers = [_answer("paused", resume_in_seconds=0), _answer("succeeded")]
    described, history = machine.run(start, answers)
    assert described["status"] == "SUCCEEDED"
    assert len(_invocations(history)) == 2
    assert _waits(history) == 2, "one wait before the first call, one after the paused answer"
    assert machine.alerts() == [] and machine.halt_items() == []


def test_paused_runs_are_capped_with_the_continuations(machine: Machine) -> None:
    start = {**_start("paused"), "resume_in_seconds": 0}
    described, history = machine.run(start, [_answer("paused")] * 4)
    assert described["status"] == "FAILED" and described["error"] == "TooManyContinuations"
    assert len(_invocations(history)) == 4


def test_unknown_start_status_invokes_nothing(machine: Machine) -> None:
    described, history = machine.run(_start("succeeded"), [])
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidInput"
    assert _invocations(history) == []
