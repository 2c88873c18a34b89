"""Add store says, before Authorize, what the import does to the stock of SKUs matching the merchant's items, and its
"Start with stock push off" keeps TikTok's stock (decide62; tryout61 F5): the success message and the shop's row say
which was chosen and how many SKUs joined, and no Update Inventory reaches the sandbox until push is turned on in the
shop's Push policy, which says what that does to them."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import approve, sign_in
from tests.browser.test_inventory import cell, open_inventory
from tests.e2e.test_inventory_push import COMPLETE, REAUTHORIZE
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

JOINED = "query($id: ID!) { shop(id: $id) { joinedSkuCount } }"
SHOPS = "{ shops { edges { node { id name } } } }"
SKUS = "query($id: ID!) { shop(id: $id) { products(first: 50) { edges { node { status skus { sellerSku } } } } } }"


def test_add_store_with_push_off_says_so_and_pushes_nothing(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    # given a merchant whose US shop brought its SKUs into the pool
    app = console(products=12, orders=10)
    app.connect_shop("m1", "us-local", "US", "US")
    app.wait_for_idle_sync()
    sign_in(page, app, "m1")

    # when they add their Malaysian shop (it shares seller SKUs), the last step says what joining does, before Authorize
    page.get_by_role("link", name="Add store").click()
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.get_by_label("My TikTok Shop is a local shop in a supported region").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("TikTok Shop region").select_option("MY")
    page.get_by_label("Custom shop name").fill("MY")
    expect(page.locator("#pool-help")).to_have_text(
        "When this shop's products are imported, each SKU whose seller SKU matches one of your inventory items joins "
        "that item, and TikTok's stock of it becomes the pool's available (the item's on hand, less what is reserved "
        "and its safety stock): the stock TikTok shows for it now is replaced."
    )
    push_off = page.get_by_label("Start with stock push off")
    expect(push_off).not_to_be_checked()  # the pool is the product: push on unless the merchant asks
    expect(push_off).to_have_accessible_description(re.compile("^TikTok then keeps the shop's own stock"))
    push_off.check()
    # (Back and Next keep the step as it was left: review62b F2, the tick was lost and the shop connected with push on)
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Start with stock push off")).to_be_checked()
    expect(page.get_by_label("Custom shop name")).to_have_value("MY")
    expect(page.get_by_label("TikTok Shop region")).to_have_value("MY")
    page.get_by_role("button", name="Authorize", exact=True).click()
    approve(page, "my-local")

    # then the console says push is off, and once imported the shop's row says how many SKUs joined and that
    # nothing is pushed; the sandbox has had no Update Inventory for the shop
    expect(page.locator("#notice")).to_contain_text(
        "“MY” is connected. Stock push is off: TikTok keeps this shop's own stock. Review the links in Inventory, "
        "then turn push on in its Push policy."
    )
    app.wait_for_idle_sync()
    my = next(e["node"] for e in app.graphql(SHOPS, None, "m1")["shops"]["edges"] if e["node"]["name"] == "MY")
    joined = app.graphql(JOINED, {"id": my["id"]}, "m1")["shop"]["joinedSkuCount"]
    assert joined > 1
    note = page.locator("tbody tr", has_text="MY").locator(".pool-note")
    expect(note).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had. Stock push is off: nothing is pushed to "
        "TikTok, which keeps this shop's own stock. Review the links in Inventory, then turn push on in Push policy."
    )
    my_tiktok = app.tiktok_shop("my-local")["id"]

    def updates() -> int:
        return len(app.sandbox.control("GET", f"/inventory-updates?shop_id={my_tiktok}")["updates"])

    assert updates() == 0
    # and Inventory says of MY's links that TikTok keeps the shop's own stock, not a quantity it was sent (tryout64 F1:
    # nothing ever was)
    products = app.graphql(SKUS, {"id": my["id"]}, "m1")["shop"]["products"]["edges"]
    seller_sku = next(p["node"]["skus"][0]["sellerSku"] for p in products if p["node"]["status"] == "ACTIVATE")
    shops = cell(open_inventory(page, seller_sku), "Shops")
    expect(shops).to_contain_text(
        "push is turned off for this shop (its push policy, in Store management). TikTok keeps this shop's own stock "
        "(it was never sent the pool's), and may sell units the pool no longer has."
    )
    expect(shops).not_to_contain_text("the last quantity it was sent")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Store management").click()

    # and the shop's Push policy says what turning push on does to them; turned on there, the row says TikTok's stock
    # of them is replaced, and the pushes reach TikTok
    page.get_by_role("link", name="Push policy of MY").click()
    expect(page.locator("#push-help")).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had: while push is on, TikTok's stock of them "
        "is replaced by the pool's available. Review the links in Inventory before you turn push on."
    )
    push = page.get_by_label("Push stock to this shop")
    expect(push).not_to_be_checked()
    push.check()
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#notice")).to_have_text("The push policy of “MY” is saved. Its linked SKUs are pushed again.")
    # (saved with push on, the line says the replacement is what push on does now, not one to review first: tryout64 F2)
    expect(page.locator("#push-help")).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had: push is on, so TikTok's stock of them is "
        "the pool's available."
    )
    page.get_by_role("link", name="Back to Store management").click()
    expect(note).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had. TikTok's stock of them is replaced by "
        "the pool's available."
    )
    wait_until(lambda: updates() > 0, what="the push once push is on")
    # when the seller revokes the app at TikTok (webhook 6), then the row says nothing is pushed until a
    # re-authorization (tryout66: it still said TikTok's stock of them is replaced, while nothing was pushed)
    app.sandbox.control("POST", "/sellers/my-local/revoke")
    expect(page.locator("tbody tr", has_text="MY").locator(".badge")).to_have_text("Revoked")
    expect(note).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had. Nothing is pushed to TikTok until the "
        "shop is re-authorized; then TikTok's stock of them is replaced by the pool's available."
    )
    # and its Push policy says so too: its status, nothing pushed until a re-authorization (it said TikTok's stock of
    # them is the pool's available)
    page.get_by_role("link", name="Push policy of MY").click()
    expect(page.locator("#policy-paused")).to_have_text(
        "“MY” is revoked: nothing is pushed to TikTok until it is re-authorized (Re-authorize, in Store management); "
        "then TikTok shows what this policy says."
    )
    expect(page.locator("#push-help")).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had: push is on; once the shop is "
        "re-authorized, TikTok's stock of them is the pool's available."
    )
    # and once the shop is re-authorized (another tab), the line goes, no reload
    url = app.graphql(REAUTHORIZE, {"id": my["id"]}, "m1")["shopReauthorizationStart"]["authorizationUrl"]
    redirect = app.sandbox.authorize("my-local", parse_qs(urlsplit(url).query)["state"][0])
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    assert done["shopAuthorizationComplete"]["shop"] == {"status": "ACTIVE"}, done
    expect(page.locator("#policy-paused")).to_be_hidden()
    expect(page.locator("#push-help")).to_have_text(
        f"{joined} SKUs of this shop joined inventory items you already had: push is on, so TikTok's stock of them is "
        "the pool's available."
    )
