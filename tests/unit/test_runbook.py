"""Every alert says what to do: each alert kind the code can send has its runbook section
(``### `<kind>``` in docs/operations.md, so ``docs/operations.md#<kind>`` leads there)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from severa_sync import errors
from severa_sync.engine import engine
from severa_sync.runbook import RUNBOOK, section

ROOT = Path(__file__).resolve().parents[2]


def _error_alert_kinds() -> set[str]:
    import severa_sync.targets.visma.wire  # noqa: F401 - its error classes alert too

    kinds, pending = set(), [errors.SyncError]
    while pending:
        cls = pending.pop()
        if cls.alert_kind:
            kinds.add(cls.alert_kind)
        pending.extend(cls.__subclasses__())
    return kinds


def _engine_alert_kinds() -> set[str]:
    # The engine's own alerts: every literal kind passed to _alert / the record_errors alert.
    source = Path(engine.__file__).read_text(encoding="utf-8")
    return set(re.findall(r'^\s+"([a-z_]+)",\n\s+dt,', source, flags=re.M)) | {"record_errors"}


def _machine_alert_kinds() -> set[str]:
    definition = json.loads((ROOT / "infra/statemachines/retry.asl.json").read_text(encoding="utf-8"))
    return {
        state["Parameters"]["kind"]
        for state in definition["States"].values()
        if "kind" in state.get("Parameters", {})
    }


def test_every_alert_kind_has_a_runbook_section() -> None:
    kinds = _error_alert_kinds() | _engine_alert_kinds() | _machine_alert_kinds()
    assert {"connection", "response_too_large", "retries_exhausted", "unexpected_error"} <= kinds
    headings = set(re.findall(r"^### `([a-z_]+)`$", (ROOT / RUNBOOK).read_text(encoding="utf-8"), flags=re.M))
    assert kinds - headings == set(), "alert kinds without a runbook section"
    assert section("quota") == "docs/operations.md#quota"
