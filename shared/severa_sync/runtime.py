"""Composition root: builds the engine and its adapters once per process from the environment.

Lambda reads the tenant document from the SSM parameter ``SEVERA_SYNC_CONFIG_PARAMETER`` (local runs:
inline ``SEVERA_SYNC_CONFIG``) on every invocation, through the powertools cache, keeping the last good
one (``config_store``); and the stack's resources (``STATE_TABLE``, ``ALERT_TOPIC_ARN``, ``RETRY_STATE_MACHINE_ARN``). The local run
sets the same variables (moto server through ``AWS_ENDPOINT_URL``, simulators as endpoints), or picks
the embedded state store with ``STATE_BACKEND=local``. Adapters are built lazily per target so a
hour-entries function never needs Visma.net credentials.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from severa_sync.config import TenantConfig
from severa_sync.config_store import ALERT_KIND as CONFIG_ALERT_KIND
from severa_sync.config_store import LastGoodConfig, Rejection, config_reader
from severa_sync.datatypes.model import SourceKind
from severa_sync.engine.dependencies import OnDemandDependencies
from severa_sync.engine.engine import SyncEngine
from severa_sync.engine.ports import Alerts, Dependencies, Source, StateStore, Target
from severa_sync.errors import ConfigError
from severa_sync.orchestration import RetryPayload, RetryStarts
from severa_sync.registry import DataType, TargetKind
from severa_sync.secrets import EnvironmentSecrets, SecretResolver, SecretsManagerSecrets
from severa_sync.telemetry import EmfTelemetry, Telemetry
from severa_sync.timeutil import utcnow


class RuntimeSettings(BaseModel):
    """The stack's resources, from environment variables (names as in template.yaml)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    STATE_BACKEND: Literal["dynamodb", "local"] = "dynamodb"
    STATE_TABLE: str | None = None
    STATE_FILE: str = ".severa-sync/state.json"
    ALERT_TOPIC_ARN: str | None = None
    RETRY_STATE_MACHINE_ARN: str | None = None
    SECRETS_BACKEND: Literal["secretsmanager", "env"] = "secretsmanager"
    #: ``severa-sync run --dry-run``: nothing is written into Severa, no state is changed; the
    #: writes a run would make are logged. Never set in the template.
    SEVERA_SYNC_DRY_RUN: bool = False

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> RuntimeSettings:
        env = dict(os.environ if environ is None else environ)
        try:
            settings = cls.model_validate(env)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"environment variable {err['loc'][0]}: {err['msg']}") from None
        if settings.STATE_BACKEND == "dynamodb" and not settings.STATE_TABLE:
            raise ConfigError("environment variable STATE_TABLE is not set")
        return settings


class Deadline:
    """The current invocation's remaining time, shared with adapters built once per process."""

    def __init__(self) -> None:
        self.remaining: Callable[[], float] = lambda: float("inf")

    def __call__(self) -> float:
        return self.remaining()


#: Builds one adapter from the runtime's shared parts (config, secrets, state, deadline, clock,
#: dependencies); called once, when the adapter is first needed.
SourceFactory = Callable[["Runtime"], Source]
TargetFactory = Callable[["Runtime"], Target]


def severa_source(runtime: Runtime) -> Source:
    """The production source: ``SeveraSource`` on a ``SeveraClient`` with the tenant's API key."""
    from severa_sync.severa.source import SeveraSource

    return SeveraSource(runtime.severa_client, runtime.config, state=runtime.state)


def visma_source(runtime: Runtime) -> Source:
    """Types read from Visma.net (payments): their documents, with Severa's versions for the gate
    (they write into Severa)."""
    from severa_sync.targets.visma.source import VismaSource

    return VismaSource(
        runtime.visma_client, runtime.state, runtime.config, versions=lambda: runtime.source.versions()
    )


def visma_target(runtime: Runtime) -> Target:
    from severa_sync.targets.visma.target import VismaTarget

    return VismaTarget(
        runtime.visma_client, runtime.state, runtime.config.tenant, runtime.config, runtime.dependencies
    )


def severa_write_target(runtime: Runtime) -> Target:
    """Writes back into Severa (payments), on the Severa source's client (one session, one quota)."""
    from severa_sync.severa.writes import SeveraWriteTarget

    return SeveraWriteTarget(
        runtime.severa_client, runtime.state, runtime.config, dry_run=runtime.settings.SEVERA_SYNC_DRY_RUN
    )


