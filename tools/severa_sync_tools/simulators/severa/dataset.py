"""The simulator's record store: Severa entities by key, each with an internal change time.

Records are plain dicts keyed by Severa member names and hold Python values (see ``wire``). A stored
dict is never mutated: writes replace it, so a reader can stream a snapshot without holding the lock.
Severa exposes the change time only where the entity has a member for it (Customer ``InsertTS`` /
``UpdatedTS``, Case ``InsertTs`` / ``UpdatedTs``); those members mirror the internal times here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from severa_sync.severa import schema
from severa_sync_tools.simulators.severa import wire

#: Entities the simulator stores (the others only appear nested inside these).
STORED_ENTITIES = (
    "Customer",
    #: A company's addresses: Address carries no change time member, but it has one here
    #: (``IAddress/GetAddressesChangedSince``, and ``CheckAddressChanges`` on the customer reads).
    "Address",
    "Case",
    "Product",
    "Invoice",
    "InvoiceStatus",
    "HourEntry",
    "Activity",
    "ActivityType",
    "User",
)
#: Invoice statuses have no GUID member: Severa identifies them by name.
KEY_MEMBER = {"InvoiceStatus": "Name"}
#: (insert member, update member) mirroring the internal times.
MIRRORS = {"Customer": ("InsertTS", "UpdatedTS"), "Case": ("InsertTs", "UpdatedTs")}

_MEMBERS = {name: {m.name: m for m in members} for name, members in schema.ENTITIES.items()}


def key_member(entity: str) -> str:
    return KEY_MEMBER.get(entity, "GUID")


def epoch_minute(value: datetime) -> int:
    """Whole minutes since the epoch, truncated (the minute the instant falls in)."""
    return int(value.timestamp() // 60)


def canonical_guid(text: str) -> str:
    """Lower-case 8-4-4-4-12 form; ValueError for anything that is not a GUID."""
    return str(uuid.UUID(text))


class Entry:
    """One stored record and its internal times. Immutable by convention: updates replace it."""

    __slots__ = ("changed", "changed_minute", "inserted", "inserted_minute", "record")

    def __init__(
        self,
        record: dict[str, Any],
        inserted: datetime,
        changed: datetime,
        inserted_minute: int | None = None,
        changed_minute: int | None = None,
    ):
        self.record = record
        self.inserted = inserted
        self.changed = changed
        self.inserted_minute = epoch_minute(inserted) if inserted_minute is None else inserted_minute
        self.changed_minute = epoch_minute(changed) if changed_minute is None else changed_minute


def _check_entity(entity: str) -> None:
    if entity not in STORED_ENTITIES:
        raise ValueError(f"unknown entity {entity!r}; the simulator stores {', '.join(STORED_ENTITIES)}")


def coerce_record(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate member names and convert values (JSON strings allowed for datetimes and decimals)."""
    if not isinstance(data, dict):
        raise ValueError(f"{entity} must be an object, got {type(data).__name__}")
    members = _MEMBERS[entity]
    out: dict[str, Any] = {}
    for name, value in data.items():
        member = members.get(name)
        if member is None:
            raise ValueError(f"{entity} has no member {name!r}")
        try:
            out[name] = _coerce_member(member, value)
        except ValueError as exc:
            raise ValueError(f"{entity}.{name}: {exc}") from None
    return out


def _coerce_member(member: schema.Member, value: Any) -> Any:
    if value is None:
        return None
    if member.is_array:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return [_coerce_one(member.base, item) for item in value]
    return _coerce_one(member.base, value)


def _coerce_one(base: str, value: Any) -> Any:
    if base in schema.ENTITIES:
        return coerce_record(base, value)
    return wire.coerce(base, value)


