"""TikTok's stock as the pool's push and reconcile speak it: levels read (Inventory Search), quantities to set and
the per-SKU outcome of Update Inventory, and the shop's warehouses (tiktok-api.md sec. 9, live-sync.md sec. 1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.catalog import WarehouseStock


@dataclass(frozen=True, slots=True)
class SkuInventory:
    """One SKU's stock as Inventory Search reports it; `warehouses` carry the available quantity per warehouse and
    `committed_warehouses` the units TikTok holds for open orders there."""

    product_id: str
    sku_id: str
    seller_sku: str | None
    available_quantity: int
    committed_quantity: int
    warehouses: tuple[WarehouseStock, ...]
    committed_warehouses: tuple[WarehouseStock, ...] = ()


@dataclass(frozen=True, slots=True)
class SkuStock:
    """The stock to set for one SKU: every warehouse assigned to it, no more, no less (TikTok's rule)."""

    sku_id: str
    warehouses: Sequence[WarehouseStock]


@dataclass(frozen=True, slots=True)
class WarehouseFailure:
    warehouse_id: str | None
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class SkuUpdateFailure:
    """A SKU whose stock TikTok refused inside an otherwise successful (code 0) update."""

    sku_id: str | None
    code: int
    message: str
    warehouse_failures: tuple[WarehouseFailure, ...] = ()

    @property
    def specific(self) -> tuple[int, str]:
        """The most specific (code, message): the first warehouse's when TikTok gave any (the SKU-level code is
        then the generic 12052990 "Check failed"), else the SKU's."""
        if self.warehouse_failures:
            first = self.warehouse_failures[0]
            return first.code, first.message
        return self.code, self.message


@dataclass(frozen=True, slots=True)
class InventoryUpdateResult:
    failures: tuple[SkuUpdateFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Warehouse:
    """Get Warehouses (live-sync.md sec. 1.4): `type` SALES_WAREHOUSE | RETURN_WAREHOUSE, `effect_status`
    ENABLED | DISABLED | RESTRICTED; products without a designated warehouse use the default one."""

    id: str
    name: str | None
    type: str | None
    effect_status: str | None
    is_default: bool


def last_known_stock(read: int, read_at: datetime | None, pushed: int | None, pushed_at: datetime | None) -> int:
    """A shop SKU's available stock at TikTok as last known (units, summed over warehouses): the newer of its
    product's last read (`read`, `skus.quantity`, as of `read_at`, `products.stock_read_at`: when that request was
    sent; None: not known, older than any push) and the last quantity TikTok accepted from the pool (`pushed` at
    `pushed_at`, `sku_links.pushed_quantity` / `pushed_at`: when that push computed its targets, before it sent
    them; None: never pushed, the read stands).

    The push is newer only when the read was sent before the push was computed, so before TikTok could have its
    value: a read sent meanwhile (while the push was on its way) is TikTok's own word and stands, and its ties too;
    either way no older value hides a newer one, whichever of the two was stored last (an import's page read before
    a push and written after it does not bring the older stock back). Before, the read stood until the next poll:
    "TikTok stock 12" while TikTok had the 9 the pool had just pushed (README, "A SKU's TikTok stock")."""
    if pushed is None or pushed_at is None or (read_at is not None and read_at >= pushed_at):
        return read
    return pushed
