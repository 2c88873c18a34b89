"""`domain.inventory.unexplained`: when a deleted shop's record of units sold unseen is one no sale explains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.inventory.unexplained import ImportDone, hold_unexplained, unexplained_back_on_hand
from domain.sync import SyncKind

DELETED = datetime(2025, 3, 1, 12, 5, tzinfo=UTC)
PUSHED = DELETED - timedelta(minutes=3)  # the hold's last push (`sold_before`)
HORIZON = timedelta(seconds=630)
AFTER = DELETED + timedelta(minutes=1)  # the reconnect's imports were queued then
PRODUCTS = ImportDone(SyncKind.PRODUCTS, AFTER)
ORDERS = ImportDone(SyncKind.ORDERS, AFTER, AFTER - timedelta(days=30))


@pytest.mark.parametrize(
    ("imports", "waiting", "expected"),
    [
        ([PRODUCTS, ORDERS], False, True),  # both imported since the delete, nothing waits: no sale is behind it
        ([ORDERS], False, False),  # products not imported: a line may wait for its SKU's link
        ([PRODUCTS], False, False),  # orders not imported: the sale may still come in
        ([PRODUCTS, ORDERS], True, False),  # a line of the SKU waits for its link: it takes the record once linked
        # imports queued before the delete (an earlier connection's) say nothing of the sales since
        (
            [PRODUCTS, ImportDone(SyncKind.ORDERS, DELETED - timedelta(seconds=1), AFTER - timedelta(days=30))],
            False,
            False,
        ),
        # an orders window that starts after the hold's reach back misses the sale it may stand for
        ([PRODUCTS, ImportDone(SyncKind.ORDERS, AFTER, PUSHED - HORIZON + timedelta(seconds=1))], False, False),
        ([PRODUCTS, ImportDone(SyncKind.ORDERS, AFTER, PUSHED - HORIZON)], False, True),
    ],
    ids=["imported", "no-products", "no-orders", "waiting", "imports-before-the-delete", "window-short", "window-just"],
)
def test_a_record_is_unexplained_once_the_reconnect_imported_products_and_orders_reaching_back_past_the_hold(
    imports: list[ImportDone], waiting: bool, expected: bool
) -> None:
    assert hold_unexplained(DELETED, PUSHED, imports, HORIZON, waiting=waiting) is expected


def test_a_count_since_the_delete_keeps_the_units_off() -> None:
    assert unexplained_back_on_hand(2, None) == 2
    assert unexplained_back_on_hand(2, DELETED + timedelta(seconds=30)) == 0
