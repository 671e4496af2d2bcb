"""``IBusinessUnit.GetBusinessUnitByGUID``: the units the simulated tenant's records belong to.

The simulator stores no business-unit table: a unit exists when a stored case, invoice or user
names it (``BusinessUnitGUID`` / ``BusinessUnitName``), which is how the seed builds them (one
"Head office"). An unknown or malformed GUID answers as Severa does: ``NotFoundException`` for a
well-formed GUID it lacks, ``GeneralFailureException`` for one that is not a GUID.
"""

from __future__ import annotations

from typing import Any

from severa_sync_tools.simulators.severa.operations import Context, _guid, _not_found, handler

UNIT_HOLDERS = ("Case", "Invoice", "User")


def known_units(ctx: Context) -> dict[str, str]:
    """GUID (canonical, as stored) -> name, of every unit a stored record names."""
    units: dict[str, str] = {}
    for entity in UNIT_HOLDERS:
        for entry in ctx.store.entries(entity):
            guid = entry.record.get("BusinessUnitGUID")
            if guid:
                units.setdefault(str(guid).lower(), str(entry.record.get("BusinessUnitName") or ""))
    return units


@handler("IBusinessUnit/GetBusinessUnitByGUID")
def get_business_unit_by_guid(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    guid = _guid(ctx, params, "businessUnitGuid")
    name = known_units(ctx).get(guid.lower())
    if name is None:
        raise _not_found(ctx, "BusinessUnit")
    return {"GUID": guid, "Name": name, "IsActive": True}
