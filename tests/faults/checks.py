"""What must hold after any schedule, read from the systems themselves (the simulators' data, the
S3 objects, the state table, the captured logs and alerts), never from the product's own bookkeeping.

Every check returns a list of problems (empty: it holds), so a failing schedule reports all of them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from severa_sync import errors
from severa_sync.state.dynamodb import DynamoStateStore
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator

from .dataset import ABSENCE_TYPES, READY, TRANSFERRED, Company
from .stack import TENANT, Aws

ZONE = ZoneInfo("Europe/Helsinki")


@dataclass
class Systems:
    severa: SeveraSimulator
    visma: VismaSimulator
    aws: Aws
    operator: DynamoStateStore  # the state table as an operator reads it
    company: Company
    export_prefix: str
    #: Foreign documents seeded in Visma.net (world.foreign_document), each with its ``seeded`` copy.
    foreign: list[dict[str, Any]] = field(default_factory=list)
    #: Hour-entry GUIDs Severa started answering by itself (a GUID incident, and its end), each with
    #: the Severa time of the first check that saw it (``observe_hour_entries``).
    appeared: dict[str, datetime] = field(default_factory=dict)
    #: The hour-entry GUIDs of the last observation, and when it was (our clock).
    answered: set[str] = field(default_factory=set)
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        observe_hour_entries(self)


def observe_hour_entries(systems: Systems) -> None:
    """Note the GUIDs Severa answers that no write of ours made since the last observation.

    A GUID incident (``remap_guids`` and back) keeps every change time: Severa lists records under
    GUIDs it did not answer a moment ago, with change times long past. The harness records no commit
    for that, so it is seen here: such a GUID has appeared at or before the check that first saw it.
    """
    current = {str(r["GUID"]) for r in systems.severa.records("HourEntry")}
    since = systems.observed_at
    if since is not None:
        for key in current - systems.answered:
            committed = systems.company.committed.get(key)
            if committed is None or committed < since:
                systems.appeared[key] = systems.severa.now()
    systems.answered, systems.observed_at = current, systems.company.clock()


# --- reading the systems -------------------------------------------------------------------------
def s3_lines(systems: Systems, data_type: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """GUID -> [(partition, line)] over every export object of ``data_type``."""
    prefix = f"{systems.export_prefix}/tenant={TENANT}/type={data_type}/"
    found: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    token: dict[str, str] = {}
    while True:
        page = systems.aws.s3.list_objects_v2(Bucket=systems.aws.bucket, Prefix=prefix, **token)
        for item in page.get("Contents", []):
            partition = item["Key"][len(prefix) :].split("/", 1)[0].split("=", 1)[1]
            body = systems.aws.s3.get_object(Bucket=systems.aws.bucket, Key=item["Key"])["Body"].read()
            for raw in body.decode().split("\n"):
                if raw.strip():
                    line = json.loads(raw)
                    found[str(line.get("GUID"))].append((partition, line))
        if not page.get("IsTruncated"):
            return found
        token = {"ContinuationToken": page["NextContinuationToken"]}


def _utc(value: Any) -> datetime:
    moment = (
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if not isinstance(value, datetime)
        else value
    )
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hour_entry_partition(record: dict[str, Any]) -> str:
    """The day file an hour entry belongs in (EventDate is a day: Severa sends UTC midnight)."""
    return _utc(record["EventDate"]).date().isoformat()


def absence_week(record: dict[str, Any]) -> str:
    year, week, _ = _utc(record["StartDateTime"]).astimezone(ZONE).date().isocalendar()
    return f"{year}-W{week:02d}"


def _customer_problems(row: dict[str, Any], customer: dict[str, Any] | None) -> list[str]:
    if customer is None:
        if row.get("IsActive") is False:
            return []  # deactivated before it was ever transferred: nothing to tell Visma.net
        return [f"account {row['Number']} ({row['GUID']}) is not in Visma.net"]
    problems = []
    if customer.get("name") != str(row.get("Name") or "").strip():
        problems.append(
            f"customer {row['Number']}: name {customer.get('name')!r} is not the latest {row.get('Name')!r}"
        )
    status = "Active" if row.get("IsActive", True) else "Inactive"
    if customer.get("status") != status:
        problems.append(
            f"customer {row['Number']}: status {customer.get('status')!r}, Severa says {status!r}"
        )
    if row.get("VatNumber") and customer.get("vatRegistrationId") != row["VatNumber"].strip():
        problems.append(
            f"customer {row['Number']}: VAT id {customer.get('vatRegistrationId')!r} is not {row['VatNumber']!r}"
        )
    return problems


def _project_problems(
    row: dict[str, Any], project: dict[str, Any] | None, accounts: dict[str, Any]
) -> list[str]:
    if project is None:
        return [f"case {row['CaseNumber']} ({row['GUID']}) is not in Visma.net"]
    problems = []
    if project.get("description") != str(row.get("Name") or "").strip():
        problems.append(
            f"project {row['CaseNumber']}: description {project.get('description')!r} is not the latest {row.get('Name')!r}"
        )
    status = "Completed" if row.get("IsClosed") else "Active"
    if project.get("status") != status:
        problems.append(
            f"project {row['CaseNumber']}: status {project.get('status')!r}, Severa says {status!r}"
        )
    account = accounts.get(str(row.get("AccountGUID")))
    owner = (project.get("customer") or {}).get("number")
    if account is not None and owner != str(account["Number"]):
        problems.append(f"project {row['CaseNumber']}: customer {owner!r} is not account {account['Number']}")
    return problems


def _line_problems(
    what: str, line: dict[str, Any], record: dict[str, Any], members: tuple[str, ...]
) -> list[str]:
    problems = []
    for member in members:
        want, got = record.get(member), line.get(member)
        if isinstance(want, Decimal):
            same = got is not None and Decimal(str(got)) == want
        elif isinstance(want, datetime):
            same = got is not None and _utc(got) == _utc(want)
        else:
            same = got == want
        if not same:
            problems.append(f"{what}: {member} is {got!r} in S3, {want!r} in Severa")
    return problems


# --- final state -----------------------------------------------------------------------------------
def _edited_in_marking_window(systems: Systems, guid: str) -> bool:
    """The documented limit (docs/operations.md, "Invoices"): an edit made after the re-read and
    before ``SetInvoiceStatus`` is covered by the status, as Severa offers no compare-and-set. True
    when the first Severa call about this invoice after its last edit was that mark."""
    edited = systems.company.edited_at_call.get(guid)
    if edited is None:
        return False
    for call in systems.severa.calls[edited:]:
        if guid in {str(v) for v in call.params.values()}:
            return bool(call.operation == "IInvoice/SetInvoiceStatus")
    return False


def final_problems(systems: Systems, types: list[str]) -> list[str]:
    """Everything delivered exactly once with its latest content; rejects parked, never sent."""
    severa, visma, operator = systems.severa, systems.visma, systems.operator
    problems: list[str] = []
    blocked = foreign_blocked(systems)  # by foreign documents: checked by foreign_problems
    accounts = {r["GUID"]: r for r in severa.records("Customer")}
    customers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for customer in visma.customers:
        customers[str(customer.get("number"))].append(customer)
    numbers = {str(r.get("Number")) for r in accounts.values()}
    problems += [f"Visma.net customer {n} has no Severa account" for n in customers if n not in numbers]
    if "accounts" in types:
        for row in (r for r in accounts.values() if r["GUID"] not in blocked):
            found = customers.get(str(row.get("Number")), [])
            problems += _customer_problems(row, found[0] if found else None)
            mapping = operator.get_mapping(TENANT, "accounts", row["GUID"])
            if found and (mapping is None or mapping.target_key != str(row.get("Number"))):
                problems.append(f"account {row['Number']}: mapping is {mapping}")

    cases = {r["GUID"]: r for r in severa.records("Case")}
    projects = {str(p.get("projectID")): p for p in visma.projects}
    case_numbers = {str(r.get("CaseNumber")) for r in cases.values()}
    problems += [f"Visma.net project {p} has no Severa case" for p in projects if p not in case_numbers]
    if "cases" in types:
        for row in (r for r in cases.values() if r["GUID"] not in blocked):
            problems += _project_problems(row, projects.get(str(row.get("CaseNumber"))), accounts)

    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in [*visma.invoices, *visma.credit_notes]:  # a credit note is its invoice's document
        by_reference[str(invoice.get("externalReference"))].append(invoice)
    ready_numbers = {}
    for key in systems.company.ever_ready:
        invoice_row = severa.get("Invoice", key)
        assert invoice_row is not None
        ready_numbers[str(invoice_row.get("Number"))] = invoice_row
    problems += [
        f"Visma.net invoice {reference} was never 'Ready for transfer' in Severa"
        for reference in by_reference
        if reference not in ready_numbers
    ]
    parked_items = operator.parked(TENANT, "invoices")
    parked = {item.key for item in parked_items}
    # Policy (docs/operations.md): an invoice edited in Severa after it reached Visma.net is never
    # rewritten there nor marked transferred: it stays "Ready for transfer", parked, for a person.
    edited = {item.key for item in parked_items if item.last_error_code == "invoice_changed_after_transfer"}
    if "invoices" in types:
        for number, row in ready_numbers.items():
            sent = by_reference.get(number, [])
            if row["GUID"] in systems.company.unmappable:
                if sent:
                    problems.append(f"rejected invoice {number} is in Visma.net {len(sent)} time(s)")
                if row.get("InvoiceStatus") != READY:
                    problems.append(f"rejected invoice {number} is {row.get('InvoiceStatus')!r} in Severa")
                if row["GUID"] not in parked:
                    problems.append(f"rejected invoice {number} is not in the retry set")
                continue
            if row["GUID"] in blocked:
                continue  # checked by foreign_problems
            if row["GUID"] in edited:
                if len(sent) != 1:
                    problems.append(f"edited invoice {number} is in Visma.net {len(sent)} times")
                if row.get("InvoiceStatus") != READY:
                    problems.append(f"edited invoice {number} was marked {row.get('InvoiceStatus')!r}")
                continue
            if len(sent) != 1:
                problems.append(f"invoice {number} is in Visma.net {len(sent)} times (externalReference)")
            if row.get("InvoiceStatus") != TRANSFERRED:
                problems.append(
                    f"invoice {number} is {row.get('InvoiceStatus')!r} in Severa, not {TRANSFERRED!r}"
                )
            if sent:
                account = accounts.get(row.get("AccountGUID"))
                if account and (sent[0].get("customer") or {}).get("number") != str(account["Number"]):
                    problems.append(
                        f"invoice {number}: Visma.net customer is not account {account['Number']}"
                    )
                document_lines = sent[0].get("invoiceLines") or sent[0].get("lines") or []
                if len(document_lines) != len(row.get("InvoiceRows") or []):
                    problems.append(f"invoice {number}: line count differs from Severa's rows")
                if row.get("IsCreditNote") != (sent[0].get("documentType") == "CreditNote"):
                    problems.append(f"invoice {number}: a credit note in one system, not in the other")
                if sent[0].get("invoiceText") != row.get("Title") and not _edited_in_marking_window(
                    systems, row["GUID"]
                ):
                    problems.append(
                        f"invoice {number}: Visma.net text {sent[0].get('invoiceText')!r} is not the latest "
                        f"title {row.get('Title')!r} (edited while it was being transferred?)"
                    )
        stray = parked - systems.company.unmappable - edited - blocked
        problems += [f"invoice {key} is still parked although it can be transferred" for key in stray]
    for name in ("accounts", "cases"):
        left = [i.display_key for i in operator.parked(TENANT, name) if i.key not in blocked]
        if left and name in types:
            problems.append(f"{name} still parked after the clean runs: {left}")

    if "hour_entries" in types:
        lines = s3_lines(systems, "hour_entries")
        entries = {r["GUID"]: r for r in severa.records("HourEntry")}
        problems += [f"hour entry {g} is in S3 but not in Severa" for g in lines if g not in entries]
        for key, row in entries.items():
            where = lines.get(key, [])
            if len(where) != 1:
                problems.append(f"hour entry {key} is in {len(where)} S3 lines ({[p for p, _ in where]})")
                continue
            partition, line = where[0]
            if partition != hour_entry_partition(row):
                problems.append(
                    f"hour entry {key} is in day file {partition}, its day is {hour_entry_partition(row)}"
                )
            problems += _line_problems(
                f"hour entry {key}", line, row, ("Quantity", "Description", "EventDate")
            )

    if "absences" in types:
        lines = s3_lines(systems, "absences")
        activities = {r["GUID"]: r for r in severa.records("Activity")}
        absences = {k: r for k, r in activities.items() if r.get("ActivityTypeGUID") in ABSENCE_TYPES}
        problems += [
            f"activity {g} is in the absence files but is not an absence" for g in lines if g not in absences
        ]
        for key, row in absences.items():
            where = lines.get(key, [])
            if len(where) != 1:
                problems.append(
                    f"absence {row['Name']} is in {len(where)} S3 lines ({[p for p, _ in where]})"
                )
                continue
            partition, line = where[0]
            if partition != absence_week(row):
                problems.append(
                    f"absence {row['Name']} is in week file {partition}, it starts in {absence_week(row)}"
                )
            problems += _line_problems(
                f"absence {row['Name']}", line, row, ("Name", "StartDateTime", "EndDateTime")
            )
    return problems


def _written_at(systems: Systems, data_type: str) -> datetime:
    item = systems.aws.dynamodb.get_item(
        TableName=systems.aws.table,
        Key={"pk": {"S": f"TENANT#{TENANT}"}, "sk": {"S": f"WATERMARK#{data_type}"}},
    )["Item"]
    return _utc(item["updated_at"]["S"])


# --- the run lock ------------------------------------------------------------------------------------
def lock_holder(systems: Systems, data_type: str, now: datetime) -> str | None:
    """The run id holding ``data_type``'s lock item at ``now`` (None: free or its lease ran out)."""
    item = systems.aws.dynamodb.get_item(
        TableName=systems.aws.table,
        Key={"pk": {"S": f"TENANT#{TENANT}"}, "sk": {"S": f"LOCK#{data_type}"}},
    ).get("Item")
    if not item or int(item["expires_at"]["N"]) < now.timestamp():
        return None
    return str(item["owner"]["S"])


