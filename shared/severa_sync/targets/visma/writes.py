"""Creating documents exactly once although Visma.net has no idempotency key (section 1 row 26).

A POST that timed out, lost its connection or got a 5xx may still have been written. Before anything
is sent again the caller's look-up is asked (customer number, project id, invoice
``externalReference``). A re-send happens only when the server answered 500/503 and the look-up
finds nothing; after a timeout, a dropped connection or a gateway 502/504 the ERP may still be
writing, so the record becomes ``OutcomeUnknown``: parked, and looked up again on the next run.

A write queued on the background API may outlive the invocation that sent it: its job id is handed to
the caller (``on_accepted``) the moment it is queued, so the next attempt can ask the job before it
looks up or sends anything (``VismaTarget`` does that for invoices).

Every log field taken from an answer (reasons, server messages, job ids) is passed through
``redact``: an error body may echo the request, token included.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from aws_lambda_powertools import Logger

from severa_sync.errors import CallInfo, OutcomeUnknown, TargetRejected, TargetUnavailable, TimeBudgetSpent
from severa_sync.redaction import redact
from severa_sync.targets.visma.background import await_background
from severa_sync.targets.visma.exchange import Exchange
from severa_sync.targets.visma.wire import (
    BACKGROUND_HEADER,
    Unsettled,
    error_message,
    json_or_none,
    location_key,
)

logger = Logger(service="severa-sync", child=True)

Lookup = Callable[[], "str | None"]
#: Told the background job id of a queued write before it is awaited.
JobAccepted = Callable[[str], None]
#: 5xx answers after which a write that the look-up does not find did not happen.
ANSWERED_5XX = frozenset({500, 503})


def create_document(
    client: Exchange,
    path: str,
    raw: str,
    *,
    lookup: Lookup,
    background: bool,
    describe: str,
    on_accepted: JobAccepted | None = None,
) -> str:
    for attempt in (1, 2):
        try:
            return _post_once(client, path, raw, lookup, background, describe, on_accepted)
        except Unsettled as exc:
            key = _settle(lookup, exc, describe)
            if key is not None:
                return key
            if exc.resend_safe and attempt == 1:
                logger.warning(
                    f"{describe} not written by the failed POST (the look-up finds nothing): sending "
                    "it once more",
                    extra=redact({"reason": exc.reason, "previous_call": exc.call.as_log()}),
                )
                continue
            raise OutcomeUnknown(
                f"{exc.reason}; the look-up does not find the {describe} yet and it may still be "
                "written: parked, looked up again on the next run",
                call=exc.call,
                detail=exc.detail,
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _settle(lookup: Lookup, exc: Unsettled, describe: str) -> str | None:
    """The look-up after an ambiguous write; OutcomeUnknown when it cannot answer either (a look-up
    cut by the time budget included: the record is parked and looked up on the next run)."""
    try:
        key = lookup()
    except (TargetUnavailable, TargetRejected, TimeBudgetSpent) as failed:
        raise OutcomeUnknown(
            f"{exc.reason}; looking the {describe} up failed too ({failed.message})",
            call=exc.call,
            detail=exc.detail,
        ) from None
    if key is not None:
        logger.warning(
            f"{describe} was written although the call failed; found by the look-up",
            extra=redact({"target_key": key, "reason": exc.reason, "previous_call": exc.call.as_log()}),
        )
    return key


def _post_once(
    client: Exchange,
    path: str,
    raw: str,
    lookup: Lookup,
    background: bool,
    describe: str,
    on_accepted: JobAccepted | None,
) -> str:
    headers = {BACKGROUND_HEADER: "none"} if background else None
    response, call = client.send("POST", path, raw_body=raw, headers=headers)
    if response.status_code >= 500:
        client.log_failure("POST", path, None, response, raw, call)
        message, detail = error_message(response.text)
        raise Unsettled(
            f"POST {path} answered {response.status_code}: {message}",
            call,
            resend_safe=response.status_code in ANSWERED_5XX,
            detail=detail,
        )
    if response.status_code == 202 and background:
        return _finish_background(client, path, response, call, lookup, describe, on_accepted)
    if not response.ok:
        raise client.fail("POST", path, None, response, raw, call)
    return _created_key(response.headers.get("Location"), lookup, call, describe)


def _finish_background(
    client: Exchange,
    path: str,
    accepted: requests.Response,
    call: CallInfo,
    lookup: Lookup,
    describe: str,
    on_accepted: JobAccepted | None,
) -> str:
    job = json_or_none(accepted)
    if not isinstance(job, dict) or not job.get("id"):
        raise Unsettled(f"POST {path} accepted (202) without a background job id", call, resend_safe=False)
    job_id = str(job["id"])
    logger.info(f"{describe} queued on the Visma.net background API", extra=redact({"background_id": job_id}))
    if on_accepted is not None:
        on_accepted(job_id)  # before the wait, which may outlast this invocation
    outcome = await_background(client, job_id)
    detail = {"background_id": outcome.job_id, **outcome.detail}
    last = outcome.call or call
    if outcome.status is None:
        raise Unsettled(outcome.message, last, resend_safe=False, detail=detail)
    if 200 <= outcome.status < 300:
        return _created_key(outcome.location, lookup, last, describe)
    if outcome.status >= 500:
        raise Unsettled(
            f"background job {outcome.job_id} ended {outcome.status}: {outcome.message}",
            last,
            resend_safe=outcome.status in ANSWERED_5XX,
            detail=detail,
        )
    raise TargetRejected(
        f"Visma.net rejected the {describe} (background job {outcome.job_id}, {outcome.status}): "
        f"{outcome.message}",
        call=last,
        detail=detail,
    )


def _created_key(location: str | None, lookup: Lookup, call: CallInfo, describe: str) -> str:
    key = location_key(location) or lookup()
    if key is None:
        raise OutcomeUnknown(
            f"Visma.net created the {describe} but named no key (no Location) and the look-up "
            "does not find it yet",
            call=call,
        )
    return key
