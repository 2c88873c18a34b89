"""The worker side restarted with another SHOPBRIDGE_ENCRYPTION_KEY than its shops' tokens were encrypted with:
a queued sync FAILS with REAUTHORIZATION_REQUIRED, a poll and a token refresh are skipped (and the scheduler queues
neither), as for a revoked shop, instead of crashing the actor with TokenCipherError. Real database (SQLite and
PostgreSQL), sandbox, worker pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from domain.polling import PollSettings
from domain.ports import AuthorizationLostError
from domain.services.polling import schedule_tick, start_poll
from domain.services.shop_tokens import StoredShopTokens, revoke_refused_authorization
from domain.services.sync import queue_authorization_sync
from domain.services.tokens import refresh_shop_tokens
from domain.shops import Shop, TokenSet
from domain.sync import RefreshedTokens, SyncKind, SyncTaskStatus
from tests.fakes import FakeScheduledWork
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings

POLLS = PollSettings(interval=timedelta(seconds=1), overlap=timedelta(seconds=600), settle=timedelta(0))


@dataclass
class At:
    """A clock stopped at one instant."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant


async def _connected_then_another_key(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> tuple[SyncHarness, Shop, SyncHarness]:
    """A shop connected by a process with key A (its harness, the shop), and a harness of processes with a key B
    only, on the same database and sandbox."""
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    before = sync_harness_factory(settings)
    shop = await connect_shop(before.uow_factory, before.tiktok, sandbox)
    return before, shop, sync_harness_factory(settings.with_overrides(encryption_key=Fernet.generate_key().decode()))


async def test_syncs_polls_and_refreshes_of_a_shop_with_unreadable_tokens_stop_cleanly(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    # given a shop connected by a process with key A, and the workers restarted with key B only
    before, shop, after = await _connected_then_another_key(database_url, sandbox, tmp_path, sync_harness_factory)
    queue = after.start_worker()

    # when a sync task of the shop (queued before the restart) runs
    async with after.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, queue, shop, after.clock.now())
        await uow.commit()
    # then it FAILS with the stable code, as for a revoked shop
    for task in tasks:
        done = await after.wait(task.id)
        assert (done.status, done.error_code) == (SyncTaskStatus.FAILED, "REAUTHORIZATION_REQUIRED")

    # when a poll is due, and when the access token is due for renewal
    polled = await start_poll(after.uow_factory, queue, after.events, after.clock, POLLS, shop.id, SyncKind.ORDERS)
    sent: list[str] = []

    async def refresh(loaded: Shop) -> TokenSet:
        sent.append(loaded.id)
        return await after.tiktok.refresh_shop(loaded.tiktok_shop_cipher, loaded.tokens)

    due = At(shop.tokens.access_token_expires_at)
    refreshed = await refresh_shop_tokens(after.uow_factory, refresh, after.events, due, shop.id)
    # then neither asks TikTok anything: the shop needs re-authorizing first
    assert (polled, refreshed, sent) == (None, None, [])
    # and a process with key A reads the tokens as they were: nothing was overwritten
    async with before.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None and not stored.tokens_unreadable and stored.revoked_at is None
    assert stored.tokens == shop.tokens


async def test_a_refusal_where_the_pair_stored_since_is_unreadable_revokes_nothing(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    """A key rotation rolling out (README, "The encryption key"): processes configured `NEW,OLD` write every pair
    under NEW while the others, still on OLD alone, run. A session of an OLD process whose access token TikTok ends
    because a NEW process renewed the pair cannot read the pair stored since: it must not adopt the empty
    placeholders the shop loads with, nor revoke a shop whose authorization the other processes hold."""
    # given a shop connected by a process with key OLD, and a process configured NEW,OLD
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    old = sync_harness_factory(settings)
    shop = await connect_shop(old.uow_factory, old.tiktok, sandbox)
    rotated = f"{Fernet.generate_key().decode()},{settings.encryption_key}"
    new = sync_harness_factory(settings.with_overrides(encryption_key=rotated))
    # and a session of the OLD process under way, with the pair it loaded
    held = StoredShopTokens(old.uow_factory, old.clock, shop)
    session = old.tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, held.refreshed, stored_tokens=held.stored)

    # when the NEW process renews the pair (TikTok ends the old access token at once), stored under NEW
    async def refresh(loaded: Shop) -> TokenSet:
        return await new.tiktok.refresh_shop(loaded.tiktok_shop_cipher, loaded.tokens)

    due = At(shop.tokens.access_token_expires_at)
    assert await refresh_shop_tokens(new.uow_factory, refresh, new.events, due, shop.id) is RefreshedTokens.STORE
    # then the OLD process finds nothing it can adopt: the stored pair is not handed to its session
    assert await held.stored() is None
    # and its session's next call is refused, which revokes nothing
    with pytest.raises(AuthorizationLostError) as refused:
        await session.warehouses()
    revoked = await revoke_refused_authorization(
        old.uow_factory, old.events, old.clock, shop, "an inventory push", refused.value
    )
    assert revoked is False
    async with new.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None and stored.revoked_at is None and not stored.tokens_unreadable


async def test_the_scheduler_queues_no_poll_or_refresh_of_a_shop_with_unreadable_tokens(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    # given a shop connected by a process with key A, whose access token is due for renewal
    before, shop, after = await _connected_then_another_key(database_url, sandbox, tmp_path, sync_harness_factory)
    due = At(shop.tokens.access_token_expires_at)
    # when the scheduler of a process with key B only ticks
    queued = FakeScheduledWork()
    await schedule_tick(after.uow_factory, queued, due, POLLS)
    # then it queues nothing for the shop: each poll and refresh would only find it REVOKED (before: two polls and a
    # refresh every tick, for as long as the key stays lost)
    assert (queued.polls, queued.refreshes) == ([], [])
    # while a process with key A polls and refreshes it as usual
    await schedule_tick(before.uow_factory, queued, due, POLLS)
    assert sorted((shop_id, kind) for shop_id, kind, _ in queued.polls) == [
        (shop.id, SyncKind.ORDERS), (shop.id, SyncKind.PRODUCTS),
    ]  # fmt: skip
    assert queued.refreshes == [shop.id]
