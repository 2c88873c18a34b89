"""Control endpoints for live traffic: webhook settings and log, the clock, buyers' sales and order moves.

- `GET`/`POST /_sandbox/webhooks`: `{url, drop, duplicate, reorder, delay_ms, bad_signature}` (keys left out keep
  their value; rates 0..1).
- `GET /_sandbox/webhooks/log?shop_id=&type=`: `{deliveries: [{tts_notification_id, type, shop_id, url, attempt,
  status_code, error, time}], total_count}`, oldest first.
- `GET`/`POST /_sandbox/clock`: `{advance_seconds}` -> `{offset_seconds, now}`; 400 unless a finite number from 0 to
  10 years, the offset at most 100 years (`sandbox.clock.SandboxClock.advance`).
- `POST /_sandbox/shops/{shop_id}/sales`: `{sku_id or seller_sku, quantity, status?}` -> `{order_id}`; 409 when
  TikTok's available stock is short or the product is not live.
- `POST /_sandbox/orders/{order_id}/status`: `{status}` -> `{order_id, status, update_time}`; 409 for a move the
  flow refuses. `{"status": "lose"}`: the carrier lost a shipped (IN_TRANSIT or DELIVERED) order's package: the
  order is CANCELLED, its lines CANCELLED with `package_status` CANCELLED, and no unit goes back to available nor
  to the oracle's stock (live-sync.md sec. 3.5: no automatic restock).
- `POST /_sandbox/orders/{order_id}/line-items/cancel`: `{line_item_ids}` -> `{order_id, status, update_time,
  line_items: [{id, display_status}]}`: the seller cancels those lines alone (item-level cancellation, live-sync.md
  sec. 3.2); their units go back to TikTok's available, the order keeps its status unless no line is left (then
  CANCELLED); webhook 11 (and 1 once the order is cancelled). 409 when the order is shipped or final or a line is
  cancelled already; 400 for a line the order does not have.
- `POST /_sandbox/sellers`: `{name, region}` -> `{key, name, shops}`: another local seller with its own shop.
- `GET`/`POST /_sandbox/oracle`: see sandbox/oracle.py.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox import market
from sandbox.clock import MAX_ADVANCE_SECONDS
from sandbox.control import BadInput, Control, _json
from sandbox.ids import ORDERS
from sandbox.quote import quoted
from sandbox.sellers import CURRENCY_BY_REGION
from sandbox.state import ShopData, World
from sandbox.webhooks import RATE_KEYS, PushSettings

SETTING_KEYS = frozenset(PushSettings().as_json())
SALE_KEYS = frozenset({"sku_id", "seller_sku", "quantity", "status"})
STATUS_KEYS = frozenset({"status"})
LINE_CANCEL_KEYS = frozenset({"line_item_ids"})


def _rate(body: dict[str, Any], name: str) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise BadInput(f"{name} must be a number between 0 and 1")
    return float(value)


class LiveControl:
    """Handlers bound to one world; routes share the control surface's error handling."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        endpoints = [
            ("/webhooks", "GET", self.get_webhooks),
            ("/webhooks", "POST", self.set_webhooks),
            ("/webhooks/log", "GET", self.webhook_log),
            ("/clock", "GET", self.get_clock),
            ("/clock", "POST", self.advance_clock),
            ("/shops/{shop_id}/sales", "POST", self.sale),
            ("/orders/{order_id}/status", "POST", self.order_status),
            ("/orders/{order_id}/line-items/cancel", "POST", self.cancel_line_items),
            ("/sellers", "POST", self.add_seller),
            ("/oracle", "GET", self.get_oracle),
            ("/oracle", "POST", self.set_oracle),
        ]
        return [Route("/_sandbox" + path, Control._guard(h), methods=[method]) for path, method, h in endpoints]

    async def get_webhooks(self, request: Request) -> dict[str, Any]:
        return self.world.webhooks.settings.as_json()

    async def set_webhooks(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        unknown = set(body) - SETTING_KEYS
        if unknown:
            raise BadInput(f"unknown keys {sorted(unknown)}; known: {sorted(SETTING_KEYS)}")
        settings = self.world.webhooks.settings
        if "url" in body:
            url = body["url"]
            if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                raise BadInput("url must be an http(s) URL or null")
            settings.url = url or None
        rates = {name: _rate(body, name) for name in RATE_KEYS if name in body}
        if "delay_ms" in body:
            delay = body["delay_ms"]
            if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
                raise BadInput("delay_ms must be an integer >= 0")
            settings.delay_ms = delay
        for name, value in rates.items():
            setattr(settings, name, value)
        return settings.as_json()

    async def webhook_log(self, request: Request) -> dict[str, Any]:
        shop_id = request.query_params.get("shop_id")
        type_ = request.query_params.get("type")
        deliveries = [
            entry
            for entry in self.world.webhooks.log
            if (shop_id is None or entry["shop_id"] == shop_id) and (type_ is None or str(entry["type"]) == type_)
        ]
        return {"deliveries": deliveries, "total_count": len(deliveries)}

    async def get_clock(self, request: Request) -> dict[str, Any]:
        return self.world.clock.describe()

    async def advance_clock(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise BadInput(f"advance_seconds must be a finite number from 0 to {MAX_ADVANCE_SECONDS} (10 years)")
        try:  # (an int beyond a float's range is over the bound: compared before it is converted)
            self.world.clock.advance(float(seconds) if seconds <= MAX_ADVANCE_SECONDS else math.inf)
        except ValueError as exc:  # nothing moved: a bad advance is not persisted
            raise BadInput(str(exc)) from None
        self.world.notices.tick()  # notices due at the new time go out now, not a tick later
        self.world.webhooks.ensure_started()
        return self.world.clock.describe()

    def _shop_data(self, shop_id: str) -> ShopData:
        shop = self.world.shops_by_id.get(shop_id)
        if shop is None:
            raise BadInput(f"unknown shop id {quoted(shop_id)}", status=404)
        return self.world.shop_data(shop)

    async def sale(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        _known_keys_only(body, SALE_KEYS)
        data = self._shop_data(request.path_params["shop_id"])
        sku_id, seller_sku = body.get("sku_id"), body.get("seller_sku")
        if (sku_id is None) == (seller_sku is None) or not isinstance(sku_id or seller_sku, str):
            raise BadInput("give exactly one of sku_id or seller_sku (a string)")
        quantity = body.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= market.MAX_SALE_QUANTITY:
            raise BadInput(f"quantity must be an integer between 1 and {market.MAX_SALE_QUANTITY}")
        status = body.get("status", "AWAITING_SHIPMENT")
        if status not in market.SALE_STATUSES:
            raise BadInput(f"status must be one of {list(market.SALE_STATUSES)}")
        try:
            product, sku = market.find_sku(data, sku_id, seller_sku)
            sequence = self.world.ids.take(data.shop.index, ORDERS)  # one wasted if refused: ids need no gaps
            order = market.place_sale(data, product, sku, quantity, status, int(self.world.clock()), sequence)
        except market.MarketError as error:
            raise BadInput(str(error), error.status) from None
        parts = [(part["seller_sku"], part["sku_count"] * quantity) for part in sku.get("combined_skus") or []]
        self.world.oracle.record_sale(order["id"], parts or [(sku["seller_sku"], quantity)])
        self.world.notices.order_changed(data.shop, order)
        return {"order_id": order["id"]}

    async def order_status(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        _known_keys_only(body, STATUS_KEYS)
        order_id = request.path_params["order_id"]
        status = body.get("status")
        if not isinstance(status, str):
            raise BadInput("status is required (a string)")
        data = self._order_shop(order_id)
        try:
            order = market.move(data, order_id, status, int(self.world.clock()))
        except market.MarketError as error:
            raise BadInput(str(error), error.status) from None
        if order["status"] == "CANCELLED" and status != market.LOSE:  # lost units never come back
            self.world.oracle.record_cancel(order_id)
        self.world.notices.order_changed(data.shop, order)
        return {"order_id": order_id, "status": order["status"], "update_time": order["update_time"]}

    async def cancel_line_items(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        _known_keys_only(body, LINE_CANCEL_KEYS)
        order_id = request.path_params["order_id"]
        line_item_ids = body.get("line_item_ids")
        if not isinstance(line_item_ids, list) or not all(isinstance(i, str) for i in line_item_ids):
            raise BadInput("line_item_ids is required (a list of line item ids)")
        data = self._order_shop(order_id)
        try:
            order, given_back = market.cancel_lines(data, order_id, line_item_ids, int(self.world.clock()))
        except market.MarketError as error:
            raise BadInput(str(error), error.status) from None
        self.world.oracle.record_line_cancel(order_id, given_back)
        self.world.notices.line_items_cancelled(data.shop, order)
        lines = [{"id": item["id"], "display_status": item["display_status"]} for item in order["line_items"]]
        return {
            "order_id": order_id,
            "status": order["status"],
            "update_time": order["update_time"],
            "line_items": lines,
        }

    def _order_shop(self, order_id: str) -> ShopData:
        # Order ids carry the shop's index in digits 4-5 (sandbox/data.py make_id).
        index = int(order_id[3:5]) if len(order_id) == 19 and order_id.isdigit() else -1
        for shop in self.world.shops_by_id.values():
            if shop.index == index:
                data = self.world.shop_data(shop)
                if order_id in data.orders:
                    return data
        raise BadInput(f"unknown order id {quoted(order_id)}", status=404)

    async def add_seller(self, request: Request) -> dict[str, Any]:
        body = await _json(request)
        name, region = body.get("name"), body.get("region")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise BadInput("name must be a non-empty string of at most 100 characters")
        if region not in CURRENCY_BY_REGION:
            raise BadInput(f"region must be one of {sorted(CURRENCY_BY_REGION)}")
        try:
            seller = self.world.add_seller(name.strip(), region)
        except ValueError as error:
            raise BadInput(str(error), 409) from None
        return {"key": seller.key, "name": seller.name, "shops": [shop.as_tiktok() for shop in seller.shops]}

    async def get_oracle(self, request: Request) -> dict[str, Any]:
        return self.world.oracle.report()

    async def set_oracle(self, request: Request) -> dict[str, Any]:
        stock = (await _json(request)).get("stock")
        if not isinstance(stock, dict) or not all(
            isinstance(units, int) and not isinstance(units, bool) and units >= 0 for units in stock.values()
        ):
            raise BadInput("stock must be an object of seller_sku -> units (integers >= 0)")
        self.world.oracle.set_stock(stock)
        return self.world.oracle.report()


def _known_keys_only(body: dict[str, Any], known: frozenset[str]) -> None:
    """400 (`BadInput`) naming the unknown keys of a buyer's or seller's move, as `/webhooks` and `/reseed` refuse
    theirs: a misspelled key (`stauts`) is never ignored, which would make another order than the one asked for."""
    unknown = set(body) - known
    if unknown:
        raise BadInput(f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
