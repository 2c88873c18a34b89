"""Ground truth for overselling tests and benchmarks (issue 8): per seller SKU, the units buyers took across all
shops through `/_sandbox/shops/{id}/sales` (cancelled sales give them back), the physical stock Shopbridge was told
(recorded here by the test with `POST /_sandbox/oracle`), and how many units were sold beyond it.

- `POST /_sandbox/oracle` `{"stock": {seller_sku: units}}`: record what Shopbridge was told; the SKUs' sold
  counters restart at 0 (a new baseline).
- `GET /_sandbox/oracle` -> `{"skus": [{seller_sku, sold, physical_stock, oversold}], "oversold_total"}`;
  `physical_stock` is null (and `oversold` 0) for a SKU nobody recorded.
"""

from __future__ import annotations

from typing import Any


class Oracle:
    def __init__(self) -> None:
        self.physical: dict[str, int] = {}
        self.sold: dict[str, int] = {}
        self._orders: dict[str, tuple[str, int]] = {}  # order id -> (seller sku, units), while counted

    def record_sale(self, order_id: str, seller_sku: str, units: int) -> None:
        if not seller_sku:
            return
        self.sold[seller_sku] = self.sold.get(seller_sku, 0) + units
        self._orders[order_id] = (seller_sku, units)

    def record_cancel(self, order_id: str) -> None:
        counted = self._orders.pop(order_id, None)
        if counted is not None:
            seller_sku, units = counted
            self.sold[seller_sku] = max(0, self.sold.get(seller_sku, 0) - units)

    def set_stock(self, stock: dict[str, int]) -> None:
        for seller_sku, units in stock.items():
            self.physical[seller_sku] = units
            self.sold[seller_sku] = 0
            self._orders = {k: v for k, v in self._orders.items() if v[0] != seller_sku}

    def report(self) -> dict[str, Any]:
        skus = []
        for seller_sku in sorted(set(self.sold) | set(self.physical)):
            sold, physical = self.sold.get(seller_sku, 0), self.physical.get(seller_sku)
            oversold = max(0, sold - physical) if physical is not None else 0
            skus.append({"seller_sku": seller_sku, "sold": sold, "physical_stock": physical, "oversold": oversold})
        return {"skus": skus, "oversold_total": sum(entry["oversold"] for entry in skus)}
