"""A SKU TikTok drops from its product while it has open orders (issue 8, the pool's ledger): on SQLite and
PostgreSQL. The orders still ship from (or are cancelled back to) the item the SKU was linked to; the SKU is no
longer pushed; a SKU that comes back (same TikTok SKU id) gets the merchant's decision back."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import inventory_push_outbox, order_line_stock, sku_ledger_units, sku_links, skus
from domain.catalog import Order
from domain.services import inventory as pool
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import NOW

SOLD = NOW + timedelta(minutes=1)  # the order, after the import read the stock
DROPPED = NOW + timedelta(minutes=2)  # the product without SKU a
MOVED = NOW + timedelta(minutes=3)  # the order's next status


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


def moved_on(tiktok_id: str, status: str, *sku_ids: str, at: datetime = MOVED) -> Order:
    """Order `tiktok_id` of `order`'s lines (created at SOLD) in a later status, updated at `at`."""
    return replace(order(tiktok_id, status, *sku_ids, at=SOLD), updated_at=at)


async def a_and_b_with_an_open_order_of_a(world: Pool) -> Shop:
    """Given product p with SKUs a (seller SKU A, 10 in stock) and b (B, 5), both linked AUTO, and an open order o1 of
    one unit of a reserved: a second shop's SKU with seller SKU A is linked to the same item. Then TikTok drops a
    from p (the product as imported again, by the product poll or the webhook's re-fetch). Returns the first shop."""
    shop, other = await world.shop(), await world.shop()
    await world.products(shop, product("p", ("a", "A", 10), ("b", "B", 5)))
    await world.products(other, product("q", ("c", "A", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "a", at=SOLD))
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    world.clock.advance(timedelta(minutes=2))
    world.events.item_changes.clear()
    await world.products(shop, product("p", ("b", "B", 5), at=DROPPED))
    # (A's subscribers learn that it shows one link fewer)
    assert world.events.item_changes == [item["id"]]
    return shop


async def line_states(world: Pool) -> list[tuple[str, str, str | None]]:
    async with world.db.read_sessionmaker() as session:
        query = select(order_line_stock.c.tiktok_order_id, order_line_stock.c.state, order_line_stock.c.wanted)
        return [tuple(r) for r in (await session.execute(query.order_by(order_line_stock.c.tiktok_order_id))).all()]


async def test_a_dropped_skus_open_order_stays_reserved_on_its_item(world: Pool) -> None:
    # given an open order of a reserved when TikTok drops a from its product
    shop = await a_and_b_with_an_open_order_of_a(world)
    # then the order still holds its unit on A (TikTok still has to ship it from that shelf): 9 available for the
    # other shop, not 10
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    assert await line_states(world) == [("o1", "RESERVED", "RESERVE")]
    # and a is not pushed any more (TikTok would refuse it), while b and the other shop's c are
    assert await world.links(shop) == {"b": ("LINKED", "B")}
    async with world.db.read_sessionmaker() as session:
        linked = select(sku_links.c.tiktok_sku_id).where(sku_links.c.state == "LINKED")
        assert sorted((await session.execute(linked)).scalars()) == ["b", "c"]
        # (a's link is kept, DROPPED, naming its item: its orders count there)
        dropped = select(sku_links.c.state, sku_links.c.source).where(sku_links.c.tiktok_sku_id == "a")
        assert tuple((await session.execute(dropped)).one()) == ("DROPPED", "AUTO")


@pytest.mark.parametrize(
    ("status", "on_hand", "line"),
    [("IN_TRANSIT", 9, ("DEDUCTED", "DEDUCT")), ("CANCELLED", 10, ("RELEASED", "RELEASE"))],
    ids=["shipped", "cancelled"],
)  # fmt: skip
async def test_a_dropped_skus_open_order_moves_its_item_once_when_it_ships_or_is_cancelled(
    world: Pool, status: str, on_hand: int, line: tuple[str, str]
) -> None:
    # given an open order of a reserved when TikTok drops a from its product
    shop = await a_and_b_with_an_open_order_of_a(world)
    # when the order ships (or is cancelled), and its update comes twice
    await world.orders(shop, moved_on("o1", status, "a"))
    await world.orders(shop, moved_on("o1", status, "a"))
    # then item A's on-hand drops by its unit once (or the unit is given back): nothing stays reserved
    item = await world.item("A")  # (reserved is the ledger's sum; the running units per SKU are the lines' sums)
    assert (item["on_hand"], item["reserved"], item["available"]) == (on_hand, 0, on_hand)
    assert await line_states(world) == [("o1", *line)]
    # and the second shop's SKU c (product q) is due to show it
    async with world.db.read_sessionmaker() as session:
        due = select(inventory_push_outbox.c.tiktok_product_id).where(
            inventory_push_outbox.c.dirty_version > inventory_push_outbox.c.pushed_version
        )
        assert "q" in set((await session.execute(due)).scalars())


async def test_an_order_of_a_dropped_sku_first_seen_after_the_drop_counts_on_its_item(world: Pool) -> None:
    # given a dropped from its product while an order of it, made before, was not ingested yet (its webhook late)
    shop = await a_and_b_with_an_open_order_of_a(world)
    # when that order comes in open, and then shipped
    await world.orders(shop, moved_on("o2", "AWAITING_SHIPMENT", "a", at=SOLD))
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 2, 8)
    await world.orders(shop, moved_on("o2", "DELIVERED", "a"))
    # then it reserved its unit on A, and deducts it from A's shelf when it ships
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (9, 1, 8)


