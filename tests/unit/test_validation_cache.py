"""The schema validates a given document once: ValidationCache hits from the second operation on (gql/schema.py).

A limiter built per operation used to bring a new validation rule class each time, so the cache (keyed on the
rules) never hit and every request validated its whole document again."""

from __future__ import annotations

from strawberry.extensions.parser_cache import _get_parse_cache  # the cache ParserCache(256) uses
from strawberry.extensions.validation_cache import _get_validate_cache  # the cache ValidationCache(256) uses

from gql.schema import schema

PAGE = "query($id: ID!) { shop(id: $id) { name orders(first: 5) { totalCount edges { node { id } } } } }"


async def test_the_same_document_is_validated_once() -> None:
    cache = _get_validate_cache(256)
    before = cache.cache_info()
    for _ in range(3):
        await schema.execute(PAGE, variable_values={"id": "U2hvcDox"}, context_value=None)
    after = cache.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 2


async def test_the_alias_and_depth_limits_still_apply() -> None:
    aliases = "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"
    result = await schema.execute(aliases, context_value=None)
    assert result.errors and "aliases" in str(result.errors[0]).lower()
    level = "syncTasks(first: 1) { edges { node { shop { "
    nested = "query { shops(first: 1) { edges { node { " + level * 3 + "id" + " } } } }" * 3 + " } } } }"
    result = await schema.execute(nested, context_value=None)
    assert result.errors and "depth" in str(result.errors[0]).lower()


async def test_a_document_over_32_kib_is_neither_kept_by_the_caches_nor_spared_validation() -> None:
    # given a document of ~1 MB, one string literal (one token: within every limit), and one of ~32 KB
    parsed, validated = _get_parse_cache(256), _get_validate_cache(256)
    large = '{ shop(id: "' + "a" * 1_000_000 + '") { name } }'
    small = '{ shop(id: "' + "b" * 32_000 + '") { name } }'
    before = (parsed.cache_info().currsize, validated.cache_info().currsize)
    parsed.cache_clear()
    validated.cache_clear()
    # when each is executed
    for document in (large, small):
        result = await schema.execute(document, context_value=None)
        assert result.data == {"shop": None} and not result.errors, result  # it ran: past parse and validation
    # then only the small one is kept: 256 documents of 1 MB each pinned ~540 MB of the API process
    assert (parsed.cache_info().currsize, validated.cache_info().currsize) == (1, 1), before
    # and the large one is still validated (uncached) before anything runs
    refused = await schema.execute('{ shop(id: "' + "a" * 1_000_000 + '") { nope } }', context_value=None)
    assert (
        refused.errors and refused.data is None and refused.errors[0].extensions["code"] == "GRAPHQL_VALIDATION_FAILED"
    )
