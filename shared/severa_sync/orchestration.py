"""Starting the retry state machine (``infra/statemachines/retry.asl.json``) from a handler.

When a run ends ``retry_later`` (Severa in maintenance), ``partial`` (out of time with work left) or
``paused`` (Visma.net's quota window spent), the handler starts one execution that waits (a paused
run: until the window resets) and invokes the function again. The execution name is
derived from the run, so a Lambda retried by its invoker starts no second loop: Step Functions
answers ``ExecutionAlreadyExists`` for a name it has seen, and that is success here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from severa_sync.awscalls import error_code, failure
from severa_sync.errors import CallInfo, ConfigError, SyncError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

STATUSES = ("retry_later", "partial", "paused")
MAX_NAME_CHARS = 80  # Step Functions execution names: 1-80 of [A-Za-z0-9_-]
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class RetryStartFailed(SyncError):
    """The retry machine could not be started: the next scheduled run picks the work up."""

    code = "retry_start_failed"


class RetryPayload(BaseModel):
    """The retry machine's input: the handler builds it, ``RetryStarter`` sends it, the state machine
    reads it by path (``$.data_type``, ``$.tenant``, ``$.function_name``, ``$.attempt``, ``$.status``,
    ``$.run_id``, ``$.resume_in_seconds``; ``tests/infra`` checks these fields against
    ``retry.asl.json``) and the local retry loops parse it back. Its JSON is exactly these seven keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_type: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    function_name: str = Field(min_length=1)
    #: The number the machine's first retry call carries (the run that started it carried one less).
    attempt: int = Field(ge=0)
    status: Literal["retry_later", "partial", "paused"]
    run_id: str = Field(min_length=1)
    #: A paused run continues after this wait (its quota window's reset); 0 for the others.
    resume_in_seconds: int = Field(0, ge=0)

    @classmethod
    def parse(cls, value: Mapping[str, Any] | str | bytes) -> RetryPayload:
        """From a dict or its JSON (an execution's input); a ``ConfigError`` naming the first bad field."""
        try:
            if isinstance(value, str | bytes):
                return cls.model_validate_json(value)
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(part) for part in err["loc"]) or "payload"
            if err["type"] == "missing":
                raise ConfigError(f"retry payload lacks {where}") from None
            if where == "status":
                raise ConfigError(
                    f"retry payload status {err.get('input')!r} is not one of {', '.join(STATUSES)}"
                ) from None
            raise ConfigError(f"retry payload {where}: {err['msg']}") from None

    @classmethod
    def after(cls, answer: Mapping[str, Any]) -> RetryPayload:
        """What a run's answer hands to the machine: the same run, its next attempt number."""
        fields = {key: answer.get(key) for key in cls.model_fields}
        fields["attempt"] = int(fields["attempt"] or 0) + 1
        fields["resume_in_seconds"] = int(fields["resume_in_seconds"] or 0)  # only a paused run waits
        return cls.parse(fields)

    @property
    def name(self) -> str:
        """The execution's name before ``execution_name`` makes it safe: one per run."""
        return f"{self.data_type}-{self.run_id}"[:MAX_NAME_CHARS]

    def as_input(self) -> str:
        return self.model_dump_json()


class RetryStarts(Protocol):
    """What the runtime needs to hand a run to the retry machine (``RetryStarter``, or a test's queue)."""

    def start(self, payload: RetryPayload, name: str) -> str | None: ...


def execution_name(name: str) -> str:
    """A valid execution name; the same input always gives the same name (that is the point)."""
    safe = _NAME_UNSAFE.sub("-", name).strip("-")[:MAX_NAME_CHARS]
    if not safe:
        raise ConfigError(f"execution name {name!r} has no usable characters")
    return safe


class RetryStarter:
    def __init__(self, sfn_client: SFNClient, state_machine_arn: str):
        self._sfn = sfn_client
        self._arn = state_machine_arn
        self.last_call: CallInfo | None = None

    def start(self, payload: RetryPayload, name: str) -> str | None:
        """The new execution's ARN, or None when an execution of that name already exists."""
        safe_name = execution_name(name)
        params = {"state_machine_arn": self._arn, "name": safe_name}
        call = CallInfo(system="stepfunctions", operation="StartExecution", params=params)
        self.last_call = call
        try:
            resp = self._sfn.start_execution(
                stateMachineArn=self._arn, name=safe_name, input=payload.as_input()
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None  # this run's retry loop is already going
            self.last_call, error = failure(exc, call, RetryStartFailed, f"StartExecution of {self._arn}")
            raise error from None
        return resp["executionArn"]