async def test_an_order_of_a_sku_an_import_left_then_dropped_first_seen_after_counts_on_the_item_it_remembers(
    world: Pool,
) -> None:
    # given SKU a linked to item A (10 in stock), which another shop's SKU x links too, then a's seller SKU found on a
    # twin c of its product (both AMBIGUOUS: a remembers A, the item its sales were placed on), and then TikTok drops
    # a and c from the product (the seller deleting the duplicate variants; AUTO links, not the merchant's unlink)
    shop, other = await world.shop(), await world.shop()
    await world.products(shop, product("p", ("a", "A", 10), ("b", "B", 5)))
    await world.products(other, product("q", ("x", "A", 10)))
    await world.products(shop, product("p", ("a", "A", 10), ("b", "B", 5), ("c", "A", 0), at=SOLD))
    assert await world.links(shop) == {"a": ("AMBIGUOUS", None), "b": ("LINKED", "B"), "c": ("AMBIGUOUS", None)}
    item = await world.item("A")
    await world.products(shop, product("p", ("b", "B", 5), at=DROPPED))
    async with world.db.read_sessionmaker() as session:
        query = select(
            sku_links.c.state, sku_links.c.source, sku_links.c.inventory_item_id, sku_links.c.unlinked_item_id
        )
        row = (await session.execute(query.where(sku_links.c.tiktok_sku_id == "a"))).one()
    assert tuple(row) == ("DROPPED", "AUTO", None, item["id"])
    # when an order of a made while it was linked (its webhook lost: the sale the push's fence held back as unseen)
    # is first seen open
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "a", at=SOLD))
    # then it reserves on A, as it would have while a was AMBIGUOUS (`first_seen_unlinked`, left by an import): the
    # order was placed on A's SKU and ships from A's shelf. (Before, the drop made a look unlinked by the merchant:
    # the line waited for a link the SKU, gone, could never get, and its unit stayed on sale on A's other shops.)
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    assert await line_states(world) == [("o1", "RESERVED", "RESERVE")]


async def test_a_dropped_sku_back_with_its_id_is_linked_to_its_item_again_keeping_its_time(world: Pool) -> None:
    # given a dropped from its product with an open order o1 reserved
    shop = await a_and_b_with_an_open_order_of_a(world)
    async with world.db.read_sessionmaker() as session:
        before = (await session.execute(select(sku_links).where(sku_links.c.tiktok_sku_id == "a"))).one()
    # when TikTok puts a back in p (the same SKU id)
    await world.products(shop, product("p", ("a", "A", 9), ("b", "B", 5), at=DROPPED + timedelta(minutes=5)))
    # then it links to A again, from the same time (a pause, as an unlink and relink to the same item), its open
    # order still reserved once
    assert await world.links(shop) == {"a": ("LINKED", "A"), "b": ("LINKED", "B")}
    async with world.db.read_sessionmaker() as session:
        after = (await session.execute(select(sku_links).where(sku_links.c.tiktok_sku_id == "a"))).one()
    assert (after.source, after.linked_at, after.unlinked_item_id) == ("AUTO", before.linked_at, None)
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)


async def link_by_hand(world: Pool, shop: Shop, tiktok_sku_id: str, item_sku: str | None) -> None:
    async with world.db.read_sessionmaker() as session:
        sku_id = (await session.execute(select(skus.c.id).where(skus.c.tiktok_sku_id == tiktok_sku_id))).scalar_one()
    item_id = None if item_sku is None else (await world.item(item_sku))["id"]
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, item_id)


@pytest.mark.parametrize(("linked_to", "expected"), [("B", ("LINKED", "B")), (None, ("UNLINKED", None))],
                         ids=["linked-by-hand", "unlinked-by-hand"])  # fmt: skip
