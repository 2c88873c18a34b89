"""Values the TikTok client speaks in beyond the domain's catalog: inventory levels, inventory update outcomes and
warehouses. They are the domain's (`domain.stock_levels`: the push and reconcile services use them through
their port); re-exported here for the adapter's callers."""

from __future__ import annotations

from domain.stock_levels import (
    InventoryUpdateResult,
    SkuInventory,
    SkuStock,
    SkuUpdateFailure,
    Warehouse,
    WarehouseFailure,
)

__all__ = [
    "InventoryUpdateResult",
    "SkuInventory",
    "SkuStock",
    "SkuUpdateFailure",
    "Warehouse",
    "WarehouseFailure",
]
