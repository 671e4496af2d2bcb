"""``severa-sync``: the local run, the demo, the operator's state and config commands, the preflight.

Every command but ``demo`` and ``simulate`` acts on a place the operator names: ``--config FILE``
(or ``$SEVERA_SYNC_CONFIG_FILE``) or ``--stack NAME`` (a deployed stack, resolved from its outputs).

Exit codes: 0 done; 1 the run failed or was halted (or an operator command found nothing to do);
2 invalid configuration or usage; 3 the run ended but parked records in the retry set ("succeeded
with N record errors"); 75 the run must continue later (Severa unavailable, or time spent).
Secrets never come from the command line: they are read from the environment variables named in the
configuration (``SEVERA_API_KEY``, ``VISMA_CLIENT_SECRET`` by default) or from Secrets Manager.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError
from rich.console import Console

from severa_sync import registry
from severa_sync.config import parse_config
from severa_sync.errors import ConfigError, SyncError
from severa_sync_tools.config_commands import add_config_parser, cmd_config
from severa_sync_tools.console import CONTINUE_LATER, progress_bar, readable_logs, run_summary
from severa_sync_tools.state_commands import (
    CONFIG_FILE_VARIABLE,
    DEFAULT_STATE_FILE,
    EXIT_FAILED,
    EXIT_LATER,
    EXIT_OK,
    EXIT_USAGE,
    cmd_state,
    deployed_stack,
    option,
    state_file,
    table_name,
    tenant_config,
    uses_aws_state,
)

LOCAL_STACK_NAME = "severa-sync-local"
#: The run ended, but some records are parked in the retry set (not plain success).
EXIT_RECORD_ERRORS = 3
EXIT_BY_STATUS = {
    "succeeded": EXIT_OK,
    "succeeded_with_errors": EXIT_RECORD_ERRORS,
    "skipped": EXIT_OK,
    "failed": EXIT_FAILED,
    "halted": EXIT_FAILED,
    "retry_later": EXIT_LATER,
    "partial": EXIT_LATER,
    "paused": EXIT_LATER,
}


# --- parser -------------------------------------------------------------------------------------
#: The simulators' own settings (tests/cli/test_help.py checks this against their parsers), and what
#: a tenant configuration needs to reach them.
SIMULATE_EPILOG = """\
severa options:
  --api-key KEY            the WebServicePassword it accepts (default sim-api-key: SEVERA_API_KEY)
  --no-seed                start with no data
  --localized-statuses     Finnish invoice status names ("Valmis siirtoon", "Siirretty")
