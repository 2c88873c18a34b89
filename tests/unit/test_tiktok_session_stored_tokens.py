"""`ShopSession` with other processes refreshing the same shop: a token TikTok refused that the session did not
replace itself is compared with the stored pair, which is adopted when it differs (every caller alike: import,
webhook intake, pushes, registration), and only a refusal the store cannot explain is a lost authorization.

Two `TikTokClient`s stand for two processes (sessions of one client share their shop's refresh, so they cannot);
TikTok ends the old access and refresh tokens at once on a refresh, as the sandbox does."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from adapters.tiktok.errors import InvalidAccessTokenError
from adapters.tiktok.session import MAX_STALE_TOKEN_RETRIES
from domain.shops import TokenSet
from tests.unit.test_tiktok_client import TOKENS, fail, make_client, ok, token_data

INVALID = "The x-tts-access-token header is invalid."


class RotatingTikTok:
    """One grant: only the latest pair works; a refresh ends the old access and refresh tokens; `expire()` makes
    the live access token answer 105002 until refreshed."""

    def __init__(self) -> None:
        self.access, self.refresh = TOKENS.access_token, TOKENS.refresh_token
        self.expired = False
        self.also_valid: set[str] = set()  # access tokens of other grants (a re-authorization's)
        self.refreshed: list[str] = []  # the refresh tokens TikTok was asked to refresh, in order

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            asked = request.url.params["refresh_token"]
            self.refreshed.append(asked)
            if asked != self.refresh:
                return fail(36004005, "The refresh token is invalid.")
            data = token_data(str(len(self.refreshed)))
            self.access, self.refresh, self.expired = data["access_token"], data["refresh_token"], False
            return ok(data)
        if request.headers["x-tts-access-token"] in self.also_valid:
            return ok({"orders": [], "total_count": 0})
        if request.headers["x-tts-access-token"] != self.access:
            return fail(36009004, INVALID)
        if self.expired:
            return fail(105002, "Expired credentials. The x-tts-access-token header has expired.")
        return ok({"orders": [], "total_count": 0})


class Store:
    """The shops table as the sessions see it. `hidden`: pairs the next reads return instead (a commit on its
    way); `meanwhile`: run once during the next read, after it has read (another process acting then)."""

    def __init__(self, tokens: TokenSet) -> None:
        self.pair = tokens
        self.hidden: list[TokenSet] = []
        self.meanwhile: Callable[[], Awaitable[None]] | None = None
        self.reads = 0
        self.winner: TokenSet | None = None  # set: the compare-and-set of the next refreshed pair loses to it

    async def refreshed(self, tokens: TokenSet) -> TokenSet | None:
        if self.winner is not None:
            self.pair, self.winner = self.winner, None
            return self.pair
        self.pair = tokens
        return None

    async def stored(self) -> TokenSet | None:
        self.reads += 1
        seen = self.hidden.pop(0) if self.hidden else self.pair
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return seen

    def session(self, client: Any, tokens: TokenSet = TOKENS) -> Any:
        return client.for_shop("GCP_cipher", tokens, self.refreshed, stored_tokens=self.stored)


async def search(session: Any) -> None:
    await session.search_orders(page_size=10, page_token=None, create_time_ge=0, create_time_lt=1)


def access_tokens_sent(recorder: Any) -> list[str]:
    return [r.headers["x-tts-access-token"] for r in recorder.requests if r.url.path != "/api/v2/token/refresh"]


async def test_a_token_ended_by_another_processs_refresh_is_replaced_by_the_stored_pair(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given two processes holding the same pair, and the first refreshing it when it expires
    tiktok, store = RotatingTikTok(), Store(TOKENS)
    first, _ = make_client(tiktok)
    slept: list[float] = []
    second, recorder = make_client(tiktok, slept)
    tiktok.expired = True
    await search(store.session(first))
    # when the second process calls TikTok with the pair it loaded, which TikTok has ended
    session = store.session(second)
    with caplog.at_level(logging.INFO, logger="adapters.tiktok"):
        await search(session)
    # then it went on with the stored pair at once: one refresh in all, no pause, no error
    assert tiktok.refreshed == ["TTP_refresh_0"]
    assert access_tokens_sent(recorder) == ["TTP_access_0", "TTP_access_1"]
    assert session.tokens.access_token == "TTP_access_1" and slept == []
    # and said so at INFO only: the race is routine (try-out livesync52: a WARNING `code=36009004` per such call)
    # (the client's own lines: caplog's handler also takes any other logger's WARNING in the process meanwhile, e.g.
    # asyncio's about a task another test left, collected at any moment; a unit run failed here once with this
    # assertion over every record, not reproduced in 6 runs since, the extra record not seen)
    lines = [r for r in caplog.records if r.name.startswith("adapters.tiktok")]
    assert [r.levelname for r in lines] == ["INFO", "INFO"]
    assert "code=36009004" in lines[0].getMessage()
    assert lines[1].getMessage().endswith("adopting the pair stored by another process")


async def test_a_refresh_committed_a_moment_later_is_waited_for() -> None:
    # given another process that refreshed the pair, its commit visible only from the third read on
    tiktok, store = RotatingTikTok(), Store(TOKENS)
    other, _ = make_client(tiktok)
    tiktok.expired = True
    await search(store.session(other))
    store.hidden, store.reads = [TOKENS, TOKENS], 0
    slept: list[float] = []
    client, _ = make_client(tiktok, slept)
    session = store.session(client)
    # when this process's token is refused
    await search(session)
    # then it looked at the store again after 0.2 s and after 0.5 s more, and adopted the pair then committed
    assert slept == [0.2, 0.5] and store.reads == 3
    assert session.tokens.access_token == "TTP_access_1"


async def test_a_refusal_the_store_cannot_explain_is_a_lost_authorization(caplog: pytest.LogCaptureFixture) -> None:
    # given a TikTok that honours none of the shop's tokens (the seller deauthorized the app), the store unchanged
    tiktok, store = RotatingTikTok(), Store(TOKENS)
    tiktok.access = tiktok.refresh = "revoked"
    slept: list[float] = []
    client, recorder = make_client(tiktok, slept)
    # when a call is refused
    with pytest.raises(InvalidAccessTokenError), caplog.at_level(logging.INFO, logger="adapters.tiktok"):
        await search(store.session(client))
    # then the store was read four times, ~1.7 s apart in all, before giving up; no refresh was tried
    assert (store.reads, slept) == (4, [0.2, 0.5, 1.0])
    assert tiktok.refreshed == [] and access_tokens_sent(recorder) == ["TTP_access_0"]
    # and one WARNING says the authorization is lost, once nothing stored explained the refusal
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("no newer pair is stored: the authorization is lost")
    assert "code=36009004" in warnings[0] and "/order/202309/orders/search" in warnings[0]


async def test_our_refresh_refused_because_another_process_refreshed_first_adopts_its_pair() -> None:
    # given an expired pair, and another process that refreshes it (ending TTP_refresh_0) and commits just after
    # our first look at the store
    tiktok, store = RotatingTikTok(), Store(TOKENS)
    other, _ = make_client(tiktok)
    client, recorder = make_client(tiktok)
    session = store.session(client)
    tiktok.expired = True

    async def other_process_refreshes() -> None:
        store.pair = await other.refresh_shop("GCP_cipher", TOKENS)

    store.meanwhile = other_process_refreshes
    # when our call meets 105002, and our own refresh then meets a refresh token TikTok has ended
    await search(session)
    # then the pair the other process stored was adopted instead of declaring the authorization lost
    assert tiktok.refreshed == ["TTP_refresh_0", "TTP_refresh_0"]
    assert session.tokens.access_token == "TTP_access_1"
    assert access_tokens_sent(recorder) == ["TTP_access_0", "TTP_access_1"]


async def test_a_pair_stored_meanwhile_wins_over_our_refresh_and_is_used_next() -> None:
    # given an expired pair, and a re-authorization (its pair honoured by TikTok) stored while we refresh
    tiktok, store = RotatingTikTok(), Store(TOKENS)
    tiktok.also_valid = {"TTP_access_reauth"}
    store.winner = replace(TOKENS, access_token="TTP_access_reauth", refresh_token="TTP_refresh_reauth")
    client, recorder = make_client(tiktok)
    session = store.session(client)
    tiktok.expired = True
    # when the call refreshes, and then another call follows
    await search(session)
    await search(session)
    # then the session went on with the pair stored, not the one it refreshed and lost
    assert tiktok.refreshed == ["TTP_refresh_0"]
    assert session.tokens.access_token == "TTP_access_reauth"
    assert access_tokens_sent(recorder) == ["TTP_access_0", "TTP_access_reauth", "TTP_access_reauth"]


async def test_tokens_that_keep_changing_under_a_call_end_it_after_three_adoptions() -> None:
    # given a store whose pair changes at every read, none of which TikTok honours
    tiktok = RotatingTikTok()
    tiktok.access = "never"
    reads = [0]

    async def changing() -> TokenSet:
        reads[0] += 1
        return replace(TOKENS, access_token=f"TTP_access_elsewhere_{reads[0]}")

    async def keep(tokens: TokenSet) -> None:
        return None

    client, recorder = make_client(tiktok)
    session = client.for_shop("GCP_cipher", TOKENS, keep, stored_tokens=changing)
    with pytest.raises(InvalidAccessTokenError):
        await search(session)
    # then the loaded pair and three adopted ones were tried, no more
    assert MAX_STALE_TOKEN_RETRIES == 3
    assert access_tokens_sent(recorder) == [
        "TTP_access_0",
        "TTP_access_elsewhere_1",
        "TTP_access_elsewhere_2",
        "TTP_access_elsewhere_3",
    ]


async def test_a_refusal_for_a_shop_gone_from_the_store_is_raised_at_once() -> None:
    # given a TikTok that honours none of the shop's tokens, and a store where the shop is gone (disconnected)
    tiktok = RotatingTikTok()
    tiktok.access = tiktok.refresh = "revoked"
    reads = [0]

    async def gone() -> None:
        reads[0] += 1

    async def keep(tokens: TokenSet) -> None:
        return None

    slept: list[float] = []
    client, recorder = make_client(tiktok, slept)
    session = client.for_shop("GCP_cipher", TOKENS, keep, stored_tokens=gone)
    # when a call is refused
    with pytest.raises(InvalidAccessTokenError):
        await search(session)
    # then the store was read once, with no pause, and the call was not tried again
    assert (reads[0], slept) == (1, [])
    assert access_tokens_sent(recorder) == ["TTP_access_0"]
    assert tiktok.refreshed == []
