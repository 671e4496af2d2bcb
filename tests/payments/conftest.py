"""Payments back to Severa over real HTTP: the Severa and Visma.net simulators, the production
adapters (``runtime``'s factories), state in the embedded store. Invoices are first transferred
by the invoices type, so the payments type finds the mappings it reads by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from severa_sync import registry
from severa_sync.alerts.sns import InMemoryAlerts
from severa_sync.config import TenantConfig, parse_config
from severa_sync.engine.engine import RunResult
from severa_sync.runtime import Runtime, RuntimeSettings
from severa_sync.secrets import EnvironmentSecrets
from severa_sync.state.memory import MemoryStateStore
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma.simulator import VismaSimulator

SEVERA_KEY = "payments-test-key-never-logged"
VISMA_SECRET = "payments-test-secret"
PARTLY_PAID = "Partly paid"


def config_for(severa: SeveraSimulator, visma: VismaSimulator, **payments: Any) -> TenantConfig:
    backfill = (severa.now() - timedelta(days=60)).date().isoformat()
    return parse_config(
        {
            "tenant": "acme",
            "severa": {"url": severa.url, "read_timeout_seconds": 2, "transport_retries": 0},
            "visma": {
                "base_url": visma.base_url,
                "token_url": visma.token_url,
                "client_secret_secret": "VISMA_CLIENT_SECRET",
            },
            "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
            "products": {"item_class": "SERVICE"},
            "payments": {"paid_status": "Paid", "partly_paid_status": PARTLY_PAID, **payments},
            "types": {dt.name: {"backfill_from": backfill} for dt in registry.DATA_TYPES},
        }
    )


@dataclass
class World:
    severa: SeveraSimulator
    visma: VismaSimulator
    state_file: Path

    def runtime(self, *, dry_run: bool = False, **payments: Any) -> Runtime:
        return Runtime(
            config_for(self.severa, self.visma, **payments),
            RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env", SEVERA_SYNC_DRY_RUN=dry_run),
            MemoryStateStore(str(self.state_file)),
            InMemoryAlerts(),
            CollectingTelemetry(),
            EnvironmentSecrets({"SEVERA_API_KEY": SEVERA_KEY, "VISMA_CLIENT_SECRET": VISMA_SECRET}),
        )

    def run(self, name: str, **kwargs: Any) -> RunResult:
        runtime = self.runtime(**kwargs)
        result = runtime.engine.run(name)
        self.last_runtime = runtime
        return result

    def transferred(self) -> dict[str, str]:
        """Severa invoice number -> Visma.net reference number, after the invoices' run."""
        return {str(row["externalReference"]): row["referenceNumber"] for row in self.visma.invoices}

    def invoice(self, number: int) -> dict[str, Any]:
        return next(r for r in self.severa.records("Invoice") if r.get("Number") == number)


@pytest.fixture
def world(tmp_path: Path):
    severa = SeveraSimulator(api_key=SEVERA_KEY, seed=True).start(port=0)
    visma = VismaSimulator(client_secret=VISMA_SECRET).start()
    severa.upsert("InvoiceStatus", {"Name": PARTLY_PAID, "IsActive": True, "SortOrder": 9})
    w = World(severa, visma, tmp_path / "state.json")
    for name in ("accounts", "cases", "invoices"):
        assert w.run(name).status.value in ("succeeded", "succeeded_with_errors"), name
    severa.reset_calls()  # what the tests count is the payments runs' calls
    yield w
    visma.stop()
    severa.stop()
