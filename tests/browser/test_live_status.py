"""The console's live status past the per-merchant WebSocket cap (SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT): the
server closes the tab's socket 1008 `TOO_MANY_CONNECTIONS: at most N …`; the header says why and what to do, the
tab keeps working over HTTP and asks again after a minute or on Retry, not every 10 s (try-out newcomer54,
finding 1)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, WebSocket, expect
from starlette.routing import WebSocketRoute

from gql.socket_slots import SocketSlots
from tests.browser.conftest import sign_in
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id } userErrors { code } } }"""
SET_ON_HAND = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  inventoryItem { onHand } userErrors { code } } }"""
CLOCK_START_MS = 1_800_000_000_000  # the second tab's clock: any instant will do
HOUR_MS = 3_600_000
CROWDED = (
    "Live updates are off: too many Shopbridge tabs or connections are open for this account (at most 1). "
    "Close one, then Retry."
)


def _socket_slots(app: ShopbridgeServer) -> SocketSlots:
    """The served app's count of open sockets per merchant (read only: what the test waits on)."""
    route = next(r for r in app.asgi.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql")
    slots: SocketSlots = route.endpoint.socket_slots  # type: ignore[attr-defined]
    return slots


def test_a_tab_past_the_socket_cap_says_why_keeps_working_and_retries_slowly_or_on_retry(
    console: Callable[..., ShopbridgeServer], new_page: Callable[..., Page]
) -> None:
    app = console(max_websockets_per_merchant=1)
    slots = _socket_slots(app)
    made = app.graphql(CREATE, {"input": {"sku": "SHELF-1", "onHand": 1}}, "m1")["inventoryItemCreate"]
    assert made["userErrors"] == []
    # given a first tab of m1, live: it holds m1's one socket
    first = new_page()
    sign_in(first, app, "m1")
    expect(first.locator("#live")).to_have_text("Live")
    wait_until(lambda: slots.held("m1") == 1, "the first tab's socket")

    # when m1 opens a second tab, its timers on a clock only the test moves: paused before the page loads, since an
    # installed clock also flows with real time, and a second of it between the refusal and `run_for` (a loaded
    # machine's) fired the minute's retry before "59 s later" (flake62)
    second = new_page()
    second.clock.install(time=CLOCK_START_MS)
    second.clock.pause_at(CLOCK_START_MS + HOUR_MS)  # ahead of the real time flowed since: no page, nothing fires
    opened: list[WebSocket] = []
    second.on("websocket", lambda ws: opened.append(ws))
    sign_in(second, app, "m1")

    # then its header says why live updates are off and what to do, with a Retry button
    expect(second.locator("#live")).to_have_text(CROWDED)
    retry = second.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    assert len(opened) == 1
    # and it does not knock every 10 s: 59 s later it has still asked once
    second.clock.run_for(59_000)
    expect(second.locator("#live")).to_have_text(CROWDED)
    assert len(opened) == 1, [ws.url for ws in opened]
    # while its pages work over HTTP
    second.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    row = second.locator("tbody tr", has=second.get_by_role("link", name="SHELF-1", exact=True))
    expect(row.locator("td[data-label='On hand']")).to_have_text("1")
    # and the item is counted again elsewhere meanwhile: nothing can tell this tab
    counted = {"inventoryItemId": made["inventoryItem"]["id"], "onHand": 9}
    assert app.graphql(SET_ON_HAND, {"input": counted}, "m1")["inventorySetOnHand"]["userErrors"] == []
    # after a minute it asks once more (still refused: the first tab is open)
    second.clock.run_for(2_000)
    wait_until(lambda: len(opened) == 2 or second.evaluate("() => false"), "the second tab's retry after a minute")
    expect(second.locator("#live")).to_have_text(CROWDED)

    # when the first tab is closed, and its slot is back, Retry makes the second tab live at once
    first.close()
    wait_until(lambda: slots.held("m1") == 0, "the first tab's slot")
    retry.click()
    expect(second.locator("#live")).to_have_text("Live")
    expect(retry).to_be_hidden()
    assert len(opened) == 3
    # and it reads the page again, as after a reconnection: what changed while it was refused was never pushed
    expect(row.locator("td[data-label='On hand']")).to_have_text("9")
