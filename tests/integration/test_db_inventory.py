"""The shared inventory pool on SQLite and PostgreSQL: auto-link and seeding, the order ledger, merchant edits,
manual links, shop deletion, tenant isolation (issue 8)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import inventory_items, inventory_movements, inventory_push_outbox, order_line_stock, sku_links
from domain.errors import DomainError, ErrorCode
from domain.services import inventory as pool
from domain.services.shops import delete_shop
from tests.fixtures.inventory_pool import Pool, linked_hat_reserved_and_another_item, order, product
from tests.integration.db_samples import NOW


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def test_skus_link_by_trimmed_seller_sku_and_never_guess(world: Pool) -> None:
    shop = await world.shop()
    await world.products(
        shop,
        product("p1", ("s1", " TEE-RED ", 7), ("s2", "DUP", 1), ("s3", None, 2)),
        product("p2", ("s4", "DUP", 3), ("s5", "TEE-BLUE", 4)),
        product("p3", ("s6", "TEE-RED", 2), bundle=True),  # a virtual bundle: TikTok derives its stock
    )
    assert await world.links(shop) == {
        "s1": ("LINKED", "TEE-RED"), "s2": ("AMBIGUOUS", None), "s3": ("NO_SELLER_SKU", None),
        "s4": ("AMBIGUOUS", None), "s5": ("LINKED", "TEE-BLUE"), "s6": ("EXCLUDED", None),
    }  # fmt: skip
    async with world.db.read_sessionmaker() as session:
        bundle_sku = (
            await session.execute(select(sku_links.c.sku_id).where(sku_links.c.tiktok_sku_id == "s6"))
        ).scalar_one()
        red = (
            await session.execute(select(inventory_items.c.id).where(inventory_items.c.sku == "TEE-RED"))
        ).scalar_one()
    with pytest.raises(DomainError) as refused:
        await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", bundle_sku, red)
    assert (refused.value.code, refused.value.field) == (ErrorCode.SKU_NOT_LINKABLE, ("skuId",))
    assert refused.value.message == (
        "A bundle (combo) SKU cannot be linked: its stock is TikTok's to derive from its parts (12052850)."
    )
    # seeded from TikTok's stock: available equals what TikTok shows
    assert (await world.item("TEE-RED"))["on_hand"] == 7
    assert world.queue.inventory_pushes == [shop.id]


async def _sku_id(world: Pool, tiktok_sku_id: str) -> str:
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.sku_id).where(sku_links.c.tiktok_sku_id == tiktok_sku_id)
        return str((await session.execute(query)).scalar_one())


async def _link_source(world: Pool, tiktok_sku_id: str) -> tuple[str, str]:
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.state, sku_links.c.source).where(sku_links.c.tiktok_sku_id == tiktok_sku_id)
        state, source = (await session.execute(query)).one()
        return state, source


async def test_a_bundle_unlinked_by_hand_stays_excluded_with_its_reason(world: Pool) -> None:
    # Given a bundle SKU an import left EXCLUDED, and a SKU the merchant linked by hand that became a bundle since
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "TEE-RED", 7)), product("p2", ("b1", "TEE-RED", 2), bundle=True))
    await world.products(shop, product("p3", ("b2", None, 1)))
    red = str((await world.item("TEE-RED"))["id"])
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", await _sku_id(world, "b2"), red)
    await world.products(shop, product("p3", ("b2", None, 1), bundle=True))
    assert await _link_source(world, "b2") == ("LINKED", "MANUAL")  # the merchant's word stood through the import
    # when the merchant unlinks each
    for sku in ("b1", "b2"):
        await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", await _sku_id(world, sku), None)
    # then both are EXCLUDED as an import leaves a bundle, not "unlinked by you" (whose Link SKU_NOT_LINKABLE refuses)
    assert await _link_source(world, "b1") == ("EXCLUDED", "AUTO")
    assert await _link_source(world, "b2") == ("EXCLUDED", "AUTO")
    assert (await world.links(shop))["s1"] == ("LINKED", "TEE-RED")


async def test_a_seeded_item_counts_open_orders_once_and_a_second_shop_joins(world: Pool) -> None:
    first, second = await world.shop(), await world.shop()
    # orders arrive before the products: their lines wait for a link
    await world.orders(first, order("o1", "AWAITING_SHIPMENT", "a1"), order("o2", "UNPAID", "a1"),
                       order("o3", "DELIVERED", "a1"))  # fmt: skip
    world.clock.advance(timedelta(minutes=1))  # (the products' stock read after those orders were placed)
    await world.products(first, product("pa", ("a1", "MUG", 5)))  # TikTok shows 5 after the 2 open orders
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (7, 2, 5)
    # the second shop's SKU joins the pool: no seeding, its quantity is pushed there
    await world.products(second, product("pb", ("b1", "MUG", 40)))
    assert (await world.item("MUG"))["on_hand"] == 7
    assert set(world.queue.inventory_pushes) == {first.id, second.id}


async def test_open_orders_imported_after_their_products_are_not_counted_twice(world: Pool) -> None:
    # given products imported first: the item is seeded from TikTok's stock, which already left out the open
    # orders of that shop (TikTok counts them as committed)
    first, second = await world.shop(), await world.shop()
    await world.products(first, product("pa", ("a1", "MUG", 5)))
    assert (await world.item("MUG"))["available"] == 5
    # when the 30-day orders import brings two open orders created before that, and a delivered one
    before = NOW - timedelta(hours=1)
    await world.orders(first, order("o1", "AWAITING_SHIPMENT", "a1", at=before), order("o2", "UNPAID", "a1", at=before),
                       order("o3", "DELIVERED", "a1", at=before))  # fmt: skip
    # then they reserve without lowering what TikTok showed, exactly as when the orders came first
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (7, 2, 5)
    # and a sale made after the stock was read, on that shop or another one, lowers it as any sale does
    await world.products(second, product("pb", ("b1", "MUG", 40)))
    after = NOW + timedelta(minutes=1)
    await world.orders(first, order("o4", "AWAITING_SHIPMENT", "a1", at=after))
    await world.orders(second, order("o5", "AWAITING_SHIPMENT", "b1", at=before))  # not the seeding shop's stock
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (7, 4, 3)
    # shipping one of the absorbed orders moves on-hand and reserved together
    await world.orders(first, order("o1", "IN_TRANSIT", "a1", at=after))
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (6, 3, 3)


async def test_an_order_of_the_second_the_stock_was_counted_in_is_not_counted_into_it(world: Pool) -> None:
    # given a shop's products written (its TikTok stock counted into the item) 400 ms into a second: TikTok showed 5
    shop = await world.shop()
    world.clock.advance(timedelta(milliseconds=400))
    await world.products(shop, product("pa", ("a1", "MUG", 5)))
    # when an open order created in that same second arrives (TikTok's create_time: whole seconds), which may
    # well have been placed after TikTok's stock was read (it was, say, at 12:00:00.7)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "a1", at=NOW))
    # then it reserves like any later sale and adds nothing to on-hand: the counted 5 may already include its unit,
    # and counting it into the seed as well (on-hand 6, available 5) would sell that unit twice
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 1, 4)


async def test_sales_between_the_stock_read_and_the_page_write_are_not_counted_into_the_seed(world: Pool) -> None:
    # given a product page whose TikTok stock was read at NOW: 5 available, an open order of an hour ago already out
    shop = await world.shop()
    read = replace(product("pa", ("a1", "MUG", 5)), stock_read_at=NOW)
    await world.orders(shop, order("before", "AWAITING_SHIPMENT", "a1", at=NOW - timedelta(hours=1)))
    # when, before the page is written (10 s later), a sale is made on TikTok 2 s after the read and ingested (its
    # line waits for a link); and, once it is written, sales made 4 and 6 s after the read arrive, one of them
    # already shipped (its webhooks lost)
    world.clock.advance(timedelta(seconds=3))
    await world.orders(shop, order("meanwhile", "AWAITING_SHIPMENT", "a1", at=NOW + timedelta(seconds=2)))
    world.clock.advance(timedelta(seconds=7))
    await world.products(shop, read)
    await world.orders(shop, order("late", "UNPAID", "a1", at=NOW + timedelta(seconds=4)),
                       order("shipped", "IN_TRANSIT", "a1", at=NOW + timedelta(seconds=6)))  # fmt: skip
    # then the stock read counts the older order once (on-hand 5 + 1) and the three sales since the read take their
    # units from it: 2 left, as TikTok shows. (Counted at the write: on-hand 5 + 2 + 1, available 5, three units
    # sold twice.)
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 3, 2)
    async with world.db.read_sessionmaker() as session:
        counted = (await session.execute(select(sku_links.c.stock_counted_at, sku_links.c.linked_at))).one()
    assert tuple(counted) == (NOW, NOW)


async def test_a_sale_since_the_stock_read_seen_shipped_before_the_page_write_is_not_counted_into_it(
    world: Pool,
) -> None:
    # given a product page whose TikTok stock was read at NOW: 5 available
    shop = await world.shop()
    read = replace(product("pa", ("a1", "MUG", 5)), stock_read_at=NOW)
    # when, before the page is written, a sale made 1 s after the read is ingested already shipped (history: its
    # SKU has no item yet), and one made a minute before the read too (TikTok's stock already left it out)
    world.clock.advance(timedelta(seconds=5))
    await world.orders(shop, order("since", "IN_TRANSIT", "a1", at=NOW + timedelta(seconds=1)),
                       order("before", "DELIVERED", "a1", at=NOW - timedelta(minutes=1)))  # fmt: skip
    await world.products(shop, read)
    # then the unit of the sale since the read, still in the 5 read and gone, is not on hand: 4 (not 5, one unit
    # sold twice); the older sale changes nothing
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (4, 0, 4)


async def test_orders_reserve_deduct_and_release_exactly_once(world: Pool) -> None:
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    later = NOW + timedelta(minutes=5)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s", "s"), order("o2", "UNPAID", "s"))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s", "s"))  # a re-import: nothing moves
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 3, 7)
    await world.orders(shop, order("o1", "IN_TRANSIT", "s", "s", at=later), order("o2", "CANCELLED", "s", at=later))
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)
    # an older event arriving late, a duplicate, and a history order change nothing
    await world.orders(shop, order("o2", "UNPAID", "s"), order("o1", "AWAITING_SHIPMENT", "s", "s"))
    history = order("o9", "COMPLETED", "s", at=NOW - timedelta(days=1))  # shipped before the SKU was linked
    await world.orders(shop, history, order("o1", "IN_TRANSIT", "s", "s", at=later))
    assert (await world.item("CAP"))["on_hand"] == 8 and (await world.item("CAP"))["reserved"] == 0
    async with world.db.read_sessionmaker() as session:
        kinds = (await session.execute(select(inventory_movements.c.kind, inventory_movements.c.reserved_delta)
                                       .order_by(inventory_movements.c.kind))).all()  # fmt: skip
    assert sorted(kinds) == [("DEDUCTED", -2), ("RELEASED", -1), ("RESERVED", 1), ("RESERVED", 2), ("SEEDED", 0)]
    # a shipment alone moves on-hand and reserved together: available is unchanged, nothing to push
    await world.orders(shop, order("o4", "AWAITING_SHIPMENT", "s"))
    world.queue.inventory_pushes.clear()
    await world.orders(shop, order("o4", "DELIVERED", "s", at=later))
    assert world.queue.inventory_pushes == [] and (await world.item("CAP"))["on_hand"] == 7


async def test_merchant_edits_compare_and_set_and_adjust(world: Pool) -> None:
    item = await pool.create_item(world.uows, world.queue, world.events, world.clock, "merchant-a", " BAG ", 10, 2)
    assert (item.sku, item.on_hand, item.available) == ("BAG", 10, 8)
    with pytest.raises(DomainError) as taken:
        await pool.create_item(world.uows, world.queue, world.events, world.clock, "merchant-a", "BAG", 1, 0)
    assert (taken.value.code, taken.value.message) == (
        ErrorCode.SKU_ALREADY_EXISTS,
        'An inventory item with SKU "BAG" exists already: adjust that item, or choose another SKU.',
    )  # a sentence, as every userError's message (it was "an inventory item with SKU 'BAG' exists already")
    updated = await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", item.id, 15, 10)
    assert (updated.on_hand, updated.version) == (15, item.version + 1)
    with pytest.raises(DomainError) as conflict:
        await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", item.id, 20, 10)
    assert conflict.value.code is ErrorCode.VERSION_CONFLICT
    adjusted = await pool.adjust_item(world.uows, world.queue, world.events, "merchant-a", item.id, -5, "damaged")
    assert adjusted.on_hand == 10
    safer = await pool.update_safety_stock(world.uows, world.queue, world.events, "merchant-a", item.id, 4)
    assert safer.available == 6
    # another merchant's item does not exist
    with pytest.raises(DomainError) as other:
        await pool.adjust_item(world.uows, world.queue, world.events, "merchant-b", item.id, 1, "count")
    assert other.value.code is ErrorCode.NOT_FOUND
    assert item.id in world.events.item_changes


async def test_units_received_for_an_item_sold_beyond_its_count_are_added(world: Pool) -> None:
    # given an item counted at 1 unit whose shop then shipped 3 (on-hand -2: sold beyond the count)
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 1)))
    later = NOW + timedelta(minutes=1)
    await world.orders(shop, *(order(f"o{n}", "AWAITING_SHIPMENT", "s", at=later) for n in range(3)))
    await world.orders(shop, *(order(f"o{n}", "IN_TRANSIT", "s", at=later + timedelta(minutes=1)) for n in range(3)))
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"]) == (-2, 0)
    # when the merchant records 1 unit received
    adjusted = await pool.adjust_item(world.uows, world.queue, world.events, "merchant-a", item["id"], 1, "delivery")
    # then it is added (it was refused as INVALID_INPUT, "on-hand is -2: it cannot drop by -1"); removing units
    # from it is still refused
    assert adjusted.on_hand == -1
    with pytest.raises(DomainError) as refused:
        await pool.adjust_item(world.uows, world.queue, world.events, "merchant-a", item["id"], -1, "damaged")
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, ("delta",))


async def test_a_manual_link_survives_imports_and_moves_reservations(world: Pool) -> None:
    shop, sku_id, other = await linked_hat_reserved_and_another_item(world)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, other.id)
    assert ((await world.item("HAT"))["reserved"], (await world.item("HAT-2"))["reserved"]) == (0, 1)
    # a product change re-imports the SKU: the manual link stays
    await world.products(shop, product("p", ("s", "HAT", 9), at=NOW + timedelta(minutes=1)))
    assert await world.links(shop) == {"s": ("LINKED", "HAT-2")}
    # unlinked by hand, its open order stays reserved on the item it was reserved on (`ledger.stays_reserved`)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    assert await world.links(shop) == {"s": ("UNLINKED", None)}
    assert ((await world.item("HAT"))["reserved"], (await world.item("HAT-2"))["reserved"]) == (0, 1)
    with pytest.raises(DomainError) as foreign:
        await pool.link_sku(world.uows, world.queue, world.events, "merchant-b", sku_id, None)
    assert foreign.value.code is ErrorCode.NOT_FOUND


async def test_deleting_a_shop_takes_its_reservations_off_with_their_units(world: Pool) -> None:
    first, second = await world.shop(), await world.shop()
    await world.products(first, product("p", ("s", "SOCK", 10)))
    await world.products(second, product("q", ("t", "SOCK", 10)))
    await world.orders(first, order("o1", "AWAITING_SHIPMENT", "s"))
    await world.orders(second, order("o2", "AWAITING_SHIPMENT", "t", "t"))
    assert (await world.item("SOCK"))["reserved"] == 3
    world.queue.inventory_pushes.clear()
    await delete_shop(world.uows, world.clock, "merchant-a", second.id, world.events, world.queue)
    # o2's 2 units are still TikTok's to ship from the shelf: they leave on-hand with their reservation, and the
    # first shop keeps being offered 7 (released, it was pushed 9: 2 units sold twice)
    item = await world.item("SOCK")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 1, 7)
    assert first.id not in world.queue.inventory_pushes
    async with world.db.read_sessionmaker() as session:
        outbox = (await session.execute(select(inventory_push_outbox.c.shop_id))).scalars().all()
    assert second.id not in outbox


async def test_a_shop_deleted_while_its_order_batch_is_open_waits_for_it_without_a_deadlock(world: Pool) -> None:
    # given an order batch of the shop that has written its order (holding the shop) but not yet its ledger rows
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("s", "SOCK", 10)))
    await world.products(gone, product("q", ("t", "SOCK", 10)))
    await world.orders(gone, order("o1", "AWAITING_SHIPMENT", "t"))
    batch = world.uows()
    await batch.__aenter__()
    try:
        sale = order("o2", "AWAITING_SHIPMENT", "t")
        await batch.catalog.upsert_orders(gone.id, [sale])

        # when the shop is deleted meanwhile, and the batch then locks the items its lines reserve
        deleting = asyncio.ensure_future(
            delete_shop(world.uows, world.clock, "merchant-a", gone.id, world.events, world.queue)
        )
        if world.db.write_engine.dialect.name == "postgresql":
            await _until_waiting_on_a_lock(world, deleting)
        await pool.pool_orders(batch, world.queue, world.events, gone.id, [sale])
        await batch.commit()
    finally:
        await batch.__aexit__(None, None, None)

    # then the delete waited for the batch (it locks the shop before anything else) and took both orders' units off
    # with their reservations (still to ship from the shelf)
    assert await deleting == gone.id
    item = await world.item("SOCK")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)


async def test_a_first_import_of_thousands_of_new_seller_skus_creates_every_item(world: Pool) -> None:
    # 4,000 new items at once: more values than one PostgreSQL statement may carry (asyncpg: 32,767 parameters)
    shop = await world.shop()
    catalog = [product(f"p{n}", *((f"s{n}-{k}", f"SKU-{n}-{k}", 1) for k in range(40))) for n in range(100)]
    await world.products(shop, *catalog)
    async with world.db.read_sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(inventory_items))).scalar_one()
        linked = (
            await session.execute(select(func.count()).select_from(sku_links).where(sku_links.c.state == "LINKED"))
        ).scalar_one()
    assert (count, linked) == (4000, 4000)


async def test_a_sale_first_seen_shipped_after_its_link_deducts_and_an_older_one_is_history(world: Pool) -> None:
    # given a SKU linked (and seeded: 10 at TikTok) at NOW, and a second shop joining the item later
    first, second = await world.shop(), await world.shop()
    await world.products(first, product("p", ("s", "MUG", 10)))
    world.clock.advance(timedelta(hours=1))
    await world.products(second, product("q", ("t", "MUG", 10)))
    # when orders arrive already shipped: one made before the first link, one since; on the second shop one made
    # before it joined and one since (their webhooks were lost, or Shopbridge was down while they shipped)
    await world.orders(first, order("old", "DELIVERED", "s", at=NOW - timedelta(days=1)))
    await world.orders(first, order("new", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=5)))
    await world.orders(second, order("before-join", "DELIVERED", "t", at=NOW + timedelta(minutes=30)))
    await world.orders(second, order("after-join", "COMPLETED", "t", at=NOW + timedelta(hours=2)))
    # then the sales since each link took their units from the pool; the older ones are history
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (7, 0, 7)
    async with world.db.read_sessionmaker() as session:
        states = dict(
            (await session.execute(select(order_line_stock.c.tiktok_order_id, order_line_stock.c.state))).all()
        )
    assert states == {"old": "HISTORICAL", "new": "DEDUCTED", "before-join": "HISTORICAL", "after-join": "DEDUCTED"}
    # and a re-import of the same orders moves nothing again
    await world.orders(first, order("new", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=5)))
    assert (await world.item("MUG"))["on_hand"] == 7


async def test_another_merchants_seller_skus_do_not_pool_with_ours(world: Pool) -> None:
    ours, theirs = await world.shop("merchant-a"), await world.shop("merchant-b")
    await world.products(ours, product("p", ("s", "SAME", 3)))
    await world.products(theirs, product("q", ("t", "SAME", 8)))
    assert (await world.item("SAME", "merchant-a"))["on_hand"] == 3
    assert (await world.item("SAME", "merchant-b"))["on_hand"] == 8


async def test_a_link_made_while_an_order_batch_is_open_still_applies_its_waiting_lines(world: Pool) -> None:
    # given an order batch that found its SKU unlinked and wrote the line as waiting, not committed yet
    shop = await world.shop()
    batch = world.uows()
    await batch.__aenter__()
    try:
        sale = order("o1", "AWAITING_SHIPMENT", "s", at=NOW - timedelta(minutes=1))  # before the stock read below
        await batch.catalog.upsert_orders(shop.id, [sale])
        await batch.inventory.apply_orders(shop.id, [sale])

        # when the product import links the SKU meanwhile
        linking = asyncio.ensure_future(world.products(shop, product("p", ("s", "VASE", 4))))
        if world.db.write_engine.dialect.name == "postgresql":
            await _until_waiting_on_a_lock(world, linking)
        await batch.commit()
    finally:
        await batch.__aexit__(None, None, None)
    await linking

    # then the line reserves once the link exists: nothing waits for a link that is there
    item = await world.item("VASE")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 1, 4)


async def _until_waiting_on_a_lock(world: Pool, task: asyncio.Future[None]) -> None:
    """Until another session waits on a lock (the link change queued behind the open batch), or the task ended."""
    deadline = asyncio.get_running_loop().time() + 20
    while not task.done():
        async with world.db.read_sessionmaker() as session:
            waiting = (await session.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))).scalar_one()
        if waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the link change neither waited nor finished")
        await asyncio.sleep(0.01)
