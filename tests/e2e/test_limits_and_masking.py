"""README claims about the GraphQL face, pinned at their boundaries: 30 aliases, 2,000 tokens, lists of 100, and an
unexpected failure masked as "Unexpected error." for the client while our log keeps the traceback."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from gql.list_sizes import MAX_VARIABLES
from gql.schema import MAX_TOKENS
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import log_lines
from tests.unit.test_query_cost import GRAPHIQL_INTROSPECTION


def _code(body: dict) -> str | None:
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


@subject_not_the_database("a document limit")
def test_thirty_aliases_pass_and_the_thirty_first_is_refused(app: ShopbridgeServer) -> None:
    def aliases(n: int) -> str:
        return "{ " + " ".join(f"a{i}: supportedRegions" for i in range(n)) + " }"

    allowed = app.raw_graphql(aliases(30), {}, "m1")
    assert "errors" not in allowed and len(allowed["data"]) == 30
    refused = app.raw_graphql(aliases(31), {}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused


@subject_not_the_database("a document limit")
def test_two_thousand_tokens_pass_and_one_more_is_refused(app: ShopbridgeServer) -> None:
    # "{" 20 x "aK : syncTasks ( status : [" n values "] ) { totalCount }" "}": 2 + 20 x 12 + the values, lists of at
    # most 100 (a list input's limit; commas are not tokens)
    def tokens(total: int) -> str:
        values = total - 2 - 20 * 12
        sizes = [min(100, max(0, values - 100 * k)) for k in range(20)]
        fields = (f"a{k}: syncTasks(status: [" + "QUEUED, " * n + "]) { totalCount }" for k, n in enumerate(sizes))
        return "{ " + " ".join(fields) + " }"

    assert "errors" not in app.raw_graphql(tokens(2000), {}, "m1")
    refused = app.raw_graphql(tokens(2001), {}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused


@subject_not_the_database("a document limit")
def test_a_list_input_of_more_than_a_hundred_items_is_refused_before_anything_runs(app: ShopbridgeServer) -> None:
    # given the audit's request: 30 aliased syncTasks sharing one [SyncTaskStatus!] variable of 100,000 values
    # (1 MB), which held the event loop ~1.8 s while it was coerced and taken in
    statuses = "query($s: [SyncTaskStatus!]) {" + "".join(
        f" a{i}: syncTasks(status: $s, first: 1) {{ totalCount }}" for i in range(30)
    ) + " }"  # fmt: skip
    # when it is sent
    refused = app.raw_graphql(statuses, {"s": ["QUEUED"] * 100_000}, "m1")
    # then it is refused before validation, naming the variable and the limit, and nothing runs (no data)
    assert _code(refused) == "BAD_USER_INPUT" and refused.get("data") is None, str(refused)[:500]
    [error] = refused["errors"]
    assert error["message"] == "A list input holds at most 100 items; $s holds 100,000.", error
    assert error["locations"] == [{"line": 1, "column": 7}], error  # at `$s`'s definition
    # and so is a list inside an input object, and one literal in the document, one past the limit
    start = "mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"
    nested = app.raw_graphql(start, {"input": {"shopId": "x", "kinds": ["ORDERS"] * 101}}, "m1")
    assert nested["errors"][0]["message"] == "A list input holds at most 100 items; $input.kinds holds 101.", nested
    literal = app.raw_graphql("{ syncTasks(status: [" + "QUEUED " * 101 + "]) { totalCount } }", {}, "m1")
    assert _code(literal) == "BAD_USER_INPUT" and literal.get("data") is None, literal
    assert literal["errors"][0]["message"] == "A list input holds at most 100 items; a list in the document holds 101."
    # while 100 items, in either form, are answered
    assert "errors" not in app.raw_graphql(statuses, {"s": ["QUEUED"] * 100}, "m1")
    assert "errors" not in app.raw_graphql("{ syncTasks(status: [" + "QUEUED " * 100 + "]) { totalCount } }", {}, "m1")


@subject_not_the_database("a variables limit")
def test_an_input_object_of_more_than_a_hundred_fields_is_refused_before_anything_runs(app: ShopbridgeServer) -> None:
    """Rule (gql/list_sizes.py, README "BAD_USER_INPUT"): an input object of 40,000 unknown keys held the event loop
    1-3 s while graphql-core printed it into each of 50 errors (tryout71 F3)."""
    create = (
        "mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) { userErrors { code } } }"
    )
    # given an input object of 101 fields (the schema's input types have at most 5)
    wide = {"sku": "WIDE-1", **{f"k{i}": i for i in range(100)}}
    # when it is sent, then it is refused before validation, naming the variable and the limit, and nothing runs
    refused = app.raw_graphql(create, {"input": wide}, "m1")
    assert _code(refused) == "BAD_USER_INPUT" and refused.get("data") is None, str(refused)[:500]
    [error] = refused["errors"]
    assert error["message"] == "An input object holds at most 100 fields; $input holds 101.", error
    assert error["locations"] == [{"line": 1, "column": 10}], error  # at `$input`'s definition
    # while 100 fields go on to graphql-core, which names the unknown ones, and nothing was created either way
    unknown = app.raw_graphql(create, {"input": {"sku": "WIDE-1", **{f"k{i}": i for i in range(99)}}}, "m1")
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", unknown["errors"][0]
    assert "unknown field 'k0'" in unknown["errors"][0]["message"], unknown["errors"][0]
    assert app.graphql('{ inventoryItems(query: "WIDE-1") { totalCount } }', None, "m1")["inventoryItems"] == {
        "totalCount": 0
    }


@subject_not_the_database("a request limit")
def test_five_hundred_variables_pass_and_more_are_refused_before_anything_looks_at_them(app: ShopbridgeServer) -> None:
    """Rule (gql/list_sizes.py `MAX_VARIABLES`, README "QUERY_TOO_COMPLEX"): 40,000 unused variables beside
    `{ __typename }` cost ~0.7 s of the event loop a request in the walks over them (tryout71 O1)."""
    # given 500 variables, none declared: the most a document within 2,000 tokens can declare
    allowed = app.raw_graphql("{ __typename }", {f"v{i}": "x" for i in range(500)}, "m1")
    assert allowed == {"data": {"__typename": "Query"}}, str(allowed)[:500]
    # when 40,000 are sent, then the request is refused with the limits' code, naming the limit and the count
    refused = app.raw_graphql("{ __typename }", {f"v{i}": "x" for i in range(40_000)}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, str(refused)[:500]
    assert [error["message"] for error in refused["errors"]] == [
        "A request holds at most 500 variables; this one holds 40,000."
    ], str(refused)[:500]


def test_the_variables_limit_is_what_the_token_limit_lets_a_document_declare() -> None:
    # four tokens a definition: `$`, its name, `:` and its type
    assert MAX_VARIABLES == MAX_TOKENS // 4


def _spreads(operation_typenames: int) -> str:
    """A document of 10,000 + operation_typenames - 1 selections with its fragments expanded, in ~650 tokens:
    the operation `{ __typename* ...G }` (1 + t), G spreading F 312 times (312 x 16), F 15 `__typename`s; the
    fragments' own definitions count too (4,992 + 15): 10,000 with one `__typename` in the operation."""
    operation = "{ " + "__typename " * (operation_typenames - 1) + "...G } "
    return operation + "fragment G on Query { " + "...F " * 312 + "} fragment F on Query { " + "__typename " * 15 + "}"


