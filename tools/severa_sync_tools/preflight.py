"""``severa-sync check``: every setting verified against the real systems before any data moves.

Reads only, with the same clients the functions use (``SeveraClient``, ``VismaClient``, boto3):
the Severa key (``GetVersion``), the entity schema version against the one the state remembers,
the business unit (``GetBusinessUnitByGUID``), the invoice statuses (``GetAllInvoiceStatuses``);
the Visma.net token, company and tenant, customer class, each configured VAT code and the default
item; the S3 bucket. Each check gives OK or the problem with its fix; a check that depends on a
failed one (no key, no token) says so instead of repeating the same failure.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from severa_sync import network, registry
from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import VismaDocument, VismaExport
from severa_sync.engine.ports import StateStore
from severa_sync.errors import SyncError
from severa_sync.secrets import EnvironmentSecrets, Secret, SecretResolver, SecretsManagerSecrets
from severa_sync_tools.console import print_table, readable_logs
from severa_sync_tools.local_lambda import patched_environ
from severa_sync_tools.stack import DeployedStack
from severa_sync_tools.state_commands import EXIT_FAILED, EXIT_OK, deployed_stack, option, tenant_config

NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    checked: bool = True  # False: a check it depends on failed, so it was not tried
    warning: bool = False  # ok, but worth acting on (not a problem: the exit code stays 0)

    @property
    def result(self) -> str:
        if self.ok:
            return "WARNING" if self.warning else "OK"
        return "PROBLEM" if self.checked else "NOT CHECKED"


def ok(check: str, detail: str) -> Finding:
    return Finding(check, True, detail)


def problem(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, False, detail, fix)


def warning(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, True, detail, fix, warning=True)


def stack_document_finding(stack: DeployedStack) -> Finding:
    """``--stack``: which document is in effect; only the template's seed is a warning."""
    name = "Configuration document"
    if stack.pushed_document() is None:
        return warning(
            name,
            f"only the template's seed {stack.seed_parameter} exists: {stack.parameter} was never pushed",
            f"severa-sync config push FILE --stack {stack.name} (a deploy rewrites the seed, never a pushed one)",
        )
    return ok(name, f"{stack.parameter} (pushed)")


def skipped(check: str, because: str) -> Finding:
    return Finding(check, False, f"{NOT_CHECKED}: {because}", "fix the problem above first", checked=False)


