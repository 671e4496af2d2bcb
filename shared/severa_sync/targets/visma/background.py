"""Visma.net background API: wait for a queued write (reference visma-net-api.md section 6).

A write sent with ``erp-api-background: none`` is answered 202 with a job id. Its state is polled at
``GET /v1/background/{id}`` until ``Finished`` or ``Failed``; ``Finished`` is a success only with a
2xx ``statusCode`` (the real operation's status), and an error body is read from ``/content``. State
is kept 24 hours: afterwards the state is gone (404) and ``/content`` answers 410. The polling URL is
built from our base URL and the id, never from the ``stateLocation`` host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from severa_sync.errors import CallInfo
from severa_sync.targets.visma.wire import error_message

if TYPE_CHECKING:
    from severa_sync.targets.visma.client import VismaClient


@dataclass(frozen=True, slots=True)
class BackgroundOutcome:
    """What became of a background write. ``status`` None: not known (still running, expired, failed)."""

    job_id: str
    status: int | None
    location: str | None = None
    message: str = ""
    detail: dict[str, str] = field(default_factory=dict)
    call: CallInfo | None = None


def await_background(client: VismaClient, job_id: str) -> BackgroundOutcome:
    """Poll the job until it ends or the caller's time runs out."""
    poll = client.settings.background_poll_seconds
    while True:
        if not client.has_time_for(poll, calls=2):
            return BackgroundOutcome(
                job_id,
                None,
                message=f"background job {job_id} still running when the time ran out",
                call=client.last_call(),
            )
        client.sleep(poll)
        outcome = job_state(client, job_id)
        if outcome is None:
            continue  # "Started" (statusCode 0 while running)
        if outcome.status is None or 200 <= outcome.status < 300:
            return outcome
        return _with_error_body(client, outcome)


def job_state(client: VismaClient, job_id: str) -> BackgroundOutcome | None:
    """One look at the job (one GET): None while it runs, else how it ended. A job that ended with a
    non-2xx status comes back without its error body (``await_background`` reads it)."""
    state = client.get(_state_path(job_id))
    if state is None:
        return BackgroundOutcome(
            job_id,
            None,
            message=f"background job {job_id} state not found (expired)",
            call=client.last_call(),
        )
    status = str(state.get("status") or "")
    if status == "Failed":
        return BackgroundOutcome(
            job_id,
            None,
            call=client.last_call(),
            message=f"background job {job_id} failed: {state.get('errorMessage') or '?'}",
        )
    if status != "Finished":
        return None
    return BackgroundOutcome(
        job_id,
        _int(state.get("statusCode")),
        location=_header(state.get("responseHeaders"), "Location"),
        call=client.last_call(),
    )


def _with_error_body(client: VismaClient, ended: BackgroundOutcome) -> BackgroundOutcome:
    """The error the real operation answered, from ``/content`` (410 once the state is gone)."""
    job_id, code = ended.job_id, ended.status
    content_path = f"{_state_path(job_id)}/content"
    response, call = client.send("GET", content_path)
    if response.status_code in (404, 410):
        return BackgroundOutcome(
            job_id,
            None,
            call=call,
            message=f"background job {job_id} ended {code} but its result expired ({response.status_code})",
        )
    client.log_failure(
        "GET",
        content_path,
        None,
        response,
        None,
        call,
        reason=f"background job {job_id} ended with status {code}",
    )
    message, detail = error_message(response.text)
    return BackgroundOutcome(job_id, code, message=message, detail=detail, call=call)


def _state_path(job_id: str) -> str:
    return f"/v1/background/{quote(job_id, safe='')}"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _header(headers: Any, name: str) -> str | None:
    """A header from the state's ``responseHeaders`` (INFERRED shape: name -> value or list of values)."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value) if value else None
    return None
