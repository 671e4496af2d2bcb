"""The shared Lambda handler: event parsing, retry hand-off, and that nothing escapes unclassified."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from severa_sync import registry
from severa_sync.config import parse_config
from severa_sync.errors import ConfigError, SeveraUnavailable, SyncError
from severa_sync.handler import handle
from severa_sync.orchestration import RetryPayload
from severa_sync.registry import TargetKind
from severa_sync.runtime import Deadline, Runtime, RuntimeSettings
from severa_sync.secrets import EnvironmentSecrets
from severa_sync.state.memory import MemoryStateStore
from severa_sync.telemetry import CollectingTelemetry
from tests.fakes import FakeSource, ListAlerts, MemoryTarget

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Context:
    function_name: str = "stack-accounts"
    aws_request_id: str = "req-1"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Starts:
    """``Runtime.retry_starter``: the payloads the handler hands to the retry machine."""

    started: list[RetryPayload] = field(default_factory=list)
    refuse: SyncError | None = None

    def start(self, payload: RetryPayload, name: str) -> str | None:
        if self.refuse is not None:
            raise self.refuse
        self.started.append(payload)
        return None


@dataclass
class Built:
    """A real ``Runtime`` built from fakes, and the fakes."""

    runtime: Runtime
    source: FakeSource
    starts: Starts

    @property
    def started(self) -> list[RetryPayload]:
        return self.starts.started


@pytest.fixture
def built() -> Built:
    source, starts, target = FakeSource(), Starts(), MemoryTarget()
    runtime = Runtime(
        parse_config({"tenant": "acme"}),
        RuntimeSettings(STATE_BACKEND="local", SECRETS_BACKEND="env"),
        MemoryStateStore(),
        ListAlerts(),
        CollectingTelemetry(),
        EnvironmentSecrets({}),
        retry_starter=starts,
        source_factory=lambda rt: source,
        target_factories={kind: (lambda rt: target) for kind in TargetKind},
    )
    return Built(runtime, source, starts)


@pytest.fixture
def runtime(built: Built) -> Runtime:
    return built.runtime


def test_schedule_event_runs_the_engine(built, runtime):
    answer = handle("accounts", {"data_type": "accounts", "source": "schedule"}, Context(), lambda: runtime)
    assert answer["status"] == "succeeded" and answer["function_name"] == "stack-accounts"
    assert built.started == []


def test_unavailable_from_the_schedule_starts_the_retry_machine_once(built, runtime):
    built.source.fail_on_read[1] = SeveraUnavailable("HTTP 503")
    answer = handle("accounts", {"source": "schedule"}, Context(), lambda: runtime)
    assert answer["status"] == "retry_later"
    assert [p.run_id for p in built.started] == [answer["run_id"]]
    [payload] = built.started
    assert (payload.function_name, payload.attempt, payload.status) == ("stack-accounts", 1, "retry_later")


def test_a_retry_machine_that_cannot_start_is_logged_and_the_answer_says_so(built, runtime, caplog):
    from severa_sync.orchestration import RetryStartFailed

    built.starts.refuse = RetryStartFailed("StartExecution of arn:sm failed: AccessDeniedException")
    built.source.fail_on_read[1] = SeveraUnavailable("HTTP 503")
    answer = handle("accounts", {"source": "schedule"}, Context(), lambda: runtime)
    assert (answer["status"], answer["retry_start_error"]) == ("retry_later", "retry_start_failed")
    line = next(r for r in caplog.records if getattr(r, "action", None) == "retry_start_failed")
    assert "next scheduled run continues" in line.getMessage() and line.levelname == "ERROR"
    assert (line.tenant, line.run_id) == (answer["tenant"], answer["run_id"])  # type: ignore[attr-defined]


def test_the_state_machine_invocation_only_answers(built, runtime):
    built.source.fail_on_read[1] = SeveraUnavailable("HTTP 503")
    answer = handle("accounts", {"source": "retry", "attempt": 4, "run_id": "r1"}, Context(), lambda: runtime)
    assert (answer["status"], answer["attempt"], answer["run_id"]) == ("retry_later", 4, "r1")
    assert built.started == []


def test_remaining_time_reaches_the_adapters(runtime):
    handle("accounts", {}, Context(remaining_ms=42_000), lambda: runtime)
    assert runtime.deadline() == 42.0


@pytest.mark.parametrize("event", [{"data_type": "invoices"}, {"attempt": "many"}])
def test_bad_events_fail_cleanly(runtime, event):
    answer = handle("accounts", event, Context(), lambda: runtime)
    assert answer["status"] == "failed" and answer["error_code"] == "invalid_configuration"


def test_bad_configuration_fails_cleanly():
    def broken():
        raise ConfigError("invalid configuration: tenant: bad")

    answer = handle("accounts", {}, Context(), broken)
    assert answer["status"] == "failed"


@pytest.mark.parametrize("dt", registry.DATA_TYPES, ids=lambda dt: dt.name)
def test_every_registry_type_has_a_thin_handler(dt):
    path = ROOT / "functions" / dt.name / "app.py"
    source = path.read_text(encoding="utf-8")
    assert f'make_handler("{dt.name}")' in source and len(source.splitlines()) < 10
    spec = importlib.util.spec_from_file_location(f"app_{dt.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler)


def test_run_order_puts_dependencies_first():
    order = [dt.name for dt in registry.run_order()]
    assert order.index("accounts") < order.index("cases") < order.index("invoices")


def test_a_missing_secret_is_a_failed_run_not_an_exception():
    class NoSecretRuntime:
        deadline = Deadline()

        @property
        def engine(self):
            raise ConfigError("secret 'SEVERA_API_KEY' is not set in the environment")

    answer = handle("accounts", {}, Context(), NoSecretRuntime)
    assert answer["status"] == "failed" and answer["error_code"] == "invalid_configuration"
