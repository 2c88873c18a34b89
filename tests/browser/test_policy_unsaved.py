"""A shop's Push policy saved without an answer (tryout58 F-low-b) or not saved at all (F-low-d): the page says the
save may have been made, reads the policy and says whether it was; a form whose save failed stays marked "Not saved"
until it is saved or holds the policy saved again (js/unsaved.js, js/policy.js)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import lose_answers
from tests.browser.test_policy_tabs import open_policy
from tests.browser.test_pool_forms import policy_of
from tests.e2e.test_inventory_push import LINKED_COUNTS, UPDATE
from tests.fixtures.app import ShopbridgeServer

SAVED = "The push policy of “Maple” is saved. Its linked SKUs are pushed again."


def test_a_policy_whose_answer_was_lost_is_said_saved_and_one_never_saved_stays_marked_once_the_server_is_back(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        ws.connect_to_server()  # (every message forwarded)
        sockets.append(ws)

    page.route_web_socket("**/graphql", route)
    # given Maple's Push policy open (push on, 100 %)
    app = console(products=2, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    open_policy(page, app)
    share = page.get_by_label("Share of available shown (%)")
    push = page.get_by_label("Push stock to this shop")
    # when a save's answer is lost after the server saved it (the share at 66)
    lose_answers(page, "mutation PolicyUpdate")
    share.fill("66")
    page.get_by_role("button", name="Save push policy").click()
    # then the page says it is saved, as a save answered does, and shows the rule saved
    expect(page.locator("#notice")).to_have_text(SAVED)
    expect(page.locator("#policy-error")).to_be_hidden()
    expect(page.locator("#policy-unsaved")).to_be_hidden()
    expect(page.locator("#policy-effect")).to_contain_text("66 % of its item's available")
    assert policy_of(app, maple["id"])["sharePercent"] == 66

    # when push is turned off and the share set to 12, and the save never reaches the server
    page.unroute("**/graphql")
    page.route("**/graphql", lambda route: route.abort("internetdisconnected"))
    push.uncheck()
    share.fill("12")
    page.get_by_role("button", name="Save push policy").click()
    # then the page says it may have been saved, not that it was not
    expect(page.locator("#policy-error")).to_have_text(
        "The push policy of “Maple” may have been saved: Shopbridge did not answer. The page shows what is saved as "
        "soon as Shopbridge answers again."
    )
    # when the server answers again and the socket connects again
    page.unroute("**/graphql")
    sockets[-1].close(code=1001, reason="cut")
    # then the page says it was not saved, keeps the form as typed and marks it "Not saved", beside the rule saved
    expect(page.locator("#policy-error")).to_have_text(
        "The push policy of “Maple” was not saved: “What TikTok shows” says the policy saved. The form keeps your "
        "changes: press Save push policy to save them."
    )
    expect(page.locator("#policy-unsaved")).to_have_text(
        "Not saved: the form shows changes that are not saved. Press Save push policy to save them."
    )
    expect(push).not_to_be_checked()
    expect(share).to_have_value("12")
    expect(page.locator("#policy-effect")).to_contain_text("66 % of its item's available")
    assert policy_of(app, maple["id"])["pushEnabled"] is True
    # and the mark stays through a read of the policy (a reconnection), then goes once the form holds the policy saved
    with page.expect_response(lambda response: "query Policy" in (response.request.post_data or "")) as reread:
        sockets[-1].close(code=1001, reason="cut again")
    reread.value.finished()
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")  # (its answer handled)
    expect(page.locator("#policy-unsaved")).to_be_visible()
    expect(share).to_have_value("12")
    push.check()
    expect(page.locator("#policy-unsaved")).to_be_visible()
    share.fill("66")
    expect(page.locator("#policy-unsaved")).to_be_hidden()

    # and a save that failed then succeeds takes the mark away
    share.fill("0")
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#share-percent-error")).to_contain_text("whole percentage from 1 to 100")
    expect(page.locator("#policy-unsaved")).to_be_visible()
    share.fill("50")
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#notice")).to_have_text(SAVED)
    expect(page.locator("#policy-unsaved")).to_be_hidden()


def test_turning_push_on_with_a_maximum_of_0_saved_while_off_is_asked_first(
    console: Callable[..., ShopbridgeServer], page: Page
) -> None:
    """Rule (js/policy.js `zeroesMost`): a save that turns push on weighs the whole policy it turns on, whenever its
    fields were saved (tryout63 F2: "Most units shown" 0 saved while push was off, then push turned on, pushed every
    linked SKU 0, not one question)."""
    # given Maple with push off and "Most units shown" 0, saved while off (the form asks nothing then: nothing shows)
    app = console(products=2, orders=0)
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    off = {"shopId": maple["id"], "pushEnabled": False, "maxQuantity": 0}
    assert app.graphql(UPDATE, {"input": off}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    every = app.graphql(LINKED_COUNTS, {"id": maple["id"], "n": 0}, "m1")["shop"]["every"]
    assert every > 0
    open_policy(page, app)
    # when the merchant ticks "Push stock to this shop" and saves
    page.get_by_label("Push stock to this shop").check()
    page.get_by_role("button", name="Save push policy").click()
    # then the maximum's line asks first, saying push is being turned on, and push stays off
    expect(page.locator("#max-quantity-error")).to_have_text(
        f"Turning push on: at most 0 units shown, {every:,} of the {every:,} linked SKUs of “Maple” would show 0 on "
        "TikTok (push is off now): the shop would look sold out. For no maximum, leave Most units shown empty; to "
        "save 0, press Save push policy again."
    )
    assert policy_of(app, maple["id"])["pushEnabled"] is False
    # when Save is pressed again, then push is on with that maximum
    page.get_by_role("button", name="Save push policy").click()
    expect(page.locator("#notice")).to_have_text(SAVED)
    assert policy_of(app, maple["id"]) == {
        "pushEnabled": True, "sharePercent": 100, "maxQuantity": 0, "outOfStockThreshold": 0,
    }  # fmt: skip