@subject_not_the_database("a document limit")
def test_ten_thousand_selections_with_fragments_expanded_pass_and_one_more_is_refused(app: ShopbridgeServer) -> None:
    # given documents of 10,000 and 10,001 selections once their fragments are expanded
    allowed = app.raw_graphql(_spreads(1), {}, "m1")
    assert allowed == {"data": {"__typename": "Query"}}, allowed
    # then one more is refused before validation, with the limits' code
    refused = app.raw_graphql(_spreads(2), {}, "m1")
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused
    assert refused["errors"][0]["message"] == (
        "This query holds 10,001 selections once its fragments are expanded; the limit is 10,000. "
        "Spread fewer fragments."
    )


@subject_not_the_database("a document limit")
def test_a_document_past_graphql_cores_validation_budget_is_query_too_complex_saying_so(app: ShopbridgeServer) -> None:
    # given `__typename` 707 and 708 times: within every limit of ours (710 tokens, 708 selections, no alias), but
    # each field of one response name is compared with each other (OverlappingFieldsCanBeMerged), 2 of graphql-core's
    # 500,000 units of validation budget a pair: 708 exhaust it
    allowed = app.raw_graphql("{ " + "__typename " * 707 + "}", {}, "m1")
    assert allowed == {"data": {"__typename": "Query"}}, allowed
    refused = app.raw_graphql("{ " + "__typename " * 708 + "}", {}, "m1")
    # then the one past it is a limit's refusal with the limits' code, saying which limit, not GRAPHQL_VALIDATION_FAILED
    # "Validation aborted."
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused
    assert refused["errors"][0]["message"].startswith("This query is too costly to validate"), refused
    # and an Int literal past Python's 4,300 digits is refused by validation as no 32-bit Int (verify50: the cost
    # check's int() of it raised, INTERNAL_SERVER_ERROR and a traceback)
    for document in (
        "{ shops(first: 1%s) { totalCount } }",
        "query($f: Int = 1%s) { shops(first: $f) { totalCount } }",
    ):
        huge = app.raw_graphql(document % ("0" * 5000), {}, "m1")
        assert _code(huge) == "GRAPHQL_VALIDATION_FAILED" and huge.get("data") is None, str(huge)[:300]
    # and a document with more than graphql-core's 100 errors is what it was: its own mistakes, not a limit
    mistaken = app.raw_graphql("{ " + " ".join(f"nope{i}" for i in range(101)) + " }", {}, "m1")
    codes = {error.get("extensions", {}).get("code") for error in mistaken["errors"]}
    assert codes == {"GRAPHQL_VALIDATION_FAILED"} and len(mistaken["errors"]) == 101, mistaken["errors"][-2:]


