"""``severa-sync run payments --dry-run``: the planned Severa writes listed, none made, no state kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from severa_sync.state.memory import MemoryStateStore
from severa_sync_tools.cli import main
from severa_sync_tools.simulators.severa import SeveraSimulator
from severa_sync_tools.simulators.visma import VismaSimulator

from .test_run_command import API_KEY, CLIENT_SECRET, Endpoints


@pytest.fixture
def endpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoints]:
    severa = SeveraSimulator(api_key=API_KEY, seed=True).start(port=0)
    visma = VismaSimulator(client_secret=CLIENT_SECRET).start(port=0)
    monkeypatch.setenv("SEVERA_API_KEY", API_KEY)
    monkeypatch.setenv("VISMA_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.chdir(tmp_path)
    try:
        yield Endpoints(severa, visma, tmp_path / "state.json")
    finally:
        severa.stop()
        visma.stop()


def test_dry_run_lists_the_writes_and_makes_none(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    config = endpoints.fast_config()
    for name in ("accounts", "cases", "invoices"):
        main(endpoints.argv(name, "--config", config))
    reference = next(
        r["referenceNumber"] for r in endpoints.visma.invoices if r["externalReference"] == "10501"
    )
    endpoints.visma.pay(reference, on="2026-11-30")
    capsys.readouterr()

    code = main(endpoints.argv("payments", "--config", config, "--dry-run"))

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Dry run, not written: Payment date of invoice number 10501 was set to 2026-11-30" in out
    invoice = next(r for r in endpoints.severa.records("Invoice") if r.get("Number") == 10501)
    assert invoice["PaymentDate"] is None
    store = MemoryStateStore(endpoints.state_file)
    assert "payments" not in {item["data_type"] for item in store.watermarks("demo")}, "no state kept"

    assert main(endpoints.argv("payments", "--config", config)) == 0, "the real run writes it"
    invoice = next(r for r in endpoints.severa.records("Invoice") if r.get("Number") == 10501)
    assert invoice["PaymentDate"] is not None


def test_dry_run_is_refused_for_a_type_that_writes_elsewhere(
    endpoints: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(endpoints.argv("accounts", "--dry-run"))
    assert code == 2
    assert "--dry-run only plans writes into Severa; accounts writes to visma" in capsys.readouterr().err
    assert not endpoints.visma.customers
