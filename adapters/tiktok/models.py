"""Values the TikTok client speaks in beyond the domain's own: inventory levels and inventory update outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.catalog import WarehouseStock


@dataclass(frozen=True, slots=True)
class SkuInventory:
    """One SKU's stock as Inventory Search reports it; `warehouses` carry the available quantity per warehouse."""

    product_id: str
    sku_id: str
    seller_sku: str | None
    available_quantity: int
    committed_quantity: int
    warehouses: tuple[WarehouseStock, ...]


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


@dataclass(frozen=True, slots=True)
class InventoryUpdateResult:
    failures: tuple[SkuUpdateFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures
