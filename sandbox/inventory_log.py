"""Every Update Inventory call the sandbox answered, promotion locks and SKUs whose stock their global product
edits (see sandbox/inventory_control.py)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

MAX_LOGGED = 20_000


class InventoryLog:
    def __init__(self) -> None:
        self.updates: deque[dict[str, Any]] = deque(maxlen=MAX_LOGGED)
        self.promotion_locks: dict[str, int] = {}  # sku id -> units an update may not go below
        self.global_stock: set[str] = set()  # sku ids whose stock only their global product edits (12052141)
        self._seq = 0
        self._release: asyncio.Event | None = None  # set while updates are held (made on the server's loop)
        self.waiting = 0  # updates held right now
        self._stopped = False  # the server stops: nothing is held any more (`stop`)

    def hold(self, held: bool) -> None:
        if held and self._release is None and not self._stopped:
            self._release = asyncio.Event()
        elif not held and self._release is not None:
            self._release.set()
            self._release = None

    def stop(self) -> None:
        """The server stops: the calls held now are answered, and none is held from now on."""
        self._stopped = True
        self.hold(False)

    async def wait_if_held(self) -> None:
        """Hold an Update Inventory call until `hold(False)` or `stop()`: a test's gate, to act while a push is in
        flight. A call whose caller hung up meanwhile (its timeout, its process killed) still waits and is applied
        once released, as TikTok applies a request it received whether or not its sender still waits (the push's
        intent rests on that: `domain.inventory_push.settled`); a stopping server releases every held call
        (`stop`), so none keeps its stop waiting."""
        release = self._release
        if release is None:
            return
        self.waiting += 1
        try:
            await release.wait()
        finally:
            self.waiting -= 1

    def record(self, shop_id: str, product_id: str, skus: list[Any], errors: list[int]) -> None:
        self._seq += 1
        self.updates.append(
            {"seq": self._seq, "at": time.time(), "shop_id": shop_id, "product_id": product_id, "skus": skus,
             "errors": errors}
        )  # fmt: skip
