"""``python -m severa_sync_tools.bench`` (``make bench``): run the benchmarks, print the report.

python -m severa_sync_tools.bench                  # everything, full sizes (~10 minutes)
python -m severa_sync_tools.bench --quick          # smaller N, zeep only at 10,000 (~1 minute)
python -m severa_sync_tools.bench --only soap,coldstart --json figures.json
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from severa_sync_tools.bench import (
    api_economy,
    cold_start,
    end_to_end,
    read_profile,
    report,
    soap_read,
    visma_calls,
)
from severa_sync_tools.bench.measure import machine

BENCHMARKS = ("soap", "e2e", "coldstart", "economy", "profile", "calls")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m severa_sync_tools.bench", description="severa-sync benchmarks (docs/benchmarks.md)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller N, zeep only at the smallest N, fewer repeats"
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}"
    )
    parser.add_argument("--sizes", help="SOAP read sizes, e.g. 10000,50000,100000")
    parser.add_argument(
        "--accounts", type=int, help="accounts in the end-to-end mass update (default 100000)"
    )
    parser.add_argument(
        "--changes", type=int, help="changes per type in the API economy bench (default 1000)"
    )
    parser.add_argument(
        "--records", type=int, help="records per type in the Visma.net calls bench (default 10000)"
    )
    parser.add_argument("--repeats", type=int, help="runs per SOAP read mode and per cold-start measurement")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    return parser


def _plans(args: argparse.Namespace) -> dict[str, Callable[[], dict[str, Any]]]:
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([10_000, 50_000] if args.quick else [10_000, 50_000, 100_000])
    )
    repeats = args.repeats or (1 if args.quick else 3)
    return {
        "soap": lambda: soap_read.run(
            sizes, zeep_max=min(sizes) if args.quick else None, repeats=repeats, zeep_repeats=1
        ),
        "e2e": lambda: end_to_end.run(args.accounts or (10_000 if args.quick else 100_000)),
        "coldstart": lambda: cold_start.run(repeats=args.repeats or (5 if args.quick else 15)),
        "economy": lambda: api_economy.run(args.changes or (100 if args.quick else 1000)),
        "profile": lambda: read_profile.run(5_000 if args.quick else 20_000, repeats=repeats + 2),
        "calls": lambda: visma_calls.run(args.records or (1_000 if args.quick else 10_000)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 64
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    plans = _plans(args)
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = plans[name]()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
    about = machine()
    print(report.render(about, results, errors, started))
    if args.json:
        args.json.write_text(
            json.dumps({"started": started, "machine": about, "results": results, "errors": errors}, indent=1)
        )
    if errors:
        return 1
    return 2 if args.strict and report.missed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
