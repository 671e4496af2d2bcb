"""The sync engine's boundary: one call runs one data type for one tenant.

Order of a run: halts -> run lock -> version gate -> retry set -> read/deliver/checkpoint -> summary.
Every exception is caught here and classified (``errors.Disposition``); the result tells the caller
(the Lambda handler) whether to hand the run to the Step Functions long wait (``retry_later``) or to
continue at once (``partial``). Nothing escapes unclassified.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine import watermark as wm
from severa_sync.engine.ports import Alert, Alerts, RunSummary, Source, StateStore, Target, Versions
from severa_sync.engine.run import HandEdited, OutOfTime, Run, plural, run_by_kind
from severa_sync.errors import Disposition, SchemaVersionChanged, SyncError, TimeBudgetSpent
from severa_sync.logs import RunLog
from severa_sync.registry import DataType
from severa_sync.telemetry import RunMetrics, Telemetry
from severa_sync.timeutil import format_watermark, iso_seconds, local, utcnow


class RunStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # time budget spent: continue at once
    RETRY_LATER = "retry_later"  # Severa unavailable: wait and call again
    FAILED = "failed"
    HALTED = "halted"
    SKIPPED = "skipped"  # another run holds the lock, or the type is disabled


@dataclass(frozen=True, slots=True)
class RunResult:
    tenant: str
    data_type: str
    run_id: str
    status: RunStatus
    attempt: int
    fetched: int = 0
    delivered: int = 0
    skipped: int = 0
    failed: int = 0
    error_code: str | None = None
    watermark: str | None = None
    #: When the run ended, in UTC and in the tenant's zone (the retry machine's alert shows both).
    finished_utc: str | None = None
    finished_local: str | None = None

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["status"] = self.status.value
        return out


def new_run_id(data_type: str, clock: Callable[[], datetime] = utcnow) -> str:
    return f"{data_type}-{clock().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def logs_query(run_id: str) -> str:
    return (
        f'fields @timestamp, level, message, display_key, error_code, error_message | filter run_id = "{run_id}" '
        "| sort @timestamp asc"
    )


class SyncEngine:
    def __init__(
        self,
        *,
        config: TenantConfig,
        source: Source,
        target_for: Callable[[DataType], Target],
        state: StateStore,
        alerts: Alerts,
        telemetry: Telemetry,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.config = config
        self.source = source
        self.target_for = target_for
        self.state = state
        self.alerts = alerts
        self.telemetry = telemetry
        self.clock = clock

    # -- public --------------------------------------------------------------------------------
    def run(
        self,
        name: str,
        *,
        attempt: int = 0,
        run_id: str | None = None,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> RunResult:
        dt = registry.get(name)
        run_id = run_id or new_run_id(name, self.clock)
        log = RunLog(
            tenant=self.config.tenant,
            data_type=name,
            run_id=run_id,
            zone=self.config.zone,
            api_user=self.config.api_user,
            clock=self.clock,
        )
        started = self.clock()
        remaining = remaining_seconds or (lambda: float("inf"))
        log.info(f"{dt.noun} transfer started", action="run_started", attempt=attempt)
        started_runs: list[Run] = []  # the Run, once created, so counts survive an exception
        status, error_code = RunStatus.FAILED, None
        try:
            status = self._guarded(dt, log, run_id, remaining, started_runs)
        except (OutOfTime, TimeBudgetSpent):
            status = RunStatus.PARTIAL
            log.info(
                "Time budget spent: progress saved, the run continues in a new invocation", action="partial"
            )
        except HandEdited:
            status = RunStatus.SUCCEEDED
        except SchemaVersionChanged as error:
            status, error_code = RunStatus.HALTED, error.code
        except SyncError as error:
            status, error_code = self._classified(dt, log, run_id, error)
        except Exception as error:
            error_code = "unexpected"
            log.error(
                f"{dt.noun} transfer stopped by an unexpected error: {error}",
                error,
                previous_call=self.source.last_call(),
                action="run_failed",
            )
            self._alert(
                log,
                "unexpected_error",
                dt,
                run_id,
                f"The run stopped on an unexpected {type(error).__name__}.",
            )
        run = started_runs[0] if started_runs else None
        return self._finish(dt, log, run_id, run, status, error_code, attempt, started)

    # -- stages --------------------------------------------------------------------------------
    def _guarded(
        self, dt: DataType, log: RunLog, run_id: str, remaining: Callable[[], float], started_runs: list[Run]
    ) -> RunStatus:
        tenant = self.config.tenant
        if not self.config.type_settings(dt.name).enabled:
            log.info(f"{dt.noun} transfer is disabled in the configuration", action="disabled")
            return RunStatus.SKIPPED
        for halt in self.state.halts(tenant):
            if halt.data_type in (None, dt.name):
                scope = "the tenant" if halt.data_type is None else f"{plural(dt.noun)}"
                log.warning(
                    f"Not running: {scope} halted since {format_watermark(halt.since)} ({halt.code}: "
                    f"{halt.reason}). Clear the halt to resume (see docs/operations.md).",
                    action="halted",
                    halt_code=halt.code,
                )
                return RunStatus.HALTED
        lease = self.config.engine.lock_lease_seconds
        if not self.state.acquire_lock(tenant, dt.name, run_id, lease):
            log.info(
                f"Another {dt.noun.lower()} run holds the lock; this invocation ends without work",
                action="lock_busy",
            )
            return RunStatus.SKIPPED
        try:
            self._version_gate(dt, log, run_id)
            stored = self.state.read_watermark(tenant, dt.name)
            signpost = wm.signpost(self.clock(), self.source.server_time())
            run = Run(
                dt=dt,
                config=self.config,
                source=self.source,
                target=self.target_for(dt),
                state=self.state,
                log=log,
                run_id=run_id,
                signpost=signpost,
                remaining_seconds=remaining,
            )
            run.stored, run.expected_raw, run.current = stored, stored.raw, stored.watermark
            run.current_resume, run.window_seconds = stored.resume, stored.window_seconds
            log.info(
                f"Watermark {stored.raw or 'not set (first run)'}; signpost {format_watermark(signpost)}",
                action="run_planned",
                watermark_old=stored.raw,
                signpost=format_watermark(signpost),
            )
            started_runs.append(run)
            run_by_kind(run)
            if run.counts.fetched == 0:
                log.info(f"No {plural(dt.noun)} found", action="nothing_found")
            return RunStatus.SUCCEEDED
        finally:
            self.state.release_lock(tenant, dt.name, run_id)

    def _version_gate(self, dt: DataType, log: RunLog, run_id: str) -> None:
        tenant = self.config.tenant
        current = self.source.versions()
        stored = self.state.read_versions(tenant)
        if stored is None:
            self.state.write_versions(tenant, current)
            log.info(
                f"Stored Severa API version {current.api_version} and entity schema version "
                f"{current.schema_version}",
                action="versions_stored",
            )
            return
        if current.schema_version != stored.schema_version:
            reason = (
                f"Severa entity schema version changed from {stored.schema_version} to "
                f"{current.schema_version}; check the integration before clearing the halt"
            )
            # Store the new version now: clearing the halt is then the operator's acknowledgement.
            self.state.write_versions(tenant, Versions(current.api_version, current.schema_version))
            self.state.halt(tenant, None, "schema_change", reason)
            error = SchemaVersionChanged(reason)
            log.error(
                f"{reason}. All data types of the tenant are halted.",
                error,
                previous_call=self.source.last_call(),
                action="schema_changed",
            )
            self._alert(
                log,
                "schema_change",
                dt,
                run_id,
                "Severa's entity schema version changed; the tenant is halted "
                "until an operator acknowledges it.",
            )
            raise error
        if current.api_version != stored.api_version:
            log.warning(
                f"Severa API version changed from {stored.api_version} to {current.api_version}; continuing",
                action="api_version_changed",
            )
            self._alert(
                log,
                "api_version_change",
                dt,
                run_id,
                f"Severa API version changed from {stored.api_version} "
                f"to {current.api_version}; the run continued.",
            )
            self.state.write_versions(tenant, Versions(current.api_version, stored.schema_version))

    def _classified(self, dt: DataType, log: RunLog, run_id: str, error: SyncError) -> tuple[RunStatus, str]:
        previous = error.call or self.source.last_call()
        if error.disposition is Disposition.RETRY_LATER:
            log.error(
                f"{dt.noun} transfer paused: Severa is unavailable ({error.message}). Progress is saved; "
                "the run is tried again after the wait.",
                error,
                previous_call=previous,
                action="retry_later",
            )
            return RunStatus.RETRY_LATER, error.code
        log.error(
            f"{dt.noun} transfer stopped: {error.message}", error, previous_call=previous, action="run_failed"
        )
        if error.alert_kind:
            self._alert(
                log, error.alert_kind, dt, run_id, f"The run stopped: {type(error).__name__} ({error.code})."
            )
        return RunStatus.FAILED, error.code

    def _finish(
        self,
        dt: DataType,
        log: RunLog,
        run_id: str,
        run: Run | None,
        status: RunStatus,
        error_code: str | None,
        attempt: int,
        started: datetime,
    ) -> RunResult:
        counts = run.counts if run else None
        finished = self.clock()
        watermark = run.expected_raw if run else None
        result = RunResult(
            self.config.tenant,
            dt.name,
            run_id,
            status,
            attempt,
            counts.fetched if counts else 0,
            counts.delivered if counts else 0,
            counts.skipped if counts else 0,
            counts.failed if counts else 0,
            error_code,
            watermark,
            iso_seconds(finished),
            iso_seconds(local(finished, self.config.zone)),
        )
        if status not in (RunStatus.SKIPPED,):
            try:
                self.state.record_run(
                    self.config.tenant,
                    dt.name,
                    RunSummary(
                        run_id,
                        status.value,
                        result.fetched,
                        result.delivered,
                        result.skipped,
                        result.failed,
                        started,
                        finished,
                    ),
                )
                self.state.set_unavailable_attempts(
                    self.config.tenant, dt.name, attempt + 1 if status is RunStatus.RETRY_LATER else 0
                )
            except SyncError as error:  # state unreachable: the log still tells the story
                log.error(
                    f"Could not record the run summary: {error.message}", error, action="summary_failed"
                )
        if result.failed:
            self._alert(
                log,
                "record_errors",
                dt,
                run_id,
                f"{result.failed} {plural(dt.noun)} could not be transferred "
                "in this run; they are parked in the retry set.",
            )
        lag = (finished - run.current).total_seconds() if run and run.current else None
        self.telemetry.emit(
            RunMetrics(
                dt.name,
                result.fetched,
                result.delivered,
                result.skipped,
                result.failed,
                (finished - started).total_seconds(),
                lag,
                status is RunStatus.FAILED,
            )
        )
        log.info(
            f"{dt.noun} transfer ended",
            action="run_finished",
            status=status.value,
            fetched=result.fetched,
            delivered=result.delivered,
            skipped=result.skipped,
            failed=result.failed,
            dropped_overlap=counts.dropped_overlap if counts else 0,  # re-read by the overlap, not re-sent
            duration_seconds=round((finished - started).total_seconds(), 3),
            watermark_new=watermark,
        )
        log.close()
        return result

    def _alert(self, log: RunLog, kind: str, dt: DataType, run_id: str, summary: str) -> None:
        """Publish an alert; a failure to publish is logged, never allowed to hide the run's outcome."""
        now = self.clock()
        alert = Alert(
            kind=kind,
            tenant=self.config.tenant,
            data_type=dt.name,
            summary=summary,
            run_id=run_id,
            at_utc=now,
            at_local=local(now, self.config.zone),
            logs_query=logs_query(run_id),
        )
        try:
            self.alerts.publish(alert)
        except Exception as error:  # SNS down or not allowed: the log line is then the alert
            log.error(
                f"Could not send the {kind} alert ({summary}): {error}",
                error,
                action="alert_failed",
                alert_kind=kind,
            )