@subject_not_the_database("a document limit")
def test_fragments_that_double_thirty_deep_are_refused_and_the_server_goes_on_serving(app: ShopbridgeServer) -> None:
    # given ~300 tokens that expand to 2^30 selections: each fragment spreads the next one twice. Strawberry's
    # depth and alias rules (and the object estimate) followed every spread: hours of the event loop's CPU.
    document = "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    document += " fragment F30 on Query { shops { totalCount } }"
    # when a signed-in merchant sends it
    refused = app.raw_graphql(document, {}, "m1")
    # then it is refused with the limits' code, and another merchant is served meanwhile
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused
    assert app.raw_graphql("{ shops { totalCount } }", {}, "m2") == {"data": {"shops": {"totalCount": 0}}}
    # and fragments that spread each other in a cycle, through fields or not, are a validation error: no rule or
    # estimate follows the cycle for ever (each stops at a fragment it is already expanding)
    for cycle in (
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "{ shops { edges { node { ...S } } } } fragment S on Shop { syncTasks { edges { node { shop { ...S } } } } }",
    ):
        refused = app.raw_graphql(cycle, {}, "m1")
        assert _code(refused) == "GRAPHQL_VALIDATION_FAILED" and "within itself" in refused["errors"][0]["message"]


@subject_not_the_database("a document limit")
def test_nested_introspection_under_thirty_aliases_is_refused_and_graphiqls_own_is_answered(
    app: ShopbridgeServer,
) -> None:
    # given thirty aliases of a nested introspection: ~766 KB for ~0.5 s of the event loop's CPU each, which the
    # object limit counted as nothing
    nested = "__schema { types { fields { args { type { name } } type { fields { name args { name } } } } } }"
    refused = app.raw_graphql("{ " + " ".join(f"a{i}: {nested}" for i in range(30)) + " }", {}, "m1")
    # then it is refused before anything runs, with the limits' code
    assert _code(refused) == "QUERY_TOO_COMPLEX" and refused.get("data") is None, refused
    assert refused["errors"][0]["message"].startswith("This query could load up to "), refused
    # and GraphiQL's own introspection query (every option on) is answered in full
    answered = app.raw_graphql(GRAPHIQL_INTROSPECTION, {}, "m1")
    assert "errors" not in answered, answered
    assert any(t["name"] == "Shop" for t in answered["data"]["__schema"]["types"])


