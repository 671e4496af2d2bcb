"""Plays a schedule against the product, settles it with clean runs, and collects every problem.

The Severa simulator is built per schedule (it has no reset; its seed is this suite's own small
company), the Visma.net simulator is shared and reset, AWS is moto with fresh resources per schedule.
"""

from __future__ import annotations

import random
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from severa_sync.config import TenantConfig, parse_config
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import create_state_table
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator
from severa_sync_tools.simulators.visma.faults import ECHO_BEARER

from . import checks
from .capture import LogCapture, leaked_secrets, partly_leaked
from .checks import Systems
from .dataset import Company, changed_type
from .death import Fate
from .lag import lag_problems, note_lagged
from .locks import LOCK_STEPS, play_lock_step
from .paging import PAGING_STEPS, after_paging_run, play_paging_step
from .reader_faults import (
    READER_FAULTS,
    ReadView,
    apply_reader_step,
    html_problems,
    prospect_problems,
    quiet_pass_problems,
    spurious_change_problems,
)
from .schedule import Schedule, Step, skew
from .stack import TENANT, Aws, Clock, Container, Countdown, Stack
from .texts import jsonl_problems

T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # a Wednesday; 21 days back crosses the end of DST
SEVERA_KEY = "severa-key-F4ult-Zq81-never-logged"
VISMA_SECRET = "visma-secret-F4ult-Kp22-never-logged"
REGION = "eu-west-1"
LEASE_SECONDS = 960
MAX_CLEAN_PASSES = 8
#: Every data type gets the same backfill date (three weeks before the seed's "now").
ALL_TYPES = ("accounts", "cases", "products", "invoices", "hour_entries", "absences")
#: Issue 11's invoice-status and GUID-incident steps (World.invoice_queue_step).
INVOICE_QUEUE_STEPS = ("status_mismatch", "status_fixed", "guid_incident", "watermark_past")


def new_aws(dynamodb: Any, s3: Any, sns: Any) -> Aws:
    suffix = uuid.uuid4().hex[:12]
    table, bucket = f"state-{suffix}", f"exports-{suffix}"
    create_state_table(dynamodb, table)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    topic_arn = sns.create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    return Aws(dynamodb, s3, sns, table, bucket, topic_arn)


def tenant_config(
    schedule: Schedule, severa: SeveraSimulator, visma: VismaSimulator, aws: Aws
) -> TenantConfig:
    backfill = (T0 - timedelta(days=21)).date().isoformat()
    return parse_config(
        {
            "tenant": TENANT,
            "severa": {
                "url": severa.url,
                "connect_timeout_seconds": 5,
                "read_timeout_seconds": 10,
                "quota_reserve_calls": schedule.settings.get("quota_reserve", 0),
                "max_response_bytes": schedule.settings.get("max_response_bytes", 64 << 20),
            },
            "visma": {
                "base_url": visma.base_url,
                "token_url": visma.token_url,
                "timeout_seconds": 10,
                "background_threshold_lines": schedule.settings["background_threshold_lines"],
                "background_poll_seconds": 0.01,
            },
            "engine": {"batch_size": schedule.settings["batch_size"], "lock_lease_seconds": LEASE_SECONDS},
            "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
            "products": {"item_class": "SERVICE"},  # the Visma.net simulator's non-stock class
            "export_bucket": aws.bucket,
            "types": {name: {"backfill_from": backfill} for name in ALL_TYPES},
        }
    )


@dataclass
class Report:
    problems: list[str]
    world: World


