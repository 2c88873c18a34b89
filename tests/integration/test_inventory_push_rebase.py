"""The push fence's re-base (tryout63 F1; README "Push on re-bases the fence"), on both databases: a run cut after its
reading and its orders read, before its commit, leaves the re-base pending, and the next push run does it whole; a
commit for a re-base no longer pending writes nothing; a sale TikTok's order search lags is read (rebase65); a backlog
of orders longer than a push run reads is left to the orders poll (rebase65)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from adapters.db.tables import inventory_items
from domain.polling import PollCursor
from domain.services.inventory_push import PushDeps, _orders_read_since, _read_orders, push_shop
from domain.sync import SyncKind
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    imported_shop,
    link,
    link_row,
    now,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_orders import ingest, sell, shown
from tests.integration.test_inventory_push_pool_holds import first_sku


async def _pushed_ten(
    world: PushWorld, seller_sku: str, deps: PushDeps | None = None
) -> tuple[Any, str, str, Any, str]:
    """Given a shop showing an item's 10 units (`seller_sku`), its SKU linked and pushed with the fence (`deps`, the
    fenced default when None): (shop, product id, TikTok SKU id, item, shop SKU id)."""
    shop = await imported_shop(world, "us-local")
    product, sku = first_sku(world, shop)
    item = await add_item(world.db, "m1", seller_sku, 10)
    sku_id = await link(world.db, shop, sku, item, product)
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, deps or world.deps(fence=True))
    return shop, product, sku, item, sku_id


async def test_a_re_base_cut_before_its_commit_stays_pending_and_the_next_push_does_it_whole(world: PushWorld) -> None:
    # given a shop showing an item's 10 units, pushed with the fence; while its push is off a buyer takes 1 unit
    # (webhook lost: TikTok 9) and the merchant lowers the SKU to 4 in Seller Center; push goes on (re-base pending)
    deps = world.deps(fence=True, orders_api=world._api, orders_settle=timedelta(0))  # (no search lag here)
    shop, product, sku, item, sku_id = await _pushed_ten(world, "REBASE-1", deps)
    assert shown(world, shop, sku) == 10
    sell(world, shop, sku)
    world.sandbox.control("POST", f"/products/{product}", {"skus": [{"id": sku, "quantity": 4}]})
    async with world.uows() as uow:
        await uow.inventory_push.request_rebase(shop.id, now())
        await uow.commit()
        pending = await uow.inventory_push.rebase_pending(shop.id)
    assert pending is not None

    # when a run reads the shop's orders (the sale reserves) and is killed before its re-base's commit
    async with world.uows() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        since = await _orders_read_since(uow, stored, now(), deps.orders_overlap)
    assert await _read_orders(deps, stored, since) >= 1  # (the sandbox's own orders of the shop's window too)
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_pending(shop.id) == pending  # still pending: nothing of step 3
    before = await link_row(world.db, sku_id)
    assert before["pushed_quantity"] == 10

    # then the next push run re-bases first and pushes the pool's value (10 on hand less the reserved), nothing held
    # back: the Seller Center edit is not taken for sales, and the sale, read once, is not held back a second time
    async with world.db.write_sessionmaker() as session:
        counters = (await session.execute(select(inventory_items).where(inventory_items.c.id == item))).mappings()
        (counted,) = counters.all()
    assert counted["on_hand"] == 10 and counted["reserved"] >= 1  # the sale read (and any open order of the SKU)
    pool = counted["on_hand"] - counted["reserved"]
    await push_shop(shop.id, deps)
    row = await link_row(world.db, sku_id)
    assert (shown(world, shop, sku), row["pushed_quantity"], row["held_quantity"]) == (pool, pool, 0)
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_pending(shop.id) is None

    # and a run that read the re-base as pending before writes nothing once it is done (push turned off and on
    # again, or another run first): compare and clear
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_links(shop.id, pending, {sku_id: 1}, now(), now()) is None
        await uow.commit()
    assert (await link_row(world.db, sku_id))["pushed_quantity"] == pool
    async with world.uows() as uow:
        await uow.inventory_push.request_rebase(shop.id, later := now() + timedelta(seconds=1))
        await uow.commit()
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_links(shop.id, pending, {sku_id: 1}, now(), now()) is None
        assert await uow.inventory_push.rebase_pending(shop.id) == later


async def test_a_sale_before_the_reading_that_the_orders_read_missed_counts_as_seen_when_ingested_late(
    world: PushWorld,
) -> None:
    # given a shop showing an item's 10 units, pushed with the fence; a buyer takes 1 unit (TikTok 9) and the shop's
    # fence is re-based on TikTok's 9 while the order search did not return that order yet (TikTok's index lag): the
    # re-base's last step, with the ledger's counts of before the sale
    shop, product, sku, item, sku_id = await _pushed_ten(world, "REBASE-2")
    late = sell(world, shop, sku)
    async with world.uows() as uow:
        await uow.inventory_push.request_rebase(shop.id, now())
        await uow.commit()
    async with world.uows() as uow:
        pending = await uow.inventory_push.rebase_pending(shop.id)
        assert pending is not None
        read_at = now() + timedelta(seconds=2)  # (the reading's second after the sale's, whatever the clocks' grain)
        assert await uow.inventory_push.rebase_links(shop.id, pending, {sku_id: 9}, read_at, now()) == frozenset()
        await uow.commit()

    # when its order comes in late (a webhook), another buyer takes 1 unit unseen (TikTok 8), and the shop is pushed
    await ingest(world, shop, late)
    sell(world, shop, sku)
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, world.deps(fence=True))

    # then the late order is no sale since the re-base (its fall is in the reading: `baseline_read_at`), and the
    # unseen one is held back: the pool's 9 (10 on hand, 1 reserved) less 1, TikTok at 8. Counted as a sale applied
    # since, it made up for the unseen one and the push wrote 9: one unit on sale twice until its order came in
    row = await link_row(world.db, sku_id)
    assert (shown(world, shop, sku), row["held_quantity"]) == (8, 1)


async def test_a_sale_made_right_before_the_reading_that_the_order_search_lags_is_read_not_taken_for_an_edit(
    world: PushWorld,
) -> None:
    # given a shop showing an item's 10 units, pushed with the fence; a buyer takes 1 unit (TikTok 9, webhook lost)
    # and TikTok's order search does not list the order for 1 s (its index lagging its stock); push goes on
    shop, product, sku, item, sku_id = await _pushed_ten(world, "REBASE-3")
    late = sell(world, shop, sku)
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/orders", {"orders": [{"id": late, "search_lag": 1}]})
    async with world.uows() as uow:
        await uow.inventory_push.request_rebase(shop.id, now())
        await uow.commit()

    # when the shop is pushed (its rows due; its re-base first), the order search's settle being 2 s
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, world.deps(fence=True, orders_api=world._api, orders_settle=timedelta(seconds=2)))

    # then the re-base's orders read, begun a settle after its reading, found the sale: it reserves, and TikTok shows
    # the pool's 9 with nothing held back. Read at once, the order search left the sale out, the re-base took TikTok's
    # 9 for an edit, and the push wrote the pool's 10: the unit sold on sale again until an order poll
    row = await link_row(world.db, sku_id)
    assert (shown(world, shop, sku), row["pushed_quantity"], row["held_quantity"]) == (9, 9, 0)
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_pending(shop.id) is None


async def test_a_re_base_whose_orders_backlog_is_longer_than_a_push_run_reads_waits_for_the_orders_poll(
    world: PushWorld,
) -> None:
    # given a shop showing an item's 10 units, pushed with the fence, whose orders poll cursor is 7 hours old (its
    # polls stopped: revoked, say); a buyer takes 1 unit unseen (TikTok 9) and a re-base is pending
    shop, product, sku, item, sku_id = await _pushed_ten(world, "REBASE-4")
    sell(world, shop, sku)
    async with world.uows() as uow:
        await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=now() - timedelta(hours=7)), now())
        await uow.inventory_push.request_rebase(shop.id, pending := now())
        await uow.commit()

    # when the shop is pushed (its rows due)
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, world.deps(fence=True, orders_api=world._api, orders_settle=timedelta(0)))

    # then the push run read no orders (7 hours and the overlap are more than its 6): the re-base stays pending for
    # the orders poll, and the push went on fenced, the unseen sale held back (TikTok at 9). Before, the push run read
    # every order since the cursor itself (a shop revoked for weeks: weeks of orders, within the actor's 5 minutes)
    async with world.uows() as uow:
        assert await uow.inventory_push.rebase_pending(shop.id) == pending
    row = await link_row(world.db, sku_id)
    assert (shown(world, shop, sku), row["held_quantity"]) == (9, 1)
