"""The progress log, readable: powertools' JSON lines rendered with rich for a person at a terminal.

In Lambda every line is JSON for CloudWatch Logs Insights. Locally (``severa-sync demo`` and
``run``) a handler on the "severa-sync" logger takes each record, formats it with the logger's own
powertools formatter (so it is exactly the line Lambda would write) and prints time, data type and
message; errors in red with their error message and the previous call. The JSON stdout handler is
muted meanwhile and restored afterwards. ``--log-format json`` prints the JSON lines unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from severa_sync.logs import SERVICE, logger

LEVEL_STYLES = {"CRITICAL": "bold red", "ERROR": "bold red", "WARNING": "yellow", "INFO": "", "DEBUG": "dim"}
#: Log actions that move a record along, for the progress bars.
_RECORD_DONE = {"record_delivered", "record_failed"}


def clock_time(line: dict[str, Any], zone: ZoneInfo | None = None) -> str:
    """HH:MM:SS in the tenant's zone: ``time_local`` of progress lines; other lines (a client's
    retry warning) carry only powertools' ``timestamp``, shown in ``zone`` so the column agrees."""
    value = line.get("time_local")
    if isinstance(value, str) and "T" in value:
        return value.split("T", 1)[1][:8]
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.]\d+([+-]\d{4})$", str(line.get("timestamp", "")))
    if stamp is None:
        return "--:--:--"
    when = datetime.strptime(stamp.group(1) + stamp.group(2), "%Y-%m-%d %H:%M:%S%z")
    return (when.astimezone(zone) if zone else when).strftime("%H:%M:%S")


def render_line(line: dict[str, Any], zone: ZoneInfo | None = None) -> Text:
    """One log line as rich text (never markup: messages may hold brackets)."""
    level = str(line.get("level", "INFO")).upper()
    style = LEVEL_STYLES.get(level, "")
    text = Text()
    text.append(clock_time(line, zone), style="dim")
    text.append("  ")
    text.append(f"{line.get('data_type') or '-':<12}", style="cyan")
    text.append(" ")
    if level in ("ERROR", "CRITICAL"):
        text.append("✗ ", style=style)
    elif level == "WARNING":
        text.append("! ", style=style)
    text.append(str(line.get("message", "")), style=style)
    if level in ("ERROR", "CRITICAL"):
        message = str(line.get("message", ""))
        error = line.get("error_message")
        code = line.get("error_code")
        if error and str(error) not in message:
            text.append(f"\n{'':24}{error}", style="red")
        if code:
            text.append(f"\n{'':24}error code: {code}", style="red")
        call = line.get("previous_call")
        if call == "none":
            text.append(f"\n{'':24}previous call: none (no call was made for this)", style="red")
        elif isinstance(call, dict):
            status = f" (HTTP {call['status']})" if call.get("status") else ""
            text.append(
                f"\n{'':24}previous call: {call.get('system')} {call.get('operation')}{status}", style="red"
            )
    return text


class LogRenderer(logging.Handler):
    """Prints each severa-sync log record readably; drives per-type progress bars from batch lines."""

    def __init__(
        self,
        console: Console,
        *,
        progress: Progress | None = None,
        json_lines: bool = False,
        zone: ZoneInfo | None = None,
    ):
        super().__init__(logging.DEBUG)
        self.zone = zone
        self.console = progress.console if progress is not None else console
        self.progress = progress
        self.json_lines = json_lines
        self.errors = 0
        self.warnings = 0
        self._tasks: dict[str, TaskID] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raw = logger.registered_formatter.format(record)
            line = json.loads(raw)
            level = str(line.get("level", "")).upper()
            self.errors += level in ("ERROR", "CRITICAL")
            self.warnings += level == "WARNING"
            if self.json_lines:
                self.console.out(raw, highlight=False)
            else:
                self.console.print(render_line(line, self.zone), soft_wrap=True)
            self._advance(line)
        except Exception:  # a log line must never break a run
            self.handleError(record)

    def _advance(self, line: dict[str, Any]) -> None:
        if self.progress is None:
            return
        data_type = str(line.get("data_type") or "-")
        action = line.get("action")
        task = self._tasks.get(data_type)
        if action == "batch_started":
            if task is None:
                task = self._tasks[data_type] = self.progress.add_task(f"{data_type} records", total=0)
            # Task ids are not list positions once a task has been removed.
            current = next(t.total for t in self.progress.tasks if t.id == task) or 0
            self.progress.update(task, total=current + int(line.get("count") or 0))
        elif task is not None and action in _RECORD_DONE:
            self.progress.advance(task)
        elif task is not None and action == "progress":
            done = sum(int(line.get(k) or 0) for k in ("delivered", "skipped", "failed"))
            self.progress.update(task, completed=done)
        elif task is not None and action == "run_finished":
            self.progress.remove_task(task)
            del self._tasks[data_type]


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )


