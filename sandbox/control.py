"""The `/_sandbox/` control surface for tests, demos and benchmarks: plain JSON, unsigned, no TikTok envelope.

Bad input answers 400 `{"error": "..."}`; an unknown shop or seller answers 404 the same way.
"""

from __future__ import annotations

import json
import random
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.config import MAX_ORDERS_PER_SHOP, MAX_PRODUCTS_PER_SHOP
from sandbox.data import (
    NO_ADDRESS_STATUSES,
    ORDER_STATUSES,
    PACKAGE_STATUSES,
    address_for,
    collected,
    package_status,
)
from sandbox.faults import FAULT_KINDS, REFUSAL_KINDS, STALL_KINDS, THROTTLE_KINDS
from sandbox.quote import quoted
from sandbox.sellers import Seller, Shop
from sandbox.state import World

MAX_ORDERS_PER_CALL = 1000
MAX_SEARCH_LAG_SECONDS = 3600  # an order's `search_lag`, at most (`put_orders`)
FULFILLMENT_TYPES = ("FULFILLMENT_BY_SELLER", "FULFILLMENT_BY_TIKTOK")  # Get Order Detail `fulfillment_type`


class BadInput(Exception):
    """A control request this surface refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


RESEED_KEYS = frozenset({"products", "orders", "seed", "reset_tokens", "rare_cases"})


def _no_constant(name: str) -> Any:
    """`json.loads`' `parse_constant`: NaN, Infinity and -Infinity, which RFC 8259 has no place for, are refused."""
    raise _NotJsonNumber(name)


class _NotJsonNumber(ValueError):
    """A NaN or Infinity in a control body (`_no_constant`)."""


