"""Run metrics (CloudWatch EMF through powertools in Lambda; collected in memory elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

METRIC_NAMESPACE = "SeveraSync"


@dataclass(frozen=True, slots=True)
class RunMetrics:
    data_type: str
    fetched: int
    delivered: int
    skipped: int
    failed: int
    duration_seconds: float
    lag_seconds: float | None
    run_failed: bool
    #: Re-read by the overlap and dropped: fetched = delivered + skipped + failed + dropped_overlap.
    dropped_overlap: int = 0


class Telemetry(Protocol):
    def emit(self, metrics: RunMetrics) -> None: ...


@dataclass
class CollectingTelemetry:
    runs: list[RunMetrics] = field(default_factory=list)

    def emit(self, metrics: RunMetrics) -> None:
        self.runs.append(metrics)


class EmfTelemetry:
    """One EMF blob per run, dimension ``data_type`` (the template's alarms and dashboard use it)."""

    def emit(self, metrics: RunMetrics) -> None:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        emf = Metrics(namespace=METRIC_NAMESPACE)
        # Powertools keeps metric state per process and skips clearing when metrics are disabled:
        # start every run clean so dimensions never pile up across warm invocations.
        emf.clear_metrics()
        emf.add_dimension(name="data_type", value=metrics.data_type)
        emf.add_metric(name="RecordsFetched", unit=MetricUnit.Count, value=metrics.fetched)
        emf.add_metric(name="RecordsDelivered", unit=MetricUnit.Count, value=metrics.delivered)
        emf.add_metric(name="RecordsSkipped", unit=MetricUnit.Count, value=metrics.skipped)
        emf.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=metrics.failed)
        emf.add_metric(name="RecordsDroppedOverlap", unit=MetricUnit.Count, value=metrics.dropped_overlap)
        emf.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=metrics.duration_seconds)
        emf.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1 if metrics.run_failed else 0)
        if metrics.lag_seconds is not None:
            emf.add_metric(name="WatermarkLagSeconds", unit=MetricUnit.Seconds, value=metrics.lag_seconds)
        emf.flush_metrics()
