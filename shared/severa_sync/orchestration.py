"""Starting the retry state machine (``infra/statemachines/retry.asl.json``) from a handler.

When a run ends ``retry_later`` (Severa in maintenance) or ``partial`` (out of time with work left),
the handler starts one execution that waits and invokes the function again. The execution name is
derived from the run, so a Lambda retried by its invoker starts no second loop: Step Functions
answers ``ExecutionAlreadyExists`` for a name it has seen, and that is success here.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from severa_sync.awscalls import error_code, failure
from severa_sync.errors import CallInfo, ConfigError, SyncError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

PAYLOAD_KEYS = ("data_type", "tenant", "function_name", "attempt", "status", "run_id")
STATUSES = ("retry_later", "partial")
MAX_NAME_CHARS = 80  # Step Functions execution names: 1-80 of [A-Za-z0-9_-]
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class RetryStartFailed(SyncError):
    """The retry machine could not be started: the next scheduled run picks the work up."""

    code = "retry_start_failed"


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

    def start(self, payload: dict[str, Any], name: str) -> str | None:
        """The new execution's ARN, or None when an execution of that name already exists."""
        missing = [key for key in PAYLOAD_KEYS if key not in payload]
        if missing:
            raise ConfigError(f"retry payload lacks {', '.join(missing)}")
        if payload["status"] not in STATUSES:
            raise ConfigError(
                f"retry payload status {payload['status']!r} is not one of {', '.join(STATUSES)}"
            )
        safe_name = execution_name(name)
        params = {"state_machine_arn": self._arn, "name": safe_name}
        call = CallInfo(system="stepfunctions", operation="StartExecution", params=params)
        self.last_call = call
        try:
            resp = self._sfn.start_execution(
                stateMachineArn=self._arn, name=safe_name, input=json.dumps(payload)
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None  # this run's retry loop is already going
            self.last_call, error = failure(exc, call, RetryStartFailed, f"StartExecution of {self._arn}")
            raise error from None
        return resp["executionArn"]
