"""Fault-suite steps for issue 11 class 5 (one lock, one live invocation) and class 8 (answers over
the size limit for every type): their generators (``add_*``, hooked into ``schedule.generate``) and
how the world plays them (``play_lock_step``, hooked into ``World.apply``). Each generator has its
own random stream, so adding it shifts no other generator's choices."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from severa_sync_tools.retry_loop import RetryMachine, TaskFailed, aws_tasks

from . import checks
from .death import Killed
from .stack import TENANT, Container, function_name

if TYPE_CHECKING:
    from .schedule import Step
    from .world import World

#: A run's second attempt, same run id, while the first holds the lock (Step Functions retrying a
#: Lambda service error); and a retry execution whose first answer is lost after the run did its work.
LOCK_STEPS = ("same_run_attempt", "lost_answer")
#: Types whose every read may meet the tiny limit. Not hour entries (their day images decide alone)
#: nor invoices here: the invoice queue read still stops at one invoice per call over the limit.
CAPPED_TYPES = {"accounts", "cases", "absences"}
CAP_BYTES = 12_000


def add_size_cap(seed: int, types: list[str], settings: dict[str, Any]) -> None:
    """Answers over the limit for any mix of the capped types, not only invoices and absences."""
    rng = random.Random(seed * 7451 + 3)
    if "max_response_bytes" not in settings and set(types) <= CAPPED_TYPES and rng.random() < 0.3:
        settings["max_response_bytes"] = CAP_BYTES


def add_lock_steps(seed: int, steps: list[Step]) -> list[Step]:
    from .schedule import Step

    rng = random.Random(seed * 6151 + 11)
    out: list[Step] = []
    for step in steps:
        if step.kind == "run" and rng.random() < 0.2:
            during = [
                *step.args.get("during", []),
                (rng.randint(1, 60), Step("same_run_attempt", {"type": step.args["type"]})),
            ]
            step = Step("run", {**step.args, "during": during})
        out.append(step)
        if step.kind == "run" and rng.random() < 0.1:
            out.append(Step("lost_answer", {"type": step.args["type"]}))
    return out


def play_lock_step(world: World, step: Step) -> None:
    if step.kind == "same_run_attempt":
        same_run_attempt(world, step.args["type"])
    else:
        lost_answer(world, step.args["type"])


def same_run_attempt(world: World, data_type: str) -> None:
    """The retry's attempt starts in another container while the first is at this step."""
    run_ids = world.stack.warm().fate.current.run_ids
    holder = checks.paused_holder(world.systems, data_type, world.clock(), world.stack.warm().request_id)
    if holder is None or not run_ids:
        return  # the paused invocation does not hold the lock (not yet, no more): nothing to race
    event = {"data_type": data_type, "source": "retry", "attempt": 1, "run_id": run_ids[-1]}
    outcome = world.stack.invoke(data_type, event, Container(world.stack))
    answer = outcome.answer or {}
    if (answer.get("status"), answer.get("error_code")) != ("skipped", "lock_busy"):
        world.problems.append(
            f"a second attempt of run {run_ids[-1]} ran ({answer.get('status', 'died')}) while the "
            f"first held the {data_type} lock"
        )


def lost_answer(world: World, data_type: str) -> None:
    """A retry execution whose first invocation did its work but whose answer was lost (a Lambda
    service error): the machine must wait the lease out before it calls the same run again."""
    stack, started = world.stack, []

    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        started.append(world.clock())
        outcome = stack.invoke(data_type, event)
        if outcome.answer is None:
            raise Killed(outcome.died_at)
        if len(started) == 1:
            raise TaskFailed("Lambda.ServiceException", "the invocation's answer was lost")
        return outcome.answer

    machine = RetryMachine(
        stack.definition,
        tasks=aws_tasks(invoke, stack.aws.sns, stack.aws.dynamodb),
        sleep=stack.clock.advance,
    )
    payload = {
        "data_type": data_type,
        "tenant": TENANT,
        "function_name": function_name(data_type),
        "attempt": 0,
        "status": "partial",
        "run_id": f"{data_type}-lost-answer-{len(stack.outcomes)}",
    }
    try:
        machine.run(payload)
    except Killed:
        return
    lease = world.config.engine.lock_lease_seconds
    if len(started) > 1 and (started[1] - started[0]).total_seconds() <= lease:
        world.problems.append(
            f"the retry machine called run {payload['run_id']} again {started[1] - started[0]} after a lost "
            f"answer, inside the {lease}-second lease of the first attempt"
        )
    world.problems += checks.watermark_problems(world.systems, data_type)
