"""Commits later than the skew margin (issue 11 class 15): an hour entry or absence whose change
time is 300 s to an hour older than the moment its transaction commits (becomes visible). The
changed-since read never sees it; the reconciliation span re-reads its day (docs/operations.md), so
it must be in S3, with its content, after the next run of its type that succeeds (``lag_problems``).

Its own random stream (``add_commit_lag``), so adding it shifts no other generator's choices.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .checks import _line_problems, absence_week, hour_entry_partition, s3_lines

if TYPE_CHECKING:
    from .schedule import Step
    from .world import World

#: Changes that stamp a record (deletions carry no change time), by type.
LAGGING_CHANGES = {
    "hour_entries": ("edit_hour_entry", "move_hour_entry", "new_hour_entry"),
    "absences": ("edit_absence", "move_absence", "new_absence"),
}
#: The engine keeps its watermark this far behind the signpost for late commits; past it, only the
#: reconciliation finds them.
SKEW_MARGIN_SECONDS = 120
ENTITY = {"hour_entries": "HourEntry", "absences": "Activity"}


def add_commit_lag(seed: int, types: list[str], steps: list[Step]) -> list[Step]:
    """Before a run of an S3 type (preferably not its first), a change committed late."""
    from .schedule import Step

    rng = random.Random(f"commit-lag-{seed}")
    lagging = [name for name in types if name in LAGGING_CHANGES]
    if not lagging or rng.random() >= 0.3:
        return steps
    runs = [i for i, s in enumerate(steps) if s.kind == "run" and s.args["type"] in lagging]
    later = runs[1:] or runs
    at = rng.choice(later) if later else len(steps)
    data_type = steps[at].args["type"] if later else rng.choice(lagging)
    change = Step(
        "change",
        {"what": rng.choice(LAGGING_CHANGES[data_type]), "at": "lag", "seconds": rng.randint(300, 3600)},
    )
    return [*steps[:at], change, *steps[at:]]


def note_lagged(world: World, what: str, at: str, seconds: int, before: dict[str, datetime]) -> None:
    """Remember the records a change beyond the skew margin touched (those whose commit it moved)."""
    data_type = next((name for name, kinds in LAGGING_CHANGES.items() if what in kinds), None)
    if data_type is None or at != "lag" or seconds <= SKEW_MARGIN_SECONDS:
        return
    for key, committed in world.company.committed.items():
        if before.get(key) != committed:
            world.lagged[key] = data_type


def lag_problems(world: World, data_type: str, started: datetime, outcomes: list[Any]) -> list[str]:
    """After a run of ``data_type`` that succeeded: each late commit made before it is in S3."""
    if not any(
        o.data_type == data_type and o.answer and str(o.answer.get("status")).startswith("succeeded")
        for o in outcomes
    ):
        return []
    due = [
        key
        for key, name in world.lagged.items()
        if name == data_type and world.company.committed.get(key, started) <= started
    ]
    if not due:
        return []
    lines, problems = s3_lines(world.systems, data_type), []
    for key in due:
        del world.lagged[key]
        row = world.severa.get(ENTITY[data_type], key)
        if row is None:
            continue  # deleted since: the final checks want it gone from S3
        where = hour_entry_partition(row) if data_type == "hour_entries" else absence_week(row)
        members = ("Quantity", "Description") if data_type == "hour_entries" else ("Name", "StartDateTime")
        what = f"{data_type} {key} committed late"
        found = [line for partition, line in lines.get(key, []) if partition == where]
        if not found:
            problems.append(
                f"{what} ({SKEW_MARGIN_SECONDS}+ s after its change time) is not in {where} after the "
                "next run that succeeded"
            )
        else:
            problems += _line_problems(what, found[0], row, members)
    return problems
