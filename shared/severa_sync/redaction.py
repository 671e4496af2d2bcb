"""Secret redaction, shared by ``secrets`` (which registers values) and ``errors`` (which scrubs).

Every secret value the process holds (API keys, client secrets, issued tokens) is registered when it
is wrapped in ``secrets.Secret``; text from a server (which may echo our request) is scrubbed with
``redact`` before it becomes an error message or a log field. No imports: both sides depend on it.

Text is always redacted *before* it is cut to a size (``redact_and_cut``): a cut first can leave
part of a secret straddling the cut, which no longer matches the whole value and so survives.
A server may also echo a value encoded (form-encoded in an echoed token request, JSON-escaped in a
JSON body), so each secret is registered with those spellings too.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 6  # shorter values would redact ordinary words
_KNOWN: set[str] = set()


_LONGEST_FIRST: tuple[str, ...] = ()


def _spellings(value: str) -> set[str]:
    """The value as a server may echo it: verbatim, form/URL-encoded, JSON-escaped."""
    return {value, quote(value, safe=""), quote_plus(value, safe=""), json.dumps(value)[1:-1]}


def register(value: str) -> None:
    global _LONGEST_FIRST
    if len(value) >= MIN_LENGTH:
        _KNOWN.update(_spellings(value))
        # Longest first: a secret that contains another is masked whole, never left in pieces.
        # Rebound, never mutated: a thread redacting meanwhile keeps iterating the old tuple.
        _LONGEST_FIRST = tuple(sorted(_KNOWN, key=len, reverse=True))


def redact(value: Any) -> Any:
    """``value`` with every known secret replaced by ``***`` (strings, dicts, lists and tuples)."""
    if isinstance(value, str):
        for secret in _LONGEST_FIRST:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value)
    return value


def redact_and_cut(text: Any, limit: int, ellipsis: str = "") -> str:
    """``text`` as a string, secrets masked first, then cut to at most ``limit`` characters (ending in
    ``ellipsis`` when cut). The one way to bound text that may carry a secret."""
    clean: str = redact(text if isinstance(text, str) else str(text))
    if len(clean) <= limit:
        return clean
    return clean[: max(limit - len(ellipsis), 0)] + ellipsis
