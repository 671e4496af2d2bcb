"""Per-tenant configuration (pydantic). Invalid configuration fails fast naming the field.

Where it comes from: a JSON/TOML file for local runs (``severa-sync run --config``), an SSM
parameter named by ``SEVERA_SYNC_CONFIG_PARAMETER`` (the template's seed,
``SEVERA_SYNC_CONFIG_SEED_PARAMETER``, while that does not exist) or inline JSON in
``SEVERA_SYNC_CONFIG`` in Lambda (read by ``config_store``). Secrets are never part of it: only the *names* of secrets
(Secrets Manager ids in AWS, environment variables locally); ``secrets.py`` resolves them. Every
field is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from severa_sync import registry
from severa_sync.errors import ConfigError

SEVERA_ENDPOINTS = {
    "secure-test": "https://sync-test.severa.com/webservice/S3/API.svc",
    "production": "https://sync.severa.com/webservice/S3/API.svc",
}
Stage = Literal["secure-test", "production", "local"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeveraSettings(_Strict):
    #: Named Severa environment; ``url`` overrides it (a simulator, a proxy).
    environment: Literal["secure-test", "production"] = "secure-test"
    url: str | None = None
    #: Secrets Manager id (AWS) or environment variable name (local) of the SOAP API key.
    api_key_secret: str = "SEVERA_API_KEY"  # noqa: S105 - a secret's name, not a secret
    #: "" reads all business units (Severa's convention for an empty businessUnitGUID).
    business_unit_guid: str = ""
    connect_timeout_seconds: float = Field(10.0, gt=0, le=60)
    read_timeout_seconds: float = Field(120.0, gt=0, le=900)
    #: Severa support's advice for maxReceivedMessageSize: 64 MiB.
    max_response_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    #: Calls kept free of the daily quota for the customer's other integrations.
    quota_reserve_calls: int = Field(5000, ge=0)
    #: Short in-process retries for transient transport errors (seconds, bounded).
    transport_retries: int = Field(2, ge=0, le=5)

    @property
    def endpoint(self) -> str:
        return self.url or SEVERA_ENDPOINTS[self.environment]


class VismaSettings(_Strict):
    base_url: str = "https://api.finance.visma.net"
    token_url: str = "https://connect.visma.com/connect/token"  # noqa: S105 - a URL
    client_id: str = "severa-sync"
    #: Secrets Manager id (AWS) or environment variable name (local) of the client secret.
    client_secret_secret: str = "VISMA_CLIENT_SECRET"  # noqa: S105 - a name
    #: The *company* tenant id (the customer tenant id authenticates but gives 401 on calls).
    company_tenant_id: str = "local-company"
    scopes: tuple[str, ...] = (
        "vismanet_erp_service_api:read",
        "vismanet_erp_service_api:create",
        "vismanet_erp_service_api:update",
    )
    timeout_seconds: float = Field(60.0, gt=0, le=300)
    page_size: int = Field(500, ge=1, le=1000)
    #: Invoices with at least this many lines go through the background API (4-minute limit).
    background_threshold_lines: int = Field(200, ge=1)
    background_poll_seconds: float = Field(2.0, gt=0)
    #: Share of each quota window (``X-RateLimit-Limit``) left for the company's other integrations:
    #: once ``X-RateLimit-Remaining`` is down to it, the run pauses until the window resets.
    quota_reserve_percent: int = Field(10, ge=0, le=90)
    #: Length of Visma.net's fixed quota window ("X requests per hour for each company and client").
    quota_window_seconds: int = Field(3600, ge=60)


class Segment(_Strict):
    """One segment of a Visma.net subaccount (``SegmentUpdateDto``)."""

    segment_id: int = Field(ge=1)
    value: str = Field(min_length=1)


class InvoiceSettings(_Strict):
    #: Severa status of invoices to transfer, and the status they get once transferred.
    source_status: str = "Ready for transfer"
    transferred_status: str = "Transferred"
    #: ``maxInvoices`` of each queue read (``GetInvoicesByStatus``): invoices per call, plus the parked.
    queue_page_size: int = Field(100, ge=1, le=1000)
    #: Visma.net inventory (product) number for rows with no article identifier in Severa.
    default_inventory_number: str = "SEVERA"
    #: Severa VAT percent ("24", "14", "0") -> Visma.net VAT code id.
    vat_codes: dict[str, str] = Field(
        default_factory=lambda: {"25.5": "1", "24": "1", "14": "2", "10": "3", "0": "0"}
    )
    default_vat_code: str | None = None
    #: Visma.net customer class for customers created from Severa accounts.
    customer_class_id: str = "1"
    #: Severa row sales account number (``InvoiceRow.rowSalesAccountNumber``) -> Visma.net sales
    #: account (a line's ``accountNumber``). Empty: no account is sent (the item's applies); set, a
    #: row whose account is missing here parks its invoice with an error naming the account.
    sales_accounts: dict[str, str] = Field(default_factory=dict)
    #: Subaccount of every invoice and credit-note line (bare ``SegmentUpdateDto`` items); empty:
    #: none is sent (the item's or the customer's applies).
    line_subaccount: list[Segment] = Field(default_factory=list)
    #: Severa row unit (``InvoiceRow.quantityUnitCode``) -> Visma.net unit of measure (``uom``). A
    #: unit not listed is not sent: the item's sales unit applies (Visma.net refuses a unit it lacks).
    units: dict[str, str] = Field(default_factory=dict)


class CustomerSettings(_Strict):
    """What a Visma.net customer takes from Severa besides names and addresses (docs/configuration.md)."""

    #: Severa payment term (``Customer.PaymentTerm``, days) -> Visma.net credit terms id
    #: (``GET /v1/creditTerm``). A term missing here parks the customer with an error naming it.
    credit_terms: dict[str, str] = Field(default_factory=lambda: {"7": "7", "14": "14", "30": "30"})
    #: Visma.net VAT zone of customers with Severa's ``ReverseCharge`` set, and of those without.
    #: Unset: no VAT zone is sent and the customer class's applies.
    reverse_charge_vat_zone: str | None = Field(None, min_length=1)
    domestic_vat_zone: str | None = Field(None, min_length=1)


class PaymentSettings(_Strict):
    """What the payments type writes into Severa (docs/configuration.md, payments)."""

    #: Severa invoice status set once the Visma.net document is fully paid (None: only the payment
    #: date is set). Checked against ``GetAllInvoiceStatuses`` before anything is written.
    paid_status: str | None = Field(None, min_length=1)
    #: Severa invoice status set while it is partly paid (None: a log line only, Severa unchanged).
    partly_paid_status: str | None = Field(None, min_length=1)
    #: Severa writes one run may make; one more stops the run with a ``severa_write_cap`` alert
    #: before it is made (a bad mapping must not mass-update Severa).
    max_severa_writes: int = Field(500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _distinct(self) -> PaymentSettings:
        if self.paid_status is not None and self.paid_status == self.partly_paid_status:
            raise ValueError("paid_status and partly_paid_status must differ")
        return self


class ProjectSettings(_Strict):
    """How Visma.net projects are created from Severa cases. Visma.net requires a project template
    or the project's default subaccount (``defSub``: "Mandatory field when Project Template is not
    specified"); one of the two must be set before the first case is transferred."""

    #: Visma.net project template id; when set, projects are created from it (no ``defSub`` sent).
    template: str | None = Field(None, min_length=1)
    #: The project's default subaccount, every segment the company's subaccount setup requires.
    default_subaccount: list[Segment] = Field(default_factory=list)


