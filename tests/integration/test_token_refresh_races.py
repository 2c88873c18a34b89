"""The token sweep against another process's refresh of the same pair, with a TikTok that rotates refresh tokens
(the sandbox's `rotate_refresh_tokens`: a refresh token works once; whether TikTok does so is [UNCERTAIN] in
tiktok-api.md sec. 3). Two processes on one real database (SQLite: what is tested is the order of two processes'
commits, which both databases keep alike), each with its own TikTok client, against the sandbox over real HTTP.

Process B (an import's session) meets 105002 and refreshes R0 into P1, TikTok retiring R0; its commit of P1 is a
moment late. Process A (the token sweep) refreshes with the same R0, which TikTok refuses. Review clientreview53
item 1: the sweep looked at the store once, found P0 still there and revoked a shop whose authorization TikTok honours
(REVOKED with a working pair stored right after)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from domain.ports import AuthorizationLostError, ShopApi, ShopTokens
from domain.services import rereads
from domain.services.intake import IntakeDeps
from domain.services.shop_tokens import StoredShopTokens, revoke_refused_authorization
from domain.services.tokens import refresh_shop_tokens
from domain.shops import Revocation, Shop, ShopStatus, TokenSet
from domain.sync import RecordFailure, SyncKind
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import SQLITE_ONLY
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import log_lines, until


@dataclass
class At:
    """A clock stopped at one instant."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant


@dataclass
class Race:
    """Process A (the sweep's), process B (an import's), the shop, and B's session under way: its refresh answered
    by TikTok (P1 adopted, R0 spent) and its commit held until `commit_b` is set."""

    a: SyncHarness
    b: SyncHarness
    shop: Shop
    session: Any
    call_b: asyncio.Task[Any]
    commit_b: asyncio.Event
    sandbox: SandboxServer

    async def sweep(self, refused: asyncio.Event | None = None) -> object:
        """Process A's sweep of the shop, its access token due; `refused` is set when TikTok refuses its refresh."""

        async def refresh(loaded: Shop) -> TokenSet:
            try:
                return await self.a.tiktok.refresh_shop(loaded.tiktok_shop_cipher, loaded.tokens)
            except AuthorizationLostError:
                if refused is not None:
                    refused.set()
                raise

        due = At(self.shop.tokens.access_token_expires_at)
        return await refresh_shop_tokens(self.a.uow_factory, refresh, self.a.events, due, self.shop.id)

    async def stored(self) -> Shop:
        async with self.a.uow_factory() as uow:
            shop = await uow.shops.get(self.shop.id)
        assert shop is not None
        return shop

    async def assert_active_with(self, access_token: str, lines: Any = None) -> None:
        """The shop holds the pair of `access_token`, which TikTok honours, and is ACTIVE (its revocation lifted);
        with `lines` (`log_lines` of shop_tokens), one INFO line said it was lifted, naming the shop."""
        stored = await self.stored()
        assert stored.tokens.access_token == access_token
        assert await self.a.tiktok.warehouses(stored.tokens.access_token, stored.tiktok_shop_cipher) is not None
        assert (stored.revoked_at, stored.status(self.a.clock.now())) == (None, ShopStatus.ACTIVE)
        if lines is not None:
            lifted = [m for m in lines.messages if "is lifted" in m]
            assert len(lifted) == 1 and stored.id in lifted[0], lines.messages


async def _race(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> Race:
    sandbox = sandbox_factory(SandboxConfig(products=1, orders=1, rotate_refresh_tokens=True))
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    a, b = sync_harness_factory(settings), sync_harness_factory(settings)
    shop = await connect_shop(a.uow_factory, a.tiktok, sandbox)
    commit_b = asyncio.Event()
    held = StoredShopTokens(b.uow_factory, b.clock, shop)

    async def late_commit(pair: TokenSet) -> TokenSet | None:
        await commit_b.wait()
        return await held.refreshed(pair)

    session = b.tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, late_commit, stored_tokens=held.stored)
    sandbox.control("POST", "/sellers/us-local/expire-access-token")
    call_b = asyncio.create_task(session.warehouses())
    await until(lambda: session.tokens.access_token != shop.tokens.access_token, "B's refresh answered by TikTok")
    return Race(a, b, shop, session, call_b, commit_b, sandbox)


