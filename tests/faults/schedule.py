"""Fault schedules: what happens to the product, step by step, generated from one seed (replayable).

A schedule runs some data types a few times while the world misbehaves: Severa in maintenance,
truncated answers, faults, its quota spent; Visma.net throttling, failing, committing then timing out;
the Lambda dying at any step; a second invocation at the same time; operators rewinding watermarks;
people editing Severa between and during runs; Severa's clock off ours.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from severa_sync import registry

from .dataset import CHANGES
from .lag import add_commit_lag
from .locks import add_lock_steps, add_size_cap
from .paging import add_page_deletions
from .reader_faults import READER_FAULTS, reader_fault

#: Where a type's Visma.net writes go (faults aimed there hit it), incl. on-demand dependencies.
VISMA_PATHS = {
    "accounts": ("/v1/customer",),
    "cases": ("/v1/project", "/v1/customer"),
    "products": ("/v1/inventory",),
    "invoices": (
        "/v2/customerinvoice",
        "/v1/customerinvoice",
        "/v1/project",
        "/v1/customer",
        "/v1/inventory",
    ),
}
SEVERA_OPERATIONS = {
    dt.name: tuple(op for op in (dt.read_operation, dt.by_key_operation, dt.fallback_operation) if op)
    for dt in registry.DATA_TYPES
}
SEVERA_OPERATIONS["invoices"] += ("IInvoice/SetInvoiceStatus",)
BY_KEY_OPERATIONS = {
    dt.name: (dt.by_key_operation,) if dt.by_key_operation else () for dt in registry.DATA_TYPES
}
#: Steps where dying hurts most (between a write and the bookkeeping of it).
KILL_POINTS = (
    "source.acknowledge",
    "source.acknowledge done",
    "state.put_mapping",
    "state.put_mappings",
    "state.put_mappings done",
    "state.write_watermark",
    "state.write_watermark done",
    "state.save_resume",
    "state.unpark",
    "state.park done",
    "s3.put_object",
    "s3.put_object done",
    "visma POST answered",
    "visma PUT answered",
    "severa POST answered",
    "source.read record",
)
SEVERA_FAULTS = (
    "GeneralFailureException",
    "AuthenticationFailureException",
    "NotFoundException",
    "QuotaLimitExceededException",
    "NoPermissionException",
)


@dataclass(frozen=True)
class Step:
    """One thing that happens; ``args`` say exactly what (they are what the replay shows)."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.kind}({inner})"


@dataclass
class Schedule:
    seed: int
    types: list[str]
    settings: dict[str, Any]
    steps: list[Step]
    name: str = ""

    def describe(self) -> str:
        lines = [
            f"schedule {self.name or f'seed={self.seed}'}: types={self.types} settings={self.settings}",
            *(f"  {i:2d}. {step}" for i, step in enumerate(self.steps, start=1)),
            f"replay: .venv/bin/pytest -q 'tests/faults/test_schedules.py::test_random_schedule[seed_{self.seed}]'"
            if not self.name
            else f"replay: .venv/bin/pytest -q tests/faults -k {self.name}",
        ]
        return "\n".join(lines)


# --- generation ----------------------------------------------------------------------------------
def _types(rng: random.Random) -> list[str]:
    # Types read from Visma.net (payments) have their own schedules: test_payment_schedules.py.
    names = [dt.name for dt in registry.run_order() if dt.visma_read is None]
    roll = rng.random()
    if roll < 0.05:
        return names
    picked = set(rng.sample(names, 2 if roll < 0.3 else 1))
    return [name for name in names if name in picked]