class ProductSettings(_Strict):
    """How Visma.net items are created from Severa products. The item class is mandatory when an
    item is created ("the item class to which the item is assigned"; it provides the item's
    defaults); it must be set before the first product is transferred."""

    #: Visma.net item class id of the items created (a non-stock class).
    item_class: str | None = Field(None, min_length=1)
    #: Visma.net posting class of the items created; unset: the item class's default.
    posting_class: str | None = Field(None, min_length=1)
    #: InventoryUpdateDto ``type`` of a new item: one of the non-stock types only, since only a
    #: non-stock item can be chosen on a customer invoice line (visma-net-dtos.md 3.3, 6.2).
    item_type: Literal["NonStockItem", "ServiceItem", "LaborItem", "ChargeItem", "ExpenseItem"] = (
        "NonStockItem"
    )
    #: Visma.net sales account of the items created; unset: the item class's (posting class's).
    sales_account: str | None = Field(None, min_length=1)
    #: Unit of a product with no ``MeasurementUnit`` in Severa; unset: such a product is refused.
    default_unit: str | None = Field(None, min_length=1)


class ApiUser(_Strict):
    """Who runs the integration: shown in error logs so Severa support can be contacted."""

    organisation: str = "Example Oy"
    name: str = "Integration User"
    email: str = "integration@example.com"


class DataTypeSettings(_Strict):
    enabled: bool = True
    #: First run: start here when there is no watermark.
    backfill_from: date = date(2024, 1, 1)
    window_days: float | None = Field(None, gt=0)
    overlap_minutes: float | None = Field(None, ge=2)
    #: Hour entries and absences: every run re-reads from the first day of the month this many
    #: months before the current one (tenant zone) to the lookahead. 2: the current and the two
    #: previous months, so the open payroll periods are covered on any day of the month, and so is
    #: anything dated up to 59 days back (an absence entered five weeks late).
    reconcile_months: int = Field(2, ge=0, le=24)


class EngineSettings(_Strict):
    #: How far behind the signpost the watermark stays (commit lag, clock skew).
    skew_margin_seconds: int = Field(120, ge=0)
    #: Stop taking new work when the Lambda has less than this left.
    time_budget_margin_seconds: int = Field(60, ge=5)
    lock_lease_seconds: int = Field(960, ge=60)
    batch_size: int = Field(500, ge=1, le=10_000)
    #: Bound on the overlap dedup set kept in the watermark item between runs (~60 bytes each).
    overlap_dedup_limit: int = Field(400, ge=0, le=1000)
    #: Smallest window the splitter goes down to (a minute: Severa compares to the minute).
    min_window_seconds: int = Field(60, ge=60)


