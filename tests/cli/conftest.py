from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich wraps tables to the terminal; a wide one keeps each row on one line for the assertions."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("STATE_FILE", raising=False)
    monkeypatch.delenv("STATE_TABLE", raising=False)
