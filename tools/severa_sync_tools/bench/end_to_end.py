"""Bench 2: a mass update of N accounts sharing one timestamp, through the real engine, twice.

Severa (simulator, ``mass_update``) changes N customers at one instant ten minutes ago. The measured
child runs the accounts type as the Lambda handler would (``Runtime`` with the real adapters and the
product's default configuration, a 900 s time budget), then a second run right after with nothing
changed: the watermark stops at the shared timestamp, so the overlap re-reads all N, and the
overlap filter and the content hashes must keep Visma.net from hearing about them again.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from severa_sync_tools.bench.measure import (
    BenchError,
    Figures,
    current_rss_mb,
    peak_rss_mb,
    rate,
    run_isolated,
    target_check,
)
from severa_sync_tools.bench.stack import Handshake, build_runtime, lambda_clock, simulators

TARGET_PEAK_RSS_MB = 256.0
SEVERA_DAILY_QUOTA = 100_000  # calls per organisation per UTC day (reference §6)
RUNS = ("first", "second")


# --- the measured child ------------------------------------------------------------------------
def case_mass_update(config: dict[str, Any], handshake_dir: str) -> Figures:
    runtime = build_runtime(config)
    engine = runtime.engine
    handshake = Handshake(handshake_dir)
    figures: Figures = {"rss_before_mb": current_rss_mb(), "runs": []}
    for label in RUNS:
        started = time.perf_counter()
        result = engine.run("accounts", remaining_seconds=lambda_clock())
        seconds = time.perf_counter() - started
        figures["runs"].append(
            {
                "label": label,
                "seconds": round(seconds, 2),
                **result.as_dict(),
                "peak_rss_mb": peak_rss_mb(),
                "rss_after_mb": current_rss_mb(),
            }
        )
        handshake.reached(label)
    # The embedded store lives in this process (in Lambda it is DynamoDB): its share of the RSS.
    figures["state_items"] = len(runtime.state.items)
    figures["state_store_mb_approx"] = round(deep_size(runtime.state.items) / (1 << 20), 1)
    return figures


def deep_size(root: Any) -> int:
    """Bytes of ``root`` and everything it holds (containers and scalars; each object once)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
    return total


# --- the driver --------------------------------------------------------------------------------
#: (name, max_response_bytes override in MiB or None for the product default of 64 MiB).
SCENARIOS: tuple[tuple[str, int | None], ...] = (
    ("product defaults (answers up to 64 MiB)", None),
    ("answer limit raised to 256 MiB (one streamed answer)", 256),
)


def run(n: int = 100_000, scenarios: tuple[tuple[str, int | None], ...] = SCENARIOS) -> Figures:
    results = [_scenario(n, name, limit_mb) for name, limit_mb in scenarios]
    targets = []
    for result in results:
        first, second = result["runs"][0], (result["runs"][1] if len(result["runs"]) > 1 else None)
        targets += [
            target_check(
                f"end-to-end peak RSS, {n:,} accounts, {result['scenario']} (MB)",
                value=result["peak_rss_mb"],
                target=f"<= {TARGET_PEAK_RSS_MB:g} MB",
                met=result["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
            ),
            target_check(
                f"first run delivers every changed account, {result['scenario']}",
                value=f"{first['delivered']:,} of {n:,} ({first['status']})",
                target="all, succeeded",
                met=first["delivered"] == n and first["status"] == "succeeded",
            ),
            target_check(
                f"second run (nothing changed): Visma.net calls, {result['scenario']}",
                value=second["visma_calls"] if second else None,
                target="0",
                met=(second["visma_calls"] == 0) if second else None,
            ),
        ]
    return {"n": n, "scenarios": results, "targets": targets}


def _scenario(n: int, name: str, limit_mb: int | None) -> Figures:
    with simulators(seed=False) as sims, tempfile.TemporaryDirectory(prefix="severa-sync-bench-") as work:
        changed_at = sims.severa.now().replace(microsecond=0) - timedelta(minutes=10)
        sims.severa.mass_update("Customer", n, at=changed_at)
        config = sims.config()
        if limit_mb is not None:
            config["severa"] = {**config["severa"], "max_response_bytes": limit_mb << 20}
        handshake = Handshake(work)
        outcome: dict[str, Any] = {}

        def child() -> None:
            try:
                outcome["figures"] = run_isolated(
                    f"{__name__}:case_mass_update",
                    {"config": config, "handshake_dir": work},
                    env=sims.child_env,
                    timeout=3600,
                )
            except BenchError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=child, name="bench-e2e")
        worker.start()
        calls: dict[str, tuple[Counter[str], Counter[str]]] = {}
        severa_mark = visma_mark = 0
        for label in RUNS:
            if not handshake.wait_for(label, alive=worker.is_alive):
                break
            calls[label] = (sims.severa_calls(severa_mark), sims.visma_calls(visma_mark))
            severa_mark, visma_mark = len(sims.severa.calls), len(sims.visma.requests)
            handshake.release(label)
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
    return {"scenario": name, "n": n, **_summary(n, outcome["figures"], calls)}


def _summary(n: int, figures: Figures, calls: dict[str, tuple[Counter[str], Counter[str]]]) -> Figures:
    runs = []
    for run_figures in figures["runs"]:
        severa, visma = calls[run_figures["label"]]
        fetched, delivered = run_figures["fetched"], run_figures["delivered"]
        skipped, failed = run_figures["skipped"], run_figures["failed"]
        visma_total = sum(visma.values())
        runs.append(
            {
                "label": run_figures["label"],
                "status": run_figures["status"],
                "seconds": run_figures["seconds"],
                "fetched": fetched,
                "delivered": delivered,
                "skipped_by_content_hash": skipped,
                "dropped_by_overlap_filter": fetched - delivered - skipped - failed,
                "failed": failed,
                "changed_accounts_per_s": rate(n, run_figures["seconds"]),
                "peak_rss_mb": run_figures["peak_rss_mb"],
                "soap_calls": sum(severa.values()),
                "soap_calls_by_operation": dict(severa.most_common()),
                "soap_share_of_daily_quota_pct": round(100 * sum(severa.values()) / SEVERA_DAILY_QUOTA, 2),
                "visma_calls": visma_total,
                "visma_calls_by_endpoint": dict(visma.most_common()),
                "visma_calls_per_delivered_record": round(visma_total / delivered, 2) if delivered else None,
            }
        )
    return {
        "rss_before_mb": figures["rss_before_mb"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "state_items": figures["state_items"],
        "state_store_mb_approx": figures["state_store_mb_approx"],
        "log_lines": figures["log_lines"],
        "runs": runs,
    }
