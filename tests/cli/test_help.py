"""Help texts: every command explains itself, and says where secrets come from."""

from __future__ import annotations

import re

import pytest

from severa_sync import registry
from severa_sync_tools.cli import main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_top_level_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    for command in ("demo", "run", "state", "simulate"):
        assert f"    {command} " in text
    assert "75 continue later" in text


def test_run_names_the_types_and_never_takes_secrets_as_options(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "run")
    for dt in registry.DATA_TYPES:
        assert dt.name in text
    assert "SEVERA_API_KEY" in text and "never from the command line" in text
    for flag in ("--config", "--severa-url", "--visma-url", "--visma-token-url", "--state", "--state-file"):
        assert flag in text
    assert "--api-key" not in text and "--client-secret" not in text


def test_state_lists_its_actions(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "state")
    for action in ("list", "rewind", "halts", "clear-halt", "retry-set", "forget"):
        assert action in text
    assert "--yes" in _help(capsys, "state", "rewind") and "--to TIME" in _help(capsys, "state", "rewind")
    assert "acknowledges a schema change" in _help(capsys, "state", "clear-halt")


def test_demo_and_simulate_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert "no AWS account" in _help(capsys) and "maintenance break" in _help(capsys, "demo")
    assert "{severa,visma}" in _help(capsys, "simulate")


@pytest.mark.parametrize(
    "argv",
    [[], ["run"], ["run", "nosuchtype"], ["state"], ["state", "rewind", "accounts"], ["demo", "--bogus"]],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: severa-sync" in capsys.readouterr().err


def test_simulate_help_shows_every_simulator_setting(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 12 item 8: a reader of `simulate --help` learns every option the simulators take.
    from severa_sync_tools.simulators.severa.cli import _parser
    from severa_sync_tools.simulators.visma.cli import main as visma_main

    text = _help(capsys, "simulate")
    with pytest.raises(SystemExit):
        visma_main(["--help"])
    visma_help = capsys.readouterr().out
    options = {o for a in _parser()._actions for o in a.option_strings if o.startswith("--")}
    options |= set(re.findall(r"(--[a-z-]+)", visma_help))
    for option in options - {"--help", "--port"}:
        assert option in text, option
    assert "AWS_ENDPOINT_URL" in text and "/webservice/S3/API.svc" in text
