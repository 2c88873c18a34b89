"""The "Create an item" dialog of a shop SKU (js/links.js `createFrom`) while things change: a shop deleted in another
tab or on another device closes the dialog, says so, and no item is made for its SKU (tryout58 F4); a SKU linked
there meanwhile makes no item either (seed59: one server step)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import lose_requests, proxy_error, sign_in
from tests.browser.test_inventory import CREATE, DELETE_SHOP, confirm_link, unlinked_candidate
from tests.browser.test_pool_forms import FIND
from tests.fixtures.app import ShopbridgeServer


def test_the_create_dialog_closes_when_its_shop_is_deleted_elsewhere_and_makes_no_item(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    # given an item's page, the "Create an item" dialog of a Maple SKU no item has open, an item SKU and on-hand typed
    app, maple, dialog, _twins = _twin_dialog(console, page)
    dialog.get_by_label("Item SKU").fill("GONE-WITH-MAPLE")
    dialog.get_by_label("On hand (units, optional)").fill("12")
    # when Maple is deleted elsewhere
    done = app.graphql(DELETE_SHOP, {"input": {"shopId": maple["id"]}}, "m1")["shopDelete"]
    assert done["userErrors"] == [], done
    # then the dialog closes at once and says why
    expect(dialog).to_have_count(0)
    expect(page.locator("#notice")).to_have_text(
        f"The shop “Maple” was deleted in another tab or on another device: no item was created from {TWIN_NAME}."
    )
    # and no item was made
    assert app.graphql(FIND, {"query": "GONE-WITH-MAPLE"}, "m1")["inventoryItems"]["edges"] == []


LINK = """mutation($input: SkuLinkInput!) { skuLink(input: $input) {
  skuLink { state inventoryItem { id } } userErrors { code field } } }"""


def test_a_sku_another_tab_linked_meanwhile_is_not_taken_by_link_from_a_stale_list(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (skuLink `compareInventoryItemId`, sent null by the console's Link and Create: tryout58 F3): a SKU linked
    elsewhere since the "Link a SKU" list was read is not moved off that item; the merchant is told, the list
    read again."""
    # given an item's page listing Maple's unlinked SKU, which another tab then links to another item
    app, candidate, row = unlinked_candidate(console, page)
    other = app.graphql(CREATE, {"input": {"sku": "OTHER-TAB"}}, "m1")["inventoryItemCreate"]["inventoryItem"]["id"]
    done = app.graphql(LINK, {"input": {"skuId": candidate["sku"]["id"], "inventoryItemId": other}}, "m1")["skuLink"]
    assert done["userErrors"] == [], done
    # when the merchant presses Link on the stale row (and confirms the TikTok stock it sets: tryout60 F2)
    row.get_by_role("button", name=f"Link {candidate['name']}").click()
    confirm_link(page, candidate["name"])
    # then it is refused in words, the row leaves the list read again, and the SKU still draws on the other item
    expect(page.locator("#notice")).to_have_text(
        "This SKU was linked to an item in another tab or on another device since the list was read, so it was not "
        "taken from it. The list has been refreshed."
    )
    expect(row).to_have_count(0)
    found = app.graphql(FIND, {"query": "OTHER-TAB"}, "m1")["inventoryItems"]["edges"]
    assert [ln["sku"]["tiktokSkuId"] for ln in found[0]["node"]["links"]] == [candidate["sku"]["tiktokSkuId"]]
    # and the API refuses the same with a stable code, naming the field
    again = {"skuId": candidate["sku"]["id"], "inventoryItemId": other, "compareInventoryItemId": None}
    assert app.graphql(LINK, {"input": again}, "m1")["skuLink"] == {
        "skuLink": None, "userErrors": [{"code": "SKU_LINK_CHANGED", "field": ["compareInventoryItemId"]}],
    }  # fmt: skip


TWIN_NAME = "GONE-TWIN on Maple"
UNLINKED_OF = "query($id: ID!) { unlinkedSkus(shopId: $id, first: 100) { edges { node { sku { id sellerSku } } } } }"


