"""What the console once left to the API (newcomer57 F11): a shop's push policy (`shopInventoryPolicyUpdate`, on the
shop's "Push policy" page, js/policy.js): saved and pushed, refused in the merchant's words (js/messages.js), and sent
once however often it is clicked."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import double_click_held, sign_in
from tests.e2e.test_inventory_pool import items
from tests.e2e.test_inventory_push import POLICY, sellable_skus, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def policy_of(app: ShopbridgeServer, shop_id: str) -> dict:
    return app.graphql(POLICY, {"id": shop_id}, "m1")["shop"]["inventoryPolicy"]


def test_a_shops_push_policy_is_shown_saved_once_pushed_and_refused_in_words(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (schema.graphql InventoryPolicy; messages.js INVALID_SHARE_PERCENT): the shop's page shows its policy and
    what it means, saves it (TikTok then shows the share, capped), and a share of 150 % is refused in words."""
    # given Maple imported for m1 (no order: nothing reserved), one of its items on sale counted at 40 and pushed
    app = console(products=6, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    on_sale = sellable_skus(app, maple["tiktokShopId"])
    item = next(i for i in items(app) if i["links"] and all(ln["sku"]["tiktokSkuId"] in on_sale for ln in i["links"]))
    sku_id = item["links"][0]["sku"]["tiktokSkuId"]
    set_on_hand(app, item["id"], 40)
    wait_until(lambda: stock_of(app, maple["tiktokShopId"], sku_id) == 40, what="40 pushed")
    # when the merchant opens the shop's push policy from Store management
    sign_in(page, app, "m1")
    page.get_by_role("link", name="Push policy of Maple").click()
    expect(page.get_by_role("heading", name="Push policy of “Maple”")).to_be_visible()
    # then it shows the policy as it is (the defaults), and what TikTok shows by it
    expect(page.get_by_label("Push stock to this shop")).to_be_checked()
    expect(page.get_by_label("Share of available shown (%)")).to_have_value("100")
    expect(page.get_by_label("Most units shown")).to_have_value("")
    expect(page.get_by_label("Out-of-stock threshold (units)")).to_have_value("0")
    effect = page.locator("#policy-effect")
    expect(effect).to_have_text(
        "Each linked SKU of this shop is shown all of its item's available; 0 when the available is 0 units or fewer, "
        "or the item is oversold. TikTok takes at most 99,999 units."
    )
    expect(
        page.get_by_text("Shopbridge does not tell the quantity each SKU will get before it is pushed")
    ).to_be_visible()

    # when a share of 150 % is saved, then it is refused in the merchant's words under the field, and nothing changed
    page.get_by_label("Share of available shown (%)").fill("150")
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#share-percent-error")).to_have_text(
        "The share of stock to show must be a whole percentage from 1 to 100."
    )
    assert policy_of(app, maple["id"])["sharePercent"] == 100
    # and a number past GraphQL's Int is told the same way, never sent (GraphQL's raw "Int cannot represent …")
    page.get_by_label("Out-of-stock threshold (units)").fill("3000000000")
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#out-of-stock-threshold-error")).to_have_text(
        "The out-of-stock threshold must be a whole number of units, 0 or more."
    )
    expect(page.locator("main")).not_to_contain_text("cannot represent")

    # when half, at most 10 units, is saved with a double click
    page.get_by_label("Out-of-stock threshold (units)").fill("0")
    page.get_by_label("Share of available shown (%)").fill("50")
    page.get_by_label("Most units shown").fill("10")
    sent = double_click_held(
        page, page.get_by_role("button", name="Save push policy"),
        lambda request: "shopInventoryPolicyUpdate" in (request.post_data or ""), "the save held",
    )  # fmt: skip
    # then it was sent once, saved and said, the effect follows it, and TikTok shows min(40 x 50 %, 10) = 10
    assert sent == 1
    expect(page.locator("#notice")).to_have_text(
        "The push policy of “Maple” is saved. Its linked SKUs are pushed again."
    )
    expect(effect).to_contain_text("shown 50 % of its item's available, rounded down, at most 10 units;")
    assert policy_of(app, maple["id"]) == {
        "pushEnabled": True, "sharePercent": 50, "maxQuantity": 10, "outOfStockThreshold": 0,
    }  # fmt: skip
    wait_until(lambda: stock_of(app, maple["tiktokShopId"], sku_id) == 10, what="10 pushed")

    # when push is turned off, then the page says nothing is pushed, and the form shows the policy after a reload
    page.get_by_label("Push stock to this shop").uncheck()
    page.get_by_role("button", name="Save push policy").click()
    expect(effect).to_contain_text("Shopbridge pushes no stock to this shop")
    page.reload()
    expect(page.get_by_label("Push stock to this shop")).not_to_be_checked()
    expect(page.get_by_label("Most units shown")).to_have_value("10")
    assert policy_of(app, maple["id"])["pushEnabled"] is False
