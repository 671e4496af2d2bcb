"""``python -m severa_sync_tools.simulators.visma``: serve the simulator until interrupted.

Prints one JSON line with ``base_url``, ``token_url`` and ``admin_url`` once it listens, so a parent
process can read where to point the sync (never the client secret).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from severa_sync_tools.simulators.visma.simulator import VismaSimulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="severa_sync_tools.simulators.visma", description="Visma.net Financials simulator on 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--client-id", default="severa-sync")
    parser.add_argument(
        "--client-secret-env",
        default="VISMA_CLIENT_SECRET",
        help="environment variable holding the client secret to accept (default sim-secret)",
    )
    parser.add_argument("--tenant", default="local-company", help="the company tenant id")
    parser.add_argument("--max-page-size", type=int, default=100)
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    parser.add_argument(
        "--background-polls",
        type=int,
        default=1,
        help="polls a background job reads 'Started' before it is 'Finished'",
    )
    parser.add_argument(
        "--quota",
        type=int,
        default=None,
        help="API calls answered per quota window; the rest get 429 + Retry-After (default: no limit)",
    )
    parser.add_argument("--quota-window", type=float, default=3600.0, help="seconds (default 3600)")
    args = parser.parse_args(argv)

    sim = VismaSimulator(
        args.client_id,
        os.environ.get(args.client_secret_env, "sim-secret"),
        args.tenant,
        token_lifetime_seconds=args.token_lifetime,
        max_page_size=args.max_page_size,
        background_polls=args.background_polls,
        quota=args.quota,
        quota_window_seconds=args.quota_window,
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sim.start(args.port)
    print(
        json.dumps(
            {"base_url": sim.base_url, "token_url": sim.token_url, "admin_url": sim.base_url + "/admin"}
        ),
        flush=True,
    )
    try:
        done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
