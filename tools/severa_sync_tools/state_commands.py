"""``severa-sync state ...``: the operator's view and edits of the sync state.

The same items an operator reads and edits by hand in the DynamoDB console (or, locally, in the
embedded store's JSON file): watermarks with the last run, halts, the retry set. Edits ask for
confirmation unless ``--yes`` and leave a log line (``watermark_rewound``, ``halt_cleared``).
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from rich.console import Console

from severa_sync import registry
from severa_sync.config import TenantConfig, load_file
from severa_sync.engine.ports import StateStore
from severa_sync.errors import ConfigError
from severa_sync.logs import logger
from severa_sync.targets.visma import census
from severa_sync.timeutil import format_watermark, iso_seconds, local, parse_watermark, utcnow
from severa_sync_tools.console import print_table, readable_logs
from severa_sync_tools.stack import DeployedStack, resolve_stack

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LATER = 0, 1, 2, 75
DEFAULT_STATE_FILE = ".severa-sync/state.json"
#: A configuration file named once for a shell session instead of --config on every command.
CONFIG_FILE_VARIABLE = "SEVERA_SYNC_CONFIG_FILE"


class CliError(ConfigError):
    """A usage or configuration problem reported as one line, exit 2."""


# --- options -----------------------------------------------------------------------------
def option(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def tenant_config(args: argparse.Namespace) -> TenantConfig:
    """The configuration the operator named; read once per command. No default tenant: a command
    that guessed one would read or edit another tenant's state (``demo`` builds its own)."""
    cached: TenantConfig | None = getattr(args, "_tenant_config", None)
    if cached is None:
        cached = _named_config(args)
        args._tenant_config = cached
    return cached


def _named_config(args: argparse.Namespace) -> TenantConfig:
    if option(args, "stack"):
        return deployed_stack(args).config()
    path = option(args, "config") or os.environ.get(CONFIG_FILE_VARIABLE)
    if not path:
        raise CliError(
            f"name the tenant: --config FILE (or {CONFIG_FILE_VARIABLE}) or --stack NAME "
            "(a deployed stack); only severa-sync demo has a built-in configuration"
        )
    return load_file(path)


def deployed_stack(args: argparse.Namespace) -> DeployedStack:
    """The stack named by --stack, its outputs read once per command."""
    cached: DeployedStack | None = getattr(args, "_deployed_stack", None)
    if cached is None:
        cached = resolve_stack(args.stack, option(args, "region"))
        args._deployed_stack = cached
    return cached


def uses_aws_state(args: argparse.Namespace) -> bool:
    return bool(option(args, "stack")) or (option(args, "state") or "local") == "aws"


def tenant_of(args: argparse.Namespace) -> str:
    return option(args, "tenant") or tenant_config(args).tenant


def state_file(args: argparse.Namespace) -> str:
    return option(args, "state_file") or os.environ.get("STATE_FILE") or DEFAULT_STATE_FILE


def table_name(args: argparse.Namespace) -> str:
    if option(args, "stack"):
        return deployed_stack(args).table
    table = option(args, "table") or os.environ.get("STATE_TABLE")
    if not table:
        raise CliError("--state aws needs --table NAME or STATE_TABLE (the stack output StateTableName)")
    return str(table)


def dynamodb_client(args: argparse.Namespace) -> Any:
    """In the stack's region with --stack; else the AWS CLI's."""
    if option(args, "stack"):
        return deployed_stack(args).client("dynamodb")
    import boto3

    return boto3.client("dynamodb")


def open_store(args: argparse.Namespace) -> StateStore:
    if not uses_aws_state(args):
        from severa_sync.state.memory import MemoryStateStore

        return MemoryStateStore(state_file(args))
    from severa_sync.state.dynamodb import DynamoStateStore

    return DynamoStateStore(dynamodb_client(args), table_name(args))