def _twin_dialog(console: Callable[..., ShopbridgeServer], page: Page) -> tuple[ShopbridgeServer, dict, Locator, list]:
    """Maple imported for m1 with a product whose two SKUs share the seller SKU GONE-TWIN (AMBIGUOUS: no item has
    it), the page of an item created by hand, and the "Create an item" dialog of the first GONE-TWIN row open.
    Returns the app, Maple, the dialog and the two SKUs' ids."""
    app = console(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    twins = [{"seller_sku": "GONE-TWIN", "quantity": 4}, {"seller_sku": "GONE-TWIN", "quantity": 5}]
    app.sandbox.control("POST", f"/shops/{tiktok_id}/products", {"title": "Twins", "skus": twins})
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    created = app.graphql(CREATE, {"input": {"sku": "LINK-TARGET"}}, "m1")["inventoryItemCreate"]
    assert created["userErrors"] == [], created
    sign_in(page, app, "m1")
    page.goto(f"{app.url}/console/#/inventory/{created['inventoryItem']['id']}")
    expect(page.get_by_role("heading", name="LINK-TARGET")).to_be_visible()
    page.get_by_role("button", name=f"Create an item from {TWIN_NAME}").first.click()
    dialog = page.get_by_role("dialog", name=f"Create an item from “{TWIN_NAME}”")
    edges = app.graphql(UNLINKED_OF, {"id": maple["id"]}, "m1")["unlinkedSkus"]["edges"]
    return app, maple, dialog, [e["node"]["sku"]["id"] for e in edges if e["node"]["sku"]["sellerSku"] == "GONE-TWIN"]


def test_a_create_from_a_sku_another_tab_linked_meanwhile_makes_no_item_and_says_so(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (inventoryItemCreate `skuId`, seed59: one step, a SKU linked meanwhile refused SKU_LINK_CHANGED before
    anything is written): the Create dialog of a SKU another tab links meanwhile makes no item (its two requests
    made the item, had the link refused, and the item stayed: tryout58 F3's "Left"); the merchant is told, the
    list read again."""
    # given the dialog of a GONE-TWIN SKU open, an item SKU typed
    app, _maple, dialog, twins = _twin_dialog(console, page)
    dialog.get_by_label("Item SKU").fill("STALE-TAB")
    # when another tab links both GONE-TWIN SKUs to another item
    other = app.graphql(CREATE, {"input": {"sku": "OTHER-TAB"}}, "m1")["inventoryItemCreate"]["inventoryItem"]["id"]
    for sku_id in twins:
        done = app.graphql(LINK, {"input": {"skuId": sku_id, "inventoryItemId": other}}, "m1")["skuLink"]
        assert done["userErrors"] == [], done
    # and the merchant presses Create and link
    dialog.get_by_role("button", name="Create and link").click()
    # then the dialog closes saying no item was created, and the list read again offers neither SKU
    expect(dialog).to_have_count(0)
    expect(page.locator("#notice")).to_have_text(
        "This SKU was linked to an item in another tab or on another device since the list was read, so no item was "
        "created. The list has been refreshed."
    )
    expect(page.get_by_role("button", name=f"Link {TWIN_NAME}")).to_have_count(0)
    assert app.graphql(FIND, {"query": "STALE-TAB"}, "m1")["inventoryItems"]["edges"] == []


def test_a_create_from_a_sku_whose_answer_was_lost_opens_its_item_once_read_or_keeps_the_dialog(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/links.js `answerLostFor`, js/api.js `itemBySku`, js/unsaved.js; console60's "Found but not fixed"):
    a "Create an item" whose answer was lost, or came as a gateway's 504 page, reads its item SKU: its item with this
    shop SKU linked was made by it (one step), and the dialog closes on its page as an answered create's; none, "was
    not created" and the dialog keeps what was typed. It said "Shopbridge cannot be reached" of an item made."""
    # given the dialog of a GONE-TWIN SKU open, an item SKU and an on-hand typed
    app, _maple, dialog, _twins = _twin_dialog(console, page)
    dialog.get_by_label("Item SKU").fill("LOST-TWIN")
    dialog.get_by_label("On hand (units, optional)").fill("7")
    # when its create is lost on its way (the server never sees it)
    lose_requests(page, "mutation CreateItem")
    dialog.get_by_role("button", name="Create and link").click()
    # then the dialog says it was not created, keeping what was typed, and nothing was
    expect(dialog.locator(".field-error").last).to_have_text(
        "“LOST-TWIN” was not created: Shopbridge has no item with this SKU. Press Create and link to send it again."
    )
    expect(dialog.get_by_label("Item SKU")).to_have_value("LOST-TWIN")
    expect(dialog.get_by_label("On hand (units, optional)")).to_have_value("7")
    assert app.graphql(FIND, {"query": "LOST-TWIN"}, "m1")["inventoryItems"]["edges"] == []
    # when it is sent again and a gateway answers 504 after the server made it
    page.unroute("**/graphql")
    proxy_error(page, "mutation CreateItem", 504)
    dialog.get_by_role("button", name="Create and link").click()
    # then the dialog closes on the new item's page, saying it is created and linked
    expect(page.get_by_role("heading", name="LOST-TWIN")).to_be_visible()
    expect(dialog).to_have_count(0)
    expect(page.locator("#notice")).to_have_text(
        f"LOST-TWIN is created with 7 on hand, 0 reserved by open orders (7 available), and {TWIN_NAME} is linked to "
        "it: it now draws on this item."
    )
    # and one item was made, the SKU linked to it
    found = app.graphql(FIND, {"query": "LOST-TWIN"}, "m1")["inventoryItems"]["edges"]
    assert [(e["node"]["sku"], e["node"]["onHand"], len(e["node"]["links"])) for e in found] == [("LOST-TWIN", 7, 1)]
