"""What the sandbox pushes when its data changes: the webhook `data` of each type, as TikTok documents it.

Only shops whose seller has authorized the app get pushes (type 6 is sent as the authorization ends). Types and
fields follow live-sync.md sec. 2.4: 1 ORDER_STATUS_CHANGE (`order_status` spells cancelled `CANCEL`), 11
CANCELLATION_STATUS_CHANGE, 5 PRODUCT_STATUS_CHANGE, 15 PRODUCT_INFORMATION_CHANGE, 16 PRODUCT_CREATION
(`product_id` a JSON number, as in TikTok's samples), 6 SELLER_DEAUTHORIZATION, 7 UPCOMING_AUTHORIZATION_EXPIRATION
(`expiration_time` a string of Unix seconds; daily, once per UTC day, in the authorization's last 30 days).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sandbox.sellers import Seller, Shop

if TYPE_CHECKING:
    from sandbox.state import World

DAY = 86400
EXPIRATION_NOTICE_DAYS = 30


class Notices:
    """Turns changes of one world into webhook pushes through its sender."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._expiration_day: dict[str, int] = {}  # shop id -> last UTC day its type-7 notice went out

    def _send(self, shop: Shop, type_: int, data: dict[str, Any], *, authorized_only: bool = True) -> str | None:
        if authorized_only and shop.seller_key not in self.world.tokens.authorized_until:
            return None
        return self.world.webhooks.send(shop.id, type_, data)

    def order_changed(self, shop: Shop, order: dict[str, Any]) -> None:
        """Type 1 for any new order or status change; type 11 as well when it was cancelled."""
        status = order["status"]
        data = {
            "order_id": order["id"],
            "order_status": "CANCEL" if status == "CANCELLED" else status,
            "is_on_hold_order": status == "ON_HOLD",
            "update_time": order["update_time"],
        }
        self._send(shop, 1, data)
        if status == "CANCELLED":
            cancellation = {
                "order_id": order["id"],
                "cancellations_role": order.get("cancellation_initiator") or "BUYER",
                "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
                "cancel_id": "58" + order["id"][2:],
                "create_time": order["update_time"],
            }
            self._send(shop, 11, cancellation)

    def line_items_cancelled(self, shop: Shop, order: dict[str, Any]) -> None:
        """Type 11 for line items the seller cancelled alone (the order's status unchanged); `order_changed`'s
        pushes once the last line's cancellation cancelled the order."""
        if order["status"] == "CANCELLED":
            self.order_changed(shop, order)
            return
        cancellation = {
            "order_id": order["id"],
            "cancellations_role": "SELLER",
            "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
            "cancel_id": "58" + order["id"][2:],
            "create_time": order["update_time"],
        }
        self._send(shop, 11, cancellation)

    def product_created(self, shop: Shop, product: dict[str, Any]) -> None:
        self._send(shop, 16, {"product_id": int(product["id"]), "product_types": []})

    def product_changed(self, shop: Shop, product: dict[str, Any], changed_fields: list[str]) -> None:
        data = {"product_id": int(product["id"]), "change_source": "SELLER_CENTER", "changed_fields": changed_fields}
        self._send(shop, 15, data)

    def product_status_changed(self, shop: Shop, product: dict[str, Any]) -> None:
        data = {"product_id": int(product["id"]), "status": "PRODUCT_STATUS_CHANGED", "suspended_reason": ""}
        self._send(shop, 5, data)

    def seller_revoked(self, seller: Seller) -> None:
        """Type 6 to each of the seller's shops (the message is TikTok's sample text)."""
        for shop in seller.shops:
            message = f"Shop_id {shop.id} is deauthorized from your APP by merchant."
            self._send(shop, 6, {"message": message}, authorized_only=False)

    def tick(self) -> None:
        """Type 7 once per UTC day to each shop of every seller whose authorization ends within 30 days. A shop's day
        is marked only once its notice went to an address: a shop connected moments ago, its Event API registration
        not made yet, gets the day's notice at the first tick after it (tryout62 F5: marked before, a new shop's
        first notice waited for the next UTC day)."""
        now = self.world.clock()
        day = int(now // DAY)
        for seller_key, until in list(self.world.tokens.authorized_until.items()):
            if not until - EXPIRATION_NOTICE_DAYS * DAY <= now < until:
                continue
            seller = self.world.sellers[seller_key]
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
            for shop in seller.shops:
                if self._expiration_day.get(shop.id) == day:
                    continue
                message = f"The authorization of shop {shop.name} to your app will expire at {when}."
                if self._send(shop, 7, {"message": message, "expiration_time": str(until)}) is not None:
                    self._expiration_day[shop.id] = day