def copy_record(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a record (lists and nested entities), cheaper than ``copy.deepcopy``."""
    return {key: _copy_value(value) for key, value in record.items()}


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        return copy_record(value)
    if isinstance(value, list):
        return [_copy_value(item) for item in value]
    return value


class Store:
    """Thread-safe tables of ``Entry`` by entity and key, in insertion order (a stable order)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables: dict[str, dict[str, Entry]] = {name: {} for name in STORED_ENTITIES}
        self._bulk_serial: dict[str, int] = dict.fromkeys(STORED_ENTITIES, 0)
        #: Invoice GUID -> its log entries (``AddNewInvoiceLogEntry``), oldest first. Severa shows
        #: them in the invoice's log; the API has no read for them, the admin endpoint does.
        self._invoice_log: dict[str, list[dict[str, Any]]] = {}

    def add_invoice_log(self, guid: str, entry: dict[str, Any], *, ignore_duplicates: bool) -> bool:
        """Append ``entry``; with ``ignore_duplicates`` an entry with the same context, text and
        source as one already there is not added again. Returns whether it was added."""
        key = self._normal_key("Invoice", guid)
        with self._lock:
            entries = self._invoice_log.setdefault(key, [])
            same = ("context", "text", "source")
            if ignore_duplicates and any(all(e[k] == entry[k] for k in same) for e in entries):
                return False
            entries.append(dict(entry))
            return True

    def invoice_log(self, guid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._invoice_log.get(self._normal_key("Invoice", guid), [])]

    def entries(self, entity: str) -> list[Entry]:
        """A snapshot of the table (references only: safe to iterate while others write)."""
        _check_entity(entity)
        with self._lock:
            return list(self._tables[entity].values())

    def get(self, entity: str, key: str) -> Entry | None:
        _check_entity(entity)
        with self._lock:
            return self._tables[entity].get(self._normal_key(entity, key))

    def upsert(
        self, entity: str, record: dict[str, Any], *, at: datetime, inserted: datetime | None = None
    ) -> Entry:
        """Create (a GUID is generated when missing) or merge; the change time becomes ``at``."""
        _check_entity(entity)
        values = coerce_record(entity, record)
        at = wire.as_utc(at)
        key_name = key_member(entity)
        with self._lock:
            key = values.get(key_name)
            if key is None:
                if key_name != "GUID":
                    raise ValueError(f"{entity} needs its key member {key_name!r}")
                key = str(uuid.uuid4())
            key = self._normal_key(entity, key)
            values[key_name] = key
            table = self._tables[entity]
            old = table.get(key)
            first = old.inserted if old is not None else wire.as_utc(inserted or at)
            merged = {**old.record, **values} if old is not None else values
            entry = self._entry(entity, merged, first, at)
            table[key] = entry
            return entry

    def mass_update(
        self, entity: str, n: int, *, at: datetime, make_record: Callable[[int, datetime], dict[str, Any]]
    ) -> list[str]:
        """Touch existing records, then create new ones, until ``n`` records change at ``at``."""
        _check_entity(entity)
        if n < 0:
            raise ValueError("n must be >= 0")
        at = wire.as_utc(at)
        key_name = key_member(entity)
        with self._lock:
            table = self._tables[entity]
            minute = epoch_minute(at)
            chosen = [key for key, entry in table.items() if entry.changed == at][:n]
            for key, entry in table.items():
                if len(chosen) >= n:
                    break
                if entry.changed != at:
                    table[key] = self._entry(
                        entity, dict(entry.record), entry.inserted, at, entry.inserted_minute, minute
                    )
                    chosen.append(key)
            while len(chosen) < n:
                self._bulk_serial[entity] += 1
                record = make_record(self._bulk_serial[entity], at)
                key = record[key_name]
                if key in table:  # a hand-made record took this bulk key: skip the serial
                    continue
                table[key] = self._entry(entity, record, at, at, minute, minute)
                chosen.append(key)
            return chosen

    def rename_invoice_status(self, old: str, new: str) -> int:
        """Rename a status as a Severa admin does: invoices in it show the new name, their change
        times stay (a rename edits the status, not the invoices). Returns how many invoices moved."""
        with self._lock:
            statuses = self._tables["InvoiceStatus"]
            entry = statuses.get(old)
            if entry is None:
                raise ValueError(f"no invoice status {old!r}; known: {', '.join(statuses)}")
            if new in statuses:
                raise ValueError(f"invoice status {new!r} exists already")
            statuses[new] = Entry({**entry.record, "Name": new}, entry.inserted, entry.changed)
            del statuses[old]
            moved = 0
            invoices = self._tables["Invoice"]
            for key, invoice in invoices.items():
                if invoice.record.get("InvoiceStatus") == old:
                    record = {**invoice.record, "InvoiceStatus": new}
                    invoices[key] = Entry(
                        record,
                        invoice.inserted,
                        invoice.changed,
                        invoice.inserted_minute,
                        invoice.changed_minute,
                    )
                    moved += 1
            return moved

    def delete(self, entity: str, key: str) -> bool:
        """Remove a record as Severa's Delete* operations do: no trace is left for ``*ChangedSince``."""
        _check_entity(entity)
        with self._lock:
            return self._tables[entity].pop(self._normal_key(entity, key), None) is not None

    def rekey(self, entity: str, new_keys: dict[str, str]) -> int:
        """Give records other GUIDs and nothing else (change times stay): what Severa's API showed
        for a day in February 2020. Returns how many records moved."""
        _check_entity(entity)
        with self._lock:
            table = self._tables[entity]
            moved: dict[str, Entry] = {}
            for old, new in new_keys.items():
                entry = table.pop(self._normal_key(entity, old), None)
                if entry is not None:
                    key = self._normal_key(entity, new)
                    record = {**entry.record, key_member(entity): key}
                    moved[key] = Entry(
                        record, entry.inserted, entry.changed, entry.inserted_minute, entry.changed_minute
                    )
            table.update(moved)
            return len(moved)

    def iter_records(self, entity: str) -> Iterator[dict[str, Any]]:
        for entry in self.entries(entity):
            yield entry.record

    @staticmethod
    def _normal_key(entity: str, key: str) -> str:
        if key_member(entity) != "GUID":
            return key
        try:
            return canonical_guid(key)
        except (ValueError, AttributeError, TypeError):
            raise ValueError(f"{entity} GUID {key!r} is not a GUID") from None

    @staticmethod
    def _entry(
        entity: str,
        record: dict[str, Any],
        inserted: datetime,
        changed: datetime,
        inserted_minute: int | None = None,
        changed_minute: int | None = None,
    ) -> Entry:
        mirror = MIRRORS.get(entity)
        if mirror is not None:
            record[mirror[0]] = inserted
            record[mirror[1]] = changed
        return Entry(record, inserted, changed, inserted_minute, changed_minute)
