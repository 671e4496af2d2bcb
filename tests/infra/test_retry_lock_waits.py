"""The retry machine never starts a second live attempt on one lock (issue 11 class 5), run by the
local interpreter of the same definition (``retry_loop``; moto's Waits really sleep)."""

from __future__ import annotations

from typing import Any

from severa_sync_tools.retry_loop import LAMBDA_INVOKE, RetryMachine, TaskFailed, load_definition
from tests.infra.cfn import RETRY_ASL

SUBSTITUTIONS = {
    "RetryWaitSeconds": "600",
    "MaxAttempts": "15",
    "MaxContinuations": "5",
    "AlertTopicArn": "arn:aws:sns:eu-west-1:000000000000:alerts",
    "StateTableName": "state",
}
START = {
    "data_type": "invoices",
    "tenant": "acme",
    "function_name": "stack-invoices",
    "attempt": 0,
    "status": "partial",
    "run_id": "invoices-run-1",
}


def answer(status: str, error_code: str | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "error_code": error_code,
        "finished_local": "2026-11-20T12:00:00+02:00",
        "resume_in_seconds": 0,
    }


def run(outcomes: list[Any]) -> tuple[Any, list[float], list[dict[str, Any]]]:
    sleeps: list[float] = []
    calls: list[dict[str, Any]] = []
    script = iter(outcomes)

    def invoke(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params["Payload"])
        outcome = next(script)
        if isinstance(outcome, Exception):
            raise outcome
        return {"StatusCode": 200, "Payload": outcome}

    machine = RetryMachine(
        load_definition(RETRY_ASL, SUBSTITUTIONS), tasks={LAMBDA_INVOKE: invoke}, sleep=sleeps.append
    )
    execution = machine.run(dict(START))
    assert next(script, None) is None, "every scripted outcome was used"
    return execution, sleeps, calls


def test_a_service_error_waits_out_the_lease_before_the_same_run_is_invoked_again() -> None:
    execution, sleeps, calls = run([TaskFailed("Lambda.ServiceException", "500"), answer("succeeded")])
    assert execution.status == "SUCCEEDED"
    assert sleeps == [1020]  # never a quick second call while the first may still hold the lock
    assert [c["run_id"] for c in calls] == ["invoices-run-1"] * 2


def test_a_lock_busy_answer_waits_out_the_lease_then_continues() -> None:
    execution, sleeps, _ = run([answer("skipped", "lock_busy"), answer("partial"), answer("succeeded")])
    assert execution.status == "SUCCEEDED" and sleeps == [1020]


def test_a_lock_still_busy_after_the_waits_leaves_the_work_to_its_holder() -> None:
    execution, sleeps, _ = run([answer("skipped", "lock_busy")] * 4)
    assert execution.status == "SUCCEEDED" and execution.visited[-1] == "Done"
    assert sleeps == [1020] * 3


def test_calls_that_never_answer_fail_the_execution_after_the_waits() -> None:
    execution, sleeps, _ = run([TaskFailed("Lambda.SdkClientException", "reset")] * 4)
    assert (execution.status, execution.error) == ("FAILED", "InvokeFailed")
    assert sleeps == [1020] * 3


def test_an_answer_resets_the_lock_waits() -> None:
    error = TaskFailed("Lambda.ServiceException", "500")
    execution, sleeps, _ = run(
        [error, answer("partial"), error, answer("partial"), error, error, answer("succeeded")]
    )
    assert execution.status == "SUCCEEDED" and sleeps == [1020] * 4
