"""`totalCount` is counted whenever a client asks for it, also through an inline or named fragment (gql/readers.py
`wants_total`); -1 is only for a connection whose count nobody asked for."""

from __future__ import annotations

from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer

ASKED = {
    "directly": "{ shops { totalCount } }",
    "inline fragment": "{ shops { ... on ShopConnection { totalCount } } }",
    "named fragment": "{ shops { ...Counted } } fragment Counted on ShopConnection { totalCount }",
    "fragment in a fragment": """{ shops { ...Outer } }
        fragment Outer on ShopConnection { ... on ShopConnection { ...Inner } }
        fragment Inner on ShopConnection { totalCount }""",
    "beside edges": """{ shops(first: 1) { edges { node { id } } ...Counted } }
        fragment Counted on ShopConnection { totalCount }""",
}


pytestmark = subject_not_the_database("the GraphQL layer's totalCount inside fragments")


def test_total_count_asked_inside_a_fragment_is_the_real_count(app: ShopbridgeServer) -> None:
    app.connect_shop("m1", "us-local", "US")
    for how, query in ASKED.items():
        assert app.graphql(query, None, "m1")["shops"]["totalCount"] == 1, how
        assert app.graphql(query, None, "m2")["shops"]["totalCount"] == 0, how
