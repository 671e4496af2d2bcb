"""``severa-sync demo`` end to end: the story a new user sees, told by the handlers Lambda runs."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from severa_sync import registry
from severa_sync_tools.cli import main


@pytest.fixture
def demo_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)  # the demo writes nothing here (nor anywhere outside its temp dir)
    environment = dict(os.environ)
    threads = set(threading.enumerate())
    code = main(["demo"])
    out, err = capsys.readouterr()
    assert dict(os.environ) == environment, "the environment is restored"
    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=10)  # a server thread finishing its last answer (a guard, not a timing check)
        assert not thread.is_alive(), f"{thread.name} is left running"
    assert list(tmp_path.iterdir()) == []
    return code, out + err


def _section(text: str, start: str, end: str | None) -> str:
    begin = text.index(start)
    return text[begin : text.index(end, begin) if end else len(text)]


def test_demo_tells_the_whole_story(demo_output: tuple[int, str]) -> None:
    code, out = demo_output
    assert code == 0, out
    first = _section(out, "1. First run", "2. Severa data changes")
    second = _section(out, "2. Severa data changes", "3. A Severa maintenance break")
    third = _section(out, "3. A Severa maintenance break", None)

    # Act 1: every type in dependency order, invoices 10501/10503 transferred, 10502 rejected.
    order = [first.index(f"{dt.noun} transfer started") for dt in registry.run_order()]
    assert order == sorted(order)
    assert (
        first.index("Account transfer started")
        < first.index("Case transfer started")
        < first.index("Invoice transfer started")
    ), "accounts and cases go before the invoices that need them"
    for number in ("10501", "10503"):
        assert re.search(rf"{number}\s.*Transferred\s.*transferred", first), number
        assert f"Invoice number {number} was processed correctly" in first
    assert re.search(r"✗ Invoice number 10502 ERROR", first)
    assert re.search(r"10502\s.*Ready for transfer\s.*error, in the retry set:.*17", first)
    assert "Product LICENSE Software licence was processed correctly" in first
    assert re.search(r"[1-9]\d* items from Severa products", first), "products arrived as Visma.net items"
    assert re.search(r"S3: [1-9]\d* hour_entries files, [1-9]\d* absences files", first)
    assert "demo/invoices: record errors" in first, "the rejected invoice raised an alert on the topic"

    # Act 2: changed records only.
    assert "renamed" in second and 'set to "Ready for transfer"' in second
    pattern = (
        r"│ (accounts|cases|products|invoices|hour_entries|absences)\s+│ succeeded\s+│\s+(\d+) │\s+(\d+) │"
    )
    runs = {name: (int(fetched), int(delivered)) for name, fetched, delivered in re.findall(pattern, second)}
    assert runs["accounts"][1] == 3, "only the two renamed customers and the one that moved go again"
    # The third customer did not change, only its head-office address: it reached Visma.net anyway.
    assert re.search(r"Visma\.net customer 1003 .*main address\s+Satamakatu 4, 33200\s+Tampere", second)
    assert "credit terms 14" in second
    assert runs["products"] == (1, 1), "only the repriced product is read and delivered again"
    # No entry changed: the reconciliation span (previous + current month) is re-read by date, but
    # every line already stands in its day file with the same content: skipped, none delivered.
    fetched, delivered = runs["hour_entries"]
    assert fetched > 0 and delivered == 0, "unchanged day files are not delivered again"
    assert re.search(r"10504\s.*Transferred", second), "the newly ready invoice went over"

    # Act 3: a maintenance break, carried through by the state machine's own definition.
    assert "answered retry_later" in third
    assert "retry machine: WaitBeforeRetry: waiting 1 s" in third
    assert "Retry execution succeeded" in third
    assert "Demo finished" in out
