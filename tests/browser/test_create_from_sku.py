"""The "Create an item" dialog of a shop SKU (js/links.js `createFrom`) while things change (tryout58 F4): a
shop deleted in another tab or on another device closes the dialog, says so, and no item is made for its SKU."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.test_inventory import CREATE, DELETE_SHOP, unlinked_candidate
from tests.browser.test_pool_forms import FIND
from tests.fixtures.app import ShopbridgeServer


def test_the_create_dialog_closes_when_its_shop_is_deleted_elsewhere_and_makes_no_item(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    # given an item's page, Maple's unlinked SKU's "Create an item" dialog open, an item SKU and on-hand typed
    app, candidate, row = unlinked_candidate(console, page)
    row.get_by_role("button", name=f"Create an item from {candidate['name']}").click()
    dialog = page.get_by_role("dialog", name=f"Create an item from “{candidate['name']}”")
    dialog.get_by_label("Item SKU").fill("GONE-WITH-MAPLE")
    dialog.get_by_label("On hand (units)").fill("12")
    # when Maple is deleted elsewhere
    done = app.graphql(DELETE_SHOP, {"input": {"shopId": candidate["shop"]["id"]}}, "m1")["shopDelete"]
    assert done["userErrors"] == [], done
    # then the dialog closes at once and says why
    expect(dialog).to_have_count(0)
    expect(page.locator("#notice")).to_have_text(
        f"The shop “Maple” was deleted in another tab or on another device: no item was created from "
        f"{candidate['name']}."
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
    # when the merchant presses Link on the stale row
    row.get_by_role("button", name=f"Link {candidate['name']}").click()
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
