"""Text no column can store (a NUL, an unpaired surrogate) is the client's mistake, on SQLite and PostgreSQL, over
HTTP and the WebSocket: `BAD_USER_INPUT` before anything runs, nothing written, no ERROR in the log.

Before: PostgreSQL refused a NUL in an SKU, a reason or a search ("invalid byte sequence for encoding UTF8: 0x00")
and a lone surrogate could not be encoded for SQLite or hashed as an OAuth state: `INTERNAL_SERVER_ERROR`, with a
traceback at ERROR."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.ws import TRANSPORT_WS, OperationError, WsOperation, connected

CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id sku } userErrors { code field } } }"""
ADJUST = """mutation($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) {
  inventoryItem { onHand version } userErrors { code field } } }"""
SEARCH = "query($q: String) { inventoryItems(query: $q) { totalCount } }"
COMPLETE = """mutation($state: String!) { shopAuthorizationComplete(input: {state: $state, code: "c"}) {
  shop { id } userErrors { code } } }"""
UPDATED = "subscription($sku: String) { inventoryItemUpdated(sku: $sku) { sku onHand } }"


def post(app: ShopbridgeServer, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
    """The answer to a request sent as a JSON client escapes it (`\\ud800`: httpx's `json=` cannot encode one)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"Authorization": f"Bearer {app.token('m1')}", "content-type": "application/json"}
    return dict(app.http.post(f"{app.url}/graphql", content=body, headers=headers).json())


def refusal(body: dict[str, Any]) -> tuple[Any, list[str], str]:
    (error,) = body["errors"]
    return body.get("data"), [error["extensions"]["code"]], error["message"]


@pytest.mark.parametrize(
    ("query", "variables", "where"),
    [
        (CREATE, {"input": {"sku": "LAMP\x00-1"}}, "$input.sku"),
        (CREATE, {"input": {"sku": "LAMP\ud800-1"}}, "$input.sku"),
        (SEARCH, {"q": "LAMP\x00"}, "$q"),
        (SEARCH, {"q": "\udfff"}, "$q"),
        ('{ inventoryItems(query: "LAMP\\u0000") { totalCount } }', None, ""),
        ('{ inventoryItems(query: "LAMP\\u{0}") { totalCount } }', None, ""),
        (COMPLETE, {"state": "s\ud800"}, "$state"),
    ],
)  # fmt: skip
def test_a_nul_or_a_lone_surrogate_is_bad_user_input_and_nothing_runs(
    app: ShopbridgeServer, caplog, query: str, variables: dict[str, Any] | None, where: str
) -> None:
    caplog.set_level(logging.INFO)
    body = post(app, query, variables)
    data, codes, message = refusal(body)
    assert (data, codes) == (None, ["BAD_USER_INPUT"]), body
    assert message.startswith("Text may not contain a NUL character (U+0000)") and where in message
    # located as graphql-core locates a variable it cannot coerce: at the variable's definition (else the literal)
    at = query.index(where.split(".")[0] + ":") if where else query.index('"LAMP')
    assert body["errors"][0].get("locations") == [{"line": 1, "column": at + 1}], body
    assert app.count_rows("inventory_items") == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_adjustment_whose_reason_holds_a_nul_changes_nothing(app: ShopbridgeServer, caplog) -> None:
    # given an item with 5 on hand
    created = app.graphql(CREATE, {"input": {"sku": "LAMP-1", "onHand": 5}}, "m1")["inventoryItemCreate"]
    item = created["inventoryItem"]
    # when the merchant adjusts it with a reason holding a NUL
    before = app.rows("SELECT on_hand, version FROM inventory_items"), app.count_rows("inventory_movements")
    body = post(app, ADJUST, {"input": {"inventoryItemId": item["id"], "delta": 1, "reason": "re\x00count"}})
    # then the request is refused as bad input, and the item and its movements are as they were
    assert refusal(body)[:2] == (None, ["BAD_USER_INPUT"]), body
    assert (app.rows("SELECT on_hand, version FROM inventory_items"), app.count_rows("inventory_movements")) == before
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    # and the same adjustment with a printable reason works
    fine = app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": 1, "reason": "recount"}}, "m1")
    assert fine["inventoryAdjust"]["inventoryItem"]["onHand"] == 6


async def test_a_subscription_given_a_nul_gets_an_error_and_the_socket_stays_open(app: ShopbridgeServer) -> None:
    app.graphql(CREATE, {"input": {"sku": "LAMP-1", "onHand": 5}}, "m1")
    async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
        # when a subscription names its SKU with a NUL
        await subscribe(socket, "1", {"sku": "LAMP-1\x00"})
        # then it gets an error message for its id, BAD_USER_INPUT
        with pytest.raises(OperationError) as error:
            await WsOperation(socket, TRANSPORT_WS, "1").next()
        assert [e["extensions"]["code"] for e in error.value.payload] == ["BAD_USER_INPUT"]
        # and the same socket serves the next subscription
        await subscribe(socket, "2", {"sku": "LAMP-1"})
        followed = await WsOperation(socket, TRANSPORT_WS, "2").next()
        assert followed["inventoryItemUpdated"] == {"sku": "LAMP-1", "onHand": 5}


async def subscribe(socket: Any, op_id: str, variables: dict[str, Any]) -> None:
    payload = {"query": UPDATED, "variables": variables}
    await socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
