"""Fixtures: the Visma.net simulator on 127.0.0.1, a client pointed at it, an in-memory mapping store
and Severa-shaped pydantic records (member names as in ``severa.schema``)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Mapping, SourceRecord
from severa_sync.errors import SeveraNotFound
from severa_sync.secrets import Secret
from severa_sync.state.table import PendingJobsInMappings
from severa_sync.targets.visma import VismaClient, VismaTarget
from severa_sync_tools.simulators.visma import VismaSimulator

CLIENT_SECRET = "sim-secret"


# -- Severa records ---------------------------------------------------------------------------
class Customer(BaseModel):
    GUID: str
    Name: str | None = None
    Number: int | None = None
    VatNumber: str | None = None
    IsActive: bool = True


class Case(BaseModel):
    GUID: str
    CaseNumber: int | None = None
    Name: str | None = None
    AccountGUID: str | None = None
    StartDate: datetime = datetime(2026, 1, 5)
    InsertTs: datetime | None = None
    IsClosed: bool = False
    ClosedDate: datetime | None = None


class Product(BaseModel):
    GUID: str
    Code: str | None = None
    Name: str | None = None
    IsActive: bool = True
    MeasurementUnit: str | None = "pcs"
    UnitPrice: Decimal | None = None
    VAT: Decimal | None = None


class InvoiceRow(BaseModel):
    ProductGUIDs: list[str] | None = None
    articleIdentifier: str | None = None
    articleName: str | None = None
    rowFreeText: str | None = None
    deliveredQuantity: Decimal = Decimal("1")
    unitPriceAmount: Decimal | None = Decimal("100.00")
    rowUnitPrice: Decimal | None = Decimal("100.00")
    rowVatRatePercent: Decimal | None = Decimal("24.00")
    rowSalesAccountNumber: str | None = None
    quantityUnitCode: str | None = None


class Invoice(BaseModel):
    GUID: str
    Number: int | None = None
    AccountGUID: str | None = None
    MainCaseGUID: str | None = None
    Date: datetime = datetime(2026, 11, 20)
    DueDate: datetime = datetime(2026, 12, 4)
    Title: str | None = None
    Description: str | None = None
    CurrencyShortform: str | None = "EUR"
    ReferenceNumber: str | None = None
    YourReference: str | None = None
    PaymentTerm: int = 0
    IsCreditNote: bool = False
    ReimburseInvoiceGUID: str | None = None
    InvoiceDetails: dict[str, Any] | None = None
    InvoiceRows: list[InvoiceRow] = []


def record(payload: BaseModel, display_key: str | None = None) -> SourceRecord:
    text = json.dumps(payload.model_dump(mode="json", by_alias=True), sort_keys=True)
    return SourceRecord(
        key=payload.GUID,
        changed_at=None,
        display_key=display_key or payload.GUID,  # type: ignore[attr-defined]
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        payload=payload,
    )


def rows(count: int, **overrides: Any) -> list[InvoiceRow]:
    return [InvoiceRow(articleName=f"Work {i}", **overrides) for i in range(1, count + 1)]


# -- state store ------------------------------------------------------------------------------
class MemoryMappings(PendingJobsInMappings):
    """The mapping part of ``ports.StateStore``, dict-backed (the rest is not used by the target)."""

    def __init__(self) -> None:
        self.mappings: dict[tuple[str, str, str], Mapping] = {}

    def get_mapping(self, tenant: str, data_type: str, key: str) -> Mapping | None:
        return self.mappings.get((tenant, data_type, key))

    def get_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> dict[str, Mapping]:
        return {k: m for k in keys if (m := self.mappings.get((tenant, data_type, k))) is not None}

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None:
        self.mappings[(tenant, data_type, key)] = mapping

    def forget_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.mappings.pop((tenant, data_type, key), None)


# -- fixtures ---------------------------------------------------------------------------------
@dataclass
class Sleeps:
    """Stands in for time.sleep: records every wait; an optional hook runs on each."""

    waits: list[float] = field(default_factory=list)
    hook: Callable[[float], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            self.hook(seconds)


@pytest.fixture
def sim() -> Iterator[VismaSimulator]:
    with VismaSimulator(client_secret=CLIENT_SECRET, max_page_size=50) as simulator:
        yield simulator


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def tenant_config(sim: VismaSimulator, invoices: dict[str, Any] | None = None, **visma: Any) -> TenantConfig:
    settings = {
        "base_url": sim.base_url,
        "token_url": sim.token_url,
        "timeout_seconds": 5,
        "background_poll_seconds": 0.01,
        **visma,
    }
    invoice_settings = {"vat_codes": {"24": "1", "14": "2", "0": "0"}, **(invoices or {})}
    projects = {"default_subaccount": [{"segment_id": 1, "value": "0000"}]}
    products = {"item_class": "SERVICE", "posting_class": "SRV"}
    return TenantConfig.model_validate(
        {
            "tenant": "demo",
            "visma": settings,
            "invoices": invoice_settings,
            "projects": projects,
            "products": products,
        }
    )


@pytest.fixture
def make_client(sim: VismaSimulator, sleeps: Sleeps) -> Callable[..., VismaClient]:
    def make(
        *, secret: str = CLIENT_SECRET, remaining: Callable[[], float] | None = None, **visma: Any
    ) -> VismaClient:
        config = tenant_config(sim, **visma)
        return VismaClient(
            config.visma,
            Secret(secret),
            remaining_seconds=remaining,
            sleep=sleeps,
            retry_backoff_seconds=0.01,
        )

    return make


class Dependencies:
    """``ports.Dependencies`` for these tests: delivers the Severa record it is asked for."""

    def __init__(self, store: MemoryMappings) -> None:
        self.store = store
        self.records: dict[str, SourceRecord] = {}
        self.calls: list[tuple[str, str]] = []
        self.target: VismaTarget | None = None

    def add(self, *records: SourceRecord) -> None:
        self.records.update({r.key: r for r in records})

    def key_of(self, kind: str, guid: str) -> str:
        self.calls.append((kind, guid))
        if guid not in self.records or self.target is None:
            raise SeveraNotFound(f"{kind} {guid} not found in Severa")
        delivery = self.target.deliver(registry.get(kind), [self.records[guid]])
        if delivery.failed:
            raise delivery.failed[0][1]
        found = self.store.get_mapping("demo", kind, guid)
        assert found is not None
        return found.target_key


@dataclass
class Harness:
    sim: VismaSimulator
    client: VismaClient
    store: MemoryMappings
    deps: Dependencies
    target: VismaTarget
    config: TenantConfig
    sleeps: Sleeps


@pytest.fixture
def make_harness(sim: VismaSimulator, sleeps: Sleeps) -> Callable[..., Harness]:
    def make(
        invoices: dict[str, Any] | None = None,
        *,
        remaining: Callable[[], float] | None = None,
        **visma: Any,
    ) -> Harness:
        config = tenant_config(sim, invoices, **visma)
        client = VismaClient(
            config.visma,
            Secret(CLIENT_SECRET),
            sleep=sleeps,
            retry_backoff_seconds=0.01,
            remaining_seconds=remaining,
        )
        store = MemoryMappings()
        deps = Dependencies(store)
        target = VismaTarget(client, store, "demo", config, deps)  # type: ignore[arg-type]
        deps.target = target
        return Harness(sim, client, store, deps, target, config, sleeps)

    return make


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log records hold, extra fields included."""
    return "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
