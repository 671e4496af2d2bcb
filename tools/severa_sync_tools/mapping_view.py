"""``severa-sync state mappings TYPE [KEY]``: where each Severa record went.

One row per mapping item: the Severa number an operator knows the record by (invoice 10501), its
GUID, and the target's key (Visma.net invoice reference 100001, customer number, project id; for S3
the object key of the day or week file the record's line is in). KEY picks rows by any of them (for
S3 also by the bare partition, 2026-11-05 or 2026-W45).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from severa_sync import registry
from severa_sync.engine.ports import Mapping, StateStore
from severa_sync.targets import s3
from severa_sync.timeutil import format_watermark
from severa_sync_tools.console import print_table

EXIT_OK, EXIT_NOT_FOUND = 0, 1
_EVER = datetime(1970, 1, 1, tzinfo=UTC)
#: Mappings written before the Severa number was kept show this instead.
UNKNOWN = "-"


def severa_number(mapping: Mapping) -> str:
    return mapping.extra.get("display_key") or UNKNOWN


def target_key(mapping: Mapping, data_type: str, tenant: str, export_prefix: str) -> str:
    """Where the record is in the target. An S3 mapping keeps the partition (the target reads it
    back to find a moved line's old file); the object key comes from the target's own function."""
    if registry.get(data_type).target is registry.TargetKind.S3:
        return s3.object_key(export_prefix, tenant, data_type, mapping.target_key)
    return mapping.target_key


def find_mappings(
    store: StateStore, tenant: str, data_type: str, key: str | None, export_prefix: str = ""
) -> dict[str, Mapping]:
    """Severa GUID -> mapping, of every record of the type (or the ones KEY names)."""
    guids = store.mappings_delivered_since(tenant, data_type, _EVER)
    if key is not None and key in guids:
        guids = [key]
    mappings = store.get_mappings(tenant, data_type, guids)
    if key is None or list(mappings) == [key]:
        return mappings
    return {
        g: m
        for g, m in mappings.items()
        if key in (severa_number(m), m.target_key, target_key(m, data_type, tenant, export_prefix))
    }


def show_mappings(
    console: Console,
    store: StateStore,
    tenant: str,
    data_type: str,
    key: str | None,
    *,
    export_prefix: str = "",
    export_bucket: str = "",
    wide: bool = False,
    as_json: bool = False,
) -> int:
    """``export_prefix``/``export_bucket``: the tenant configuration's, which the S3 target wrote with.
    ``wide``/``as_json``: as ``console.print_table`` (``--wide``, ``--json``)."""
    dt = registry.get(data_type)
    noun = dt.noun.lower()
    if dt.target is registry.TargetKind.VISMA:
        target, column = "Visma.net", "Visma.net"
    else:
        target, column = f"S3 s3://{export_bucket}" if export_bucket else "S3", "S3 object key"
    mappings = find_mappings(store, tenant, data_type, key, export_prefix)
    if not mappings and not as_json:
        what = f"{noun} {key}" if key else f"{data_type} record"
        console.print(f"No {what} of tenant {tenant} has been delivered.")
        return EXIT_NOT_FOUND if key else EXIT_OK
    rows = [
        (
            severa_number(mapping),
            target_key(mapping, data_type, tenant, export_prefix),
            format_watermark(mapping.delivered_at),
            guid,
        )
        for guid, mapping in sorted(mappings.items(), key=lambda item: (severa_number(item[1]), item[0]))
    ]
    print_table(
        console,
        f"{data_type} of tenant {tenant}: Severa -> {target}",
        (f"Severa {noun}", column, "delivered", "Severa GUID"),
        rows,
        wide=wide,
        as_json=as_json,
    )
    return EXIT_NOT_FOUND if key and not mappings else EXIT_OK
