"""Lines the AWS adapters log are the run's JSON lines: they carry run_id and tenant (moto)."""

from __future__ import annotations

from severa_sync.state import dynamodb
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.targets import s3
from tests.emitted import emitted_lines, run_log


def test_modules_log_through_the_service_logger() -> None:
    for module in (dynamodb, s3):
        assert module.log.name == f"severa-sync.{module.__name__}", module.__name__


def test_a_lock_not_released_is_logged_with_the_runs_keys(store: DynamoStateStore) -> None:
    assert store.acquire_lock("acme", "accounts", "run-a", 900)
    with run_log(tenant="acme", run_id="run-b"), emitted_lines() as lines:
        store.release_lock("acme", "accounts", "run-b")  # held by run-a: not released, logged
    line = next(line for line in lines() if "not released" in line["message"])
    assert line["message"] == "lock acme/accounts not released: held by another invocation or gone"
    assert (line["run_id"], line["tenant"], line["level"]) == ("run-b", "acme", "INFO")
