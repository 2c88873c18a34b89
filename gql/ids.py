"""Global ids: opaque `base64url("Type:internal-id")` strings, so clients never build or parse them."""

from __future__ import annotations

import base64
import binascii
import re

from domain.errors import NotFoundError

# Every internal id is 32 lowercase hex digits (uuid4().hex, or a digest: adapters/db/tables.py). Anything else
# names nothing, and never reaches the database (where a NUL byte or an overlong id would be an error).
_INTERNAL_ID = re.compile(r"[0-9a-f]{32}")


def to_global_id(type_name: str, internal_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{internal_id}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, str] | None:
    """(type name, internal id), or None for anything that is not one of our ids."""
    if not global_id or len(global_id) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, sep, internal_id = raw.partition(":")
    if not sep or not type_name or not _INTERNAL_ID.fullmatch(internal_id):
        return None
    # One object, one id: the decoder also takes padding and ignores the last character's unused low bits, so
    # other strings decode to these bytes too ("...Q=", "...R"); only the spelling we issue names the object.
    if to_global_id(type_name, internal_id) != global_id:
        return None
    return type_name, internal_id


# How the use cases name what they did not find (`NotFoundError`), where it differs from the GraphQL type's name:
# an id that is not one of ours is told in the same words as one of another merchant or of nothing.
_NOT_FOUND_NAMES = {
    "InventoryItem": "Inventory item",
    "Sku": "SKU",
    "SyncTask": "Sync task",
    "WebhookEvent": "Webhook event",
}


def internal_id(global_id: str, expected_type: str, field: str) -> str:
    """The internal id of a global id of the expected type; NOT_FOUND otherwise (a bad id names nothing)."""
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != expected_type:
        raise NotFoundError(_NOT_FOUND_NAMES.get(expected_type, expected_type), (field,))
    return parsed[1]