def _fault(rng: random.Random, data_type: str) -> Step:
    menu = ["maintenance", "truncate", "severa_fault", "quota", "versions", *READER_FAULTS]
    if data_type in VISMA_PATHS:
        menu += ["throttle", "commit_then_timeout", "fail_5xx", "stall", "reject", "expire_tokens"] * 2
        menu.append("visma_quota")
    kind = rng.choice(menu)
    if kind in READER_FAULTS:
        return reader_fault(rng, kind, (None, "IAPI/GetVersion", *SEVERA_OPERATIONS[data_type]))
    if kind == "maintenance":
        return Step("maintenance", {"calls": rng.choice((1, 2, 3, 5, 8, 13, 13, 60))})
    if kind == "truncate":
        return Step(
            "truncate",
            {"calls": rng.randint(1, 2), "operation": rng.choice((None, *SEVERA_OPERATIONS[data_type]))},
        )
    if kind == "severa_fault":
        fault = rng.choice(SEVERA_FAULTS)
        by_key = BY_KEY_OPERATIONS[data_type]
        if fault == "NotFoundException" and not by_key:
            fault = rng.choice([f for f in SEVERA_FAULTS if f != "NotFoundException"])
        # NotFound answers a list read that has nothing to list (Severa's contract, reference §2):
        # injected there it would claim "no data" where there is some, which Severa does not do.
        operations = (
            by_key
            if fault == "NotFoundException"
            else (None, "IAPI/GetVersion", *SEVERA_OPERATIONS[data_type])
        )
        return Step(
            "severa_fault",
            {"fault": fault, "operation": rng.choice(operations), "calls": rng.randint(1, 2)},
        )
    if kind == "quota":
        return Step("quota", {"calls_left": rng.randint(0, 30)})
    if kind == "versions":
        return Step("versions", {"which": rng.choice(("api", "api", "schema"))})
    path = rng.choice(VISMA_PATHS[data_type])
    if kind == "visma_quota":  # a small hourly quota: runs pause and the retry machine waits it out
        return Step("visma_quota", {"calls": rng.randint(8, 40)})
    if kind == "throttle":
        return Step("throttle", {"calls": rng.randint(1, 25), "retry_after": rng.choice((1, 30, 400))})
    if kind == "commit_then_timeout":
        return Step("commit_then_timeout", {"path": path, "calls": rng.randint(1, 2), "method": "POST"})
    if kind == "fail_5xx":
        return Step(
            "fail_5xx",
            {
                "path": path,
                "calls": rng.randint(1, 3),
                "status": rng.choice((500, 502, 503, 504)),
                "commit": rng.random() < 0.5,
                "method": rng.choice(("POST", "PUT", None)),
            },
        )
    if kind == "stall":
        return Step("stall", {"path": path, "calls": 1, "method": rng.choice(("POST", "GET"))})
    if kind == "reject":
        return Step("reject", {"path": path, "calls": 1, "method": rng.choice(("POST", "PUT"))})
    return Step("expire_tokens")


def _change(rng: random.Random, types: list[str], *, during: bool = False) -> Step:
    """A change in Severa, stamped ``at``: "now"; "lag" (its transaction commits ``seconds`` after its
    change time, within the 120 s skew margin the engine keeps behind the signpost for this); or,
    between runs only, "boundary" (changed ``seconds`` after the stored watermark of its type,
    committed only now: the next run must still read it). During a run the stored watermark is the
    run's progress through old windows: a commit that late is not one Severa makes."""
    data_type = rng.choice(types)
    at = rng.choice(("now", "lag") if during else ("now", "lag", "boundary", "boundary"))
    seconds = rng.randint(1, 120) if at == "lag" else rng.randint(0, 59)
    menu = CHANGES[data_type]
    if "cases" in types:
        # new_case may open a case for any account; one for a prospect can never reach Visma.net (its
        # account has no number) and stays parked: an open question, so no prospects beside cases.
        menu = tuple(kind for kind in menu if kind != "new_prospect")
    return Step("change", {"what": rng.choice(menu), "at": at, "seconds": seconds})


def _advance(rng: random.Random) -> Step:
    return Step(
        "advance", {"seconds": rng.randint(30, 300) if rng.random() < 0.5 else rng.randint(300, 90 * 60)}
    )


