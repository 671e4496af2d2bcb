"""Visma.net background API: wait for a queued write (as Visma's published documentation describes it).

A write sent with ``erp-api-background: none`` is answered 202 with a job id. Its state is polled at
``GET /v1/background/{id}`` until ``Finished`` or ``Failed``; ``Finished`` is a success only with a
2xx ``statusCode`` (the real operation's status), and an error body is read from ``/content``. State
is kept 24 hours: afterwards the state is gone (404) and ``/content`` answers 410. The polling URL is
built from our base URL and the id, never from the ``stateLocation`` host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from severa_sync.errors import CallInfo, OutcomeUnknown
from severa_sync.targets.visma.exchange import Exchange
from severa_sync.targets.visma.wire import Unsettled, error_message, json_or_none


@dataclass(frozen=True, slots=True)
class BackgroundOutcome:
    """What became of a background write. ``status`` None: not known (still running, expired, failed)."""

    job_id: str
    status: int | None
    location: str | None = None
    message: str = ""
    detail: dict[str, str] = field(default_factory=dict)
    call: CallInfo | None = None


def await_background(client: Exchange, job_id: str) -> BackgroundOutcome:
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


def job_state(client: Exchange, job_id: str) -> BackgroundOutcome | None:
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
    return _ended(state, job_id, client.last_call())


@dataclass(frozen=True, slots=True)
class JobLook:
    """A strict look at a job an earlier invocation queued: ``gone`` when Visma.net answers 404 (it
    does not know the job, or no longer: states are kept 24 hours), else ``outcome`` (None: running)."""

    gone: bool = False
    outcome: BackgroundOutcome | None = None


def look_at_job(client: Exchange, job_id: str) -> JobLook:
    """Unlike ``job_state`` only a real 404 counts as gone: an empty, non-JSON or odd answer says
    nothing about the job, so it is ``OutcomeUnknown`` (the invoice waits, parked), never "gone"."""
    try:
        response, call = client.send("GET", _state_path(job_id))
    except Unsettled as exc:  # no answer: nothing learnt about the job
        raise OutcomeUnknown(
            f"the state of background job {job_id} could not be read ({exc.reason})",
            call=exc.call,
            detail={"background_id": job_id},
        ) from None
    if response.status_code == 404:
        return JobLook(gone=True)
    state = json_or_none(response) if response.ok else None
    if not isinstance(state, dict):
        raise OutcomeUnknown(
            f"the state of background job {job_id} could not be read (HTTP {response.status_code}, "
            "not a state object)",
            call=call,
            detail={"background_id": job_id},
        )
    return JobLook(outcome=_ended(state, job_id, call))


def _ended(state: dict[str, Any], job_id: str, call: CallInfo | None) -> BackgroundOutcome | None:
    """How a job ended, from its state object; None while it runs."""
    if not isinstance(state, dict):
        raise TypeError(f"a background state of {type(state).__name__}")  # typed by the client
    status = str(state.get("status") or "")
    if status == "Failed":
        return BackgroundOutcome(
            job_id,
            None,
            call=call,
            message=f"background job {job_id} failed: {state.get('errorMessage') or '?'}",
        )
    if status != "Finished":
        return None
    return BackgroundOutcome(
        job_id,
        _int(state.get("statusCode")),
        location=_header(state.get("responseHeaders"), "Location"),
        call=call,
    )


def _with_error_body(client: Exchange, ended: BackgroundOutcome) -> BackgroundOutcome:
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
