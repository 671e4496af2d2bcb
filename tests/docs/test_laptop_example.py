"""The laptop example of docs/configuration.md, run as written (issue 12 item 8): "every command in
README and docs is exercised by a test where it can be".

The shell block and ``sim.toml`` are read from the document itself, so the test breaks when the doc
does. Each line runs as the doc says: the simulators and ``moto_server`` as background processes, the
``export`` lines into the environment, ``severa-sync`` in-process through ``cli.main``. Only the ports
change (free ones, so parallel test runs do not collide) and ``aws s3 mb`` is done with boto3 against
the same endpoint (the AWS CLI is not a dependency of the project). Then the other documented
commands that need no AWS: ``config check`` of both examples, and ``state`` commands on the local
store the run wrote.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from severa_sync_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOC_PORTS = ("8081", "8082", "5000")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def _section(title_start: str) -> str:
    text = CONFIGURATION.read_text(encoding="utf-8")
    start = text.index(f"## {title_start}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.S | re.M)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[str], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}: {process.stderr}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up within {seconds} s")


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:  # only what this test started, each by its own handle
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Shell:
    """Runs the documented lines: ``&`` in the background, ``export``, ``aws s3 mb``, severa-sync."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, background: list[subprocess.Popen[str]]):
        self.monkeypatch, self.background = monkeypatch, background
        self.ran: list[str] = []

    def run(self, line: str) -> None:
        words = shlex.split(line, comments=True)
        if not words:
            return
        self.ran.append(line)
        in_background = words[-1] == "&"
        words = [w for w in words if w != "&"]
        prefix: dict[str, str] = {}
        while ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            prefix[name] = value
        program, args = words[0], words[1:]
        if program == "export":
            for assignment in args:
                name, _, value = assignment.partition("=")
                self.monkeypatch.setenv(name, value)
        elif program == "aws" and args[:2] == ["s3", "mb"]:
            bucket = args[2].removeprefix("s3://")
            boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_REGION"]}
            )
        elif program == "moto_server" and in_background:
            port = args[args.index("-p") + 1]
            process = self._start([str(Path(sys.executable).parent / "moto_server"), *args], prefix)
            _wait_until_up(f"http://127.0.0.1:{port}/moto-api/", process)
        elif program == "severa-sync" and in_background:
            assert args[0] == "simulate", line
            process = self._start([sys.executable, "-m", "severa_sync_tools.cli", *args], prefix)
            assert process.stdout is not None
            assert "127.0.0.1" in process.stdout.readline(), "the simulator says where it listens"
        elif program == "severa-sync":
            with self.monkeypatch.context() as scoped:
                for name, value in prefix.items():
                    scoped.setenv(name, value)
                code = main(args)
            assert code == 0, f"{line}: exit {code}"
        else:
            raise AssertionError(f"the test does not know how to run the documented line {line!r}")

    def _start(self, argv: list[str], prefix: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **prefix},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.background.append(process)
        return process


def test_the_simulator_laptop_example_runs_as_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    background: list[subprocess.Popen[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    section = _section("Example (`sim.toml`")
    (commands,), (toml,) = _blocks(section, "sh"), _blocks(section, "toml")
    for port in DOC_PORTS:
        assert port in commands, f"the example uses port {port}"
        free = str(_free_port())
        commands, toml = commands.replace(port, free), toml.replace(port, free)
    for name in ("SEVERA_SYNC_CONFIG_FILE", "STATE_FILE", "STATE_TABLE", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("COLUMNS", "300")  # rich wraps to the terminal: one line per row
    monkeypatch.chdir(tmp_path)  # the doc's relative sim.toml and the local state file land here
    (tmp_path / "sim.toml").write_text(toml)

    shell = Shell(monkeypatch, background)
    for line in commands.splitlines():
        shell.run(line)
    assert any("severa-sync run accounts --config sim.toml" in line for line in shell.ran)
    out = capsys.readouterr().out
    assert "accounts: succeeded · fetched 8, delivered 8" in out, out[-2000:]

    # The example's S3 part (AWS_ENDPOINT_URL, the bucket): an S3 type writes its files there.
    shell.run("severa-sync run hour_entries --config sim.toml")
    assert "hour_entries: succeeded" in capsys.readouterr().out
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="severa-sync-exports").get("Contents", [])]
    assert any(k.startswith("exports/tenant=sim/type=hour_entries/") for k in keys), keys

    # Other documented commands that need no AWS, on the store the run wrote.
    for line in (
        "severa-sync config check sim.toml",
        "severa-sync state list --config sim.toml",
        "severa-sync state mappings accounts --config sim.toml",
        "severa-sync state halts --config sim.toml",
        "severa-sync state retry-set --config sim.toml",
    ):
        shell.run(line)
    out = capsys.readouterr().out
    assert "valid configuration of tenant sim" in out
    assert "accounts" in out and "succeeded" in out, "state list shows the run"


def test_the_secure_test_laptop_example_validates_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    (toml,) = _blocks(_section("Example (`tenant.toml`"), "toml")
    (tmp_path / "tenant.toml").write_text(toml)
    assert main(["config", "check", str(tmp_path / "tenant.toml")]) == 0  # README, docs: config check
    assert "valid configuration of tenant acme (stage secure-test" in capsys.readouterr().out
