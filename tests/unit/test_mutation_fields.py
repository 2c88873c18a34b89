"""How many units of the merchant's requests a minute a mutation operation takes: one per top-level field it runs
(gql/request_rate.py, security audit 50), and `RequestRate` takes several units at once, all or none."""

from __future__ import annotations

from graphql import OperationDefinitionNode, parse

from adapters.request_rate import RequestRate
from gql.request_rate import mutation_fields


def _count(source: str) -> int:
    document = parse(source)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return mutation_fields(document, operation)


def test_each_distinct_top_level_field_counts_through_fragments_and_typename_is_free() -> None:
    # given mutations with aliases, the same response name twice (it runs once), fragments and __typename
    create = 'inventoryItemCreate(input: {sku: "S", onHand: 1}) { userErrors { code } }'
    assert _count(f"mutation {{ a: {create} b: {create} c: {create} }}") == 3
    assert _count(f"mutation {{ a: {create} a: {create} __typename }}") == 1
    # then fields reached through an inline fragment or a spread (each fragment once) count as written
    fragment = f"fragment F on Mutation {{ a: {create} b: {create} }}"
    spread = f"mutation {{ ...F ...F ... on Mutation {{ d: {create} }} }} {fragment}"
    assert _count(spread) == 3
    # and the fields under the top level do not
    assert _count('mutation { shopRename(input: {id: "x", name: "n"}) { shop { id name } userErrors { code } } }') == 1


async def test_a_cost_is_taken_whole_or_not_at_all_and_never_above_the_cap() -> None:
    # given a limiter of 3 a minute
    rate = RequestRate(3)
    # when a key takes 2 units, then asks for 2 more
    assert await rate.admit("merchant:m1", 2) is None
    # then they are refused, and none of them was taken: 1 unit is still there
    assert await rate.admit("merchant:m1", 2) is not None
    assert await rate.admit("merchant:m1") is None
    assert await rate.admit("merchant:m1") is not None
    # and a cost above the whole minute's budget counts as the budget, admitted once the minute is free
    assert await rate.admit("merchant:m2", 50) is None
    assert await rate.admit("merchant:m2") is not None
