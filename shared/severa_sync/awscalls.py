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

from botocore.exceptions import BotoCoreError, ClientError

from severa_sync.errors import CallInfo, SyncError

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


def failure(exc: AwsError, call: CallInfo, error_cls: type[E], what: str) -> tuple[CallInfo, E]:
    """``call`` with the HTTP status added (to store as the adapter's ``last_call``) and the error to raise.

    Callers raise it ``from None``: the error already holds all an operator should see.
    """
    status = http_status(exc)
    if status is not None:
        call = replace(call, status=status)
    return call, error_cls(f"{what} failed: {error_code(exc)}", call=call)
