"""The cost estimate: objects a document could load, from `first` (or its default) along nested pages."""

from __future__ import annotations

import pytest
from graphql import parse

from gql.cost import estimate_objects


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
            10 + 500,
        ),
        ("query($n: Int) { shops(first: $n) { edges { node { id } } } }", {"n": 7}, 7),
        ("{ a: shops(first: 10) { totalCount } b: shops(first: 30) { totalCount } }", {}, 40),
        (
            "{ shops(first: 2) { edges { node { ...f } } } } fragment f on Shop { products(first: 3) { totalCount } }",
            {},
            2 + 6,
        ),
        ("{ shops(first: 2) { edges { node { ...f } } } } fragment f on Shop { ...f }", {}, 2),  # a cycle: no loop
    ],
)
def test_estimate(document: str, variables: dict, expected: int) -> None:
    assert estimate_objects(parse(document), None, variables) == expected


def test_the_named_operation_is_the_one_estimated() -> None:
    document = parse("query Small { shops(first: 1) { totalCount } } query Big { shops(first: 99) { totalCount } }")
    assert (estimate_objects(document, "Small", {}), estimate_objects(document, "Big", {})) == (1, 99)
