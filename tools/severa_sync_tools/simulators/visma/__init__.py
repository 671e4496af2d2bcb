"""Local simulator of Visma.net Financials (ERP API and Visma Connect), served on 127.0.0.1.

    from severa_sync_tools.simulators.visma import VismaSimulator
    with VismaSimulator(client_secret="sim-secret") as sim:   # started on a free port
        sim.base_url, sim.token_url
        sim.commit_then_timeout("/v2/customerinvoice", delay=2)
        sim.invoices

Run on its own with ``python -m severa_sync_tools.simulators.visma --port 8090``.
"""

from severa_sync_tools.simulators.visma.cli import main
from severa_sync_tools.simulators.visma.simulator import VismaSimulator

__all__ = ["VismaSimulator", "main"]