POOL_PAGE = "inventoryItems(first: 100) { edges { node { movements { totalCount } } } }"


@pytest.mark.parametrize(
    ("query", "variables", "first"),
    [
        ("{ shops(first: 5001) { totalCount } }", {}, 5001),
        ("{ shops(first: 2147483647) { totalCount } }", {}, 2147483647),
        ("query($n: Int) { inventoryItems(first: $n) { totalCount } }", {"n": 2147483647}, 2147483647),
    ],
    ids=["5001", "largest Int", "largest Int as a variable"],
)
@subject_not_the_database("pagination arguments")
def test_a_first_above_a_page_is_bad_user_input_however_large(
    app: ShopbridgeServer, query: str, variables: dict, first: int
) -> None:
    # when a document asks a page beyond 100, as large as the object limit or as GraphQL's Int allows
    body = app.raw_graphql(query, variables, "m1")
    # then the argument's own check answers, as the README promises, not the object limit's QUERY_TOO_COMPLEX
    assert _code(body) == "BAD_USER_INPUT", body
    assert body["errors"][0]["message"] == f"first must be between 1 and 100 (this one is {first})."


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # a variable's default is the page size execution uses: 100 shops x 100 orders, not 20 x 20
        ("query($f: Int = 100) { shops(first: $f) { edges { node { orders(first: $f) { totalCount } } } } }", {}),
        # the pool's connections have a default page too: 100 items x 20 movements, three times
        (
            "{ " + " ".join(f"a{i}: " + POOL_PAGE for i in range(3)) + " }",
            {},
        ),
    ],
    ids=["variable default", "pool connections"],
)  # fmt: skip
@subject_not_the_database("the object limit")
def test_the_object_limit_counts_every_page_a_document_asks_for(
    app: ShopbridgeServer, query: str, variables: dict
) -> None:
    # then a document that could load more than 5,000 objects is refused before anything runs (both ran: the
    # estimate read an absent variable, and a connection without `first`, as a page of one)
    refused = app.raw_graphql(query, variables, "m1")
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


@pytest.mark.parametrize(
    ("corruption", "query", "cause"),
    [
        # Region('XX') in the shop's read model: a ValueError, which a client's bad argument may also raise
        (
            "UPDATE shops SET region = 'XX' WHERE tiktok_shop_id = :tiktok_id",
            "query($id: ID!) { shop(id: $id) { id name region } }",
            ValueError,
        ),
        # Decimal('12,5x') of an order's stored total: decimal.InvalidOperation, an ArithmeticError
        (
            "UPDATE orders SET total_amount = '12,5x'"
            " WHERE shop_id IN (SELECT id FROM shops WHERE tiktok_shop_id = :tiktok_id)",
            "query($id: ID!) { shop(id: $id) { orders(first: 1) { edges { node { total { amount } } } } } }",
            ArithmeticError,
        ),
    ],
    ids=["ValueError", "ArithmeticError"],
)
@subject_not_the_database("error masking")
def test_an_internal_failure_that_is_not_the_databases_is_masked_too(
    app: ShopbridgeServer, caplog, corruption: str, query: str, cause: type[Exception]
) -> None:
    """Rule (gql/errors.py, README "The GraphQL API"): only BadRequestError, DomainError and graphql-core's own
    verdicts reach the client as they are; any other exception of our code, whatever its class, is masked as
    "Unexpected error." (INTERNAL_SERVER_ERROR) and logged at ERROR with its traceback."""
    # given a stored row no longer valid for the domain (written straight into the database), so that building
    # the read model raises inside the resolver: our fault, not the client's
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    with app._db.begin() as conn:
        assert conn.execute(sa.text(corruption), {"tiktok_id": shop["tiktokShopId"]}).rowcount >= 1
    # when the merchant asks for it
    with caplog.at_level(logging.ERROR, logger="shopbridge.graphql"), log_lines("shopbridge.graphql") as lines:
        body = app.raw_graphql(query, {"id": shop["id"]}, "m1")
        # then the client sees exactly the masked error, and nothing of the cause
        (error,) = body["errors"]
        assert error["message"] == "Unexpected error." and error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        for leak in ("XX", "12,5x", "Region", "valid", "decimal", "Conversion"):
            assert leak not in str(body), body
        lines.wait_for("unexpected error in")
    # and our log has the cause at ERROR, with its traceback
    logged = [r for r in caplog.records if r.name == "shopbridge.graphql" and r.levelno == logging.ERROR]
    assert logged and logged[0].exc_info is not None, caplog.records
    assert isinstance(logged[0].exc_info[1], cause) and logged[0].exc_info[2] is not None


