"""README claims about the GraphQL face, pinned at their boundaries: 30 aliases, 2,000 tokens, and an unexpected
failure masked as "Unexpected error." for the client while our log keeps the traceback."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import log_lines


def _code(body: dict) -> str | None:
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


def test_thirty_aliases_pass_and_the_thirty_first_is_refused(app: ShopbridgeServer) -> None:
    def aliases(n: int) -> str:
        return "{ " + " ".join(f"a{i}: supportedRegions" for i in range(n)) + " }"

    allowed = app.raw_graphql(aliases(30), {}, "m1")
    assert "errors" not in allowed and len(allowed["data"]) == 30
    refused = app.raw_graphql(aliases(31), {}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused


def test_two_thousand_tokens_pass_and_one_more_is_refused(app: ShopbridgeServer) -> None:
    # "{ syncTasks ( status : [" n values "] ) { totalCount } }": 12 + n tokens (commas are not tokens)
    def tokens(total: int) -> str:
        return "{ syncTasks(status: [" + "QUEUED, " * (total - 12) + "]) { totalCount } }"

    assert "errors" not in app.raw_graphql(tokens(2000), {}, "m1")
    refused = app.raw_graphql(tokens(2001), {}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused


def test_an_unexpected_failure_is_masked_for_the_client_and_logged_with_its_traceback(
    app: ShopbridgeServer, caplog
) -> None:
    # given a database that lost a table under the running server (an operator's mistake, not the client's)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    with app._db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE line_items RENAME TO line_items_gone"))
    query = "query($id: ID!) { shop(id: $id) { orders(first: 2) { edges { node { lineItems { quantity } } } } } }"
    # when the merchant asks for what it held
    with caplog.at_level(logging.ERROR, logger="shopbridge.graphql"), log_lines("shopbridge.graphql") as lines:
        body = app.raw_graphql(query, {"id": shop["id"]}, "m1")
        lines.wait_for("unexpected error in")
    # then the client sees one masked error with a code, and nothing of the cause
    (error,) = body["errors"]
    assert error["message"] == "Unexpected error." and error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "line_items" not in str(body)
    # and our log has the cause at ERROR, with its traceback
    logged = [r for r in caplog.records if r.name == "shopbridge.graphql" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None and "line_items" in str(logged[0].exc_info[1])
