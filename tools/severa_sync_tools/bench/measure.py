"""Run one measured case in a fresh interpreter and report its figures with its peak RSS.

A case is a function ``module:function(**params) -> dict``. It runs in a new ``python`` process so
its peak RSS (``VmHWM`` of ``/proc/self/status``) holds nothing from the bench driver, the
simulators (they stay in the driver) or earlier cases. The case times its own work with
``perf_counter``; interpreter start and imports are outside the figure unless the case says so.

    python -m severa_sync_tools.bench.measure MODULE:FUNCTION PARAMS_JSON RESULT_PATH

The child's stdout/stderr (the engine's JSON log lines among them) go to a file, so the driver can
count what a run logs without printing it.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

Figures = dict[str, Any]


class BenchError(RuntimeError):
    """A measured case failed: the bench reports it instead of printing a figure."""


# --- memory ---------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return round((kb or 0) / 1024, 1)


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return round(kb / 1024, 1)


# --- the child side -------------------------------------------------------------------------
def _child(target: str, params_json: str, result_path: str) -> int:
    module_name, _, function_name = target.partition(":")
    case: Callable[..., Figures] = getattr(importlib.import_module(module_name), function_name)
    figures = case(**json.loads(params_json))
    figures["peak_rss_mb"] = peak_rss_mb()
    Path(result_path).write_text(json.dumps(figures, default=str), encoding="utf-8")
    return 0


def case_allocate(megabytes: int) -> Figures:
    """Calibration case: holds ``megabytes`` of touched memory, so a peak can be checked."""
    before = current_rss_mb()
    block = bytearray(megabytes << 20)
    block[:: 1 << 12] = b"\x01" * len(block[:: 1 << 12])  # touch every page: resident, not just mapped
    return {"rss_before_mb": before, "held_mb": len(block) >> 20}


# --- the driver side ------------------------------------------------------------------------
def run_isolated(
    target: str,
    params: Mapping[str, Any],
    *,
    timeout: float = 1800,
    env: Mapping[str, str] | None = None,
) -> Figures:
    """``target(**params)`` in a fresh interpreter; its figures plus ``peak_rss_mb`` and ``log_lines``.

    ``env`` adds variables to the child's environment (how secrets reach it: never on the command
    line, where ``ps`` would show them).
    """
    with tempfile.TemporaryDirectory(prefix="severa-sync-bench-") as work:
        result_path = Path(work, "result.json")
        output_path = Path(work, "output.log")
        command = [sys.executable, "-m", "severa_sync_tools.bench.measure", target, json.dumps(params)]
        with output_path.open("wb") as output:
            try:
                completed = subprocess.run(
                    [*command, str(result_path)],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    env={**os.environ, **(env or {})},
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise BenchError(f"{target} did not finish within {timeout:.0f} s") from None
        if completed.returncode != 0 or not result_path.exists():
            tail = output_path.read_bytes()[-3000:].decode("utf-8", "replace")
            raise BenchError(f"{target} failed (exit {completed.returncode}):\n{tail}")
        figures: Figures = json.loads(result_path.read_text(encoding="utf-8"))
        with output_path.open("rb") as output:
            figures["log_lines"] = sum(1 for _ in output)
        return figures


def spawn_and_wait(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, int]:
    """Start ``argv`` with the least launcher overhead (``posix_spawn``); (wall seconds, exit code).

    No RSS here: until it execs, a spawned child shares the parent's memory and Linux counts that
    into the child's ``ru_maxrss``; a case that needs its peak reports ``VmHWM`` itself.
    """
    import time

    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(env))
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - started, os.waitstatus_to_exitcode(status)


# --- small figures helpers ------------------------------------------------------------------
def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator else None


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def target_check(name: str, *, value: Any, target: str, met: bool | None, note: str = "") -> Figures:
    """One target line of the report; ``met`` None means it could not be measured."""
    return {"name": name, "value": value, "target": target, "met": met, "note": note}


def machine() -> Figures:
    """What the figures were measured on."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    from lxml import etree

    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "versions": {
            "zeep": version("zeep"),
            "lxml": version("lxml"),
            "libxml2": ".".join(str(p) for p in etree.LIBXML_VERSION),
            "requests": version("requests"),
            "pydantic": version("pydantic"),
            "boto3": version("boto3"),
            "aws-lambda-powertools": version("aws-lambda-powertools"),
            "severa-sync": version("severa-sync"),
        },
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2], sys.argv[3]))
