"""The admin endpoint: every control over HTTP, so a simulator in another process can be driven.

``POST /admin/<control>`` takes a JSON object mirroring the Python keyword arguments (datetimes as
ISO-8601 strings, ``set_clock``'s ``offset`` in seconds); ``GET /admin/records/<entity>``,
``GET /admin/records/<entity>/<key>``, ``GET /admin/invoice_log/<invoice GUID>``, ``GET /admin/calls``
and ``GET /admin/state`` read.
Answers are JSON; decimals travel as exact strings. The API key is never part of any answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from severa_sync_tools.simulators.severa import wire
from severa_sync_tools.simulators.severa.service import Reply

if TYPE_CHECKING:
    from severa_sync_tools.simulators.severa.simulator import SeveraSimulator

JSON_TYPE = "application/json"


class AdminError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, JSON_TYPE, json.dumps(wire.to_json(payload)).encode())


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return wire.parse_datetime(str(value))
    except ValueError:
        raise AdminError(400, f"{name} must be an ISO-8601 time, e.g. 2026-11-20T05:30:00Z") from None


def _controls(sim: SeveraSimulator) -> dict[str, Callable[[dict[str, Any]], Any]]:
    def upsert(a: dict[str, Any]) -> Any:
        return sim.upsert(a.pop("entity"), a.pop("record"), at=_time(a.pop("at", None), "at"), **a)

    def mass_update(a: dict[str, Any]) -> Any:
        at = _time(a.pop("at", None), "at")
        if at is None:
            raise AdminError(400, "mass_update needs 'at'")
        guids = sim.mass_update(a.pop("entity"), a.pop("n"), at=at, **a)
        return {"count": len(guids), "guids": guids}

    def set_clock(a: dict[str, Any]) -> Any:
        offset = a.pop("offset", 0) or 0
        if not isinstance(offset, int | float):
            raise AdminError(400, "offset is a number of seconds")
        sim.set_clock(
            frozen_at=_time(a.pop("frozen_at", None), "frozen_at"), offset=timedelta(seconds=offset), **a
        )
        return {"now": sim.now()}

    def call(method: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
        def run(a: dict[str, Any]) -> Any:
            method(**a)
            return {"ok": True}

        return run

    return {
        "upsert": upsert,
        "mass_update": mass_update,
        "set_clock": set_clock,
        "maintenance": call(sim.maintenance),
        "slow": call(sim.slow),
        "answer_late": call(sim.answer_late),
        "fail_next": call(sim.fail_next),
        "truncate_next": call(sim.truncate_next),
        "set_quota": call(sim.set_quota),
        "set_versions": call(sim.set_versions),
        "rename_invoice_status": lambda a: {"moved": sim.rename_invoice_status(a.pop("old"), a.pop("new"))},
        "delete": lambda a: {"deleted": sim.delete(a.pop("entity"), a.pop("guid"))},
        "remap_guids": lambda a: {"remapped": sim.remap_guids(a.pop("entity"), a.pop("guids", None))},
        "restore_guids": lambda a: {"restored": sim.restore_guids(a.pop("entity"))},
        "reset_calls": call(sim.reset_calls),
    }


def handle(sim: SeveraSimulator, method: str, path: str, body: bytes) -> Reply:
    parts = [unquote(part) for part in path.split("/") if part][1:]  # drop "admin"
    try:
        if method == "GET":
            return _json(200, _read(sim, parts))
        controls = _controls(sim)
        if len(parts) != 1 or parts[0] not in controls:
            raise AdminError(
                404, f"unknown control {'/'.join(parts)!r}; known: {', '.join(sorted(controls))}"
            )
        try:
            arguments = json.loads(body or b"{}")
        except ValueError:
            raise AdminError(400, "the body must be a JSON object") from None
        if not isinstance(arguments, dict):
            raise AdminError(400, "the body must be a JSON object")
        return _json(200, controls[parts[0]](arguments))
    except AdminError as exc:
        return _json(exc.status, {"error": str(exc)})
    except KeyError as exc:
        return _json(400, {"error": f"missing argument {exc}"})
    except (TypeError, ValueError) as exc:
        return _json(400, {"error": str(exc)})


def _read(sim: SeveraSimulator, parts: list[str]) -> Any:
    if parts == ["calls"]:
        return [call.as_json() for call in sim.calls]
    if parts == ["state"]:
        return sim.state()
    if len(parts) == 2 and parts[0] == "invoice_log":
        return sim.invoice_log(parts[1])
    if len(parts) == 2 and parts[0] == "records":
        return sim.records(parts[1])
    if len(parts) == 3 and parts[0] == "records":
        record = sim.get(parts[1], parts[2])
        if record is None:
            raise AdminError(404, f"no {parts[1]} {parts[2]!r}")
        return record
    raise AdminError(404, f"unknown admin resource {'/'.join(parts)!r}")
