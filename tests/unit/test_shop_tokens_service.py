"""`StoredShopTokens`: what a TikTok session of a shop is told when it refreshes the pair and when it reads the store.

Each refreshed pair is saved compare-and-set against the pair the session held; a pair stored meanwhile (a
re-authorization, another process's refresh) wins and is handed back; the pair read from the store becomes the
one the next refresh is judged against."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.services.shop_tokens import StoredShopTokens
from domain.shops import TokenSet
from tests.fakes import T0, FakeClock, FakeStore, FakeUnitOfWork, make_shop, make_tokens

LATER = T0 + timedelta(minutes=5)


def pair(name: str) -> TokenSet:
    return replace(make_tokens(T0), access_token=f"{name}-access", refresh_token=f"{name}-refresh")


def world() -> tuple[FakeStore, StoredShopTokens, str]:
    store = FakeStore()
    shop = make_shop()
    store.shops[shop.id] = shop
    return store, StoredShopTokens(lambda: FakeUnitOfWork(store), FakeClock(LATER), shop), shop.id


def stored_pair(store: FakeStore, shop_id: str) -> tuple[str, str]:
    tokens = store.shops[shop_id].tokens
    return tokens.access_token, tokens.refresh_token


async def test_a_refreshed_pair_is_stored_and_dated_now() -> None:
    store, tokens, shop_id = world()
    assert await tokens.refreshed(pair("first")) is None
    assert stored_pair(store, shop_id) == ("first-access", "first-refresh")
    assert store.shops[shop_id].tokens_refreshed_at == LATER  # the sweep plans the next refresh from it
    assert store.commits == 1


async def test_a_second_refresh_is_judged_against_the_first() -> None:
    store, tokens, shop_id = world()
    await tokens.refreshed(pair("first"))
    assert await tokens.refreshed(pair("second")) is None
    assert stored_pair(store, shop_id) == ("second-access", "second-refresh")


async def test_a_pair_stored_meanwhile_wins_and_is_handed_back() -> None:
    store, tokens, shop_id = world()
    store.shops[shop_id].refresh_tokens(pair("reauthorized"))  # e.g. a re-authorization committed meanwhile
    winner = await tokens.refreshed(pair("ours"))
    assert winner is not None and (winner.access_token, winner.refresh_token) == (
        "reauthorized-access",
        "reauthorized-refresh",
    )
    assert stored_pair(store, shop_id) == ("reauthorized-access", "reauthorized-refresh")
    assert store.commits == 0
    # the session goes on with the winner: its next refresh replaces the winner, not our lost pair
    assert await tokens.refreshed(pair("next")) is None
    assert stored_pair(store, shop_id) == ("next-access", "next-refresh")


async def test_the_same_pair_stored_already_is_not_written_again() -> None:
    store, tokens, shop_id = world()
    store.shops[shop_id].refresh_tokens(pair("same"))  # another session of this process stored it first
    assert await tokens.refreshed(pair("same")) is None
    assert store.commits == 0


async def test_the_stored_pair_is_read_and_the_next_refresh_is_judged_against_it() -> None:
    store, tokens, shop_id = world()
    store.shops[shop_id].refresh_tokens(pair("elsewhere"))  # the token sweep refreshed in another process
    read = await tokens.stored()
    assert read is not None and read.access_token == "elsewhere-access"
    # the session adopted it; its own refresh of that pair is stored, not judged superseded
    assert await tokens.refreshed(pair("ours")) is None
    assert stored_pair(store, shop_id) == ("ours-access", "ours-refresh")


async def test_a_deleted_shop_stores_nothing_and_has_no_pair() -> None:
    store, tokens, shop_id = world()
    del store.shops[shop_id]
    assert await tokens.refreshed(pair("ours")) is None
    assert await tokens.stored() is None
    assert store.commits == 0
