"""Ground truth for overselling tests and benchmarks (issue 8): per seller SKU, the units buyers took across all
shops through `/_sandbox/shops/{id}/sales` (cancelled sales and cancelled line items give them back; a virtual
bundle's sale counts its
components' units, sku_count each per bundle, live-sync.md sec. 1.5, since the bundle has no stock of its own), the
physical stock Shopbridge was told
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
        # order id -> ((seller sku, units), ...) while counted; a state saved before bundles counted their
        # components holds one bare (seller sku, units) pair instead (`_parts` reads both)
        self._orders: dict[str, Any] = {}

    def record_sale(self, order_id: str, parts: list[tuple[str, int]]) -> None:
        """A buyer's order took `parts`: (seller SKU, units) of each SKU whose stock it took."""
        counted = tuple((seller_sku, units) for seller_sku, units in parts if seller_sku)
        for seller_sku, units in counted:
            self.sold[seller_sku] = self.sold.get(seller_sku, 0) + units
        if counted:
            self._orders[order_id] = counted

    def record_cancel(self, order_id: str) -> None:
        for seller_sku, units in _parts(self._orders.pop(order_id, ())):
            self.sold[seller_sku] = max(0, self.sold.get(seller_sku, 0) - units)

    def record_line_cancel(self, order_id: str, parts: list[tuple[str | None, int]]) -> None:
        """Line items of an order, cancelled on their own, gave `parts` back: (seller SKU, units) of each SKU."""
        left = list(_parts(self._orders.get(order_id, ())))
        for seller_sku, units in parts:
            at = next((n for n, (sku, held) in enumerate(left) if sku == seller_sku and held > 0), None)
            if at is None:
                continue  # not a sale counted here (or no longer: a new baseline)
            sku, held = left[at]
            taken = min(units, held)
            left[at] = (sku, held - taken)
            self.sold[sku] = max(0, self.sold.get(sku, 0) - taken)
        kept = tuple(part for part in left if part[1] > 0)
        if kept:
            self._orders[order_id] = kept
        else:
            self._orders.pop(order_id, None)

    def set_stock(self, stock: dict[str, int]) -> None:
        for seller_sku, units in stock.items():
            self.physical[seller_sku] = units
            self.sold[seller_sku] = 0
            self._orders = {
                k: kept for k, v in self._orders.items() if (kept := tuple(p for p in _parts(v) if p[0] != seller_sku))
            }

    def report(self) -> dict[str, Any]:
        skus = []
        for seller_sku in sorted(set(self.sold) | set(self.physical)):
            sold, physical = self.sold.get(seller_sku, 0), self.physical.get(seller_sku)
            oversold = max(0, sold - physical) if physical is not None else 0
            skus.append({"seller_sku": seller_sku, "sold": sold, "physical_stock": physical, "oversold": oversold})
        return {"skus": skus, "oversold_total": sum(entry["oversold"] for entry in skus)}


def _parts(counted: Any) -> tuple[tuple[str, int], ...]:
    """An order's counted (seller SKU, units) pairs, from either shape `_orders` holds."""
    if len(counted) == 2 and isinstance(counted[0], str):
        return ((counted[0], counted[1]),)
    return tuple(counted)
