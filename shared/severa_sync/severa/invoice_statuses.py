"""The configured invoice statuses, checked against the tenant's own before any invoice is read.

Severa identifies an invoice status by its *name* (reference §3: ``IInvoiceStatus`` has only
``GetAllInvoiceStatuses()``; ``SetInvoiceStatus`` takes the name), and tenants rename or localize
them ("Valmis siirtoon", "Siirretty"). A read with a name the tenant lacks does not fail: it finds
nothing, and a run would end "succeeded, No invoices found" forever. So every invoice run, and the
``severa-sync check`` preflight, compare the names first (``check_invoice_statuses``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from severa_sync.config import InvoiceSettings, PaymentSettings, TenantConfig
from severa_sync.errors import InvoiceStatusUnknown, SeveraNotFound
from severa_sync.severa.client import SeveraClient

OPERATION = "IInvoiceStatus/GetAllInvoiceStatuses"


@dataclass(frozen=True, slots=True)
class TenantStatus:
    name: str
    active: bool


def read_statuses(client: SeveraClient) -> list[TenantStatus]:
    """The tenant's invoice statuses, in Severa's order. An empty answer (null, empty or a
    NotFound, all legal for "nothing", reference §2) is an empty list."""
    try:
        records = [record for record, _ in client.stream(OPERATION)]
    except SeveraNotFound:
        return []
    out = []
    for record in records:
        name, active = getattr(record, "Name", None), getattr(record, "IsActive", None)
        if name:
            out.append(TenantStatus(str(name), active is not False))  # nil IsActive: not known inactive
    return out


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names) or "(none)"


def status_problems(statuses: Sequence[TenantStatus], settings: InvoiceSettings) -> list[str]:
    """What is wrong with the configured statuses, one sentence each; empty when they fit.

    Names must match exactly: the sync compares an invoice's ``InvoiceStatus`` to the configured
    name as text, so a name that differs only in case is reported (with the tenant's spelling).
    """
    by_name = {status.name: status for status in statuses}
    by_folded = {status.name.casefold(): status.name for status in statuses}
    problems: list[str] = []
    for field, name in (
        ("invoices.source_status", settings.source_status),
        ("invoices.transferred_status", settings.transferred_status),
    ):
        if name in by_name:
            continue
        spelled = by_folded.get(name.casefold())
        hint = f' (Severa spells it "{spelled}")' if spelled else ""
        problems.append(f'{field} "{name}" is not an invoice status of this Severa tenant{hint}')
    transferred = by_name.get(settings.transferred_status)
    if transferred is not None and not transferred.active:
        problems.append(
            f'invoices.transferred_status "{settings.transferred_status}" is inactive in Severa, '
            "so invoices cannot be set to it"
        )
    if settings.source_status == settings.transferred_status:
        problems.append(
            "invoices.source_status and invoices.transferred_status are the same status: a "
            "transferred invoice would never leave the queue"
        )
    return problems


def payment_status_problems(statuses: Sequence[TenantStatus], settings: PaymentSettings) -> list[str]:
    """What is wrong with the statuses the payments type sets (it sets them: active ones only)."""
    active = {s.name for s in statuses if s.active}
    return [
        f'{field} "{name}" is not an active invoice status of this Severa tenant'
        for field, name in (
            ("payments.paid_status", settings.paid_status),
            ("payments.partly_paid_status", settings.partly_paid_status),
        )
        if name is not None and name not in active
    ]


def describe(statuses: Sequence[TenantStatus]) -> str:
    active = [s.name for s in statuses if s.active]
    inactive = [s.name for s in statuses if not s.active]
    text = f"the tenant's invoice statuses are {_quoted(active)}"
    return text + (f" (inactive: {_quoted(inactive)})" if inactive else "")


def check_invoice_statuses(client: SeveraClient, config: TenantConfig) -> list[str]:
    """For the preflight: the problems with ``config.invoices`` against the tenant's statuses,
    each naming the tenant's real status names; empty when the configuration fits."""
    statuses = read_statuses(client)
    problems = status_problems(statuses, config.invoices)
    return [f"{problem}; {describe(statuses)}" for problem in problems]


def require_invoice_statuses(client: SeveraClient, config: TenantConfig) -> None:
    """Raise ``InvoiceStatusUnknown`` (STOP, a configuration alert) when the statuses do not fit."""
    statuses = read_statuses(client)
    problems = status_problems(statuses, config.invoices)
    if problems:
        raise InvoiceStatusUnknown(
            f"{'; '.join(problems)}; {describe(statuses)}. Fix the configuration (docs/configuration.md, "
            "invoices) and run again: invoices waiting in the source status are then transferred",
            call=client.last_call,
            detail={"tenant_statuses": [s.name for s in statuses]},
        )
