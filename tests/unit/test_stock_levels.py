"""Update Inventory's per-SKU outcome (domain/stock_levels.py): which code and message a refused SKU keeps; a SKU's
stock as last known (`last_known_stock`).

mutmut does not mutate properties, so these rules are outside its score; this pins them all the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.stock_levels import (
    InventoryUpdateResult,
    SkuUpdateFailure,
    WarehouseFailure,
    last_known_stock,
    push_landing,
)

T = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


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


def test_a_skus_stock_is_the_newer_of_its_read_and_its_push_landing_the_read_winning_a_tie() -> None:
    second = timedelta(seconds=1)
    landed = T + 2 * second  # computed at T, its success recorded 2 s later
    assert last_known_stock(12, T - second, 9, T, landed) == 9  # read before the push: TikTok has the push
    assert last_known_stock(12, T + second, 9, T, landed) == 9  # read while on its way: may show the stock before
    assert last_known_stock(12, T + 3 * second, 9, T, landed) == 12  # read after it landed: TikTok's own word
    assert last_known_stock(12, landed, 9, T, landed) == 12  # a read sent as it landed may not show it
    assert last_known_stock(12, None, 9, T, landed) == 9  # a read of unknown time (before migration 0020): older
    assert last_known_stock(12, T, None, None, None) == 12  # never pushed (unlinked, or not yet): the read


def test_a_push_of_unknown_landing_is_taken_as_landed_when_computed() -> None:
    second = timedelta(seconds=1)
    # recorded before migration 0035 (no landing), or an older push's landing left by a release before it
    assert last_known_stock(12, T + second, 9, T, None) == 12
    assert last_known_stock(12, T + second, 9, T, T - second) == 12
    assert last_known_stock(12, T - second, 9, T, None) == 9
    assert push_landing(None, T) is None  # never pushed
