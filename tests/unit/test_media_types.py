"""Which media type a GraphQL answer takes from the Accept header (gql/responses.py; README, "Transports")."""

from __future__ import annotations

import pytest

from gql.responses import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, response_media_type


def _accepting(accept: str | None) -> dict[str, object]:
    headers = [] if accept is None else [(b"accept", accept.encode("latin-1"))]
    return {"type": "http", "headers": headers}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, APPLICATION_JSON),
        ("application/json", APPLICATION_JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.9, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=1, application/json;q=0.5", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json; q=0.5, application/json", APPLICATION_JSON),
        ("application/graphql-response+json;q=0.5, application/json;q=0.9", APPLICATION_JSON),
        ("application/graphql-response+json;q=0", APPLICATION_JSON),
        ("application/graphql-response+json;q=0.00", APPLICATION_JSON),
        ("application/graphql-response+json;Q=0.000", APPLICATION_JSON),
        ("application/graphql-response+json;q=oops", GRAPHQL_RESPONSE_JSON),
        ("*/*", APPLICATION_JSON),
    ],
    ids=[
        "none", "json", "graphql-response", "both-unweighted", "tie", "graphql-response-preferred",
        "json-preferred-by-default-q", "json-preferred", "refused", "refused-two-decimals", "refused-upper-q",
        "not-a-quality", "wildcard",
    ],
)  # fmt: skip
def test_the_client_gets_the_media_type_it_prefers(accept: str | None, expected: str) -> None:
    # a legacy client that ranks application/json above application/graphql-response+json keeps its 200s
    assert response_media_type(_accepting(accept)) == expected