#: The powertools logger: the progress log and, as its children, every module's lines (client retries, ...).
LOGGER_NAMES = (SERVICE,)


@contextlib.contextmanager
def readable_logs(
    console: Console,
    *,
    progress: Progress | None = None,
    json_lines: bool = False,
    zone: ZoneInfo | None = None,
) -> Iterator[LogRenderer]:
    """Route the severa-sync loggers to a ``LogRenderer`` (the JSON stdout handler muted meanwhile)."""
    renderer = LogRenderer(console, progress=progress, json_lines=json_lines, zone=zone)
    saved = []
    for name in LOGGER_NAMES:
        std = logging.getLogger(name)
        saved.append((std, list(std.handlers), std.propagate))
        for handler in list(std.handlers):
            std.removeHandler(handler)
        std.addHandler(renderer)
        std.propagate = False  # the root logger (pytest, a user's config) must not print it twice
    try:
        yield renderer
    finally:
        for std, handlers, propagate in saved:
            std.removeHandler(renderer)
            for handler in handlers:
                std.addHandler(handler)
            std.propagate = propagate


# --- operator tables ----------------------------------------------------------------------------
def print_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    wide: bool = False,
    as_json: bool = False,
) -> None:
    """A table readable at any terminal width: cells wrap (long words fold, nothing is cut to
    ``2026-11-2…``); ``wide`` keeps each row on one line whatever the width; ``as_json`` prints the
    rows as a JSON list of objects keyed by column, for scripts."""
    cells = [[str(value) for value in row] for row in rows]
    if as_json:
        console.out(json.dumps([dict(zip(columns, row, strict=True)) for row in cells], indent=2))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=wide)
    for row in cells:
        table.add_row(*row)
    if not wide:
        console.print(table)
        return
    # As wide as the content needs (a pager, or a window made wider, shows it whole).
    saved = console.width
    console.width = max(saved, table_width(table, console))
    try:
        console.print(table, crop=False)
    finally:
        console.width = saved


def table_width(table: Table, console: Console) -> int:
    """The width ``table`` takes with no line broken."""
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update(width=100_000), table).maximum


# --- the end of a local run ---------------------------------------------------------------------
#: What a local run that must continue later tells the operator: no retry machine runs here.
CONTINUE_LATER = {
    "retry_later": "Severa is unavailable. This local run does not retry by itself (in AWS the retry "
    "machine would, every 10 minutes): the progress is saved; run the same command again later.",
    "partial": "The time budget was spent. This local run does not continue by itself: the progress is "
    "saved; run the same command again to go on.",
    "paused": "Visma.net's quota window is spent down to the reserve. This local run does not wait by "
    "itself (in AWS the retry machine would, until the window resets): the progress is saved; run the "
    "same command again after the reset the log line names.",
}


def run_verdict(status: str, failed: int) -> str:
    """``succeeded``, ``succeeded with 2 record errors``, ``retry later``: the run's outcome in words."""
    if status == "succeeded_with_errors":
        return f"succeeded with {failed} record error" + ("" if failed == 1 else "s")
    return status.replace("_", " ")


def run_summary(data_type: str, answer: dict[str, Any]) -> str:
    """One line whose counts add up: fetched = delivered + skipped + failed + dropped as overlap."""
    count = {
        k: int(answer.get(k) or 0) for k in ("fetched", "delivered", "skipped", "failed", "dropped_overlap")
    }
    return (
        f"{data_type}: {run_verdict(str(answer.get('status')), count['failed'])} · fetched {count['fetched']}, "
        f"delivered {count['delivered']}, skipped {count['skipped']}, failed {count['failed']}, "
        f"dropped as overlap {count['dropped_overlap']}"
    )
