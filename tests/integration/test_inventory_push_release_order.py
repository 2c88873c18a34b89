"""A push round hands its claims back in product order, the order every other writer of the outbox takes its rows in
(an import's stock marks, `mark_push_dirty`: shop, then product): on PostgreSQL only, where they write at once
(SQLite runs one writer at a time, so no two can wait on each other).

The same for the claims a round finishes unchanged (TikTok already shows their targets), 50 a transaction too.

Seen in production-like runs (two worker processes, two shops sharing pool items): a fenced round after an import
handed back the products it would not write in this round in claim order (due time first), 50 a transaction, while
the other shop's import marked the same rows dirty in product order; PostgreSQL aborted the import's page,
`deadlock detected` (40P01), an ERROR traceback and one of the import's `SHOPBRIDGE_SYNC_MAX_ATTEMPTS` spent, three
times in one import.

The same for the links (`sku_links`) of the claims a round finishes unchanged: all held at once, in `sku_id` order,
before the first product's are recorded (CI of 6e9f3a4: recorded product after product, they deadlocked with an
orders import's page holding the same links in that order). And a reconcile PostgreSQL aborts as a deadlock anyway
is run again whole (`domain.services.conflicts`).

And a push records each link it writes with one UPDATE, so that it takes no lock on an item (lock63): PostgreSQL
checks every foreign key of a row the transaction has written already (`FOR KEY SHARE` on the items it names), and
the record's second UPDATE of the same row waited there for an order batch holding the item (`lock_items`, `FOR
UPDATE`) while the push held the link and its outbox row, which the batch went on to ask for (40P01, 7-24 in a
minute when three shops of one merchant were connected).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from adapters.db.repositories.inventory.outbox import mark_push_dirty
from adapters.db.repositories.inventory.writer import lock_items, lock_links
from adapters.db.tables import inventory_items, inventory_push_outbox
from domain.services.inventory_push import push_shop
from domain.services.inventory_reconcile import reconcile_shop
from tests.fixtures.waiting import until
from tests.integration.db_samples import finishes_before_waiting_on_a_lock, until_a_writer_waits_on_a_lock
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    imported_shop,
    link_row,
    now,
    outbox_row,
    tiktok_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

SEARCH = "/product/202309/inventory/search"
UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"
_LOCK_ROW = text(
    "SELECT 1 FROM inventory_push_outbox WHERE shop_id = :shop AND tiktok_product_id = :product FOR UPDATE"
)


@pytest.mark.parametrize("unchanged", [False, True], ids=["handed-back", "finished-unchanged"])
async def test_a_fenced_round_writes_its_claims_in_product_order(world: PushWorld, unchanged: bool) -> None:
    # given three products of a shop whose pushes are due, the highest product id due first, the lowest last (the
    # round claims them in due order), each needing a write, or each already at its target on TikTok
    shop = await imported_shop(world)
    stock = tiktok_stock(world.sandbox, shop)
    products = []
    for prefix in ("SB-00021-", "SB-00022-", "SB-00023-"):
        product, items, _ = await pooled_product(world, shop, prefix, on_hand=50)
        async with world.uows() as uow:
            for tiktok_sku_id, item_id in items.items():
                on_hand = sum(stock[tiktok_sku_id].values()) if unchanged else 45
                await uow.session.execute(  # type: ignore[attr-defined]
                    update(inventory_items).where(inventory_items.c.id == item_id).values(on_hand=on_hand)
                )
            await uow.commit()
        await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
        products.append(product["id"])
    low, middle, high = sorted(products)
    outbox = inventory_push_outbox.c
    async with world.uows() as uow:
        for rank, product_id in enumerate((high, middle, low)):
            await uow.session.execute(  # type: ignore[attr-defined]
                update(inventory_push_outbox)
                .where(outbox.shop_id == shop.id, outbox.tiktok_product_id == product_id)
                .values(next_attempt_at=now() - timedelta(minutes=10 - rank))
            )
        await uow.commit()
    # and a fenced run that writes one product a round, held at its batch read of TikTok's stock (claims made)
    world.sandbox.hold(SEARCH)
    run = asyncio.create_task(push_shop(shop.id, world.deps(holder="round", fence=True, batch=1, concurrency=1)))
    await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1)
    async with world.db.write_engine.connect() as other:
        # when another writer (an import marking stock) holds the lowest product's row
        await other.execute(_LOCK_ROW, {"shop": shop.id, "product": low})
        world.sandbox.hold()  # TikTok answers: the round finishes or hands back its claims
        await until_a_writer_waits_on_a_lock(world.db)
        # and, once the round waits for that row, goes on to the next product in product order
        await asyncio.wait_for(other.execute(_LOCK_ROW, {"shop": shop.id, "product": middle}), timeout=30)
        await other.commit()
    # then neither was aborted as a deadlock: the other writer got its rows in turn, and the run ends
    report = await asyncio.wait_for(run, timeout=60)
    assert report.products == 3
    for product_id in (low, middle, high):
        row = await outbox_row(world.db, shop, product_id)
        assert row["claimed_by"] is None and row["dirty_version"] == row["pushed_version"]


_LOCK_LINK = text("SELECT 1 FROM sku_links WHERE sku_id = :sku_id FOR UPDATE")


async def test_a_round_finishing_unchanged_products_holds_their_links_in_sku_id_order(world: PushWorld) -> None:
    # given three products of a shop whose pushes are due, each already at its target on TikTok, each SKU linked to
    # an item of its own
    shop = await imported_shop(world)
    stock = tiktok_stock(world.sandbox, shop)
    links_of: dict[str, list[str]] = {}  # TikTok product id -> its links' Shopbridge SKU ids
    for prefix in ("SB-00021-", "SB-00022-", "SB-00023-"):
        product, items, sku_ids = await pooled_product(world, shop, prefix, on_hand=50)
        async with world.uows() as uow:
            for tiktok_sku_id, item_id in items.items():
                await uow.session.execute(  # type: ignore[attr-defined]
                    update(inventory_items)
                    .where(inventory_items.c.id == item_id)
                    .values(on_hand=sum(stock[tiktok_sku_id].values()))
                )
            await uow.commit()
        await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
        links_of[product["id"]] = sorted(sku_ids.values())
    # and two of their links out of step: `higher`, of a product finished before `lower`'s (product order), comes
    # after it in `sku_id` order, the order every writer of links takes them in
    in_order = sorted(links_of)
    higher, lower = next(
        (high, low)
        for rank, first in enumerate(in_order)
        for then in in_order[rank + 1 :]
        for high in links_of[first]
        for low in links_of[then]
        if low < high
    )
    # and a fenced run held at its batch read of TikTok's stock (claims made)
    world.sandbox.hold(SEARCH)
    run = asyncio.create_task(push_shop(shop.id, world.deps(holder="round", fence=True, batch=1, concurrency=1)))
    await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1)
    async with world.db.write_engine.connect() as other:
        # when another writer (an order batch adding to their fence counts, `lock_links`) holds `lower`
        await other.execute(_LOCK_LINK, {"sku_id": lower})
        world.sandbox.hold()  # TikTok answers: the round finishes the three unchanged, in one transaction
        await until_a_writer_waits_on_a_lock(world.db)
        # and, once the round waits for a link, goes on to `higher`. Recorded product after product, the round held
        # `higher` already: each waited for the other, and PostgreSQL aborted one (40P01; CI of 6e9f3a4, the orders
        # import's page)
        await asyncio.wait_for(other.execute(_LOCK_LINK, {"sku_id": higher}), timeout=30)
        await other.commit()
    # then neither was aborted: the other writer got its links in turn, and the round recorded its three products
    report = await asyncio.wait_for(run, timeout=60)
    assert report.products == 3
    for sku_id in (lower, higher):
        assert (await link_row(world.db, sku_id))["pushed_quantity"] is not None


async def test_a_reconcile_the_database_aborts_as_a_deadlock_is_run_again_whole(
    world: PushWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # given a pooled product pushed to TikTok, its links `low` and `high` in `sku_id` order, then the seller setting
    # both to 99 in Seller Center
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    low, *_, high = sorted(sku_ids.values())
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": s, "quantity": 99} for s in items]})
    pushes: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushes.append(shop_id)

    # when a writer that breaks the links' order holds `high`, the reconcile records its observations (`low` first,
    # then it waits for `high`), and the writer then asks for `low`: each waits for the other, and PostgreSQL aborts
    # the reconcile, whose wait began first (40P01; the writer's own check is put off to 10 s)
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_LINK, {"sku_id": high})
        with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
            reconcile = asyncio.create_task(reconcile_shop(shop.id, world.deps(), enqueue_push))
            await until_a_writer_waits_on_a_lock(world.db)
            await asyncio.wait_for(other.execute(_LOCK_LINK, {"sku_id": low}), timeout=30)
            await other.commit()
            report = await asyncio.wait_for(reconcile, timeout=60)

    # then the reconcile was run again whole, said in one WARNING line with the SQLSTATE, and did all its work once
    lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
    assert len(lines) == 1 and "SQLSTATE 40P01" in lines[0] and f"the reconcile of shop {shop.id}" in lines[0]
    assert sorted(report.drifted) == sorted(sku_ids.values()) and pushes == [shop.id]
    for sku_id in (low, high):
        link = await link_row(world.db, sku_id)
        assert (link["observed_quantity"], link["drift_count"]) == (99, 1)


async def test_a_reconcile_waiting_for_a_link_change_leaves_the_shops_row_and_judges_the_links_it_made(
    world: PushWorld,
) -> None:
    # given a pooled product pushed to TikTok, then the seller setting its SKUs to 99 in Seller Center, and another
    # item of the merchant
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": s, "quantity": 99} for s in items]})
    other_item = await add_item(world.db, shop.merchant_id, "OTHER-ITEM", on_hand=3)
    relinked = min(sku_ids.values())
    pushes: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushes.append(shop_id)

    # when a link change (as a products import's page: the shop `FOR KEY SHARE`, the shop's link turn exclusive for
    # its whole transaction) relinks one of the SKUs to the other item, the reconcile, done reading TikTok, waits for
    # the turn; meanwhile another writer of the shop's row (a rename, a token refresh, the webhook batch: `FOR NO
    # KEY UPDATE`) gets the shop, waiting at most 300 ms. The reconcile read its links first and held the shop's row
    # while it waited (review51): the other writer waited for the change, and the relinked SKU, whose product now
    # has a push to come, was judged against its old item and counted as drift.
    async with world.uows() as page:
        assert await page.shops.hold(shop.id)
        assert await page.inventory.link_sku(shop.merchant_id, relinked, other_item) is not None
        reconcile = asyncio.create_task(reconcile_shop(shop.id, world.deps(), enqueue_push))
        await until_a_writer_waits_on_a_lock(world.db)
        refused: Exception | None = None
        async with world.uows() as writer:
            await writer.session.execute(text("SET LOCAL lock_timeout = '300ms'"))  # type: ignore[attr-defined]
            try:
                assert await writer.shops.get(shop.id) is not None
            except DBAPIError as exc:  # 55P03 lock_not_available
                refused = exc
        await page.commit()
    report = await asyncio.wait_for(reconcile, timeout=60)

    # then the other writer had the shop at once, and the reconcile, once the change committed, passed the relinked
    # product by (a push is to come: no drift judged there)
    assert refused is None
    assert relinked not in report.drifted
    assert (await link_row(world.db, relinked))["drift_count"] == 0


async def _at_target_on_tiktok(world: PushWorld, items: dict[str, str], stock: dict[str, dict[str, int]]) -> None:
    """Each item's on-hand set to what TikTok shows of its SKU (`items`: TikTok SKU id -> item id): nothing to push."""
    async with world.uows() as uow:
        for tiktok_sku_id, item_id in items.items():
            await uow.session.execute(  # type: ignore[attr-defined]
                update(inventory_items)
                .where(inventory_items.c.id == item_id)
                .values(on_hand=sum(stock[tiktok_sku_id].values()))
            )
        await uow.commit()