@SQLITE_ONLY
async def test_the_sweep_waits_for_a_refresh_committed_while_it_looks_at_the_store(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    # given process B's refresh of P0 answered by TikTok (R0 spent), its commit not yet made
    race = await _race(database_url, sandbox_factory, tmp_path, sync_harness_factory)
    refused, looked = asyncio.Event(), asyncio.Event()

    def look_seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if refused.is_set() and "shops" in statement and statement.lstrip().upper().startswith("SELECT"):
            looked.set()  # the sweep has read the store (P0, B's commit held) since TikTok refused its refresh

    engine = race.a.db.write_engine.sync_engine
    event.listen(engine, "after_cursor_execute", look_seen)

    async def commit_after_the_first_look() -> None:
        await looked.wait()
        race.commit_b.set()

    # when process A's sweep refreshes with R0 (refused), and B commits P1 once A has looked at the store once
    committer = asyncio.create_task(commit_after_the_first_look())
    try:
        verdict = await race.sweep(refused)
    finally:
        event.remove(engine, "after_cursor_execute", look_seen)
        committer.cancel()  # done already, unless the sweep never looked (then the assertions below say what it did)
        race.commit_b.set()
    await race.call_b

    # then the sweep, looking again for a moment as every session does, found B's pair and revoked nothing
    stored = await race.stored()
    assert verdict is None and refused.is_set()
    assert stored.revoked_at is None, "the sweep revoked the shop while B's refresh was being committed"
    assert stored.tokens.access_token == race.session.tokens.access_token
    assert stored.status(race.a.clock.now()) is ShopStatus.ACTIVE


@SQLITE_ONLY
async def test_a_refresh_committed_after_the_sweep_revoked_lifts_the_revocation(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    # given process B's refresh of P0 answered by TikTok (R0 spent), its commit held past the sweep's whole look
    race = await _race(database_url, sandbox_factory, tmp_path, sync_harness_factory)
    # when process A's sweep refreshes with R0: TikTok refuses it, and the store still has P0 when it gives up
    verdict = await race.sweep()
    assert verdict is None and (await race.stored()).revoked_at is not None
    # and B's commit of P1 lands after that
    with log_lines("domain.services.shop_tokens") as lines:
        race.commit_b.set()
        await race.call_b  # B's call went on with P1

    # then the shop holds B's pair, which TikTok honours, and is no longer REVOKED: one INFO line says so
    await race.assert_active_with(race.session.tokens.access_token, lines)


@SQLITE_ONLY
async def test_a_deauthorization_committed_while_a_refresh_is_answered_stands(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    """Review53 item 1: the refresh's commit lifted any revocation made since the pair was issued, the seller's
    deauthorization (webhook 6) too: the shop was ACTIVE again. Only a refused refresh's revocation is lifted."""
    sandbox = sandbox_factory(SandboxConfig(products=1, orders=1))
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    a = sync_harness_factory(settings)
    shop = await connect_shop(a.uow_factory, a.tiktok, sandbox)

    async def refresh_then_seller_deauthorizes(loaded: Shop) -> TokenSet:
        # given TikTok's answer to the sweep's refresh, and before its commit the seller removes the app: webhook 6's
        # batch commits (`intake._apply_notices` -> `Shop.deauthorize`), as another worker process would
        tokens = await a.tiktok.refresh_shop(loaded.tiktok_shop_cipher, loaded.tokens)
        async with a.uow_factory() as uow:
            stored = await uow.shops.get(loaded.id)
            assert stored is not None
            now = a.clock.now()
            assert stored.deauthorize(now, now)
            await uow.shops.update(stored)
            await uow.commit()
        return tokens

    # when the sweep's refresh commits the pair TikTok renewed
    due = At(shop.tokens.access_token_expires_at)
    with log_lines("domain.services.shop_tokens") as lines:
        await refresh_shop_tokens(a.uow_factory, refresh_then_seller_deauthorizes, a.events, due, shop.id)

    # then the shop stays REVOKED for the seller's reason (the new pair stored), and nothing is said to be lifted
    async with a.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None and stored.revoked_at is not None
    assert (stored.revoked_because, stored.status(a.clock.now())) == (Revocation.DEAUTHORIZED, ShopStatus.REVOKED)
    assert stored.tokens.access_token != shop.tokens.access_token
    assert not [m for m in lines.messages if "is lifted" in m], lines.messages


@SQLITE_ONLY
async def test_a_refresh_committed_late_lifts_a_revocation_by_another_processs_session_too(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    """Review54a F1: only the sweep's revocation (REFRESH_REFUSED) was lifted; when another session lost the race
    (an import, a poll, a webhook batch, a push, a registration, a read of unreadable marks by id), the shop stayed
    REVOKED (REFUSED) for good with a pair TikTok honours stored."""
    # given process B's refresh of P0 answered by TikTok (R0 spent), its commit held
    race = await _race(database_url, sandbox_factory, tmp_path, sync_harness_factory)
    a = race.a
    # and an unreadable order mark of the shop, which process A's poll reads again by id
    async with a.uow_factory() as uow:
        marks = [RecordFailure("5760000000000000001", "no create_time")]
        await uow.catalog.mark_unreadable(race.shop.id, SyncKind.ORDERS, marks, a.clock.now())
        await uow.commit()

    def shop_api(shop: Shop, tokens: ShopTokens) -> ShopApi:  # as workers.resources builds it
        return a.tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, tokens.refreshed, stored_tokens=tokens.stored)

    deps = IntakeDeps(a.uow_factory, shop_api, a.clock, events=a.events)
    # when A's poll reads the mark by id with P0: TikTok refuses it, the store still has P0 after the session's look
    assert await rereads.reread_unreadable(deps, race.shop.id, SyncKind.ORDERS) is None
    assert (await race.stored()).revoked_at is not None
    # and B's commit of P1 lands after that
    with log_lines("domain.services.shop_tokens") as lines:
        race.commit_b.set()
        await race.call_b

    # then, as when the sweep was the one refused, the shop holds B's pair, which TikTok honours, and is ACTIVE
    await race.assert_active_with(race.session.tokens.access_token, lines)


@SQLITE_ONLY
async def test_a_refusal_of_a_pair_the_session_adopted_is_lifted_by_a_late_refresh_of_that_pair(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    """Review54a F1, its other half: a session that loaded P0 adopted the pair P1 stored since, and TikTok refused P1
    (another process's refresh of P1 had just retired it, its commit late). The shop was revoked for a refusal of
    which pair, the revocation could not tell: REFUSED, which no refresh lifts."""
    # given process A's session of the shop as loaded with P0, and process B's refresh of P0 into P1, committed
    race = await _race(database_url, sandbox_factory, tmp_path, sync_harness_factory)
    a, b = race.a, race.b
    held_a = StoredShopTokens(a.uow_factory, a.clock, race.shop)
    session_a = a.tiktok.for_shop(
        race.shop.tiktok_shop_cipher, race.shop.tokens, held_a.refreshed, stored_tokens=held_a.stored
    )
    race.commit_b.set()
    await race.call_b
    with_p1 = await race.stored()
    # and process C's refresh of P1 into P2 answered by TikTok (P1 retired at once), its commit held
    commit_c = asyncio.Event()
    held_c = StoredShopTokens(b.uow_factory, b.clock, with_p1)

    async def late_commit(pair: TokenSet) -> TokenSet | None:
        await commit_c.wait()
        return await held_c.refreshed(pair)

    session_c = b.tiktok.for_shop(with_p1.tiktok_shop_cipher, with_p1.tokens, late_commit, stored_tokens=held_c.stored)
    race.sandbox.control("POST", "/sellers/us-local/expire-access-token")
    call_c = asyncio.create_task(session_c.warehouses())
    await until(lambda: session_c.tokens.access_token != with_p1.tokens.access_token, "C's refresh answered")

    # when A's call is refused P0, adopts P1 from the store, is refused P1 too, and the shop is revoked for it
    try:
        await session_a.warehouses()
    except AuthorizationLostError as refused:
        assert await revoke_refused_authorization(a.uow_factory, a.events, a.clock, race.shop, "a call", refused)
    else:
        raise AssertionError("TikTok honoured a pair it had retired")
    finally:
        commit_c.set()  # and C's commit of P2 lands after that
        await call_c

    # then the shop holds C's pair, which TikTok honours, and is ACTIVE: the refusal was of the pair C replaced
    await race.assert_active_with(session_c.tokens.access_token)
