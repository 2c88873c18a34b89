"""A refusal TikTok answers once the shop's authorization has ended leaves it EXPIRED, not REVOKED, on SQLite and
PostgreSQL, against the sandbox over HTTP (break66 F2).

Found by attack: a poll (as an import, a push, a webhook batch) checks that the shop may sync when it begins; one
still walking its pages when the end TikTok announced (webhook 7) passes meets TikTok's refusal of the ended
authorization's tokens, and that refusal made the shop REVOKED, now, as if the seller had removed the app or a
refresh had been refused, where its end explains it: EXPIRED, since its end date (README, Status; the webhook
intake already says so of a shop that expired before its batch: "it stays EXPIRED").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from domain.services.polling import start_poll
from domain.shops import ShopStatus
from domain.sync import SyncKind, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.integration.test_polling import ORDER_SEARCH, POLLS, _import

END_IN = timedelta(seconds=2)  # the announced end, from the poll's begin: the test waits for it to pass


async def test_a_poll_refused_after_the_announced_end_leaves_the_shop_expired(
    database_url: str,
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:
    sandbox = sandbox_factory(SandboxConfig(products=3, orders=3))
    settings = sync_settings(database_url, sandbox, tmp_path, sync_page_size=2).with_overrides(webhooks_app_wide=True)
    harness = sync_harness_factory(settings)
    assert harness.start_worker() is not None
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    await _import(harness, shop)
    # given five orders changed at TikTok (three pages of the poll), and TikTok's notice that the authorization
    # ends in two seconds (webhook 7)
    now = harness.clock.now()
    at = int(now.timestamp())
    changes = [{"create_time": at - 60 - i, "update_time": at - 30 + i} for i in range(5)]
    sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/orders", {"orders": changes})
    end = now + END_IN
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None and stored.note_authorization_end(end, now, now)
        await uow.shops.update(stored)
        await uow.commit()
    # and a poll that began before it, its first page waiting at TikTok
    sandbox.hold(ORDER_SEARCH)
    assert harness.queue is not None
    task_id = await start_poll(
        harness.uow_factory, harness.queue, harness.events, harness.clock, POLLS, shop.id, SyncKind.ORDERS
    )
    assert task_id is not None
    await asyncio.to_thread(sandbox.wait_held)
    # when the end passes meanwhile, TikTok then refusing the ended authorization's tokens, and the poll goes on
    await asyncio.sleep(max((end - harness.clock.now()).total_seconds(), 0) + 0.2)
    sandbox.control("POST", "/sellers/us-local/revoke")
    sandbox.hold()  # the waiting page is answered (its token was checked as it came); the next one is refused
    done = await harness.wait(task_id)
    # then the poll failed for the authorization, and the shop says what happened: EXPIRED at its end (was REVOKED)
    assert (done.status, done.error_code) == (SyncTaskStatus.FAILED, "REAUTHORIZATION_REQUIRED"), done
    async with harness.uow_factory() as uow:
        after = await uow.shops.get(shop.id)
    assert after is not None
    assert (after.revoked_at, after.status(harness.clock.now()), after.expires_at) == (None, ShopStatus.EXPIRED, end)
