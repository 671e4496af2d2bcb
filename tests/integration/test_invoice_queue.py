"""Issue 11 classes 3 and 4 end to end: Severa simulator over HTTP, DynamoDB state in moto.

Class 3: the configured invoice statuses are checked against the tenant's before anything is read,
and what waits in the source status is transferred whatever the watermark history.
Class 4: a parked record leaves the retry set only on evidence, never on one NotFound.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from severa_sync.config import parse_config
from severa_sync.engine.engine import RunStatus, SyncEngine
from severa_sync.engine.ports import SourceRecord
from severa_sync.errors import TargetRejected
from severa_sync.secrets import Secret
from severa_sync.severa.client import SeveraClient
from severa_sync.severa.invoice_statuses import check_invoice_statuses
from severa_sync.severa.models import Invoice
from severa_sync.severa.source import SeveraSource
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table
from severa_sync.telemetry import CollectingTelemetry
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.severa.cli import FINNISH_INVOICE_STATUSES
from tests.fakes import ListAlerts, MemoryTarget, log_lines

API_KEY = "queue-test-key-never-logged"
NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
FINNISH = {"source_status": "Valmis siirtoon", "transferred_status": "Siirretty"}
GHOST_GUID = "0f0f0f0f-0000-4000-8000-00000000beef"  # no such record in Severa


class Stack:
    """The simulator, a moto table and an engine that can be rebuilt with another configuration
    (the operator fixing it), over the same Severa and the same state."""

    def __init__(self, sim: SeveraSimulator, client) -> None:
        self.sim, self.client = sim, client
        self.state = DynamoStateStore(client, "state", clock=sim.now)
        self.target, self.alerts = MemoryTarget(), ListAlerts()
        self.configure({})

    def configure(self, invoices: dict, **more) -> None:
        self.config = parse_config(
            {
                "tenant": "acme",
                "severa": {"url": self.sim.url, "read_timeout_seconds": 30},
                "invoices": invoices,
                "types": {
                    name: {"backfill_from": "2026-09-01"} for name in ("accounts", "cases", "invoices")
                },
                **more,
            }
        )
        self.source = SeveraSource(SeveraClient(self.config, Secret(API_KEY)), self.config)
        self.engine = SyncEngine(
            config=self.config,
            source=self.source,
            target_for=lambda dt: self.target,
            state=self.state,
            alerts=self.alerts,
            telemetry=CollectingTelemetry(),
            clock=self.sim.now,
        )

    def statuses(self) -> dict[int, str]:
        return {r["Number"]: r["InvoiceStatus"] for r in self.sim.records("Invoice") if r.get("Number")}

    def advance(self, delta: timedelta) -> None:
        self.sim.set_clock(frozen_at=self.sim.now() + delta)

    def park(self, key: str, display_key: str, data_type: str = "invoices") -> None:
        record = SourceRecord(key, None, display_key, "hash", Invoice(GUID=key))
        self.state.park("acme", data_type, record, TargetRejected("rejected by Visma.net"))


def build(monkeypatch, **sim_options):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sim = SeveraSimulator(api_key=API_KEY, seed=True, now=NOW, **sim_options).start(port=0)
    return sim


@pytest.fixture
def finnish(monkeypatch):
    sim = build(monkeypatch, invoice_status_names=FINNISH_INVOICE_STATUSES)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, "state")
        yield Stack(sim, client)
    sim.stop()


@pytest.fixture
def stack(monkeypatch):
    sim = build(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, "state")
        yield Stack(sim, client)
    sim.stop()


def invoice_reads(stack: Stack) -> list[str]:
    return [c.operation for c in stack.sim.calls if c.operation.startswith("IInvoice/")]


# --- class 3: the statuses are checked; the status is the queue ---------------------------------
def test_unknown_statuses_stop_the_run_before_any_read_and_the_alert_lists_the_real_ones(finnish, caplog):
    result = finnish.engine.run("invoices")
    assert (result.status, result.error_code) == (RunStatus.FAILED, "invoice_status_unknown")
    assert invoice_reads(finnish) == []  # nothing read with names the tenant does not have
    assert finnish.alerts.kinds() == ["configuration"]
    summary = finnish.alerts.sent[0].summary
    for name in ("Ready for transfer", "Transferred", "Valmis siirtoon", "Siirretty"):
        assert f'"{name}"' in summary
    stopped = next(line for line in log_lines(caplog) if line.get("action") == "run_failed")
    assert "Valmis siirtoon" in stopped["message"] and stopped["error_code"] == "invoice_status_unknown"
    assert finnish.state.read_watermark("acme", "invoices").watermark is None


def test_after_the_fix_waiting_invoices_go_although_the_watermark_passed_them(finnish):
    # What the runs before the status check left: "succeeded, no invoices" and a watermark past
    # every waiting invoice (their change times are days before it).
    assert finnish.state.write_watermark(
        "acme", "invoices", finnish.sim.now(), expected_raw=None, run_id="an-earlier-run"
    )
    finnish.configure(FINNISH)
    result = finnish.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED, result
    assert result.delivered == 3
    statuses = finnish.statuses()
    assert [statuses[n] for n in (10501, 10502, 10503)] == ["Siirretty"] * 3
    assert statuses[10500] == "Siirretty" and statuses[10499] == "Lähetetty"  # others untouched
    assert "IInvoice/GetInvoicesByStatus" in invoice_reads(finnish)
    again = finnish.engine.run("invoices")
    assert (again.status, again.fetched) == (RunStatus.SUCCEEDED, 0)  # transferred left the queue
    assert len(finnish.target.writes) == len(set(finnish.target.writes)) == 3


def test_check_invoice_statuses_names_the_problem_and_the_tenant_statuses(finnish):
    client = SeveraClient(finnish.config, Secret(API_KEY))
    problems = check_invoice_statuses(client, finnish.config)
    assert len(problems) == 2
    assert problems[0].startswith('invoices.source_status "Ready for transfer" is not an invoice status')
    assert all('"Valmis siirtoon", "Siirretty"' in problem for problem in problems)
    finnish.configure({"source_status": "valmis siirtoon", "transferred_status": "Siirretty"})
    hinted = check_invoice_statuses(client, finnish.config)
    assert len(hinted) == 1 and '(Severa spells it "Valmis siirtoon")' in hinted[0]
    finnish.configure(FINNISH)
    assert check_invoice_statuses(client, finnish.config) == []


def test_parked_invoices_filling_the_queue_page_cannot_starve_the_others(stack):
    stack.configure({"queue_page_size": 1})
    first_ready = next(r["GUID"] for r in stack.sim.records("Invoice") if r["Number"] == 10501)
    stack.target.reject = {first_ready}
    result = stack.engine.run("invoices")
    assert (result.delivered, result.failed) == (2, 1)
    assert [stack.statuses()[n] for n in (10501, 10502, 10503)] == [
        "Ready for transfer",
        "Transferred",
        "Transferred",
    ]
    limits = [c.params.get("maxInvoices") for c in stack.sim.calls if c.operation.endswith("ByStatus")]
    # maxInvoices is the page plus the parked: 10501 (parked) then 10502, then 10503, then the end.
    assert limits == [1, 2, 2, 2]


# --- class 4: parked records leave only on evidence ----------------------------------------------
def test_a_guid_incident_on_the_by_guid_read_keeps_the_invoice_and_transfers_it(stack, caplog):
    guid = next(r["GUID"] for r in stack.sim.records("Invoice") if r["Number"] == 10502)
    stack.park(guid, "10502")
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=1)
    result = stack.engine.run("invoices")
    assert result.status is RunStatus.SUCCEEDED
    assert stack.statuses()[10502] == "Transferred"  # read again by number, then delivered
    assert stack.state.parked("acme", "invoices") == []
    assert "IInvoice/GetInvoiceByNumber" in invoice_reads(stack)
    assert "retry_dropped" not in [line.get("action") for line in log_lines(caplog)]


def test_a_record_found_by_no_key_is_dropped_only_after_a_day_of_not_founds(stack, caplog):
    stack.park(GHOST_GUID, "99999")
    stack.engine.run("invoices")
    [item] = stack.state.parked("acme", "invoices")  # one NotFound is no evidence
    assert (item.not_found_count, item.first_not_found_at) == (1, NOW)
    assert "parked_record_dropped" not in stack.alerts.kinds()
    stack.advance(timedelta(hours=12))
    stack.engine.run("invoices")
    assert [i.not_found_count for i in stack.state.parked("acme", "invoices")] == [2]  # not a day yet
    stack.advance(timedelta(hours=12, minutes=1))
    caplog.clear()
    stack.engine.run("invoices")
    assert stack.state.parked("acme", "invoices") == []
    assert stack.alerts.kinds().count("parked_record_dropped") == 1
    dropped = next(line for line in log_lines(caplog) if line.get("action") == "retry_dropped_not_found")
    assert dropped["level"] == "WARNING" and dropped["display_key"] == "99999"
    assert GHOST_GUID not in stack.alerts.sent[-1].summary  # the postcard counts, the log names


def test_found_again_starts_the_not_found_count_over(stack):
    guid = next(r["GUID"] for r in stack.sim.records("Invoice") if r["Number"] == 10502)
    stack.park(guid, "10502")
    stack.target.reject = {guid}
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=1)
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByNumber", calls=1)
    stack.engine.run("invoices")
    assert [i.not_found_count for i in stack.state.parked("acme", "invoices")] == [1]
    stack.advance(timedelta(days=2))
    stack.engine.run("invoices")  # found by GUID, rejected again: parked, count cleared
    [item] = stack.state.parked("acme", "invoices")
    assert (item.not_found_count, item.first_not_found_at) == (0, None)


def test_another_guid_under_the_parked_number_is_a_guid_incident_and_stays_parked(stack, caplog):
    stack.park(GHOST_GUID, "10501")  # 10501 exists, with another GUID
    for _ in range(3):
        stack.engine.run("invoices")
        stack.advance(timedelta(days=1))
    assert [i.key for i in stack.state.parked("acme", "invoices")] == [GHOST_GUID]
    assert "parked_record_dropped" not in stack.alerts.kinds()
    conflict = next(line for line in log_lines(caplog) if line.get("action") == "retry_guid_conflict")
    assert conflict["level"] == "WARNING" and "GUID incident" in conflict["message"]


def test_an_invoice_read_again_in_another_status_leaves_the_retry_set(stack, caplog):
    guid = next(r["GUID"] for r in stack.sim.records("Invoice") if r["Number"] == 10500)  # Transferred
    stack.park(guid, "10500")
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=1)
    stack.engine.run("invoices")
    assert stack.state.parked("acme", "invoices") == []
    settled = next(line for line in log_lines(caplog) if line.get("action") == "retry_dropped")
    assert 'by number 10500: status "Transferred"' in settled["message"]


def test_accounts_follow_the_same_day_rule(stack):
    stack.park(GHOST_GUID, "Ghost Oy (9999)", data_type="accounts")
    stack.engine.run("accounts")
    assert [i.not_found_count for i in stack.state.parked("acme", "accounts")] == [1]
    stack.advance(timedelta(days=1))
    stack.engine.run("accounts")
    assert stack.state.parked("acme", "accounts") == []
    assert "parked_record_dropped" in stack.alerts.kinds()


def test_a_guid_incident_while_confirming_a_transfer_is_not_taken_for_an_edit(stack):
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=3)
    result = stack.engine.run("invoices")
    assert (result.delivered, result.failed) == (3, 0)  # confirmed by number, then marked
    assert [stack.statuses()[n] for n in (10501, 10502, 10503)] == ["Transferred"] * 3


def test_an_invoice_found_by_no_key_after_delivery_is_confirmed_next_run(stack):
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=1)
    stack.sim.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByNumber", calls=1)
    first = stack.engine.run("invoices")
    assert (first.delivered, first.failed) == (2, 1)
    [item] = stack.state.parked("acme", "invoices")
    assert item.last_error_code == "invoice_not_confirmed"  # not "changed": there is no evidence
    stack.advance(timedelta(hours=1))
    second = stack.engine.run("invoices")
    assert second.status is RunStatus.SUCCEEDED and stack.state.parked("acme", "invoices") == []
    assert [stack.statuses()[n] for n in (10501, 10502, 10503)] == ["Transferred"] * 3
    assert len(stack.target.writes) == len(set(stack.target.writes)) == 3  # never sent twice
