"""Add store's choice of stock push (decide62; tryout61 F5), over real HTTP against the sandbox, on both databases.

A merchant whose first shop brought its SKUs into the pool connects a second shop sharing seller SKUs: its SKUs join
those items at the import. `shopAuthorizationStart(pushEnabled: false)` makes the new shop start with push off, so
TikTok keeps its stock (no Update Inventory reaches the sandbox) until the merchant turns push on; `joinedSkuCount`
says how many SKUs joined. A re-authorization through Add store keeps the shop's policy whatever it asks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import event

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

START = """mutation($input: ShopAuthorizationStartInput!) {
  shopAuthorizationStart(input: $input) { authorizationUrl userErrors { code field } } }"""
COMPLETE = """mutation($input: ShopAuthorizationCompleteInput!) { shopAuthorizationComplete(input: $input) {
  alreadyConnected shop { id inventoryPolicy { pushEnabled } } userErrors { code } } }"""
POOL = "query($id: ID!) { shop(id: $id) { joinedSkuCount linkedSkuCount inventoryPolicy { pushEnabled } } }"
PUSH_ON = """mutation($id: ID!) { shopInventoryPolicyUpdate(input: {shopId: $id, pushEnabled: true}) {
  userErrors { code } } }"""


def add_store(app: ShopbridgeServer, seller: str, region: str, name: str, **choice: Any) -> dict[str, Any]:
    """Add store of `seller`'s shop with the given `pushEnabled` (none: left out), approved and completed."""
    start = {"region": region, "name": name, "regionConfirmed": True, **choice}
    started = app.graphql(START, {"input": start}, "m1")["shopAuthorizationStart"]
    assert started["userErrors"] == [], started
    redirect = app.sandbox.authorize(seller, parse_qs(urlsplit(started["authorizationUrl"]).query)["state"][0])
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    assert done["shopAuthorizationComplete"]["userErrors"] == [], done
    return dict(done["shopAuthorizationComplete"])


def updates_of(app: ShopbridgeServer, seller: str) -> int:
    """How many Update Inventory calls the sandbox answered for `seller`'s shop."""
    shop_id = app.tiktok_shop(seller)["id"]
    return len(app.sandbox.control("GET", f"/inventory-updates?shop_id={shop_id}")["updates"])


def test_a_shop_added_with_push_off_keeps_its_tiktok_stock_until_push_is_turned_on(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=12, orders=10)  # small shops: the rule, not the size, is under test
    # given a merchant whose US shop brought its SKUs into the pool (they seeded their items: none joined one)
    first = add_store(app, "us-local", "US", "US")
    app.wait_for_idle_sync()
    assert first["shop"]["inventoryPolicy"] == {"pushEnabled": True}  # pushEnabled left out: on, as before
    us = app.graphql(POOL, {"id": first["shop"]["id"]}, "m1")["shop"]
    assert us["joinedSkuCount"] == 0 and us["linkedSkuCount"] > 0, us

    # bad input: pushEnabled null is refused with a stable code on its field, told with the other fields' refusals
    refused = app.graphql(
        START, {"input": {"region": "MY", "name": "MY", "regionConfirmed": False, "pushEnabled": None}}, "m1"
    )["shopAuthorizationStart"]
    assert refused["authorizationUrl"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("REGION_NOT_CONFIRMED", ["regionConfirmed"]),
        ("INVALID_INPUT", ["pushEnabled"]),
    ], refused

    # when the merchant adds their Malaysian shop, which shares seller SKUs, choosing to start with push off
    second = add_store(app, "my-local", "MY", "MY", pushEnabled=False)
    assert second["alreadyConnected"] is False
    assert second["shop"]["inventoryPolicy"] == {"pushEnabled": False}
    # (every push that runs has ended, the US shop's its joins made due included: a push of MY's, were it sent, had
    # time to reach TikTok before it is counted; `wait_for_idle_sync` left the pushes running)
    app.wait_for_settled()

    # then its SKUs joined the US items, their products are due a push, and no push reached TikTok
    my_id = second["shop"]["id"]
    my = app.graphql(POOL, {"id": my_id}, "m1")["shop"]
    assert my["inventoryPolicy"] == {"pushEnabled": False}
    assert 0 < my["joinedSkuCount"] <= my["linkedSkuCount"], my
    due = app.rows(
        "SELECT count(*) AS n FROM inventory_push_outbox o JOIN shops s ON s.id = o.shop_id "
        "WHERE s.tiktok_shop_id = :t AND o.dirty_version > o.pushed_version",
        t=app.tiktok_shop("my-local")["id"],
    )[0]["n"]
    assert due > 0  # with push on, these would have been pushed (tryout61 F5: 32 of 38 listings rewritten)
    assert updates_of(app, "my-local") == 0

    # and the shops list reads every shop's count in one statement (a DataLoader), not one per shop
    engine = app.asgi.state.services.db.read_engine.sync_engine
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        listed = app.graphql("{ shops { edges { node { id joinedSkuCount } } } }", None, "m1")["shops"]["edges"]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert {e["node"]["id"]: e["node"]["joinedSkuCount"] for e in listed} == {
        first["shop"]["id"]: 0,
        my_id: my["joinedSkuCount"],
    }
    assert len([s for s in statements if "GROUP BY sku_links.shop_id" in s]) == 1, statements

    # when the merchant turns push on, those products are pushed: TikTok's stock of the joined SKUs is replaced
    assert app.graphql(PUSH_ON, {"id": my_id}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    wait_until(lambda: updates_of(app, "my-local") > 0, what="the push once push is on")

    # and Add store on the same TikTok shop again, asking push off, re-authorizes it and keeps its policy (push on)
    again = add_store(app, "my-local", "MY", "MY again", pushEnabled=False)
    assert again["alreadyConnected"] is True and again["shop"]["id"] == my_id
    assert again["shop"]["inventoryPolicy"] == {"pushEnabled": True}
