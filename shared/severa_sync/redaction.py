"""Secret redaction, shared by ``secrets`` (which registers values) and ``errors`` (which scrubs).

Every secret value the process holds (API keys, client secrets, issued tokens) is registered when it
is wrapped in ``secrets.Secret``; text from a server (which may echo our request) is scrubbed with
``redact`` before it becomes an error message or a log field. No imports: both sides depend on it.
"""

from __future__ import annotations

from typing import Any

MASK = "***"
MIN_LENGTH = 6  # shorter values would redact ordinary words
_KNOWN: set[str] = set()


def register(value: str) -> None:
    if len(value) >= MIN_LENGTH:
        _KNOWN.add(value)


def redact(value: Any) -> Any:
    """``value`` with every known secret replaced by ``***`` (strings, dicts, lists and tuples)."""
    if isinstance(value, str):
        for secret in _KNOWN:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value
