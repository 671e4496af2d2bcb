"""The product wired for a bench: simulators in the driver, the engine in a measured child.

The driver starts the Severa and Visma.net simulators on 127.0.0.1 (their memory and CPU are not
the engine's) and hands the child a tenant configuration pointing at them. The child builds a
``runtime.Runtime`` with the real adapters (``SeveraSource``/``SeveraClient``,
``VismaTarget``/``VismaClient``, ``S3ExportTarget`` on moto), the embedded state store and the
environment secret resolver: the credentials travel as environment variables, never as arguments.

Counting calls per run: the child and the driver meet at a ``Handshake`` (two files) between runs,
so the driver can read the simulators' call logs at each boundary.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from severa_sync import registry
from severa_sync.config import TenantConfig, parse_config
from severa_sync.secrets import Secret

SEVERA_KEY_VARIABLE = "SEVERA_SYNC_BENCH_SEVERA_KEY"
VISMA_SECRET_VARIABLE = "SEVERA_SYNC_BENCH_VISMA_SECRET"  # noqa: S105 - a variable's name
VISMA_CLIENT_ID = "severa-sync-bench"
VISMA_COMPANY = "bench-company"
TENANT = "bench"
EXPORT_BUCKET = "severa-sync-bench-exports"
LAMBDA_TIMEOUT_SECONDS = 900.0  # template Globals.Function.Timeout


@dataclass
class Simulators:
    severa: Any  # SeveraSimulator
    visma: Any  # VismaSimulator
    child_env: dict[str, str]

    def config(self, *, backfill_days: int = 2, **overrides: Any) -> dict[str, Any]:
        """Tenant configuration (JSON-able) pointing at the simulators; product defaults otherwise."""
        backfill = (self.severa.now() - timedelta(days=backfill_days)).date().isoformat()
        return {
            "tenant": TENANT,
            "stage": "local",
            "severa": {"url": self.severa.url, "api_key_secret": SEVERA_KEY_VARIABLE},
            "visma": {
                "base_url": self.visma.base_url,
                "token_url": self.visma.token_url,
                "client_id": VISMA_CLIENT_ID,
                "client_secret_secret": VISMA_SECRET_VARIABLE,
                "company_tenant_id": VISMA_COMPANY,
            },
            "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
            "products": {"item_class": "SERVICE"},  # the Visma.net simulator's non-stock class
            "export_bucket": EXPORT_BUCKET,
            "types": {dt.name: {"backfill_from": backfill} for dt in registry.DATA_TYPES},
            **overrides,
        }

    def severa_calls(self, since: int = 0) -> Counter[str]:
        return Counter(call.operation for call in self.severa.calls[since:])

    def visma_calls(self, since: int = 0) -> Counter[str]:
        return Counter(
            f"{method} {_path_shape(path)}" for method, path, _status in self.visma.requests[since:]
        )


def _path_shape(path: str) -> str:
    """``/v1/customer/100042`` -> ``/v1/customer/{key}``: counts group by endpoint, not record."""
    parts = path.split("?")[0].rstrip("/").split("/")
    known = {"v1", "v2", "v3", "connect", "token", "customer", "project", "customerinvoice", "background"}
    return "/".join(p if (p in known or not p) else "{key}" for p in parts)


@contextlib.contextmanager
def simulators(*, seed: bool) -> Iterator[Simulators]:
    from severa_sync_tools.simulators.severa import SeveraSimulator
    from severa_sync_tools.simulators.visma import VismaSimulator

    severa_key, visma_secret = Secret(secrets.token_urlsafe(24)), Secret(secrets.token_urlsafe(24))
    with (
        SeveraSimulator(api_key=severa_key.reveal(), seed=seed, quota_limit=10_000_000) as severa,
        VismaSimulator(
            client_id=VISMA_CLIENT_ID,
            client_secret=visma_secret.reveal(),
            company_tenant_id=VISMA_COMPANY,
            rate_limit=10_000_000,  # the bench counts calls; it does not model Visma.net's quota
        ) as visma,
    ):
        env = {SEVERA_KEY_VARIABLE: severa_key.reveal(), VISMA_SECRET_VARIABLE: visma_secret.reveal()}
        yield Simulators(severa, visma, env)


# --- the child side ---------------------------------------------------------------------------
def build_runtime(config_data: dict[str, Any]) -> Any:
    """A ``Runtime`` with the real adapters, the embedded store (in memory) and env secrets."""
    from severa_sync.alerts.sns import InMemoryAlerts
    from severa_sync.runtime import Runtime, RuntimeSettings
    from severa_sync.secrets import EnvironmentSecrets
    from severa_sync.state.memory import MemoryStateStore
    from severa_sync.telemetry import CollectingTelemetry

    config: TenantConfig = parse_config(config_data, origin="bench configuration")
    settings = RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env")
    # No STATE_FILE: the file store rewrites its whole JSON on every write, which is not what a
    # Lambda's DynamoDB table costs; the in-memory store is the embedded one without that.
    return Runtime(
        config, settings, MemoryStateStore(), InMemoryAlerts(), CollectingTelemetry(), EnvironmentSecrets()
    )


def lambda_clock() -> Any:
    """A Lambda-like ``remaining_seconds`` for one invocation, started now."""
    started = time.monotonic()
    return lambda: LAMBDA_TIMEOUT_SECONDS - (time.monotonic() - started)


@dataclass(frozen=True)
class Handshake:
    """Child: ``reached(name)`` then waits; driver: ``wait_for(name)``, counts, ``release(name)``."""

    directory: str

    def _path(self, name: str, side: str) -> Path:
        return Path(self.directory, f"{name}.{side}")

    def reached(self, name: str, timeout: float = 600) -> None:
        self._path(name, "reached").touch()
        self._wait(self._path(name, "released"), timeout)

    def wait_for(self, name: str, timeout: float = 3600, alive: Any = None) -> bool:
        """True when the child reached ``name``; False when ``alive()`` says it ended first."""
        path = self._path(name, "reached")
        deadline = time.monotonic() + timeout
        while not path.exists():
            if alive is not None and not alive():
                return path.exists()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the measured process never reached {name}")
            time.sleep(0.02)
        return True

    def release(self, name: str) -> None:
        self._path(name, "released").touch()

    @staticmethod
    def _wait(path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bench driver never released {path.name}")
            time.sleep(0.01)
