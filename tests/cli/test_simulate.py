"""``severa-sync simulate severa|visma``: a simulator on its own, until interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests


@pytest.mark.parametrize("system", ["severa", "visma"])
def test_simulate_serves_on_localhost_until_terminated(system: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "severa_sync_tools.cli", "simulate", system, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if system == "severa":
            url = first.split("listening: ", 1)[1].strip()
            assert url.startswith("http://127.0.0.1:")
            assert requests.get(url + "/WSDL", timeout=10).status_code == 200
        else:
            base = json.loads(first)["base_url"]
            assert base.startswith("http://127.0.0.1:")
            answer = requests.post(
                json.loads(first)["token_url"], data={"grant_type": "client_credentials"}, timeout=10
            )
            assert answer.status_code in (400, 401), "the token endpoint answers (and wants credentials)"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
