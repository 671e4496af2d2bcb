"""Lambda entry point for the payments data type: parse the event, run the engine (see severa_sync.handler)."""

from severa_sync.handler import make_handler

handler = make_handler("payments")