def s3_target(runtime: Runtime) -> Target:
    import boto3

    from severa_sync.targets.s3 import S3ExportTarget

    return S3ExportTarget(boto3.client("s3"), runtime.state, runtime.config, clock=runtime.clock)


def production_targets() -> dict[TargetKind, TargetFactory]:
    return {TargetKind.VISMA: visma_target, TargetKind.S3: s3_target, TargetKind.SEVERA: severa_write_target}


def production_sources() -> dict[SourceKind, SourceFactory]:
    """Severa's is ``Runtime.source_factory`` (kept apart: the dependencies and the gate use it)."""
    return {SourceKind.VISMA: visma_source}


@dataclass
class Runtime:
    """The composition root: the engine and its adapters, built from the parts it is given.

    State, alerts, telemetry, secrets, the retry starter and the clock are given whole; the source
    and the targets as factories (``severa_source``, ``production_targets`` by default), built
    lazily per target kind so an hour-entries function never needs Visma.net credentials. Tests
    pass fakes or wrappers here; nothing reaches into a built runtime.
    """

    config: TenantConfig
    settings: RuntimeSettings
    state: StateStore
    alerts: Alerts
    telemetry: Telemetry
    secrets: SecretResolver
    deadline: Deadline = field(default_factory=Deadline)
    retry_starter: RetryStarts | None = None
    source_factory: SourceFactory = severa_source
    target_factories: dict[TargetKind, TargetFactory] = field(default_factory=production_targets)
    clock: Callable[[], datetime] = utcnow
    #: Sources of the types not read from Severa (``DataType.source``), built when first needed.
    source_factories: dict[SourceKind, SourceFactory] = field(default_factory=production_sources)
    _source: Source | None = field(default=None, init=False, repr=False)
    _sources: dict[SourceKind, Source] = field(default_factory=dict, init=False, repr=False)
    _targets: dict[TargetKind, Target] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settings.SEVERA_SYNC_DRY_RUN:
            from severa_sync.state.dry_run import DryRunState

            # Whatever store it was given: a dry run never changes state.
            self.state = DryRunState(self.state)

    @property
    def source(self) -> Source:
        """Severa: the source of every type but those read from Visma.net."""
        if self._source is None:
            self._source = self.source_factory(self)
        return self._source

    def source_for(self, dt: DataType) -> Source:
        if dt.source is SourceKind.SEVERA:
            return self.source
        if dt.source not in self._sources:
            if dt.source not in self.source_factories:
                raise ConfigError(f"no source is configured for data types read from {dt.source.value}")
            self._sources[dt.source] = self.source_factories[dt.source](self)
        return self._sources[dt.source]

    @functools.cached_property
    def severa_client(self) -> Any:
        """One Severa client per process (its session and quota tracker), shared by the source and
        the writes into Severa."""
        from severa_sync.severa.client import SeveraClient

        api_key = self.secrets.resolve(self.config.severa.api_key_secret)
        return SeveraClient(self.config, api_key, remaining_seconds=self.deadline)

    @functools.cached_property
    def visma_client(self) -> Any:
        """One Visma.net client per process (its token cache), shared by source and target."""
        from severa_sync.targets.visma.client import VismaClient

        secret = self.secrets.resolve(self.config.visma.client_secret_secret)
        return VismaClient(
            self.config.visma,
            secret,
            remaining_seconds=self.deadline,
            # The quota window's reset, on the runtime's clock (tests and the fault suite move it on).
            monotonic=lambda: self.clock().timestamp(),
        )

    def target_for(self, dt: DataType) -> Target:
        if self.settings.SEVERA_SYNC_DRY_RUN and dt.target is not TargetKind.SEVERA:
            raise ConfigError(
                f"a dry run only plans writes into Severa; {dt.name} writes to {dt.target.value}"
            )
        if dt.target not in self._targets:
            if dt.target not in self.target_factories:
                raise ConfigError(f"no target is configured for {dt.target.value} data types")
            self._targets[dt.target] = self.target_factories[dt.target](self)
        return self._targets[dt.target]

    @functools.cached_property
    def dependencies(self) -> Dependencies:
        """An account or case another record needs, synced on demand (``engine.dependencies``)."""
        return OnDemandDependencies(self.config.tenant, self.state, lambda: self.source, self.target_for)

    @functools.cached_property
    def engine(self) -> SyncEngine:
        return SyncEngine(
            config=self.config,
            source_for=self.source_for,
            target_for=self.target_for,
            state=self.state,
            alerts=self.alerts,
            telemetry=self.telemetry,
            clock=self.clock,
        )

    def start_retry(self, answer: dict[str, Any]) -> None:
        if self.retry_starter is None:
            return
        payload = RetryPayload.after(answer)
        self.retry_starter.start(payload, name=payload.name)


