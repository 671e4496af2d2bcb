"""An invoice written through the background API whose job outlives the invocation that sent it.

The simulator's jobs here make their write only when they finish (``slow_background``), as a long job
in the real ERP: until then no look-up finds the invoice, so only the remembered job id stands between
a second attempt and a second invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import OutcomeUnknown, TargetUnavailable
from severa_sync_tools.simulators.visma import VismaSimulator

from .conftest import Harness
from .test_target import INVOICES, _invoice, _posts, _with_dependencies

POSTS = "/v2/customerinvoice"


class Clock:
    """The Lambda's remaining time; ``run_out_on_poll`` spends it at the first background poll wait."""

    def __init__(self) -> None:
        self.left = 600.0
        self.run_out_on_poll = False

    def __call__(self) -> float:
        return self.left

    def on_sleep(self, _: float) -> None:
        if self.run_out_on_poll:
            self.left = 2.5  # enough for a look-up, not for another poll


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def h(sim: VismaSimulator, make_harness: Callable[..., Harness], clock: Clock) -> Harness:
    harness = make_harness(background_threshold_lines=1, remaining=clock)
    harness.sleeps.hook = clock.on_sleep
    _with_dependencies(harness)
    return harness


def _state_polls(sim: VismaSimulator) -> list[int]:
    return [status for method, path, status in sim.requests if path.startswith("/v1/background/")]


def _pending(h: Harness) -> str | None:
    found = h.store.pending_job("demo", "10501")
    return None if found is None else found.job_id


def _remembered_hours_ago(h: Harness, hours: float) -> None:
    """Age the remembered job, as if the attempt that queued it ran ``hours`` ago."""
    found = h.store.pending_job("demo", "10501")
    assert found is not None and found.job_id
    h.store.remember_job("demo", replace(found, queued_at=found.queued_at - timedelta(hours=hours)))


def _first_attempt_runs_out_of_time(h: Harness, clock: Clock, invoice: SourceRecord) -> str:
    clock.run_out_on_poll = True
    first = h.target.deliver(INVOICES, [invoice])
    clock.left, clock.run_out_on_poll = 600.0, False
    [(_, error)] = first.failed
    assert isinstance(error, OutcomeUnknown) and "still running" in str(error)
    assert _posts(h.sim, POSTS) == [202] and h.sim.invoices == []
    return str(error.detail["background_id"])


def test_a_job_still_running_is_never_sent_again_and_is_linked_once_it_finishes(
    h: Harness, clock: Clock
) -> None:
    h.sim.slow_background(polls=5)
    invoice = _invoice(10501)
    job_id = _first_attempt_runs_out_of_time(h, clock, invoice)

    # The next runs (a partial run continues at once): the job still runs, nothing is sent.
    for attempt in range(4):
        again = h.target.deliver(INVOICES, [invoice])
        assert _posts(h.sim, POSTS) == [202], attempt  # never a second POST while the job runs
        [(_, error)] = again.failed
        assert isinstance(error, OutcomeUnknown) and h.sim.invoices == []
        assert "still running" in str(error) and error.detail["background_id"] == job_id
        assert _pending(h) == job_id  # remembered in the state store, keyed by externalReference

    # The job has finished: linked to the invoice it made, no POST, the job forgotten.
    done = h.target.deliver(INVOICES, [invoice])
    assert [r.key for r in done.delivered] == ["inv-10501"] and not done.failed
    [created] = h.sim.invoices
    assert created["externalReference"] == "10501" and len(created["invoiceLines"]) == 2
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == created["referenceNumber"]  # type: ignore[union-attr]
    assert _pending(h) is None
    assert _posts(h.sim, POSTS) == [202]
    assert _state_polls(h.sim) == [200] * 6  # one poll per attempt, never more

    h.sim.expire_background()  # a day later: still exactly one invoice
    assert len(h.sim.invoices) == 1


def test_a_job_whose_state_expired_is_settled_by_the_look_up(h: Harness, clock: Clock) -> None:
    h.sim.slow_background(polls=5)
    invoice = _invoice(10501)
    _first_attempt_runs_out_of_time(h, clock, invoice)
    h.sim.expire_background()  # 24 hours pass: the job finished long ago, its state is gone
    _remembered_hours_ago(h, 25)

    later = h.target.deliver(INVOICES, [invoice])
    assert later.delivered and _posts(h.sim, POSTS) == [202]
    [created] = h.sim.invoices
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == created["referenceNumber"]  # type: ignore[union-attr]
    assert _state_polls(h.sim)[-1] == 404 and _pending(h) is None


def test_a_job_unknown_to_visma_within_24_hours_keeps_the_invoice_parked(h: Harness, clock: Clock) -> None:
    h.sim.slow_background(polls=5)
    invoice = _invoice(10501)
    _first_attempt_runs_out_of_time(h, clock, invoice)
    h.sim.expire_background()  # a 404 although the job was queued minutes ago: it may still run

    later = h.target.deliver(INVOICES, [invoice])
    [(_, error)] = later.failed
    assert isinstance(error, OutcomeUnknown) and "24 hours" in error.message
    assert _posts(h.sim, POSTS) == [202] and _pending(h)  # not sent again, still remembered


def test_an_unreadable_job_state_keeps_the_invoice_parked(h: Harness, clock: Clock) -> None:
    h.sim.slow_background(polls=5)
    invoice = _invoice(10501)
    job_id = _first_attempt_runs_out_of_time(h, clock, invoice)
    h.sim.fail_5xx(f"/v1/background/{job_id}", method="GET")  # an error page, not a job state

    later = h.target.deliver(INVOICES, [invoice])
    [(_, error)] = later.failed
    assert isinstance(error, OutcomeUnknown) and "could not be read" in error.message
    assert _posts(h.sim, POSTS) == [202] and _pending(h) == job_id


def test_a_job_that_ended_without_writing_lets_the_invoice_be_sent_again(h: Harness, clock: Clock) -> None:
    h.sim.slow_background(polls=1)
    invoice = _invoice(10501)
    job_id = _first_attempt_runs_out_of_time(h, clock, invoice)
    # The job ends in a rejection (its customer is gone by the time it runs).
    with h.sim.ledger.lock:
        customer = h.sim.ledger.customers.pop("5001")
        finished = h.sim.ledger.background_state(key=job_id, body={}, query={})
        h.sim.ledger.customers["5001"] = customer
    assert finished.body["status"] == "Finished" and finished.body["statusCode"] == 400  # type: ignore[index]
    h.sim.slow_background(polls=1, defer_writes=False)

    again = h.target.deliver(INVOICES, [invoice])
    assert again.delivered and not again.failed
    assert _posts(h.sim, POSTS) == [202, 202]  # sent again only once the first job had ended
    [created] = h.sim.invoices
    assert h.store.get_mapping("demo", "invoices", "inv-10501").target_key == created["referenceNumber"]  # type: ignore[union-attr]
    assert _pending(h) is None


def test_a_job_is_remembered_even_when_polling_it_fails(h: Harness) -> None:
    h.sim.slow_background(polls=3)
    h.sim.fail_5xx("/v1/background", calls=3, status=503, method="GET")  # Visma.net down meanwhile
    invoice = _invoice(10501)
    with pytest.raises(TargetUnavailable):
        h.target.deliver(INVOICES, [invoice])
    assert _posts(h.sim, POSTS) == [202] and _pending(h)

    again = h.target.deliver(INVOICES, [invoice])
    [(_, error)] = again.failed
    assert isinstance(error, OutcomeUnknown) and "still running" in str(error)
    assert _posts(h.sim, POSTS) == [202] and h.sim.invoices == []
