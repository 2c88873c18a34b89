"""A webhook registration of a shop whose authorization has ended asks TikTok nothing, on SQLite and PostgreSQL,
against the sandbox over HTTP (break66 F1).

Found by attack: every other path that calls TikTok for a shop (imports, polls, the reads of marked records, the
token sweep, webhook processing, the pool's pushes) leaves an EXPIRED shop alone, but a registration (queued again by
every process that starts with another SHOPBRIDGE_PUBLIC_URL, `reregister_moved_webhooks`, which skips only revoked
shops) sent its PUT with the dead access token, had the session refresh it with the dead refresh token, and TikTok's
refusal made the shop REVOKED: an EXPIRED shop, "TikTok ended" its authorization at its end date, became a shop the
seller revoked, now, with a refresh TikTok was never to be sent (README, Status: EXPIRED, nothing is "refreshed until
a re-authorization").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from adapters.tiktok.session import ShopSession
from domain.ports import ShopTokens
from domain.services.webhook_registration import (
    register_shop_webhooks,
    reregister_moved_webhooks,
    resume_webhook_registrations,
)
from domain.shops import Shop, ShopStatus
from sandbox.config import SandboxConfig
from tests.fakes import FakeClock, FakeTaskQueue
from tests.fixtures.sandbox import SMALL_DATA, SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings

ADDRESS = "https://shopbridge.example/webhooks/tiktok"
TTL = 86400  # the sandbox's tokens live a day here: the test moves both clocks past it, it waits for nothing


async def test_a_registration_of_an_expired_shop_asks_tiktok_nothing_and_the_shop_stays_expired(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    sandbox = sandbox_factory(SandboxConfig(**SMALL_DATA, access_token_ttl=TTL, refresh_token_ttl=TTL))
    harness = sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)

    def shop_api(loaded: Shop, tokens: ShopTokens) -> ShopSession:  # the worker's factory (workers/resources.py)
        return harness.tiktok.for_shop(
            loaded.tiktok_shop_cipher, loaded.tokens, tokens.refreshed, stored_tokens=tokens.stored
        )

    # given a shop whose refresh token (and access token) expired, at TikTok and here: EXPIRED
    sandbox.control("POST", "/clock", {"advance_seconds": 2 * TTL})
    later = FakeClock(shop.tokens.refresh_token_expires_at + timedelta(seconds=TTL))
    assert shop.status(later.now()) is ShopStatus.EXPIRED
    sandbox.control("POST", "/counters/reset")

    # when its webhooks are registered (a process started with another address queues it, as a retry may)
    registered = await register_shop_webhooks(harness.uow_factory, shop_api, later, shop.id, ADDRESS, harness.events)

    # then nothing was done: no PUT, no refresh of the dead tokens (was: a PUT refused 105002, a refresh refused)
    assert registered is False
    assert sandbox.control("GET", "/counters")["total"] == 0
    # and the shop still says what happened: EXPIRED at its end date, not REVOKED now
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None
    assert (stored.revoked_at, stored.status(later.now())) == (None, ShopStatus.EXPIRED)
    assert stored.webhook_registration_error is None
    # and neither sweep sends its registration again (it would do nothing, every sweep, for ever): the periodic
    # one of registrations never made, nor a process starting with another address
    queue = FakeTaskQueue()
    assert await resume_webhook_registrations(harness.uow_factory, queue, later, timedelta(0), failed_too=True) == []
    async with harness.uow_factory() as uow:
        stored.record_webhook_registration(shop.authorized_at, None, "https://before.example/webhooks/tiktok")
        await uow.shops.update(stored)
        await uow.commit()
    assert await reregister_moved_webhooks(harness.uow_factory, queue, ADDRESS, later.now()) == []
    assert queue.webhook_registrations == []
