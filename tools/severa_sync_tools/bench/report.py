"""The bench's printed report: machine, method, figures, ratios, and every target met or missed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Figures = dict[str, Any]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [f"    {line}", "    " + "  ".join("-" * w for w in widths)]
    for row, raw in zip(cells, rows, strict=True):
        # Numbers right-aligned, words left-aligned.
        out.append(
            "    "
            + "  ".join(
                c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                for c, w, v in zip(row, widths, raw, strict=True)
            ).rstrip()
        )
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def machine_section(machine: Figures) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return [
        f"Machine: {machine['cpus']} vCPU ({machine['cpu_model']}), {machine['memory_gb']} GB RAM, "
        f"{machine['implementation']} {machine['python']} on {machine['platform']}",
        f"Versions: {versions}",
    ]


def soap_section(figures: Figures) -> list[str]:
    out = [
        "1. SOAP list read: ICustomer/GetCustomersChangedSince, N customers of 31 members (~1 KB each)",
        "   Method: the simulator makes the answer once; its bytes are replayed over HTTP on 127.0.0.1 to",
        "   each reader, each run in a fresh interpreter (median time of the runs, highest peak RSS).",
        "   'live simulator' reads straight from the simulator, which builds the XML as it sends it.",
    ]
    rows = [
        [r["n"], r["mode"], r["runs"], r["seconds"], r["records_per_s"], r["rss_before_mb"], r["peak_rss_mb"]]
        for r in sorted(figures["rows"], key=lambda r: (r["n"], r["mode"]))
    ]
    out += _table(["N", "mode", "runs", "seconds", "records/s", "RSS before MB", "peak RSS MB"], rows)
    out.append("   Ratios (same run):")
    for r in figures["ratios"]:
        out.append(
            f"     N={r['n']:,}: {_cell(r['vs_zeep_speed'])}x zeep's speed, "
            f"{_cell(r['vs_iterparse_speed'])}x bare iterparse's speed, "
            f"zeep needs {_cell(r['zeep_over_ours_memory'])}x our peak memory; typed floor: "
            f"{_cell(r['floor_vs_zeep_speed'])}x zeep, {_cell(r['floor_vs_iterparse_speed'])}x iterparse"
        )
    return out


def e2e_section(figures: Figures) -> list[str]:
    out = [
        f"2. End-to-end mass update: {figures['n']:,} accounts changed at one instant, real engine and adapters",
        "   Method: Severa and Visma.net simulators in the driver; the accounts run in a fresh interpreter",
        "   (Runtime with SeveraSource/SeveraClient, VismaTarget/VismaClient, the embedded state store, a",
        "   900 s budget), then a second run with nothing changed. Calls counted from the simulators' logs.",
    ]
    for scenario in figures["scenarios"]:
        out.append(f"   Scenario: {scenario['scenario']}")
        for r in scenario["runs"]:
            out += [
                f"     {r['label']} run: {r['status']}, {r['seconds']:,.1f} s "
                f"({_cell(r['changed_accounts_per_s'])} changed accounts/s), {r['fetched']:,} fetched, "
                f"{r['delivered']:,} delivered, {r['skipped_by_content_hash']:,} skipped by content hash, "
                f"{r['dropped_by_overlap_filter']:,} dropped by the overlap filter, {r['failed']:,} failed",
                f"       peak RSS {r['peak_rss_mb']} MB; SOAP calls {r['soap_calls']:,} "
                f"({r['soap_share_of_daily_quota_pct']}% of a 100,000/day quota): "
                f"{_counts(r['soap_calls_by_operation'])}",
                f"       Visma.net calls {r['visma_calls']:,} ({_cell(r['visma_calls_per_delivered_record'])} per "
                f"delivered record): {_counts(r['visma_calls_by_endpoint'])}",
            ]
        out.append(
            f"     RSS before the first run {scenario['rss_before_mb']} MB; the embedded store holds "
            f"{scenario['state_items']:,} items, ~{scenario['state_store_mb_approx']} MB of the RSS (DynamoDB "
            f"in Lambda); {scenario['log_lines']:,} log lines for both runs."
        )
    return out


def cold_start_section(figures: Figures) -> list[str]:
    out = [
        "3. Cold start: import of functions/<type>/app.py in a fresh interpreter, minus an empty interpreter",
        "   Method: median wall clock of `python -c 'import app'` vs `python -c pass`, interleaved, after a",
        "   warm-up. 'first use' adds what the first invocation builds before its first call (zeep service",
        "   from the WSDL, boto3 clients, the target module): informational, no target.",
    ]
    rows = [
        [
            r["data_type"],
            r["runs"],
            r["empty_interpreter_ms"],
            r["import_ms"],
            r["extra_ms"],
            r["first_use_extra_ms"],
            r["peak_rss_mb"],
        ]
        for r in figures["rows"]
    ]
    out += _table(
        ["type", "runs", "empty ms", "import ms", "extra ms", "first use extra ms", "peak RSS MB"], rows
    )
    slowest = figures["rows"][0]["slowest_imports"]
    out.append(
        f"   Slowest module bodies ({figures['rows'][0]['data_type']}, -X importtime self time): "
        + ", ".join(f"{m['module']} {m['self_ms']} ms" for m in slowest[:6])
    )
    return out


def economy_section(figures: Figures) -> list[str]:
    out = [
        "4. API economy: calls per run of every data type (seeded simulators, one process, four rounds)",
        f"   Changes per type in the 'changes' round: {_counts(figures['changes_per_type'])}",
    ]
    rows = [
        [
            r["phase"],
            r["data_type"],
            r["status"],
            r["fetched"],
            r["delivered"],
            r["soap_calls"],
            r["visma_calls"],
            _counts({k: v for k, v in r["soap_calls_by_operation"].items() if not k.startswith("IAPI/")}),
        ]
        for r in figures["rows"]
    ]
    gate = sorted(
        {
            sum(v for k, v in r["soap_calls_by_operation"].items() if k.startswith("IAPI/"))
            for r in figures["rows"]
        }
    )
    out.append(
        f"   Version-gate calls (IAPI/GetVersion, IAPI/GetEntitySchemaVersion) per run: {' or '.join(map(str, gate))}"
    )
    out += _table(
        ["round", "type", "status", "fetched", "delivered", "SOAP", "Visma.net", "SOAP reads and writes"],
        rows,
    )
    out.append("   SOAP calls per day of quiet runs at the default schedules (reconciliation span included):")
    out += _table(
        ["type", "schedule", "runs/day", "SOAP/run", "SOAP/day"],
        [
            [
                d["data_type"],
                d["schedule"],
                d["runs_per_day"],
                d["soap_calls_per_run"],
                d["soap_calls_per_day"],
            ]
            for d in figures.get("per_day", [])
        ],
    )
    inv = figures["invoices"]
    out += [
        f"   Invoices, happy path: {_cell(inv['happy_path_writes_per_invoice'])} Visma.net write(s) and "
        f"{_cell(inv['happy_path_calls_per_invoice'])} calls per invoice",
        f"   Invoice whose write commits then times out: {_cell(inv['unknown_outcome_writes'])} write(s), "
        f"{_cell(inv['unknown_outcome_calls'])} calls ({_counts(inv['unknown_outcome_calls_by_endpoint'])}); "
        f"run {inv['unknown_outcome_status']}, {_cell(inv['unknown_outcome_copies_in_visma'])} copy in Visma.net",
    ]
    return out


def profile_section(figures: Figures) -> list[str]:
    out = [
        f"5. Where a record's read time goes: {figures['n']:,} customers read from memory, no HTTP",
        "   Method: each stage adds one piece of work to the one before (best of "
        f"{figures['repeats']} passes); the last is the real reader.",
    ]
    rows = [[r["stage"], r["us_per_record"], r["added_us"], r["parse_over_stage"]] for r in figures["rows"]]
    out += _table(["stage", "us/record", "added us", "bare parse / stage"], rows)
    return out


def calls_section(figures: Figures) -> list[str]:
    out = [
        f"6. Visma.net calls per record: a first run of {figures['n']:,} accounts, cases and invoices, "
        "then updates, then an unknown outcome (one process, the simulators over HTTP, tokens left out)",
    ]
    rows = [
        [
            r["phase"],
            r["data_type"],
            r["delivered"],
            r["visma_calls"],
            r["calls_per_record"],
            _counts(r["by_endpoint"]),
        ]
        for r in figures["rows"]
    ]
    out += _table(["round", "type", "delivered", "Visma.net", "per record", "calls"], rows)
    out.append(
        f"   Per created record: {_cell(figures['calls_per_created_record'])}; per updated record: "
        f"{_cell(figures['calls_per_updated_record'])}; after the unknown outcome: "
        f"{figures['unknown_outcome_look_ups']} look-up(s), {figures['most_copies_of_one_invoice']} copy at most"
    )
    return out


SECTIONS: dict[str, Callable[[Figures], list[str]]] = {
    "soap": soap_section,
    "e2e": e2e_section,
    "coldstart": cold_start_section,
    "economy": economy_section,
    "profile": profile_section,
    "calls": calls_section,
}


def targets_section(results: dict[str, Figures], errors: dict[str, str]) -> list[str]:
    out = ["Targets"]
    for figures in results.values():
        for t in figures.get("targets", []):
            verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
            note = f" ({t['note']})" if t["note"] else ""
            out.append(f"  [{verdict}] {t['name']}: {_cell(t['value'])}, target {t['target']}{note}")
    for name, message in errors.items():
        out.append(f"  [FAILED] benchmark {name} did not run: {message.splitlines()[0]}")
    return out


def render(machine: Figures, results: dict[str, Figures], errors: dict[str, str], started: str) -> str:
    lines = [f"severa-sync benchmarks ({started})", *machine_section(machine), ""]
    for name, figures in results.items():
        lines += [*SECTIONS[name](figures), ""]
    lines += targets_section(results, errors)
    return "\n".join(lines)


def missed(results: dict[str, Figures]) -> list[str]:
    return [t["name"] for f in results.values() for t in f.get("targets", []) if t["met"] is False]