@dataclass
class Preflight:
    config: TenantConfig
    secrets: SecretResolver
    state: StateStore | None = None  # the versions the engine's gate compares with
    s3_client: Any = None
    expected_bucket: str | None = None  # --stack: the bucket the functions may write to

    def run(self) -> list[Finding]:
        types = [dt for dt in registry.DATA_TYPES if self.config.type_settings(dt.name).enabled]
        findings = list(self._severa(any(dt.status_queue is not None for dt in types)))
        if any(dt.target is registry.TargetKind.SEVERA for dt in types):
            findings.append(self._guarded("Severa payment statuses", self._payment_statuses))
        if any(dt.target is registry.TargetKind.VISMA or dt.visma_read is not None for dt in types):
            findings += self._visma()
        if any(
            isinstance(dt.export, VismaExport) and dt.export.document is VismaDocument.PROJECT for dt in types
        ):
            findings.append(self._project_origin())
        if any(
            isinstance(dt.export, VismaExport) and dt.export.document is VismaDocument.ITEM for dt in types
        ):
            findings.append(self._item_class())
        if any(dt.target is registry.TargetKind.S3 for dt in types):
            findings += self._s3()
        return findings

    # -- Severa -----------------------------------------------------------------------------
    def _severa(self, invoices: bool) -> Iterator[Finding]:
        from severa_sync.severa.client import SeveraClient

        severa = self.config.severa
        key = self._secret("Severa API key", severa.api_key_secret)
        if isinstance(key, Finding):
            yield key
            yield from (skipped(name, "no Severa API key") for name in _SEVERA_DEPENDENT)
            return
        client = SeveraClient(self.config, key)
        try:
            version = client.get_version()
        except SyncError as error:
            setting = "severa.url" if severa.url else "severa.environment"
            yield problem(
                "Severa API key",
                f"GetVersion at {severa.endpoint}: {error.message}",
                _connection_fix(error, setting, severa.endpoint)
                or f"check {setting}; create a new API key for the API user and store it in "
                f"secret {severa.api_key_secret!r}",
            )
            yield from (skipped(name, "Severa did not answer GetVersion") for name in _SEVERA_DEPENDENT)
            return
        yield ok("Severa API key", f"accepted by {severa.endpoint} (API version {version})")
        yield self._guarded("Severa entity schema version", lambda: self._schema_version(client))
        yield self._guarded("Severa business unit", lambda: self._business_unit(client))
        if invoices:
            yield self._guarded("Severa invoice statuses", lambda: self._invoice_statuses(client))

    def _schema_version(self, client: Any) -> Finding:
        name = "Severa entity schema version"
        current = client.get_entity_schema_version()
        stored = self.state.read_versions(self.config.tenant) if self.state is not None else None
        if stored is None:
            return ok(name, f"{current} (the first run records it)")
        if stored.schema_version != current:
            return problem(
                name,
                f"changed from {stored.schema_version} (last run) to {current}",
                "the first run halts the tenant: check the integration against the new schema, then "
                "severa-sync state clear-halt (docs/operations.md)",
            )
        return ok(name, f"{current}, as at the last run")

    def _business_unit(self, client: Any) -> Finding:
        from severa_sync_tools.preflight_reads import business_unit

        name, guid = "Severa business unit", self.config.severa.business_unit_guid
        if not guid:
            return ok(name, "all business units (severa.business_unit_guid is empty)")
        found = business_unit(client, guid)
        if found is None:
            return problem(
                name,
                f"{guid} is not a business unit of this Severa tenant",
                "set severa.business_unit_guid to a unit's GUID (Severa: Settings > Business units), "
                "or empty for all",
            )
        return ok(name, f"{found} ({guid})")

    def _invoice_statuses(self, client: Any) -> Finding:
        from severa_sync.severa.invoice_statuses import check_invoice_statuses

        name = "Severa invoice statuses"
        problems = check_invoice_statuses(client, self.config)
        if problems:
            return problem(
                name,
                "; ".join(problems),
                "set invoices.source_status and invoices.transferred_status to the tenant's names",
            )
        settings = self.config.invoices
        return ok(name, f'"{settings.source_status}" -> "{settings.transferred_status}" exist')

    def _payment_statuses(self) -> Finding:
        """The statuses the payments type sets in Severa (``payments.*_status``)."""
        from severa_sync.secrets import Secret
        from severa_sync.severa.client import SeveraClient
        from severa_sync.severa.invoice_statuses import describe, payment_status_problems, read_statuses

        name, settings = "Severa payment statuses", self.config.payments
        if settings.paid_status is None and settings.partly_paid_status is None:
            return ok(name, "none configured: payments set only the payment date")
        key = self._secret("Severa API key", self.config.severa.api_key_secret)
        if not isinstance(key, Secret):
            return skipped(name, "no Severa API key")
        statuses = read_statuses(SeveraClient(self.config, key))
        problems = payment_status_problems(statuses, settings)
        if problems:
            return problem(
                name,
                f"{'; '.join(problems)}; {describe(statuses)}",
                "set payments.paid_status and payments.partly_paid_status to active statuses of the tenant",
            )
        shown = " / ".join(f'"{s}"' for s in (settings.paid_status, settings.partly_paid_status) if s)
        return ok(name, f"{shown} exist and are active")

    # -- Visma.net --------------------------------------------------------------------------
    def _visma(self) -> list[Finding]:
        from severa_sync_tools.preflight_reads import VismaReads

        visma = self.config.visma
        secret = self._secret("Visma.net token", visma.client_secret_secret)
        if isinstance(secret, Finding):
            return [secret, *(skipped(name, "no client secret") for name in self._visma_dependent())]
        reads = VismaReads(visma, secret)
        try:
            reads.token()
        except SyncError as error:
            return [
                problem(
                    "Visma.net token",
                    error.message,
                    _connection_fix(error, "visma.token_url", visma.token_url)
                    or f"check visma.client_id {visma.client_id!r}, the secret {visma.client_secret_secret!r} "
                    "and visma.token_url",
                ),
                *(skipped(name, "no Visma.net token") for name in self._visma_dependent()),
            ]
        findings = [ok("Visma.net token", f"issued by {visma.token_url} to {visma.client_id}")]
        invoices = self.config.invoices
        try:
            customer_class = reads.customer_class(invoices.customer_class_id)
        except SyncError as error:  # the first API call: 401 here is the company or tenant
            findings.append(
                problem(
                    "Visma.net company and tenant",
                    error.message,
                    _connection_fix(error, "visma.base_url", visma.base_url)
                    or f"visma.company_tenant_id {visma.company_tenant_id!r} must be the company tenant id "
                    "(not the customer tenant id), and the application needs the API User role",
                )
            )
            return findings + [
                skipped(n, "Visma.net refused the company") for n in self._visma_dependent()[1:]
            ]
        findings.append(ok("Visma.net company and tenant", f"company {visma.company_tenant_id} answers"))
        findings.append(
            ok("Visma.net customer class", f"{invoices.customer_class_id}: {customer_class}")
            if customer_class is not None
            else problem(
                "Visma.net customer class",
                f"customer class {invoices.customer_class_id!r} does not exist",
                "set invoices.customer_class_id to an existing class (GET /v1/customer/customerClass)",
            )
        )
        findings += [self._vat_guarded(reads, code) for code in self._vat_codes()]
        findings.append(self._guarded("Visma.net default item", lambda: self._item(reads)))
        return findings

    def _project_origin(self) -> Finding:
        """Visma.net needs a project template or the project's default subaccount (``defSub``)."""
        name, projects = "Visma.net project origin", self.config.projects
        if projects.template:
            return ok(name, f"projects are created from template {projects.template!r}")
        if projects.default_subaccount:
            segments = ", ".join(f"{s.segment_id}={s.value}" for s in projects.default_subaccount)
            return ok(name, f"projects are created with default subaccount {segments}")
        return problem(
            name,
            "neither a project template nor a default subaccount is set: Visma.net requires one to "
            "create a project",
            "set projects.template or projects.default_subaccount (docs/configuration.md, projects)",
        )

    def _item_class(self) -> Finding:
        """Visma.net makes the item class mandatory when an item is created (Severa products)."""
        name, products = "Visma.net item class", self.config.products
        if products.item_class:
            return ok(name, f"items are created in class {products.item_class!r} as {products.item_type}")
        return problem(
            name,
            "products.item_class is not set: Visma.net requires an item class to create an item",
            "set products.item_class to a non-stock item class (docs/configuration.md, products)",
        )

    def _vat_guarded(self, reads: Any, code: str) -> Finding:
        return self._guarded(f"Visma.net VAT code {code}", lambda: self._vat(reads, code))

    def _visma_dependent(self) -> list[str]:
        return [
            "Visma.net company and tenant",
            "Visma.net customer class",
            *(f"Visma.net VAT code {code}" for code in self._vat_codes()),
            "Visma.net default item",
        ]

    def _vat_codes(self) -> list[str]:
        invoices = self.config.invoices
        codes = set(invoices.vat_codes.values()) | ({invoices.default_vat_code} - {None})
        return sorted(str(code) for code in codes)

    def _vat(self, reads: Any, code: str) -> Finding:
        name = f"Visma.net VAT code {code}"
        found = reads.vat_category(code)
        rates = ", ".join(
            f"{rate} %" for rate, c in sorted(self.config.invoices.vat_codes.items()) if c == code
        )
        if found is None:
            return problem(
                name,
                f"VAT category {code!r} (for {rates or 'invoices.default_vat_code'}) does not exist",
                "map the rate in invoices.vat_codes to an existing VAT category (GET /v1/vatCategory)",
            )
        return ok(name, f"{found} (for {rates or 'rates not listed'})")

    def _item(self, reads: Any) -> Finding:
        name, number = "Visma.net default item", self.config.invoices.default_inventory_number
        found = reads.inventory_item(number)
        fix = "set invoices.default_inventory_number to an active non-stock item (GET /v1/inventory)"
        if found is None:
            return problem(name, f"inventory item {number!r} does not exist", fix)
        if found.get("stockItem") is True:
            return problem(
                name, f"inventory item {number!r} is a stock item; invoice rows need a non-stock item", fix
            )
        if str(found.get("status") or "Active") != "Active":
            return problem(name, f"inventory item {number!r} is {found.get('status')}", fix)
        return ok(name, f"{number}: {found.get('description') or 'non-stock item'}")

    # -- S3 ---------------------------------------------------------------------------------
    def _s3(self) -> list[Finding]:
        from botocore.exceptions import BotoCoreError, ClientError

        name, bucket = "S3 export bucket", self.config.export_bucket
        if self.expected_bucket is not None and bucket != self.expected_bucket:
            return [
                problem(
                    name,
                    f"export_bucket {bucket!r} is not the stack's bucket {self.expected_bucket!r}",
                    "set export_bucket to the stack output ExportBucketName: the functions may write there only",
                )
            ]
        s3 = self.s3_client
        if s3 is None:
            import boto3

            s3 = boto3.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
            what = {"404": "does not exist", "NoSuchBucket": "does not exist", "403": "is not yours to read"}
            return [
                problem(
                    name,
                    f"bucket {bucket!r} {what.get(code, f'answered {code}')}",
                    "set export_bucket to the stack output ExportBucketName",
                )
            ]
        except BotoCoreError as exc:
            return [
                problem(
                    name, f"S3 not reachable: {type(exc).__name__}", "configure AWS credentials and region"
                )
            ]
        return [ok(name, f"{bucket} exists")]

    # -- helpers ----------------------------------------------------------------------------
    def _secret(self, check: str, name: str) -> Secret | Finding:
        try:
            return self.secrets.resolve(name)
        except SyncError as error:
            return problem(check, error.message, f"store the secret as {name!r} (docs/deploy.md step 2)")

    @staticmethod
    def _guarded(check: str, run: Callable[[], Finding]) -> Finding:
        try:
            return run()
        except SyncError as error:
            return problem(check, error.message, "see the message; the call is logged with its parameters")


