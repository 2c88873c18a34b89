"""What the console once left to the API (newcomer57 F11): a shop's push policy (`shopInventoryPolicyUpdate`, on the
shop's "Push policy" page, js/policy.js) and an item created from a shop SKU that draws on none (`inventoryItemCreate`
then `skuLink`, "Create an item" under an item's "Link a SKU", js/links.js) or for a SKU typed ("New item" on
Inventory, js/inventory.js): each saved, pushed or linked, refused in the merchant's words (js/messages.js), and sent
once however often it is clicked."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import double_click_held, lose_answers, lose_requests, sign_in
from tests.browser.test_inventory import cell, inventory_listed, open_inventory
from tests.e2e.test_inventory_pool import items
from tests.e2e.test_inventory_push import LINKED_COUNTS, POLICY, sellable_skus, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

UNLINKED = """query($id: ID!) { unlinkedSkus(shopId: $id, first: 100) {
  edges { node { state sku { id tiktokSkuId quantity } } } } }"""
CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id } userErrors { code } } }"""
UNLINK = """mutation($input: SkuUnlinkInput!) { skuUnlink(input: $input) { skuLink { state } userErrors { code } } }"""
SHARE = "Share of available shown (%)"  # the Push policy page's fields, by label
THRESHOLD = "Out-of-stock threshold (units)"
MOST = "Most units shown"
THRESHOLD_REFUSED = "The out-of-stock threshold must be a whole number of units from 0 to 1,000,000,000."
FIND = """query($query: String!) { inventoryItems(first: 5, query: $query) { edges { node { id sku onHand
  links { state source sku { tiktokSkuId } } } } } }"""


def policy_of(app: ShopbridgeServer, shop_id: str) -> dict:
    return app.graphql(POLICY, {"id": shop_id}, "m1")["shop"]["inventoryPolicy"]


def fill_policy(page: Page, typed: dict[str, str]) -> None:
    """The Push policy page's fields typed in (`typed`: field label -> what the merchant types)."""
    for label, value in typed.items():
        page.get_by_label(label).fill(value)


def save_policy(page: Page, typed: dict[str, str]) -> None:
    """The Push policy page's fields typed in (`fill_policy`), then "Save push policy" clicked once."""
    fill_policy(page, typed)
    page.get_by_role("button", name="Save push policy").click()


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
    save_policy(page, {SHARE: "150"})
    expect(page.locator("#share-percent-error")).to_have_text(
        "The share of stock to show must be a whole percentage from 1 to 100."
    )
    assert policy_of(app, maple["id"])["sharePercent"] == 100
    # and a number past GraphQL's Int is told the same way, never sent (GraphQL's raw "Int cannot represent …")
    save_policy(page, {THRESHOLD: "3000000000"})
    expect(page.locator("#out-of-stock-threshold-error")).to_have_text(THRESHOLD_REFUSED)
    expect(page.locator("main")).not_to_contain_text("cannot represent")
    # and one past the server's bound (1,000,000,000) is told with that bound, which the field's help states too
    save_policy(page, {SHARE: "100", THRESHOLD: "1000000001"})
    expect(page.locator("#out-of-stock-threshold-error")).to_have_text(THRESHOLD_REFUSED)
    expect(page.locator("#out-of-stock-threshold-help")).to_contain_text("0 to 1,000,000,000 units")

    # when half, at most 10 units, is saved with a double click
    fill_policy(page, {THRESHOLD: "0", SHARE: "50", "Most units shown": "10"})
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

    # when push is turned off, then the page says nothing is pushed (its saved line too, tryout66: it said "Its linked
    # SKUs are pushed again."), and the form shows the policy after a reload
    page.get_by_label("Push stock to this shop").uncheck()
    page.get_by_role("button", name="Save push policy").click()
    expect(effect).to_contain_text("Shopbridge pushes no stock to this shop")
    expect(page.locator("#notice")).to_have_text(
        "The push policy of “Maple” is saved. Stock push is off: nothing is pushed to TikTok, which keeps this shop's "
        "own stock."
    )
    page.reload()
    expect(page.get_by_label("Push stock to this shop")).not_to_be_checked()
    expect(page.get_by_label("Most units shown")).to_have_value("10")
    assert policy_of(app, maple["id"])["pushEnabled"] is False


