"""Bench 7: a first run of N accounts under a simulated Visma.net quota (issue 16, item 2).

The Visma.net simulator enforces ``quota`` calls per hourly window (15,000: the VNI-era figure for
production clients) with 429 + ``Retry-After`` once spent, on a clock the bench moves on; the client's
quota clock follows it. The engine and the real adapters run in this process against both
simulators over HTTP. Each run that ends ``paused`` is continued the way the retry machine does it:
the clock moves on by the run's ``resume_in_seconds``, and the same run is invoked again. Counted:
quota windows until done, runs that failed, alerts, customers created twice, and how far the first
pause's "time to go" was from the simulated time the backfill really took.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from severa_sync_tools.bench.measure import Figures, target_check
from severa_sync_tools.bench.stack import build_runtime, lambda_clock, simulators

QUOTA = 15_000
WINDOW_SECONDS = 3600.0
MAX_RUNS = 60


def _visma_target(sims: Any) -> Any:
    """The production Visma.net target, its quota clock on the simulator's clock."""
    from severa_sync.runtime import Runtime
    from severa_sync.targets.visma.client import VismaClient
    from severa_sync.targets.visma.target import VismaTarget

    def factory(runtime: Runtime) -> Any:
        secret = runtime.secrets.resolve(runtime.config.visma.client_secret_secret)
        client = VismaClient(
            runtime.config.visma,
            secret,
            remaining_seconds=runtime.deadline,
            monotonic=lambda: time.monotonic() + sims.visma.clock_offset,
        )
        return VismaTarget(client, runtime.state, runtime.config.tenant, runtime.config, runtime.dependencies)

    return factory


def run(n: int = 100_000, quota: int = QUOTA) -> Figures:
    from severa_sync.logs import logger
    from severa_sync.registry import TargetKind

    level = logger.log_level
    logger.setLevel("WARNING")  # the report, not a progress line per batch
    try:
        with simulators(seed=True) as sims:
            sims.visma.quota, sims.visma.rate_limit = quota, quota
            sims.visma.quota_window_seconds = WINDOW_SECONDS
            os.environ.update(sims.child_env)
            runtime = build_runtime(sims.config(backfill_days=60))
            runtime.target_factories = {TargetKind.VISMA: _visma_target(sims)}
            sims.severa.mass_update("Customer", n, at=sims.severa.now() - timedelta(minutes=5))
            return _backfill(sims, runtime, n, quota)
    finally:
        logger.setLevel(level)


def _backfill(sims: Any, runtime: Any, n: int, quota: int) -> Figures:
    engine = runtime.engine
    started_wall = time.monotonic()
    statuses: list[str] = []
    first_eta: int | None = None
    first_pause_at: float | None = None
    result = engine.run("accounts", remaining_seconds=lambda_clock())
    run_id = result.run_id
    while True:
        statuses.append(result.status.value)
        if result.status.value != "paused" or len(statuses) >= MAX_RUNS:
            break
        if first_pause_at is None:  # the first pause's estimate (None: it could not count)
            first_eta = result.eta_seconds
            first_pause_at = time.monotonic() + sims.visma.clock_offset
        sims.visma.advance(result.resume_in_seconds)
        result = engine.run(
            "accounts", attempt=len(statuses), run_id=run_id, remaining_seconds=lambda_clock()
        )
    finished_at = time.monotonic() + sims.visma.clock_offset
    numbers = Counter(str(c["number"]) for c in sims.visma.customers)
    calls = sum(1 for _, path, _ in sims.visma.requests if "token" not in path)
    refused = sum(1 for _, _, status in sims.visma.requests if status == 429)
    real = finished_at - first_pause_at if first_pause_at is not None else None
    eta_error = (
        round(abs(first_eta - real) / real, 4) if first_eta is not None and real and real > 0 else None
    )
    # Each run after a pause starts in the next window: the runs are the windows used.
    windows = len(statuses)
    budget = quota - math.ceil(quota * runtime.config.visma.quota_reserve_percent / 100)
    alerts = [a.kind for a in runtime.alerts.published]
    failed = sum(1 for s in statuses if s == "failed")
    duplicates = sum(count - 1 for count in numbers.values() if count > 1)
    window_target = math.ceil(calls / quota) + 1
    return {
        "n": n,
        "quota": quota,
        "window_budget": budget,
        "runs": len(statuses),
        "statuses": dict(Counter(statuses)),
        "final_status": statuses[-1],
        "windows": windows,
        "visma_calls": calls,
        "refused_429": refused,
        "customers": len(numbers),
        "duplicates": duplicates,
        "alerts": alerts,
        "first_eta_seconds": first_eta,
        "real_seconds_after_first_pause": round(real) if real is not None else None,
        "eta_error": eta_error,
        "wall_seconds": round(time.monotonic() - started_wall, 1),
        "targets": [
            target_check(
                f"{n:,}-account first run under a {quota:,}/hour quota: quota windows until done",
                value=windows,
                target=f"<= ceil(calls / {quota:,}) + 1 = {window_target}",
                met=statuses[-1] == "succeeded" and windows <= window_target,
            ),
            target_check("... failed runs", value=failed, target="0", met=failed == 0),
            target_check("... alerts", value=len(alerts), target="0", met=not alerts),
            target_check("... customers created twice", value=duplicates, target="0", met=duplicates == 0),
            target_check(
                "... the first pause's time to go against the real finish (relative error)",
                value=eta_error,
                target="reported",
                met=None if eta_error is None else eta_error <= 0.1,
                note="met when within 10%",
            ),
        ],
    }
