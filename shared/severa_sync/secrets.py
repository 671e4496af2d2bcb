"""Secret resolution. Values are wrapped in ``Secret`` so they never print, log or repr."""

from __future__ import annotations

import os
from typing import Protocol

from severa_sync.errors import ConfigError
from severa_sync.redaction import register

__all__ = ["EnvironmentSecrets", "Secret", "SecretResolver", "SecretsManagerSecrets"]


class Secret:
    """A secret value that renders as ``***`` everywhere except ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        register(value)  # so server text echoing it can be scrubbed (severa_sync.redaction)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:  # never pickled into anything
        raise TypeError("secrets cannot be pickled")


class SecretResolver(Protocol):
    def resolve(self, name: str) -> Secret: ...


class EnvironmentSecrets:
    """Local runs: the secret's name is an environment variable."""

    def __init__(self, environ: dict[str, str] | None = None):
        self._env = os.environ if environ is None else environ

    def resolve(self, name: str) -> Secret:
        value = self._env.get(name)
        if not value:
            raise ConfigError(f"secret {name!r} is not set in the environment")
        return Secret(value)


class SecretsManagerSecrets:
    """AWS: the secret's name is a Secrets Manager id; cached by powertools (5 minutes)."""

    def resolve(self, name: str) -> Secret:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_secret(name, max_age=300)
        except parameters.exceptions.GetParameterError as exc:
            # The SDK error names the secret, never its value.
            raise ConfigError(
                f"cannot read secret {name!r} from Secrets Manager: {type(exc).__name__}"
            ) from None
        return Secret(str(value))
