"""Server text in log fields: an error body may echo the request (a token, a key) and is scrubbed."""

from __future__ import annotations

import pytest

from severa_sync.secrets import Secret

from .conftest import Harness, logged
from .test_target import INVOICES, _invoice, _posts, _with_dependencies

#: A secret the process holds (registered when wrapped), echoed back by a failing gateway.
ECHOED = Secret("echoed-access-token-5f2c9a71")


@pytest.mark.parametrize("commit", [True, False], ids=["written-then-500", "500-nothing-written"])
def test_a_5xx_body_echoing_a_secret_never_reaches_the_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture, commit: bool
) -> None:
    h = harness
    _with_dependencies(h)
    h.sim.fail_5xx(
        "/v2/customerinvoice",
        status=500,
        commit=commit,
        method="POST",
        message=f"Error creating document. Request had Authorization: Bearer {ECHOED.reveal()}",
    )
    delivery = h.target.deliver(INVOICES, [_invoice(10501)])
    assert delivery.delivered and len(h.sim.invoices) == 1
    assert _posts(h.sim, "/v2/customerinvoice") == ([500] if commit else [500, 201])
    text = logged(caplog)
    assert ECHOED.reveal() not in text
    # The server's reason is still there for whoever reads the log, the secret masked.
    warned = [r for r in caplog.records if r.levelname == "WARNING" and hasattr(r, "reason")]
    assert warned and all("Authorization: Bearer ***" in r.reason for r in warned)  # type: ignore[attr-defined]
