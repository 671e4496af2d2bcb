"""``ports.Dependencies``: the target key of a record another one needs, synced on demand.

An invoice needs its customer and case in Visma.net, a case its customer. When the mapping store has
no key for one yet (its own run has not delivered it), it is read from the source by key and
delivered through its own type's target, then its new mapping is the answer.
"""

from __future__ import annotations

from collections.abc import Callable

from severa_sync import registry
from severa_sync.engine.ports import Source, StateStore, Target
from severa_sync.errors import MappingError
from severa_sync.registry import DataType


class OnDemandDependencies:
    """``source`` and ``target_for`` are looked up on each sync, not at construction: the
    composition root builds its adapters lazily, and the target asking is one of them."""

    def __init__(
        self,
        tenant: str,
        state: StateStore,
        source: Callable[[], Source],
        target_for: Callable[[DataType], Target],
    ):
        self._tenant = tenant
        self._state = state
        self._source = source
        self._target_for = target_for

    def key_of(self, data_type: str, severa_guid: str) -> str:
        dt = registry.get(data_type)
        known = self._state.get_mapping(self._tenant, data_type, severa_guid)
        if known is not None:
            return known.target_key
        record = self._source().read_by_key(dt, severa_guid)
        if record is None:
            raise MappingError(f"{dt.noun} {severa_guid} does not exist in Severa")
        delivery = self._target_for(dt).deliver(dt, [record])
        if delivery.failed:
            _, error = delivery.failed[0]
            raise MappingError(
                f"{dt.noun} {record.display_key} could not be created on demand: {error.message}",
                call=error.call,
            )
        made = self._state.get_mapping(self._tenant, data_type, severa_guid)
        if made is None:
            raise MappingError(f"{dt.noun} {record.display_key} was delivered but has no Visma.net key")
        return made.target_key
