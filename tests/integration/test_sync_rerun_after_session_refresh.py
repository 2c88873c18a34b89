"""rerun72 on real parts (database, sandbox over HTTP, the embedded worker pool and its actors): a token refresh made
by a webhook registration's session (the worker's `register_webhooks` actor) that lifts a revocation sends the re-run
of the import the lost authorization failed right after its commit, as a re-authorization sends its re-runs. Before,
that session had no queue: the re-run was marked unsent and waited for the scheduler's next tick
(`SHOPBRIDGE_SCHEDULER_TICK`, up to 30 s by default; with the scheduler off, the stale sweep's 5 minutes or more).

The race, reproduced with a hold at TikTok: the registration loaded the shop ACTIVE and sent its first PUT; meanwhile
an ORDERS import failed with the stored pair refused (REAUTHORIZATION_REQUIRED, the shop REVOKED, PAIR_REFUSED, one
transaction, as the importer commits it); the registration's next PUT finds the access token expired (105002), its
session refreshes that very pair and stores the renewed one, which lifts the revocation (`Shop.refresh_tokens`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from domain.errors import ErrorCode
from domain.shops import Revocation, ShopStatus
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SMALL_DATA, SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import until

REGISTRATION = "/event/202309/webhooks"


async def test_a_refresh_by_a_webhook_registration_that_lifts_the_revocation_sends_the_re_run_at_once(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given a connected shop and a worker pool with no scheduler (`sync_settings`: nothing ticks), and TikTok holding
    # the shop's webhook registration at its first PUT (the session loaded the shop ACTIVE, its token checked)
    sandbox = sandbox_factory(SandboxConfig(**SMALL_DATA, allow_insecure_webhook_urls=True))
    harness = sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    sandbox.hold(REGISTRATION)
    queue = harness.start_worker()
    await queue.enqueue_webhook_registration(shop.id)
    await asyncio.to_thread(sandbox.wait_held)

    # and meanwhile the shop's ORDERS import failed, TikTok refusing the pair stored: FAILED REAUTHORIZATION_REQUIRED
    # and the shop REVOKED for a refusal of that pair, in one transaction
    now = harness.clock.now()
    failed = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.ORDERS, SyncTrigger.AUTHORIZATION,
                            now - timedelta(minutes=1))  # fmt: skip
    failed.fail_run(ErrorCode.REAUTHORIZATION_REQUIRED, "TikTok refused the shop's authorization.", now)
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None and stored.revoke_refused(shop, now, shop.tokens.access_token)
        await uow.shops.update(stored)
        await uow.sync_tasks.add(failed)
        await uow.commit()
    assert stored.revoked_because is Revocation.PAIR_REFUSED

    # when the access token expires at TikTok and the registration goes on: its next PUT is refused 105002, its
    # session refreshes the pair it holds (the stored one) and stores the renewed pair, lifting the revocation
    sandbox.control("POST", "/sellers/us-local/expire-access-token")
    sandbox.hold()

    async def lifted() -> bool:
        async with harness.uow_factory() as uow:
            current = await uow.shops.get(shop.id)
        return current is not None and current.status(harness.clock.now()) is ShopStatus.ACTIVE

    await until(lifted, "the revocation lifted by the registration's refresh")

    # then the lift queued the failed import again, in its transaction, and handed it to the queue after its commit:
    # not left unsent for a scheduler tick (none comes here) ...
    async with harness.uow_factory() as uow:
        again = await uow.sync_tasks.latest_import(shop.id, SyncKind.ORDERS)
    assert again is not None and again.id != failed.id and again.trigger is SyncTrigger.REAUTHORIZATION
    assert not again.unsent, "the re-run waits for the scheduler's tick"
    # ... so the worker runs it, over the failed window to its queueing, and it succeeds with the renewed pair
    assert (again.orders_created_since, again.orders_created_until) == (failed.orders_created_since, again.created_at)
    done = await harness.wait(again.id)
    assert (done.status, done.failed) == (SyncTaskStatus.SUCCEEDED, 0), done
    assert done.processed > 0
