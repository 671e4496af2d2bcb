"""Bench 4: how many calls a run costs Severa's daily quota and Visma.net's rate limit.

One measured child runs every data type (dependencies first) four times against the seeded
simulators: the first run (backfill), an incremental run with nothing changed, one after N changes
per type (new "Ready for transfer" invoices for invoices), and an invoices run whose Visma.net
write commits and then times out (the unknown outcome). The driver counts the simulators' call
logs between runs (``stack.Handshake``). Changes are stamped three minutes back: inside the previous
run's overlap and before this run's skew margin, where a change made during the previous run lands.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from severa_sync import registry
from severa_sync_tools.bench.measure import BenchError, Figures, run_isolated, target_check
from severa_sync_tools.bench.stack import (
    EXPORT_BUCKET,
    Handshake,
    Simulators,
    build_runtime,
    lambda_clock,
    simulators,
)

PHASES = ("initial", "no_changes", "changes", "unknown_outcome")
INVOICE_WRITE = "POST /v2/customerinvoice"
#: The Visma.net client's timeout in this bench, and how long the simulator holds the answer back.
VISMA_TIMEOUT_SECONDS = 1.0
HELD_ANSWER_SECONDS = 2.0
#: Severa entity changed for each data type.
ENTITIES = {
    "accounts": "Customer",
    "cases": "Case",
    "products": "Product",
    "invoices": "Invoice",
    "hour_entries": "HourEntry",
    "absences": "Activity",
}
FIRST_BENCH_SERIAL = 900_000  # invoice serials well away from anything the seed or mass_update uses


def runs_per_day(expression: str) -> float:
    """Average runs per day of an EventBridge Scheduler expression of the shapes the registry's
    defaults use: ``rate(N unit)`` or ``cron(min hour dom month dow year)`` with ``*``, a single
    value or a comma list in the hour and day-of-week fields."""
    kind, _, body = expression.partition("(")
    fields = body.rstrip(")").split()
    if kind == "rate":
        per_day = {"minute": 1440, "minutes": 1440, "hour": 24, "hours": 24, "day": 1, "days": 1}
        return per_day[fields[1]] / int(fields[0])
    minutes, hours, dow = fields[0], fields[1], fields[4]
    per_hour = 1 if minutes.isdigit() else len(minutes.split(","))
    hourly = 24 if hours == "*" else len(hours.split(","))
    weekly = 7 if dow in ("*", "?") else len(dow.split(","))
    return per_hour * hourly * weekly / 7


def per_day(rows: list[Figures]) -> list[Figures]:
    """SOAP calls a day of quiet runs costs each type at its default schedule: the no-change round
    (which, for hour entries and absences, re-reads the whole reconciliation span) times its runs
    per day. Severa's quota is per day, so this is the figure that matters for it."""
    out = []
    for row in rows:
        if row["phase"] != "no_changes":
            continue
        schedule = registry.get(row["data_type"]).default_schedule
        runs = runs_per_day(schedule)
        out.append(
            {
                "data_type": row["data_type"],
                "schedule": schedule,
                "runs_per_day": round(runs, 2),
                "soap_calls_per_run": row["soap_calls"],
                "soap_calls_per_day": round(row["soap_calls"] * runs, 1),
            }
        )
    return out


def _plan() -> list[tuple[str, str]]:
    order = [dt.name for dt in registry.run_order()]
    return [
        (phase, name) for phase in PHASES for name in (order if phase != "unknown_outcome" else ["invoices"])
    ]


# --- the measured child ------------------------------------------------------------------------
def case_economy(config: dict[str, Any], handshake_dir: str) -> Figures:
    # moto in-process for the S3 exports (hour entries, absences); nothing leaves this process.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    import boto3
    from moto import mock_aws

    handshake = Handshake(handshake_dir)
    results: list[Figures] = []
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=EXPORT_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        engine = build_runtime(config).engine
        for phase, name in _plan():
            result = engine.run(name, remaining_seconds=lambda_clock())
            results.append({"phase": phase, **result.as_dict()})
            handshake.reached(f"{phase}:{name}")
    return {"results": results}


# --- the driver --------------------------------------------------------------------------------
def _new_invoices(sims: Simulators, count: int, first_serial: int) -> list[str]:
    from severa_sync_tools.simulators.severa.bulk import bulk_record

    at = sims.severa.now() - timedelta(minutes=3)
    made = []
    for serial in range(first_serial, first_serial + count):
        record = sims.severa.upsert("Invoice", bulk_record("Invoice", serial, at), at=at)
        made.append(str(record["Number"]))
    return made


def _make_changes(sims: Simulators, changes: int) -> dict[str, int]:
    at = sims.severa.now() - timedelta(minutes=3)
    out = {}
    for name, entity in ENTITIES.items():
        if name == "invoices":
            out[name] = len(_new_invoices(sims, changes, FIRST_BENCH_SERIAL))
        else:
            out[name] = len(sims.severa.mass_update(entity, changes, at=at))
    return out


