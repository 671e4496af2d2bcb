"""``severa-sync demo`` (``make demo``): the whole product on one laptop, no AWS account, no API key.

Three acts, all through the handlers Lambda runs, against the simulators and a moto server:

1. First run of every data type (backfill): accounts, cases and products (as non-stock items) to
   Visma.net, invoices 10501 and 10503 transferred with their rows' items and set "Transferred" in Severa, 10502 rejected (its 17 % VAT has no mapping)
   and parked, hour entries and absences to S3.
2. Some Severa data changes (customers renamed, a product repriced, an invoice made ready); the
   second run is incremental.
3. A maintenance break: the invoices run answers ``retry_later``, its handler starts the retry state
   machine, and the machine's own definition, run locally with a 1-second wait, carries the run
   through the break.
4. Payments back to Severa: 10501 is paid in full and 10503 in part in Visma.net; the payments run
   sets 10501's payment date and "Paid" status and 10503's "Partly paid" status in Severa.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from severa_sync import registry
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync.state.table import StateTable
from severa_sync_tools.console import progress_bar, readable_logs
from severa_sync_tools.localstack import (
    DEMO_TIME_ZONE,
    PARTLY_PAID_STATUS,
    RETRY_DEFINITION,
    RETRY_WAIT_SECONDS_AWS,
    LocalStack,
    local_stack,
)
from severa_sync_tools.retry_loop import Execution, RetryMachine, aws_tasks, load_definition

TENANT = "demo"
#: Runs that meet the maintenance break: the scheduled one and the first retry; the second gets through.
RUNS_IN_MAINTENANCE = 2
SKEW_NOTE = "a few minutes ago (the engine leaves the last two minutes to the next run)"


@dataclass
class Story:
    """What the demo showed, checked at the end so a broken product cannot pass for a demo."""

    problems: list[str] = field(default_factory=list)

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def run_demo(console: Console, *, wait_seconds: int = 1, json_lines: bool = False) -> int:
    started = time.monotonic()
    story = Story()
    progress = progress_bar(console)
    with (
        tempfile.TemporaryDirectory(prefix="severa-sync-demo-") as work_dir,
        progress,
        readable_logs(console, progress=progress, json_lines=json_lines, zone=ZoneInfo(DEMO_TIME_ZONE)),
    ):
        console.rule("severa-sync demo", style="bold")
        console.print("Starting the Severa and Visma.net simulators and a moto server on 127.0.0.1 ...")
        with local_stack(Path(work_dir), retry_wait_seconds=wait_seconds) as stack:
            _show_stack(console, stack)
            # The seed has no status for partly paid invoices; a Severa admin would add one.
            stack.severa.upsert(
                "InvoiceStatus", {"Name": PARTLY_PAID_STATUS, "IsActive": True, "SortOrder": 9}
            )
            steps = progress.add_task("demo", total=4)

            console.rule("1. First run: every data type, in dependency order")
            first = _run_all(stack)
            _show_results(console, stack, first, "First run")
            _check_first_run(stack, first, story)
            progress.advance(steps)

            console.rule("2. Severa data changes; the next run is incremental")
            changed = _change_severa_data(stack)
            console.print(f"Changed in Severa {SKEW_NOTE}: {', '.join(changed)}")
            second = _run_all(stack)
            _show_results(console, stack, second, "Second run (incremental)")
            story.expect(
                all(r["status"] in DONE for r in second),
                "a second-run data type did not succeed",
            )
            _show_moved_customer(console, stack, story)
            story.expect(
                sum(int(r["fetched"]) for r in second) < sum(int(r["fetched"]) for r in first),
                "the second run read as much as the first (not incremental)",
            )
            progress.advance(steps)

            console.rule("3. A Severa maintenance break during the invoices run")
            _survive_maintenance(console, stack, story, wait_seconds)
            progress.advance(steps)

            console.rule("4. Payments in Visma.net come back to Severa")
            _payments_back(console, stack, story)
            progress.advance(steps)
    elapsed = time.monotonic() - started
    if story.problems:
        for problem in story.problems:
            console.print(f"✗ {problem}", style="bold red")
        console.print(f"The demo did not go as expected ({elapsed:.0f} s).", style="bold red")
        return 1
    console.print(f"✓ Demo finished in {elapsed:.0f} s. Nothing is left running.", style="bold green")
    return 0


# --- acts ---------------------------------------------------------------------------------------
#: A run that ended: invoice 10502 is unmappable on purpose, so invoices end "with record errors".
DONE = ("succeeded", "succeeded_with_errors")


def _run_all(stack: LocalStack) -> list[dict[str, Any]]:
    return [stack.invoke(dt.name) for dt in registry.run_order()]


def _check_first_run(stack: LocalStack, results: list[dict[str, Any]], story: Story) -> None:
    by_type = {r["data_type"]: r for r in results}
    story.expect(all(r["status"] in DONE for r in results), "a first-run data type did not succeed")
    statuses = _invoice_statuses(stack)
    for number, expected in (
        ("10501", "Transferred"),
        ("10503", "Transferred"),
        ("10502", "Ready for transfer"),
    ):
        story.expect(
            statuses.get(number) == expected,
            f"invoice {number} is {statuses.get(number)!r}, not {expected!r}",
        )
    story.expect(int(by_type["invoices"]["failed"]) == 1, "invoice 10502 was not the one rejected invoice")
    products = {p["Code"] for p in stack.severa.records("Product")}
    items = {i["inventoryNumber"] for i in stack.visma.items}
    story.expect(bool(products & items), "no Severa product arrived in Visma.net as an item")
    for name in ("hour_entries", "absences"):
        story.expect(any(f"type={name}" in key for key in stack.export_keys()), f"no {name} export in S3")


def _change_severa_data(stack: LocalStack) -> list[str]:
    sim = stack.severa
    # Changed a little while ago: the engine leaves the last skew_margin_seconds to the next run
    # (commit lag and clock skew), so a change made this second would wait for the next schedule.
    at = sim.now() - timedelta(seconds=stack.config.engine.skew_margin_seconds + 60)
    customers = sorted(sim.records("Customer"), key=lambda c: c.get("Number") or 0)[:2]
    changed = []
    for customer in customers:
        sim.upsert("Customer", {"GUID": customer["GUID"], "Name": f"{customer['Name']} (renamed)"}, at=at)
        changed.append(f"customer {customer['Number']} renamed")
    product = next(p for p in sim.records("Product") if p.get("IsActive"))
    price = product["UnitPrice"] + 10
    sim.upsert("Product", {"GUID": product["GUID"], "UnitPrice": price}, at=at)
    changed.append(f"product {product['Code']} repriced to {price}")
    # An address changes on its own: its customer (untouched) must still reach Visma.net with it.
    moved = sorted(sim.records("Customer"), key=lambda c: c.get("Number") or 0)[2]
    sim.upsert("Address", {"GUID": moved["HeadOfficeAddressGUID"], **MOVED_TO}, at=at)
    changed.append(f"customer {moved['Number']}'s head-office address moved (the customer itself unchanged)")
    draft = next(i for i in sim.records("Invoice") if i.get("InvoiceStatus") == "Draft")
    number = max(int(i["Number"]) for i in sim.records("Invoice") if i.get("Number")) + 1
    sim.upsert(
        "Invoice", {"GUID": draft["GUID"], "Number": number, "InvoiceStatus": "Ready for transfer"}, at=at
    )
    changed.append(f'invoice {number} set to "Ready for transfer"')
    return changed


#: Where the demo's third customer moves (its head-office address, changed alone).
MOVED_TO = {"Addressline": "Satamakatu 4", "PostalCode": "33200", "City": "Tampere"}


def _show_moved_customer(console: Console, stack: LocalStack, story: Story) -> None:
    moved = sorted(stack.visma.customers, key=lambda c: int(c["number"]))[2]
    main, billing = moved.get("mainAddress") or {}, moved.get("invoiceAddress") or {}
    console.print(
        f"Visma.net customer {moved['number']} {moved['name']!r}: main address "
        f"{main.get('addressLine1')}, {main.get('postalCode')} {main.get('city')}; invoice address "
        f"{billing.get('addressLine1')}, {billing.get('city')}; credit terms "
        f"{(moved.get('creditTerms') or {}).get('id')}; e-invoice "
        f"{(moved.get('eInvoiceContract') or {}).get('fInvoiceContractID')}"
    )
    story.expect(
        main.get("addressLine1") == MOVED_TO["Addressline"], "the moved address did not reach Visma.net"
    )


def _survive_maintenance(console: Console, stack: LocalStack, story: Story, wait_seconds: int) -> None:
    # Each run's first call is tried 1 + transport_retries times in process before it gives up.
    calls = RUNS_IN_MAINTENANCE * (1 + stack.config.severa.transport_retries)
    stack.severa.maintenance(calls=calls)
    console.print(f"Severa answers the next {calls} calls with its maintenance page (HTTP 503).")
    first = stack.invoke("invoices")
    console.print(
        f"Scheduled invoices run answered {first['status']}; its handler started the retry machine."
    )
    story.expect(
        first["status"] == "retry_later", f"the invoices run answered {first['status']}, not retry_later"
    )
    pending = stack.pending_retry_executions()
    story.expect(bool(pending), "no retry execution was started")
    definition = load_definition(RETRY_DEFINITION, stack.retry_substitutions)
    for execution in pending:
        console.print(
            f"Running retry execution {execution['name']} with infra/statemachines/retry.asl.json "
            f"(wait {wait_seconds} s here, {RETRY_WAIT_SECONDS_AWS} s in AWS; at most {stack.retry_substitutions['MaxAttempts']} attempts)"
        )
        machine = RetryMachine(
            definition,
            tasks=aws_tasks(stack.invoke_by_function_name, stack.client("sns"), stack.client("dynamodb")),
            execution_arn=execution["arn"],
            on_state=lambda name, state, data: _narrate(console, name, state, data),
        )
        outcome: Execution = machine.run(execution["input"])
        stack.close_execution(execution["arn"], outcome.status)
        attempts = outcome.visited.count("InvokeSync")
        style = "green" if outcome.status == "SUCCEEDED" else "red"
        console.print(f"Retry execution {outcome.status.lower()} after {attempts} retry calls.", style=style)
        story.expect(
            outcome.status == "SUCCEEDED", f"the retry execution ended {outcome.status} ({outcome.error})"
        )
    _show_results(console, stack, [], "After the maintenance break")
    statuses = _invoice_statuses(stack)
    story.expect(
        all(statuses.get(n) == "Transferred" for n in ("10501", "10503")),
        "invoices 10501/10503 lost their status",
    )


def _payments_back(console: Console, stack: LocalStack, story: Story) -> None:
    documents = {str(row.get("externalReference")): row["referenceNumber"] for row in stack.visma.invoices}
    paid_on = (stack.severa.now() - timedelta(days=1)).date().isoformat()
    stack.visma.pay(documents["10501"], on=paid_on)
    stack.visma.pay(documents["10503"], amount=100.0, on=paid_on)
    console.print(
        f"In Visma.net: invoice {documents['10501']} (Severa 10501) paid in full on {paid_on}, "
        f"invoice {documents['10503']} (Severa 10503) paid 100.00 in part."
    )
    answer = stack.invoke("payments")
    story.expect(answer["status"] == "succeeded", f"the payments run answered {answer['status']}")
    story.expect(
        int(answer["delivered"]) == 2, f"the payments run wrote {answer['delivered']} invoices, not 2"
    )
    table = Table(title="Invoices in Severa after the payments run")
    for column in ("invoice", "Severa status", "payment date", "Severa invoice log"):
        table.add_column(column)
    invoices = {str(i.get("Number")): i for i in stack.severa.records("Invoice") if i.get("Number")}
    for number in ("10501", "10503"):
        invoice = invoices[number]
        log = stack.severa.invoice_log(invoice["GUID"])
        paid = invoice.get("PaymentDate")
        table.add_row(
            number,
            str(invoice.get("InvoiceStatus")),
            paid.date().isoformat() if paid else "-",
            "; ".join(entry["text"] for entry in log) or "-",
        )
        story.expect(bool(log), f"invoice {number} has no log entry naming its Visma.net document")
    console.print(table)
    story.expect(invoices["10501"].get("InvoiceStatus") == "Paid", "invoice 10501 is not Paid in Severa")
    story.expect(
        invoices["10501"].get("PaymentDate") is not None
        and invoices["10501"]["PaymentDate"].date().isoformat() == paid_on,
        "invoice 10501 has no payment date in Severa",
    )
    story.expect(
        invoices["10503"].get("InvoiceStatus") == PARTLY_PAID_STATUS,
        f'invoice 10503 is not "{PARTLY_PAID_STATUS}" in Severa',
    )


def _narrate(console: Console, name: str, state: Mapping[str, Any], data: Any) -> None:
    counters = data.get("counters", {}) if isinstance(data, dict) else {}
    line = None
    if state["Type"] == "Wait":
        seconds = data.get("settings", {}).get("wait_seconds")
        line = f"{name}: waiting {seconds} s before attempt {counters.get('attempt')}"
    elif state["Type"] == "Task" and state.get("Resource", "").endswith("lambda:invoke"):
        line = f"{name}: invoking {data.get('function_name')} (attempt {counters.get('attempt')})"
    elif state["Type"] in ("Succeed", "Fail"):
        line = f"{name} (last run: {data.get('last_result', {}).get('status')})"
    if line:
        console.print(f"  retry machine: {line}", style="magenta")


# --- what happened ------------------------------------------------------------------------------
def _invoice_statuses(stack: LocalStack) -> dict[str, str]:
    return {
        str(i["Number"]): str(i.get("InvoiceStatus"))
        for i in stack.severa.records("Invoice")
        if i.get("Number")
    }


def _show_stack(console: Console, stack: LocalStack) -> None:
    console.print(
        Panel.fit(
            "\n".join(
                [
                    f"Severa simulator   {stack.severa.url}",
                    f"Visma.net sim      {stack.visma.base_url}",
                    f"moto (AWS)         {stack.endpoint}",
                    f"state table        {stack.table_name}",
                    f"alert topic        {stack.topic_arn}",
                    f"export bucket      {stack.bucket}",
                    f"retry machine      {stack.state_machine_arn}",
                    "secrets            Severa API key and Visma client secret in Secrets Manager",
                ]
            ),
            title="local stack (template.yaml on 127.0.0.1)",
        )
    )


def _show_results(console: Console, stack: LocalStack, results: list[dict[str, Any]], title: str) -> None:
    table_access = StateTable(stack.client("dynamodb"), stack.table_name)
    watermarks = {item["data_type"]: item for item in table_access.query_prefix(TENANT, "WATERMARK#")}
    runs = Table(title=title)
    for column in ("data type", "status", "fetched", "delivered", "skipped", "failed", "watermark"):
        runs.add_column(
            column, justify="right" if column in ("fetched", "delivered", "skipped", "failed") else "left"
        )
    answers = {r["data_type"]: r for r in results}
    for dt in registry.run_order():
        answer = answers.get(dt.name) or (watermarks.get(dt.name, {}).get("last_run") or {})
        status = str(answer.get("status", "-"))
        style = (
            "green"
            if status == "succeeded"
            else "yellow"
            if status in ("retry_later", "partial", "succeeded_with_errors")
            else "red"
        )
        runs.add_row(
            dt.name,
            Text(status, style=style),
            *(str(answer.get(k, "-")) for k in ("fetched", "delivered", "skipped", "failed")),
            str(watermarks.get(dt.name, {}).get("watermark", "not set")),
        )
    console.print(runs)
    console.print(_outcome_table(stack))
    alerts = stack.alerts()
    if alerts:
        listed = Table(title=f"Alerts published to the topic ({len(alerts)} so far)")
        listed.add_column("subject")
        for alert in alerts:
            listed.add_row(str(alert["subject"]))
        console.print(listed)


def _outcome_table(stack: LocalStack) -> Table:
    store = DynamoStateStore(stack.client("dynamodb"), stack.table_name)
    parked = {item.display_key: item for item in store.parked(TENANT, "invoices")}
    table = Table(title="Invoices in Severa and Visma.net")
    for column in ("invoice", "Severa status", "outcome"):
        table.add_column(column)
    for number, status in sorted(_invoice_statuses(stack).items()):
        item = parked.get(number)
        if item is not None:
            outcome = Text(f"error, in the retry set: {item.last_error_message}", style="red")
        elif status == "Transferred":
            outcome = Text("transferred", style="green")
        else:
            outcome = Text("-")
        table.add_row(number, status, outcome)
    keys = stack.export_keys()
    per_type = {name: sum(1 for k in keys if f"type={name}" in k) for name in ("hour_entries", "absences")}
    products = {p["Code"] for p in stack.severa.records("Product")}
    items = sum(1 for i in stack.visma.items if i["inventoryNumber"] in products)
    table.caption = (
        f"Visma.net: {len(stack.visma.customers)} customers, {len(stack.visma.projects)} projects, "
        f"{items} items from Severa products, {len(stack.visma.invoices)} invoices · S3: "
        + ", ".join(f"{n} {name} files" for name, n in per_type.items())
    )
    return table
