"""Lambda entry point for the products data type: parse the event, run the engine (see severa_sync.handler)."""

from severa_sync.handler import make_handler

handler = make_handler("products")
