"""A shop's products and stock: filtered search in a stable order, inventory reads, and stock updates."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

MAX_QUANTITY = 99_999
COMBO_NOT_EDITABLE = 12052850
ALL_WAREHOUSES_REQUIRED = 12019028
PROMOTION_LOCKED = 12052393
GLOBAL_PRODUCT_STOCK = 12052141


@dataclass(frozen=True)
class ProductFilter:
    """Search Products body filters; the time bounds are inclusive, as TikTok's `_ge`/`_le`."""

    status: str | None = None
    seller_skus: frozenset[str] | None = None
    create_time_ge: int | None = None
    create_time_le: int | None = None
    update_time_ge: int | None = None
    update_time_le: int | None = None

    def matches(self, product: dict[str, Any]) -> bool:
        if self.status and self.status != "ALL" and product["status"] != self.status:
            return False
        created, updated = product["create_time"], product["update_time"]
        if self.create_time_ge is not None and created < self.create_time_ge:
            return False
        if self.create_time_le is not None and created > self.create_time_le:
            return False
        if self.update_time_ge is not None and updated < self.update_time_ge:
            return False
        if self.update_time_le is not None and updated > self.update_time_le:
            return False
        return not self.seller_skus or any(s["seller_sku"] in self.seller_skus for s in product["skus"])


@dataclass(frozen=True)
class SkuProblem:
    """Why one SKU of an inventory update was refused: a SKU-level code, or warehouse-level extra errors."""

    sku_id: str
    code: int | None = None
    message: str = ""
    extra_errors: tuple[dict[str, Any], ...] = ()


