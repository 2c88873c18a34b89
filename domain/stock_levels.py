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


def last_known_stock(
    read: int, read_at: datetime | None, pushed: int | None, pushed_at: datetime | None, landed_at: datetime | None
) -> int:
    """A shop SKU's available stock at TikTok as last known (units, summed over warehouses): the newer of its
    product's last read (`read`, `skus.quantity`, as of `read_at`, `products.stock_read_at`: when that request was
    sent; None: not known, older than any push) and the last quantity TikTok accepted from the pool (`pushed`,
    `sku_links.pushed_quantity`; None: never pushed, the read stands), as of that push's landing (`push_landing`).

    The push is newer when the read was sent before it landed: until TikTok applied it, a read may show the stock
    before it (the call slow to answer, or held), so the push wins over it once landed; a read sent after the
    landing (and a tie) is TikTok's word after it and stands. Either way no older value hides a newer one, whichever
    of the two was stored last (an import's page read before a push and written after it does not bring the older
    stock back). Before, the read stood until the next poll: "TikTok stock 12" while TikTok had the 9 the pool had
    just pushed; and compared with when the push was computed (`pushed_at`), a read sent while it was on its way
    stood for good, as polls read only the products updated since: "Sku.quantity=200" while TikTok had the 220
    pushed (README, "A SKU's TikTok stock")."""
    landing = push_landing(pushed_at, landed_at)
    if pushed is None or landing is None or (read_at is not None and read_at >= landing):
        return read
    return pushed


def push_landing(pushed_at: datetime | None, landed_at: datetime | None) -> datetime | None:
    """When a link's last push landed at TikTok as far as known: when its success was recorded (`landed_at`,
    `sku_links.push_landed_at`, migration 0035), or, where that is unknown (null, or older than the push: recorded
    before 0035 or by a release before it, or a push taken as applied after its worker died), when it computed its
    targets (`pushed_at`), the earliest it can have landed. None: never pushed."""
    if pushed_at is None:
        return None
    return landed_at if landed_at is not None and landed_at > pushed_at else pushed_at
