"""``main(argv)``: serve a simulator until interrupted (the CLI's ``simulate severa``)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Sequence
from types import FrameType

#: The seed's statuses as a Finnish tenant names them (a localized Severa).
FINNISH_INVOICE_STATUSES = {
    "Draft": "Luonnos",
    "Ready for transfer": "Valmis siirtoon",
    "Transferred": "Siirretty",
    "Sent": "Lähetetty",
    "Paid": "Maksettu",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="severa-sync simulate severa",
        description="Serve a local Visma Severa SOAP API simulator on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument(
        "--api-key",
        default="sim-api-key",
        help="the WebServicePassword clients must send (default: %(default)s)",
    )
    parser.add_argument("--no-seed", action="store_true", help="start with no data")
    parser.add_argument(
        "--localized-statuses",
        action="store_true",
        help='seed Finnish invoice status names ("Valmis siirtoon", "Siirretty") instead of the English ones',
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from severa_sync_tools.simulators.severa.simulator import (
        SeveraSimulator,  # late: the package imports this module
    )

    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        _parser().error("--port must be between 0 and 65535")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGTERM ends the run like Ctrl-C (signals can only be set from the main thread).
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_signal) if in_main else None
    try:
        with SeveraSimulator(
            api_key=args.api_key,
            seed=not args.no_seed,
            invoice_status_names=FINNISH_INVOICE_STATUSES if args.localized_statuses else None,
        ).start(port=args.port) as sim:
            print(f"Severa simulator listening: {sim.url}", flush=True)
            print(f"  WSDL:  {sim.wsdl_url}", flush=True)
            print(
                f"  admin: {sim.admin_url} (POST /admin/<control>, GET /admin/records/<entity>)", flush=True
            )
            print("  clients send the --api-key value as WebServicePassword. Ctrl-C stops.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    print("Severa simulator stopped.", flush=True)
    return 0