def paused_holder(systems: Systems, data_type: str, now: datetime, paused_request: str | None) -> str | None:
    """The lock owner when it is the invocation paused at this step (``paused_request``), else None.

    Only that invocation is known to keep its lock while the step runs: an owner in a parallel
    thread (a concurrent invocation, its retry execution) may release it at any moment, so a later
    invocation that takes the free lock is right to run."""
    owner = lock_holder(systems, data_type, now)
    if owner is None or paused_request is None or not owner.startswith(f"{paused_request}:"):
        return None
    return owner


# --- the watermark rule, after every invocation -------------------------------------------------------
def watermark_problems(systems: Systems, data_type: str) -> list[str]:
    """No watermark is past an undelivered record: every record whose change time is at or before
    the watermark is delivered with that content, or parked."""
    state = systems.operator.read_watermark(TENANT, data_type)
    mark = state.watermark
    if mark is None or data_type == "absences":  # absences follow their dates, checked at the end
        return []
    # Only what was committed before the watermark was written: a commit arriving later with an
    # older change time is the next run's (it reads from the watermark minus the overlap).
    written = _written_at(systems, data_type)
    committed = systems.company.committed
    severa, visma = systems.severa, systems.visma
    parked = {item.key for item in systems.operator.parked(TENANT, data_type)}
    entity = {"accounts": "Customer", "cases": "Case", "invoices": "Invoice", "hour_entries": "HourEntry"}[
        data_type
    ]
    due = [
        r
        for r in severa.records(entity)
        if (changed := severa.change_time(entity, r["GUID"])) is not None
        and changed <= mark
        and r["GUID"] not in parked
        and committed.get(r["GUID"], datetime.min.replace(tzinfo=UTC)) < written
    ]
    problems: list[str] = []
    where = f"{data_type} watermark {state.raw}"
    if data_type == "accounts":
        customers = {str(c.get("number")): c for c in visma.customers}
        for row in due:
            problems += [
                f"{where}: {p}" for p in _customer_problems(row, customers.get(str(row.get("Number"))))
            ]
    elif data_type == "cases":
        projects = {str(p.get("projectID")): p for p in visma.projects}
        accounts = {r["GUID"]: r for r in severa.records("Customer")}
        for row in due:
            problems += [
                f"{where}: {p}"
                for p in _project_problems(row, projects.get(str(row.get("CaseNumber"))), accounts)
            ]
    elif data_type == "invoices":
        problems += [
            f"{where}: invoice {r.get('Number')} is still ready and not parked"
            for r in due
            if r.get("InvoiceStatus") == READY
        ]
    else:
        observe_hour_entries(systems)
        # A GUID Severa started answering by itself is due once it was answered before the signpost
        # of the plan that wrote the watermark (the watermark is that signpost minus the skew
        # margin): every day of that plan was read after it. Before that its file may still show
        # the GUIDs of the last read, which is the promise (docs/operations.md, GUID incidents).
        due = [r for r in due if systems.appeared.get(str(r["GUID"]), mark) <= mark]
        lines = s3_lines(systems, "hour_entries")
        for row in due:
            found = [
                line
                for partition, line in lines.get(row["GUID"], [])
                if partition == hour_entry_partition(row)
            ]
            if not found:
                problems.append(f"{where}: hour entry {row['GUID']} is not in its day file")
            else:
                problems += [
                    f"{where}: {p}"
                    for p in _line_problems(
                        f"hour entry {row['GUID']}", found[0], row, ("Quantity", "Description")
                    )
                ]
    return problems


