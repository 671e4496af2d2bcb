"""The composition root takes its parts (issue 13 item 5): a ``Runtime`` built from fakes runs the
engine with the given clock, builds each adapter once and only when needed, and syncs a missing
dependency through the engine's ``Dependencies`` port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from severa_sync import registry
from severa_sync.config import parse_config
from severa_sync.engine.dependencies import OnDemandDependencies
from severa_sync.engine.ports import Delivery, Mapping, SourceRecord, Target, Window
from severa_sync.errors import ConfigError, MappingError, TargetRejected
from severa_sync.registry import DataType, TargetKind
from severa_sync.runtime import Runtime, RuntimeSettings, production_targets, severa_source
from severa_sync.secrets import EnvironmentSecrets
from severa_sync.state.memory import MemoryStateStore
from severa_sync.telemetry import CollectingTelemetry
from tests.fakes import FakeRow, FakeSource, ListAlerts, MemoryTarget

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNTS = registry.get("accounts")


class MappingTarget:
    """Delivers by writing the mapping, as the Visma.net target does (key ``V-<guid>``)."""

    def __init__(self, state: MemoryStateStore, tenant: str, *, reject: bool = False, forget: bool = False):
        self.state, self.tenant, self.reject, self.forget = state, tenant, reject, forget
        self.delivered: list[str] = []

    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        out = Delivery()
        for record in records:
            if self.reject:
                out.failed.append((record, TargetRejected("customer refused")))
                continue
            if not self.forget:
                mapping = Mapping(f"V-{record.key}", record.content_hash, NOW)
                self.state.put_mapping(self.tenant, data_type.name, record.key, mapping)
            self.delivered.append(record.key)
            out.delivered.append(record)
        return out

    def flush(self, data_type: DataType, window: Window | None) -> None: ...

    def last_call(self) -> None:
        return None


def _runtime(source: FakeSource, targets: dict[TargetKind, Target], built: list[str]) -> Runtime:
    def target_factory(kind: TargetKind):  # type: ignore[no-untyped-def]
        def make(runtime: Runtime) -> Target:
            built.append(kind.value)
            return targets[kind]

        return make

    def source_factory(runtime: Runtime) -> FakeSource:
        built.append("source")
        return source

    return Runtime(
        parse_config({"tenant": "acme"}),
        RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env"),
        MemoryStateStore(),
        ListAlerts(),
        CollectingTelemetry(),
        EnvironmentSecrets({}),
        source_factory=source_factory,
        target_factories={kind: target_factory(kind) for kind in targets},
        clock=lambda: NOW,
    )


def test_the_engine_runs_on_the_given_parts_and_clock() -> None:
    source, built = FakeSource(), []
    source.put("a-1", datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    target = MemoryTarget()
    runtime = _runtime(source, {TargetKind.VISMA: target}, built)
    assert built == []  # nothing is built before it is needed
    result = runtime.engine.run("accounts")
    assert result.status.value == "succeeded" and target.writes == ["a-1"]
    assert runtime.engine.clock() == NOW
    assert runtime.state.read_watermark("acme", "accounts").watermark is not None
    runtime.engine.run("accounts")
    assert built == ["source", "visma"]  # each adapter once per runtime


def test_a_type_without_a_target_is_a_configuration_error() -> None:
    runtime = _runtime(FakeSource(), {TargetKind.VISMA: MemoryTarget()}, [])
    with pytest.raises(ConfigError, match="no target"):
        runtime.target_for(registry.get("hour_entries"))


def test_production_parts_are_the_defaults() -> None:
    runtime = Runtime(
        parse_config({"tenant": "acme"}),
        RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env"),
        MemoryStateStore(),
        ListAlerts(),
        CollectingTelemetry(),
        EnvironmentSecrets({}),
    )
    assert runtime.source_factory is severa_source
    assert runtime.target_factories == production_targets()
    with pytest.raises(ConfigError, match="SEVERA_API_KEY"):
        _ = runtime.source  # the real source needs its secret: built only when asked for


def test_the_severa_source_and_the_writes_into_severa_share_one_client() -> None:
    runtime = Runtime(
        parse_config({"tenant": "acme"}),
        RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env"),
        MemoryStateStore(),
        ListAlerts(),
        CollectingTelemetry(),
        EnvironmentSecrets({"SEVERA_API_KEY": "key-never-logged"}),
    )
    source = runtime.source
    writes = runtime.target_for(registry.get("payments"))
    # One session and one quota tracker for Severa's daily quota, whoever makes the call.
    assert source.client is writes._client is runtime.severa_client  # type: ignore[attr-defined]


# --- engine.dependencies -----------------------------------------------------------------------
def _dependencies(**target: bool) -> tuple[OnDemandDependencies, FakeSource, MappingTarget, MemoryStateStore]:
    state, source = MemoryStateStore(), FakeSource()
    source.put("acc-1", NOW)
    sink = MappingTarget(state, "acme", **target)
    return OnDemandDependencies("acme", state, lambda: source, lambda dt: sink), source, sink, state


def test_a_known_dependency_is_its_mapping_and_reads_nothing() -> None:
    deps, source, sink, state = _dependencies()
    state.put_mapping("acme", "accounts", "acc-1", Mapping("5001", "h", NOW))
    source.gone_by_key.add("acc-1")
    assert deps.key_of("accounts", "acc-1") == "5001" and sink.delivered == []


def test_a_missing_dependency_is_read_by_key_and_delivered_first() -> None:
    deps, _, sink, _ = _dependencies()
    assert deps.key_of("accounts", "acc-1") == "V-acc-1" and sink.delivered == ["acc-1"]


@pytest.mark.parametrize(
    ("target", "gone", "message"),
    [
        ({}, True, "does not exist in Severa"),
        ({"reject": True}, False, "could not be created on demand: customer refused"),
        ({"forget": True}, False, "was delivered but has no Visma.net key"),
    ],
)
def test_a_dependency_that_cannot_be_had_is_a_mapping_error(target: dict, gone: bool, message: str) -> None:
    deps, source, _, _ = _dependencies(**target)
    if gone:
        source.gone_by_key.add("acc-1")
    with pytest.raises(MappingError, match=message):
        deps.key_of("accounts", "acc-1")


def test_the_runtime_injects_its_dependencies_into_the_targets() -> None:
    source = FakeSource()
    source.rows["acc-1"] = FakeRow("acc-1", NOW)
    runtime = _runtime(source, {}, [])
    sink = MappingTarget(runtime.state, "acme")  # type: ignore[arg-type]
    runtime.target_factories[TargetKind.VISMA] = lambda rt: sink
    assert isinstance(runtime.dependencies, OnDemandDependencies)
    assert runtime.dependencies.key_of(ACCOUNTS.name, "acc-1") == "V-acc-1"
