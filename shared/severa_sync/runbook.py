"""Where the runbook tells an operator what to do about each alert.

Every alert names its section of docs/operations.md ("### `<kind>`" headings, so the anchor is the
kind itself); a test checks that every alert kind the code can send has such a section.
"""

from __future__ import annotations

RUNBOOK = "docs/operations.md"


def section(kind: str) -> str:
    """``docs/operations.md#record_errors``: the runbook section for alerts of ``kind``."""
    return f"{RUNBOOK}#{kind}"
