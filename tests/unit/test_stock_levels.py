"""Update Inventory's per-SKU outcome (domain/stock_levels.py): which code and message a refused SKU keeps.

mutmut does not mutate properties, so these rules are outside its score; this pins them all the same."""

from __future__ import annotations

from domain.stock_levels import InventoryUpdateResult, SkuUpdateFailure, WarehouseFailure


def test_a_refused_sku_keeps_its_first_warehouses_code_else_its_own() -> None:
    by_warehouse = SkuUpdateFailure(
        "1729",
        12052990,
        "Check failed",
        (
            WarehouseFailure("w1", 12052533, "The warehouse is not assigned to the SKU"),
            WarehouseFailure("w2", 12019024, "The quantity is out of range"),
        ),
    )
    assert by_warehouse.specific == (12052533, "The warehouse is not assigned to the SKU")
    assert SkuUpdateFailure("1729", 12052850, "Combo SKU").specific == (12052850, "Combo SKU")


def test_an_update_is_ok_only_without_a_refused_sku() -> None:
    assert InventoryUpdateResult(()).ok
    assert not InventoryUpdateResult((SkuUpdateFailure(None, 36009003, "Internal error"),)).ok
