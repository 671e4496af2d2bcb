"""``python -m severa_sync_tools.simulators.severa --port 8088``."""

from severa_sync_tools.simulators.severa import main

raise SystemExit(main())
