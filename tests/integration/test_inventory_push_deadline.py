"""A push round that hangs is bounded: TikTok's answer trickling in (one byte every 50 ms, so the client's per-read
timeout never fires) kept the run going, and renewing its claims, for as long as TikTok took; no other worker could
push its products meanwhile (issue 8; README, "A round's deadline"). Past `PushDeps.round_deadline` the round is
stopped as a stop stops it: the claims are handed back due now, one WARNING line says why."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.tiktok import TikTokClient
from domain.services.inventory_push import push_shop
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    outbox_row,
    tiktok_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product

UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"
TRICKLE_SECONDS = 60.0  # far past every bound of the run below: a run that waits for it fails the test


def impatient(world: PushWorld) -> PushWorld:
    """`world` with TikTok's client as production sets it up, its timeout short: 1 s per read, no retry (and 2 s for
    a whole answer, past the round's 1 s deadline below: the round's deadline, not the request's, ends the run)."""
    settings = replace(world.tiktok.settings, timeout_seconds=1.0, max_retries=0)
    return replace(world, tiktok=TikTokClient(settings, world.http))


async def test_a_round_whose_answer_trickles_in_hands_its_claims_back_at_its_deadline(
    world: PushWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # given a pooled SKU at 50 whose push to 45 is due, and TikTok answering Update Inventory one byte at a time
    # for a minute (it applies the update first), while the client gives up on a read after 1 s of silence
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    sku = next(iter(items))
    await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
    slow = impatient(world)
    world.sandbox.control(
        "POST",
        "/faults",
        {"rate": 1.0, "kinds": ["trickle"], "slow_seconds": TRICKLE_SECONDS, "paths": [UPDATE_INVENTORY]},
    )
    try:
        # when a run pushes the shop with a 1 s deadline per round
        deps = slow.deps(
            holder="hung", round_deadline=timedelta(seconds=1), stop_wait=timedelta(0),
            renew_every=timedelta(milliseconds=50),
        )  # fmt: skip
        with caplog.at_level(logging.WARNING, logger="domain.services.inventory_push"):
            report = await asyncio.wait_for(push_shop(shop.id, deps), timeout=15)
    finally:
        world.sandbox.control("POST", "/faults", {"rate": 0.0})
    # then the run ends at its deadline, not when TikTok's answer does, its claim handed back due now
    assert report.products == 0
    # and the run says more is due: the actor sends the shop's push again (no message may be queued for it)
    assert report.more_due
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] > row["pushed_version"]
    # noted with the real reason, the round's deadline (it said "interrupted by a shutdown")
    assert row["last_error"] == "stopped at the push round's 1 s deadline (reason=push_round_deadline)"
    # and says so once, with a stable reason
    lines = [r for r in caplog.records if "push_round_deadline" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    # and another worker pushes the product at once: TikTok shows the pool's 45, recorded
    await push_shop(shop.id, world.deps(holder="other"))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] == row["pushed_version"]
