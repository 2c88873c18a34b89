"""An item page's Delete (tryout61 F3): asked first in a dialog naming the SKU; Cancel keeps the item; refused in the
console's words while a shop SKU is linked to it (ITEM_LINKED); done, the Inventory list no longer shows it. And New
item asks first for a SKU equal to an item's but for case or width."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in
from tests.browser.test_inventory import CREATE, inventory_listed, open_inventory, pooled_item_signed_in
from tests.e2e.fence_given import pushed_sku
from tests.e2e.test_inventory_item_delete_unpushed import PUSH_OFF
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import pooled_items
from tests.fixtures.app import ShopbridgeServer

ITEM = "query($id: ID!) { inventoryItem(id: $id) { sku } }"
FIND_SKUS = "query($query: String) { inventoryItems(query: $query) { totalCount } }"


def test_delete_asks_first_is_refused_for_a_linked_item_and_removes_a_mistaken_one(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    # given a linked item, on its page
    app, linked = pooled_item_signed_in(console, page)
    open_inventory(page, linked["sku"]).get_by_role("link", name=linked["sku"], exact=True).click()
    expect(page.get_by_role("heading", name=linked["sku"])).to_be_visible()
    # when the merchant presses Delete item and confirms
    page.get_by_role("button", name="Delete item").click()
    dialog = page.get_by_role("dialog", name=f"Delete “{linked['sku']}”?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete item").click()
    # then it is refused in the console's words, and the item stays
    expect(page.locator("#delete-error")).to_have_text(
        "Shop SKUs are still linked to this item, so it was not deleted. Unlink them below first, then delete it."
    )
    assert app.graphql(ITEM, {"id": linked["id"]}, "m1")["inventoryItem"] == {"sku": linked["sku"]}

    # given an item made by mistake, on its page
    made = app.graphql(CREATE, {"input": {"sku": "Sb-00000-black", "onHand": 40}}, "m1")["inventoryItemCreate"]
    slip = made["inventoryItem"]["id"]
    open_inventory(page, "Sb-00000-black").get_by_role("link", name="Sb-00000-black", exact=True).click()
    expect(page.get_by_role("heading", name="Sb-00000-black")).to_be_visible()
    # when the merchant presses Delete item and cancels: nothing is deleted
    page.get_by_role("button", name="Delete item").click()
    page.get_by_role("dialog", name="Delete “Sb-00000-black”?").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert app.graphql(ITEM, {"id": slip}, "m1")["inventoryItem"] == {"sku": "Sb-00000-black"}
    # when it presses it again and confirms
    page.get_by_role("button", name="Delete item").click()
    page.get_by_role("dialog", name="Delete “Sb-00000-black”?").get_by_role("button", name="Delete item").click()
    # then the Inventory list is shown, saying so, and a search no longer finds it
    expect(page.get_by_role("heading", name="Inventory", exact=True)).to_be_visible()
    expect(page.locator("#notice")).to_have_text("Sb-00000-black is deleted.")
    page.get_by_label("Search by SKU").fill("Sb-00000-black")
    page.get_by_role("button", name="Search").click()
    # (the sandbox's own SB-00000-Black, if the shop has it, is listed: the search is caseless)
    expect(page.get_by_role("button", name="Search")).to_be_enabled()
    expect(page.get_by_role("link", name="Sb-00000-black", exact=True)).to_have_count(0)
    assert app.graphql(ITEM, {"id": slip}, "m1")["inventoryItem"] is None


def test_a_new_item_equal_to_another_but_for_case_is_asked_first_then_created(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/inventory.js "New item", tryout61 F3): SKUs are exact, so `Sb-00000-black` beside `SB-00000-Black` is
    allowed, but asked once first, naming the existing item; pressed again, it is created."""
    # given m1's item SB-00000-Black, on Inventory
    app = console(products=0, orders=0)
    assert app.graphql(CREATE, {"input": {"sku": "SB-00000-Black"}}, "m1")["inventoryItemCreate"]["userErrors"] == []
    sign_in(page, app, "m1")
    form = inventory_listed(page)
    # when the merchant creates Sb-00000-black
    form.get_by_label("Item SKU").fill("Sb-00000-black")
    form.get_by_role("button", name="Create item").click()
    # then it is asked first, naming the existing item, and nothing is made
    expect(form.locator("#new-item-sku-error")).to_have_text(
        "SB-00000-Black exists: create Sb-00000-black as a separate item? Press Create item again to create it."
    )
    assert app.graphql(FIND_SKUS, {"query": "sb-00000-black"}, "m1")["inventoryItems"]["totalCount"] == 1
    # when it presses Create item again, then the item is created and its page opens
    form.get_by_role("button", name="Create item").click()
    expect(page.get_by_role("heading", name="Sb-00000-black")).to_be_visible()
    assert app.graphql(FIND_SKUS, {"query": "sb-00000-black"}, "m1")["inventoryItems"]["totalCount"] == 2


def test_a_delete_refused_for_units_not_read_yet_says_the_servers_why(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/messages.js `explain` ITEM_IN_USE; tryout63 F4): an item refused for what no open order reserves
    (units sold at TikTok not read yet, or a SKU moved off it not pushed under its new item yet) is told the server's
    message, not "Open orders still reserve units" on a page showing Reserved 0."""
    # given CAP pushed, the shop's push turned off and its SKU linked to HAT by hand (not pushed under HAT yet)
    app = console(products=0, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products", {"title": "HAT product", "skus": [{"seller_sku": "HAT", "quantity": 5}]}
    )
    cap = pushed_sku(app, "CAP", 20)
    (hat,) = pooled_items(app, "HAT")
    assert app.graphql(PUSH_OFF, {"id": cap.shop["id"]}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": hat["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    sign_in(page, app, "m1")
    # when the merchant deletes CAP on its page
    open_inventory(page, "CAP").get_by_role("link", name="CAP", exact=True).click()
    expect(page.get_by_role("heading", name="CAP")).to_be_visible()
    page.get_by_role("button", name="Delete item").click()
    page.get_by_role("dialog", name="Delete “CAP”?").get_by_role("button", name="Delete item").click()
    # then the server's why is shown
    expect(page.locator("#delete-error")).to_contain_text(
        'Not deleted: "CAP" was the item of 1 shop SKU linked to another item since'
    )
    assert app.graphql(ITEM, {"id": cap.item["id"]}, "m1")["inventoryItem"] == {"sku": "CAP"}