def _connection_fix(error: SyncError, setting: str, url: str) -> str | None:
    """The fix when the call never reached the host (or the host did not answer): the address and
    the network, naming the setting; None when the host answered (then the credentials are in doubt)."""
    from severa_sync.errors import SeveraUnavailable, SeveraUnreachable
    from severa_sync.targets.visma.wire import HostUnreachable, Unreached

    host = network.host_of(url)
    if isinstance(error, SeveraUnreachable | HostUnreachable):
        return (
            f"check {setting} ({host}): the host name does not resolve or nothing accepts connections "
            "there; check the URL, DNS and the network/firewall from where this runs (the credentials "
            "were not tried)"
        )
    if isinstance(error, SeveraUnavailable | Unreached):
        return (
            f"{host} did not answer in time or is in maintenance: run the check again later; if it "
            f"persists, check {setting}, DNS and the network/firewall (the credentials were not tried)"
        )
    return None


_SEVERA_DEPENDENT = ("Severa entity schema version", "Severa business unit", "Severa invoice statuses")


def render(
    console: Console,
    config: TenantConfig,
    findings: list[Finding],
    *,
    wide: bool = False,
    as_json: bool = False,
) -> None:
    """The findings as ``console.print_table`` shows a table: wrapped, ``wide``, or JSON rows."""
    print_table(
        console,
        f"Preflight of tenant {config.tenant} (stage {config.stage})",
        ("check", "result", "found", "fix"),
        [(f.check, f.result, f.detail, f.fix) for f in findings],
        wide=wide,
        as_json=as_json,
    )
    if as_json:
        return
    problems = sum(not f.ok and f.checked for f in findings)
    unchecked = sum(not f.checked for f in findings)
    warnings = sum(f.warning for f in findings)
    console.print(
        f"{problems} problem(s), {unchecked} check(s) not tried: fix them before the first run."
        if problems or unchecked
        else "Every check passed."
    )
    if warnings:
        console.print(f"{warnings} warning(s): see the fix column.")


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    config = tenant_config(args)
    stack = deployed_stack(args) if option(args, "stack") else None
    use_aws = (option(args, "secrets") or ("aws" if stack else "env")) == "aws"
    secrets: SecretResolver = SecretsManagerSecrets() if use_aws else EnvironmentSecrets()
    state: StateStore | None = None
    s3 = None
    if stack is not None:
        from severa_sync.state.dynamodb import DynamoStateStore

        state, s3 = DynamoStateStore(stack.client("dynamodb"), stack.table), stack.client("s3")
    preflight = Preflight(
        config, secrets, state=state, s3_client=s3, expected_bucket=stack.bucket if stack else None
    )
    # --stack: Secrets Manager in the stack's region, whatever the shell's default.
    region = {"AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region} if stack else {}
    as_json = bool(option(args, "json"))
    # --json: stdout is the JSON rows alone; the log lines (a client's retries) go to stderr.
    logs = Console(stderr=True, highlight=False, markup=False) if as_json else console
    with patched_environ(region), readable_logs(logs, zone=config.zone):
        findings = preflight.run()
    if stack is not None:
        findings.insert(0, stack_document_finding(stack))
    render(console, config, findings, wide=bool(option(args, "wide")), as_json=as_json)
    return EXIT_FAILED if any(not f.ok for f in findings) else EXIT_OK
