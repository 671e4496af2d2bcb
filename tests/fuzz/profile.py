"""Hypothesis settings of the fuzz suite: no deadline (CI machines vary), no shrinking (a failing
SOAP answer is printed whole anyway, and shrinking a slow failure can take minutes), and the blob to
replay a failure with ``@reproduce_failure``."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
