"""The cost estimate: objects a document could load, from `first` (or its default) along nested pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLUnionType,
    build_schema,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    parse,
)

from gql.cost import _PAGED_FIELDS, _UNPAGED_LISTS, estimate_objects, expanded_selections, too_costly
from gql.schema import MAX_OBJECTS
from gql.schema import schema as app_schema


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        ("{ supportedRegions }", {}, 0),
        ("{ shops { totalCount } }", {}, 20),  # the default page
        ("{ shops(first: 100) { edges { node { id } } } }", {}, 100),
        (
            "{ shops(first: 10) { edges { node { orders(first: 50) { edges { node { lineItems { quantity } } } } } } } "
            "}"
            "",
            {},
            10 + 500 + 500 * 5,  # each order's line items counted as 5 (`_UNPAGED_LISTS`)
        ),
        # an unpaged list counts its usual size, and multiplies what it holds
        ('{ product(id: "x") { skus { link { state } } } }', {}, 10),
        ("{ inventoryItems(first: 100) { edges { node { links { state } } } } }", {}, 100 + 500),
        # one nested in a list of its own name (a cycle of the schema) counts a full page: sec49's 118 characters,
        # answered 810,000 links (16 MB, 18 s) when each list counted as nothing
        ('{ inventoryItem(id: "x") { links { inventoryItem { links { state } } } } }', {}, 5 + 5 * 100),
        (
            '{ inventoryItem(id: "x") { links { inventoryItem { links { inventoryItem { links { inventoryItem '
            "{ links { state } } } } } } } } }",
            {},
            5 + 500 + 50_000 + 5_000_000,
        ),
        (
            '{ inventoryItem(id: "x") { ...L } } fragment L on InventoryItem { links { inventoryItem { ...M } } } '
            "fragment M on InventoryItem { links { state } }",
            {},
            5 + 500,
        ),
        ("query($n: Int) { shops(first: $n) { edges { node { id } } } }", {"n": 7}, 7),
        ("{ a: shops(first: 10) { totalCount } b: shops(first: 30) { totalCount } }", {}, 40),
        (
            "{ shops(first: 2) { edges { node { ...f } } } } fragment f on Shop { products(first: 3) { totalCount } }",
            {},
            2 + 6,
        ),
        ("{ shops(first: 2) { edges { node { ...f } } } } fragment f on Shop { ...f }", {}, 2),  # a cycle: no loop
        # an absent variable is its default; a given one (null included) wins over the default
        ("query($n: Int = 60) { shops(first: $n) { totalCount } }", {}, 60),
        ("query($n: Int = 60) { shops(first: $n) { totalCount } }", {"n": 5}, 5),
        ("query($n: Int = 60) { shops(first: $n) { totalCount } }", {"n": None}, 20),
        # every connection's default page: the pool's and the webhook inbox's too
        ("{ inventoryItems { edges { node { movements { totalCount } } } } }", {}, 20 + 400),
        ('{ unlinkedSkus(shopId: "x") { totalCount } webhookEvents(shopId: "x") { totalCount } }', {}, 40),
        # a `first` above a page's 100 is the resolver's BAD_USER_INPUT, counted as a full page, not a cost
        ("{ shops(first: 2147483647) { totalCount } }", {}, 100),
        ("query($n: Int) { shops(first: $n) { totalCount } }", {"n": 5001}, 100),
        ("{ shops(first: 101) { edges { node { orders(first: 1000) { totalCount } } } } }", {}, 100 + 10_000),
    ],
)
def test_estimate(document: str, variables: dict, expected: int) -> None:
    assert estimate_objects(parse(document), None, variables) == expected


def test_the_named_operation_is_the_one_estimated() -> None:
    document = parse("query Small { shops(first: 1) { totalCount } } query Big { shops(first: 99) { totalCount } }")
    assert (estimate_objects(document, "Small", {}), estimate_objects(document, "Big", {})) == (1, 99)


def test_every_field_with_a_page_size_counts_its_default_page() -> None:
    # a connection the estimate did not know counted as one object, whatever its default page (inventoryItems,
    # movements, unlinkedSkus and webhookEvents were missing, so the limit let 20x more through)
    schema = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
    paged = {
        name
        for graphql_type in schema.type_map.values()
        if isinstance(graphql_type, GraphQLObjectType)
        for name, field in graphql_type.fields.items()
        if "first" in field.args
    }
    assert paged == _PAGED_FIELDS


def test_every_list_of_objects_is_a_connection_or_counted_as_a_list() -> None:
    # a list of objects the estimate did not know counted as one object however many it held, and multiplied
    # nothing under it (sec49: InventoryItem.links and SkuLink.inventoryItem, nested, answered 810,000 objects)
    schema = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
    lists = {
        name
        for graphql_type in schema.type_map.values()
        if isinstance(graphql_type, GraphQLObjectType) and not graphql_type.name.startswith("__")
        for name, field in graphql_type.fields.items()
        if isinstance(get_nullable_type(field.type), GraphQLList)
        and isinstance(get_named_type(field.type), GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)
        and name not in {"edges", "userErrors"}  # a connection's page; a payload's refusals, loading nothing
    }
    assert lists == set(_UNPAGED_LISTS)


def test_the_limit_refuses_a_cycle_of_lists_four_deep() -> None:
    cyclic = '{ inventoryItem(id: "x") { links { inventoryItem { links { inventoryItem { links { state } } } } } } }'
    assert estimate_objects(parse(cyclic), None, {}) > MAX_OBJECTS


def _doubling(levels: int, leaf: str) -> str:
    """Fragments F0..F{levels - 1} each spreading the next one twice; F{levels} holds `leaf`."""
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"{{ ...F0 }} {spreads} fragment F{levels} on Query {{ {leaf} }}"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ supportedRegions }", 1),
        ("{ shops { edges { node { id name } } } }", 5),
        ("{ ... on Query { supportedRegions } }", 2),
        # each spread is a selection and brings its fragment's; the fragment's definition counts once more
        ("{ ...f ...f } fragment f on Query { a b }", (2 + 2 + 2) + 2),
        # a cycle (a validation error) is not followed again: f counts its own spread once, wherever spread
        ("{ shops { edges { node { ...f } } } } fragment f on Shop { ...f }", (4 + 1) + (1 + 1)),
        ("{ ...missing }", 1),
    ],
)
def test_expanded_selections(document: str, expected: int) -> None:
    assert expanded_selections(parse(document)) == expected


def test_doubling_fragments_are_counted_and_estimated_without_walking_every_spread() -> None:
    # 60 levels: 2^60 copies of the leaf; walking them (as the estimate did) would never end
    document = parse(_doubling(60, "shops(first: 3) { totalCount }"))
    # F60 holds 2 selections; F(i) = 2 + 2 F(i + 1); the operation is 1 + F0, and every definition counts
    per_level = [2]
    for _ in range(60):
        per_level.append(2 + 2 * per_level[-1])
    assert expanded_selections(document) == (1 + per_level[-1]) + sum(per_level)
    assert estimate_objects(document, None, {}) == 3 * 2**60


# GraphiQL's introspection query (GraphiQL 3 asks for input values' deprecation; every option on, as its largest)
GRAPHIQL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)
AMPLIFIED = "{ __schema { types { fields { args { type { name } } type { fields { name args { name } } } } } } }"


def test_introspection_counts_the_objects_it_returns() -> None:
    schema = app_schema._schema
    # GraphiQL's own introspection query stays well within the limit
    graphiql = estimate_objects(parse(GRAPHIQL_INTROSPECTION), None, {}, schema)
    assert 1_000 < graphiql < MAX_OBJECTS / 2, graphiql
    # thirty aliases of a nested introspection (~766 KB, ~0.5 s of CPU each) were counted as nothing
    thirty = "{ " + " ".join(f"a{i}: {AMPLIFIED[2:-2]}" for i in range(30)) + " }"
    one = estimate_objects(parse(AMPLIFIED), None, {}, schema)
    assert estimate_objects(parse(thirty), None, {}, schema) == 30 * one > MAX_OBJECTS
    # exactly: one `__Type` for `__type`, one per field, one per field's type (its wrapper), nothing under a wrapper
    shop = schema.type_map["Shop"]
    assert isinstance(shop, GraphQLObjectType)
    document = parse('{ __type(name: "Shop") { fields { type { fields { name } } } } }')
    exact = estimate_objects(document, None, {}, schema)
    assert exact == 1 + 2 * len(shop.fields) + sum(
        len(field.type.fields) for field in shop.fields.values() if isinstance(field.type, GraphQLObjectType)
    )


def test_the_huge_literal_check_defines_no_class_per_operation() -> None:
    """Every operation runs the check for Int literals past 20 digits (`gql.cost._huge_int_literal`); a visitor class
    defined per call was a reference cycle left for the collector's full collection (soak53 item 2)."""
    import gc

    from graphql import Visitor

    from gql.cost import _huge_int_literal

    document = parse("{ shops(first: 5) { edges { node { id } } } }")
    was_enabled = gc.isenabled()
    gc.disable()  # a class left behind would stay among the visitor's subclasses until a collection
    try:
        before = len(Visitor.__subclasses__())
        assert [_huge_int_literal(document) for _ in range(3)] == [None] * 3
        assert len(Visitor.__subclasses__()) == before
    finally:
        if was_enabled:
            gc.enable()
    huge = _huge_int_literal(parse("{ shops(first: 123456789012345678901234) { totalCount } }"))
    assert huge is not None and huge.value == "123456789012345678901234"


def test_a_refusals_figure_is_capped_at_a_billion_and_keeps_the_limit() -> None:
    # given the estimate of a document nested 60 levels deep (tryout72 F4: a 91-digit figure in the message)
    deep = parse("{ " + "shops { edges { node { " * 60 + "id" + " } } }" * 60 + " }")
    cost = estimate_objects(deep, None, {})
    assert len(f"{cost}") == 79  # digits
    # then the message says "more than" the cap, never the figure, and still gives the limit
    assert too_costly(cost, MAX_OBJECTS) == (
        "This query could load more than 1,000,000,000 objects; the limit is 5,000. Ask for smaller pages."
    )
    # and a figure at or below the cap is given as it is
    assert too_costly(1_000_000_000, 5_000).startswith("This query could load up to 1,000,000,000 objects;")
    assert (
        too_costly(12_000, 5_000)
        == "This query could load up to 12,000 objects; the limit is 5,000. Ask for smaller pages."
    )
