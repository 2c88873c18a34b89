"""TikTok's Event API (`GET|PUT|DELETE /event/202309/webhooks`): per-shop webhook addresses, validated like TikTok.

[DOC pages 650aa064defece02be6df919, 6509a3a1c16ffe02b8d64149, 650aa1eadefece02be6e224a; live-sync.md sec. 2.5]
- PUT `{"address", "event_type"}`: address at most 255 characters, `https://`, a domain name (no IP), no port;
  answers `data: {}`. With `SandboxConfig.allow_insecure_webhook_urls`, `http://` loopback URLs with a port pass too.
- DELETE `{"event_type"}`: succeeds whether or not the type was registered.
- GET: `{"webhooks": [{event_type, address, create_time, update_time}], "total_count"}`.
Bad input answers 36009004 with a message naming the parameter (sandbox choice of code).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from sandbox import envelope as codes
from sandbox.envelope import ApiError
from sandbox.gateway import Call
from sandbox.quote import quoted
from sandbox.registrations import EVENT_TYPES

MAX_ADDRESS_LENGTH = 255
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def check_address(address: Any, allow_insecure: bool) -> str:
    """The address if TikTok would accept it, else ApiError 36009004 saying why."""
    if not isinstance(address, str) or not address:
        raise ApiError(codes.INVALID_PARAMETER, "param body.address is missing")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise ApiError(codes.INVALID_PARAMETER, f"param address is too long: at most {MAX_ADDRESS_LENGTH} characters")
    try:
        parts = urlsplit(address)
        port, host = parts.port, (parts.hostname or "")
    except ValueError:
        raise ApiError(codes.INVALID_PARAMETER, "param address is not a valid URL") from None
    if allow_insecure and parts.scheme in ("http", "https") and host in LOOPBACK_HOSTS:
        return address
    if parts.scheme != "https":
        raise ApiError(codes.INVALID_PARAMETER, "param address must be an https URL")
    if port is not None:
        raise ApiError(codes.INVALID_PARAMETER, "param address must not contain a port")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ApiError(codes.INVALID_PARAMETER, "param address must use a domain name, not an IP address")
    if "." not in host or not all(label for label in host.split(".")):
        raise ApiError(codes.INVALID_PARAMETER, "param address must use a domain name")
    return address


def _event_type(body: dict[str, Any]) -> str:
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise ApiError(codes.INVALID_PARAMETER, "param body.event_type is missing")
    if event_type not in EVENT_TYPES:
        raise ApiError(codes.INVALID_PARAMETER, f"param event_type is invalid: {quoted(event_type)}")
    return event_type


async def get_webhooks(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    webhooks = call.world.registrations.listing(call.shop.id)
    return {"webhooks": webhooks, "total_count": len(webhooks)}


async def put_webhook(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    body = call.json_body()
    address = check_address(body.get("address"), call.world.config.allow_insecure_webhook_urls)
    call.world.registrations.put(call.shop.id, _event_type(body), address, int(call.world.clock()))
    return {}


async def delete_webhook(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    call.world.registrations.delete(call.shop.id, _event_type(call.json_body()))
    return {}