def _during(rng: random.Random, types: list[str], data_type: str) -> Step:
    kind = rng.choice(("change", "change", "rewind", "concurrent", "advance"))
    if kind == "change":
        return _change(rng, types, during=True)
    if kind == "rewind":
        return Step("rewind", {"type": data_type, "hours": rng.randint(1, 96)})
    if kind == "concurrent":
        # Mostly "nested": the second invocation runs whole while the first waits at this step
        # (replays exactly); sometimes truly in parallel (races the lock; may not replay exactly).
        return Step("concurrent", {"type": rng.choice((data_type, *types)), "parallel": rng.random() < 0.25})
    return Step("advance", {"seconds": rng.randint(1, 120)})


#: Documents an accountant made in Visma.net before severa-sync first ran, under keys it would use
#: (the dataset's accounts 1001-1003, cases 2001-2003, ready invoices 10501 and 10503, products
#: LICENSE and HANDBOOK). ``matches``: whether the adoption rule takes it for the Severa record
#: (docs/operations.md).
FOREIGN_DOCUMENTS: tuple[dict[str, Any], ...] = (
    {"kind": "customer", "number": "1003", "name": "Northwind Traders Ltd", "vat": None, "matches": False},
    {"kind": "customer", "number": "1001", "name": "Acme (old name)", "vat": "fi 1000001-2", "matches": True},
    {
        "kind": "project",
        "project_id": "2002",
        "customer": "1001",
        "description": "ERP integration",
        "matches": False,
    },
    {"kind": "invoice", "external_reference": "10501", "customer": "1002", "matches": False},
    {"kind": "invoice", "external_reference": "10503", "customer": "4711", "matches": False},
    # LICENSE is billed by 10502 (rejected for its VAT anyway) and by new invoices; HANDBOOK by 10501.
    {
        "kind": "item",
        "number": "LICENSE",
        "description": "Licence (typed in)",
        "stock": False,
        "matches": False,
    },
    {"kind": "item", "number": "HANDBOOK", "description": "handbook.", "stock": False, "matches": True},
)
#: Server text is cut at these sizes (error messages, IPP details, logged bodies).
ECHO_CUTS = (300, 500, 8000)


def _foreign_documents(seed: int, types: list[str]) -> list[Step]:
    """Foreign documents already in Visma.net (its own generator: the other steps of a seed stay)."""
    rng = random.Random(f"foreign-{seed}")
    if not set(types) & set(VISMA_PATHS) or rng.random() >= 0.2:
        return []
    return [Step("foreign_document", dict(doc)) for doc in rng.sample(FOREIGN_DOCUMENTS, rng.randint(1, 2))]


def _echoed_secrets(seed: int, types: list[str]) -> list[Step]:
    """Visma.net error bodies echoing the request's bearer token across a cut point."""
    rng = random.Random(f"echo-{seed}")
    visma_types = [name for name in types if name in VISMA_PATHS]
    if not visma_types or rng.random() >= 0.15:
        return []
    status = rng.choice((400, 500, 503))
    return [
        Step(
            "echo_token",
            {
                "path": rng.choice(VISMA_PATHS[rng.choice(visma_types)]),
                "status": status,
                "method": rng.choice(("POST", "PUT"))
                if status == 400
                else rng.choice(("POST", "PUT", "GET")),
                "shape": rng.choice(("text", "message", "ipp")),
                "filler": rng.choice(ECHO_CUTS) - rng.randint(1, 42),
                "calls": rng.randint(1, 2),
            },
        )
    ]


def _run_positions(steps: list[Step], data_type: str) -> list[int]:
    return [i for i, step in enumerate(steps) if step.kind == "run" and step.args["type"] == data_type]