def run(changes: int = 1000) -> Figures:
    plan = _plan()
    calls: dict[str, tuple[Counter[str], Counter[str]]] = {}
    changed: dict[str, int] = {}
    unknown_invoice: list[str] = []
    with simulators(seed=True) as sims, tempfile.TemporaryDirectory(prefix="severa-sync-bench-") as work:
        handshake = Handshake(work)
        config = sims.config(
            backfill_days=60, visma={**sims.config()["visma"], "timeout_seconds": VISMA_TIMEOUT_SECONDS}
        )
        outcome: dict[str, Any] = {}

        def child() -> None:
            try:
                outcome["figures"] = run_isolated(
                    f"{__name__}:case_economy",
                    {"config": config, "handshake_dir": work},
                    env=sims.child_env,
                    timeout=1800,
                )
            except BenchError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=child, name="bench-economy")
        worker.start()
        severa_mark = visma_mark = 0
        for index, (phase, name) in enumerate(plan):
            label = f"{phase}:{name}"
            if not handshake.wait_for(label, alive=worker.is_alive):
                break
            calls[label] = (sims.severa_calls(severa_mark), sims.visma_calls(visma_mark))
            severa_mark, visma_mark = len(sims.severa.calls), len(sims.visma.requests)
            following = plan[index + 1][0] if index + 1 < len(plan) else None
            if following == "changes" and phase == "no_changes":
                changed = _make_changes(sims, changes)
            elif following == "unknown_outcome" and phase == "changes":
                sims.visma.commit_then_timeout("/v2/customerinvoice", calls=1, delay=HELD_ANSWER_SECONDS)
                unknown_invoice = _new_invoices(sims, 1, FIRST_BENCH_SERIAL + changes)
            handshake.release(label)
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        copies = [
            i
            for i in sims.visma.invoices
            if unknown_invoice and unknown_invoice[0] in str(i.get("externalReference"))
        ]
    return _report(changes, changed, outcome["figures"]["results"], calls, len(copies))


def _report(
    changes: int,
    changed: dict[str, int],
    results: list[Figures],
    calls: dict[str, tuple[Counter[str], Counter[str]]],
    unknown_copies: int,
) -> Figures:
    rows = []
    for result in results:
        severa, visma = calls[f"{result['phase']}:{result['data_type']}"]
        rows.append(
            {
                "phase": result["phase"],
                "data_type": result["data_type"],
                "status": result["status"],
                "fetched": result["fetched"],
                "delivered": result["delivered"],
                "failed": result["failed"],
                "soap_calls": sum(severa.values()),
                "soap_calls_by_operation": dict(severa.most_common()),
                "visma_calls": sum(visma.values()),
                "visma_calls_by_endpoint": dict(visma.most_common()),
            }
        )
    happy = next(r for r in rows if r["phase"] == "changes" and r["data_type"] == "invoices")
    unknown = next((r for r in rows if r["phase"] == "unknown_outcome"), None)
    new_invoices = changed.get("invoices", 0)
    writes_per_invoice = (
        round(happy["visma_calls_by_endpoint"].get(INVOICE_WRITE, 0) / new_invoices, 2)
        if new_invoices
        else None
    )
    calls_per_invoice = round(happy["visma_calls"] / new_invoices, 2) if new_invoices else None
    unknown_writes = unknown["visma_calls_by_endpoint"].get(INVOICE_WRITE, 0) if unknown else None
    quiet = [r for r in rows if r["phase"] == "no_changes"]
    return {
        "changes_per_type": changed,
        "rows": rows,
        "per_day": per_day(rows),
        "invoices": {
            "happy_path_writes_per_invoice": writes_per_invoice,
            "happy_path_calls_per_invoice": calls_per_invoice,
            "unknown_outcome_writes": unknown_writes,
            "unknown_outcome_calls": unknown["visma_calls"] if unknown else None,
            "unknown_outcome_calls_by_endpoint": unknown["visma_calls_by_endpoint"] if unknown else {},
            "unknown_outcome_status": unknown["status"] if unknown else None,
            "unknown_outcome_delivered": unknown["delivered"] if unknown else None,
            "unknown_outcome_copies_in_visma": unknown_copies,
        },
        "targets": [
            target_check(
                "Visma.net writes per invoice, happy path",
                value=writes_per_invoice,
                target="1",
                met=writes_per_invoice == 1 if writes_per_invoice is not None else None,
            ),
            target_check(
                "invoice after commit-then-timeout: writes / copies in Visma.net",
                value=f"{unknown_writes} / {unknown_copies}",
                target="1 / 1",
                met=unknown_writes == 1 and unknown_copies == 1,
            ),
            target_check(
                "incremental run with no changes: Visma.net calls (all types)",
                value=sum(r["visma_calls"] for r in quiet),
                target="0",
                met=sum(r["visma_calls"] for r in quiet) == 0,
            ),
        ],
    }
