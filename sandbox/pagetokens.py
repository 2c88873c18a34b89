"""Opaque page tokens: standard base64 that always contains `+`, `/` and `=`, so clients must URL-encode them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

# Three bytes that encode to "+/+/": every token carries the characters a careless client would mangle.
_PREFIX = b"\xfb\xff\xbf"


def encode(payload: dict[str, Any]) -> str:
    raw = _PREFIX + json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    # Pad to length 3k+1 so the base64 always ends in "==".
    raw += b" " * ((1 - len(raw)) % 3)
    return base64.b64encode(raw).decode()


def decode(token: str) -> dict[str, Any] | None:
    """The payload, or None for anything this sandbox did not issue."""
    try:
        raw = base64.b64decode(token.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_PREFIX):
        return None
    try:
        payload = json.loads(raw[len(_PREFIX) :].decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None
