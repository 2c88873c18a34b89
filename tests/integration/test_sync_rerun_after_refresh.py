"""review70 F3 on real parts (database, sandbox over HTTP, the embedded worker pool): the token sweep's refresh
renews the pair at TikTok, which ends the old access token at once, while an orders import is mid-way with it; the
import's next search is refused with the pair still stored, so it FAILS (REAUTHORIZATION_REQUIRED) and revokes the
shop (PAIR_REFUSED); the sweep then stores the renewed pair, which lifts that revocation (`Shop.refresh_tokens`,
review54a F1). The lift queues the failed import again in its own transaction, and that re-run stores every order
of the failed window. Before, the shop was ACTIVE again with its window unread until a later re-authorization."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from domain.errors import ErrorCode
from domain.services.tokens import refresh_shop_tokens
from domain.shops import Revocation, Shop, ShopStatus, TokenSet
from domain.sync import RefreshedTokens, SyncKind, SyncTaskStatus, SyncTrigger
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, orders_import_past_its_first_page

Factory = Callable[..., SyncHarness]


async def test_a_refresh_that_lifts_the_revocation_its_renewal_caused_queues_the_failed_import_again(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # given an orders import (20 a page) past its first page, its next search held at TikTok
    harness, sandbox, queue, shop, running = await orders_import_past_its_first_page(
        sandbox_factory, database_url, tmp_path, sync_harness_factory, orders=300
    )
    # and its shop's access token due for the sweep's refresh (our stored copy says it expires now)
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        stored.tokens = replace(stored.tokens, access_token_expires_at=harness.clock.now())
        await uow.shops.update(stored)
        await uow.commit()
    verdicts: list[tuple[SyncTaskStatus, str | None, Revocation | None]] = []

    async def renewed_while_the_import_runs(loaded: Shop) -> TokenSet:
        # TikTok renews the pair (the old access token ends at once); before the sweep stores it, the import's held
        # search is answered and its next one, sent with the old token, is refused: the import fails
        tokens = await harness.tiktok.refresh(loaded.tokens.refresh_token)
        await asyncio.to_thread(sandbox.hold)  # every held call answered, nothing held any more
        failed = await harness.wait(running.id)
        async with harness.uow_factory() as uow:
            revoked = await uow.shops.get(shop.id)
        assert revoked is not None
        verdicts.append((failed.status, failed.error_code, revoked.revoked_because))
        return tokens

    # when the token sweep refreshes the shop, and stores the renewed pair once the import has failed
    verdict = await refresh_shop_tokens(
        harness.uow_factory, renewed_while_the_import_runs, harness.events, harness.clock, shop.id, queue=queue
    )

    # then the import had failed for the refused token, the shop revoked for a refusal of the stored pair ...
    assert verdicts == [(SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED.value, Revocation.PAIR_REFUSED)]
    # ... which storing the renewed pair lifted: ACTIVE, not re-authorized
    assert verdict is RefreshedTokens.STORE
    async with harness.uow_factory() as uow:
        lifted = await uow.shops.get(shop.id)
        again = await uow.sync_tasks.latest_import(shop.id, SyncKind.ORDERS)
    assert lifted is not None and lifted.status(harness.clock.now()) is ShopStatus.ACTIVE
    assert lifted.authorized_at == shop.authorized_at
    # and the lift queued the failed import again, a REAUTHORIZATION task from the failed window's start to when it
    # was queued, and sent it: it succeeds with the renewed pair, and stores every order TikTok created in it
    failed = await harness.wait(running.id)
    assert again is not None and again.id != failed.id and again.trigger is SyncTrigger.REAUTHORIZATION
    assert (again.orders_created_since, again.orders_created_until) == (failed.orders_created_since, again.created_at)
    done = await harness.wait(again.id)
    assert done.status is SyncTaskStatus.SUCCEEDED, done
    assert again.orders_created_since is not None and again.orders_created_until is not None
    since, until = again.orders_created_since.timestamp(), again.orders_created_until.timestamp()
    orders = sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/orders")["orders"]
    window = [o for o in orders if since <= o["create_time"] < until]
    assert 0 < failed.processed < len(window)  # what the failure left
    assert (done.processed, done.failed) == (len(window), 0), done
