"""The console at 360 px with the keyboard alone, and a shop's products and orders page by page (issue 10)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, Page, expect

from gql.ids import to_global_id
from tests.browser.conftest import (
    a_page_turn,
    double_click_held,
    hold_first,
    let_through,
    record_departures,
    sign_in,
    turn_a_page_offline,
    wait_held,
)
from tests.e2e.test_inventory_push import pooled_items, sellable_skus, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

PRODUCT_COUNT = "query($id: ID!) { shop(id: $id) { productCount } }"
PRODUCT_STATUSES = "query($id: ID!) { shop(id: $id) { products(first: 20) { edges { node { status } } } } }"
SELLER_CENTER_WORDS = {
    "ACTIVATE": "Live",
    "DRAFT": "Draft",
    "PENDING": "In review",
    "FAILED": "Failed review",
    "SELLER_DEACTIVATED": "Deactivated by you",
    "PLATFORM_DEACTIVATED": "Deactivated by TikTok",
    "FREEZE": "Frozen by TikTok",
    "DELETED": "Deleted",
}
RENAME_SHOP = "mutation($input: ShopRenameInput!) { shopRename(input: $input) { userErrors { code message } } }"
FIRST_ORDERS = """query($id: ID!) { shop(id: $id) { orders(first: 20) { edges { node { tiktokOrderId status
  lineItems { tiktokLineItemId tiktokSkuId sellerSku displayStatus } } } } } }"""
ORDERS_BY_STATUS = """query($id: ID!, $status: OrderStatus) { shop(id: $id) { orders(status: $status) { totalCount }
  all: orders { totalCount } } }"""


FOCUSED_NAME = """(() => { const el = document.activeElement;
  return (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent).trim(); })()"""


def tab_to(page: Page, name: str, presses: int = 15) -> None:
    """Press Tab until the focused element is named `name` (its text or label); fails after `presses`."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_NAME)
        if focused == name:
            return
    raise AssertionError(f"{name!r} was not reached with {presses} presses of Tab")


def test_at_360_px_wide_everything_fits_and_works_from_the_keyboard(
    console: Callable[..., ShopbridgeServer], new_page: Callable[..., Page]
) -> None:
    app = console()
    shop = app.connect_shop("m1", "us-local", "US", "Narrow shop")
    app.wait_for_idle_sync()
    page = new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{app.url}/console/")
    expect(page.get_by_label("Merchant token")).to_be_focused()
    page.keyboard.insert_text(app.token("m1"))
    tab_to(page, "Sign in")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Store management")).to_be_visible()
    row = page.locator("tbody tr", has_text="Narrow shop")
    expect(row).to_contain_text("Maple Street Goods")
    # nothing sticks out sideways, and each action is on screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # (measured in one script run: a shopUpdated arriving late, e.g. the webhook registration's outcome, re-renders
    # the row, and a button measured through a locator may be the one just detached: no box, seen at load 7-10)
    boxes = page.evaluate(
        """name => {
            const tr = [...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes(name));
            return [...tr.querySelectorAll("td.actions button")].map((b) => {
                const r = b.getBoundingClientRect();
                return { label: b.getAttribute("aria-label"), x: r.x, width: r.width, height: r.height };
            });
        }""",
        "Narrow shop",
    )
    assert [b["label"] for b in boxes] == ["Re-authorize Narrow shop", "Sync Narrow shop now", "Delete Narrow shop"]
    for box in boxes:
        assert box["height"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    # the keyboard reaches the rename pencil, whose focus is visible, and renames the shop
    tab_to(page, "Rename Narrow shop", presses=30)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    page.keyboard.press("Enter")
    expect(row.get_by_label("New name for Narrow shop")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text("Small shop")
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_have_text("The shop is now named “Small shop”.")
    # and the Add store flow, by keyboard only
    page.get_by_role("link", name="Add store").focus()
    page.keyboard.press("Enter")
    # (the walk starts once the router has shown the page and put the focus on it: the `hashchange` that does so is a
    # task of the page, which a loaded renderer may run after the test's first presses of Tab, spent on Store
    # management: seed 6203 under load, flake62)
    expect(page.get_by_role("heading", name="Add store", exact=True)).to_be_visible()
    expect(page.locator("main")).to_be_focused()
    tab_to(page, "Authorize")
    page.keyboard.press("Enter")
    tab_to(page, "My TikTok Shop is a local shop in a supported region")
    page.keyboard.press("Space")
    tab_to(page, "Next")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Step 3 of 3: Region and name")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # a shop name of the most characters (64): the Task Center's tasks and its Sync now picker stay inside the
    # screen, at 360 px and at 1280 (before, 64 "W" made the page 1206 px wide at 375 and 1312 at 1280, and 64 CJK
    # characters a picker 614 px wide), and each shows the whole name on hover (title)
    for name in ("W" * 64, "店" * 64):
        renamed = app.graphql(RENAME_SHOP, {"input": {"shopId": shop["id"], "name": name}}, "m1")["shopRename"]
        assert renamed["userErrors"] == [], renamed
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 740})
            page.goto(f"{app.url}/console/#/stores")
            page.goto(f"{app.url}/console/#/tasks")
            # (the connection's two tasks share their createdAt: which of them comes first is their ids' order)
            whole = re.compile(rf"^(Products|Orders) · {re.escape(name)}$")
            expect(page.locator("li.task h2").first).to_have_attribute("title", whole)
            expect(page.get_by_label("Shop to sync").locator("option")).to_have_attribute("title", name)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
            picker = page.get_by_label("Shop to sync").bounding_box()
            assert picker is not None and picker["x"] + picker["width"] <= width, (name, width, picker)
    # "Skip to content", the keyboard's first stop, moves the focus to the page shown, which stays (before: its
    # address, `#main`, was routed as Store management's, and the Task Center was left for it)
    page.get_by_role("link", name="Skip to content").focus()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert page.evaluate("() => location.hash") == "#/tasks"
    expect(page.get_by_role("heading", name="Task Center")).to_be_visible()


