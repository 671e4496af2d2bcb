"""Every line the Severa adapter logs is one of the run's JSON lines: it carries run_id and tenant."""

from __future__ import annotations

from severa_sync.severa import client as client_module
from severa_sync.severa import source, streaming
from tests.emitted import emitted_lines, run_log
from tests.severa import envelopes as env
from tests.severa.conftest import Canned, CannedServer, MakeClient


def test_modules_log_through_the_service_logger() -> None:
    for module in (client_module, source, streaming):
        assert module.log.name == f"severa-sync.{module.__name__}", module.__name__


def test_a_retried_severa_call_is_logged_with_the_runs_keys(
    server: CannedServer, make_client: MakeClient
) -> None:
    server.push(
        Canned(b"<html>down</html>", status=503, content_type="text/html"),
        Canned(env.scalar_envelope("IAPI/GetVersion", "1")),
    )
    with run_log(tenant="acme", run_id="run-42") as log, emitted_lines() as lines:
        make_client(transport_retries=2).get_version()
        log.info("run finished")
    retried = [line for line in lines() if line["message"] == "severa call failed, retrying"]
    assert retried, lines()
    assert retried[0]["run_id"] == "run-42" and retried[0]["tenant"] == "acme"
    assert retried[0]["correlation_id"] == "run-42"
    assert retried[0]["severa_call"]["operation"] == "IAPI/GetVersion"  # the extra keys are kept
    assert retried[0]["service"] == "severa-sync"
