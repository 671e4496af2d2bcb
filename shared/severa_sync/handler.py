"""The Lambda handler every data type shares: parse the event, run the engine, hand long waits to
Step Functions. ``functions/<type>/app.py`` is one line: ``handler = make_handler("<type>")``.

Events: EventBridge Scheduler sends ``{"data_type": ..., "source": "schedule"}``; the retry state
machine sends ``{"data_type", "tenant", "attempt", "source": "retry", "run_id"}``. The answer is the
run's summary, which the state machine reads (``status``: succeeded | partial | retry_later | failed
| halted | skipped). A run that meets Severa unavailable (or spends its time budget) when started by
the schedule starts the retry machine and returns; started by the machine, it just answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from severa_sync import registry
from severa_sync.engine.engine import RunStatus
from severa_sync.errors import ConfigError, SyncError
from severa_sync.logs import logger
from severa_sync.runtime import Runtime, get_runtime
from severa_sync.timeutil import iso_seconds, utcnow


class LambdaContext(Protocol):
    function_name: str
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


class HandlerEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Scheduler and Step Functions may add their own keys

    data_type: str | None = None
    source: Literal["schedule", "retry", "manual"] = "schedule"
    attempt: int = 0
    run_id: str | None = None


def make_handler(data_type: str) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    registry.get(data_type)  # an unknown type fails at import, not at 3 a.m.

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return handle(data_type, event, context, get_runtime)

    return handler


def handle(
    data_type: str, event: dict[str, Any], context: LambdaContext, runtime_factory: Callable[[], Runtime]
) -> dict[str, Any]:
    base: dict[str, Any] = {"data_type": data_type, "function_name": context.function_name}
    try:
        request = HandlerEvent.model_validate(event or {})
        if request.data_type not in (None, data_type):
            raise ConfigError(f"event for data type {request.data_type!r} reached the {data_type} function")
        runtime = runtime_factory()
        engine = runtime.engine  # builds the adapters: a missing secret is a configuration error here
    except (ValidationError, SyncError) as error:
        message = str(error) if isinstance(error, SyncError) else f"invalid event: {error.errors()[0]['msg']}"
        logger.error(
            f"{data_type} run not started: {message}",
            extra={"data_type": data_type, "error_code": "invalid_configuration"},
        )
        now = iso_seconds(utcnow())  # the tenant's zone is unknown without a valid configuration
        return {
            **base,
            "status": RunStatus.FAILED.value,
            "error_code": "invalid_configuration",
            "attempt": 0,
            "error_message": message,
            "finished_utc": now,
            "finished_local": now,
            "resume_in_seconds": 0,  # the retry machine reads it from every answer
        }

    def remaining() -> float:
        return context.get_remaining_time_in_millis() / 1000

    runtime.deadline.remaining = remaining  # adapters built once share this invocation's clock
    result = engine.run(
        data_type,
        attempt=request.attempt,
        run_id=request.run_id,
        remaining_seconds=remaining,
        # Names this invocation in its lock: a retry of the same run id is another invocation.
        invocation_id=context.aws_request_id,
    )
    answer = {**result.as_dict(), **base}
    if (
        result.status in (RunStatus.RETRY_LATER, RunStatus.PARTIAL, RunStatus.PAUSED)
        and request.source != "retry"
    ):
        try:
            runtime.start_retry(answer)
        except SyncError as error:
            # The run's progress is saved; without the retry machine the next schedule continues it.
            logger.error(
                f"{data_type} run {result.status.value}, but the retry machine could not be started: "
                f"{error.message}. The next scheduled run continues the work.",
                extra={
                    "tenant": result.tenant,
                    "data_type": data_type,
                    "run_id": result.run_id,
                    "action": "retry_start_failed",
                    **error.as_log(),
                },
            )
            answer["retry_start_error"] = error.code
    return answer
