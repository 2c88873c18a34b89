"""Tenant isolation, swept over the whole schema over real HTTP and WebSocket (SQLite only:
the ownership checks are the subject, tests/e2e/databases.py).

"A merchant sees and touches only its own shops, items and tasks" (README, The GraphQL API): for every query,
mutation and subscription field that takes an id, merchant m2 naming one of m1's objects gets exactly what it gets
naming an object that does not exist (an id of the same type, never issued): the same data, the same error codes
and the same words, so that no answer tells "exists, but not yours" from "does not exist". And m1's objects are
unchanged afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gql.ids import to_global_id
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhooks import envelope, push, sandbox_orders
from tests.fixtures.app import SMALL_SHOP, ShopbridgeServer
from tests.fixtures.waiting import wait_until
from tests.fixtures.ws import Complete, OperationError

pytestmark = subject_not_the_database("ownership checks over every field that takes an id")

GHOST = "0" * 32  # an internal id no row has (rows get uuid4 hex ids)

WORLD = """query($shop: ID!) { shop(id: $shop) {
  products(first: 1) { edges { node { id skus { id sellerSku } } } }
  orders(first: 1) { edges { node { id } } }
  syncTasks(first: 1) { edges { node { id } } } } }"""
CREATE = """mutation($sku: String!) { inventoryItemCreate(input: {sku: $sku, onHand: 5}) {
  inventoryItem { id sku onHand safetyStock version } userErrors { code } } }"""
EVENTS = "query($shop: ID!) { webhookEvents(shopId: $shop) { edges { node { id outcome } } } }"
OWN = """query($shop: ID!, $item: ID!) {
  shop(id: $shop) { name status productCount orderCount inventoryPolicy { pushEnabled sharePercent } }
  inventoryItem(id: $item) { sku onHand safetyStock version links { sku { id } } } }"""

ERRORS = "userErrors { code field message }"
# (name, document, the variables naming the object; "$X" in a value is replaced by the id under test)
PROBES: list[tuple[str, str, dict[str, Any]]] = [
    ("node", "query($id: ID!) { node(id: $id) { id __typename } }", {"id": "$X"}),
    ("shop", "query($id: ID!) { shop(id: $id) { id name } }", {"id": "$SHOP"}),
    ("syncTask", "query($id: ID!) { syncTask(id: $id) { id status } }", {"id": "$TASK"}),
    ("inventoryItem", "query($id: ID!) { inventoryItem(id: $id) { id sku } }", {"id": "$ITEM"}),
    (
        "syncTasks(shopId)",
        "query($id: ID!) { syncTasks(shopId: $id) { totalCount edges { node { id } } pageInfo { hasNextPage } } }",
        {"id": "$SHOP"},
    ),
    (
        "webhookEvents",
        "query($id: ID!) { webhookEvents(shopId: $id) { totalCount edges { node { id } } } }",
        {"id": "$SHOP"},
    ),
    (
        "unlinkedSkus",
        "query($id: ID!) { unlinkedSkus(shopId: $id) { totalCount edges { node { state } } } }",
        {"id": "$SHOP"},
    ),
    (
        "shopRename",
        f'mutation($id: ID!) {{ shopRename(input: {{shopId: $id, name: "taken"}}) {{ shop {{ id }} {ERRORS} }} }}',
        {"id": "$SHOP"},
    ),
    (
        "shopReauthorizationStart",
        f"mutation($id: ID!) {{ shopReauthorizationStart(input: {{shopId: $id}}) {{ authorizationUrl {ERRORS} }} }}",
        {"id": "$SHOP"},
    ),
    (
        "syncStart",
        f"mutation($id: ID!) {{ syncStart(input: {{shopId: $id, kinds: [PRODUCTS]}}) {{ tasks {{ id }} {ERRORS} }} }}",
        {"id": "$SHOP"},
    ),
    (
        "shopInventoryPolicyUpdate",
        "mutation($id: ID!) { shopInventoryPolicyUpdate(input: {shopId: $id, pushEnabled: false, sharePercent: 1})"
        f" {{ {ERRORS} }} }}",
        {"id": "$SHOP"},
    ),
    (
        "syncTaskCancel",
        f"mutation($id: ID!) {{ syncTaskCancel(input: {{taskId: $id}}) {{ task {{ id }} {ERRORS} }} }}",
        {"id": "$TASK"},
    ),
    (
        "webhookEventReplay",
        f"mutation($id: ID!) {{ webhookEventReplay(input: {{id: $id}}) {{ event {{ id }} {ERRORS} }} }}",
        {"id": "$EVENT"},
    ),
    (
        "inventorySetOnHand",
        f"mutation($id: ID!) {{ inventorySetOnHand(input: {{inventoryItemId: $id, onHand: 99}}) {{ {ERRORS} }} }}",
        {"id": "$ITEM"},
    ),
    (
        "inventoryAdjust",
        'mutation($id: ID!) { inventoryAdjust(input: {inventoryItemId: $id, delta: 7, reason: "x"})'
        f" {{ {ERRORS} }} }}",
        {"id": "$ITEM"},
    ),
    (
        "inventoryItemUpdate",
        f"mutation($id: ID!) {{ inventoryItemUpdate(input: {{inventoryItemId: $id, safetyStock: 3}}) {{ {ERRORS} }} }}",
        {"id": "$ITEM"},
    ),
    (
        "skuLink(their SKU, my item)",
        "mutation($sku: ID!, $item: ID!) { skuLink(input: {skuId: $sku, inventoryItemId: $item})"
        f" {{ skuLink {{ state }} {ERRORS} }} }}",
        {"sku": "$SKU", "item": "$MY_ITEM"},
    ),
    (
        "skuLink(my SKU, their item)",
        "mutation($sku: ID!, $item: ID!) { skuLink(input: {skuId: $sku, inventoryItemId: $item})"
        f" {{ skuLink {{ state }} {ERRORS} }} }}",
        {"sku": "$MY_SKU", "item": "$ITEM"},
    ),
    (
        "skuUnlink",
        f"mutation($id: ID!) {{ skuUnlink(input: {{skuId: $id}}) {{ skuLink {{ state }} {ERRORS} }} }}",
        {"id": "$SKU"},
    ),
    (
        "inventoryItemCreate(their SKU)",
        'mutation($id: ID!) { inventoryItemCreate(input: {sku: "FROM-THEIRS", skuId: $id})'
        f" {{ inventoryItem {{ id }} {ERRORS} }} }}",
        {"id": "$SKU"},
    ),
    (
        "inventoryItemCreate(their SKU, on hand)",
        'mutation($id: ID!) { inventoryItemCreate(input: {sku: "FROM-THEIRS-2", skuId: $id, onHand: 3})'
        f" {{ inventoryItem {{ id }} {ERRORS} }} }}",
        {"id": "$SKU"},
    ),
    (
        "inventoryItemDelete",
        "mutation($id: ID!) { inventoryItemDelete(input: {inventoryItemId: $id})"
        f" {{ deletedInventoryItemId {ERRORS} }} }}",
        {"id": "$ITEM"},
    ),
    (
        "shopDelete",
        f"mutation($id: ID!) {{ shopDelete(input: {{shopId: $id}}) {{ deletedShopId {ERRORS} }} }}",
        {"id": "$SHOP"},
    ),
]
SUBSCRIPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("shopUpdated", "subscription($id: ID!) { shopUpdated(shopId: $id) { id name } }", {"id": "$SHOP"}),
    ("syncTaskUpdated(taskId)", "subscription($id: ID!) { syncTaskUpdated(taskId: $id) { id } }", {"id": "$TASK"}),
    ("syncTaskUpdated(shopId)", "subscription($id: ID!) { syncTaskUpdated(shopId: $id) { id } }", {"id": "$SHOP"}),
    (
        "syncTaskUpdated(their task, my shop)",
        "subscription($id: ID!, $shop: ID!) { syncTaskUpdated(taskId: $id, shopId: $shop) { id } }",
        {"id": "$TASK", "shop": "$MY_SHOP"},
    ),
    (
        "inventoryItemUpdated(inventoryItemId)",
        "subscription($id: ID!) { inventoryItemUpdated(inventoryItemId: $id) { id } }",
        {"id": "$ITEM"},
    ),
]


def _ghost(global_id: str) -> str:
    return to_global_id(_type_of(global_id), GHOST)


def _type_of(global_id: str) -> str:
    from gql.ids import from_global_id

    parsed = from_global_id(global_id)
    assert parsed is not None
    return parsed[0]


def _bind(variables: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    return {name: ids[value[1:]] if str(value).startswith("$") else value for name, value in variables.items()}


def _neutral(answer: Any, named: list[str]) -> str:
    """The answer as text with the ids under test replaced, so that two answers compare on everything else."""
    text = json.dumps(answer, sort_keys=True)
    for one in named:
        text = text.replace(one, "<ID>")
    return text


@pytest.fixture
def app(app_factory: Callable[..., ShopbridgeServer]) -> ShopbridgeServer:
    """Small shops (`SMALL_SHOP`): `world` waits for the imports, then takes one product, SKU and order of each."""
    return app_factory(**SMALL_SHOP)


@pytest.fixture
def world(app: ShopbridgeServer) -> dict[str, dict[str, str]]:
    """m1's objects of every type by name (and, for the probes that mix, m2's own shop, item and SKU)."""
    mine = app.connect_shop("m1", "us-local", "US", name="Theirs")
    app.connect_shop("m2", "uk-local", "UK", name="Mine")
    app.wait_for_idle_sync()
    shops = {}
    for merchant in ("m1", "m2"):
        (edge,) = app.graphql("{ shops { edges { node { id } } } }", {}, merchant)["shops"]["edges"]
        shops[merchant] = edge["node"]["id"]
    facts = {m: app.graphql(WORLD, {"shop": shops[m]}, m)["shop"] for m in ("m1", "m2")}
    product = facts["m1"]["products"]["edges"][0]["node"]
    item = app.graphql(CREATE, {"sku": "THEIRS-1"}, "m1")["inventoryItemCreate"]
    my_item = app.graphql(CREATE, {"sku": "MINE-1"}, "m2")["inventoryItemCreate"]
    order_id = next(iter(sandbox_orders(app, mine["tiktokShopId"])))
    assert push(app, envelope(1, mine["tiktokShopId"], {"order_id": order_id})).status_code == 200

    def processed() -> bool:
        edges = app.graphql(EVENTS, {"shop": shops["m1"]}, "m1")["webhookEvents"]["edges"]
        return bool(edges) and edges[0]["node"]["outcome"] != "PENDING"

    wait_until(processed, what="the event processed")
    (event,) = app.graphql(EVENTS, {"shop": shops["m1"]}, "m1")["webhookEvents"]["edges"]
    theirs = {
        "SHOP": shops["m1"],
        "TASK": facts["m1"]["syncTasks"]["edges"][0]["node"]["id"],
        "PRODUCT": product["id"],
        "SKU": product["skus"][0]["id"],
        "ORDER": facts["m1"]["orders"]["edges"][0]["node"]["id"],
        "ITEM": item["inventoryItem"]["id"],
        "EVENT": event["node"]["id"],
    }
    mine_too = {
        "MY_SHOP": shops["m2"],
        "MY_ITEM": my_item["inventoryItem"]["id"],
        "MY_SKU": facts["m2"]["products"]["edges"][0]["node"]["skus"][0]["id"],
    }
    return {"theirs": theirs, "mine": mine_too}


def test_another_merchants_ids_are_answered_as_ids_of_nothing(
    app: ShopbridgeServer, world: dict[str, dict[str, str]]
) -> None:
    theirs, mine = world["theirs"], world["mine"]
    before = app.graphql(OWN, {"shop": theirs["SHOP"], "item": theirs["ITEM"]}, "m1")
    names = [name for name in theirs if name != "SHOP"] + ["SHOP"]  # the shop last: shopDelete is a probe
    for name, document, variables in PROBES:
        for key in names if "$X" in variables.values() else [None]:
            ids = {**mine, **theirs, "X": theirs[key]} if key else {**mine, **theirs}
            named = [ids[v[1:]] for v in variables.values() if v[1:] in theirs or v == "$X"]
            ghosts = {k: _ghost(v) if v in named else v for k, v in ids.items()}
            # when m2 names m1's object, and an object that does not exist
            real = app.raw_graphql(document, _bind(variables, ids), "m2")
            ghost = app.raw_graphql(document, _bind(variables, ghosts), "m2")
            # then the two answers are one, but for the id itself
            assert _neutral(real, named) == _neutral(ghost, [_ghost(one) for one in named]), (name, key, real, ghost)
            assert "errors" not in real or name == "node", (name, real)
    # and m1's objects did not change
    assert app.graphql(OWN, {"shop": theirs["SHOP"], "item": theirs["ITEM"]}, "m1") == before
    # and every id the API gave m1 is a node for m1, of the type it names (Relay: a global id refetches its object;
    # a SKU's id did not, `Sku` was no `Node`)
    for name, one in theirs.items():
        node = app.graphql("query($id: ID!) { node(id: $id) { id __typename } }", {"id": one}, "m1")["node"]
        assert node == {"id": one, "__typename": _type_of(one)}, (name, node)
    sku = "query($id: ID!) { node(id: $id) { ... on Sku { tiktokSkuId link { state sku { id } } } } }"
    found = app.graphql(sku, {"id": theirs["SKU"]}, "m1")["node"]
    assert found["tiktokSkuId"] and found["link"]["sku"]["id"] == theirs["SKU"], found


async def _first_answer(app: ShopbridgeServer, document: str, variables: dict[str, Any]) -> Any:
    async with app.subscribe(document, variables, "m2") as operation:
        try:
            return {"data": await operation.next()}
        except OperationError as exc:
            return {"errors": exc.payload}
        except Complete:
            return {"complete": True}


async def test_another_merchants_ids_are_subscribed_to_as_ids_of_nothing(
    app: ShopbridgeServer, world: dict[str, dict[str, str]]
) -> None:
    theirs, mine = world["theirs"], world["mine"]
    for name, document, variables in SUBSCRIPTIONS:
        ids = {**mine, **theirs}
        named = [ids[v[1:]] for v in variables.values() if v[1:] in theirs]
        ghosts = {k: _ghost(v) if v in named else v for k, v in ids.items()}
        real = await _first_answer(app, document, _bind(variables, ids))
        ghost = await _first_answer(app, document, _bind(variables, ghosts))
        assert "data" not in real, (name, real)
        assert _neutral(real, named) == _neutral(ghost, [_ghost(one) for one in named]), (name, real, ghost)
    # the SKU of m1's item, by the SKU itself: as a SKU no item has
    sku_document = "subscription($sku: String!) { inventoryItemUpdated(sku: $sku) { id } }"
    real = await _first_answer(app, sku_document, {"sku": "THEIRS-1"})
    ghost = await _first_answer(app, sku_document, {"sku": "NOBODY-HAS-THIS"})
    assert "data" not in real and real == ghost, (real, ghost)
