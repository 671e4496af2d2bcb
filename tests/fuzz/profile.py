"""Hypothesis settings of the fuzz suite: no deadline (CI machines vary), no shrinking (a failing
SOAP answer is printed whole anyway, and shrinking a slow failure can take minutes), and the blob to
replay a failure with ``@reproduce_failure``.

With ``CI`` set (``.ci/run`` sets it) the examples are derandomized: the same inputs every run, so a
landing never depends on luck. On developers' machines they are random, and keep finding new ones."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        print_blob=True,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
