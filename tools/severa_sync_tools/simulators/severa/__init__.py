"""A faithful local simulator of Visma Severa's legacy SOAP API (``API.svc``), over real HTTP.

    from severa_sync_tools.simulators.severa import SeveraSimulator
    with SeveraSimulator(api_key="sim-api-key") as sim:   # seeded, listening on 127.0.0.1
        ...  # point zeep at sim.url; drive faults, quota, clock and data from Python or /admin

``main(argv)`` serves one until interrupted (``severa-sync simulate severa --port N``).
"""

from __future__ import annotations

from severa_sync_tools.simulators.severa.cli import main
from severa_sync_tools.simulators.severa.controls import Call
from severa_sync_tools.simulators.severa.simulator import SeveraSimulator

__all__ = ["Call", "SeveraSimulator", "main"]