def _localized_statuses(seed: int, types: list[str], steps: list[Step]) -> list[Step]:
    """The configured invoice statuses are not the tenant's for a while ("Valmis siirtoon" against an
    English Severa), then fixed: runs in between stop before reading, and afterwards every invoice
    waiting in the source status is transferred (checks.final_problems, checks.status_problems)."""
    rng = random.Random(f"statuses-{seed}")
    runs = _run_positions(steps, "invoices")
    if not runs or rng.random() >= 0.12:
        return steps
    first = rng.choice(runs)
    last = rng.choice([i for i in runs if i >= first])
    out = list(steps)
    out.insert(last + 1, Step("status_fixed"))
    out.insert(first, Step("status_mismatch"))
    return out


def _guid_incident(seed: int, types: list[str], steps: list[Step]) -> list[Step]:
    """Severa answers NotFound for invoices by GUID (and, sometimes, by number too) for a while:
    no parked invoice may be dropped for it, none left waiting (checks.dropped_problems)."""
    rng = random.Random(f"guid-incident-{seed}")
    runs = _run_positions(steps, "invoices")
    if not runs or rng.random() >= 0.15:
        return steps
    at = rng.choice(runs)
    incident = Step("guid_incident", {"calls": rng.randint(2, 40), "by_number": rng.random() < 0.3})
    return [*steps[:at], incident, *steps[at:]]


def generate(seed: int) -> Schedule:
    rng = random.Random(seed)
    types = _types(rng)
    settings = {
        "batch_size": rng.choice((2, 3, 500)),
        "background_threshold_lines": rng.choice((200, 200, 2)),
        "skew_seconds": rng.choice((0, rng.randint(-900, 900), rng.randint(-90, 90))),
        "quota_reserve": rng.choice((0, 20)),
    }
    if set(types) <= {"invoices", "absences"} and rng.random() < 0.5:
        # Answers past the limit: windows split (a one-minute window of this data always fits; the
        # SINCE types cannot split, and a mass update never fits a minute).
        settings["max_response_bytes"] = 12_000
    steps: list[Step] = [*_foreign_documents(seed, types), *_echoed_secrets(seed, types)]
    for _ in range(rng.randint(2, 4)):
        data_type = rng.choice(types)
        for _ in range(rng.choice((0, 1, 1, 2))):
            steps.append(_fault(rng, data_type))
        for _ in range(rng.choice((0, 1, 1, 2))):
            steps.append(_change(rng, types))
        if rng.random() < 0.1:
            steps.append(Step("rewind", {"type": data_type, "hours": rng.randint(1, 96)}))
        run: dict[str, Any] = {"type": data_type}
        if rng.random() < 0.4:
            if rng.random() < 0.5:
                run["kill_at"] = rng.randint(1, 150)
            else:
                point = rng.choice((*KILL_POINTS, f"target.deliver record of {data_type}"))
                run["kill_on"], run["kill_nth"] = point, rng.randint(1, 3)
            run["recovery"] = rng.choice(("same_run", "lease", "skip_then_lease"))
        if rng.random() < 0.5:
            run["during"] = [
                (rng.randint(1, 80), _during(rng, types, data_type)) for _ in range(rng.randint(1, 2))
            ]
        if rng.random() < 0.15:
            run["budget"] = (rng.randint(61, 200), rng.choice((1.0, 5.0, 20.0)))
        steps.append(Step("run", run))
        if any(s.kind == "quota" for s in steps[-4:]) and rng.random() < 0.5:
            steps.append(Step("quota_reset"))
        steps.append(_advance(rng))
    steps = _localized_statuses(seed, types, steps)
    steps = _guid_incident(seed, types, steps)
    steps = add_lock_steps(seed, steps)
    steps = add_commit_lag(seed, types, steps)
    steps = add_page_deletions(seed, types, settings, steps)
    add_size_cap(seed, types, settings)
    return Schedule(seed, types, settings, steps)


def skew(schedule: Schedule) -> timedelta:
    return timedelta(seconds=schedule.settings.get("skew_seconds", 0))