# --- what operators get ------------------------------------------------------------------------------
def _all_error_classes() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    pending: list[type[errors.SyncError]] = [errors.SyncError]
    while pending:
        cls = pending.pop()
        out[cls.code] = cls.alert_kind
        pending.extend(cls.__subclasses__())
    return out


def _says_no_call(line: dict[str, Any]) -> bool:
    """A record error with no call of its own says so (issue 12 item 5), never shows another's."""
    return (
        line.get("level") == "ERROR" and bool(line.get("error_code")) and line.get("previous_call") == "none"
    )


def _record_error(line: dict[str, Any]) -> tuple[str, str, str]:
    return (str(line.get("record_key")), str(line.get("error_code")), str(line.get("error_message"))[:200])


def _news(record_errors: list[dict[str, Any]], reported: set[tuple[str, str, str]]) -> bool:
    """record_errors alerts when the retry set changes: a run whose failures are all known is quiet."""
    return any(_record_error(line) not in reported for line in record_errors)


def log_problems(lines: list[dict[str, Any]], alerts: list[str]) -> list[str]:
    """Every failure left an ERROR line an operator can act on (error code, the previous API call);
    nothing was unclassified; every run that parked records or stopped on an alerting error alerted."""
    problems: list[str] = []
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if line.get("run_id"):
            by_run[str(line["run_id"])].append(line)
        if line.get("error_code") == "unexpected":
            problems.append(f"an unclassified error reached the engine: {line.get('message')}")
    kinds = _all_error_classes()
    reported: set[tuple[str, str, str]] = set()  # record errors an earlier run already alerted

    def actionable(line: dict[str, Any]) -> bool:
        call = line.get("previous_call")
        return (
            line.get("level") == "ERROR"
            and bool(line.get("error_code"))
            and isinstance(call, dict)
            and bool(call.get("system"))
            and bool(call.get("operation"))
        )

    for run_id, run_lines in by_run.items():
        ends = [line for line in run_lines if line.get("action") == "run_finished"]
        if not ends:
            continue  # the Lambda died: nothing more could be logged
        end = ends[-1]
        status, failed = end.get("status"), int(end.get("failed") or 0)
        errors_ = [line for line in run_lines if line.get("level") == "ERROR"]
        if status in ("failed", "retry_later") and not any(actionable(line) for line in errors_):
            shown = [(e.get("message"), e.get("error_code"), e.get("previous_call")) for e in errors_]
            problems.append(f"run {run_id} ended {status} without an actionable ERROR line: {shown}")
        record_errors = [line for line in errors_ if line.get("action") == "record_failed"]
        if len(record_errors) < failed:
            problems.append(
                f"run {run_id}: {failed} records failed, {len(record_errors)} record_failed lines"
            )
        for line in record_errors:
            if not (actionable(line) or _says_no_call(line)) or not line.get("display_key"):
                problems.append(
                    f"run {run_id}: record error without error code, previous call or display key: "
                    f"{line.get('message')!r} previous_call={line.get('previous_call')!r}"
                )
        if failed and not any(run_id in alert for alert in alerts) and _news(record_errors, reported):
            problems.append(f"run {run_id} parked {failed} records but sent no alert")
        reported |= {_record_error(line) for line in record_errors}
        stop = next((e for e in errors_ if e.get("action") == "run_failed"), {})
        code = str(stop.get("error_code"))
        if status == "failed" and kinds.get(code) and not any(run_id in alert for alert in alerts):
            problems.append(f"run {run_id} stopped on {code} but sent no alert")
    return problems


