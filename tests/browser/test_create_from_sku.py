"""The "Create an item" dialog of a shop SKU (js/links.js `createFrom`) while things change (tryout58 F4): a
shop deleted in another tab or on another device closes the dialog, says so, and no item is made for its SKU."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.test_inventory import DELETE_SHOP, unlinked_candidate
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