def build_runtime(settings: RuntimeSettings, config: TenantConfig) -> Runtime:
    secrets: SecretResolver = (
        EnvironmentSecrets() if settings.SECRETS_BACKEND == "env" else SecretsManagerSecrets()
    )
    if settings.STATE_BACKEND == "local":
        from severa_sync.alerts.sns import InMemoryAlerts
        from severa_sync.state.memory import MemoryStateStore
        from severa_sync.telemetry import CollectingTelemetry

        return Runtime(
            config,
            settings,
            MemoryStateStore(settings.STATE_FILE),
            InMemoryAlerts(),
            CollectingTelemetry(),
            secrets,
        )
    import boto3

    from severa_sync.alerts.sns import SnsAlerts
    from severa_sync.orchestration import RetryStarter
    from severa_sync.state.dynamodb import DynamoStateStore

    state = DynamoStateStore(boto3.client("dynamodb"), settings.STATE_TABLE or "")
    alerts: Alerts = (
        SnsAlerts(boto3.client("sns"), settings.ALERT_TOPIC_ARN)
        if settings.ALERT_TOPIC_ARN
        else (_NoAlerts())
    )
    starter = (
        RetryStarter(boto3.client("stepfunctions"), settings.RETRY_STATE_MACHINE_ARN)
        if settings.RETRY_STATE_MACHINE_ARN
        else None
    )
    return Runtime(config, settings, state, alerts, EmfTelemetry(), secrets, retry_starter=starter)


class _NoAlerts:
    def publish(self, alert: Any) -> None:
        from severa_sync.logs import logger

        logger.warning(f"Alert (no topic configured): {alert.kind}: {alert.summary}")


@dataclass
class _Container:
    """What one Lambda container keeps between invocations: the last good config and its runtime."""

    settings: RuntimeSettings
    config: LastGoodConfig
    runtime: Runtime | None = None


@functools.cache
def _container() -> _Container:
    settings = RuntimeSettings.from_environment()
    read, origin = config_reader(os.environ)
    on_rejected = functools.partial(report_rejected_config, settings)
    return _Container(settings, LastGoodConfig(read, origin=origin, on_rejected=on_rejected))


def get_runtime() -> Runtime:
    """Built once per container (warm starts reuse clients and the token cache), and built anew,
    whole, when the configuration document changed and validated."""
    container = _container()
    config = container.config.current()
    if container.runtime is None or container.runtime.config != config:
        container.runtime = build_runtime(container.settings, config)
    return container.runtime


def report_rejected_config(settings: RuntimeSettings, rejection: Rejection) -> None:
    """One error line and one alert per rejected document; a failed alert is logged, never raised."""
    from severa_sync.logs import logger

    error = rejection.error
    logger.error(
        f"Configuration rejected: {rejection.summary}",
        extra={
            "action": "configuration_rejected",
            "kept_last_good": rejection.kept_last_good,
            **error.as_log(),
        },
    )
    if settings.STATE_BACKEND != "dynamodb" or not settings.ALERT_TOPIC_ARN:
        return
    import boto3

    from severa_sync.alerts.sns import SnsAlerts
    from severa_sync.engine.ports import Alert
    from severa_sync.timeutil import utcnow

    now = utcnow()  # the tenant's zone is in the document that did not validate
    alert = Alert(
        kind=CONFIG_ALERT_KIND,
        tenant=rejection.tenant,
        data_type=None,
        summary=rejection.summary,
        run_id="none (no run started)",
        at_utc=now,
        at_local=now,
        logs_query=(
            "fields @timestamp, @log, error_message, kept_last_good "
            '| filter action = "configuration_rejected" | sort @timestamp desc'
        ),
    )
    try:
        SnsAlerts(boto3.client("sns"), settings.ALERT_TOPIC_ARN).publish(alert)
    except Exception as exc:  # SNS down or not allowed: the error line above is then the alert
        logger.error(f"Could not send the {CONFIG_ALERT_KIND} alert: {exc}", extra={"action": "alert_failed"})


def reset_runtime() -> None:
    """Forget the cached runtime (tests and the local run switch environments)."""
    _container.cache_clear()
