"""``severa-sync config check|push|show``: the tenant document, offline and in a deployed stack.

``check`` validates a file with the same pydantic model the functions use. ``push`` validates
first, shows what changes against the document in effect, asks, then writes the operator's SSM
parameter ``/severa-sync/<stack>/config``, which no deploy touches (the functions pick it up within
``config_store.MAX_AGE_SECONDS``). ``show`` prints the document in effect, says whether it is the
pushed one or the template's seed, and whether it validates. Secrets are never in a document, only
their names.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from severa_sync.config import TenantConfig, load_file
from severa_sync.config_store import MAX_DOCUMENT_BYTES, parse_document
from severa_sync.errors import ConfigError
from severa_sync_tools.stack import DeployedStack, StackError, resolve_stack
from severa_sync_tools.state_commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError


def add_config_parser(commands: Any) -> None:
    config = commands.add_parser(
        "config",
        help="check, push and show the tenant configuration document",
        description="The tenant configuration (docs/configuration.md): validate a file offline, push it "
        "to a deployed stack's SSM parameter, or show what is deployed.",
    )
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate a file offline", description="Validate a file offline."
    )
    check.add_argument("file", metavar="FILE", help="tenant configuration (JSON or TOML)")
    push = actions.add_parser(
        "push",
        help="validate a file, show the diff against the stack's document, then write it",
        description="Validate FILE, show what changes against the deployed document, and write it to the "
        "stack's configuration parameter. The functions use it within 5 minutes; no deploy needed.",
    )
    push.add_argument("file", metavar="FILE", help="tenant configuration (JSON or TOML)")
    show = actions.add_parser(
        "show", help="print the stack's document", description="Print the stack's configuration document."
    )
    for sub in (push, show):
        sub.add_argument("--stack", required=True, metavar="NAME", help="the deployed stack")
        sub.add_argument("--region", metavar="REGION", help="the stack's region (default: the AWS CLI's)")
    push.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_config(args: argparse.Namespace, console: Console) -> int:
    if args.action == "check":
        return _check(console, args.file)
    stack = resolve_stack(args.stack, args.region)
    if args.action == "show":
        return _show(console, stack)
    return _push(console, args, stack)


def document_of(config: TenantConfig) -> str:
    """The document as stored: what the file sets (defaults stay the code's), keys sorted."""
    return json.dumps(config.model_dump(mode="json", exclude_unset=True), indent=2, sort_keys=True) + "\n"


def _check(console: Console, path: str) -> int:
    config = load_file(path)
    size = len(document_of(config).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise CliError(f"{path}: the document is {size} bytes; SSM holds at most {MAX_DOCUMENT_BYTES}")
    console.print(
        f"{path}: valid configuration of tenant {config.tenant} (stage {config.stage}, {size} bytes)"
    )
    return EXIT_OK


def _normalized(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    except json.JSONDecodeError:
        return text if text.endswith("\n") else text + "\n"


def _show(console: Console, stack: DeployedStack) -> int:
    document = stack.document()
    console.print(
        f"In effect for stack {stack.name}: {document.source} "
        f"(version {document.meta.get('Version')}, modified {document.meta.get('LastModifiedDate')}):"
    )
    console.print(_normalized(document.text), end="")
    try:
        parse_document(document.text, origin="the deployed document")
    except ConfigError as error:
        console.print(f"It does not validate: {error.message}", style="red")
        return EXIT_FAILED
    console.print("It validates.")
    return EXIT_OK


def _push(console: Console, args: argparse.Namespace, stack: DeployedStack) -> int:
    new = load_file(args.file)
    document = document_of(new)
    if len(document.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise CliError(f"{args.file}: the document is larger than SSM's {MAX_DOCUMENT_BYTES} bytes")
    deployed = stack.document()
    _refuse_another_place(stack, deployed.text, new)
    diff = list(
        difflib.unified_diff(
            _normalized(deployed.text).splitlines(keepends=True),
            document.splitlines(keepends=True),
            fromfile=f"in effect: {deployed.parameter}" + (" (the seed)" if deployed.is_seed else ""),
            tofile=args.file,
        )
    )
    if not diff and not deployed.is_seed:
        console.print(f"{stack.parameter} already holds this configuration: nothing to push.")
        return EXIT_OK
    if diff:
        console.print("".join(diff), end="")
    else:
        console.print(f"Same as the seed {deployed.parameter}; writing it makes it the operator's document.")
    if not args.yes and not _confirm(console, f"Write this to {stack.parameter}?"):
        console.print("Nothing changed.")
        return EXIT_FAILED
    try:
        version = stack.client("ssm").put_parameter(
            Name=stack.parameter,
            Value=document,
            Type="String",
            Overwrite=True,
            Tier="Intelligent-Tiering",
            Description=f"severa-sync tenant configuration of stack {stack.name} (severa-sync config push; "
            "not managed by CloudFormation)",
        )["Version"]
    except (ClientError, BotoCoreError) as exc:
        code = (
            exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        )
        raise StackError(f"cannot write SSM parameter {stack.parameter}: {code}") from None
    console.print(f"Pushed version {version} of {stack.parameter}: the functions use it within 5 minutes.")
    return EXIT_OK


def _refuse_another_place(stack: DeployedStack, deployed_text: str, new: TenantConfig) -> None:
    """The tenant keys every state item and the stage guards production: neither moves by a push."""
    try:
        deployed = parse_document(deployed_text, origin="deployed")
    except ConfigError:
        return  # replacing a broken document is what push is for
    for field in ("tenant", "stage"):
        if getattr(deployed, field) != getattr(new, field):
            raise CliError(
                f"the file's {field} {getattr(new, field)!r} differs from stack {stack.name}'s "
                f"{getattr(deployed, field)!r}: a {field} belongs to its own stack (docs/deploy.md)"
            )


def _confirm(console: Console, question: str) -> bool:
    try:
        answer = console.input(f"{question} [y/N] ", markup=False)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


__all__ = ["EXIT_USAGE", "add_config_parser", "cmd_config", "document_of"]
