"""The whole product in-process, wired like ``runtime.Runtime`` but with a clock we move and a switch
that kills the "Lambda" at any step.

What is real: ``SeveraSource``/``SeveraClient`` over HTTP to the Severa simulator, ``VismaTarget`` /
``VismaClient`` over HTTP to the Visma.net simulator, ``S3ExportTarget``, ``DynamoStateStore`` and
``SnsAlerts`` on moto, the handler's ``handle`` and the retry state machine's own definition
(``infra/statemachines/retry.asl.json``) run by ``retry_loop.RetryMachine``. What is not: time (a
``Clock`` moved by hand, so waits cost nothing) and death (``Killed``, a ``BaseException`` the engine
cannot catch, raised by ``Fate`` between any two steps of a run: a port call, a record, an HTTP call).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from severa_sync import registry
from severa_sync.alerts.sns import SnsAlerts
from severa_sync.config import TenantConfig
from severa_sync.engine.ports import Source, Target
from severa_sync.handler import handle
from severa_sync.orchestration import RetryPayload
from severa_sync.registry import TargetKind
from severa_sync.runtime import Runtime, RuntimeSettings
from severa_sync.secrets import EnvironmentSecrets, Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.source import SeveraSource
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.targets.s3 import S3ExportTarget
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.target import VismaTarget
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.retry_loop import RetryMachine, aws_tasks, load_definition
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator

from .death import (
    FateRef,
    Killable,
    KillableSession,
    KillableSource,
    KillableState,
    KillableTarget,
    Killed,
)

ROOT = Path(__file__).resolve().parents[2]
RETRY_DEFINITION = ROOT / "infra" / "statemachines" / "retry.asl.json"
TENANT = "acme"
#: The Lambda's own timeout is 900 s; the remaining time an unhurried invocation reports.
FULL_BUDGET = 900.0


def noop_sleep(_seconds: float) -> None:
    """Waits cost nothing here: the clock is moved by hand where time matters."""


class Clock:
    """Our clock; the Severa simulator's follows it (plus the schedule's skew) on every move."""

    def __init__(self, start: datetime, severa: SeveraSimulator, visma: VismaSimulator | None = None):
        self.now = start
        self.severa = severa
        self.visma = visma  # its quota windows pass with our time
        self.skew = timedelta(0)
        self._lock = threading.Lock()
        self.sync()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sync(self) -> None:
        self.severa.set_clock(frozen_at=self.now, offset=self.skew)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)
        self.sync()
        if self.visma is not None and seconds > 0:
            self.visma.advance(seconds)

    def set_skew(self, skew: timedelta) -> None:
        self.skew = skew
        self.sync()


# --- invocations ---------------------------------------------------------------------------------
class Countdown:
    """A Lambda's remaining time as the handler sees it: ``start`` seconds, less ``step`` seconds for
    every step of work done since the invocation began (time passes as work happens, not as it is
    looked at)."""

    def __init__(self, start: float = FULL_BUDGET, step: float = 0.0):
        self.start, self.step = start, step
        self.fate: FateRef | None = None
        self.began = 0

    def begin(self, fate: FateRef) -> None:
        self.fate, self.began = fate, fate.current.steps

    def __call__(self) -> float:
        done = 0 if self.fate is None else self.fate.current.steps - self.began
        return max(self.start - self.step * done, 0.0)


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str
    budget: Countdown

    def get_remaining_time_in_millis(self) -> int:
        return int(self.budget() * 1000)


def function_name(data_type: str) -> str:
    return f"severa-sync-{data_type.replace('_', '-')}"


class RetryStarts:
    """``Runtime.retry_starter``: what the handler would start in Step Functions, queued here."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def start(self, payload: RetryPayload, name: str) -> str | None:
        with self._lock:
            # As Step Functions gets it: the JSON the state machine reads.
            self.pending.append(RetryPayload.parse(payload.as_input()).model_dump())
        return None

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            taken, self.pending = self.pending, []
        return taken


@dataclass
class Aws:
    """One schedule's resources in moto (fresh names per schedule: nothing carries over)."""

    dynamodb: Any
    s3: Any
    sns: Any
    table: str
    bucket: str
    topic_arn: str


class SeveraSession(KillableSession):
    """Also counts the HTML pages (HTTP 200, text/html) Severa's URL answered: the invocations that
    met one are held to ``reader_faults.html_problems``."""

    def __init__(self, fate: FateRef, container: Container):
        super().__init__(fate, "severa")
        self.container = container

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, *args, **kwargs)
        media = response.headers.get("Content-Type", "")
        if response.status_code == 200 and media.startswith("text/html"):
            self.container.html_pages += 1
        return response