class Catalog:
    """Products in newest-first order (create_time, id), with SKU lookups and committed stock."""

    def __init__(
        self, products: list[dict[str, Any]], committed: dict[str, dict[str, int]], warehouse_ids: list[str]
    ) -> None:
        # Sorted once: the order never changes because nothing edits create_time, so offset paging is stable.
        self.products = sorted(products, key=lambda p: (p["create_time"], p["id"]), reverse=True)
        self.by_id = {p["id"]: p for p in self.products}
        self.sku_owner = {s["id"]: p for p in self.products for s in p["skus"]}
        self.committed = committed
        self.warehouse_ids = warehouse_ids
        self.created_products = 0  # products added after generation (Seller Center in the control surface)
        self.removed: dict[str, tuple[str, dict[str, Any]]] = {}  # SKU id -> (product id, SKU): `remove_skus`

    def add(self, product: dict[str, Any]) -> None:
        """Insert a new product at its place in the newest-first order and index its SKUs."""
        key = (product["create_time"], product["id"])
        position = next(
            (n for n, p in enumerate(self.products) if (p["create_time"], p["id"]) < key), len(self.products)
        )
        self.products.insert(position, product)
        self.by_id[product["id"]] = product
        self.sku_owner.update({sku["id"]: product for sku in product["skus"]})
        self.created_products += 1

    def remove_skus(self, product: dict[str, Any], sku_ids: list[str]) -> None:
        """Take SKUs out of a product (the seller deleted those variants): Search Products, Get Product and Inventory
        Search list them no more, Update Inventory refuses them (12052556), buyers cannot order them. Kept aside
        (`removed`), their stock as it was, for `restore_skus`."""
        for sku in [s for s in product["skus"] if s["id"] in sku_ids]:
            product["skus"].remove(sku)
            del self.sku_owner[sku["id"]]
            self.removed[sku["id"]] = (product["id"], sku)

    def restore_skus(self, product: dict[str, Any], sku_ids: list[str]) -> None:
        """Put SKUs `remove_skus` took out of `product` back at its end, with the same ids (a seller re-adding a
        variant: TikTok keeps the SKU id)."""
        for sku_id in sku_ids:
            _, sku = self.removed.pop(sku_id)
            product["skus"].append(sku)
            self.sku_owner[sku_id] = product

    def search(self, product_filter: ProductFilter) -> list[dict[str, Any]]:
        """All matching products, newest first (a list of references, not copies)."""
        return [p for p in self.products if product_filter.matches(p)]

    def inventory(self, product_ids: list[str], sku_ids: list[str]) -> list[dict[str, Any]]:
        """Inventory Search: by SKU ids when given (they win), else by product ids; unknown ids are skipped."""
        wanted: dict[str, set[str] | None] = {}
        if sku_ids:
            for sku_id in sku_ids:
                product = self.sku_owner.get(sku_id)
                if product is not None:
                    selected = wanted.setdefault(product["id"], set())
                    if selected is not None:
                        selected.add(sku_id)
        else:
            wanted = {pid: None for pid in product_ids if pid in self.by_id}
        return [
            {
                "product_id": product_id,
                "skus": [self._sku_inventory(s) for s in self.by_id[product_id]["skus"] if not only or s["id"] in only],
            }
            for product_id, only in wanted.items()
        ]

    def _sku_inventory(self, sku: dict[str, Any]) -> dict[str, Any]:
        committed = self.committed.get(sku["id"], {})
        rows = [
            {
                "warehouse_id": stock["warehouse_id"],
                "available_quantity": stock["quantity"],
                "committed_quantity": committed.get(stock["warehouse_id"], 0),
            }
            for stock in sku["inventory"]
        ]
        return {
            "id": sku["id"],
            "seller_sku": sku["seller_sku"],
            "total_available_quantity": sum(r["available_quantity"] for r in rows),
            "total_committed_quantity": sum(r["committed_quantity"] for r in rows),
            "warehouse_inventory": rows,
            # No campaign or creator allocations in the sandbox: everything available is in-shop stock.
            "total_available_inventory_distribution": {
                "campaign_inventory": [],
                "creator_inventory": [],
                "in_shop_inventory": {"quantity": sum(r["available_quantity"] for r in rows)},
            },
        }

    def update_inventory(
        self,
        product: dict[str, Any],
        updates: list[tuple[str, list[tuple[str | None, int]]]],
        bounds: tuple[int, int] = (0, MAX_QUANTITY),
        promotion_locks: dict[str, int] | None = None,
        global_stock: Collection[str] = (),
    ) -> list[SkuProblem]:
        """Apply `[(sku_id, [(warehouse_id, quantity)])]`; a SKU with any problem is left untouched.

        Per SKU, as TikTok (live-sync.md sec. 1.1): unknown SKU 12052556; a virtual bundle's SKU 12052850; every
        warehouse assigned to the SKU must be given, no fewer (12019028); per warehouse, an unknown one 12052097
        and a quantity outside `bounds` (inclusive; 0 allowed by default: integrators push 0) 12052055; a SKU whose
        stock is edited from its global product (`global_stock`: its product published to one) 12052141.
        """
        skus = {s["id"]: s for s in product["skus"]}
        problems = []
        for sku_id, rows in updates:
            sku = skus.get(sku_id)
            if sku is None:
                problems.append(SkuProblem(sku_id, 12052556, "The SKU id does not exist in this product."))
                continue
            if sku.get("combined_skus"):
                message = "The stock of a combo (virtual bundle) cannot be edited."
                problems.append(SkuProblem(sku_id, COMBO_NOT_EDITABLE, message))
                continue
            if sku_id in global_stock:
                message = "The stock of this SKU can only be edited from its global product."
                problems.append(SkuProblem(sku_id, GLOBAL_PRODUCT_STOCK, message))
                continue
            stock_by_warehouse = {stock["warehouse_id"]: stock for stock in sku["inventory"]}
            extra_errors, changes = list(self._check_rows(rows, stock_by_warehouse, bounds)), []
            given = {warehouse_id for warehouse_id, _ in rows if warehouse_id is not None}
            if not extra_errors and len(stock_by_warehouse) > 1 and not set(stock_by_warehouse) <= given:
                message = "The SKU has multiple warehouses: the update must include all of them."
                problems.append(SkuProblem(sku_id, ALL_WAREHOUSES_REQUIRED, message))
                continue
            if extra_errors:
                problems.append(SkuProblem(sku_id, extra_errors=tuple(extra_errors)))
                continue
            locked = (promotion_locks or {}).get(sku_id)
            if locked is not None and sum(quantity for _, quantity in rows) < locked:
                message = "Product locked for Promotion and stock can't be updated below current stock"
                problems.append(SkuProblem(sku_id, PROMOTION_LOCKED, message))
                continue
            for warehouse_id, quantity in rows:
                changes.append((stock_by_warehouse[warehouse_id or next(iter(stock_by_warehouse))], quantity))
            for stock, quantity in changes:
                stock["quantity"] = quantity
        return problems

    @staticmethod
    def _check_rows(
        rows: list[tuple[str | None, int]], stock_by_warehouse: dict[str, dict[str, Any]], bounds: tuple[int, int]
    ) -> Iterator[dict[str, Any]]:
        low, high = bounds
        for warehouse_id, quantity in rows:
            if warehouse_id is None and len(stock_by_warehouse) != 1:
                yield {
                    "warehouse_id": "",
                    "code": 12052097,
                    "message": "The warehouse_id is required: the SKU has several warehouses.",
                }
            elif warehouse_id is not None and warehouse_id not in stock_by_warehouse:
                yield {"warehouse_id": warehouse_id, "code": 12052097, "message": "The warehouse does not exist"}
            elif not low <= quantity <= high:
                yield {
                    "warehouse_id": warehouse_id or "",
                    "code": 12052055,
                    "message": f"The quantity is out of limits: it must be between {low} and {high}.",
                }
