"""Event API names with their push `type` numbers, and the per-shop webhook addresses the Event API registers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Event API names and their push `type` numbers (live-sync.md sec. 2.4).
EVENT_TYPES: dict[str, int] = {
    "ORDER_STATUS_CHANGE": 1,
    "REVERSE_STATUS_UPDATE": 2,
    "RECIPIENT_ADDRESS_UPDATE": 3,
    "PACKAGE_UPDATE": 4,
    "PRODUCT_STATUS_CHANGE": 5,
    "SELLER_DEAUTHORIZATION": 6,
    "UPCOMING_AUTHORIZATION_EXPIRATION": 7,
    "CANCELLATION_STATUS_CHANGE": 11,
    "RETURN_STATUS_CHANGE": 12,
    "NEW_CONVERSATION": 13,
    "NEW_MESSAGE": 14,
    "PRODUCT_INFORMATION_CHANGE": 15,
    "PRODUCT_CREATION": 16,
    "PRODUCT_CATEGORY_CHANGE": 18,
    "SIZE_CHART_CHANGE": 19,
}
EVENT_NAMES = {number: name for name, number in EVENT_TYPES.items()}


@dataclass
class Registration:
    address: str
    create_time: int
    update_time: int


class Registrations:
    """Per shop id, per event type name: the registered address."""

    def __init__(self) -> None:
        self.by_shop: dict[str, dict[str, Registration]] = {}

    def address(self, shop_id: str, type_: int) -> str | None:
        registration = self.by_shop.get(shop_id, {}).get(EVENT_NAMES.get(type_, ""))
        return registration.address if registration else None

    def put(self, shop_id: str, event_type: str, address: str, now: int) -> None:
        shop = self.by_shop.setdefault(shop_id, {})
        old = shop.get(event_type)
        shop[event_type] = Registration(address, old.create_time if old else now, now)

    def delete(self, shop_id: str, event_type: str) -> None:
        self.by_shop.get(shop_id, {}).pop(event_type, None)

    def listing(self, shop_id: str) -> list[dict[str, Any]]:
        return [
            {"event_type": name, "address": r.address, "create_time": r.create_time, "update_time": r.update_time}
            for name, r in sorted(self.by_shop.get(shop_id, {}).items())
        ]
