"""The console's Inventory pages on a link TikTok no longer receives the pool's stock for (tryout60 F1): the shop's
authorization revoked at TikTok, or its push turned off. Such a link read "Linked, automatic · pushed 10" like a
healthy one while the pool moved on, and TikTok went on selling units the pool no longer had."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_inventory import cell, open_inventory
from tests.e2e.test_inventory_push import STATUS, UPDATE, _a_sku_counted_at_10_and_pushed, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

STALE = "TikTok keeps showing the last quantity it was sent, and may sell units the pool no longer has."
WHY = {
    "revoked": "TikTok is not receiving this item's stock: TikTok no longer honours the shop's authorization "
    "(re-authorize it in Store management).",
    "push off": "TikTok is not receiving this item's stock: push is turned off for this shop (its push policy, in "
    "Store management).",
}


@pytest.mark.parametrize("cause", ["revoked", "push off"])
def test_a_link_tiktok_no_longer_receives_the_stock_for_says_so_and_why(
    console: Callable[..., ShopbridgeServer], page: Page, cause: str
) -> None:
    """Rule (README "Pushing to TikTok": push-disabled, revoked and expired shops are skipped; schema `Shop.status`,
    `InventoryPolicy.pushEnabled`): the Inventory list and the item's page say, on the link, that TikTok is not
    receiving the item's stock, why, and what it means (TikTok sells the stale quantity)."""
    # given a SKU counted at 10 and pushed, then its shop revoked at TikTok or its push turned off
    app = console(products=12, orders=0)
    shop, item, sku = _a_sku_counted_at_10_and_pushed(app)
    if cause == "revoked":
        app.sandbox.control("POST", "/sellers/us-local/revoke")
        wait_until(lambda: app.graphql(STATUS, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")
    else:
        done = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": False}}, "m1")
        assert done["shopInventoryPolicyUpdate"]["userErrors"] == [], done
    # and the stock counted at 7 since: TikTok still shows 10
    set_on_hand(app, item["id"], 7)
    assert stock_of(app, shop["tiktokShopId"], sku) == 10
    # when the merchant opens Inventory, then the item
    sign_in(page, app, "m1")
    row = open_inventory(page, item["sku"])
    # then both say that TikTok is not receiving this item's stock, why, and what it means
    expect(cell(row, "Shops")).to_contain_text(f"{WHY[cause]} {STALE}")
    row.get_by_role("link", name=item["sku"], exact=True).click()
    expect(page.locator("section.links tbody tr").first).to_contain_text(f"{WHY[cause]} {STALE}")