DELETE_SHOP = "mutation($input: ShopDeleteInput!) { shopDelete(input: $input) { deletedShopId userErrors { code } } }"
RENAME_SHOP = "mutation($input: ShopRenameInput!) { shopRename(input: $input) { shop { name } userErrors { code } } }"


def test_products_and_orders_of_a_shop_page_by_page(console: Callable[..., ShopbridgeServer], page: Page) -> None:
    """Products and orders 20 a page, orders filtered by status. The page shown and the filter are kept in the address
    (js/catalog.js: a reload or Back lost them; try-out console51), and a shop deleted in another tab ends its page
    ("This shop was deleted": it kept listing the orders). A shop renamed there renames the page's heading at once
    (js/shopnames.js `shopsUpdated`; the heading kept the old name until a reload, try-out verify51). An order's line
    the seller cancelled alone at TikTok is struck through and labelled cancelled, and not counted among the items (it
    showed as one more item to ship: try-outs livesync52, newcomer52)."""

    def rename(name: str) -> None:
        done = app.graphql(RENAME_SHOP, {"input": {"shopId": shop["id"], "name": name}}, "m1")["shopRename"]
        assert done["userErrors"] == [], done

    app = console(products=30, orders=80)
    shop = app.connect_shop("m1", "us-local", "US", "Paged shop")
    app.wait_for_idle_sync()
    sign_in(page, app, "m1")
    row = page.locator("tbody tr", has_text="Paged shop")
    expect(row.get_by_role("link", name="30 products of Paged shop")).to_be_visible()
    row.get_by_role("link", name="30 products of Paged shop").click()
    expect(page.get_by_role("heading", name="Products of “Paged shop”")).to_be_visible()
    summary = page.locator("main p.muted").first
    expect(summary).to_have_text("1 to 20 of 30")
    expect(page.locator("tbody tr")).to_have_count(20)
    # each product's status in Seller Center's words: one on sale is "Live" (TikTok's ACTIVATE read "Activate")
    statuses = [
        e["node"]["status"]
        for e in app.graphql(PRODUCT_STATUSES, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    ]
    assert "ACTIVATE" in statuses
    expect(page.locator("tbody tr td[data-label='Status']")).to_have_text([SELLER_CENTER_WORDS[s] for s in statuses])
    previous, following = page.get_by_role("button", name="Previous page"), page.get_by_role("button", name="Next page")
    expect(previous).to_be_disabled()
    following.click()
    expect(summary).to_have_text("21 to 30 of 30")
    expect(page.locator("tbody tr")).to_have_count(10)
    expect(following).to_be_disabled()
    # the page shown is kept in the address: a reload shows it again, and Previous page still leads back
    page.reload()
    expect(summary).to_have_text("21 to 30 of 30")
    previous.click()
    expect(summary).to_have_text("1 to 20 of 30")
    # when the shop is renamed in another tab (and back), then the heading follows at once, the rows staying
    rename("Paged shop West")
    expect(page.get_by_role("heading", level=1)).to_have_text("Products of “Paged shop West”")
    rename("Paged shop")
    expect(page.get_by_role("heading", level=1)).to_have_text("Products of “Paged shop”")
    expect(summary).to_have_text("1 to 20 of 30")

    # orders: one line of an open order on the first page cancelled alone at TikTok (item-level cancellation), its
    # webhook in
    def first_orders() -> list[dict[str, Any]]:
        edges = app.graphql(FIRST_ORDERS, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
        return [e["node"] for e in edges]

    open_order = next(o for o in first_orders() if o["status"] == "AWAITING_SHIPMENT" and len(o["lineItems"]) > 1)
    cancelled = open_order["lineItems"][0]
    app.sandbox.control(
        "POST",
        f"/orders/{open_order['tiktokOrderId']}/line-items/cancel",
        {"line_item_ids": [cancelled["tiktokLineItemId"]]},
    )
    wait_until(
        lambda: any(o["tiktokOrderId"] == open_order["tiktokOrderId"] and
                    o["lineItems"][0]["displayStatus"] == "CANCELLED" for o in first_orders()),
        what="the line's cancellation",
    )  # fmt: skip
    page.get_by_role("link", name="Back to Store management").click()
    counts = app.graphql(ORDERS_BY_STATUS, {"id": shop["id"], "status": "CANCELLED"}, "m1")["shop"]
    row.get_by_role("link", name=f"{counts['all']['totalCount']} orders of Paged shop").click()
    expect(page.get_by_role("heading", name="Orders of “Paged shop”")).to_be_visible()
    expect(summary).to_have_text(f"1 to 20 of {counts['all']['totalCount']}")
    # the cancelled line is struck through and says why and by whom; the order's other lines are its items
    order_row = page.locator("tbody tr", has_text=open_order["tiktokOrderId"])
    expect(order_row.locator("td:nth-child(2)")).to_have_text("Awaiting shipment")
    lines = order_row.locator("td[data-label=Lines] div")
    expect(lines).to_have_count(len(open_order["lineItems"]))
    expect(lines.first.locator("del")).to_have_text(cancelled["sellerSku"] or cancelled["tiktokSkuId"])
    expect(lines.first).to_contain_text("Cancelled (Out of stock, by seller)")
    expect(lines.locator("del")).to_have_count(1)
    expect(order_row.locator("td[data-label=Items]")).to_have_text(str(len(open_order["lineItems"]) - 1))
    page.get_by_label("Status").select_option("CANCELLED")
    expected = counts["orders"]["totalCount"]
    assert expected != counts["all"]["totalCount"]  # the filter shows a different page
    if expected:
        expect(summary).to_have_text(f"1 to {min(20, expected)} of {expected}")
        for status in page.locator("tbody tr td:nth-child(2)").all_text_contents():
            assert status == "Cancelled"
    else:
        expect(summary).to_have_text("No order matches.")
    # the filter is kept in the address: Back from Store management shows the same filtered list
    shown = summary.text_content()
    page.get_by_role("link", name="Back to Store management").click()
    expect(page.get_by_role("heading", name="Store management")).to_be_visible()
    page.go_back()
    expect(page.get_by_label("Status")).to_have_value("CANCELLED")
    expect(summary).to_have_text(shown or "")
    # when the shop is renamed in another tab, then the orders' heading takes the new name at once
    rename("Paged shop East")
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders of “Paged shop East”")
    expect(summary).to_have_text(shown or "")
    # when the shop is deleted in another tab, then this page says so and shows none of its orders
    done = app.graphql(DELETE_SHOP, {"input": {"shopId": shop["id"]}}, "m1")["shopDelete"]
    assert done["userErrors"] == [], done
    expect(page.get_by_role("heading", name="This shop was deleted")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(0)


def test_a_double_click_on_next_page_turns_one_page_and_a_turn_that_failed_stays_on_the_page_shown(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/catalog.js `turn`): a page turn changes the pages walked once its page is shown, and both buttons wait
    for it. A double-click on Next page read the second page twice and labelled it "41 to 60" (Previous page then
    showed it again), and a turn that failed (offline) counted a page never shown, so the next Next skipped one."""
    app = console(products=45, orders=0)
    app.connect_shop("m1", "us-local", "US", "Paged shop")
    app.wait_for_idle_sync()
    sign_in(page, app, "m1")
    page.locator("tbody tr", has_text="Paged shop").get_by_role("link", name="45 products of Paged shop").click()
    summary = page.locator("main p.muted").first
    expect(summary).to_have_text("1 to 20 of 45")
    titles = page.locator("tbody tr td:first-child")
    first_page = titles.all_text_contents()
    # when the merchant double-clicks Next page while the page is on its way
    next_page = page.get_by_role("button", name="Next page")
    turns = double_click_held(page, next_page, a_page_turn, "the page turn held")
    # then one page was turned, and it says so
    expect(summary).to_have_text("21 to 40 of 45")
    assert turns == 1
    second_page = titles.all_text_contents()
    assert len(second_page) == 20 and not set(second_page) & set(first_page)
    # when the next turn fails (the network gone)
    turn_a_page_offline(page)
    # then the page shown stays, with its number, and both turns work from it
    expect(summary).to_have_text("21 to 40 of 45")
    page.get_by_role("button", name="Next page").click()
    expect(summary).to_have_text("41 to 45 of 45")
    expect(titles).to_have_count(5)
    page.get_by_role("button", name="Previous page").click()
    expect(summary).to_have_text("21 to 40 of 45")
    expect(titles).to_have_text(second_page)
    page.get_by_role("button", name="Previous page").click()
    expect(summary).to_have_text("1 to 20 of 45")
    expect(titles).to_have_text(first_page)


ICON_DRAWN = """async () => {
  const answer = await fetch(document.querySelector("link[rel=icon]").href);
  const bitmap = await createImageBitmap(await answer.blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const alpha = (x, y) => context.getImageData(x, y, 1, 1).data[3];
  return {status: answer.status, width: bitmap.width, height: bitmap.height, corner: alpha(0, 0), middle: alpha(8, 8)};
}"""


def test_the_console_tab_shows_the_icon(console: Callable[..., ShopbridgeServer], page: Page) -> None:
    # given the console's page, whose icon link points at the icon every page gets (/favicon.ico)
    app = console()
    page.goto(f"{app.url}/console/")
    # when the browser decodes the image its icon link names
    drawn = page.evaluate(ICON_DRAWN)
    # then it is a 16 x 16 image, transparent at its rounded corner and opaque within
    assert drawn == {"status": 200, "width": 16, "height": 16, "corner": 0, "middle": 255}, drawn


def test_a_pooled_skus_stock_on_the_products_page_is_what_the_pool_set_at_tiktok(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (schema: `Sku.quantity` is TikTok's stock as last known, the newer of its product's last read and the
    pool's last push that landed; README "A SKU's TikTok stock"): the Products page shows, for a SKU linked to the
    pool, the quantity the pool last set at TikTok. It showed the import's read, e.g. "483 in stock" while TikTok
    (and the pool) had 794, for as long as no poll read the product again."""
    # given a shop whose imported SKU's item the merchant counts at 7 units, pushed to TikTok
    app = console(products=6, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Counted shop")
    app.wait_for_idle_sync()
    on_sale = sellable_skus(app, shop["tiktokShopId"])  # a product not ACTIVATE is not pushed
    item = next(
        i
        for i in pooled_items(app, "SB-")
        if len(i["links"]) == 1 and i["available"] != 7 and i["links"][0]["sku"]["tiktokSkuId"] in on_sale
    )
    (link,) = item["links"]
    set_on_hand(app, item["id"], 7)
    wait_until(lambda: stock_of(app, shop["tiktokShopId"], link["sku"]["tiktokSkuId"]) == 7, what="the push")
    # and a product the seller prices beyond a double's exact digits, and at one decimal (webhook 16 brings it)
    prices = {"HUGE-1": "12345678901234567890.12", "HUGE-2": "99999999999999.99", "HALF-1": "12.5"}
    skus = [{"seller_sku": sku, "quantity": 1, "price": price} for sku, price in prices.items()]
    app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/products", {"title": "Dear", "skus": skus})
    wait_until(lambda: app.graphql(PRODUCT_COUNT, {"id": shop["id"]}, "m1")["shop"]["productCount"] == 7, what="it")
    # when the merchant opens the shop's products
    sign_in(page, app, "m1")
    page.locator("tbody tr", has_text="Counted shop").get_by_role("link", name="7 products of Counted shop").click()
    expect(page.get_by_role("heading", name="Products of “Counted shop”")).to_be_visible()
    # then the SKU shows the 7 units TikTok has, not the import's read
    line = page.locator("td[data-label=SKUs] div", has_text=item["sku"]).first
    expect(line).to_contain_text(re.compile(r"· 7 in stock$"))
    # and each price digit for digit, in the browser's words (en-US; try-out regions53: Number() made the first
    # $12,345,678,901,234,567,000.00 and the second $99,999,999,999,999.98)
    for sku, shown in (("HUGE-1", "$12,345,678,901,234,567,890.12"), ("HUGE-2", "$99,999,999,999,999.99"),
                       ("HALF-1", "$12.50")):  # fmt: skip
        expect(page.locator("td[data-label=SKUs] div", has_text=sku)).to_have_text(f"{sku} · {shown} · 1 in stock")


def test_graphiql_whose_scripts_cannot_load_says_why_and_what_to_do(
    console: Callable[..., ShopbridgeServer], browser: Browser
) -> None:
    """Rule (README "Web console": GraphiQL loads its scripts from a CDN, or from `SHOPBRIDGE_GRAPHIQL_ASSETS_URL`):
    when they cannot load (no internet, a firewall, a mirror down or serving other bytes), the page says so and
    names the setting and the console. It said "Loading..." for ever: the README's first step, on a machine
    without internet, led to a page that never came."""
    # given a mirror that does not answer (nothing listens on port 9)
    app = console(graphiql_assets_url="http://127.0.0.1:9/npm")
    # when a browser opens GraphiQL (GraphiQL's own start-up script then fails: not this test's concern, so a page
    # of its own, without the `page` fixture's check for errors)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{app.url}/graphql")
        # then the page says why and what to do instead
        shown = page.locator("#graphiql")
        expect(shown).to_contain_text("GraphiQL could not load its scripts from http://127.0.0.1:9/npm")
        expect(shown).to_contain_text("SHOPBRIDGE_GRAPHIQL_ASSETS_URL")
        expect(shown).to_contain_text("/console/")
    finally:
        context.close()


def test_graphiql_whose_scripts_cannot_load_throws_no_error_of_its_own(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (gql/view.py `_guard_startup`): GraphiQL's start-up script runs only once its scripts loaded. Offline it
    threw "Cookies is not defined" (Strawberry's graphiql.html reading Django's CSRF cookie through js-cookie, which
    had not loaded) into the browser's console beside the page's notice (newcomer57 F5). The `page` fixture fails
    the test on any error thrown in the page."""
    # given a mirror that does not answer (nothing listens on port 9)
    app = console(graphiql_assets_url="http://127.0.0.1:9/npm")
    # when a browser opens GraphiQL
    page.goto(f"{app.url}/graphql")
    # then the page says why, and nothing else went wrong in it (checked by the fixture once the test ends)
    expect(page.locator("#graphiql")).to_contain_text("GraphiQL could not load its scripts")


def test_an_address_with_a_malformed_escape_shows_the_not_found_page(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/app.js `segment`): an id in the address that cannot be decoded (a truncated percent-escape, as a
    pasted link cut short gives) is an id of nothing: its page says "... not found", as for any unknown id. Before,
    `decodeURIComponent` threw an uncaught URIError in the router (a page error, which fails this test through the
    fixture) and the previous page stayed on screen under the new address.

    The page never showed what the id names, so it does not say "does not exist any more": the API answers another
    merchant's shop or item as it answers a deleted one, and a merchant signed in with the wrong token read that as
    "my shop was deleted" (tryout62 M2: the item page; tryout63 M1: a shop's products, orders and policy pages)."""
    app = console()
    sign_in(page, app, "m1")
    for address, gone, noun in (
        ("#/inventory/%E0%A4%A", "Item not found", "inventory item"),
        ("#/shops/%E0%A4%A/policy", "Shop not found", "shop"),
        ("#/shops/%E0%A4%A/products", "Shop not found", "shop"),
        ("#/shops/%E0%A4%A/orders", "Shop not found", "shop"),
    ):
        # given the Task Center shown; when the merchant opens an address whose id ends in a truncated escape
        page.evaluate("() => { location.hash = '#/tasks'; }")
        expect(page.get_by_role("heading", name="Task Center")).to_be_visible()
        page.evaluate("(to) => { location.hash = to; }", address)
        # then its page says the id is of nothing, in place of the page shown before: none of this merchant's
        expect(page.get_by_role("heading", name=gone)).to_be_visible()
        expect(page.get_by_role("heading", name="Task Center")).to_have_count(0)
        expect(page.locator("main p").first).to_contain_text(
            f"No {noun} with this id is yours as you are signed in: it was deleted, or it is another merchant's"
        )


def test_an_answer_landing_after_the_merchant_left_its_page_leaves_the_page_shown_alone(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/app.js `route`: a page's GraphQL answers reach it only while it is shown): an answer that comes in
    after the merchant went to another page does nothing. A shop's Products page or an item's page whose read came in
    then put "Shop not found" or "Item not found" in place of the page shown, and Add store's Authorize took the
    merchant from that page to TikTok's consent page."""
    app = console()
    sign_in(page, app, "m1")
    departures = record_departures(page)
    task_center = page.get_by_role("navigation", name="Main").get_by_role("link", name="Task Center")
    nowhere = "0" * 32  # an id of nothing
    for address, operation, gone in (
        (f"#/shops/{to_global_id('Shop', nowhere)}/products", "query Products", "Shop not found"),
        (f"#/inventory/{to_global_id('InventoryItem', nowhere)}", "query Item", "Item not found"),
    ):
        # given a page whose read is held on its way (the server slow on it)
        held = hold_first(page, operation)
        page.evaluate("(to) => { location.hash = to; }", address)
        wait_held(page, held, f"{operation} held")
        # when the merchant goes to the Task Center, and the read comes in then
        task_center.click()
        expect(page.get_by_role("heading", name="Task Center")).to_be_visible()
        let_through(page, held)
        # then the Task Center stays (before: the left page's "... not found" replaced it)
        expect(page.get_by_role("heading", name=gone)).to_have_count(0)
        expect(page.get_by_role("heading", name="Task Center")).to_be_visible()

    # given Add store's Authorize, its answer (TikTok's consent page) held on its way
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Store management").click()
    page.get_by_role("link", name="Add store").click()
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.get_by_label("My TikTok Shop is a local shop in a supported region").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("TikTok Shop region").select_option("US")
    page.get_by_label("Custom shop name").fill("Left behind")
    held = hold_first(page, "mutation Start")
    page.get_by_role("button", name="Authorize", exact=True).click()
    wait_held(page, held, "the authorization's start held")
    # when the merchant goes to the Task Center, and the answer comes in then
    task_center.click()
    expect(page.get_by_role("heading", name="Task Center")).to_be_visible()
    let_through(page, held)
    # then the merchant stays in the Task Center (before: taken to TikTok's consent page)
    assert departures() == []
    expect(page.get_by_role("heading", name="Task Center")).to_be_visible()
