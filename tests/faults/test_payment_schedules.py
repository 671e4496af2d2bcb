"""Randomized fault schedules for the payments type's writes into Severa (issue 15).

Over real HTTP to both simulators, through the production adapters: payments made in Visma.net in
part and in full, while Severa commits a write and answers only after the client gave up, faults
one write, and Visma.net throttles (429) or fails its reads (503); operators rewind the watermark,
between runs and during one. After the faults stop and the runs settle, every document's payment
state is in Severa, and no write was made twice (``FAULT_SCHEDULES`` seeds, as the main suite).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from severa_sync.engine.engine import RunStatus
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma.simulator import VismaSimulator
from tests.payments.conftest import PARTLY_PAID, SEVERA_KEY, VISMA_SECRET, World

pytestmark = pytest.mark.faults

SCHEDULES = max(int(os.environ.get("FAULT_SCHEDULES", "200")) // 20, 4)
WRITES = ("IInvoice/SetInvoicePaymentDate", "IInvoice/SetInvoiceStatus")
#: Past the client's 2-second read timeout (tests/payments/conftest.py).
LATE_SECONDS = 2.6
SETTLE_RUNS = 4


@dataclass
class Played:
    steps: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f"  {i:2d}. {s}" for i, s in enumerate(self.steps, start=1))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    severa = SeveraSimulator(api_key=SEVERA_KEY, seed=True).start(port=0)
    visma = VismaSimulator(client_secret=VISMA_SECRET).start()
    severa.upsert("InvoiceStatus", {"Name": PARTLY_PAID, "IsActive": True, "SortOrder": 9})
    w = World(severa, visma, tmp_path / "state.json")
    for name in ("accounts", "cases", "invoices"):
        w.run(name)
    severa.reset_calls()
    yield w
    visma.stop()
    severa.stop()


def _pay(world: World, rng: random.Random, reference: str, played: Played) -> None:
    row = world.visma.ledger.invoices[reference]
    balance = Decimal(str(row.get("balance", row.get("amount", 0))))
    if balance <= 0:
        return
    day = (datetime.now(UTC) - timedelta(days=rng.randint(0, 9))).date().isoformat()
    if rng.random() < 0.5:
        world.visma.pay(reference, on=day)
        played.steps.append(f"pay {reference} in full on {day}")
    else:
        part = float(min(balance, Decimal(rng.choice((10, 50, 100)))))
        world.visma.pay(reference, amount=part, on=day)
        played.steps.append(f"pay {reference} {part} on {day}")


def _fault(world: World, rng: random.Random, played: Played) -> None:
    kind = rng.choice(("severa_late", "severa_late", "severa_fault", "visma_429", "visma_503"))
    if kind == "severa_late":
        operation = rng.choice(WRITES)
        world.severa.answer_late(LATE_SECONDS, operation=operation)
        played.steps.append(f"Severa commits {operation}, answers after the timeout")
    elif kind == "severa_fault":
        operation = rng.choice((*WRITES, "IInvoice/GetInvoiceByGUID"))
        world.severa.fail_next("GeneralFailureException", operation=operation)
        played.steps.append(f"Severa faults {operation}")
    elif kind == "visma_429":
        calls = rng.randint(1, 3)
        world.visma.throttle(calls=calls, retry_after=0.01)
        played.steps.append(f"Visma.net answers 429 to {calls} calls")
    else:
        world.visma.fail_5xx("/v1/customer", calls=1, status=503, method="GET")
        played.steps.append("Visma.net answers 503 to a read")


def _run(world: World, rng: random.Random, played: Played) -> None:
    runtime = world.runtime()
    during = rng.random() < 0.25
    if during:
        # An operator rewinds while the run is writing (the hand edit wins; nothing is lost).
        def rewind(_params: dict[str, Any]) -> None:
            world.severa.remove_hook("IInvoice/GetInvoiceByGUID", rewind)
            runtime.state.rewind("acme", "payments", datetime(2026, 1, 1, tzinfo=UTC), by="fault-suite")

        world.severa.on_call("IInvoice/GetInvoiceByGUID", rewind)
    result = runtime.engine.run("payments")
    if during:
        world.severa.clear_faults()  # the hook, had the run not reached it
    played.steps.append(f"run payments{' (rewound during it)' if during else ''}: {result.status.value}")


def _rewind(world: World, rng: random.Random, played: Played) -> None:
    hours = rng.randint(1, 96)
    state = world.runtime().state
    mark = state.read_watermark("acme", "payments").watermark
    if mark is not None:
        state.rewind("acme", "payments", mark - timedelta(hours=hours), by="fault-suite")
    played.steps.append(f"rewind payments by {hours} h")


def _expected(row: dict[str, Any]) -> tuple[str, str | None]:
    """(Severa status, payment date) the document's state calls for."""
    balance, amount = Decimal(str(row.get("balance", 0))), Decimal(str(row.get("amount", 0)))
    if balance <= 0:
        day = max(a["applicationDate"] for a in row["applications"])[:10]
        return "Paid", day
    if balance < amount:
        return PARTLY_PAID, None
    return "Transferred", None


def _problems(world: World) -> list[str]:
    problems = []
    for number, reference in world.transferred().items():
        row = world.visma.ledger.invoices[reference]
        status, day = _expected(row)
        invoice = world.invoice(int(number))
        paid = invoice.get("PaymentDate")
        if invoice.get("InvoiceStatus") != status or (paid.date().isoformat() if paid else None) != day:
            problems.append(
                f"invoice {number}: Severa {invoice.get('InvoiceStatus')!r} {paid}, Visma.net calls for "
                f"{status!r} {day}"
            )
    writes = Counter(
        (c.operation, c.params.get("invoiceGUID"), str(c.params.get("paymentDate") or c.params.get("status")))
        for c in world.severa.calls
        if c.operation in WRITES and c.status == 200
    )
    problems += [f"written {n} times: {key}" for key, n in writes.items() if n > 1]
    return problems


@pytest.mark.parametrize("seed", range(SCHEDULES), ids=lambda s: f"seed_{s}")
def test_payment_schedule(world: World, seed: int) -> None:
    rng = random.Random(f"payments-{seed}")
    played = Played()
    references = sorted(world.transferred().values())
    for _ in range(rng.randint(3, 7)):
        step = rng.choice(("pay", "pay", "fault", "run", "run", "rewind"))
        if step == "pay":
            _pay(world, rng, rng.choice(references), played)
        elif step == "fault":
            _fault(world, rng, played)
        elif step == "run":
            _run(world, rng, played)
        else:
            _rewind(world, rng, played)
    # Settle: the faults stop; the runs go on until one ends clean with nothing parked.
    world.severa.clear_faults()
    world.visma.faults.clear()
    for _ in range(SETTLE_RUNS):
        result = world.run("payments")
        parked = world.runtime().state.parked("acme", "payments")
        if result.status is RunStatus.SUCCEEDED and not parked:
            break
    else:
        pytest.fail(f"payments did not settle (last {result.status.value})\n{played}")
    problems = _problems(world)
    assert not problems, "\n".join(problems) + f"\n\nschedule payments-{seed}:\n{played}"
