"""Webhook 27 (inventory status change) end to end, over real HTTP on SQLite and PostgreSQL: TikTok's alert that
a SKU's stock changed status makes the worker reconcile the shop's stock (live-sync.md §7.6: a drift signal), so
a Seller Center edit behind Shopbridge's back (a raise) is counted as drift and pushed back to the pool's target at
once, not at the next periodic reconcile (30 minutes; the scheduler is off in these servers, so none comes)."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.test_inventory_push import REBASE_SETTLE, pooled_items, stock_of
from tests.e2e.test_webhooks import envelope, push, stored_events
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def test_a_stock_alert_reconciles_the_shop_and_repairs_a_seller_center_edit(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a shop whose one product's SKU pooled at 20 units, its first push settled (it reads the shop's orders
    # settled for `poll_settle_seconds` first: 30 s by default, shortened here)
    app = app_factory(products=0, orders=0, poll_settle_seconds=REBASE_SETTLE)
    tiktok_shop = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_shop}/products", {"title": "ALERT27 product", "skus": [{"seller_sku": "ALERT27",
                                                                                       "quantity": 20}]},
    )  # fmt: skip
    (sku,) = made["sku_ids"]
    app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    wait_until(lambda: [ln for i in pooled_items(app, "ALERT27") for ln in i["links"] if ln["state"] == "LINKED"],
               what="ALERT27 linked")  # fmt: skip
    (item,) = pooled_items(app, "ALERT27")
    assert item["available"] == 20

    def push_settled() -> bool:
        rows = app.rows("SELECT dirty_version, pushed_version, claimed_by FROM inventory_push_outbox")
        return bool(rows) and all(r["dirty_version"] == r["pushed_version"] and r["claimed_by"] is None for r in rows)

    wait_until(push_settled, what="the first push settled")

    # when the seller sets it to 30 in Seller Center (no webhook of its own), and TikTok pushes its stock alert (a
    # raise: a lowered stock is read as sales not yet seen, held back for the fence's horizon before it is pushed)
    app.sandbox.control("POST", f"/products/{made['product_id']}", {"skus": [{"id": sku, "quantity": 30}]})
    assert stock_of(app, tiktok_shop, sku) == 30
    alert = {
        "product_id": int(made["product_id"]),
        "sku_id": sku,
        "current_inventory_status": "SUFFICIENT_STOCK",
        "trigger_reason": {"alert_type": "REALTIME", "lead_days": 0, "low_stock_threshold": 5},
        "inventory_distribution": {"total": 30, "available": 30, "creator_reserved": 0, "campaign_reserved": 0,
                                   "committed": 0},
    }  # fmt: skip
    assert push(app, envelope(27, tiktok_shop, alert)).status_code == 200

    # then the event is PROCESSED, the reconcile counts the drift on the link and TikTok shows the pool's 20 again
    def repaired() -> dict | None:
        (link,) = app.rows("SELECT * FROM sku_links WHERE tiktok_sku_id = :k", k=sku)  # TikTok ids are unique
        return link if stock_of(app, tiktok_shop, sku) == 20 and link["drift_count"] == 1 else None

    link = wait_until(repaired, what="the drift counted and pushed back")
    assert link["observed_quantity"] == 30
    (event,) = [e for e in stored_events(app) if e["type"] == 27]
    assert (event["outcome"], event["error_code"]) == ("PROCESSED", None)