class TenantConfig(_Strict):
    #: Required: no default tenant (a file that named none would act on another tenant's state).
    #: Only ``severa-sync demo`` builds a configuration of tenant "demo" (``localstack.demo_config``).
    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    stage: Stage = "local"
    time_zone: str = "Europe/Helsinki"
    severa: SeveraSettings = SeveraSettings()
    visma: VismaSettings = VismaSettings()
    api_user: ApiUser = ApiUser()
    invoices: InvoiceSettings = InvoiceSettings()
    customers: CustomerSettings = CustomerSettings()
    payments: PaymentSettings = PaymentSettings()
    projects: ProjectSettings = ProjectSettings()
    products: ProductSettings = ProductSettings()
    engine: EngineSettings = EngineSettings()
    types: dict[str, DataTypeSettings] = Field(default_factory=dict)
    #: S3 bucket and prefix of the hour-entry and absence exports.
    export_bucket: str = "severa-sync-exports"
    export_prefix: str = "exports"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Helsinki)") from None
        return value

    @field_validator("types", mode="before")
    @classmethod
    def _no_schedules(cls, value: Any) -> Any:
        # Schedules are EventBridge Scheduler resources built from stack parameters: a schedule
        # here would be silently ignored, so it is refused naming the parameter that does work.
        # The fix names samconfig.toml, not --parameter-overrides: on the command line that
        # replaces every samconfig override (docs/deploy.md).
        if not isinstance(value, dict):
            return value
        problems = [
            f"types.{name}.schedule is not a configuration setting: schedules are the stack parameter "
            f"{registry.get(name).schedule_parameter} (in samconfig.toml parameter_overrides, e.g. "
            f"'{registry.get(name).schedule_parameter}=\"rate(1 day)\"', then sam deploy)"
            for name, settings in value.items()
            # Unknown type names are _known_types' to report.
            if isinstance(settings, dict) and "schedule" in settings and name in registry.BY_NAME
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: dict[str, DataTypeSettings]) -> dict[str, DataTypeSettings]:
        unknown = sorted(set(value) - set(registry.BY_NAME))
        if unknown:
            raise ValueError(f"unknown data types {unknown}; known: {sorted(registry.BY_NAME)}")
        return value

    @model_validator(mode="after")
    def _stage_matches_endpoint(self) -> TenantConfig:
        # A production stack must never talk to secure-test, and the other way round.
        if self.stage not in ("secure-test", "production"):
            return self
        other = "production" if self.stage == "secure-test" else "secure-test"
        if self.severa.url is None and self.severa.environment != self.stage:
            raise ValueError(f"stage {self.stage!r} refuses the Severa {self.severa.environment!r} endpoint")
        if self.severa.url is not None and self.severa.url.rstrip("/") == SEVERA_ENDPOINTS[other]:
            raise ValueError(f"stage {self.stage!r} refuses the {other} Severa endpoint {self.severa.url}")
        # Outside local runs (simulators on loopback) every endpoint carries secrets: HTTPS only.
        for name, url in (
            ("severa.url", self.severa.url),
            ("visma.base_url", self.visma.base_url),
            ("visma.token_url", self.visma.token_url),
        ):
            if url is not None and not url.startswith("https://"):
                raise ValueError(f"{name} must be an https:// URL on stage {self.stage!r} (got {url})")
        return self

    @model_validator(mode="after")
    def _production_names_its_sections(self) -> TenantConfig:
        # Defaults are fine for a laptop; in production they would point at Visma.net settings
        # nobody chose and show "Example Oy" to Severa support in every error log.
        if self.stage != "production":
            return self
        for section in ("visma", "api_user"):
            if section not in self.model_fields_set:
                raise ValueError(f"a production configuration needs its own [{section}] section")
        for name in ApiUser.model_fields:
            if name not in self.api_user.model_fields_set:
                raise ValueError(
                    f"a production configuration needs api_user.{name} (shown to Severa support)"
                )
        return self

    # -- derived ---------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def type_settings(self, name: str) -> DataTypeSettings:
        return self.types.get(name, DataTypeSettings())

    def window(self, name: str) -> timedelta:
        days = self.type_settings(name).window_days
        return timedelta(days=days) if days else registry.get(name).default_window

    def overlap(self, name: str) -> timedelta:
        minutes = self.type_settings(name).overlap_minutes
        return timedelta(minutes=minutes) if minutes else registry.get(name).default_overlap


def _problem(error: Any) -> str:
    if error["type"] == "missing":
        return "required, not set (it has no default; docs/configuration.md)"
    return str(error["msg"])


def parse_config(data: dict[str, Any], *, origin: str = "configuration") -> TenantConfig:
    """Validate raw configuration; a ``ConfigError`` names every bad field."""
    try:
        return TenantConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {_problem(err)}" for err in exc.errors()
        )
        raise ConfigError(f"invalid {origin}: {problems}") from None


def load_file(path: str | Path) -> TenantConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"configuration file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    return parse_config(data, origin=f"configuration file {path}")
