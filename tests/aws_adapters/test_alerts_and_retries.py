"""SnsAlerts (postcards only), InMemoryAlerts and RetryStarter against moto."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from severa_sync.alerts.sns import AlertPublishFailed, InMemoryAlerts, SnsAlerts, format_alert
from severa_sync.engine.ports import Alert
from severa_sync.errors import ConfigError
from severa_sync.orchestration import RetryPayload, RetryStarter, RetryStartFailed, execution_name

from .conftest import REGION

HELSINKI = ZoneInfo("Europe/Helsinki")
QUERY = 'fields @timestamp, message | filter run_id = "run-42" | sort @timestamp asc'
AT = datetime(2026, 11, 21, 5, 30, 7, 250000, tzinfo=UTC)


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        kind="retries_exhausted",
        tenant="acme",
        data_type="invoices",
        summary="Severa unavailable after 15 attempts; invoices halted",
        run_id="run-42",
        at_utc=AT,
        at_local=AT.astimezone(HELSINKI),
        logs_query=QUERY,
    )
    return dataclasses.replace(alert, **changes)


# --- SNS ----------------------------------------------------------------------------------------
@pytest.fixture
def topic() -> tuple[Any, str]:
    sns = boto3.client("sns", region_name=REGION)
    return sns, sns.create_topic(Name="severa-sync-alerts")["TopicArn"]


def sent(arn: str) -> list[tuple[Any, ...]]:
    return sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[arn].sent_notifications


def test_the_alert_email_is_a_postcard(topic: tuple[Any, str]) -> None:
    sns, arn = topic
    alert = make_alert()
    SnsAlerts(sns, arn).publish(alert)
    [(_, message, subject, attributes, _)] = sent(arn)
    assert subject == "[severa-sync] acme/invoices: retries exhausted"
    assert message == format_alert(alert)[1]
    assert message.splitlines() == [
        "severa-sync alert: retries exhausted",
        "",
        "Tenant:        acme",
        "Data type:     invoices",
        "What happened: Severa unavailable after 15 attempts; invoices halted",
        "When (UTC):    2026-11-21T05:30:07+00:00",
        "When (local):  2026-11-21T07:30:07+02:00 (Europe/Helsinki)",
        "Run id:        run-42",
        "What to do:    see docs/operations.md#retries_exhausted (the runbook)",
        "",
        "CloudWatch Logs Insights query for the details:",
        QUERY,
    ]
    assert {name: value["Value"] for name, value in attributes.items()} == {
        "kind": "retries_exhausted",
        "tenant": "acme",
        "data_type": "invoices",
    }


def test_a_tenant_wide_alert_and_a_long_subject(topic: tuple[Any, str]) -> None:
    sns, arn = topic
    SnsAlerts(sns, arn).publish(make_alert(data_type=None, kind="schema_change" + "_x" * 60))
    [(_, message, subject, attributes, _)] = sent(arn)
    assert subject.startswith("[severa-sync] acme/all: schema change x x") and len(subject) <= 99
    assert "Data type:     all" in message and attributes["data_type"]["Value"] == "all"


def test_alert_carries_only_the_listed_fields() -> None:
    # Anything added to Alert must be reviewed against the postcard rule before it reaches email.
    assert [f.name for f in dataclasses.fields(Alert)] == [
        "kind",
        "tenant",
        "data_type",
        "summary",
        "run_id",
        "at_utc",
        "at_local",
        "logs_query",
    ]


def _flat(text: str) -> str:
    """A value as a one-line field shows it: control characters and line breaks become spaces."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())


@settings(max_examples=150, deadline=None)
@given(
    kind=st.text(min_size=1),
    tenant=st.text(min_size=1),
    data_type=st.none() | st.text(min_size=1),
    summary=st.text(),
    run_id=st.text(),
    query=st.text(max_size=500),
)
def test_format_alert_renders_nothing_but_the_fields(
    kind: str, tenant: str, data_type: str | None, summary: str, run_id: str, query: str
) -> None:
    alert = make_alert(
        kind=kind, tenant=tenant, data_type=data_type, summary=summary, run_id=run_id, logs_query=query
    )
    subject, body = format_alert(alert)
    assert len(subject) <= 99 and subject.isascii() and subject.isprintable()
    lines = body.split("\n")
    # A summary full of line breaks cannot add lines of its own: the layout is fixed.
    labels = [
        "severa-sync alert: ",
        "",
        "Tenant:",
        "Data type:",
        "What happened:",
        "When (UTC):",
        "When (local):",
        "Run id:",
        "What to do:    see docs/operations.md#",
        "",
        "CloudWatch Logs Insights query for the details:",
    ]
    sources = [
        kind.replace("_", " "),
        "",
        tenant,
        data_type or "all",
        summary,
        None,
        None,
        run_id,
        None,
        "",
        "",
    ]
    for line, label, source in zip(lines, labels, sources, strict=False):
        assert line.startswith(label)
        value = line.removeprefix(label).strip()
        if source is not None:
            assert _flat(source).startswith(value.removesuffix("…")), (label, value)
    assert lines[5] == "When (UTC):    2026-11-21T05:30:07+00:00"
    assert lines[6] == "When (local):  2026-11-21T07:30:07+02:00 (Europe/Helsinki)"
    rest = "\n".join(lines[len(labels) :])
    assert _flat(rest) == _flat(query)


