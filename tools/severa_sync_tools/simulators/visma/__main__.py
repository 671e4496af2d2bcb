import sys

from severa_sync_tools.simulators.visma.cli import main

sys.exit(main())
