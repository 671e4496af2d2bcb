"""The measuring helpers: a case's peak RSS is its own, failures are reported, figures are sane."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from severa_sync_tools.bench import measure
from severa_sync_tools.bench.stack import Handshake, _path_shape


def test_peak_rss_is_the_child_s_own_and_follows_what_it_holds() -> None:
    small = measure.run_isolated("severa_sync_tools.bench.measure:case_allocate", {"megabytes": 1})
    large = measure.run_isolated("severa_sync_tools.bench.measure:case_allocate", {"megabytes": 96})
    assert small["held_mb"] == 1 and large["held_mb"] == 96
    # The 95 MB difference shows in the peaks (allocator slack aside), and the driver's own
    # memory (this pytest process) does not.
    assert 80 <= large["peak_rss_mb"] - small["peak_rss_mb"] <= 120
    assert small["peak_rss_mb"] < measure.peak_rss_mb() + 200
    assert large["peak_rss_mb"] >= large["rss_before_mb"] + 90


def test_a_failing_case_raises_with_its_output() -> None:
    with pytest.raises(measure.BenchError, match="no_such_case"):
        measure.run_isolated("severa_sync_tools.bench.measure:no_such_case", {})


def test_spawn_and_wait_passes_the_environment_and_the_exit_code() -> None:
    wall, code = measure.spawn_and_wait(
        [sys.executable, "-c", "import os, sys; sys.exit(0 if os.environ['V'] == 'ok' else 3)"],
        {"V": "ok"},
    )
    assert code == 0 and wall > 0
    _, code = measure.spawn_and_wait([sys.executable, "-c", "import sys; sys.exit(3)"], {})
    assert code == 3


def test_figures_helpers() -> None:
    assert measure.rate(1000, 0.5) == 2000.0
    assert measure.ratio(10, 4) == 2.5 and measure.ratio(1, 0) is None
    assert measure.median([3, 1, 2]) == 2
    check = measure.target_check("x", value=1, target="<= 2", met=True)
    assert set(check) == {"name", "value", "target", "met", "note"}
    about = measure.machine()
    assert about["cpus"] >= 1 and about["python"].startswith("3.")
    assert {"zeep", "lxml", "libxml2", "requests"} <= set(about["versions"])


def test_visma_paths_group_by_endpoint_not_record() -> None:
    assert _path_shape("/v1/customer/100042") == "/v1/customer/{key}"
    assert _path_shape("/v1/customer") == "/v1/customer"
    assert _path_shape("/v1/customerinvoice?externalReference=1") == "/v1/customerinvoice"
    assert _path_shape("/connect/token") == "/connect/token"


def test_handshake_reports_a_child_that_ended_first(tmp_path: Path) -> None:
    handshake = Handshake(str(tmp_path))
    assert handshake.wait_for("first", alive=lambda: False) is False
    handshake.release("second")  # released before it is reached: reaching it returns at once
    handshake.reached("second", timeout=1)
    assert handshake.wait_for("second") is True