def test_a_threshold_that_zeroes_most_of_the_shops_skus_is_asked_first_naming_how_many(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/policy.js `zeroesMost`, schema `Shop.linkedSkuCount`): an out-of-stock threshold raised so that most
    of the shop's linked SKUs (more than half, more than now) would show 0 is asked about first, naming how many, and
    saved when Save is pressed again (tryout61 F1: 4500 typed for 45 was saved at once and every SKU pushed 0, the
    shop sold out); a lower threshold is saved at once. So is a maximum of 0 (every SKU 0) and a share cut to a
    tenth or less (tryout62 F2: both were saved unasked)."""
    # given Maple imported for m1, its push policy open (threshold 0)
    app = console(products=6, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    counts = app.graphql(LINKED_COUNTS, {"id": maple["id"], "n": 0}, "m1")["shop"]
    assert counts["every"] > 0
    sign_in(page, app, "m1")
    page.get_by_role("link", name="Push policy of Maple").click()
    expect(page.get_by_label(THRESHOLD)).to_have_value("0")
    # when a threshold above every item's available is saved
    save_policy(page, {THRESHOLD: "1000000"})
    # then its line says how many linked SKUs would show 0, of how many, and nothing is saved
    expect(page.locator("#out-of-stock-threshold-error")).to_have_text(
        f"At 1,000,000 units, {counts['every']:,} of the {counts['every']:,} linked SKUs of “Maple” would show 0 on "
        f"TikTok (their item's available is 1,000,000 units or fewer; {counts['atMost']:,} show 0 now): the shop "
        "would look sold out. Check the threshold; to save it, press Save push policy again."
    )
    assert policy_of(app, maple["id"])["outOfStockThreshold"] == 0
    # when Save is pressed again, then it is saved
    page.get_by_role("button", name="Save push policy").click()
    saved = "The push policy of “Maple” is saved. Its linked SKUs are pushed again."
    expect(page.locator("#notice")).to_have_text(saved)
    assert policy_of(app, maple["id"])["outOfStockThreshold"] == 1_000_000
    # and a lower threshold is saved at once
    save_policy(page, {THRESHOLD: "0"})
    expect(page.get_by_label(THRESHOLD)).to_have_value("0")
    wait_until(lambda: policy_of(app, maple["id"])["outOfStockThreshold"] == 0, what="0 saved")

    # when "Most units shown" 0 is saved (typed for "no maximum", tryout62 F2: every linked SKU pushed 0, unasked)
    save_policy(page, {MOST: "0"})
    # then its line says every linked SKU would show 0, and how to have no maximum; nothing is saved
    expect(page.locator("#max-quantity-error")).to_have_text(
        f"At most 0 units shown, {counts['every']:,} of the {counts['every']:,} linked SKUs of “Maple” would show 0 on "
        f"TikTok ({counts['atMost']:,} show 0 now): the shop would look sold out. For no maximum, leave Most units "
        "shown empty; to save 0, press Save push policy again."
    )
    assert policy_of(app, maple["id"])["maxQuantity"] is None
    # when Save is pressed again, then it is saved; and an empty maximum (none) is saved at once
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#notice")).to_have_text(saved)
    assert policy_of(app, maple["id"])["maxQuantity"] == 0
    save_policy(page, {MOST: ""})
    wait_until(lambda: policy_of(app, maple["id"])["maxQuantity"] is None, what="no maximum saved")

    # when the share is cut to a tenth (10 % typed for 100 %: 46 shown where 460 was), then it is asked first too,
    # saying how many SKUs it zeroes (those whose item's available is 9 or fewer: 10 % of it rounds down to 0)
    save_policy(page, {SHARE: "10"})
    zeroed = app.graphql(LINKED_COUNTS, {"id": maple["id"], "n": 9}, "m1")["shop"]["atMost"]
    assert zeroed * 2 <= counts["every"]  # (the seeded stock: most items hold more than 9)
    expect(page.locator("#share-percent-error")).to_have_text(
        "At 10 %, each linked SKU of “Maple” would show 10 % of its item's available, rounded down, a tenth or less "
        f"of the 100 % it shows now ({zeroed:,} of the {counts['every']:,} would show 0). Check the share; to save "
        "it, press Save push policy again."
    )
    assert policy_of(app, maple["id"])["sharePercent"] == 100
    # and a share of 50 % is saved at once
    save_policy(page, {SHARE: "50"})
    wait_until(lambda: policy_of(app, maple["id"])["sharePercent"] == 50, what="50 % saved")


def test_an_item_is_created_from_a_sku_that_draws_on_none_and_linked_to_it(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/links.js `createFrom`, seed59): "Create an item" on a SKU under "Link a SKU" creates the item and
    links the SKU to it in one request (`inventoryItemCreate` `skuId`), once however often it is clicked; its
    on-hand left empty starts from TikTok's stock and the SKU's open orders, as an import seeds an item (prefilled
    with TikTok's stock alone, it counted those orders twice, tryout58 F2); a SKU no item can take (none typed, a NUL
    pasted, tryout58 F-low-c) is refused in words at its field, and nothing is made. A SKU whose seller SKU an item
    has is not offered Create (refused SKU_ALREADY_EXISTS after the fact, tryout58 F-low-e): that item is named."""
    # given Maple imported for m1 (about 1 SKU in 30 has no seller SKU at TikTok), and one of its SKUs with a seller
    # SKU unlinked by hand (its item, of that seller SKU, stays)
    app = console(products=40, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    bare = next(
        e["node"]["sku"]
        for e in app.graphql(UNLINKED, {"id": maple["id"]}, "m1")["unlinkedSkus"]["edges"]
        if e["node"]["state"] == "NO_SELLER_SKU"
    )
    linked = [(i, ln) for i in items(app) for ln in i["links"] if ln["sku"]["sellerSku"]]
    twin, unlinked = linked[0]
    other = next(i for i, _ in linked if i["id"] != twin["id"])
    done = app.graphql(UNLINK, {"input": {"skuId": unlinked["sku"]["id"]}}, "m1")["skuUnlink"]
    assert done["userErrors"] == [], done
    # when the merchant opens another item's page
    sign_in(page, app, "m1")
    page.goto(f"{app.url}/console/#/inventory/{other['id']}")
    expect(page.get_by_role("heading", name=other["sku"])).to_be_visible()
    # then the SKU unlinked by hand, whose seller SKU its item has, offers Link but no Create: its item is named
    named = f"{unlinked['sku']['sellerSku']} on Maple"
    row = page.locator("section.links tbody tr", has=page.get_by_role("button", name=f"Link {named}"))
    expect(row.locator(".twin")).to_have_text(f"Item {twin['sku']} has this seller SKU: open it to link the SKU there.")
    expect(row.get_by_role("button", name=f"Create an item from {named}")).to_have_count(0)
    expect(row.get_by_role("link", name=twin["sku"])).to_have_attribute("href", f"#/inventory/{twin['id']}")

    # when the merchant creates an item from the SKU with no seller SKU
    named = f"TikTok SKU {bare['tiktokSkuId']} on Maple"
    row = page.locator("section.links tbody tr", has=page.get_by_role("button", name=f"Link {named}"))
    expect(row.locator("td[data-label=Why]")).to_contain_text("No seller SKU")
    row.get_by_role("button", name=f"Create an item from {named}").click()
    dialog = page.get_by_role("dialog", name=f"Create an item from “{named}”")
    # then nothing is prefilled for its SKU nor its on-hand, which is optional (what empty means is said)
    expect(dialog.get_by_label("Item SKU")).to_have_value("")
    expect(dialog.get_by_label("On hand (units, optional)")).to_have_value("")
    expect(dialog.locator("#create-on-hand-help")).to_have_text(
        f"Leave empty to start from TikTok's stock, {bare['quantity']:,}, and its open orders: that stock leaves out "
        "the units of this SKU's unshipped orders, which Shopbridge adds and reserves on this item, so TikTok then "
        "shows what it shows now. Or type every unit you have, those of its unshipped orders included. Started from "
        "TikTok's stock, the item goes with this shop if the shop is deleted while no other shop links it; a count you "
        "type keeps it."
    )
    # and an empty SKU is refused in words, a NUL pasted in it at the field in the server's words for a control
    # character (GraphQL refuses a NUL before that rule), a negative on-hand at its field: nothing sent for the last two
    creates: list[str] = []
    page.on("request", lambda r: creates.append(r.url) if "inventoryItemCreate" in (r.post_data or "") else None)
    dialog.get_by_role("button", name="Create and link").click()
    expect(dialog.locator("#create-sku-error")).to_have_text(
        "Not saved: A SKU has 1 to 255 characters (this one is empty)."
    )
    dialog.get_by_label("Item SKU").fill("LAMP\u0000PLAIN")
    dialog.get_by_role("button", name="Create and link").click()
    expect(dialog.locator("#create-sku-error")).to_have_text(
        "Not saved: A SKU must not contain control characters or text-direction overrides (found U+0000)."
    )
    dialog.get_by_label("Item SKU").fill("LAMP-PLAIN")
    dialog.get_by_label("On hand (units, optional)").fill("-1")
    dialog.get_by_role("button", name="Create and link").click()
    expect(dialog.locator("#create-on-hand-error")).to_have_text(
        "Enter a whole number of units from 0 to 1,000,000,000, or leave it empty."
    )
    assert len(creates) == 1  # the empty SKU's, refused by the server
    # and an item SKU equal to an item's but for case is asked about first, as New item asks, and not sent
    # (tryout62 M5: created and linked at once, the look-alike then listed above the real item)
    look_alike = other["sku"].swapcase()
    dialog.get_by_label("Item SKU").fill(look_alike)
    dialog.get_by_label("On hand (units, optional)").fill("")
    dialog.get_by_role("button", name="Create and link").click()
    expect(dialog.locator("#create-sku-error")).to_have_text(
        f"{other['sku']} exists: create {look_alike} as a separate item? Press Create and link again to create it."
    )
    assert len(creates) == 1
    dialog.get_by_label("Item SKU").fill("LAMP-PLAIN")
    # and the on-hand emptied, Create and link double-clicked, one item is created from TikTok's stock (no open
    # orders here), the SKU linked to it, and its page shown
    dialog.get_by_label("On hand (units, optional)").fill("")
    sent = double_click_held(
        page, dialog.get_by_role("button", name="Create and link"),
        lambda request: "inventoryItemCreate" in (request.post_data or ""), "the creation held",
    )  # fmt: skip
    assert sent == 1
    expect(page.get_by_role("heading", name="LAMP-PLAIN")).to_be_visible()
    stock = f"{bare['quantity']:,}"
    expect(page.locator("#notice")).to_have_text(
        f"LAMP-PLAIN is created with {stock} on hand, 0 reserved by open orders ({stock} available), and {named} is "
        "linked to it: it now draws on this item."
    )
    expect(page.get_by_role("button", name=f"Unlink {named}")).to_be_visible()
    found = app.graphql(FIND, {"query": "LAMP-PLAIN"}, "m1")["inventoryItems"]["edges"]
    assert [(e["node"]["sku"], e["node"]["onHand"], e["node"]["links"]) for e in found] == [
        (
            "LAMP-PLAIN",
            bare["quantity"],
            [{"state": "LINKED", "source": "MANUAL", "sku": {"tiktokSkuId": bare["tiktokSkuId"]}}],
        )
    ]
    # and Inventory's list names that SKU as the item's page does (tryout66: "1730… (TikTok SKU 1730…)")
    row = open_inventory(page, "LAMP-PLAIN")
    expect(cell(row, "Shops")).to_have_text(re.compile(rf"^Maple · TikTok SKU {bare['tiktokSkuId']} · Linked, by you"))


def test_an_item_is_created_for_a_sku_typed_on_inventory_and_its_page_opens(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/inventory.js "New item"): Inventory creates an item for a SKU typed there and opens its page, where
    its shop SKUs are linked; a SKU another item has is refused in words, and a double-click creates one item. A
    merchant none of whose shop SKUs had a seller SKU had no item, so no item page, and no way to any "Link a SKU"."""
    # given m1 with one item, SB-OLD, on Inventory
    app = console(products=0, orders=0)
    done = app.graphql(CREATE, {"input": {"sku": "SB-OLD"}}, "m1")["inventoryItemCreate"]
    assert done["userErrors"] == [], done
    sign_in(page, app, "m1")
    form = inventory_listed(page)
    # when SB-OLD is created again, then it is refused in words under the SKU, and nothing is made
    form.get_by_label("Item SKU").fill("SB-OLD")
    form.get_by_role("button", name="Create item").click()
    expect(form.locator("#new-item-sku-error")).to_have_text(
        "An inventory item with this SKU already exists. Find it in Inventory instead."
    )
    # when a SKU with a NUL pasted in it is created, then it is refused at the field in the words the server's rule
    # gives any control character (GraphQL's layer refuses a NUL first, in its own words: tryout58 F-low-c), unsent
    creates: list[str] = []
    page.on("request", lambda r: creates.append(r.url) if "inventoryItemCreate" in (r.post_data or "") else None)
    form.get_by_label("Item SKU").fill("BOX\u00001")
    form.get_by_role("button", name="Create item").click()
    expect(form.locator("#new-item-sku-error")).to_have_text(
        "Not saved: A SKU must not contain control characters or text-direction overrides (found U+0000)."
    )
    assert creates == []
    # when BOX-1 with 12 on hand is created with a double click
    form.get_by_label("Item SKU").fill("BOX-1")
    form.get_by_label("On hand (units)").fill("12")
    sent = double_click_held(
        page, form.get_by_role("button", name="Create item"),
        lambda request: "inventoryItemCreate" in (request.post_data or ""), "the creation held",
    )  # fmt: skip
    # then one item is made, and its page opens, saying so
    assert sent == 1
    expect(page.get_by_role("heading", name="BOX-1")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("BOX-1 is created with 12 on hand. Link its shop SKUs below.")
    found = app.graphql(FIND, {"query": "BOX-1"}, "m1")["inventoryItems"]["edges"]
    assert [(e["node"]["sku"], e["node"]["onHand"]) for e in found] == [("BOX-1", 12)]


def test_a_new_item_whose_answer_was_lost_opens_once_read_or_says_it_was_not_created(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/inventory.js `answerLostFor`, js/api.js `itemBySku`, js/unsaved.js; console60's "Found but not
    fixed"): a New item whose answer was lost reads its SKU (unique per merchant): an item of it the read before the
    send did not find was made by it, and its page opens as an answered create's; none, "was not created" and the form
    keeps what was typed; one found before the send was not made by it. It said "Shopbridge cannot be reached" of an
    item made."""
    # given m1 with one item, SB-OLD, on Inventory
    app = console(products=0, orders=0)
    done = app.graphql(CREATE, {"input": {"sku": "SB-OLD"}}, "m1")["inventoryItemCreate"]
    assert done["userErrors"] == [], done
    sign_in(page, app, "m1")
    form = inventory_listed(page)
    error = form.locator("#new-item-sku-error")
    # when a New item is lost on its way (the server never sees it)
    lose_requests(page, "mutation NewItem")
    form.get_by_label("Item SKU").fill("LOST-1")
    form.get_by_label("On hand (units)").fill("12")
    form.get_by_role("button", name="Create item").click()
    # then the form says it was not created, keeping what was typed, and nothing was
    expect(error).to_have_text(
        "“LOST-1” was not created: Shopbridge has no item with this SKU. Press Create item to send it again."
    )
    expect(form.get_by_label("Item SKU")).to_have_value("LOST-1")
    expect(form.get_by_label("On hand (units)")).to_have_value("12")
    assert app.graphql(FIND, {"query": "LOST-1"}, "m1")["inventoryItems"]["edges"] == []
    # when SB-OLD is sent, its answer lost (refused: it exists)
    page.unroute("**/graphql")
    lose_answers(page, "mutation NewItem")
    form.get_by_label("Item SKU").fill("SB-OLD")
    form.get_by_role("button", name="Create item").click()
    # then the form says it was not created: an item of it existed before
    expect(error).to_have_text(
        "“SB-OLD” was not created: an inventory item with this SKU already exists. Find it in Inventory instead."
    )
    # when LOST-1 is sent again and its answer is lost after the server made it
    form.get_by_label("Item SKU").fill("LOST-1")
    form.get_by_role("button", name="Create item").click()
    # then its page opens saying it is created, as an answered create's does; one item was made
    expect(page.get_by_role("heading", name="LOST-1")).to_be_visible()
    expect(page.locator("#notice")).to_have_text("LOST-1 is created with 12 on hand. Link its shop SKUs below.")
    found = app.graphql(FIND, {"query": "LOST-1"}, "m1")["inventoryItems"]["edges"]
    assert [(e["node"]["sku"], e["node"]["onHand"]) for e in found] == [("LOST-1", 12)]
