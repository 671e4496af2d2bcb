"""Suite-wide settings. Under CI (``.ci/run`` sets ``CI``) every Hypothesis test is derandomized, so a
landing never depends on which examples came up; locally they stay random and keep exploring."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