def _operator(args: argparse.Namespace) -> str:
    if option(args, "by"):
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _confirm(console: Console, args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    try:
        answer = console.input(f"{question} [y/N] ", markup=False)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _operator_log(args: argparse.Namespace, message: str, action: str, **fields: Any) -> None:
    now = utcnow()
    zone = tenant_config(args).zone
    logger.info(
        message,
        extra={
            "action": action,
            "time_utc": iso_seconds(now),
            "time_local": iso_seconds(local(now, zone)),
            **fields,
        },
    )


# --- commands -----------------------------------------------------------------------------------
def cmd_state(args: argparse.Namespace, console: Console) -> int:
    tenant = tenant_of(args)  # first: a command that names no tenant touches no store
    store = open_store(args)
    with readable_logs(
        console, json_lines=option(args, "log_format") == "json", zone=tenant_config(args).zone
    ):
        if args.action == "list":
            return _state_list(console, args, store, tenant)
        if args.action == "halts":
            return _state_halts(console, store, tenant, _table_style(args))
        if args.action == "rewind":
            return _state_rewind(console, args, store, tenant)
        if args.action == "clear-halt":
            return _state_clear_halt(console, args, store, tenant)
        if args.action == "forget":
            return _state_forget(console, args, store, tenant)
        if args.action == "mappings":
            from severa_sync_tools.mapping_view import show_mappings

            config = tenant_config(args)
            return show_mappings(
                console,
                store,
                tenant,
                args.data_type,
                args.key,
                export_prefix=config.export_prefix,
                export_bucket=config.export_bucket,
                **_table_style(args),
            )
        return _state_retry_set(console, store, tenant, args.data_type, _table_style(args))


def _state_list(console: Console, args: argparse.Namespace, store: StateStore, tenant: str) -> int:
    items = {row.data_type: row for row in store.watermark_rows(tenant)}
    halted = {h.data_type for h in store.halts(tenant)}
    rows = []
    for dt in registry.run_order():
        item = items.get(dt.name)
        last = item.last_run if item else {}
        status = str(last.get("status", "-")) + (" (halted)" if dt.name in halted else "")
        # fetched = delivered + skipped + failed + overlap (re-read by the overlap, dropped, not re-sent)
        overlap = last.get("dropped_overlap", 0 if last else "-")
        rows.append(
            [
                dt.name,
                (item and item.watermark) or "not set",
                (item and item.updated_by) or "-",
                status,
                *(str(last.get(k, "-")) for k in ("fetched", "delivered", "skipped", "failed")),
                str(overlap),
                str(last.get("finished_at", "-")),
                str(len(store.parked(tenant, dt.name))),
            ]
        )
    columns = ("data type", "watermark", "set by", "last run", "fetched", "delivered", "skipped", "failed")
    print_table(
        console,
        f"Watermarks of tenant {tenant}" + (" (tenant HALTED)" if None in halted else ""),
        (*columns, "overlap", "finished", "parked"),
        rows,
        **_table_style(args),
    )
    return EXIT_OK


def _table_style(args: argparse.Namespace) -> dict[str, bool]:
    return {"wide": bool(option(args, "wide")), "as_json": bool(option(args, "json"))}


def _state_halts(console: Console, store: StateStore, tenant: str, style: dict[str, bool]) -> int:
    halts = store.halts(tenant)
    if not halts and not style["as_json"]:
        console.print(f"No halts: every data type of tenant {tenant} runs on its schedule.")
        return EXIT_OK
    print_table(
        console,
        f"Halts of tenant {tenant}",
        ("scope", "code", "since", "reason"),
        [(h.data_type or "whole tenant", h.code, format_watermark(h.since), h.reason) for h in halts],
        **style,
    )
    return EXIT_OK


def _state_rewind(console: Console, args: argparse.Namespace, store: StateStore, tenant: str) -> int:
    try:
        new = parse_watermark(args.to)
    except ValueError as exc:
        raise CliError(f"--to: {exc}") from None
    if new > utcnow():
        raise CliError(f"--to: {format_watermark(new)} is in the future; a watermark only moves back")
    stored = store.read_watermark(tenant, args.data_type)
    old = stored.raw
    console.print(
        f"{args.data_type} watermark of tenant {tenant}: {old or 'not set'} -> {format_watermark(new)}"
    )
    if stored.watermark is not None and new > stored.watermark:
        console.print(
            "This moves the watermark forward: records changed in between are never read.", style="yellow"
        )
    if not _confirm(console, args, "Rewind?"):
        console.print("Nothing changed.")
        return EXIT_FAILED
    who = _operator(args)
    previous = store.rewind(tenant, args.data_type, new, by=who)
    census.start_over(store, tenant)  # a rewind re-learns which keys Visma.net holds
    _operator_log(
        args,
        f"Watermark of {args.data_type} rewound from {previous or 'not set'} to {format_watermark(new)} by {who}",
        "watermark_rewound",
        tenant=tenant,
        data_type=args.data_type,
        watermark_old=previous,
        watermark_new=format_watermark(new),
        by=who,
    )
    return EXIT_OK


def _state_forget(console: Console, args: argparse.Namespace, store: StateStore, tenant: str) -> int:
    """After Visma.net was restored from a backup: what the sync delivered since then may be gone
    there, but its mapping items still say "sent, unchanged". Forgetting them makes the next re-read
    look each record up again (update it when found, create it when missing: never twice)."""
    try:
        since = parse_watermark(args.delivered_since)
    except ValueError as exc:
        raise CliError(f"--delivered-since: {exc}") from None
    keys = store.mappings_delivered_since(tenant, args.data_type, since)
    console.print(
        f"{len(keys)} {args.data_type} of tenant {tenant} were delivered to Visma.net at or after "
        f"{format_watermark(since)}."
    )
    if not keys:
        return EXIT_OK
    if not _confirm(console, args, "Forget their deliveries?"):
        console.print("Nothing changed.")
        return EXIT_FAILED
    who = _operator(args)
    store.forget_mappings(tenant, args.data_type, keys)
    # Documents behind the forgotten mappings are found by a whole census, not only a recent one.
    census.start_over(store, tenant)
    _operator_log(
        args,
        f"{len(keys)} {args.data_type} deliveries since {format_watermark(since)} forgotten by {who}",
        "deliveries_forgotten",
        tenant=tenant,
        data_type=args.data_type,
        delivered_since=format_watermark(since),
        count=len(keys),
        by=who,
    )
    console.print(
        f"Now rewind {args.data_type} to before {format_watermark(since)} so the next run reads them "
        f"again: severa-sync state rewind {args.data_type} --to <time>"
    )
    return EXIT_OK


def _state_clear_halt(console: Console, args: argparse.Namespace, store: StateStore, tenant: str) -> int:
    halt = next((h for h in store.halts(tenant) if h.data_type == args.data_type), None)
    scope = args.data_type or "the whole tenant"
    if halt is None:
        console.print(f"No halt on {scope} of tenant {tenant}.")
        return EXIT_FAILED
    console.print(f"Halt on {scope}: {halt.code} since {format_watermark(halt.since)}: {halt.reason}")
    if args.data_type is None:
        versions = store.read_versions(tenant)
        if versions is not None:
            console.print(
                f"Clearing it acknowledges Severa API version {versions.api_version} and entity schema "
                f"version {versions.schema_version}: check the integration against them first."
            )
    if not _confirm(console, args, "Clear the halt?"):
        console.print("Nothing changed.")
        return EXIT_FAILED
    who = _operator(args)
    store.clear_halt(tenant, args.data_type, by=who)
    _operator_log(
        args,
        f"Halt on {scope} ({halt.code}) cleared by {who}",
        "halt_cleared",
        tenant=tenant,
        data_type=args.data_type,
        halt_code=halt.code,
        by=who,
    )
    return EXIT_OK


def _state_retry_set(
    console: Console, store: StateStore, tenant: str, data_type: str | None, style: dict[str, bool]
) -> int:
    names = [data_type] if data_type else [dt.name for dt in registry.run_order()]
    rows = [
        [
            name,
            item.display_key,
            item.attempts,
            item.last_error_code,
            item.last_error_message,
            format_watermark(item.first_failed_at),
            item.key,
        ]
        for name in names
        for item in store.parked(tenant, name)
    ]
    if not rows and not style["as_json"]:
        console.print(f"The retry set of tenant {tenant} is empty.")
        return EXIT_OK
    columns = ("data type", "record", "attempts", "error code", "error", "first failed", "key")
    print_table(console, f"Retry set of tenant {tenant}", columns, rows, **style)
    return EXIT_OK
