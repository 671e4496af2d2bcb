"""The sync engine's boundary: one call runs one data type for one tenant.

Order of a run: halts -> run lock -> version gate -> retry set -> read/deliver/checkpoint -> summary.
Every exception is caught here and classified (``errors.Disposition``); the result tells the caller
(the Lambda handler) whether to hand the run to the Step Functions long wait (``retry_later``) or to
continue at once (``partial``). Nothing escapes unclassified.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.engine import watermark as wm
from severa_sync.engine.context import HandEdited, OutOfTime, counted, plural
from severa_sync.engine.lease import Lease, LockBusy
from severa_sync.engine.parked import DROPPED_ALERT, dropped_alert_summary
from severa_sync.engine.pause import report_pause
from severa_sync.engine.ports import (
    Alert,
    Alerts,
    Mapping,
    RetryItem,
    RunScopedTarget,
    RunSummary,
    Source,
    StateStore,
    Target,
    Versions,
)
from severa_sync.engine.progress import own_resume
from severa_sync.engine.reads import run_by_kind
from severa_sync.engine.run import Run
from severa_sync.errors import (
    Disposition,
    SchemaVersionChanged,
    SeveraResponseTooLarge,
    SyncError,
    TimeBudgetSpent,
)
from severa_sync.logs import RunLog
from severa_sync.registry import DataType
from severa_sync.telemetry import RunMetrics, Telemetry
from severa_sync.timeutil import format_watermark, iso_seconds, local, readable_duration, utcnow

#: A record_errors alert names at most this many records (the summary stays a postcard).
ALERT_RECORD_NAMES = 5


class RunStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    #: Done, but some records were parked in the retry set: never shown as plain "succeeded".
    SUCCEEDED_WITH_ERRORS = "succeeded_with_errors"
    PARTIAL = "partial"  # time budget spent: continue at once
    PAUSED = "paused"  # the target's quota window is spent: continue when it resets (engine/pause.py)
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
    #: Re-read by the overlap and dropped: fetched = delivered + skipped + failed + dropped_overlap.
    dropped_overlap: int = 0
    #: A paused run continues after this many seconds (the quota window's reset); 0 otherwise.
    resume_in_seconds: int = 0
    #: A paused run's estimate of the time until everything it read is delivered.
    eta_seconds: int | None = None

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
        source: Source | None = None,
        source_for: Callable[[DataType], Source] | None = None,
        target_for: Callable[[DataType], Target],
        state: StateStore,
        alerts: Alerts,
        telemetry: Telemetry,
        clock: Callable[[], datetime] = utcnow,
    ):
        if source_for is None:
            if source is None:
                raise TypeError("SyncEngine needs a source or source_for")
            only = source
            source_for = lambda dt: only  # noqa: E731 - one source for every type
        if source is not None:
            self.source = source  # the one source, when there is one (tests look at it)
        self.config = config
        #: The source of each type (Severa for all but the types that read Visma.net).
        self.source_for = source_for
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
        invocation_id: str | None = None,
    ) -> RunResult:
        """``invocation_id`` names this invocation (the Lambda request id) in its lock token: two
        invocations of one ``run_id`` never share a lock."""
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
        self.source_for(dt).forget_last_call()  # a warm container's last call belongs to another invocation
        log.info(f"{dt.noun} transfer started", action="run_started", attempt=attempt)
        started_runs: list[Run] = []  # the Run, once created, so counts survive an exception
        status, error_code, resume_in, eta = RunStatus.FAILED, None, 0, None
        try:
            status = self._guarded(dt, log, run_id, remaining, started_runs, invocation_id=invocation_id)
        except LockBusy:
            status, error_code = RunStatus.SKIPPED, "lock_busy"
        except (OutOfTime, TimeBudgetSpent) as out:
            stopped = out if isinstance(out, OutOfTime) else OutOfTime(out)
            if stopped.paused is not None:  # the target's quota window: pause until it resets
                status, error_code = RunStatus.PAUSED, stopped.paused.code
                pause = report_pause(dt, log, started_runs[0] if started_runs else None, stopped, attempt)
                resume_in, eta = pause.resume_in_seconds, pause.eta_seconds
                if pause.alert is not None:
                    self._alert(log, "quota", dt, run_id, pause.alert)
            else:
                status = RunStatus.PARTIAL
                log.info(
                    "Time budget spent: progress saved, the run continues in a new invocation",
                    action="partial",
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
                previous_call=self.source_for(dt).last_call(),
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
        return self._finish(dt, log, run_id, run, status, error_code, attempt, started, (resume_in, eta))

    # -- stages --------------------------------------------------------------------------------
    def _guarded(
        self,
        dt: DataType,
        log: RunLog,
        run_id: str,
        remaining: Callable[[], float],
        started_runs: list[Run],
        *,
        invocation_id: str | None = None,
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
        lease = Lease(
            self.state,
            tenant,
            dt.name,
            run_id=run_id,
            invocation_id=invocation_id,
            configured_seconds=self.config.engine.lock_lease_seconds,
            remaining_seconds=remaining,
            clock=self.clock,
        )
        if not lease.acquire():
            log.info(
                f"Another {dt.noun.lower()} invocation holds the lock (perhaps an earlier attempt of this "
                "run still going); this invocation ends without work",
                action="lock_busy",
            )
            raise LockBusy
        try:
            self._version_gate(dt, log, run_id)
            stored = own_resume(self.state.read_watermark(tenant, dt.name), log)
            signpost = wm.signpost(self.clock(), self.source_for(dt).server_time())
            target = self.target_for(dt)
            if isinstance(target, RunScopedTarget):
                target.begin_run(dt)
            run = Run(
                dt=dt,
                config=self.config,
                source=self.source_for(dt),
                target=target,
                state=self.state,
                log=log,
                run_id=run_id,
                signpost=signpost,
                remaining_seconds=remaining,
                stored=stored,
                keep_lock=lease.keep,
            )
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
            lease.release()

    def _version_gate(self, dt: DataType, log: RunLog, run_id: str) -> None:
        tenant = self.config.tenant
        current = self.source_for(dt).versions()
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
                previous_call=self.source_for(dt).last_call(),
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
        previous = error.call or self.source_for(dt).last_call()
        if isinstance(error, SeveraResponseTooLarge):
            # Splitting and fallbacks are spent: Severa answered, and waiting 10 minutes changes
            # nothing. Not "unavailable": stopped, alerted, the next schedule tries again.
            log.error(
                f"{dt.noun} transfer stopped: {error.message}. The answer stays too big at the smallest "
                "window; raise severa.max_response_bytes (docs/configuration.md)",
                error,
                previous_call=previous,
                action="run_failed",
            )
            self._alert(
                log,
                "response_too_large",
                dt,
                run_id,
                f"A Severa answer stayed over the size limit at the smallest window ({error.code}).",
            )
            return RunStatus.FAILED, error.code
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
            # An error may say more in its alert (e.g. the tenant's real invoice statuses).
            summary = getattr(error, "alert_summary", None)
            self._alert(
                log,
                error.alert_kind,
                dt,
                run_id,
                summary or f"The run stopped: {type(error).__name__} ({error.code}).",
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
        pause: tuple[int, int | None] = (0, None),
    ) -> RunResult:
        counts = run.counts if run else None
        finished = self.clock()
        watermark = run.progress.expected_raw if run else None
        if status is RunStatus.SUCCEEDED and counts and counts.failed:
            status = RunStatus.SUCCEEDED_WITH_ERRORS
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
            counts.dropped_overlap if counts else 0,
            *pause,
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
                        result.dropped_overlap,
                    ),
                )
                self.state.set_unavailable_attempts(
                    self.config.tenant, dt.name, attempt + 1 if status is RunStatus.RETRY_LATER else 0
                )
            except SyncError as error:  # state unreachable: the log still tells the story
                log.error(
                    f"Could not record the run summary: {error.message}", error, action="summary_failed"
                )
        if run is not None and result.failed:
            self._alert_new_record_errors(log, dt, run)
        if run is not None and run.records.dropped_not_found:
            summary = dropped_alert_summary(run.records.dropped_not_found, plural(dt.noun))
            self._alert(log, DROPPED_ALERT, dt, run_id, summary)
        lag = (finished - run.progress.current).total_seconds() if run and run.progress.current else None
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
                result.dropped_overlap,
            )
        )
        if run is not None and run.progress.expected_raw != run.stored.raw:
            # One line per run at INFO; each checkpoint's own line is DEBUG (see Run.checkpoint).
            log.info(
                f"Watermark advanced from {run.stored.raw or 'not set'} to {run.progress.expected_raw}",
                action="watermark_advanced",
                watermark_old=run.stored.raw,
                watermark_new=run.progress.expected_raw,
                checkpoints=run.progress.writes,
            )
        log.info(
            f"{dt.noun} transfer ended" + _outcome(status, result.failed),
            action="run_finished",
            status=status.value,
            fetched=result.fetched,
            delivered=result.delivered,
            skipped=result.skipped,
            failed=result.failed,
            dropped_overlap=counts.dropped_overlap if counts else 0,  # re-read by the overlap, not re-sent
            duration_seconds=round((finished - started).total_seconds(), 3),
            duration=readable_duration(finished - started),
            watermark_new=watermark,
        )
        log.close()
        return result

    def _alert_new_record_errors(self, log: RunLog, dt: DataType, run: Run) -> None:
        """``record_errors`` when the retry set gained a record or a parked record a new error;
        the same records failing the same way again is not news (it is in the last alert).

        What was alerted is remembered per record only after the alert went out, so a run that died
        (or could not publish) between parking and alerting is alerted by the next run."""
        tenant = self.config.tenant
        memory = f"{ALERTED_PREFIX}{dt.name}"
        try:
            parked = self.state.parked(tenant, dt.name)
            alerted = self.state.get_mappings(tenant, memory, [item.key for item in parked])
        except SyncError as error:  # cannot compare: better one alert too many than one too few
            log.error(f"Could not read the retry set: {error.message}", error, action="retry_set_unreadable")
            parked, alerted = None, {}
        if parked is None:
            fresh: list[RetryItem] = []
            news = [f"{run.counts.failed} {plural(dt.noun)}"]
            total = run.counts.failed
        else:
            fresh = [
                item
                for item in parked
                if item.key not in alerted or alerted[item.key].content_hash != _error_signature(item)
            ]
            if not fresh:
                if run.counts.failed:
                    log.info(
                        f"{counted(run.counts.failed, dt.noun)} failed again as before; no new alert",
                        action="record_errors_unchanged",
                    )
                return
            news = [_record_named(dt, item) for item in fresh[:ALERT_RECORD_NAMES]]
            if len(fresh) > ALERT_RECORD_NAMES:
                news.append(f"and {len(fresh) - ALERT_RECORD_NAMES} more")
            total = len(parked)
        sent = self._alert(
            log,
            "record_errors",
            dt,
            run.run_id,
            f"New record errors: {'; '.join(news)}. "
            f"{counted(total, dt.noun)} in the retry set in all; the next runs retry them.",
        )
        if not sent:
            return
        now = self.clock()
        try:
            for item in fresh:
                self.state.put_mapping(
                    tenant, memory, item.key, Mapping("record_errors", _error_signature(item), now)
                )
        except SyncError as error:  # the next run alerts these again: one alert too many, never none
            log.error(
                f"Could not remember the alerted record errors: {error.message}",
                error,
                action="summary_failed",
            )

    def _alert(self, log: RunLog, kind: str, dt: DataType, run_id: str, summary: str) -> bool:
        """Publish an alert; a failure to publish is logged, never allowed to hide the run's outcome.
        Returns whether it went out."""
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
            return False
        return True


#: Mapping-store type prefix of what ``record_errors`` already told, per parked record.
ALERTED_PREFIX = "alerted-"


def _record_named(dt: DataType, item: RetryItem) -> str:
    """A parked record as an alert names it: what people search Severa by (its display key, e.g.
    "Invoice number 10502"), the GUID the logs and the state use, and the error code."""
    display = item.display_key.strip()
    if not display or display == item.key:
        return f"{dt.log_label} with Severa GUID {item.key} ({item.last_error_code})"
    return f"{dt.log_label} {display} (Severa GUID {item.key}, {item.last_error_code})"


def _error_signature(item: RetryItem) -> str:
    """A parked record's error as alerted: a new error, or the record parked anew, is news."""
    text = f"{item.first_failed_at.isoformat()}|{item.last_error_code}|{item.last_error_message}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _outcome(status: RunStatus, failed: int) -> str:
    """The end line's verdict: a run with parked records says so in its first words."""
    if status is RunStatus.SUCCEEDED_WITH_ERRORS:
        return f": succeeded with {counted(failed, 'record error')}"
    return "" if status is RunStatus.SUCCEEDED else f": {status.value.replace('_', ' ')}"