class Container:
    """One warm Lambda container: its runtime (clients, token cache, quota tracker) and its fate."""

    def __init__(self, stack: Stack, fate: FateRef | None = None):
        self.fate = fate = fate or FateRef()
        self.html_pages = 0
        #: The request this container is running now (None between invocations): a step that
        #: pauses the main invocation knows which lock owner cannot let go meanwhile.
        self.request_id: str | None = None
        config = stack.config
        sleep = noop_sleep
        self.state = KillableState(
            DynamoStateStore(stack.aws.dynamodb, stack.aws.table, clock=stack.clock, sleep=sleep),
            fate,
            "state",
        )

        def source(runtime: Runtime) -> Source:
            severa = SeveraClient(
                config,
                Secret(stack.secrets["SEVERA_API_KEY"]),
                remaining_seconds=runtime.deadline,
                session=SeveraSession(fate, self),
                sleep=sleep,
            )
            return KillableSource(SeveraSource(severa, config), fate, "source")

        def visma_target(runtime: Runtime) -> Target:
            visma = VismaClient(
                config.visma,
                Secret(stack.secrets["VISMA_CLIENT_SECRET"]),
                session=KillableSession(fate, "visma"),
                remaining_seconds=runtime.deadline,
                sleep=sleep,
                retry_backoff_seconds=0.0,
                monotonic=lambda: stack.clock().timestamp(),  # quota windows pass with our time
            )
            target = VismaTarget(visma, runtime.state, TENANT, config, runtime.dependencies)
            return KillableTarget(target, fate, "visma_target")

        def s3_target(runtime: Runtime) -> Target:
            s3: Any = Killable(stack.aws.s3, fate, "s3")  # the boto3 client, each call a step
            return KillableTarget(
                S3ExportTarget(s3, runtime.state, config, clock=runtime.clock), fate, "s3_target"
            )

        # Built like ``runtime.build_runtime`` builds it, from these parts: our clock, the killable
        # adapters, and the retry starts queued instead of sent to Step Functions.
        runtime = Runtime(
            config,
            RuntimeSettings(STATE_TABLE=stack.aws.table, SECRETS_BACKEND="env"),
            self.state,
            Killable(SnsAlerts(stack.aws.sns, stack.aws.topic_arn), fate, "alerts"),
            CollectingTelemetry(),
            EnvironmentSecrets(stack.secrets),
            retry_starter=stack.retry_starts,
            source_factory=source,
            target_factories={TargetKind.VISMA: visma_target, TargetKind.S3: s3_target},
            clock=stack.clock,
        )
        self.runtime = runtime

    @property
    def dead(self) -> bool:
        return self.fate.current.dead


@dataclass
class Outcome:
    """One Lambda invocation as the caller saw it (``answer`` None: the Lambda died)."""

    data_type: str
    event: dict[str, Any]
    answer: dict[str, Any] | None
    died_at: str | None = None
    run_id: str | None = None
    #: HTML pages Severa's URL answered during this invocation (``SeveraSession``).
    html_pages: int = 0


class Stack:
    """The product for one schedule: config, clock, AWS resources, the retry machine, containers."""

    def __init__(
        self,
        *,
        config: TenantConfig,
        clock: Clock,
        aws: Aws,
        secrets: dict[str, str],
        severa: SeveraSimulator,
    ):
        self.config, self.clock, self.aws, self.secrets, self.severa = config, clock, aws, secrets, severa
        self.retry_starts = RetryStarts()
        self.container: Container | None = None
        self.outcomes: list[Outcome] = []
        self.executions: list[Any] = []
        self._requests = 0
        self._lock = threading.Lock()
        self.definition = load_definition(
            RETRY_DEFINITION,
            {
                "RetryWaitSeconds": "600",  # the template's default; the clock moves, nothing sleeps
                "MaxAttempts": "15",
                "MaxContinuations": "100",
                "AlertTopicArn": aws.topic_arn,
                "StateTableName": aws.table,
            },
        )
        #: Countdowns for the next invocations (then full budgets): a run that spends its time.
        self.budgets: list[Countdown] = []

    # -- containers -----------------------------------------------------------------------------
    def warm(self) -> Container:
        """The current container, or a cold start when there is none or it died."""
        if self.container is None or self.container.dead:
            self.container = Container(self)
        return self.container

    def cold(self) -> None:
        """Forget the warm container (a new UTC day, a deploy, an idle timeout)."""
        self.container = None

    # -- one invocation -------------------------------------------------------------------------
    def invoke(self, data_type: str, event: dict[str, Any], container: Container | None = None) -> Outcome:
        container = container or self.warm()
        with self._lock:
            self._requests += 1
            request_id = f"req-{self._requests}"
            budget = self.budgets.pop(0) if self.budgets else Countdown()
        budget.begin(container.fate)
        context = LambdaContext(function_name(data_type), request_id, budget)
        fate = container.fate.current
        before, pages = len(fate.run_ids), container.html_pages
        container.request_id = request_id
        try:
            answer = handle(data_type, event, context, lambda: container.runtime)
        except Killed as death:
            outcome = Outcome(data_type, event, None, str(death), _last(fate.run_ids, before))
        else:
            outcome = Outcome(data_type, event, answer, None, answer.get("run_id"))
        finally:
            container.request_id = None
        outcome.html_pages = container.html_pages - pages
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def scheduled(self, data_type: str, container: Container | None = None) -> Outcome:
        """What EventBridge Scheduler does, then the retry executions the handler started."""
        outcome = self.invoke(data_type, {"data_type": data_type, "source": "schedule"}, container)
        self.run_retry_executions(container)
        return outcome

    def run_retry_executions(self, container: Container | None = None) -> None:
        for payload in self.retry_starts.take():
            self.run_retry_machine(payload, container)

    def run_retry_machine(self, payload: dict[str, Any], container: Container | None = None) -> Any:
        def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
            data_type = next(dt.name for dt in registry.DATA_TYPES if function_name(dt.name) == name)
            outcome = self.invoke(data_type, event, container if container and not container.dead else None)
            if outcome.answer is None:
                # The Task fails with Lambda.Unknown; the definition does not retry it: the
                # execution fails and the next schedule picks up (the death ends this loop too).
                raise Killed(outcome.died_at)
            return outcome.answer

        machine = RetryMachine(
            self.definition,
            tasks=aws_tasks(invoke, self.aws.sns, self.aws.dynamodb),
            sleep=self.clock.advance,
        )
        try:
            execution = machine.run(payload)
        except Killed:
            execution = None
        with self._lock:
            self.executions.append(execution)
        return execution


def _last(items: list[str], after: int) -> str | None:
    return items[-1] if len(items) > after else None
