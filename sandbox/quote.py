"""How the sandbox quotes a caller's value in an error message: its repr, on one line, at most 64 characters."""

from __future__ import annotations

LIMIT = 64


def quoted(value: object, limit: int = LIMIT) -> str:
    """`repr(value)` (quotes and escapes: one line), cut to `limit` characters with `…` when longer."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
