"""Customers deleted at page boundaries while the paged ``GetAllCustomers`` fallback reads (issue 11
class 9): index paging shifts every later row down, so a plain next page skips one row per deletion.

The generator (``add_page_deletions``, its own random stream) opens a schedule of capped types with
a mass update too big for one answer, then the first accounts run, which must fall back to paging.
As that run starts reading, a ``page_deletions`` step arms the simulator (``SeveraSimulator.on_call``)
to delete customers Severa lists before where chosen pages start, just before those pages are
answered. Right after the run every customer still in Severa must be in Visma.net (nothing skipped);
then the deleted ones come back unchanged (``restore_deleted``): what happens to an account deleted in
Severa is not this generator's question (docs/not-transferred.md), and the later checks stay exact.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any

from severa_sync.datatypes.accounts import CUSTOMER_PAGE_SIZE
from severa_sync.severa.source import PAGE_OVERLAP

from .locks import CAP_BYTES, CAPPED_TYPES

if TYPE_CHECKING:
    from .schedule import Step
    from .world import World

PAGING_STEPS = ("many_customers", "page_deletions")
OPERATION = "ICustomer/GetAllCustomers"


def add_page_deletions(
    seed: int, types: list[str], settings: dict[str, Any], steps: list[Step]
) -> list[Step]:
    from .schedule import Step

    rng = random.Random(f"page-deletions-{seed}")
    eligible = "accounts" in types and set(types) <= CAPPED_TYPES and "max_response_bytes" not in settings
    if not eligible or rng.random() >= 0.3:
        return steps
    settings["max_response_bytes"] = CAP_BYTES  # the changed-since answer is too big: the fallback pages
    count = rng.randint(150, 330)
    pages = -(-(count + 3 - PAGE_OVERLAP) // (CUSTOMER_PAGE_SIZE - PAGE_OVERLAP))
    deletions = {
        "pages": sorted(rng.sample(range(1, pages), rng.randint(1, pages - 1))),
        "count": rng.choice((1, 1, 2, 3, PAGE_OVERLAP, PAGE_OVERLAP + 5)),
        "where": rng.choice(("boundary", "boundary", "first", "spread")),
        "seed": rng.randint(0, 999),
    }
    block = [
        Step("many_customers", {"count": count}),
        Step(
            "run", {"type": "accounts", "during_on": [("source.read", 1, Step("page_deletions", deletions))]}
        ),
        Step("advance", {"seconds": rng.randint(60, 900)}),
    ]
    # First (after the documents already in Visma.net): no fault of another step is pending, so
    # every row read is delivered, and a deleted one is not parked for a day.
    at = sum(1 for s in steps if s.kind == "foreign_document")
    return [*steps[:at], *block, *steps[at:]]


def play_paging_step(world: World, step: Step) -> None:
    if step.kind == "many_customers":
        world.clock.advance(61)
        before = {r["GUID"] for r in world.severa.records("Customer")}
        touched = world.company.sim.mass_update("Customer", step.args["count"], at=world.severa.now())
        world.paging_keys = set(touched) - before  # the victims: none the other records point at
        return
    args, rng, lock = step.args, random.Random(step.args["seed"]), threading.Lock()
    seen = [0]  # page calls after the first

    def before_page(params: dict[str, Any]) -> None:  # in the simulator's thread
        start = int(params.get("startFromIndex") or 0)
        with lock:
            if start == 0:
                return
            seen[0] += 1
            if seen[0] not in args["pages"]:
                return
        listed = [r for r in world.severa.records("Customer") if r.get("Number") is not None]
        before = [r for r in listed[:start] if r["GUID"] in world.paging_keys]
        count = min(args["count"], len(before))
        if args["where"] == "boundary":
            victims = before[len(before) - count :]
        elif args["where"] == "first":
            victims = before[:count]
        else:
            victims = rng.sample(before, count)
        for row in victims:
            world.page_deleted.append((row, world.severa.change_time("Customer", row["GUID"])))
            world.severa.delete("Customer", row["GUID"])

    world.page_hook = before_page
    world.severa.on_call(OPERATION, before_page)


def after_paging_run(world: World, outcomes: list[Any]) -> list[str]:
    """Nothing skipped by the paging the deletions shifted; then the deleted come back."""
    if world.page_hook is None:
        return []
    world.severa.remove_hook(OPERATION, world.page_hook)
    world.page_hook = None
    problems: list[str] = []
    if not world.page_deleted:
        problems.append("the page deletions never happened: the accounts run did not page GetAllCustomers")
    if any(o.answer and str(o.answer.get("status")).startswith("succeeded") for o in outcomes):
        numbers = {str(c.get("number")) for c in world.visma.customers}
        problems += [
            f"customer {row['Number']} was skipped by the paged read while others were deleted"
            for row in world.severa.records("Customer")
            if row.get("Number") is not None and str(row["Number"]) not in numbers
        ]
    restore_deleted(world)
    return problems


def restore_deleted(world: World) -> None:
    for row, changed in world.page_deleted:
        world.company.sim.upsert("Customer", row, at=changed or world.severa.now())
    world.page_deleted = []
