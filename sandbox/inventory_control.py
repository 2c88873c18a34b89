"""Inventory writes as TikTok saw them, for tests and benchmarks of the pool's push (issue 8), a promotion lock, and a
SKU whose stock is edited from its global product.

- `GET /_sandbox/inventory-updates?shop_id=&product_id=` -> `{"updates": [{seq, at, shop_id, product_id, skus:
  [{id, inventory: [{warehouse_id, quantity}]}], errors: [codes]}]}`: every Update Inventory call answered (code 0,
  with or without per-SKU errors), oldest first, the last 20,000 kept.
- `POST /_sandbox/inventory-updates/reset`: forget them.
- `POST /_sandbox/inventory-updates/hold` `{"held": true|false}`: Update Inventory calls wait (answered only once
  released) while held; `GET /_sandbox/inventory-updates` says how many are `waiting`. A test's gate to change
  stock while a push is in flight. A held call whose client hangs up is still applied once released (TikTok applies a
  request it received); when the server stops, every held call is answered (`World.stop_holding`).
- `POST /_sandbox/skus/{sku_id}/promotion-lock` `{"quantity": n}` (null to lift): TikTok's promotion lock; an update
  setting that SKU below `n` units is refused per SKU with 12052393 (live-sync.md sec. 1.1). A SKU id no shop has
  (listed, or removed in Seller Center) answers 404, so a test that locks a mistyped id fails there instead of
  testing nothing.
- `POST /_sandbox/skus/{sku_id}/global-stock` `{"global": true|false}`: the SKU's product published to a global
  product, whose stock is edited there from now on: an update of that SKU is refused per SKU with 12052141 ("edit
  stock from global product", live-sync.md sec. 1.1: not writable here) until set back to false. Unknown SKU: 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.control import BadInput, Control, _json
from sandbox.quote import quoted
from sandbox.state import World


class InventoryControl:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/inventory-updates", Control._guard(self.updates), methods=["GET"]),
            Route("/_sandbox/inventory-updates/reset", Control._guard(self.reset), methods=["POST"]),
            Route("/_sandbox/inventory-updates/hold", Control._guard(self.hold), methods=["POST"]),
            Route("/_sandbox/skus/{sku_id}/promotion-lock", Control._guard(self.lock), methods=["POST"]),
            Route("/_sandbox/skus/{sku_id}/global-stock", Control._guard(self.global_stock), methods=["POST"]),
        ]

    async def updates(self, request: Request) -> dict[str, Any]:
        shop_id, product_id = request.query_params.get("shop_id"), request.query_params.get("product_id")
        return {
            "waiting": self.world.inventory_log.waiting,
            "updates": [
                u
                for u in self.world.inventory_log.updates
                if (shop_id is None or u["shop_id"] == shop_id)
                and (product_id is None or u["product_id"] == product_id)
            ],
        }

    async def reset(self, request: Request) -> dict[str, Any]:
        self.world.inventory_log.updates.clear()
        return {"updates": []}

    async def hold(self, request: Request) -> dict[str, Any]:
        held = (await _json(request)).get("held")
        if not isinstance(held, bool):
            raise BadInput("held must be true or false")
        self.world.inventory_log.hold(held)
        return {"held": held, "waiting": self.world.inventory_log.waiting}

    async def lock(self, request: Request) -> dict[str, Any]:
        quantity = (await _json(request)).get("quantity")
        sku_id = request.path_params["sku_id"]
        if not self._known_sku(sku_id):
            raise BadInput(f"unknown SKU id {quoted(sku_id)}", 404)
        if quantity is None:
            self.world.inventory_log.promotion_locks.pop(sku_id, None)
        elif isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise BadInput("quantity must be an integer >= 0, or null to lift the lock")
        else:
            self.world.inventory_log.promotion_locks[sku_id] = quantity
        return {"sku_id": sku_id, "quantity": quantity}

    async def global_stock(self, request: Request) -> dict[str, Any]:
        edited_there = (await _json(request)).get("global")
        sku_id = request.path_params["sku_id"]
        if not self._known_sku(sku_id):
            raise BadInput(f"unknown SKU id {quoted(sku_id)}", 404)
        if not isinstance(edited_there, bool):
            raise BadInput("global must be true or false")
        (self.world.inventory_log.global_stock.add if edited_there else self.world.inventory_log.global_stock.discard)(
            sku_id
        )
        return {"sku_id": sku_id, "global": edited_there}

    def _known_sku(self, sku_id: str) -> bool:
        """Whether a shop has SKU `sku_id`, listed or removed. SKU ids carry their shop's index in digits 4-5
        (sandbox/data.py make_id), so only that shop's data is read (built if it was not yet)."""
        index = int(sku_id[3:5]) if len(sku_id) == 19 and sku_id.isdigit() else -1
        for shop in self.world.shops_by_id.values():
            if shop.index == index:
                catalog = self.world.shop_data(shop).catalog
                if sku_id in catalog.sku_owner or sku_id in catalog.removed:
                    return True
        return False
