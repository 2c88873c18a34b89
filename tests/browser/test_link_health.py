"""The console's Inventory pages on a link TikTok no longer receives the pool's stock for (tryout60 F1): the shop's
authorization revoked at TikTok, or its push turned off. Such a link read "Linked, automatic · pushed 10" like a
healthy one while the pool moved on, and TikTok went on selling units the pool no longer had."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_inventory import cell, open_inventory, unlinked_candidate
from tests.e2e.test_inventory_push import (
    COMPLETE,
    REAUTHORIZE,
    STATUS,
    UPDATE,
    _a_sku_counted_at_10_and_pushed,
    set_on_hand,
    stock_of,
)
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


@pytest.mark.parametrize("where", ["item page", "Inventory list"])
def test_the_note_follows_the_shop_on_an_open_page_revoked_then_reauthorized(
    console: Callable[..., ShopbridgeServer], page: Page, where: str
) -> None:
    """Rule (js/shopnames.js `followLinkShops`, schema `Subscription.shopsUpdated`: each shop whose status or
    inventoryPolicy changes): the note follows the shop on an open page. A revocation or a re-authorization changes
    the shop, not the item, so no item event came: the note appeared only after a reload, and after the
    re-authorization stayed until one (tryout61 F4)."""
    # given a SKU counted at 10 and pushed, its item open on the item's page or in the Inventory list, with no note
    app = console(products=12, orders=0)
    shop, item, _ = _a_sku_counted_at_10_and_pushed(app)
    sign_in(page, app, "m1")
    row = open_inventory(page, item["sku"])
    expect(cell(row, "Shops")).to_contain_text("Maple")
    if where == "item page":
        row.get_by_role("link", name=item["sku"], exact=True).click()
        expect(page.locator("section.links tbody tr").first).to_contain_text("Maple")
        note = page.locator("section.links .not-pushed")
    else:
        note = row.locator(".not-pushed")
    expect(note).to_have_count(0)
    # when the seller revokes the app at TikTok (webhook 6), no reload
    app.sandbox.control("POST", "/sellers/us-local/revoke")
    wait_until(lambda: app.graphql(STATUS, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")
    # then the open page says that TikTok is not receiving the item's stock, and why
    expect(note).to_have_text(f"{WHY['revoked']} {STALE}")
    # when the merchant re-authorizes the shop (another tab), no reload
    url = app.graphql(REAUTHORIZE, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]["authorizationUrl"]
    redirect = app.sandbox.authorize("us-local", parse_qs(urlsplit(url).query)["state"][0])
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    assert done["shopAuthorizationComplete"]["shop"] == {"status": "ACTIVE"}, done
    # then the note goes
    expect(note).to_have_count(0)
    # when a colleague turns push off for the shop, then the note says so; turned on again, it goes
    off = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": False}}, "m1")
    assert off["shopInventoryPolicyUpdate"]["userErrors"] == [], off
    expect(note).to_have_text(f"{WHY['push off']} {STALE}")
    on = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": True}}, "m1")
    assert on["shopInventoryPolicyUpdate"]["userErrors"] == [], on
    expect(note).to_have_count(0)


SKU_QUANTITY = "query($id: ID!) { node(id: $id) { ... on Sku { quantity link { productStatus } } } }"


def test_a_link_that_changes_the_skus_tiktok_stock_asks_first_and_says_what_it_set(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/links.js `linkAsking`, tryout60 F2): Link makes the item's available (by the shop's push policy) the
    SKU's TikTok stock, and Unlink does not give the old one back, so a Link that changes it asks first, saying both
    numbers; Cancel links nothing; the success says the stock set. It was one click, and 301 became 45 unsaid."""
    # given an item with nothing on hand (available 0) and an unlinked SKU of Maple with TikTok stock above 0
    app, candidate, row = unlinked_candidate(console, page)
    sku = app.graphql(SKU_QUANTITY, {"id": candidate["sku"]["id"]}, "m1")["node"]
    before = sku["quantity"]
    assert before > 0
    # (a product TikTok does not sell gets no push: the stock changes once it sells it again, and the console says so)
    on_sale = sku["link"]["productStatus"] == "ACTIVATE"
    waits = "" if on_sale else " once TikTok sells its product again"
    # when the merchant presses Link, then cancels
    row.get_by_role("button", name=f"Link {candidate['name']}").click()
    dialog = page.get_by_role("dialog", name=f"Link “{candidate['name']}”?")
    expect(dialog).to_contain_text(f"TikTok's stock of this SKU becomes 0 instead of {before:,}{waits}:")
    dialog.get_by_role("button", name="Cancel").click()
    # then nothing is linked
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("button", name=f"Unlink {candidate['name']}")).to_have_count(0)
    # when the merchant presses Link again and confirms
    row.get_by_role("button", name=f"Link {candidate['name']}").click()
    dialog.get_by_role("button", name="Link and set TikTok stock").click()
    # then it is linked, the notice says what the stock became, and TikTok shows it
    expect(page.locator("#notice")).to_have_text(
        f"{candidate['name']} is linked: it now draws on this item, and its open orders reserve units here. "
        f"Shopbridge sets its TikTok stock from {before:,} to 0{waits}."
    )
    expect(page.get_by_role("button", name=f"Unlink {candidate['name']}")).to_be_visible()
    tiktok_sku = candidate["sku"]["tiktokSkuId"]
    if on_sale:
        wait_until(lambda: stock_of(app, candidate["shop"]["tiktokShopId"], tiktok_sku) == 0, what="the push of 0")
