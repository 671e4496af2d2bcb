"""Creations in flight: which Visma.net documents severa-sync itself is creating.

The mapping of a created document is saved only after the POST. A run that dies in between (or a
POST whose answer is lost) leaves a document in Visma.net that the next run's look-up finds with
no mapping; by then the Severa record may have changed (a renamed account, a renamed case), so the
adoption rule alone could take our own document for a foreign one. So just before a POST the
record's creation is written down (mapping-store namespace ``CREATING``, keyed by data type and
Severa GUID, ``target_key`` = the key the document is found by), and deleted once its mapping is
saved or the POST is refused. A document found under that key is ours, whatever it holds.

The same record tells the next attempt that a look-up is needed at all: a record with no mapping and
no creation begun was never sent by severa-sync, so only the census (``census.py``) can say whether
Visma.net holds its key. ``prefetch`` reads a batch's records in one state read.

Cost: two state writes per created document, none for updates or unchanged records.
"""

from __future__ import annotations

from severa_sync.engine.ports import Mapping, StateStore
from severa_sync.timeutil import utcnow

CREATING = "visma-creating"


class Creations:
    def __init__(self, state: StateStore, tenant: str):
        self._state = state
        self._tenant = tenant
        self._open: set[str] = set()  # written by this invocation and not deleted yet
        self._begun: dict[str, str | None] = {}  # prefetched: key -> found_by, None when not begun

    @staticmethod
    def _key(data_type: str, guid: str) -> str:
        return f"{data_type}/{guid}"

    def prefetch(self, data_type: str, guids: list[str]) -> None:
        """Read which of these records have a creation begun, in one batched state read."""
        keys = [self._key(data_type, guid) for guid in guids]
        found = self._state.get_mappings(self._tenant, CREATING, keys) if keys else {}
        for key in keys:
            self._begun[key] = found[key].target_key if key in found else None

    def begin(self, data_type: str, guid: str, found_by: str) -> None:
        key = self._key(data_type, guid)
        self._state.put_mapping(self._tenant, CREATING, key, Mapping(found_by, "", utcnow(), {}))
        self._open.add(key)
        self._begun[key] = found_by

    def _found_by(self, key: str) -> str | None:
        if key not in self._begun:
            begun = self._state.get_mapping(self._tenant, CREATING, key)
            self._begun[key] = begun.target_key if begun is not None else None
        return self._begun[key]

    def begun(self, data_type: str, guid: str) -> bool:
        """Did an attempt (this one or an earlier one) begin creating this record's document?"""
        return self._found_by(self._key(data_type, guid)) is not None

    def ours(self, data_type: str, guid: str, found_by: str) -> bool:
        """Did severa-sync start creating this record's document under ``found_by``?"""
        key = self._key(data_type, guid)
        if self._found_by(key) != found_by:
            return False
        self._open.add(key)  # begun by an invocation that died: ended here once the mapping is saved
        return True

    def settled_elsewhere(self, data_type: str, guid: str) -> None:
        """The document was found another way (a background job an earlier invocation queued):
        whatever that invocation wrote down is deleted with the mapping, without reading it."""
        self._open.add(self._key(data_type, guid))

    def end(self, data_type: str, guid: str) -> None:
        """After the mapping is saved (or the POST was refused): no-op unless begun here, so records
        that were updated or skipped cost nothing."""
        key = self._key(data_type, guid)
        if key in self._open:
            self._state.forget_mappings(self._tenant, CREATING, [key])
            self._open.discard(key)
        self._begun.pop(key, None)
