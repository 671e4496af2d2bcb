"""Randomized fault schedules over the real adapters and simulators: nothing lost, nothing twice.

Each seed generates a schedule (``schedule.generate``); a failure prints it with its replay command.
``FAULT_SCHEDULES=2000`` runs more of them locally.
"""

from __future__ import annotations

import os

import pytest

from severa_sync_tools.simulators.visma import VismaSimulator

from .capture import LogCapture
from .schedule import Schedule, generate
from .stack import Aws
from .world import play

SCHEDULES = int(os.environ.get("FAULT_SCHEDULES", "200"))

pytestmark = pytest.mark.faults


def assert_holds(schedule: Schedule, visma: VismaSimulator, aws: Aws, capture: LogCapture) -> None:
    try:
        report = play(schedule, visma, aws, capture)
    except Exception as error:  # the harness or the product broke outright: show what was played
        raise AssertionError(f"the schedule raised {error!r}\n\n{schedule.describe()}") from error
    assert report.world.stack.outcomes
    assert not report.problems, (
        f"{len(report.problems)} problem(s):\n- "
        + "\n- ".join(report.problems[:40])
        + "\n\n"
        + schedule.describe()
    )


#: Seeds whose parallel "concurrent" steps race on a loaded machine and do not replay exactly; each
#: passes alone. Empty since seed 121 was explained: its lock checks took the owner for the paused
#: invocation when it was a parallel thread's, which may let go meanwhile (checks.paused_holder).
RACY_SEEDS: set[int] = set()


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=False, reason="racy under load, see RACY_SEEDS"))
        if s in RACY_SEEDS
        else s
        for s in range(SCHEDULES)
    ],
    ids=lambda seed: f"seed_{seed}",
)
def test_random_schedule(seed: int, visma: VismaSimulator, aws: Aws, capture: LogCapture) -> None:
    assert_holds(generate(seed), visma, aws, capture)
