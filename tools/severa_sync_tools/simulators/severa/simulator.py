"""``SeveraSimulator``: the Python face of the simulator (store, controls, HTTP server)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from severa_sync.secrets import Secret
from severa_sync_tools.simulators.severa import admin, bulk, wire
from severa_sync_tools.simulators.severa import seed as seed_data
from severa_sync_tools.simulators.severa.controls import Call, Controls
from severa_sync_tools.simulators.severa.dataset import STORED_ENTITIES, Store, copy_record
from severa_sync_tools.simulators.severa.server import SOAP_PATH, SimulatorHTTPServer
from severa_sync_tools.simulators.severa.service import Reply, SoapService


def bundled_wsdl() -> bytes:
    return resources.files("severa_sync.severa").joinpath("wsdl/API.wsdl").read_bytes()


class SeveraSimulator:
    """A local Visma Severa SOAP API on 127.0.0.1.

    ``now``: the seed's reference time; when given, the simulator clock is frozen there (move it with
    ``set_clock``). Default: the current UTC time floored to the day for the seed, and a clock that
    follows real time.
    """

    def __init__(
        self,
        api_key: str = "sim-api-key",
        seed: bool = True,
        now: datetime | None = None,
        quota_limit: int = 100_000,
        invoice_status_names: dict[str, str] | None = None,
    ):
        self._api_key = Secret(api_key)
        self._controls = Controls(now=now, quota_limit=quota_limit)
        self._store = Store()
        self._remapped: dict[str, dict[str, str]] = {}  # entity -> remapped GUID -> its own GUID
        self._stopping = threading.Event()
        self._service = SoapService(self._store, self._controls, self._api_key, self._stopping)
        self._wsdl = bundled_wsdl()
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if seed:
            reference = (
                wire.as_utc(now)
                if now is not None
                else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            )
            seed_data.seed(self._store, reference)
            # A tenant whose statuses are localized or renamed ("Valmis siirtoon", "Siirretty").
            for old_name, new_name in (invoice_status_names or {}).items():
                self._store.rename_invoice_status(old_name, new_name)

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"SeveraSimulator({where})"

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> SeveraSimulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = SimulatorHTTPServer(port, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="severa-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in slow()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SeveraSimulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SOAP_PATH}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}/WSDL"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin"

    # --- HTTP application (used by the server) ------------------------------------------------
    @property
    def wsdl(self) -> bytes:
        return self._wsdl

    def soap(self, action: str | None, content_type: str | None, body: bytes) -> Reply:
        return self._service.handle(action, content_type, body)

    def admin(self, method: str, path: str, body: bytes) -> Reply:
        return admin.handle(self, method, path, body)

    # --- data --------------------------------------------------------------------------------
    def records(self, entity: str) -> list[dict[str, Any]]:
        return [copy_record(record) for record in self._store.iter_records(entity)]

    def get(self, entity: str, guid: str) -> dict[str, Any] | None:
        try:
            entry = self._store.get(entity, guid)
        except ValueError:
            if entity not in STORED_ENTITIES:
                raise
            return None  # not a GUID: nothing can have it
        return copy_record(entry.record) if entry is not None else None

    def change_time(self, entity: str, guid: str) -> datetime | None:
        """The record's internal change time (what ``*ChangedSince`` compares)."""
        entry = self._store.get(entity, guid)
        return entry.changed if entry is not None else None

    def upsert(self, entity: str, record: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        entry = self._store.upsert(entity, record, at=at if at is not None else self.now())
        return copy_record(entry.record)

    def rename_invoice_status(self, old: str, new: str) -> int:
        """Rename an invoice status (Severa's admin UI); invoices in it follow. Returns their count."""
        return self._store.rename_invoice_status(old, new)

    def delete(self, entity: str, guid: str) -> bool:
        """Delete a record (Severa's ``Delete*``): gone from every read, reported by none."""
        return self._store.delete(entity, guid)

    def remap_guids(self, entity: str, guids: list[str] | None = None) -> dict[str, str]:
        """Severa's GUID incident: the records (default: all of ``entity``) are listed under other
        GUIDs, same content, change times untouched. Returns old -> new; ``restore_guids`` undoes it."""
        keys = guids if guids is not None else [r["GUID"] for r in self._store.iter_records(entity)]
        new_keys = {key: str(uuid.uuid5(uuid.NAMESPACE_URL, f"severa-incident:{key}")) for key in keys}
        self._store.rekey(entity, new_keys)
        self._remapped.setdefault(entity, {}).update({new: old for old, new in new_keys.items()})
        return new_keys

    def restore_guids(self, entity: str) -> int:
        """The incident ends: every remapped record of ``entity`` gets its own GUID back."""
        return self._store.rekey(entity, self._remapped.pop(entity, {}))

    def mass_update(self, entity: str, n: int, *, at: datetime) -> list[str]:
        return self._store.mass_update(
            entity, n, at=at, make_record=lambda serial, when: bulk.bulk_record(entity, serial, when)
        )

    # --- controls ----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._controls.now()

    def set_clock(self, frozen_at: datetime | None = None, offset: timedelta = timedelta(0)) -> None:
        self._controls.set_clock(frozen_at, offset)

    def maintenance(
        self, *, calls: int | None = None, seconds: float | None = None, fault: str | None = None
    ) -> None:
        self._controls.maintenance(calls=calls, seconds=seconds, fault=fault)

    def slow(self, seconds: float, *, calls: int = 1, operation: str | None = None) -> None:
        self._controls.slow(seconds, calls=calls, operation=operation)

    def answer_late(self, seconds: float, *, calls: int = 1, operation: str | None = None) -> None:
        """Commit, then answer ``seconds`` late (a timeout after Severa committed)."""
        self._controls.answer_late(seconds, calls=calls, operation=operation)

    def invoice_log(self, guid: str) -> list[dict[str, Any]]:
        """The invoice's log entries written with ``AddNewInvoiceLogEntry``, oldest first."""
        return self._store.invoice_log(guid)

    def fail_next(
        self, fault_type: str, *, description: str | None = None, operation: str | None = None, calls: int = 1
    ) -> None:
        self._controls.fail_next(fault_type, description=description, operation=operation, calls=calls)

    def truncate_next(self, *, calls: int = 1, operation: str | None = None) -> None:
        self._controls.truncate_next(calls=calls, operation=operation)

    def datetime_forms(self, mode: str, *, seed: int = 0) -> None:
        """How answers write DateTimes: a form of ``variants.FORMS`` ("utc", the default, "unspecified",
        "offset", ...) for all, or "per_answer" / "per_record" (drawn from ``seed``)."""
        self._controls.dates.set(mode, seed=seed)

    def html_next(self, *, calls: int = 1, operation: str | None = None, page: str = "login") -> None:
        """The next ``calls`` calls answer HTTP 200 with an HTML page ("login" or "wrong_url")."""
        self._controls.html.next(calls=calls, operation=operation, page=page)

    def on_call(self, operation: str, hook: Callable[[dict[str, Any]], None]) -> None:
        """Run ``hook(params)`` just before every call of ``operation`` is answered (in the server's
        thread): what happens in Severa between two calls of a client, e.g. a deletion between two
        pages of ``GetAllCustomers``. ``remove_hook`` or ``clear_faults`` removes it."""
        self._controls.on_call(operation, hook)

    def remove_hook(self, operation: str, hook: Callable[[dict[str, Any]], None]) -> None:
        self._controls.remove_hook(operation, hook)

    def clear_faults(self) -> None:
        self._controls.clear_faults()

    def set_quota(self, *, limit: int | None = None, used: int | None = None) -> None:
        self._controls.set_quota(limit=limit, used=used)

    def set_versions(self, *, api_version: str | None = None, schema_version: str | None = None) -> None:
        self._controls.set_versions(api_version=api_version, schema_version=schema_version)

    @property
    def calls(self) -> list[Call]:
        return self._controls.calls()

    def reset_calls(self) -> None:
        self._controls.reset_calls()

    def state(self) -> dict[str, Any]:
        return self._controls.state()
