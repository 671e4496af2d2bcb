"""The Severa reader's part of the fault suite: answers that are legal but written another way, and
answers from the wrong place (issue 11 classes 7, 12, 13, 14).

- ``datetime_forms``: every answer from here on writes DateTimes in one form, one form per answer,
  or one per record. Nothing may count as a change: after the clean runs, one more pass in another
  form must deliver nothing and park nothing (``quiet_pass_problems``), and no invoice may be held
  as "changed in Severa while it was being transferred" unless someone edited it.
- ``html_page``: the next calls answer HTTP 200 with an HTML page (a login page in the way): a
  configuration error with its alert, never a wait for maintenance.
- changes ``control_chars_in_name`` (a name holding characters XML 1.0 forbids; WCF writes them as
  ``&#xB;``: the customer still arrives, with U+FFFD for each) and ``new_prospect`` (an account
  without a number: never transferred, never parked, never alerted on).
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from severa_sync.errors import SeveraEndpointNotSoap
from severa_sync.severa.streaming import legal_xml_char
from severa_sync_tools.simulators.severa.variants import FORMS

from .stack import TENANT

if TYPE_CHECKING:
    from .checks import Systems
    from .dataset import Company
    from .schedule import Step
    from .world import World

#: Kinds of ``schedule._fault`` steps this module generates and plays.
READER_FAULTS = ("datetime_forms", "html_page")
#: Changes to Severa data this module makes (``dataset.Company.change``).
READER_CHANGES = ("control_chars_in_name", "new_prospect")
FORM_MODES = (*sorted(FORMS), "per_answer", "per_record", "per_record")
#: The error code of an HTML page where a SOAP answer should be (a configuration error).
NOT_SOAP = SeveraEndpointNotSoap.code
#: The message of ``ChangedDuringTransfer`` when the re-read's content hash differed.
CHANGED_WHILE_TRANSFERRED = "changed in Severa while it was being transferred"


def reader_fault(rng: random.Random, kind: str, operations: tuple[str | None, ...]) -> Step:
    from .schedule import Step

    if kind == "datetime_forms":
        return Step("datetime_forms", {"mode": rng.choice(FORM_MODES), "seed": rng.randint(0, 999)})
    return Step(
        "html_page",
        {
            "calls": rng.randint(1, 3),
            "operation": rng.choice(operations),
            "page": rng.choice(("login", "wrong_url")),
        },
    )


def apply_reader_step(world: World, step: Step) -> None:
    if step.kind == "datetime_forms":
        world.severa.datetime_forms(step.args["mode"], seed=step.args["seed"])
        world.used_datetime_forms = True
    else:
        world.severa.html_next(
            calls=step.args["calls"], operation=step.args["operation"], page=step.args["page"]
        )


def reader_change(company: Company, kind: str, now: Any) -> str | None:
    """Apply one of ``READER_CHANGES``; None for any other kind."""
    if kind == "control_chars_in_name" and (row := company._pick("Customer", lambda r: r.get("Number"))):
        name = f"{row['Name'].split(' #')[0]} #{company._next()}\x0bline\x01two"
        company.sim.upsert("Customer", {"GUID": row["GUID"], "Name": name}, at=now)
        return f"customer {row['Number']} renamed with control characters"
    if kind == "new_prospect":
        n = company._next()
        company.sim.upsert(
            "Customer",
            {
                "GUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"p{n}")),
                "Number": None,
                "Name": f"Prospect {n}",
                "IsActive": True,
            },
            at=now,
        )
        return f"new prospect {n} (no account number)"
    return None


def as_read(text: str) -> str:
    """What the reader delivers for ``text``: characters XML 1.0 forbids become U+FFFD."""
    return "".join(c if legal_xml_char(ord(c)) else "\ufffd" for c in text)


def quiet_pass_problems(world: World) -> list[str]:
    """After the clean runs: answers in another DateTime form are no change at all."""
    if not getattr(world, "used_datetime_forms", False):
        return []
    from .checks import watermark_problems

    problems: list[str] = []
    passes: list[dict[str, tuple[Any, ...]]] = []
    # Two passes in one form (the second is what a pass with no change delivers), then one in others.
    for mode in ("utc", "utc", "per_record"):
        world.severa.datetime_forms(mode, seed=world.schedule.seed)
        world.clock.advance(61)
        outcome: dict[str, tuple[Any, ...]] = {}
        for data_type in world.schedule.types:
            answer = world.stack.scheduled(data_type).answer or {}
            outcome[data_type] = (answer.get("status"), answer.get("delivered"), answer.get("failed"))
            problems += watermark_problems(world.systems, data_type)
        passes.append(outcome)
    _first, same_form, other_form = passes
    for data_type, (status, delivered, failed) in other_form.items():
        if (status, delivered, failed) != same_form[data_type]:
            problems.append(
                f"{data_type}: with only the DateTime form changed a pass ended {status} with {delivered} "
                f"delivered and {failed} failed (the same form: {same_form[data_type]}): a spurious change"
            )
    return problems


def spurious_change_problems(systems: Systems) -> list[str]:
    """An invoice held as changed during its transfer must have been edited by someone."""
    problems: list[str] = []
    for item in systems.operator.parked(TENANT, "invoices"):
        if CHANGED_WHILE_TRANSFERRED not in item.last_error_message:
            continue
        row = systems.severa.get("Invoice", item.key) or {}
        if not str(row.get("Title") or "").startswith("Edited"):
            problems.append(
                f"invoice {item.display_key} is held as changed during its transfer, but nobody edited it "
                "(the same content read in another form?)"
            )
    return problems


# --- what the checks expect of Severa's data after the reader ------------------------------------
class ReadView:
    """The Severa simulator as the final checks must see it (``checks.Systems.severa``): a customer's
    name as the reader delivers it (``as_read``), and no prospects, which are never transferred
    (``prospect_problems`` holds them to that). Everything else passes through."""

    def __init__(self, severa: Any):
        self._severa = severa

    def records(self, entity: str) -> list[dict[str, Any]]:
        rows = self._severa.records(entity)
        if entity != "Customer":
            return list(rows)
        return [_read_customer(row) for row in rows if row.get("Number") is not None]

    def get(self, entity: str, guid: str) -> dict[str, Any] | None:
        row = self._severa.get(entity, guid)
        return _read_customer(row) if row is not None and entity == "Customer" else row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._severa, name)


def _read_customer(row: dict[str, Any]) -> dict[str, Any]:
    name = row.get("Name")
    return {**row, "Name": as_read(name)} if isinstance(name, str) else row


def prospect_problems(world: World, alerts: list[str], lines: list[dict[str, Any]]) -> list[str]:
    """Accounts without a number: never in Visma.net, never parked or mapped, never alerted on."""
    prospects = {r["GUID"]: r for r in world.severa.records("Customer") if r.get("Number") is None}
    if not prospects:
        return []
    problems: list[str] = []
    names = {str(row.get("Name")) for row in prospects.values()}
    problems += [
        f"prospect {c.get('name')!r} is in Visma.net as customer {c.get('number')!r}"
        for c in world.visma.customers
        if c.get("name") in names
    ]
    for data_type in ("accounts", "cases", "invoices"):
        problems += [
            f"prospect {item.display_key} is parked ({data_type}: {item.last_error_code})"
            for item in world.operator.parked(TENANT, data_type)
            if item.key in prospects
        ]
    for key, row in prospects.items():
        if world.operator.get_mapping(TENANT, "accounts", key) is not None:
            problems.append(f"prospect {row.get('Name')!r} has a Visma.net mapping")
        if any(key in alert or str(row.get("Name")) in alert for alert in alerts):
            problems.append(f"an alert names prospect {row.get('Name')!r}")
    problems += [
        f"a {line.get('level')} line about prospect {line.get('record_key')}: {line.get('message')}"
        for line in lines
        if line.get("record_key") in prospects and line.get("level") in ("WARNING", "ERROR")
    ]
    return problems


def html_problems(world: World, alerts: list[str]) -> list[str]:
    """An invocation that met an HTML page (HTTP 200) ends failed on a configuration error naming the
    URL, with an alert, never waiting for maintenance; one that met none never ends on it (so runs
    recover once the page is gone)."""
    problems: list[str] = []
    for outcome in world.stack.outcomes:
        answer = outcome.answer
        if answer is None:
            continue  # died: nothing more could be told
        status, code = answer.get("status"), answer.get("error_code")
        if outcome.html_pages and (status, code) != ("failed", NOT_SOAP):
            problems.append(
                f"{outcome.data_type} run {outcome.run_id} met an HTML page from Severa's URL but ended "
                f"{status} ({code}), not failed ({NOT_SOAP})"
            )
        elif outcome.html_pages and not any(str(outcome.run_id) in alert for alert in alerts):
            problems.append(f"{outcome.data_type} run {outcome.run_id} met an HTML page and sent no alert")
        elif not outcome.html_pages and code == NOT_SOAP:
            problems.append(
                f"{outcome.data_type} run {outcome.run_id} ended on {NOT_SOAP} although Severa answered SOAP"
            )
    return problems