class World:
    def __init__(self, schedule: Schedule, visma: VismaSimulator, aws: Aws, capture: LogCapture):
        self.schedule, self.visma, self.aws, self.capture = schedule, visma, aws, capture
        visma.reset()
        self.severa = SeveraSimulator(api_key=SEVERA_KEY, seed=False, now=T0).start()
        try:
            self._build(schedule, visma, aws)
        except BaseException:
            self.severa.stop()
            raise

    def _build(self, schedule: Schedule, visma: VismaSimulator, aws: Aws) -> None:
        self.clock = Clock(T0, self.severa, visma)
        self.clock.set_skew(skew(schedule))
        self.company = Company(self.severa, random.Random(schedule.seed * 7919 + 17), T0, self.clock)
        self.company.seed()
        self.clock.advance(1)  # the data is there (committed) before the first run
        self.config = tenant_config(schedule, self.severa, visma, aws)
        secrets = {"SEVERA_API_KEY": SEVERA_KEY, "VISMA_CLIENT_SECRET": VISMA_SECRET}
        self.stack = Stack(config=self.config, clock=self.clock, aws=aws, secrets=secrets, severa=self.severa)
        self.operator = DynamoStateStore(aws.dynamodb, aws.table, clock=self.clock, sleep=lambda _: None)
        # The checks see Severa's data as the reader delivers it (names with U+FFFD, no prospects).
        self.systems = Systems(
            cast(SeveraSimulator, ReadView(self.severa)),
            visma,
            aws,
            self.operator,
            self.company,
            self.config.export_prefix,
        )
        self.problems: list[str] = []
        self.threads: list[tuple[threading.Thread, list[BaseException]]] = []
        self.versions = 0
        self.used_datetime_forms = False  # reader_faults.quiet_pass_problems
        self.lagged: dict[str, str] = {}  # late commits: record key -> type (lag.lag_problems)
        self.paging_keys: set[str] = set()  # paging.py: the customers it may delete, those deleted
        self.page_deleted: list[tuple[dict[str, Any], datetime | None]] = []
        self.page_hook: Callable[[dict[str, Any]], None] | None = None

    def close(self) -> None:
        self.severa.stop()

    # -- steps --------------------------------------------------------------------------------------
    def apply(self, step: Step) -> None:
        a, severa, visma = step.args, self.severa, self.visma
        if step.kind == "run":
            self.run(a)
        elif step.kind == "maintenance":
            severa.maintenance(calls=a["calls"])
        elif step.kind == "truncate":
            severa.truncate_next(calls=a["calls"], operation=a["operation"])
        elif step.kind == "severa_fault":
            severa.fail_next(a["fault"], operation=a["operation"], calls=a["calls"])
        elif step.kind == "quota":
            limit = 10_000
            severa.set_quota(
                limit=limit, used=limit - self.config.severa.quota_reserve_calls - a["calls_left"]
            )
        elif step.kind == "quota_reset":
            severa.set_quota(limit=100_000, used=0)
            self.stack.cold()  # the tracker remembers the spent quota until the UTC day changes
        elif step.kind == "versions":
            self.versions += 1
            if a["which"] == "api":
                severa.set_versions(api_version=f"1.{self.versions}.0+sim")
            else:
                severa.set_versions(schema_version=f"2026.{self.versions}")
        elif step.kind == "visma_quota":  # the company's hourly quota, shared with nobody here
            visma.set_quota(a["calls"])
        elif step.kind == "throttle":
            visma.throttle(calls=a["calls"], retry_after=a["retry_after"], rate_remaining=0)
        elif step.kind == "commit_then_timeout":
            visma.commit_then_timeout(a["path"], calls=a["calls"], delay=None, method=a["method"])
        elif step.kind == "fail_5xx":
            visma.fail_5xx(
                a["path"], calls=a["calls"], status=a["status"], commit=a["commit"], method=a["method"]
            )
        elif step.kind == "stall":
            visma.stall(a["path"], calls=a["calls"], delay=None, method=a["method"])
        elif step.kind == "reject":
            visma.reject_next(a["path"], calls=a["calls"], method=a["method"])
        elif step.kind == "expire_tokens":
            visma.expire_tokens()
        elif step.kind == "change":
            self.change(a["what"], a.get("at", "now"), a.get("seconds", 0))
        elif step.kind == "rewind":
            self.rewind(a["type"], a["hours"])
        elif step.kind == "advance":
            self.clock.advance(a["seconds"])
        elif step.kind == "concurrent":
            self.concurrent(a["type"], parallel=a.get("parallel", False))
        elif step.kind in ("foreign_document", "echo_token"):
            getattr(self, step.kind)(**a)
        elif step.kind in LOCK_STEPS:
            play_lock_step(self, step)
        elif step.kind in INVOICE_QUEUE_STEPS:
            self.invoice_queue_step(step)
        elif step.kind in READER_FAULTS:
            apply_reader_step(self, step)
        elif step.kind in PAGING_STEPS:
            play_paging_step(self, step)
        else:
            raise ValueError(f"unknown step {step}")

    def foreign_document(self, kind: str, matches: bool, **doc: Any) -> None:
        """An accountant's own document, in Visma.net before severa-sync ran (checks.foreign_problems)."""
        visma = self.visma
        if kind == "customer":
            visma.seed_customer(doc["number"], doc["name"], vat_registration_id=doc["vat"])
            seeded = next(c for c in visma.customers if c["number"] == doc["number"])
        elif kind == "project":
            visma.seed_project(doc["project_id"], doc["customer"], doc["description"])
            seeded = next(p for p in visma.projects if p["projectID"] == doc["project_id"])
        elif kind == "item":
            visma.seed_item(doc["number"], doc["description"], stock_item=doc["stock"])
            seeded = next(i for i in visma.items if i["inventoryNumber"] == doc["number"])
        else:
            reference = visma.seed_invoice(doc["customer"], doc["external_reference"])
            seeded = next(i for i in visma.invoices if i["referenceNumber"] == reference)
        self.systems.foreign.append({"kind": kind, "matches": matches, **doc, "seeded": seeded})

    def echo_token(self, path: str, status: int, method: str, shape: str, filler: int, calls: int) -> None:
        """An error body echoing the request's bearer token, straddling a cut point."""
        message = "~" * filler + ECHO_BEARER + " (echoed request header)"
        if status == 400:
            self.visma.reject_next(path, message=message, shape=shape, calls=calls, method=method)  # type: ignore[arg-type]
        else:
            self.visma.fail_5xx(path, calls=calls, status=status, method=method, message=message, shape=shape)  # type: ignore[arg-type]

    def invoice_queue_step(self, step: Step) -> None:
        """Steps of schedule._localized_statuses and schedule._guid_incident."""
        getattr(self, step.kind)(**step.args)

    def status_mismatch(self) -> None:
        """A configuration deployed with status names the tenant does not have."""
        names = {"source_status": "Valmis siirtoon", "transferred_status": "Siirretty"}
        self.stack.config = self.config.model_copy(
            update={"invoices": self.config.invoices.model_copy(update=names)}
        )
        self.stack.cold()  # the next invocation starts with the new configuration

    def status_fixed(self) -> None:
        self.stack.config = self.config
        self.stack.cold()

    def watermark_past(self) -> None:
        """What runs before the status check left behind: "succeeded, no invoices", and the invoice
        watermark past every invoice still waiting (named schedules only: it breaks on purpose the
        rule checks.watermark_problems holds the product to)."""
        self.operator.rewind(TENANT, "invoices", self.clock(), by="fault-suite")

    def guid_incident(self, calls: int, by_number: bool) -> None:
        """Severa answers NotFound for invoices that exist, by GUID (and by number)."""
        self.severa.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByGUID", calls=calls)
        if by_number:
            self.severa.fail_next("NotFoundException", operation="IInvoice/GetInvoiceByNumber", calls=calls)

    def change(self, what: str, at: str, seconds: int) -> None:
        # With a response size limit, one change a minute: a one-minute window always fits.
        self.clock.advance(61 if "max_response_bytes" in self.schedule.settings else 1)
        now = self.severa.now()
        stamp = now
        if at == "lag":
            stamp = now - timedelta(seconds=seconds)
        elif at == "boundary":
            mark = self.operator.read_watermark(TENANT, changed_type(what)).watermark
            if mark is not None:
                stamp = min(mark + timedelta(seconds=seconds), now)
        before = dict(self.company.committed)
        self.company.change(what, stamp)
        note_lagged(self, what, at, seconds, before)

    def rewind(self, data_type: str, hours: int) -> None:
        mark = self.operator.read_watermark(TENANT, data_type).watermark
        if mark is not None:
            self.operator.rewind(TENANT, data_type, mark - timedelta(hours=hours), by="fault-suite")

    def concurrent(self, data_type: str, *, parallel: bool) -> None:
        """A second invocation in its own container while one is in progress: in parallel, or whole
        while the first waits at the step that started it."""
        failures: list[BaseException] = []
        holder = checks.paused_holder(self.systems, data_type, self.clock(), self.stack.warm().request_id)

        def invoke() -> None:
            try:
                outcome = self.stack.scheduled(data_type, Container(self.stack))
                status = outcome.answer["status"] if outcome.answer else "died"
                if holder is not None and not parallel and status != "skipped":
                    self.problems.append(f"{data_type} ran ({status}) while run {holder} held its lock")
                self.problems += checks.watermark_problems(self.systems, data_type)
            except BaseException as error:  # surfaced in the main thread
                failures.append(error)

        thread = threading.Thread(target=invoke, name=f"concurrent-{data_type}")
        self.threads.append((thread, failures))
        thread.start()
        if not parallel:
            self.join_threads()

    def join_threads(self) -> None:
        for thread, failures in self.threads:
            thread.join(timeout=60)
            if thread.is_alive():
                self.problems.append(f"the concurrent invocation {thread.name} did not end")
            for error in failures:
                self.problems.append(
                    f"the concurrent invocation {thread.name} raised "
                    + "".join(traceback.format_exception(error)).strip()
                )
        self.threads = []

    def run(self, args: dict[str, Any]) -> None:
        data_type = args["type"]
        hooks: dict[int, Callable[[], None]] = {
            at: partial(self.apply, step) for at, step in args.get("during", [])
        }
        fate = Fate(
            kill_at=args.get("kill_at"),
            kill_on=args.get("kill_on"),
            kill_nth=args.get("kill_nth", 1),
            hooks=hooks,
            label_hooks=[
                [label, nth, partial(self.apply, step)] for label, nth, step in args.get("during_on", [])
            ],
        )
        self.stack.warm().fate.current = fate
        started, first_outcome = self.clock(), len(self.stack.outcomes)
        if "budget" in args:
            start, step = args["budget"]
            self.stack.budgets = [Countdown(start, step) for _ in range(3)]
        self.stack.scheduled(data_type)
        self.stack.budgets = []
        self.join_threads()
        self.problems += checks.watermark_problems(self.systems, data_type)
        outcomes = self.stack.outcomes[first_outcome:]
        self.problems += lag_problems(self, data_type, started, outcomes)
        self.problems += after_paging_run(self, outcomes)
        if not fate.dead:
            return
        dead_run = fate.run_ids[-1] if fate.run_ids else None
        recovery = args.get("recovery", "lease")
        if recovery == "same_run" and dead_run is not None:
            # As if the retry machine called again with the run id the dead invocation held.
            self.stack.run_retry_machine(
                {
                    "data_type": data_type,
                    "tenant": TENANT,
                    "function_name": f"severa-sync-{data_type.replace('_', '-')}",
                    "attempt": 0,
                    "status": "partial",
                    "run_id": dead_run,
                }
            )
        elif recovery == "skip_then_lease":
            # The next schedule comes before the dead run's lease ends: it must not run then.
            holder = checks.lock_holder(self.systems, data_type, self.clock())
            outcome = self.stack.scheduled(data_type)
            status = outcome.answer["status"] if outcome.answer else "died"
            if holder is not None and status != "skipped":
                self.problems.append(f"{data_type} ran ({status}) while the dead run {holder} held its lock")
            self.clock.advance(LEASE_SECONDS + 1)
        else:
            self.clock.advance(LEASE_SECONDS + 1)
        self.problems += checks.watermark_problems(self.systems, data_type)

    # -- the clean runs -------------------------------------------------------------------------------
    def settle(self) -> None:
        """Faults off, halts acknowledged, quota back: run every type until one clean pass (every
        run succeeded and nothing is parked but what the mapping rejects)."""
        self.visma.faults.clear()
        self.visma.set_quota(None)
        self.severa.clear_faults()
        self.severa.maintenance(calls=0)
        self.severa.set_quota(limit=100_000, used=0)
        self.stack.cold()
        self.stack.budgets = []
        self.clock.advance(LEASE_SECONDS + 1)
        statuses: list[str] = []
        for _ in range(MAX_CLEAN_PASSES):
            for halt in self.operator.halts(TENANT):
                self.operator.clear_halt(TENANT, halt.data_type, by="fault-suite")
            statuses = []
            for data_type in self.schedule.types:
                outcome = self.stack.scheduled(data_type)
                statuses.append(outcome.answer["status"] if outcome.answer else "died")
                self.problems += checks.watermark_problems(self.systems, data_type)
            # Parked for good: what the mapping rejects, and invoices edited after they reached
            # Visma.net (kept for a person by policy; checks.final_problems verifies them).
            parked = {
                item.key
                for data_type in self.schedule.types
                for item in self.operator.parked(TENANT, data_type)
                if item.last_error_code != "invoice_changed_after_transfer"
            }
            expected = self.company.unmappable | checks.foreign_blocked(self.systems)
            # "with errors": the records parked for good (checked just here), nothing else.
            clean = all(status in ("succeeded", "succeeded_with_errors") for status in statuses)
            if clean and parked <= expected:
                return
            self.clock.advance(10 * 60)
        self.problems.append(f"the clean runs did not settle in {MAX_CLEAN_PASSES} passes (last: {statuses})")

    def report(self) -> Report:
        structured = self.capture.structured()
        alerts = checks.sns_messages(self.aws)
        problems = list(self.problems)
        problems += checks.final_problems(self.systems, self.schedule.types)
        problems += checks.log_problems(structured, alerts)
        problems += checks.parked_dropped_problems(structured)
        problems += checks.foreign_problems(self.systems, self.schedule.types, alerts)
        problems += html_problems(self, alerts)
        problems += prospect_problems(self, alerts, structured)
        problems += spurious_change_problems(self.systems)
        problems += jsonl_problems(self)
        secrets = [SEVERA_KEY, VISMA_SECRET, *self.visma.issued_tokens]
        texts = self.capture.lines() + alerts + checks.state_items(self.aws)
        leaks = leaked_secrets(texts, secrets)
        problems += [
            f"a secret leaked into: {text.replace(secret, '<<SECRET>>')[:500]}" for secret, text in leaks
        ]
        problems += [
            f"part of a token leaked: {piece!r}" for piece in partly_leaked(texts, self.visma.issued_tokens)
        ]
        return Report(problems, self)


def play(
    schedule: Schedule,
    visma: VismaSimulator,
    aws: Aws,
    capture: LogCapture,
    inspect: Callable[[World], list[str]] | None = None,
) -> Report:
    """Play the steps, let ``inspect`` look at the world before the clean runs, settle, report."""
    world = World(schedule, visma, aws, capture)
    try:
        for step in schedule.steps:
            world.apply(step)
        world.join_threads()
        if inspect is not None:
            world.problems += inspect(world)
        world.settle()
        world.problems += quiet_pass_problems(world)
        return world.report()
    finally:
        world.join_threads()
        world.close()
