"""TikTok webhooks on the wire: verify the `Authorization` signature over the raw body, then read the envelope.

Signature (live-sync.md §2.1): lowercase hex HMAC-SHA256, key = app secret, message = app key + the raw body
bytes, compared in constant time, before anything is parsed. Envelope (§2.3): `{"type": int, "tts_notification_id":
str, "shop_id": str, "timestamp": int, "data": {...}}`; ids may be JSON numbers beyond 2^53, which Python's json
reads exactly; they become text here (shop id) or in `domain.intake` (ids inside `data`).

What is stored in a column of its own must fit it on SQLite and PostgreSQL alike, or the insert fails and the push
is answered 500 and retried by TikTok for 12 hours: `type` is a PostgreSQL INTEGER (0 to 2^31 - 1 here; TikTok's
types are below 100), the ids at most 64 printable characters. Anything else of the envelope is refused (400), as
a `type` that is not an integer is. `timestamp` and `data` are not refused here: `domain.intake` reads them, except
a `data` that takes the body deeper than `MAX_DEPTH` levels of objects and lists (TikTok's nest four), or a body
nested beyond what the decoder follows: Python's JSON decoder and encoder recurse, and a body nested a few hundred
levels stopped them (`RecursionError`), which answered 500 and was retried by TikTok for 12 hours. `NaN`,
`Infinity` and `-Infinity`, which Python's decoder takes, are not JSON (RFC 8259): such a body is refused as not JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from adapters.config import TikTokSettings
from adapters.tiktok.signing import verify_webhook
from domain.intake import Notification

MAX_TYPE = 2**31 - 1  # the largest PostgreSQL INTEGER (webhook_events.type)
MAX_DEPTH = 64  # levels of objects and lists in a body, the envelope's own included


class MalformedWebhookError(ValueError):
    """A correctly signed body that is not a webhook envelope; the message says what is wrong."""


def is_authentic(settings: TikTokSettings, raw_body: bytes, authorization: str | None) -> bool:
    """Whether `authorization` is TikTok's signature of exactly these bytes for our app."""
    return verify_webhook(settings.app_key, settings.app_secret, raw_body, authorization)


def parse_notification(raw_body: bytes) -> Notification:
    """The envelope of a verified body; `MalformedWebhookError` when it is not one."""
    try:
        # Floats as Decimal: nothing in a webhook should be a float, and none may lose digits on the way.
        # Decoded as UTF-8 first (RFC 8259 sec. 8.1; a byte order mark ignored, as it allows): from bytes, Python's
        # decoder would detect UTF-16 and UTF-32 on its own and read them.
        text = raw_body.decode("utf-8-sig")
        envelope = json.loads(text, parse_float=Decimal, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhookError(f"the body is not JSON: {exc}") from None
    except RecursionError:  # nested beyond what the decoder follows (about 1,000 levels)
        raise MalformedWebhookError(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(envelope, dict):
        raise MalformedWebhookError("the body is not a JSON object")
    type_ = envelope.get("type")
    if isinstance(type_, bool) or not isinstance(type_, int):
        raise MalformedWebhookError("type must be an integer")
    if not 0 <= type_ <= MAX_TYPE:
        raise MalformedWebhookError(f"type must be an integer from 0 to {MAX_TYPE}")
    data = envelope.get("data")
    if data is None:  # absent or null: no data
        data = {}
    if not isinstance(data, dict):
        raise MalformedWebhookError("data must be an object")
    timestamp = envelope.get("timestamp")
    return Notification(
        type=type_,
        tts_notification_id=_text(envelope.get("tts_notification_id"), "tts_notification_id"),
        tiktok_shop_id=_text(envelope.get("shop_id"), "shop_id"),
        timestamp=timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None,
        data=_plain(data, MAX_DEPTH - 1),
    )


def _not_json(constant: str) -> Any:
    """Python's decoder takes `NaN`, `Infinity` and `-Infinity`; RFC 8259 sec. 6 has no such numbers: not JSON."""
    raise ValueError(f"{constant} is not a JSON number (RFC 8259)")


def _text(value: Any, name: str) -> str | None:
    """An id as text: a string or an integer, at most 64 characters, printable (no NUL, no control character, no
    lone surrogate: PostgreSQL and SQLite refuse to store those)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and -(10**64) < value < 10**64:
        value = str(value)
    if isinstance(value, str) and len(value) <= 64 and value.isprintable():
        return value
    raise MalformedWebhookError(f"{name} must be a string of at most 64 printable characters, or an integer")


def _plain(value: Any, levels: int) -> Any:
    """JSON-storable: Decimals back to their exact text (stored as JSON text, never as a float). `levels` is how
    many levels of objects and lists `value` may hold, itself included; deeper is `MalformedWebhookError`."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dict, list)) and levels <= 0:
        raise MalformedWebhookError(f"the body is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {str(k): _plain(v, levels - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, levels - 1) for v in value]
    return value
