"""TikTok's tokens and our app secret never reach a log line, at any level, over the flows that handle them.

README, Tokens: "never logged: the client also masks `app_secret`, codes and refresh tokens in httpx's request
logs". `test_store_management` checks a connection and a rename; this runs every flow that sends or receives a
token (the code exchange, an import, a refused access token and its refresh, a webhook's processing, an inventory
push) with DEBUG logging everywhere (httpx, httpcore, Dramatiq, aiosqlite/asyncpg, ours), and reads each record as
a handler could write it: the message, its traceback, and every attribute (structured-logging extras included).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable

import pytest

from tests.e2e.test_webhooks import envelope, push, sandbox_orders
from tests.fixtures.app import SMALL_SHOP, ShopbridgeServer
from tests.fixtures.logs import logged_to
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until
from tests.fixtures.ws import connected

SYNC = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS, ORDERS]}) {
  tasks { id } userErrors { code } } }"""
QUERY = "{ supportedRegions }"
EVENTS = "query($id: ID!) { webhookEvents(shopId: $id) { edges { node { outcome } } } }"


def _everything(record: logging.LogRecord) -> str:
    text = record.getMessage() + repr(record.__dict__)
    if record.exc_info:
        text += "".join(traceback.format_exception(*record.exc_info))
    return text


@pytest.fixture
def app(app_factory: Callable[..., ShopbridgeServer]) -> ShopbridgeServer:
    """Small shops (`SMALL_SHOP`): these tests wait for imports and look for secrets in what is logged or sent, which
    no part of the import leaves out at this size; the webhook needs one order."""
    return app_factory(**SMALL_SHOP)


def test_no_token_nor_the_app_secret_in_any_log_record_at_debug(app: ShopbridgeServer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    # given a shop connected and imported
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    issued_at_connection = len(app.issued_tokens())
    # when TikTok refuses its access token, so that the next import refreshes it
    app.sandbox.control("POST", "/sellers/us-local/expire-access-token", {})
    assert app.graphql(SYNC, {"id": shop["id"]}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert len(app.issued_tokens()) > issued_at_connection, "no refresh happened: the test tests nothing"
    # and a webhook is processed (Get Order Detail, with the new access token)
    order_id = next(iter(sandbox_orders(app, shop["tiktokShopId"])))
    assert push(app, envelope(1, shop["tiktokShopId"], {"order_id": order_id})).status_code == 200

    def processed() -> bool:
        edges = app.graphql(EVENTS, {"id": shop["id"]}, "m1")["webhookEvents"]["edges"]
        return bool(edges) and all(edge["node"]["outcome"] != "PENDING" for edge in edges)

    wait_until(processed, what="the webhook processed")
    # then no record holds any token TikTok issued, nor the app secret
    secrets = [*app.issued_tokens(), app.settings.tiktok.app_secret]
    texts = [_everything(record) for record in caplog.records]
    assert len(texts) > 100, "DEBUG logging did not reach the records"
    leaks = [(secret[:4], text[:300]) for secret in secrets for text in texts if secret in text]
    assert leaks == []
    # nor any answer the API gave
    assert not any(secret in app.transcript() for secret in secrets)


def test_no_tokens_ciphertext_in_the_log_at_debug(app: ShopbridgeServer) -> None:
    """Rule (adapters/logs.py `DATA_LOGGERS`): the database's data stays out of the log at any level. Before
    (sec49), SHOPBRIDGE_LOG_LEVEL=DEBUG wrote every SQL parameter (aiosqlite's calls, SQLAlchemy's statements):
    the tokens' ciphertexts, which the encryption key beside the database turns back into tokens."""
    with logged_to("text", "DEBUG") as stream:
        # when a shop is connected and imported, with the process's logging as `serve` sets it at DEBUG
        app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
    # then the log is written at DEBUG, and holds none of the tokens' ciphertexts stored
    lines = stream.getvalue()
    assert lines.count("DEBUG") > 20, "DEBUG logging did not reach the stream: the test tests nothing"
    stored = app.raw_token_columns()
    assert stored and all(len(value) > 40 for value in stored)
    assert [value[:12] for value in stored if value in lines] == []


async def test_no_websocket_frame_in_the_log_at_debug(app: ShopbridgeServer) -> None:
    """Rule (adapters/logs.py `DATA_LOGGERS`): no data in the log at any level. Before (sec50), at
    SHOPBRIDGE_LOG_LEVEL=DEBUG the websockets library logged every frame with its data through `uvicorn.error`:
    `< TEXT '{"type": "connection_init", "payload": {"Author...'` with the token's tail, and every answer."""
    token = app.token("m1")
    records = _Records()
    # uvicorn's loggers do not propagate to the root in the suite's servers: listen on both; at DEBUG as
    # `shopbridge serve` sets uvicorn's (its log_level) and the root (configure_logging)
    listened = [logging.getLogger(name) for name in ("", "uvicorn")]
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_level = uvicorn_errors.level
    uvicorn_errors.setLevel(logging.DEBUG)
    for logger in listened:
        logger.addHandler(records)
    try:
        with logged_to("text", "DEBUG"):
            # when a merchant's socket sends its token, runs a query and is answered
            async with connected(app.url, {"Authorization": f"Bearer {token}"}) as socket:
                await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
                answer = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
                assert answer["type"] == "next" and "supportedRegions" in answer["payload"]["data"], answer
    finally:
        uvicorn_errors.setLevel(uvicorn_level)
        for logger in listened:
            logger.removeHandler(records)
    # then the server's WebSocket lines reach the log ("connection open"), and hold neither the token's tail nor a
    # frame's data (the test's own client, `websockets.client`, logs its frames: not the server's log)
    lines = [_everything(r) for r in records.records if not r.name.startswith("websockets.client")]
    assert any("connection open" in line for line in lines), "no server WebSocket line logged: the test tests nothing"
    assert [line[:300] for line in lines if token[-20:] in line or "connection_init" in line] == []
    assert [line[:300] for line in lines if "supportedRegions" in line] == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
