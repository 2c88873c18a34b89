"""review69 R2 on real parts (database, sandbox over HTTP, the embedded worker pool): a poll that held the kind when
the shop was re-authorized queues, on its success, the import the lost authorization failed; that re-run reads the
failed task's window and stores every order of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from domain.errors import ErrorCode
from domain.polling import PollWindow, queue_poll
from domain.shops import choose_authorized_shop
from domain.sync import SyncKind, SyncTaskStatus, SyncTrigger
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import REGION_OF_SELLER, SyncHarness, orders_import_past_its_first_page

Factory = Callable[..., SyncHarness]


async def test_a_poll_holding_the_kind_at_the_reauthorization_queues_the_failed_import_on_its_success(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # given an orders import (20 a page) failed by the seller's revocation mid-import: the shop REVOKED
    harness, sandbox, queue, shop, failed = await orders_import_past_its_first_page(
        sandbox_factory, database_url, tmp_path, sync_harness_factory, orders=300
    )
    sandbox.control("POST", "/sellers/us-local/revoke")
    sandbox.hold()
    failed = await harness.wait(failed.id)
    assert (failed.status, failed.error_code) == (SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED.value)

    # and an orders poll QUEUED (not yet sent) when the seller approves the app again and the shop is re-authorized:
    # the re-authorization finds the poll active, so it queues nothing for ORDERS
    tokens = await harness.tiktok.exchange_code(sandbox.authorize("us-local")["code"])
    granted = choose_authorized_shop(
        await harness.tiktok.authorized_shops(tokens.access_token), REGION_OF_SELLER["us-local"]
    )
    now = harness.clock.now()
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        end = int(now.timestamp()) - 1
        poll = queue_poll(stored, SyncKind.ORDERS, PollWindow(end - 3600, end), now)
        await uow.sync_tasks.add(poll)
        stored.reauthorize(granted, tokens, harness.clock.now())
        await uow.shops.update(stored)
        await uow.commit()

    # when the poll runs and succeeds
    await queue.enqueue_sync(poll.id)
    assert (await harness.wait(poll.id)).status is SyncTaskStatus.SUCCEEDED

    # then the failed import was queued again in its success's transaction, a REAUTHORIZATION task from the failed
    # window's start to when it was queued (review70 F1), and sent: it succeeds, and the shop holds every order
    # TikTok created in that window
    async with harness.uow_factory() as uow:
        again = await uow.sync_tasks.latest_import(shop.id, SyncKind.ORDERS)
    assert again is not None and again.id != failed.id and again.trigger is SyncTrigger.REAUTHORIZATION
    assert (again.orders_created_since, again.orders_created_until) == (
        failed.orders_created_since,
        again.created_at,
    )
    done = await harness.wait(again.id)
    assert done.status is SyncTaskStatus.SUCCEEDED, done
    assert again.orders_created_since is not None and again.orders_created_until is not None
    since, until = again.orders_created_since.timestamp(), again.orders_created_until.timestamp()
    orders = sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/orders")["orders"]
    window = [o for o in orders if since <= o["create_time"] < until]
    assert 0 < failed.processed < len(window)  # what the failure left
    assert (done.processed, done.failed) == (len(window), 0), done
