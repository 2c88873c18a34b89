"""Guards of the push fence (review67, stop 67): a sale the push already holds, or one its failed write never
overwrote, must not be counted twice when an order batch reads it while the push's Update Inventory is in flight.

These pass on main and failed on fence67's rule (a sale applied while a push intent stands counted as overwritten by
the write; not merged): R1, a sale made between the push's pool read and its TikTok read (held by the push); R1b, the
same with TikTok's clock 3 s ahead; R3, a sale read while a write that then fails is in flight. In each, the double
count holds a unit TikTok then shows below the shelf until the horizon, and a shop delete within it takes the unit
off the shelf for good. A fix of flake66 (tests/e2e/open_findings/flake66_split_sale_during_write.py) must keep them
passing. Truth in each: TikTok shows the shelf, and the delete leaves the shelf as it is."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.fence_given import SYNC_START, PushedSku, pushed_sku, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand, _sell
from tests.e2e.test_inventory_fence_split_hold import _adjust
from tests.e2e.test_inventory_push import INVENTORY_SEARCH, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"


def test_a_held_sale_read_while_the_write_is_in_flight_is_not_held_twice(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    sku = pushed_sku(app, "R67-X", 20)
    app.wait_for_settled()
    assert _on_hand(app, "R67-X") == 20
    before = _link(app, sku)["pushed_at"]
    # when a delivery of 1 makes a push, held at TikTok's Inventory Search (it read the pool already)
    app.sandbox.hold(INVENTORY_SEARCH, UPDATE_INVENTORY)
    _adjust(app, sku.item, 1)
    app.sandbox.wait_held()
    # and 1 is sold, shipped, two seconds after that pool read (a create_time after `PushIntent.at`)
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    _sell(app, sku, 1)
    # and the search answers (TikTok 19: the sale unseen, held), the write waits at TikTok
    app.sandbox.let_through(1)
    (row,) = app.rows("SELECT push_intent FROM sku_links WHERE tiktok_sku_id = :s", s=sku.tiktok_sku)
    intent = json.loads(row["push_intent"])
    assert (intent["quantity"], intent["held"]) == (20, 1)
    # and the sale is read while the write is in flight
    second_after(time.time())
    kinds = {"shopId": sku.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R67-X") == 20  # 21 less the one shipped
    # and the write lands
    app.sandbox.hold()
    wait_until(lambda: _link(app, sku)["pushed_at"] != before, what="the held push")
    app.wait_for_settled()
    # then TikTok shows the shelf (nothing is unseen), and the delete leaves the shelf as it is
    assert _shown_then_deleted(app, sku, "R67-X") == (20, 20)


def test_a_sale_read_while_a_write_that_then_fails_is_in_flight_is_not_held_twice(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """R3: as R1, but the sale is made after TikTok's read (a B sale, fence67's own case) and the write then fails
    (TikTok answers 500 until the client's retries are spent: never applied, the intent doubted). fence67 moved the
    link's `ingested_at_push` (the last LANDED push's count) up by the sale while the intent stood; the write never
    landed, so TikTok shows the sale fallen, and the next push measured from that record holds it as unseen though
    the ledger has it: TikTok 19 where the shelf has 20, and a delete takes it off the shelf a second time."""
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    sku = pushed_sku(app, "R67-Y", 20)
    app.wait_for_settled()
    assert _on_hand(app, "R67-Y") == 20
    before = _link(app, sku)["pushed_at"]
    # when a delivery of 1 makes a push whose write waits at TikTok (it holds nothing: TikTok 20, writes 21)
    app.sandbox.hold(UPDATE_INVENTORY)
    _adjust(app, sku.item, 1)
    app.sandbox.wait_held()
    # and 1 is sold, shipped, two seconds after that push read the pool, and read while the write waits
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    _sell(app, sku, 1)
    second_after(time.time())
    kinds = {"shopId": sku.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R67-Y") == 20
    # and the write fails (TikTok 500 until the retries are spent): never applied
    app.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_500"], "paths": [UPDATE_INVENTORY]})
    app.sandbox.hold()

    def doubted() -> bool:
        (row,) = app.rows("SELECT push_intent FROM sku_links WHERE tiktok_sku_id = :s", s=sku.tiktok_sku)
        return row["push_intent"] is not None and json.loads(row["push_intent"])["failed"] is True

    wait_until(doubted, what="the write's intent doubted")
    assert stock_of(app, sku.tiktok_id, sku.tiktok_sku) == 19  # the write never landed
    app.sandbox.control("POST", "/faults", {"rate": 0.0, "kinds": []})
    # then the next push writes the shelf (nothing is unseen), and the delete leaves it as it is
    wait_until(lambda: _link(app, sku)["pushed_at"] != before, what="the next push")
    app.wait_for_settled()
    assert _shown_then_deleted(app, sku, "R67-Y") == (20, 20)


def test_a_held_sale_stamped_ahead_by_tiktok_s_clock_is_not_held_twice(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """R1b: R1 through clock skew only. TikTok's clock 3 s ahead of ours (the sandbox's clock advanced). A sale made
    BEFORE the push (unseen: the push holds it) carries a create_time after the push's pool read; read while the push's
    write is in flight (a webhook landing then), `overwritten_in_flight` takes it for one the write overwrote: held
    twice (TikTok 19 where the shelf has 20), and the delete takes it off the shelf again (19 for good)."""
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    sku = pushed_sku(app, "R67-W", 20)
    app.wait_for_settled()
    app.sandbox.control("POST", "/clock", {"advance_seconds": 3})
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    # when 1 is sold, shipped, unseen, then a delivery of 1 makes a push that holds it; its write waits at TikTok
    _sell(app, sku, 1)
    before = _link(app, sku)["pushed_at"]
    app.sandbox.hold(UPDATE_INVENTORY)
    _adjust(app, sku.item, 1)
    app.sandbox.wait_held()
    (row,) = app.rows("SELECT push_intent FROM sku_links WHERE tiktok_sku_id = :s", s=sku.tiktok_sku)
    assert json.loads(row["push_intent"])["held"] == 1
    # and the sale is read while the write is in flight (once our clock has passed its create_time)
    second_after(time.time() + 3)
    kinds = {"shopId": sku.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R67-W") == 20
    app.sandbox.hold()
    wait_until(lambda: _link(app, sku)["pushed_at"] != before, what="the held push")
    app.wait_for_settled()
    assert _shown_then_deleted(app, sku, "R67-W") == (20, 20)


def _shown_then_deleted(app: ShopbridgeServer, sku: PushedSku, seller_sku: str) -> tuple[int, int]:
    """(TikTok's stock of `sku` now, the item's on-hand after its shop is deleted): equal to the shelf when nothing
    was held twice."""
    shown = stock_of(app, sku.tiktok_id, sku.tiktok_sku)
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": sku.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    return shown, _on_hand(app, seller_sku)