@subject_not_the_database("how a response's errors are logged")
def test_many_aliases_failing_unexpectedly_are_one_error_line_with_the_first_traceback(
    app: ShopbridgeServer, caplog
) -> None:
    """Rule (gql/errors.py `process_errors`, README "The GraphQL API"): each kind of failure writes at most one line a
    response; an unexpected one keeps the first error's traceback at ERROR and counts the rest by class, naming a few
    of their paths. A line each let one request of 30 aliases write 30 tracebacks (lows72)."""
    # given a shop whose stored row the domain refuses (Region('XX'): a ValueError in every resolver reading it)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    with app._db.begin() as conn:
        conn.execute(sa.text("UPDATE shops SET region = 'XX' WHERE tiktok_shop_id = :t"), {"t": shop["tiktokShopId"]})
    aliases = " ".join(f"a{i}: shop(id: $id) {{ region }}" for i in range(20))
    # when one request reads it under 20 aliases
    with caplog.at_level(logging.INFO, logger="shopbridge.graphql"), log_lines("shopbridge.graphql") as lines:
        body = app.raw_graphql("query($id: ID!) { " + aliases + " }", {"id": shop["id"]}, "m1")
        lines.wait_for("unexpected error in")
    # then the client sees 20 masked errors
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL_SERVER_ERROR"] * 20, body
    # and our log one ERROR line for the response: the first error's path and traceback, then the count of the rest
    logged = [r for r in caplog.records if r.name == "shopbridge.graphql"]
    assert [r.levelname for r in logged] == ["ERROR"], [r.getMessage() for r in logged]
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], ValueError)
    message, first = logged[0].getMessage(), body["errors"][0]["path"]
    assert message.startswith(f"unexpected error in {first} (and 19 more: ValueError x19 in ['a"), message
    assert message.endswith(" and 16 other paths)") and "XX" not in message, message


def test_an_order_status_tiktok_added_later_reads_as_null_and_the_page_still_answers(app: ShopbridgeServer) -> None:
    """README "The GraphQL API": `Order.status` is `null` for a status TikTok adds later, unlike a stored row the
    domain refuses (above): the import stores TikTok's status as it came, so such an order is ordinary data."""
    # given an imported shop, one of whose orders TikTok has since put in a status this version does not know
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    (changed,) = app.rows(
        "SELECT tiktok_order_id FROM orders WHERE shop_id IN (SELECT id FROM shops WHERE tiktok_shop_id = :tiktok_id)"
        " ORDER BY tiktok_order_id LIMIT 1",
        tiktok_id=shop["tiktokShopId"],
    )
    app.execute(f"UPDATE orders SET status = 'SOMETHING_NEW' WHERE tiktok_order_id = '{changed['tiktok_order_id']}'")
    # when the merchant reads the shop's orders
    body = app.raw_graphql(
        "query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId status } } } } }",
        {"id": shop["id"]},
        "m1",
    )
    # then the page answers, that order with a null status and the others with theirs
    assert "errors" not in body, body
    statuses = {e["node"]["tiktokOrderId"]: e["node"]["status"] for e in body["data"]["shop"]["orders"]["edges"]}
    assert statuses[changed["tiktok_order_id"]] is None
    assert len(statuses) > 1 and all(s is not None for o, s in statuses.items() if o != changed["tiktok_order_id"])
