"""``severa-sync state mappings TYPE [KEY]``: where each Severa record went.

One row per mapping item: the Severa number an operator knows the record by (invoice 10501), its
GUID, and the target's key (Visma.net invoice reference 100001, customer number, project id; the
S3 day or week partition). KEY picks rows by any of the three.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from severa_sync import registry
from severa_sync.engine.ports import Mapping, StateStore
from severa_sync.timeutil import format_watermark

EXIT_OK, EXIT_NOT_FOUND = 0, 1
_EVER = datetime(1970, 1, 1, tzinfo=UTC)
#: Mappings written before the Severa number was kept show this instead.
UNKNOWN = "-"


def severa_number(mapping: Mapping) -> str:
    return mapping.extra.get("display_key") or UNKNOWN


def find_mappings(store: StateStore, tenant: str, data_type: str, key: str | None) -> dict[str, Mapping]:
    """Severa GUID -> mapping, of every record of the type (or the ones KEY names)."""
    guids = store.mappings_delivered_since(tenant, data_type, _EVER)
    if key is not None and key in guids:
        guids = [key]
    mappings = store.get_mappings(tenant, data_type, guids)
    if key is None or list(mappings) == [key]:
        return mappings
    return {g: m for g, m in mappings.items() if key in (severa_number(m), m.target_key)}


def show_mappings(console: Console, store: StateStore, tenant: str, data_type: str, key: str | None) -> int:
    dt = registry.get(data_type)
    noun = dt.noun.lower()
    target = "Visma.net" if dt.target is registry.TargetKind.VISMA else "S3 partition"
    mappings = find_mappings(store, tenant, data_type, key)
    if not mappings:
        what = f"{noun} {key}" if key else f"{data_type} record"
        console.print(f"No {what} of tenant {tenant} has been delivered.")
        return EXIT_NOT_FOUND if key else EXIT_OK
    table = Table(title=f"{data_type} of tenant {tenant}: Severa -> {target}")
    for column in (f"Severa {noun}", target, "delivered", "Severa GUID"):
        table.add_column(column)
    for guid, mapping in sorted(mappings.items(), key=lambda item: (severa_number(item[1]), item[0])):
        table.add_row(
            severa_number(mapping), mapping.target_key, format_watermark(mapping.delivered_at), guid
        )
    console.print(table)
    return EXIT_OK
