"""Lambda, locally: ``functions/<type>/app.py``'s ``handler`` called as Lambda calls it.

Used by ``severa-sync run`` (one type against any endpoint) and by the demo's local stack. The
handler module is loaded by path (Lambda's ``app.handler``), gets a context object with the
attributes the handler and powertools read, and runs with the environment its function would have.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from severa_sync import registry
from severa_sync.errors import ConfigError
from severa_sync.runtime import reset_runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
LAMBDA_TIMEOUT_SECONDS = 900  # template Globals.Function.Timeout
LAMBDA_MEMORY_MB = 1024

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that the handler and powertools read."""

    function_name: str
    memory_limit_in_mb: int = LAMBDA_MEMORY_MB
    timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def function_name(data_type: str, stack_name: str) -> str:
    """The template's ``FunctionName: ${AWS::StackName}-<type with dashes>``."""
    return f"{stack_name}-{data_type.replace('_', '-')}"


_HANDLERS: dict[str, Handler] = {}


def load_handler(data_type: str) -> Handler:
    """``functions/<type>/app.py``'s ``handler``, loaded by path as Lambda loads ``app.handler``."""
    registry.get(data_type)
    if data_type not in _HANDLERS:
        path = FUNCTIONS_DIR / data_type / "app.py"
        spec = importlib.util.spec_from_file_location(f"severa_sync_function_{data_type}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ConfigError(f"no Lambda handler at {path} (run from a checkout of severa-sync)")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _HANDLERS[data_type] = module.handler
    return _HANDLERS[data_type]


class MetricsSink(io.TextIOBase):
    """The function's stdout, locally: EMF metric blobs (CloudWatch reads them from the log stream;
    here nothing would) are dropped, any other line goes on to the terminal."""

    def __init__(self, terminal: TextIO):
        self.terminal = terminal
        self.dropped = 0
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line.startswith('{"_aws"'):
                self.dropped += 1
            else:
                self.terminal.write(line + "\n")
        return len(text)


def invoke(data_type: str, event: dict[str, Any], *, name: str) -> dict[str, Any]:
    """One invocation of the type's handler, as function ``name``, with a fresh context (one request)."""
    handler = load_handler(data_type)
    with contextlib.redirect_stdout(MetricsSink(sys.stdout)):
        return handler(event, LocalContext(function_name=name))


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) variables; the previous environment comes back on exit."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_runtime()  # the runtime is built once per process from these variables
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        reset_runtime()
        _forget_cached_secrets()


def _forget_cached_secrets() -> None:
    # powertools keeps one Secrets Manager provider per process (client and 5-minute cache): a
    # later run must not reach a stopped moto server or reuse another run's values.
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    DEFAULT_PROVIDERS.pop("secrets", None)