def test_publish_failure_is_typed_with_the_call(topic: tuple[Any, str]) -> None:
    sns, arn = topic
    missing = arn + "-gone"
    with pytest.raises(AlertPublishFailed) as caught:
        SnsAlerts(sns, missing).publish(make_alert())
    call = caught.value.call
    assert call is not None and (call.system, call.operation) == ("sns", "Publish")
    assert call.params == {"topic_arn": missing} and call.status == 404


def test_in_memory_alerts_keep_what_was_published() -> None:
    alerts = InMemoryAlerts()
    alerts.publish(make_alert())
    alerts.publish(make_alert(kind="authentication", data_type=None))
    assert [a.kind for a in alerts.published] == ["retries_exhausted", "authentication"]
    assert alerts.messages[1][0] == "[severa-sync] acme/all: authentication"


# --- retry starter ------------------------------------------------------------------------------
PAYLOAD = {
    "data_type": "invoices",
    "tenant": "acme",
    "function_name": "stack-invoices",
    "attempt": 1,
    "status": "retry_later",
    "run_id": "run-42",
    "resume_in_seconds": 0,
}
RETRY = RetryPayload.parse(PAYLOAD)


@pytest.fixture
def machine() -> tuple[Any, str]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = sfn.create_state_machine(
        name="severa-sync-retry",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sfn",
    )["stateMachineArn"]
    return sfn, arn


def test_start_passes_the_payload(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    execution_arn = RetryStarter(sfn, arn).start(RETRY, "acme/invoices:run-42#1")
    assert execution_arn is not None
    described = sfn.describe_execution(executionArn=execution_arn)
    assert json.loads(described["input"]) == PAYLOAD
    assert described["name"] == "acme-invoices-run-42-1"


def test_a_second_start_of_the_same_name_starts_nothing(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    starter = RetryStarter(sfn, arn)
    first = starter.start(RETRY, "acme-invoices-run-42")
    # A retried Lambda asks again, with a later attempt: Step Functions refuses the name.
    assert starter.start(RETRY.model_copy(update={"attempt": 2}), "acme-invoices-run-42") is None
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == [first]


def test_payload_is_checked(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    with pytest.raises(ConfigError, match="function_name"):
        RetryPayload.parse({k: v for k, v in PAYLOAD.items() if k != "function_name"})
    with pytest.raises(ConfigError, match="succeeded"):
        RetryPayload.parse({**PAYLOAD, "status": "succeeded"})
    with pytest.raises(ConfigError, match="source: Extra inputs"):
        RetryPayload.parse({**PAYLOAD, "source": "retry"})
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_payload_after_an_answer_is_the_next_attempt_and_round_trips() -> None:
    answer = {**PAYLOAD, "attempt": 0, "fetched": 3, "error_code": "severa_unavailable"}
    paused = RetryPayload.after({**answer, "status": "paused", "resume_in_seconds": 1234})
    assert (paused.status, paused.resume_in_seconds) == ("paused", 1234)
    del answer["resume_in_seconds"]  # an answer of a run that does not wait may leave it out
    payload = RetryPayload.after(answer)
    assert payload.attempt == 1 and payload.name == "invoices-run-42"
    assert json.loads(payload.as_input()) == PAYLOAD
    assert RetryPayload.parse(payload.as_input()) == payload


def test_start_failure_is_typed_with_the_call(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    missing = arn.replace("severa-sync-retry", "nope")
    with pytest.raises(RetryStartFailed) as caught:
        RetryStarter(sfn, missing).start(RETRY, "run-1")
    call = caught.value.call
    assert call is not None and call.operation == "StartExecution" and call.status == 400
    assert call.params == {"state_machine_arn": missing, "name": "run-1"}


def test_execution_names_are_valid_and_stable() -> None:
    assert execution_name("acme/hour_entries run 7") == "acme-hour_entries-run-7"
    assert len(execution_name("x" * 200)) == 80
    assert execution_name("a:b") == execution_name("a:b")
    with pytest.raises(ConfigError):
        execution_name("///")