@pytest.mark.parametrize(
    "unchanged", [False, True], ids=["pushed-then-the-batch-asks-the-links", "unchanged-then-the-batch-asks-the-row"]
)
async def test_a_push_recording_its_links_waits_for_no_item_an_order_batch_holds(
    world: PushWorld, caplog: pytest.LogCaptureFixture, unchanged: bool
) -> None:
    # given a pooled product whose push is due, each SKU linked to an item of its own, TikTok showing other
    # quantities (the push writes them); or two, already at their targets on TikTok (a fenced round of more claims
    # than it pushes at once finishes them unchanged, their links and outbox rows held at once first:
    # `_record_unchanged`)
    shop = await imported_shop(world)
    items, sku_ids, products = {}, {}, []
    for prefix in ("SB-00021-", "SB-00022-") if unchanged else ("SB-00021-",):
        product, its_items, its_links = await pooled_product(world, shop, prefix, on_hand=8)
        if unchanged:
            await _at_target_on_tiktok(world, its_items, tiktok_stock(world.sandbox, shop))
        await change_stock(world, next(iter(its_items.values())), 0, [(shop.id, product["id"])])
        items |= its_items
        sku_ids |= its_links
        products.append(product["id"])
    # and the push held at TikTok (the write, or the fence's read)
    world.sandbox.hold(SEARCH if unchanged else UPDATE_INVENTORY)
    with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
        run = asyncio.create_task(push_shop(shop.id, world.deps(fence=unchanged, concurrency=1)))
        await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1)
        async with world.uows() as batch:
            # when an order batch holds the items (`lock_items`: id order, FOR UPDATE; its own deadlock check put
            # off to 10 s, so PostgreSQL aborts the push if the two wait on each other), TikTok answers, and the
            # push records its links
            session = batch.session  # type: ignore[attr-defined]
            await session.execute(text("SET LOCAL deadlock_timeout = '10s'"))
            await lock_items(session, items.values())
            world.sandbox.hold()
            waited = not await finishes_before_waiting_on_a_lock(world.db, run)
            # and the batch goes on, in the pool's lock order: this shop's batch to the links of its fence counts
            # (`lock_links`), or another shop's (sharing the items) to the outbox rows of the items it moved
            # (`mark_push_dirty`), this product's among them. The push's second UPDATE of a link it had written
            # waited for the item (its foreign key's check, `FOR KEY SHARE`) holding the link and, finishing
            # unchanged, its outbox row: each waited for the other, and PostgreSQL aborted the push (40P01)
            if unchanged:
                await asyncio.wait_for(mark_push_dirty(session, items.values(), now()), timeout=30)
            else:
                await asyncio.wait_for(lock_links(session, shop.id, sku_ids.values()), timeout=30)
            await batch.commit()
        report = await asyncio.wait_for(run, timeout=60)

    # then the push never waited for the batch, nothing was aborted or run again, and every link was recorded
    assert [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"] == []
    assert not waited
    assert report.products == len(products)
    for sku_id in sku_ids.values():
        assert (await link_row(world.db, sku_id))["pushed_quantity"] is not None