async def test_a_manual_decision_on_a_dropped_sku_survives_its_return(
    world: Pool, linked_to: str | None, expected: tuple[str, str | None]
) -> None:
    # given the merchant's decision on a (linked by hand to item B, or unlinked by hand), then a dropped from p
    shop, _ = await world.shop(), await world.shop()
    await world.products(shop, product("p", ("a", "A", 10), ("b", "B", 5)))
    await link_by_hand(world, shop, "a", linked_to)
    kept = select(sku_links.c.source, sku_links.c.linked_at, sku_links.c.unlinked_item_id).where(
        sku_links.c.tiktok_sku_id == "a"
    )
    async with world.db.read_sessionmaker() as session:
        decided = tuple((await session.execute(kept)).one())
    world.clock.advance(timedelta(minutes=2))
    await world.products(shop, product("p", ("b", "B", 5), at=DROPPED))
    # when TikTok puts a back in p (the same SKU id, its seller SKU still A)
    world.clock.advance(timedelta(minutes=5))
    await world.products(shop, product("p", ("a", "A", 9), ("b", "B", 5), at=DROPPED + timedelta(minutes=5)))
    # then the merchant's decision stands, as it does through every import, with its time and the item it remembers
    # (unlinked by hand: item A, since the link the import had made)
    assert (await world.links(shop))["a"] == expected
    async with world.db.read_sessionmaker() as session:
        assert tuple((await session.execute(kept)).one()) == decided
    assert decided[0] == "MANUAL" and (decided[2] is None) == (linked_to is not None)


async def test_an_item_only_a_dropped_sku_linked_stays_for_its_open_orders(world: Pool) -> None:
    # given item A seeded from one shop's SKU a alone (no other shop, nothing set by hand), an open order of a
    # reserved, and a dropped from its product
    shop = await world.shop()
    await world.products(shop, product("p", ("a", "A", 10), ("b", "B", 5)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "a", at=SOLD))
    world.clock.advance(timedelta(minutes=2))
    await world.products(shop, product("p", ("b", "B", 5), at=DROPPED))
    # then A is not removed as left to nobody (before, it went with its history, the order's line waiting for good)
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    # and when the order ships, A's on-hand drops by its unit
    await world.orders(shop, moved_on("o1", "COMPLETED", "a"))
    item = await world.item("A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (9, 0, 9)


AWAY = ["dropped", "seller-sku-cleared"]


@pytest.mark.parametrize("away", AWAY, ids=AWAY)
async def test_a_sale_shipped_while_a_sku_was_away_first_seen_after_it_joins_back_is_in_its_baselines_count(
    world: Pool, away: str
) -> None:
    # given shop A's SKU seeding HAT (10), and shop B's SKU b joining HAT from B's page (never pushed since)
    a, b = await world.shop(), await world.shop()
    await world.products(a, product("pa", ("sa", "HAT", 10)))
    await world.products(b, replace(product("pb", ("b", "HAT", 4), ("c", "CAP", 2)), stock_read_at=NOW))
    # and a sale of b made at SOLD and shipped, whose webhooks are lost (TikTok shows 3 from then on)
    shipped = order("o1", "IN_TRANSIT", "b", at=SOLD)
    # when b goes away for a while (TikTok drops it from its product, or the seller clears its seller SKU) and then
    # comes back: b joins HAT again from B's page read at BACK (3 units), its link's time kept (a pause)
    world.clock.advance(timedelta(minutes=2))
    gone = ("b", None, 3) if away == "seller-sku-cleared" else None
    await world.products(b, product("pb", *[s for s in (gone, ("c", "CAP", 2)) if s is not None], at=DROPPED))
    world.clock.advance(timedelta(minutes=3))
    back = NOW + timedelta(minutes=5)
    await world.products(b, replace(product("pb", ("b", "HAT", 3), ("c", "CAP", 2), at=back), stock_read_at=back))
    assert (await world.links(b))["b"] == ("LINKED", "HAT")
    async with world.db.read_sessionmaker() as session:
        baseline = select(sku_links.c.seeded_available, sku_links.c.baseline_read_at)
        assert tuple((await session.execute(baseline.where(sku_links.c.tiktok_sku_id == "b"))).one()) == (3, back)
    # and the shipped sale is then first seen: it deducts its unit from HAT (made since b's link took effect)
    world.clock.advance(timedelta(minutes=1))
    await world.orders(b, shipped)
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (9, 0, 9)
    # then the push's fence does not take it for a sale since b's baseline (the read at BACK had left it out, as it
    # leaves out an open order made before it): the ledger's count of b and the count b's first push measures from
    # grew together. (Counted as a sale since, it hid one TikTok made unseen before that push: one unit oversold.)
    async with world.db.read_sessionmaker() as session:
        counted = select(sku_ledger_units.c.ingested - sku_links.c.ingested_at_push).join(
            sku_ledger_units,
            (sku_ledger_units.c.shop_id == sku_links.c.shop_id)
            & (sku_ledger_units.c.tiktok_sku_id == sku_links.c.tiktok_sku_id),
        )
        assert (await session.execute(counted.where(sku_links.c.tiktok_sku_id == "b"))).scalar_one() == 0
