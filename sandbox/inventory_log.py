"""Every Update Inventory call the sandbox answered, and promotion locks (see sandbox/inventory_control.py)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

MAX_LOGGED = 20_000


class InventoryLog:
    def __init__(self) -> None:
        self.updates: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED)
        self.promotion_locks: dict[str, int] = {}  # sku id -> units an update may not go below
        self._seq = 0

    def record(self, shop_id: str, product_id: str, skus: list[Any], errors: list[int]) -> None:
        self._seq += 1
        self.updates.append(
            {"seq": self._seq, "at": time.time(), "shop_id": shop_id, "product_id": product_id, "skus": skus,
             "errors": errors}
        )  # fmt: skip
