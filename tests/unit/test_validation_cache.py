"""The schema validates a given document once: ValidationCache hits from the second operation on (gql/schema.py).

A limiter built per operation used to bring a new validation rule class each time, so the cache (keyed on the
rules) never hit and every request validated its whole document again."""

from __future__ import annotations

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