visma options:
  --client-id ID           the Visma Connect client it accepts (default severa-sync: visma.client_id)
  --client-secret-env VAR  variable holding the secret it accepts (default VISMA_CLIENT_SECRET, else
                           sim-secret)
  --tenant ID              the company tenant id (default local-company: visma.company_tenant_id)
  --max-page-size N        page size cap (default 100)
  --token-lifetime S       token lifetime in seconds (default 3600)
  --background-polls N     polls a background job reads 'Started' before 'Finished' (default 1)
  --quota N                API calls answered per window, then 429 + Retry-After (default: no limit)
  --quota-window S         the quota window in seconds (default 3600, Visma.net's hour)

A run against them: severa.url = http://127.0.0.1:<port>/webservice/S3/API.svc, visma.base_url =
http://127.0.0.1:<port>, visma.token_url = http://127.0.0.1:<port>/connect/token (or the run command's
--severa-url, --visma-url, --visma-token-url). Hour entries and absences also need S3: a moto server
(moto_server -p 5000) with AWS_ENDPOINT_URL=http://127.0.0.1:5000, dummy AWS credentials and the
export_bucket created in it (docs/configuration.md, "Example ... against the simulators").
"""


def _state_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Accepted before and after the state sub-command: SUPPRESS keeps a later default from
    # overwriting an earlier value.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--state",
        choices=("local", "aws"),
        default=default,
        help="embedded store in a JSON file (default) or the stack's DynamoDB table",
    )
    parser.add_argument(
        "--state-file",
        default=default,
        metavar="PATH",
        help=f"local store file (default: $STATE_FILE or {DEFAULT_STATE_FILE})",
    )
    parser.add_argument(
        "--table",
        default=default,
        metavar="NAME",
        help="DynamoDB state table for --state aws (default: $STATE_TABLE)",
    )
    parser.add_argument("--tenant", default=default, help="tenant id (default: the configuration's)")
    _place_options(parser, default)
    parser.add_argument(
        "--log-format", choices=("rich", "json"), default=default, help="readable lines (default) or JSON"
    )
    parser.add_argument(
        "--wide", action="store_true", default=default, help="tables: one line per row, whatever the width"
    )
    parser.add_argument("--json", action="store_true", default=default, help="tables: JSON rows for scripts")


def _place_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    """Where a command acts: a configuration file, or a deployed stack (never a silent default)."""
    parser.add_argument(
        "--config",
        default=default,
        metavar="FILE",
        help=f"tenant configuration, JSON or TOML (default: ${CONFIG_FILE_VARIABLE})",
    )
    parser.add_argument(
        "--stack",
        default=default,
        metavar="NAME",
        help="a deployed stack: its configuration, state table, alert topic and region (its outputs)",
    )
    parser.add_argument(
        "--region", default=default, metavar="REGION", help="region of --stack (default: the AWS CLI's)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="severa-sync",
        description="Sync Visma Severa into Visma.net Financials and S3: local runs, the demo, operator tools.",
        epilog="Exit codes: 0 ok, 1 run failed or halted, 2 invalid configuration, 3 succeeded with record "
        "errors, 75 continue later.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the whole product locally (simulators + moto, no AWS account)",
        description="Start the Severa and Visma.net simulators and a moto server on 127.0.0.1, create the "
        "template's resources, and run every data type through the Lambda handlers: a first run, an "
        "incremental run, and a maintenance break carried by the retry state machine.",
    )
    demo.add_argument("--wait-seconds", type=int, default=1, help="retry machine wait (AWS: 600; default 1)")
    demo.add_argument("--log-format", choices=("rich", "json"), default="rich")

    run = commands.add_parser(
        "run",
        help="run one data type once, against any endpoint (e.g. a Severa secure-test tenant)",
        description="Run one data type through its Lambda handler from this machine. Secrets come from the "
        "environment variables the configuration names (SEVERA_API_KEY, VISMA_CLIENT_SECRET by default) "
        "or with --secrets aws from Secrets Manager; never from the command line.",
        epilog="Example: SEVERA_API_KEY=... severa-sync run accounts --config tenant.toml",
    )
    run.add_argument(
        "data_type",
        metavar="TYPE",
        choices=[dt.name for dt in registry.DATA_TYPES],
        help=f"one of {', '.join(registry.BY_NAME)}",
    )
    run.add_argument("--severa-url", metavar="URL", help="Severa SOAP endpoint (overrides the configuration)")
    run.add_argument("--visma-url", metavar="URL", help="Visma.net ERP API base URL")
    run.add_argument("--visma-token-url", metavar="URL", help="Visma Connect token URL")
    run.add_argument(
        "--secrets",
        choices=("env", "aws"),
        default="env",
        help="where the secrets named in the configuration are read (default: env)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="types that write into Severa (payments): log the writes it would make, write nothing, "
        "change no state",
    )
    _state_options(run, suppress=False)

    state = commands.add_parser(
        "state",
        help="read and edit the sync state: watermarks, halts, the retry set",
        description="Operator commands on the state store (the local JSON file, or --state aws for the "
        "stack's DynamoDB table). Edits are the same an operator makes by hand in the console.",
    )
    _state_options(state, suppress=True)
    actions = state.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("list", "watermarks with the last run's status and counts"),
        ("halts", "halts of the tenant and of data types"),
        ("rewind", "move a data type's watermark back (the next run re-reads from there)"),
        ("clear-halt", "clear a halt; clearing the tenant halt acknowledges a schema change"),
        ("retry-set", "records parked after errors, with their last error"),
        ("mappings", "where Severa records went: Severa number -> Visma.net key (or S3 partition)"),
        (
            "forget",
            "forget what was delivered to Visma.net since a time (after the ERP was restored from a "
            "backup); the next re-read sends those records again",
        ),
    ):
        sub = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _state_options(sub, suppress=True)
        if name == "rewind":
            sub.add_argument("data_type", metavar="TYPE", choices=list(registry.BY_NAME))
            sub.add_argument(
                "--to", required=True, metavar="TIME", help="ISO time or date, UTC unless an offset is given"
            )
        if name == "forget":
            sub.add_argument(
                "data_type",
                metavar="TYPE",
                choices=[dt.name for dt in registry.DATA_TYPES if dt.target is registry.TargetKind.VISMA],
            )
            sub.add_argument(
                "--delivered-since",
                required=True,
                metavar="TIME",
                help="the backup's time: deliveries at or after it are forgotten (ISO time or date, UTC)",
            )
        if name in ("clear-halt", "retry-set"):
            sub.add_argument(
                "data_type",
                metavar="TYPE",
                nargs="?",
                choices=list(registry.BY_NAME),
                help="a data type (default: the tenant halt / every type)",
            )
        if name == "mappings":
            sub.add_argument("data_type", metavar="TYPE", choices=list(registry.BY_NAME))
            sub.add_argument(
                "key", metavar="KEY", nargs="?", help="a Severa number or GUID, or a Visma.net key"
            )
        if name in ("rewind", "clear-halt", "forget"):
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            sub.add_argument("--by", help="operator name recorded with the edit (default: your user name)")

    add_config_parser(commands)
    check = commands.add_parser(
        "check",
        help="preflight: verify every setting against Severa, Visma.net and AWS before data moves",
        description="Verify, before any data moves, that the configuration works: the Severa key, entity "
        "schema version, business unit and invoice statuses; the Visma.net token, company, customer "
        "class, VAT codes and default item; the S3 bucket. Reads only. Exit 1 on any problem.",
        epilog="Example: severa-sync check --stack severa-sync-acme-secure-test",
    )
    _place_options(check, None)
    check.add_argument(
        "--secrets",
        choices=("env", "aws"),
        default=None,
        help="where the secrets named in the configuration are read (default: aws with --stack, else env)",
    )
    check.add_argument("--wide", action="store_true", help="the table: one line per row, whatever the width")
    check.add_argument("--json", action="store_true", help="the findings as JSON rows, for scripts")

    simulate = commands.add_parser(
        "simulate",
        help="serve a simulator on 127.0.0.1 until interrupted",
        description="Serve the Severa SOAP API or Visma.net simulator on its own; other options go to the simulator.",
        epilog=SIMULATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("system", choices=("severa", "visma"))
    simulate.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    return parser


# --- commands -----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from severa_sync_tools.local_lambda import function_name, invoke, patched_environ

    if option(args, "dry_run") and registry.get(args.data_type).target is not registry.TargetKind.SEVERA:
        print(
            f"severa-sync: --dry-run only plans writes into Severa; {args.data_type} writes to "
            f"{registry.get(args.data_type).target.value}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    config = tenant_config(args)
    stack = deployed_stack(args) if option(args, "stack") else None
    overrides = {
        "severa": {"url": args.severa_url},
        "visma": {"base_url": args.visma_url, "token_url": args.visma_token_url},
    }
    data = config.model_dump(mode="json")
    for section, values in overrides.items():
        data[section].update({k: v for k, v in values.items() if v})
    if option(args, "tenant"):
        data["tenant"] = args.tenant
    config = parse_config(data, origin="configuration with command-line overrides")
    aws = uses_aws_state(args)
    environment: dict[str, str | None] = {
        "SEVERA_SYNC_CONFIG": config.model_dump_json(),
        "SEVERA_SYNC_CONFIG_PARAMETER": None,
        "SEVERA_SYNC_CONFIG_SEED_PARAMETER": None,
        "STATE_BACKEND": "dynamodb" if aws else "local",
        "STATE_TABLE": table_name(args) if aws else None,
        "STATE_FILE": None if aws else state_file(args),
        "SECRETS_BACKEND": "secretsmanager" if args.secrets == "aws" or stack else "env",
        "RETRY_STATE_MACHINE_ARN": None,  # a run from a laptop never starts the stack's retry machine
        # --stack: alerts go to the stack's topic, every call to the stack's region.
        "ALERT_TOPIC_ARN": stack.topic if stack else None,
        "SEVERA_SYNC_DRY_RUN": "true" if option(args, "dry_run") else None,
        **({"AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region} if stack else {}),
    }
    progress = progress_bar(console)
    with (
        patched_environ(environment),
        progress,
        readable_logs(
            console, progress=progress, json_lines=option(args, "log_format") == "json", zone=config.zone
        ),
    ):
        answer = invoke(
            args.data_type,
            {"data_type": args.data_type, "source": "manual"},
            name=function_name(args.data_type, LOCAL_STACK_NAME),
        )
        _print_local_alerts(console)
    status = str(answer.get("status"))
    if answer.get("error_code") == "invalid_configuration" and "error_message" in answer:
        print(f"severa-sync: {answer['error_message']}", file=sys.stderr)  # the run never started
        return EXIT_USAGE
    console.print(run_summary(args.data_type, answer))
    if answer.get("error_code") == "invalid_configuration":  # found during the run (a bucket, AWS)
        return EXIT_USAGE
    if status in CONTINUE_LATER:
        console.print(CONTINUE_LATER[status], style="yellow")
    return EXIT_BY_STATUS.get(status, EXIT_FAILED)


def _print_local_alerts(console: Console) -> None:
    from severa_sync.runtime import get_runtime

    published = getattr(get_runtime().alerts, "published", [])
    for alert in published:
        console.print(f"alert (local, not sent): {alert.kind}: {alert.summary}", style="yellow")


def cmd_simulate(args: argparse.Namespace, extra: list[str]) -> int:
    argv = ["--port", str(args.port), *extra]
    if args.system == "severa":
        from severa_sync_tools.simulators.severa import main as severa_main

        return int(severa_main(argv) or 0)
    from severa_sync_tools.simulators.visma import main as visma_main

    return int(visma_main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "simulate":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Bound to this stdout now: a function's own stdout is redirected while it runs (see localstack).
    # No markup: data (error messages) may hold brackets.
    console = Console(file=sys.stdout, highlight=False, markup=False)
    try:
        if args.command == "demo":
            from severa_sync_tools.demo import run_demo

            return run_demo(
                console, wait_seconds=args.wait_seconds, json_lines=option(args, "log_format") == "json"
            )
        if args.command == "run":
            return cmd_run(args, console)
        if args.command == "state":
            return cmd_state(args, console)
        if args.command == "config":
            return cmd_config(args, console)
        if args.command == "check":
            from severa_sync_tools.preflight import cmd_check

            return cmd_check(args, console)
        return cmd_simulate(args, extra)
    except SyncError as error:
        line = " ".join(str(error).split())  # one line, whatever pydantic wrote
        print(f"severa-sync: error: {line}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
    except BotoCoreError as error:  # no region, no credentials: the AWS side is not configured here
        print(f"severa-sync: error: AWS: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