async def _json(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`); BadInput (400) if it is not JSON, holds NaN, Infinity or
    -Infinity (Python's decoder takes them: a `per_second` or `slow_seconds` of NaN was stored, and every answer that
    showed it, `GET /_sandbox/` and `GET /_sandbox/faults`, was a 500 until a reset, tryout69), or is no object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except _NotJsonNumber:
        raise BadInput("the body must be valid JSON (NaN and Infinity are not JSON numbers)") from None
    except ValueError:
        raise BadInput("the body must be valid JSON") from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _int(
    body: dict[str, Any], name: str, default: int | None = None, minimum: int = 0, maximum: int | None = None
) -> int:
    """`body[name]` (else `default`): an integer in [minimum, maximum]; BadInput (400) naming the bounds if not."""
    value = body.get(name, default)
    too_big = maximum is not None and isinstance(value, int) and value > maximum
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or too_big:
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise BadInput(f"{name} must be an integer {bounds}")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    """`body[name]` (else `default`): a JSON boolean; BadInput (400) if not (a string "false" is no boolean)."""
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadInput(f"{name} must be a boolean")
    return value


def _number_or_null(body: dict[str, Any], name: str) -> float | None:
    if name not in body:
        raise BadInput(f"{name} is required (a number >= 0, or null for unlimited)")
    value = body[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadInput(f"{name} must be a number >= 0 or null")
    return float(value)


def _change(order: dict[str, Any], status: str, update_time: int, region: str, package: str | None = None) -> None:
    """Move an order (a fresh copy) to a status, keeping line items and the address consistent with it: each line's
    `package_status` follows (`sandbox.data.package_status`: cancelled once its package left, it is lost), unless
    `package` says what every line's package is."""
    order["status"], order["update_time"], order["is_on_hold_order"] = status, update_time, status == "ON_HOLD"
    collected(order, status, update_time)
    lines = []
    for item in order["line_items"]:
        package_now = package or package_status(status, item.get("package_status"))
        lines.append({**item, "display_status": status, "package_status": package_now})
    order["line_items"] = lines
    if status in NO_ADDRESS_STATUSES:
        order["recipient_address"] = {}
    elif not order["recipient_address"]:
        # The address becomes visible once the order leaves UNPAID/ON_HOLD, as at TikTok.
        order["recipient_address"] = address_for(random.Random(order["id"]), region, "Alex", "Smith")


class Control:
    """Handlers bound to one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        endpoints = [
            ("/", "GET", self.overview),
            ("/reseed", "POST", self.reseed),
            ("/shops", "GET", self.shops),
            ("/shops/{shop_id}/products", "GET", self.products),
            ("/shops/{shop_id}/orders", "GET", self.orders),
            ("/shops/{shop_id}/orders", "POST", self.put_orders),
            ("/latency", "POST", self.latency),
            ("/rate-limit", "POST", self.rate_limit),
            ("/faults", "GET", self.get_faults),
            ("/faults", "POST", self.set_faults),
            ("/faults/trickles/end", "POST", self.end_trickles),
            ("/faults/records", "GET", self.get_unreadable_records),
            ("/faults/records", "POST", self.set_unreadable_records),
            ("/faults/failing", "GET", self.get_failing_records),
            ("/faults/failing", "POST", self.set_failing_records),
            ("/sellers/{seller}/revoke", "POST", self.revoke),
            ("/sellers/{seller}/expire-access-token", "POST", self.expire_access_token),
            ("/counters", "GET", self.counters),
            ("/counters/reset", "POST", self.reset_counters),
            ("/reset", "POST", self.reset),
        ]
        return [
            Route("/_sandbox" + path, self._guard(handler), methods=[method]) for path, method, handler in endpoints
        ]

    @staticmethod
    def _guard(handler: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return JSONResponse(await handler(request))
            except BadInput as error:
                return JSONResponse({"error": str(error)}, status_code=error.status)

        return endpoint

    def _shop(self, request: Request) -> Shop:
        shop = self.world.shops_by_id.get(request.path_params["shop_id"])
        if shop is None:
            raise BadInput(f"unknown shop id {quoted(request.path_params['shop_id'])}", status=404)
        return shop

    def _seller(self, request: Request) -> Seller:
        seller = self.world.sellers.get(request.path_params["seller"])
        if seller is None:
            raise BadInput(
                f"unknown seller {quoted(request.path_params['seller'])}; known: {list(self.world.sellers)}", 404
            )
        return seller

    async def overview(self, request: Request) -> dict[str, Any]:
        world, config = self.world, self.world.config
        return {
            "app": {"app_key": config.app_key, "service_id": config.service_id, "redirect_url": config.redirect_url},
            "data": {
                "products": world.products_per_shop,
                "orders": world.orders_per_shop,
                "seed": world.seed,
                "rare_cases": world.rare_cases,
            },
            "rate_limit": world.rate_limiter.per_second,
            "latency_ms": world.latency_ms,
            "faults": world.faults.describe(),
            "hold": world.holds.describe(),
            "webhooks": world.webhooks.settings.as_json(),
            "clock": world.clock.describe(),
        }

    async def reseed(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        # A reseed makes a new world (new ids): a misspelt key ("product") is refused, not ignored for the defaults.
        if unknown := set(body) - RESEED_KEYS:
            raise BadInput(f"unknown keys {sorted(unknown)}; known: {sorted(RESEED_KEYS)}")
        world = self.world
        # Bounded (sandbox/config.py): a shop's data is built in memory on its first use after the reseed.
        products = _int(body, "products", world.products_per_shop, maximum=MAX_PRODUCTS_PER_SHOP)
        orders = _int(body, "orders", world.orders_per_shop, maximum=MAX_ORDERS_PER_SHOP)
        seed = _int(body, "seed", world.seed, minimum=-(2**63))
        reset_tokens = _bool(body, "reset_tokens", False)
        # FBT orders and packages lost after shipping (`SandboxConfig.rare_cases`, `--rare-cases`); left out: as now
        rare_cases = _bool(body, "rare_cases", world.rare_cases)
        world.reseed(products, orders, seed, reset_tokens, rare_cases)
        answer = {"products": products, "orders": orders, "seed": seed, "reset_tokens": reset_tokens}
        return {**answer, "rare_cases": rare_cases}

    async def shops(self, request: Request) -> dict[str, Any]:
        return {
            "sellers": [
                {
                    "key": seller.key,
                    "name": seller.name,
                    "seller_type": seller.seller_type,
                    "base_region": seller.base_region,
                    "open_id": seller.open_id,
                    "shops": [shop.as_tiktok() for shop in seller.shops],
                }
                for seller in self.world.sellers.values()
            ]
        }

    async def products(self, request: Request) -> dict[str, Any]:
        data = self.world.shop_data(self._shop(request))
        return {"products": data.catalog.products, "warehouse_ids": data.catalog.warehouse_ids}

    async def orders(self, request: Request) -> dict[str, Any]:
        since_raw = request.query_params.get("created_since")
        since = None
        if since_raw is not None:
            try:
                since = int(since_raw)
            except ValueError:
                raise BadInput("created_since must be Unix seconds") from None
        orders = self.world.shop_data(self._shop(request)).orders.created_since(since)
        return {"orders": orders, "total_count": len(orders)}

    async def put_orders(self, request: Request) -> dict[str, Any]:
        """`{"orders": [...]}`: an item with `id` changes that order (status, update_time default now); an item
        without one adds a generated order (status default AWAITING_SHIPMENT, times default now). Either may set
        `fulfillment_type` (`FULFILLMENT_BY_SELLER`, or `FULFILLMENT_BY_TIKTOK`: an FBT order, shipped from TikTok's
        own warehouse), and `package_status`, every line's package (`PACKAGE_STATUSES`; CANCELLED: lost or damaged
        after shipping, live-sync.md sec. 3.2, 3.5); by default it follows the status (a change to CANCELLED of an
        order whose package had left makes it lost). `detail_lag` (true/false) puts the order under TikTok's
        read-after-write lag, or ends it: Get Order Detail leaves it out meanwhile (search still lists it).
        `search_lag` (seconds, 0-3600) puts it under TikTok's search index lag for that long from now (0 ends it):
        Search Orders leaves it out of its pages meanwhile (Get Order Detail serves it; a page's `total_count` still
        counts it).
        `stale_detail` (true/false, on a change) starts or ends the read lag of a changed order: Get Order Detail
        keeps serving the version before the change (the first such change's, until false), as TikTok may right
        after pushing the change's webhook (search lists the new version)."""
        body = await _json(request)
        items = body.get("orders")
        if not isinstance(items, list) or not items or len(items) > MAX_ORDERS_PER_CALL:
            raise BadInput(f"orders must be a list of 1..{MAX_ORDERS_PER_CALL} objects")
        data = self.world.shop_data(self._shop(request))
        now = int(self.world.clock())
        for item in items:  # validate everything before changing anything
            if not isinstance(item, dict):
                raise BadInput("each order must be an object")
            if item.get("status") is not None and item["status"] not in ORDER_STATUSES:
                raise BadInput(f"status must be one of {list(ORDER_STATUSES)}")
            if "id" in item and item["id"] not in data.orders:
                raise BadInput(f"order {quoted(item['id'])} does not exist in this shop")
            created = (
                _int(item, "create_time", now) if "id" not in item else data.orders.require(item["id"])["create_time"]
            )
            if _int(item, "update_time", max(now, created)) < created:
                raise BadInput("update_time must be >= create_time")
            if item.get("fulfillment_type") is not None and item["fulfillment_type"] not in FULFILLMENT_TYPES:
                raise BadInput(f"fulfillment_type must be one of {list(FULFILLMENT_TYPES)}")
            if item.get("package_status") is not None and item["package_status"] not in PACKAGE_STATUSES:
                raise BadInput(f"package_status must be one of {list(PACKAGE_STATUSES)}")
            if "detail_lag" in item and not isinstance(item["detail_lag"], bool):
                raise BadInput("detail_lag must be true or false")
            lag = item.get("search_lag", 0)
            if isinstance(lag, bool) or not isinstance(lag, (int, float)) or not 0 <= lag <= MAX_SEARCH_LAG_SECONDS:
                raise BadInput(f"search_lag must be a number of seconds from 0 to {MAX_SEARCH_LAG_SECONDS}")
            if "stale_detail" in item and (not isinstance(item["stale_detail"], bool) or "id" not in item):
                raise BadInput("stale_detail must be true or false, on a change of an order (with its id)")
        results = []
        for item in items:
            if "id" in item:
                order = dict(data.orders.require(item["id"]))
                if item.get("stale_detail") is True:
                    self.world.stale_detail.setdefault(order["id"], dict(order))
                elif item.get("stale_detail") is False:
                    self.world.stale_detail.pop(order["id"], None)
                update_time = _int(item, "update_time", max(now, order["create_time"]))
                status = item.get("status") or order["status"]
                _change(order, status, update_time, data.shop.region, item.get("package_status"))
                data.orders.put(order)
            else:
                create_time = _int(item, "create_time", now)
                update_time = _int(item, "update_time", max(now, create_time))
                order = self.world.new_order(data, item.get("status") or "AWAITING_SHIPMENT", create_time, update_time)
            if item.get("fulfillment_type") is not None:
                order = {**order, "fulfillment_type": item["fulfillment_type"]}
                data.orders.put(order)
            if "id" not in item and item.get("package_status") is not None:
                lines = [{**line, "package_status": item["package_status"]} for line in order["line_items"]]
                order = {**order, "line_items": lines}
                data.orders.put(order)
            if item.get("detail_lag") is True:
                self.world.detail_lag.add(order["id"])
            elif item.get("detail_lag") is False:
                self.world.detail_lag.discard(order["id"])
            if "search_lag" in item:
                self.world.search_lag[order["id"]] = self.world.clock() + item["search_lag"]
            results.append(order)
            self.world.notices.order_changed(data.shop, order)
        return {"orders": results}

    async def latency(self, request: Request) -> dict[str, Any]:
        self.world.latency_ms = _int(await _json(request), "ms")
        return {"latency_ms": self.world.latency_ms}

    async def rate_limit(self, request: Request) -> dict[str, Any]:
        per_second = _number_or_null(await _json(request), "per_second")
        self.world.rate_limiter.set_rate(per_second)
        return {"per_second": self.world.rate_limiter.per_second}

    async def get_faults(self, request: Request) -> dict[str, Any]:
        return self.world.faults.describe()

    async def set_faults(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        rate = body.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise BadInput("rate must be a number between 0 and 1")
        kinds = body.get("kinds", [])
        if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
            known = FAULT_KINDS + REFUSAL_KINDS + STALL_KINDS + THROTTLE_KINDS
            raise BadInput(f"kinds must be a list drawn from {list(known)}")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise BadInput("seed must be an integer or null")
        slow_seconds = body.get("slow_seconds", self.world.config.slow_seconds)
        if isinstance(slow_seconds, bool) or not isinstance(slow_seconds, int | float) or slow_seconds < 0:
            raise BadInput("slow_seconds must be a number >= 0")
        paths = body.get("paths", [])
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise BadInput("paths must be a list of API paths, e.g. /order/202309/orders/search")
        try:
            self.world.faults.configure(float(rate), tuple(kinds), seed, float(slow_seconds), tuple(paths))
        except ValueError as error:
            raise BadInput(str(error)) from None
        return self.world.faults.describe()

    async def end_trickles(self, request: Request) -> dict[str, Any]:
        self.world.faults.end_trickles()
        return self.world.faults.describe()

    async def get_unreadable_records(self, request: Request) -> dict[str, Any]:
        return {"unreadable": sorted(self.world.unreadable_records)}

    async def get_failing_records(self, request: Request) -> dict[str, Any]:
        return {"failing": sorted(self.world.failing_records)}

    async def set_failing_records(self, request: Request) -> dict[str, Any]:
        """`{failing: [id, ...]}`: from now on Get Product of one of those products, and Get Order Detail naming one
        of those orders (the whole call), answer HTTP 500 INTERNAL_ERROR, every other read as before; the list
        replaces the last one, `[]` lifts the fault. Unknown ids are kept (they match nothing)."""
        ids = (await _json(request)).get("failing")
        if not isinstance(ids, list) or not all(isinstance(item, str) and item for item in ids):
            raise BadInput("failing must be a list of order and product ids")
        self.world.failing_records = set(ids)
        return await self.get_failing_records(request)

    async def set_unreadable_records(self, request: Request) -> dict[str, Any]:
        """`{unreadable: [id, ...]}`: from now on TikTok serves those orders and products unreadably (an order with
        `create_time: 0`, a product with `create_time: null`) in every answer, the records themselves unchanged (no
        new `update_time`, no webhook); the list replaces the last one, `[]` lifts the fault. Unknown ids are kept
        (they match nothing)."""
        ids = (await _json(request)).get("unreadable")
        if not isinstance(ids, list) or not all(isinstance(item, str) and item for item in ids):
            raise BadInput("unreadable must be a list of order and product ids")
        self.world.unreadable_records = set(ids)
        return await self.get_unreadable_records(request)

    async def revoke(self, request: Request) -> dict[str, Any]:
        seller = self._seller(request)
        revoked = self.world.tokens.revoke_seller(seller.key)
        self.world.notices.seller_revoked(seller)
        return {"seller": seller.key, "revoked_grants": revoked}

    async def expire_access_token(self, request: Request) -> dict[str, Any]:
        seller = self._seller(request)
        return {"seller": seller.key, "expired_tokens": self.world.tokens.expire_seller_access(seller.key)}

    async def counters(self, request: Request) -> dict[str, Any]:
        return self.world.counters.snapshot()

    async def reset_counters(self, request: Request) -> dict[str, Any]:
        self.world.counters.reset()
        return self.world.counters.snapshot()

    async def reset(self, request: Request) -> dict[str, Any]:
        self.world.reset_traffic()
        return await self.overview(request)
