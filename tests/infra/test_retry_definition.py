"""Structure of infra/statemachines/retry.asl.json, read as plain JSON (no AWS needed)."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from severa_sync.config import EngineSettings
from severa_sync.engine.lease import LEASE_MARGIN_SECONDS
from severa_sync.registry import DATA_TYPES
from tests.infra.cfn import RETRY_ASL

TEXT = RETRY_ASL.read_text(encoding="utf-8")
ASL = json.loads(TEXT)  # valid JSON as it stands: numbers come in through States.StringToJson
STATES: dict[str, dict[str, Any]] = ASL["States"]
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def _only(type_: str, resource: str | None = None) -> str:
    names = [
        n
        for n, s in STATES.items()
        if s["Type"] == type_ and (resource is None or s.get("Resource") == resource)
    ]
    assert len(names) == 1, f"expected one {type_} {resource or ''}: {names}"
    return names[0]


INVOKE = _only("Task", "arn:aws:states:::lambda:invoke")
#: The maintenance wait (the other Wait outlasts a lock lease).
WAIT = next(n for n, s in STATES.items() if s.get("SecondsPath", "").endswith(".wait_seconds"))


def _first_choice() -> str:
    name = ASL["StartAt"]
    while STATES[name]["Type"] == "Pass":
        name = STATES[name]["Next"]
    assert STATES[name]["Type"] == "Choice", "the machine must route on the input status first"
    return name


START_CHOICE = _first_choice()


def _next_states(name: str) -> Iterator[str]:
    state = STATES[name]
    if "Next" in state:
        yield state["Next"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    if "Default" in state:
        yield state["Default"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def _reaches(start: str, goal: str, *, avoiding: str | None = None) -> bool:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name in seen or name == avoiding:
            continue
        seen.add(name)
        todo.extend(_next_states(name))
    return False


def _choice_target(state_name: str, status: str, *, below_limit: bool | None = None) -> str:
    """Next state of a Choice for a status, the first matching rule (And rules: status + a limit)."""
    for choice in STATES[state_name]["Choices"]:
        rules = choice.get("And", [choice])
        if not any(r.get("StringEquals") == status for r in rules):
            continue
        has_limit = any("NumericLessThanPath" in r for r in rules)
        if below_limit is None or has_limit == below_limit:
            return choice["Next"]
    raise AssertionError(f"{state_name} has no branch for {status} (below_limit={below_limit})")


def test_every_placeholder_is_a_template_substitution(template: dict[str, Any]) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", TEXT))
    machine = template["Resources"]["RetryStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "infra/statemachines/retry.asl.json"
    assert machine.get("Type", "STANDARD") == "STANDARD"
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_wait_and_attempts_come_from_template_parameters(template: dict[str, Any]) -> None:
    subs = template["Resources"]["RetryStateMachine"]["Properties"]["DefinitionSubstitutions"]
    params = template["Parameters"]
    assert params[subs["RetryWaitSeconds"]["Ref"]]["Default"] == 600
    assert params[subs["MaxAttempts"]["Ref"]]["Default"] == 15
    settings = STATES[ASL["StartAt"]]
    assert settings["Type"] == "Pass"
    assert settings["Parameters"]["wait_seconds.$"] == "States.StringToJson('${RetryWaitSeconds}')"
    assert settings["Parameters"]["max_attempts.$"] == "States.StringToJson('${MaxAttempts}')"
    assert STATES[WAIT]["SecondsPath"] == f"{settings['ResultPath']}.wait_seconds"


def test_invoke_passes_the_retry_payload() -> None:
    params = STATES[INVOKE]["Parameters"]
    assert params["FunctionName.$"] == "$.function_name"
    payload = params["Payload"]
    assert {k.removesuffix(".$") for k in payload} == {"data_type", "tenant", "attempt", "source", "run_id"}
    assert payload["source"] == "retry"


def test_only_throttling_gets_a_short_native_retry() -> None:
    """A 429 means Lambda did not start the function: no attempt can still be running."""
    (retrier,) = STATES[INVOKE]["Retry"]
    assert retrier["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    assert 1 <= retrier["MaxAttempts"] <= 10 and retrier["IntervalSeconds"] <= 10
    # Function errors and Severa outages are not retried here: the function returns "retry_later".
    assert not {"States.ALL", "States.TaskFailed", "Lambda.Unknown"} & set(retrier["ErrorEquals"])


def _lease_wait() -> str:
    (name,) = [n for n, s in STATES.items() if s.get("SecondsPath", "").endswith(".lease_wait_seconds")]
    return name


def test_errors_that_may_leave_an_attempt_running_wait_out_its_lease(template: dict[str, Any]) -> None:
    """Issue 11 class 5: a service or client error after the call was sent may leave the first
    attempt running with the lock; a second attempt must not start before that one is over."""
    (catcher,) = STATES[INVOKE]["Catch"]
    assert set(catcher["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS - {"Lambda.TooManyRequestsException"}
    lease_wait = _lease_wait()
    assert _reaches(catcher["Next"], INVOKE) and not _reaches(catcher["Next"], INVOKE, avoiding=lease_wait)
    timeout = template["Globals"]["Function"]["Timeout"]
    settings = STATES[ASL["StartAt"]]["Parameters"]
    # Longer than the function can live and than its lease (engine/lease.py), and than the
    # configured lease default.
    assert settings["lease_wait_seconds"] > timeout + LEASE_MARGIN_SECONDS
    assert settings["lease_wait_seconds"] > EngineSettings().lock_lease_seconds
    assert 1 <= settings["max_lock_waits"] <= 5


def test_a_lock_busy_answer_waits_out_the_lease_then_invokes_again() -> None:
    route = STATES[INVOKE]["Next"]
    (busy,) = [
        c["Next"]
        for c in STATES[route]["Choices"]
        if {"StringEquals": "lock_busy", "Variable": "$.last_result.error_code"} in c.get("And", [])
    ]
    lease_wait = _lease_wait()
    assert _reaches(busy, INVOKE) and not _reaches(busy, INVOKE, avoiding=lease_wait)
    assert STATES[INVOKE]["ResultSelector"]["error_code.$"] == "$.Payload.error_code"


def test_first_retry_later_waits_before_invoking() -> None:
    branch = _choice_target(START_CHOICE, "retry_later")
    assert _reaches(branch, INVOKE) and not _reaches(branch, INVOKE, avoiding=WAIT)


def test_partial_input_invokes_without_waiting() -> None:
    branch = _choice_target(START_CHOICE, "partial")
    assert _reaches(branch, INVOKE, avoiding=WAIT)


def test_retry_later_result_below_the_limit_counts_and_waits() -> None:
    route = STATES[INVOKE]["Next"]
    branch = _choice_target(route, "retry_later", below_limit=True)
    (limit_rule,) = [r for r in STATES[route]["Choices"][0]["And"] if "NumericLessThanPath" in r]
    assert limit_rule["NumericLessThanPath"].endswith(".max_attempts")
    assert "States.MathAdd" in json.dumps(STATES[branch]["Parameters"])
    assert not _reaches(branch, INVOKE, avoiding=WAIT)


def test_retry_later_at_the_limit_alerts_then_halts_then_fails() -> None:
    route = STATES[INVOKE]["Next"]
    branch = _choice_target(route, "retry_later", below_limit=False)
    publish = _only("Task", "arn:aws:states:::sns:publish")
    halt = _only("Task", "arn:aws:states:::dynamodb:putItem")
    assert _reaches(branch, publish) and not _reaches(branch, INVOKE)
    assert STATES[publish]["Parameters"]["TopicArn"] == "${AlertTopicArn}"
    assert STATES[publish]["Next"] == halt
    assert {c["Next"] for c in STATES[publish].get("Catch", [])} <= {halt}, (
        "a failed alert must not skip the halt"
    )
    item = STATES[halt]["Parameters"]["Item"]
    assert STATES[halt]["Parameters"]["TableName"] == "${StateTableName}"
    assert item["pk"] == {"S.$": "States.Format('TENANT#{}', $.tenant)"}
    assert item["sk"] == {"S.$": "States.Format('HALT#{}', $.data_type)"}
    assert item["code"] == {"S": "retries_exhausted"}
    assert item["since"] == {"S.$": "$$.State.EnteredTime"}
    assert set(item) >= {"reason", "data_type"}
    assert STATES[STATES[halt]["Next"]]["Type"] == "Fail"


def test_partial_result_continues_without_waiting_up_to_a_cap() -> None:
    route = STATES[INVOKE]["Next"]
    branch = _choice_target(route, "partial", below_limit=True)
    assert _reaches(branch, INVOKE, avoiding=WAIT)
    capped = _choice_target(route, "partial", below_limit=False)
    assert STATES[capped]["Type"] == "Fail"


def test_any_other_result_succeeds() -> None:
    route = STATES[INVOKE]["Next"]
    assert STATES[STATES[route]["Default"]]["Type"] == "Succeed"


def test_alert_subject_fits_sns_limit() -> None:
    longest_type = max((dt.name for dt in DATA_TYPES), key=len)
    # SNS subjects: at most 100 characters. Tenants are at most 63 (TenantConfig pattern).
    subject_format = STATES[_only("Task", "arn:aws:states:::sns:publish")]["Parameters"]["Subject.$"]
    literal = re.match(r"States\.Format\('([^']*)'", subject_format)
    assert literal
    assert len(literal.group(1).replace("{}", "", 2)) + 63 + len(longest_type) <= 100


def test_halt_item_keys_match_the_state_table_layout() -> None:
    table = pytest.importorskip(
        "severa_sync.state.table",
        reason="severa_sync/state/table.py (the item layout in code) is not written yet",
    )
    item = STATES[_only("Task", "arn:aws:states:::dynamodb:putItem")]["Parameters"]["Item"]
    assert set(item) >= {table.PARTITION_KEY, table.SORT_KEY}
    assert item[table.PARTITION_KEY]["S.$"] == f"States.Format('{table.tenant_pk('{}')}', $.tenant)"
    assert item[table.SORT_KEY]["S.$"] == f"States.Format('{table.halt_sk('{}')}', $.data_type)"


def test_the_retry_payload_model_is_what_the_machine_reads() -> None:
    """``orchestration.RetryPayload`` (built by the runtime, parsed by the local loops) has exactly
    the input fields the definition reads: every ``$.<name>`` that no state writes itself."""
    from severa_sync.orchestration import RetryPayload

    def strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
        if isinstance(node, str):
            yield key, node
        elif isinstance(node, dict):
            for name, value in node.items():
                if name != "ResultSelector":  # paths there are into the task's result
                    yield from strings(value, name)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value, key)

    found = list(strings(STATES))
    written = {text.removeprefix("$.").split(".")[0] for key, text in found if key == "ResultPath"}
    read = {
        name
        for key, text in found
        if key != "ResultPath"
        for name in re.findall(r"(?<![$\w])\$\.([A-Za-z_]+)", text)
    } - written
    assert read == set(RetryPayload.model_fields)
    assert {"settings", "counters", "last_result", "alert"} <= written
    statuses = {c["StringEquals"] for c in STATES["RouteByStartStatus"]["Choices"]}
    assert statuses == set(typing.get_args(RetryPayload.model_fields["status"].annotation))
