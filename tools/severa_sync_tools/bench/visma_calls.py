"""Bench 6: Visma.net calls per created and per updated record (issue 16, item 1).

A first run of N accounts, N cases and N invoices (every record new to Visma.net) through the real
engine and adapters against both simulators over HTTP; then N/10 of the accounts change and are
updated; then N/100 new invoices, one of whose POST commits and then times out (the unknown
outcome). The Visma.net simulator's request log is counted between runs; token calls are left out
(one per hour per process). The census (``targets/visma/census.py``) is counted in: its list reads
are what replaced the look-up per record.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from typing import Any

from severa_sync import registry
from severa_sync.registry import TargetKind
from severa_sync.targets.visma.census import CENSUS
from severa_sync_tools.bench.measure import Figures, target_check
from severa_sync_tools.bench.stack import TENANT, build_runtime, lambda_clock, simulators

INVOICE_WRITE = "POST /v2/customerinvoice"
INVOICE_LIST = "GET /v1/customerinvoice"
FIRST_SERIAL = 800_000  # bulk invoice serials away from the seed and other benches
#: The Visma.net client's timeout here, and how long the simulator holds the committed answer back.
TIMEOUT_SECONDS, HELD_SECONDS = 1.0, 2.0
CREATED_TARGET, UPDATED_TARGET = 1.02, 1.00


def _visma_calls(sims: Any, since: int) -> Counter[str]:
    return Counter(
        f"{method} {path}" if path.count("/") <= 2 else f"{method} {path.rsplit('/', 1)[0]}/{{key}}"
        for method, path, _ in sims.visma.requests[since:]
        if "token" not in path
    )


def _new_invoices(sims: Any, count: int, first: int) -> None:
    from severa_sync_tools.simulators.severa.bulk import bulk_record

    at = sims.severa.now() - timedelta(minutes=3)
    for serial in range(first, first + count):
        sims.severa.upsert("Invoice", bulk_record("Invoice", serial, at), at=at)


def run(n: int = 10_000) -> Figures:
    from severa_sync.logs import logger

    level = logger.log_level
    logger.setLevel("WARNING")  # in this process: the report, not 30,000 progress lines
    try:
        return _measure(n)
    finally:
        logger.setLevel(level)


def _measure(n: int) -> Figures:
    rows: list[Figures] = []
    with simulators(seed=True) as sims:
        os.environ.update(sims.child_env)  # the runtime's env secrets; this process only
        config = sims.config(backfill_days=60)
        config["visma"] = {**config["visma"], "timeout_seconds": TIMEOUT_SECONDS}
        runtime = build_runtime(config)
        engine = runtime.engine

        def measured(phase: str, name: str) -> Figures:
            mark = len(sims.visma.requests)
            result = engine.run(name, remaining_seconds=lambda_clock()).as_dict()
            calls = _visma_calls(sims, mark)
            row = {
                "phase": phase,
                "data_type": name,
                "status": result["status"],
                "delivered": result["delivered"],
                "failed": result["failed"],
                "visma_calls": sum(calls.values()),
                "by_endpoint": dict(calls.most_common()),
                "calls_per_record": round(sum(calls.values()) / result["delivered"], 4)
                if result["delivered"]
                else None,
            }
            rows.append(row)
            return row

        at = sims.severa.now() - timedelta(minutes=3)
        sims.severa.mass_update("Customer", n, at=at)
        sims.severa.mass_update("Case", n, at=at)
        _new_invoices(sims, n, FIRST_SERIAL)
        # Every Visma.net type, dependencies first (the seed's products before the invoices billing them).
        first = [
            measured("first run", dt.name) for dt in registry.run_order() if dt.target is TargetKind.VISMA
        ]

        changed_at = sims.severa.now() - timedelta(minutes=1)
        for guid in sims.severa.mass_update("Customer", n // 10, at=changed_at):
            # A change severa-sync sends (the name): a change to none of the fields it owns makes
            # no Visma.net call at all (targets/visma/customers.py), which is not what is measured.
            name = (sims.severa.get("Customer", guid) or {}).get("Name")
            sims.severa.upsert("Customer", {"GUID": guid, "Name": f"{name} (renamed)"}, at=changed_at)
        updated = measured("update", "accounts")

        census_before = runtime.state.get_mapping(TENANT, CENSUS, "invoice")
        sims.visma.commit_then_timeout("/v2/customerinvoice", calls=1, delay=HELD_SECONDS)
        _new_invoices(sims, max(n // 100, 2), FIRST_SERIAL + n)
        unknown = measured("unknown outcome", "invoices")
        census_after = runtime.state.get_mapping(TENANT, CENSUS, "invoice")
        retaken = int(census_before != census_after)
        copies = Counter(str(i.get("externalReference")) for i in sims.visma.invoices)
    return _report(n, first, updated, unknown, retaken, max(copies.values()))


def _report(
    n: int, first: list[Figures], updated: Figures, unknown: Figures, census_retaken: int, most_copies: int
) -> Figures:
    created = sum(r["delivered"] for r in first)
    first_calls = sum(r["visma_calls"] for r in first)
    per_created = round(first_calls / created, 4) if created else None
    per_updated = updated["calls_per_record"]
    # After the unknown outcome: the list reads beyond the census are the look-ups.
    look_ups = unknown["by_endpoint"].get(INVOICE_LIST, 0) - census_retaken
    extra = unknown["visma_calls"] - unknown["by_endpoint"].get(INVOICE_WRITE, 0) - census_retaken
    return {
        "n": n,
        "rows": [*first, updated, unknown],
        "created_records": created,
        "calls_per_created_record": per_created,
        "calls_per_updated_record": per_updated,
        "unknown_outcome_look_ups": look_ups,
        "unknown_outcome_extra_calls": extra,
        "most_copies_of_one_invoice": most_copies,
        "targets": [
            target_check(
                f"Visma.net calls per created record, first run of {n:,} accounts, cases and invoices "
                "(census included)",
                value=per_created,
                target=f"<= {CREATED_TARGET}",
                met=per_created is not None and per_created <= CREATED_TARGET,
            ),
            target_check(
                "Visma.net calls per updated record",
                value=per_updated,
                target=f"{UPDATED_TARGET:.2f}",
                met=per_updated == UPDATED_TARGET,
            ),
            target_check(
                "after an unknown outcome: look-ups / extra calls / copies of any invoice",
                value=f"{look_ups} / {extra} / {most_copies}",
                target="1 / 1 / 1",
                met=look_ups == 1 and extra == 1 and most_copies == 1,
            ),
        ],
    }
