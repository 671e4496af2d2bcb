"""Turning a failed boto3 call into a typed ``SyncError``, the same way for every AWS adapter.

One place decides what an operator sees for a failed AWS call: "<what> failed: <code>", where the
code is AWS's error code (or the botocore exception's class name when no answer came back), and
the ``CallInfo`` the adapter built with its safe params, plus the HTTP status when there is one.
Never the request parameters themselves, nor AWS's error message: either may echo request data.

Special cases (an expected code that means success or a lost condition) stay at the call sites,
checked with ``error_code`` before ``failure``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from severa_sync.errors import CallInfo, ConfigError, SyncError

AwsError = ClientError | BotoCoreError
E = TypeVar("E", bound=SyncError)


def error_code(exc: AwsError) -> str:
    """AWS's error code of a ``ClientError``; the class name of a ``BotoCoreError`` (no answer)."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "ClientError")
    return type(exc).__name__


def http_status(exc: AwsError) -> int | None:
    """The HTTP status AWS answered with; None when the call never got an answer."""
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


#: Failures no retry or wait can mend: the deployment or the laptop is not set up (issue 12 item 6).
_NOT_CONFIGURED = {
    "NoCredentialsError": "no AWS credentials were found (role, profile or environment)",
    "PartialCredentialsError": "the AWS credentials are incomplete",
    "NoRegionError": "no AWS region is configured (AWS_REGION)",
    "NoSuchBucket": "the bucket does not exist (check export_bucket)",
}


def configuration_problem(exc: AwsError) -> str | None:
    """Why ``exc`` means "not configured", or None when it may be a passing failure."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError | ClientError):
        return _NOT_CONFIGURED.get(error_code(exc))
    return None


def failure(exc: AwsError, call: CallInfo, error_cls: type[E], what: str) -> tuple[CallInfo, E | ConfigError]:
    """``call`` with the HTTP status added (to store as the adapter's ``last_call``) and the error to raise:
    a ``ConfigError`` (which alerts) when the failure means nothing is configured, else ``error_cls``.

    Callers raise it ``from None``: the error already holds all an operator should see.
    """
    status = http_status(exc)
    if status is not None:
        call = replace(call, status=status)
    message = f"{what} failed: {error_code(exc)}"
    problem = configuration_problem(exc)
    if problem is not None:
        return call, ConfigError(f"{message}: {problem}", call=call)
    return call, error_cls(message, call=call)
