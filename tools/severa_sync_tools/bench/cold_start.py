"""Bench 3: cold start, the import of each ``functions/<type>/app.py`` in a fresh interpreter.

What Lambda's Python runtime does on a cold start before the first event: start an interpreter and
import ``app`` from the function's code directory (the layer's packages on the path). Measured as
the median wall clock of ``python -c "import app"`` minus the median of ``python -c "pass"``,
interleaved so both see the same machine state, after one unmeasured warm-up each (the page cache
and ``.pyc`` files warm, as on a Lambda's second cold start from the same image). ``-X importtime``
then names the slowest top-level imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from severa_sync import registry
from severa_sync_tools.bench.measure import Figures, median, spawn_and_wait, target_check

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_DIR = REPO_ROOT / "functions"
TARGET_EXTRA_MS = 300.0
#: What template.yaml's Globals give every function at import (powertools reads them then).
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "severa-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "SeveraSync",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
}


def _import_app(function_dir: Path) -> str:
    # As the runtime does: the function's directory first on sys.path, then ``import app``.
    return f"import sys; sys.path.insert(0, {str(function_dir)!r}); import app"


def _first_use(function_dir: Path, data_type: registry.DataType) -> str:
    """The import plus what the first invocation builds before its first call (no network): the
    zeep service from the bundled WSDL, the boto3 clients and the type's target module."""
    target = (
        "import severa_sync.targets.visma.target"
        if data_type.target is registry.TargetKind.VISMA
        else "import severa_sync.targets.s3; boto3.client('s3')"
    )
    return "; ".join(
        [
            _import_app(function_dir),
            "from severa_sync.severa.client import zeep_client",
            "zeep_client()",
            "import severa_sync.severa.source",
            "import boto3",
            "boto3.client('dynamodb'); boto3.client('sns'); boto3.client('stepfunctions')",
            target,
        ]
    )


def _environment() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    base = {key: os.environ[key] for key in keep if key in os.environ}
    return {**base, **LAMBDA_ENVIRONMENT}


def slowest_imports(code: str, env: dict[str, str], top: int = 8) -> list[Figures]:
    """Modules whose own body took longest to run (``python -X importtime`` self time)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    rows: list[Figures] = []
    for line in completed.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line, or not importtime's
        rows.append(
            {
                "module": parts[2].strip(),
                "self_ms": round(int(parts[0]) / 1000, 1),
                "cumulative_ms": round(int(parts[1]) / 1000, 1),
            }
        )
    rows.sort(key=lambda r: r["self_ms"], reverse=True)
    return rows[:top]


def run(repeats: int = 15, data_types: Sequence[str] | None = None) -> Figures:
    env = _environment()
    python = sys.executable
    empty = [python, "-c", "pass"]
    names = list(data_types or [dt.name for dt in registry.DATA_TYPES])
    rows: list[Figures] = []
    for name in names:
        data_type = registry.get(name)  # an unknown type is a KeyError naming the known ones
        function_dir = FUNCTIONS_DIR / name
        if not (function_dir / "app.py").is_file():
            raise FileNotFoundError(f"no handler at {function_dir / 'app.py'}")
        importing = [python, "-c", _import_app(function_dir)]
        first_use = [python, "-c", _first_use(function_dir, data_type)]
        for argv in (empty, importing, first_use):  # warm-up, not measured
            _checked(argv, env)
        empty_times, import_times, first_times = [], [], []
        for _ in range(max(1, repeats)):
            empty_times.append(_checked(empty, env))
            import_times.append(_checked(importing, env))
            first_times.append(_checked(first_use, env))
        extra_ms = (median(import_times) - median(empty_times)) * 1000
        rows.append(
            {
                "data_type": name,
                "runs": len(import_times),
                "empty_interpreter_ms": round(median(empty_times) * 1000, 1),
                "import_ms": round(median(import_times) * 1000, 1),
                "extra_ms": round(extra_ms, 1),
                "first_use_extra_ms": round((median(first_times) - median(empty_times)) * 1000, 1),
                "peak_rss_mb": _peak_rss_mb(_import_app(function_dir), env),
                "empty_peak_rss_mb": _peak_rss_mb("pass", env),
                "slowest_imports": slowest_imports(_import_app(function_dir), env),
            }
        )
    worst = max(rows, key=lambda r: r["extra_ms"])
    return {
        "rows": rows,
        "targets": [
            target_check(
                f"cold-start import cost (worst: {worst['data_type']}, ms)",
                value=worst["extra_ms"],
                target=f"<= {TARGET_EXTRA_MS:g} ms",
                met=worst["extra_ms"] <= TARGET_EXTRA_MS,
            )
        ],
    }


def _checked(argv: list[str], env: dict[str, str]) -> float:
    wall, code = spawn_and_wait(argv, env)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} ... exited with {code}")
    return wall


def _peak_rss_mb(code: str, env: dict[str, str]) -> float:
    """Peak RSS of a process running ``code``, as it reports it (``VmHWM``) at its end.

    Not ``wait4``'s ``ru_maxrss``: a ``posix_spawn`` child shares the parent's memory until it
    execs, and Linux counts that into the child's peak.
    """
    report = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    completed = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return round(int(completed.stdout.split()[-1]) / 1024, 1)
