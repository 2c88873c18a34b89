"""Typed reads of request bodies and query parameters that fail the way TikTok does (`param X type invalid ...`)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.envelope import BODY_NOT_JSON, INVALID_PARAMETER, ApiError
from sandbox.quote import quoted

_JSON_TYPES = {bool: "bool", int: "int64", float: "float64", str: "string", list: "array", dict: "object"}


def json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def type_error(name: str, value: Any, expected: str) -> ApiError:
    return ApiError(
        INVALID_PARAMETER, f"param {name} type invalid, actual type is:{json_type(value)}, expected type is:{expected}"
    )


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as `{}` (all search filters are optional)."""
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(BODY_NOT_JSON, "The request body must be valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ApiError(BODY_NOT_JSON, f"The request body must be a JSON object, not {json_type(parsed)}.")
    return parsed


def optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(name, value, "int64")
    return value


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise type_error(name, value, "string")
    return value


def optional_str_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise type_error(name, value, "[]string")
    return value


def page_size(query: dict[str, str], error_code: int) -> int:
    """The required `page_size` query parameter, an integer in [1, 100]."""
    raw = query.get("page_size")
    if raw is None or raw == "":
        raise ApiError(error_code, "The page_size query parameter is required (1-100).")
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(error_code, f"The page_size is invalid: {quoted(raw)} is not an integer (1-100).") from None
    if not 1 <= size <= 100:
        raise ApiError(error_code, f"The page_size is invalid: {size} is out of range (1-100).")
    return size
