"""TikTok's tokens and our app secret never reach a log line, at any level, over the flows that handle them.

README, Tokens: "never logged: the client also masks `app_secret`, codes and refresh tokens in httpx's request
logs". `test_store_management` checks a connection and a rename; this runs every flow that sends or receives a
token (the code exchange, an import, a refused access token and its refresh, a webhook's processing, an inventory
push) with DEBUG logging everywhere (httpx, httpcore, Dramatiq, aiosqlite/asyncpg, ours), and reads each record as
a handler could write it: the message, its traceback, and every attribute (structured-logging extras included).
"""

from __future__ import annotations

import logging
import traceback

from tests.e2e.test_webhooks import envelope, push, sandbox_orders
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.logs import logged_to
from tests.fixtures.waiting import wait_until

SYNC = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS, ORDERS]}) {
  tasks { id } userErrors { code } } }"""
EVENTS = "query($id: ID!) { webhookEvents(shopId: $id) { edges { node { outcome } } } }"


def _everything(record: logging.LogRecord) -> str:
    text = record.getMessage() + repr(record.__dict__)
    if record.exc_info:
        text += "".join(traceback.format_exception(*record.exc_info))
    return text


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