def sns_messages(aws: Aws) -> list[str]:
    """Every alert published to the schedule's topic (moto keeps them), subject and body."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    region = aws.topic_arn.split(":")[3]
    topic = sns_backends[DEFAULT_ACCOUNT_ID][region].topics[aws.topic_arn]
    return [f"{subject}\n{message}" for _id, message, subject, *_ in topic.sent_notifications]


def state_items(aws: Aws) -> list[str]:
    items = aws.dynamodb.scan(TableName=aws.table)["Items"]
    return [json.dumps(item, default=str) for item in items]


# --- foreign documents (an accountant's own, under keys severa-sync would use) ------------------------
def foreign_blocked(systems: Systems) -> set[str]:
    """Severa GUIDs that cannot reach Visma.net while the non-matching foreign documents stand: the
    records whose key they hold, and what depends on those (cases of an account, invoices of both)."""
    foreign = [doc for doc in systems.foreign if not doc["matches"]]
    if not foreign:
        return set()
    numbers = {doc["number"] for doc in foreign if doc["kind"] == "customer"}
    project_ids = {doc["project_id"] for doc in foreign if doc["kind"] == "project"}
    references = {doc["external_reference"] for doc in foreign if doc["kind"] == "invoice"}
    severa = systems.severa
    accounts = {r["GUID"] for r in severa.records("Customer") if str(r.get("Number")) in numbers}
    cases = {
        r["GUID"]
        for r in severa.records("Case")
        if str(r.get("CaseNumber")) in project_ids or r.get("AccountGUID") in accounts
    }
    invoices = {
        r["GUID"]
        for r in severa.records("Invoice")
        if str(r.get("Number")) in references
        or r.get("AccountGUID") in accounts
        or r.get("MainCaseGUID") in cases
    }
    return accounts | cases | invoices


def foreign_problems(systems: Systems, types: list[str], alerts: list[str]) -> list[str]:
    """No foreign document was modified; its Severa record was neither adopted into it nor (for an
    invoice) marked transferred, but parked as a foreign-document error and alerted; a foreign
    document that matches was adopted, not duplicated."""
    problems: list[str] = []
    visma, severa, operator = systems.visma, systems.severa, systems.operator
    keys = {"customer": ("number", "number"), "project": ("projectID", "project_id")}
    for doc in systems.foreign:
        kind = doc["kind"]
        if kind == "invoice":
            now = [i for i in visma.invoices if i.get("externalReference") == doc["external_reference"]]
        else:
            field_name, arg = keys[kind]
            now = [d for d in getattr(visma, f"{kind}s") if str(d.get(field_name)) == doc[arg]]
        name = f"foreign {kind} {doc.get('number') or doc.get('project_id') or doc.get('external_reference')}"
        if doc["matches"]:
            if len(now) != 1:
                problems.append(f"{name} matches its Severa record but is in Visma.net {len(now)} times")
            continue
        if now != [doc["seeded"]]:
            problems.append(f"{name} was changed or joined by another document: {now!r}")
        data_type, entity, member = {
            "customer": ("accounts", "Customer", "Number"),
            "project": ("cases", "Case", "CaseNumber"),
            "invoice": ("invoices", "Invoice", "Number"),
        }[kind]
        wanted = str(doc.get("number") or doc.get("project_id") or doc.get("external_reference"))
        rows = [r for r in severa.records(entity) if str(r.get(member)) == wanted]
        if kind == "invoice":
            rows = [r for r in rows if r["GUID"] in systems.company.ever_ready]
        if data_type not in types:
            continue
        parked = {item.key: item for item in operator.parked(TENANT, data_type)}
        for row in rows:
            item = parked.get(row["GUID"])
            if item is None or item.last_error_code != errors.ForeignDocument.code:
                problems.append(f"{name}: its Severa record is not parked as a foreign document ({item})")
            if kind == "invoice" and row.get("InvoiceStatus") != READY:
                problems.append(f"{name}: Severa invoice marked {row.get('InvoiceStatus')!r}")
            if operator.get_mapping(TENANT, data_type, row["GUID"]) is not None:
                problems.append(f"{name}: its Severa record was mapped to it (adopted)")
        if rows and not any(errors.ForeignDocument.code in alert for alert in alerts):
            problems.append(f"{name}: no alert names a foreign document")
    return problems


# --- the retry set and the invoice statuses (issue 11 classes 3 and 4) ------------------------------
def parked_dropped_problems(lines: list[dict[str, Any]]) -> list[str]:
    """A parked record is dropped only after it was not found by any key repeatedly over a day
    (engine/parked.py), with a WARNING line saying so; never on one NotFound."""
    from severa_sync.engine.parked import DROP_AFTER, DROP_MIN_NOT_FOUND

    problems: list[str] = []
    for line in lines:
        if line.get("action") != "retry_dropped_not_found":
            continue
        first, at = line.get("first_not_found_at"), line.get("time_utc")
        count = int(line.get("not_found_count") or 0)
        if line.get("level") != "WARNING" or first is None or at is None:
            problems.append(f"parked record dropped without a full WARNING line: {line.get('message')}")
        elif count < DROP_MIN_NOT_FOUND or _utc(at) - _utc(first) < DROP_AFTER:
            problems.append(f"parked record dropped after {count} not-founds since {first} (at {at})")
    return problems
