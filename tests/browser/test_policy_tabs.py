"""A shop's Push policy open in two tabs (tryout58 F1): a save sends only the fields changed on its page (the API
keeps the others, `ShopInventoryPolicyUpdateInput`), and each tab follows what the other saved (`shopsUpdated` sends
a shop whose `inventoryPolicy` changed), saying so, and keeping the edits it has not saved yet."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import answer_first_later, deliver, sign_in, wait_held
from tests.browser.test_pool_forms import policy_of
from tests.e2e.test_inventory_item_delete_unpushed import PUSH_OFF
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

CHANGED = "This push policy was changed in another tab or on another device"


def open_policy(page: Page, app: ShopbridgeServer) -> None:
    sign_in(page, app, "m1")
    page.get_by_role("link", name="Push policy of Maple").click()
    expect(page.get_by_label("Share of available shown (%)")).to_have_value("100")


def test_a_tab_left_open_follows_the_policy_saved_in_another_and_never_undoes_it(
    console: Callable[..., ShopbridgeServer], new_page: Callable[..., Page]
) -> None:
    # given Maple's Push policy open in tab A and tab B (push on, 100 %)
    app = console(products=2, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    a, b = new_page(), new_page()
    open_policy(a, app)
    open_policy(b, app)
    expect(b.get_by_role("status").filter(has_text="Live")).to_be_visible()

    # when tab A turns push off
    a.get_by_label("Push stock to this shop").uncheck()
    a.get_by_role("button", name="Save push policy").click()
    expect(a.locator("#policy-effect")).to_contain_text("Shopbridge pushes no stock to this shop")
    # then tab B, not reloaded, shows it, and says it changed elsewhere
    expect(b.get_by_label("Push stock to this shop")).not_to_be_checked()
    expect(b.locator("#policy-effect")).to_contain_text("Shopbridge pushes no stock to this shop")
    expect(b.locator("#policy-changed")).to_have_text(
        f"{CHANGED}: the form and “What TikTok shows” follow the saved policy."
    )
    assert a.locator("#policy-changed").text_content() == ""  # tab A's own save is no news to it

    # when tab B changes the share (an edit not saved yet) and tab A meanwhile sets a maximum
    b.get_by_label("Share of available shown (%)").fill("30")
    a.get_by_label("Most units shown").fill("10")
    a.get_by_role("button", name="Save push policy").click()
    expect(a.locator("#notice")).to_contain_text("is saved")
    # then tab B shows the maximum and keeps its share as typed, saying so
    expect(b.get_by_label("Most units shown")).to_have_value("10")
    expect(b.get_by_label("Share of available shown (%)")).to_have_value("30")
    expect(b.locator("#policy-changed")).to_contain_text("except the fields you changed here and did not save yet")

    # when tab B saves its share: then only the share is changed, push stays off and the maximum stays
    b.get_by_role("button", name="Save push policy").click()
    expect(b.locator("#notice")).to_contain_text("is saved")
    assert policy_of(app, maple["id"]) == {
        "pushEnabled": False, "sharePercent": 30, "maxQuantity": 10, "outOfStockThreshold": 0,
    }  # fmt: skip
    # and tab A follows it in turn
    expect(a.get_by_label("Share of available shown (%)")).to_have_value("30")


def test_a_policy_read_answered_before_a_change_heard_since_shows_the_change(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/policy.js: a change heard while the page reads the policy is read again after it): the page's read,
    answered by the server before a change saved elsewhere whose message reached the page first, showed the older
    policy for good (the message came before the page's own read, which it leaves to tell, flake65)."""
    # given Maple pushed, its Push policy opened, the page's read answered by the server then, slow on its way back
    app = console(products=0, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    heard: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: heard.append(str(frame))))
    sign_in(page, app, "m1")
    held = answer_first_later(page, "query Policy")
    page.get_by_role("link", name="Push policy of Maple").click()
    wait_held(page, held, "the policy's read answered")
    # when push is turned off elsewhere, and the page hears it
    heard.clear()
    assert app.graphql(PUSH_OFF, {"id": maple["id"]}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    wait_until(lambda: any('"pushEnabled":false' in f for f in heard) or page.evaluate("() => false"), "the change")
    # then the read's answer, from before, comes in, and the page shows push off
    deliver(page, held)
    expect(page.get_by_label("Push stock to this shop")).not_to_be_checked()
