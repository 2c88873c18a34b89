"""An item page's Unlink confirmed after another tab linked the SKU to another item (review59 F6): js/links.js sends
skuUnlink's `compareInventoryItemId` (the page's item), so the SKU is not taken off that other item; the merchant is
told in words."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.test_inventory import CREATE, open_inventory, pooled_item_signed_in
from tests.browser.test_pool_forms import FIND
from tests.fixtures.app import ShopbridgeServer

LINK = """mutation($input: SkuLinkInput!) { skuLink(input: $input) {
  skuLink { state inventoryItem { id } } userErrors { code field } } }"""


def test_an_unlink_confirmed_after_another_tab_linked_the_sku_elsewhere_leaves_that_link(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (skuUnlink `compareInventoryItemId`, sent by the console's Unlink with the item of the page): a SKU linked
    to another item since the page was read is not unlinked from that item (before: unlinked from it, and the notice
    said its open orders stay reserved "here", on the page's item)."""
    # given an item's page, its SKU's Unlink dialog open
    app, item = pooled_item_signed_in(console, page)
    link = item["links"][0]
    name = f"{link['sku']['sellerSku']} on Maple"
    open_inventory(page, item["sku"]).get_by_role("link", name=item["sku"], exact=True).click()
    page.get_by_role("button", name=f"Unlink {name}").click()
    dialog = page.get_by_role("dialog", name=f"Unlink “{name}”?")
    expect(dialog).to_be_visible()
    # and another tab links that SKU to another item meanwhile
    other = app.graphql(CREATE, {"input": {"sku": "OTHER-TAB"}}, "m1")["inventoryItemCreate"]["inventoryItem"]["id"]
    done = app.graphql(LINK, {"input": {"skuId": link["sku"]["id"], "inventoryItemId": other}}, "m1")["skuLink"]
    assert done["userErrors"] == [], done

    # when the merchant confirms the unlink
    dialog.get_by_role("button", name="Unlink SKU").click()

    # then it is refused in words, and the SKU still draws on the other item
    expect(page.locator("#notice")).to_have_text(
        "This SKU was linked to an item in another tab or on another device since the list was read, so it was not "
        "taken from it. The list has been refreshed."
    )
    found = app.graphql(FIND, {"query": "OTHER-TAB"}, "m1")["inventoryItems"]["edges"]
    assert [(ln["state"], ln["sku"]["tiktokSkuId"]) for ln in found[0]["node"]["links"]] == [
        ("LINKED", link["sku"]["tiktokSkuId"])
    ]
