"""A sale counts on the item its SKU was linked to when the sale was made, across any sequence of relinks on the same
connection (pool57 F2, kept57): first seen shipped after the SKU's link moved to another item (and maybe back), it
deducts from the item of the link period it was made under (`sku_link_periods`, migration 0049;
`domain.inventory.ledger.sold_under_an_earlier_link`). On SQLite and PostgreSQL, through the link use cases and the
imports; the shelf is the oracle.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import sku_link_periods
from domain.catalog import Order
from domain.inventory.ledger import DELETED_LINE_KEPT
from domain.services import inventory as pool
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, deleted, g1_reconnected, hat_and_sock, order, product
from tests.integration.db_samples import add_shop, make_shop


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


def _sale(world: Pool, status: str, tiktok_order_id: str = "o1") -> Order:
    """A sale of 2 units of g1 made now, its webhooks lost."""
    return order(tiktok_order_id, status, "g1", "g1", at=world.clock.now())


async def _sold_under_hat(world: Pool, status: str, tiktok_order_id: str = "o1") -> tuple[Shop, str, str, Order]:
    """`hat_and_sock`, then a minute later a sale of 2 units of g1 made under its link to HAT (`_sale`: in `status`,
    its webhooks lost): (the shop, HAT's id, SOCK's id, the sale)."""
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    return shop, hat, sock, _sale(world, status, tiktok_order_id)


async def _detour(world: Pool) -> tuple[Shop, Order, Order]:
    """g1 linked to HAT, o1 made under it; g1 linked to SOCK by hand, o2 made under that; g1 linked back to HAT (each
    sale 2 units, shipped, unseen): (shop, o1, o2)."""
    shop, hat, sock, o1 = await _sold_under_hat(world, "IN_TRANSIT", "o1")
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    o2 = _sale(world, "IN_TRANSIT", "o2")
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", hat)
    return shop, o1, o2


async def _read_late(world: Pool, shop: Shop, sale: Order, status: str) -> None:
    """A poll reads `sale` now, in `status`."""
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, replace(sale, status=status, updated_at=world.clock.now()))


@pytest.mark.parametrize("detour", ["another-item-and-back", "another-item", "another-item-unlinked-and-back"])
async def test_a_sale_under_a_link_first_seen_shipped_after_the_sku_moved_deducts_from_the_item_it_was_sold_under(
    world: Pool, detour: str
) -> None:
    # given g1 linked to HAT, and a sale of 2 units made under that link, its webhooks lost; it ships
    shop, hat, sock, sale = await _sold_under_hat(world, "IN_TRANSIT")
    world.clock.advance(timedelta(minutes=1))
    # when the merchant links g1 to SOCK (a mis-click), and maybe back to HAT (corrected), or unlinks it and links it
    # back to HAT, before a poll reads the sale
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    if detour == "another-item-and-back":
        await world.link_by_hand(shop, "g1", hat)
    elif detour == "another-item-unlinked-and-back":
        await world.link_by_hand(shop, "g1", None)
        world.clock.advance(timedelta(minutes=1))
        await world.link_by_hand(shop, "g1", hat)
    await _read_late(world, shop, sale, "IN_TRANSIT")

    # then its 2 units leave HAT's on-hand, as they left HAT's shelf (before: history, HAT 10/0/10 for good); SOCK is
    # untouched; a later version moves nothing
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))
    version = (await world.item("HAT"))["version"]
    await _read_late(world, shop, sale, "DELIVERED")
    assert (await world.item("HAT"))["version"] == version


async def test_sales_under_each_link_of_a_detour_count_on_their_own_items(world: Pool) -> None:
    # given g1 linked to HAT; o1 made under it; g1 linked to SOCK, o2 made under that; g1 linked back to HAT; o3
    # made since (all 2 units, webhooks lost, shipped)
    shop, o1, o2 = await _detour(world)
    world.clock.advance(timedelta(minutes=1))
    o3 = _sale(world, "IN_TRANSIT", "o3")

    # when a poll reads them all
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, *(replace(o, updated_at=world.clock.now()) for o in (o1, o2, o3)))

    # then o1 and o3 leave HAT's on-hand, o2 SOCK's: each from the shelf it left
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((6, 0, 6), (8, 0, 8))


@pytest.mark.parametrize(
    ("status", "expected"), [("AWAITING_SHIPMENT", ((10, 0, 10), (10, 2, 8))), ("CANCELLED", ((10, 0, 10),) * 2)]
)
async def test_an_open_or_cancelled_sale_under_an_earlier_link_moves_as_it_would_have_seen_in_time(
    world: Pool, status: str, expected: tuple[tuple[int, int, int], ...]
) -> None:
    # given g1 linked to HAT, a sale made under it, webhooks lost; g1 then linked to SOCK
    shop, _, sock, sale = await _sold_under_hat(world, status)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    # when a poll reads it, open or cancelled
    await _read_late(world, shop, sale, status)
    # then open, it reserves on SOCK, as seen in time it would have moved there with the link; cancelled, nothing
    assert (await world.counts("HAT"), await world.counts("SOCK")) == expected


async def test_a_sale_first_seen_after_its_seller_sku_was_renamed_and_back_deducts_from_its_item(world: Pool) -> None:
    # given g1 (seller SKU HAT) linked to HAT, a sale of 2 units made under it, webhooks lost, shipped
    shop, _, _, sale = await _sold_under_hat(world, "IN_TRANSIT")
    # when the seller renames g1's seller SKU to SOCK in Seller Center and back (a typo fixed), each read by a product
    # import, before a poll reads the sale (pool57 f3_rename)
    for seller_sku in ("SOCK", "HAT"):
        world.clock.advance(timedelta(minutes=1))
        await world.products(shop, product("q", ("g1", seller_sku, 8), at=world.clock.now()))
    assert (await world.links(shop))["g1"] == ("LINKED", "HAT")
    await _read_late(world, shop, sale, "IN_TRANSIT")
    # then its units leave HAT's on-hand (before: history, HAT 10/0/10 for good)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_link_periods_older_than_any_order_still_to_come_are_forgotten(world: Pool) -> None:
    # given g1 linked to HAT, then to SOCK: one period kept
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    assert await _periods(world) == 1
    # when, over DELETED_LINE_KEPT later, the SKU's link moves again
    world.clock.advance(DELETED_LINE_KEPT + timedelta(days=1))
    await world.link_by_hand(shop, "g1", hat)
    # then only the new period stays: no sale made under the old one can be first seen any more
    assert await _periods(world) == 1


async def _periods(world: Pool) -> int:
    async with world.db.read_sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(sku_link_periods))).scalar_one())


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_sales_under_each_link_of_a_detour_count_on_their_own_items_after_a_delete_and_reconnect(
    world: Pool, orders_first: bool
) -> None:
    # given g1 linked to HAT; o1 made under it; g1 linked to SOCK, o2 made under that; g1 linked back to HAT (all
    # 2 units, webhooks lost, shipped); then the shop is deleted
    shop, o1, o2 = await _detour(world)
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)

    # when the same TikTok shop is connected again (g1 linked by hand to HAT again), its import reading both sales
    await g1_reconnected(world, shop, 6, o1, o2, orders_first=orders_first)

    # then o1 leaves HAT's on-hand, o2 SOCK's, as on the never-deleted connection
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (8, 0, 8))


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_sale_deducted_under_a_link_period_a_delete_kept_is_not_deducted_again_after_the_reconnect(
    world: Pool, orders_first: bool
) -> None:
    # given g1 linked to HAT and o1 (2 units) made under it, seen shipped in time (HAT 8/0/8); 50 days later the
    # merchant links g1 to SOCK (the HAT period is kept); 50 days later the shop is deleted: o1 was made over
    # DELETED_LINE_KEPT (97 days) before the delete, so the delete keeps no record of it (review58 R1)
    shop, _, sock, o1 = await _sold_under_hat(world, "IN_TRANSIT")
    await world.orders(shop, o1)
    assert await world.counts("HAT") == (8, 0, 8)
    world.clock.advance(timedelta(days=50))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(days=50))
    await deleted(world, shop)

    # when the same TikTok shop is connected again (g1 linked to HAT by its seller SKU) and a poll or webhook of the new
    # connection (by update time) brings o1's later status, after its products import or before it
    await g1_reconnected(world, shop, 8, o1, orders_first=orders_first, status="COMPLETED")

    # then HAT stays 8/0/8: the old ledger deducted o1 already (before: 6/0/6, the kept period's 97 days counted back
    # from its end, not from the delete, took o1 for a sale that ledger never saw)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_sale_of_the_second_the_kept_periods_start_falls_in_is_not_deducted_again_after_the_reconnect(
    world: Pool,
) -> None:
    # given g1 linked to HAT and o1 (2 units) made under it at a whole second S, seen shipped in time (HAT 8/0/8); a
    # minute later the merchant links g1 to SOCK; the shop is deleted at S + DELETED_LINE_KEPT + half a second: o1 was
    # made before the delete's instant less 97 days, so the delete keeps no record of it, though in that second
    shop, _, sock, o1 = await _sold_under_hat(world, "IN_TRANSIT")
    await world.orders(shop, o1)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(DELETED_LINE_KEPT - timedelta(minutes=1) + timedelta(microseconds=500_000))
    await deleted(world, shop)

    # when the same TikTok shop is connected again and a poll brings o1's later status
    await g1_reconnected(world, shop, 8, o1, orders_first=False, status="COMPLETED")

    # then HAT stays 8/0/8: the kept HAT period starts at the first whole second of the orders the delete recorded,
    # not in o1's (TikTok's create_time is whole seconds, `sold_while_linked_before` floors a period's start)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_an_open_sale_under_an_earlier_link_reserves_on_the_skus_link_after_a_delete_and_reconnect(
    world: Pool, orders_first: bool
) -> None:
    # given g1 linked to HAT; g1 linked to SOCK, a sale o2 (2 units) made under that link, still open, its webhooks
    # lost; g1 linked back to HAT; then the shop is deleted
    shop, _, o2 = await _detour(world)
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)

    # when the same TikTok shop is connected again (g1 linked by hand to HAT again), its import reading o2 still open
    again = await g1_reconnected(world, shop, 8, o2, orders_first=orders_first, status="AWAITING_SHIPMENT")

    # then it reserves on HAT, the item g1 links to, as on the never-deleted connection (seen in time it would have
    # moved there with the link back; before: on SOCK, 10/2/8, the kept copy of SOCK's earlier period counting open
    # lines too: kept58's reconnect fuzz, seed 28); shipped, it leaves HAT's on-hand
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 2, 8), (10, 0, 10))
    await _read_late(world, again, o2, "IN_TRANSIT")
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def _detour_at_half_a_second(world: Pool) -> tuple[Shop, Order]:
    """g1 linked to HAT, linked to SOCK by hand at t1 = X.5 s (our clock's microseconds), and back to HAT a minute
    later; a sale of 2 units made in t1's very second (TikTok's `create_time`: X), its webhooks lost, shipped:
    (shop, that sale)."""
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1, microseconds=500_000))
    moved_at = world.clock.now()
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", hat)
    return shop, order("o1", "IN_TRANSIT", "g1", "g1", at=moved_at.replace(microsecond=0))


async def test_a_sale_of_the_second_a_link_moved_first_seen_after_a_later_move_counts_on_the_link_it_moved_to(
    world: Pool,
) -> None:
    # given g1 linked to HAT, to SOCK at X.5 s and back to HAT; a sale made in the second X, webhooks lost, shipped
    shop, sale = await _detour_at_half_a_second(world)
    # when a poll reads it
    await _read_late(world, shop, sale, "IN_TRANSIT")
    # then its 2 units leave SOCK's on-hand: the second of a link change counts as after it (review58 R2; before,
    # HAT's period [.., X.5) and SOCK's [X, ..) both held it, "never guess" made it history: 10/0/10 twice)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_sale_of_the_second_a_link_moved_counts_on_the_link_it_moved_to_after_a_delete_and_reconnect(
    world: Pool, orders_first: bool
) -> None:
    # given the same detour and sale; the shop is then deleted
    shop, sale = await _detour_at_half_a_second(world)
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)
    # when the same TikTok shop is connected again (g1 -> HAT by its seller SKU), its import reading the sale
    await g1_reconnected(world, shop, 10, sale, orders_first=orders_first)
    # then its 2 units leave SOCK's on-hand, as on the never-deleted connection
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))


async def _reserved_then_shipped_then_relinked(
    world: Pool, unlinked_first: bool = False, count_hat: bool = False, same_second: bool = False
) -> Shop:
    """g1 linked to HAT; a sale o1 of 2 units made under it and seen open in time (HAT 10/2/8); (`unlinked_first`: the
    merchant unlinks g1, `skuUnlink`: the line stays reserved on HAT, `stays_reserved`); it ships (TikTok's update_time
    U), that webhook lost; (`count_hat`: the merchant counts HAT's shelf, 8, after U); the merchant links g1 to SOCK a
    minute after U (`same_second`: in U's very second), the open line moving with the link (SOCK 10/2/8); a poll reads
    the shipped version, dated U: that shop."""
    shop, hat, sock, sale = await _sold_under_hat(world, "AWAITING_SHIPMENT")
    await world.orders(shop, sale)
    if unlinked_first:
        world.clock.advance(timedelta(minutes=1))
        await world.link_by_hand(shop, "g1", None)
    assert await world.counts("HAT") == (10, 2, 8)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    if count_hat:
        world.clock.advance(timedelta(seconds=10))
        await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, 8, 10)
    world.clock.advance(timedelta(microseconds=500_000) if same_second else timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == (
        ((8, 0, 8) if count_hat else (10, 0, 10)),
        (10, 2, 8),
    )
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, shipped)
    return shop


async def test_a_reserved_sale_shipped_before_its_sku_was_linked_elsewhere_deducts_from_the_item_it_left(
    world: Pool,
) -> None:
    # given a sale seen open under g1 -> HAT, shipped at U, g1 linked to SOCK after U (the reservation moved)
    # when a poll reads the shipped version dated U
    await _reserved_then_shipped_then_relinked(world)
    # then its units leave HAT's on-hand, the shelf they left before the change, and SOCK's reservation goes back, as
    # for the same sale first seen shipped (review58 R5; before: HAT 10/0/10, SOCK 8/0/8)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_reserved_sale_shipped_before_a_relink_and_before_a_count_of_the_item_it_left_deducts_nothing_more(
    world: Pool,
) -> None:
    # given the same, but the merchant counted HAT's shelf (8: o1's units gone) after U and before the relink
    # when a poll reads the shipped version dated U
    await _reserved_then_shipped_then_relinked(world, count_hat=True)
    # then HAT's count stands (the shipment before it is in it), and SOCK's reservation goes back
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_reserved_sale_shipped_in_the_second_of_a_relink_deducts_from_the_item_it_moved_to(
    world: Pool,
) -> None:
    # given the same, but the relink made in U's very second (it may have come before the shipment or after)
    # when a poll reads the shipped version dated U
    await _reserved_then_shipped_then_relinked(world, same_second=True)
    # then the shipment counts as after the relink (the side TikTok's seconds cannot tell apart): it deducts from SOCK,
    # where its reservation is
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))


async def test_a_reserved_sale_shipped_after_an_unlink_and_before_the_next_link_deducts_from_the_item_it_left(
    world: Pool,
) -> None:
    # given a sale seen open under g1 -> HAT, g1 unlinked (the line stays reserved on HAT), shipped at U, g1 linked to
    # SOCK after U (the reservation moved)
    # when a poll reads the shipped version dated U
    await _reserved_then_shipped_then_relinked(world, unlinked_first=True)
    # then its units leave HAT's on-hand, the shelf it was reserved on when it shipped, and SOCK's reservation goes
    # back (relink58; before: HAT's period ended at the unlink, and the shipment deducted from SOCK: HAT 10/0/10,
    # SOCK 8/0/8)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_reserved_sale_shipped_after_an_unlink_and_before_a_count_of_the_item_it_left_deducts_nothing_more(
    world: Pool,
) -> None:
    # given the same, but the merchant counted HAT's shelf (8: o1's units gone) after U and before the link to SOCK
    # when a poll reads the shipped version dated U
    await _reserved_then_shipped_then_relinked(world, unlinked_first=True, count_hat=True)
    # then HAT's count stands (the shipment before it is in it), and SOCK's reservation goes back
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_reserved_sale_shipped_while_on_the_second_of_two_relinks_deducts_from_that_item(world: Pool) -> None:
    # given HAT, SOCK and PEN; a sale seen open under g1 -> HAT (HAT 10/2/8); g1 linked to SOCK (the reservation moves:
    # SOCK 10/2/8); the sale ships at U, its webhook lost; g1 linked to PEN after U (PEN 10/2/8)
    kept, shop = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10), ("k2", "HAT", 10), ("k3", "PEN", 10)))
    await world.products(shop, product("q", ("g1", "HAT", 10)))
    sock, pen = (await world.item("SOCK"))["id"], (await world.item("PEN"))["id"]
    world.clock.advance(timedelta(minutes=1))
    sale = _sale(world, "AWAITING_SHIPMENT")
    await world.orders(shop, sale)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", pen)
    assert [await world.counts(sku) for sku in ("HAT", "SOCK", "PEN")] == [(10, 0, 10), (10, 0, 10), (10, 2, 8)]
    # when a poll reads the shipped version dated U
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, shipped)
    # then its units leave SOCK's on-hand, the item it was reserved on when it shipped (not HAT, where it was sold, nor
    # PEN, where it is reserved now), and PEN's reservation goes back
    assert [await world.counts(sku) for sku in ("HAT", "SOCK", "PEN")] == [(10, 0, 10), (8, 0, 8), (10, 0, 10)]


async def test_a_sale_made_after_an_unlink_reserved_by_the_next_link_deducts_from_that_links_item(
    world: Pool,
) -> None:
    # given g1 -> HAT, unlinked by the merchant; a sale made after the unlink, seen open (it waits for a link: never
    # reserved on HAT); it ships at U, its webhook lost; g1 linked to SOCK after U (the waiting line reserves there)
    shop, _, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", None)
    world.clock.advance(timedelta(minutes=1))
    sale = _sale(world, "AWAITING_SHIPMENT")
    await world.orders(shop, sale)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (10, 2, 8))
    # when a poll reads the shipped version dated U
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, shipped)
    # then it deducts from SOCK, where it is reserved: HAT's period, ended at the unlink, is not stretched to the link
    # for a sale HAT never held
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))


@pytest.mark.parametrize("count_sock", [False, True], ids=["not-counted", "sock-counted-while-deleted"])
@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_reserved_sale_shipped_before_a_relink_deducts_from_the_item_it_left_across_a_delete_and_reconnect(
    world: Pool, orders_first: bool, count_sock: bool
) -> None:
    # given g1 -> HAT, o1 (2 units) seen open (HAT 10/2/8), shipped at U (its webhook lost), and a minute later the
    # merchant links g1 by hand to SOCK: the reservation moves (HAT 10/0/10, SOCK 10/2/8); the merchant deletes the
    # shop (the delete takes o1's reserved units off SOCK: 8/0/8) and maybe counts SOCK's shelf meanwhile (10: o1's
    # units never left it)
    shop, _, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    sale = order("o1", "AWAITING_SHIPMENT", "g1", "g1", at=world.clock.now())
    await world.orders(shop, sale)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (10, 2, 8))
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)
    assert await world.counts("SOCK") == (8, 0, 8)
    if count_sock:
        world.clock.advance(timedelta(minutes=1))
        await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", sock, 10, 8)

    # when the same TikTok shop is connected again (its import links g1 to SOCK by hand again, as it was) and reads
    # the shipped version dated U, products or orders first
    shop = await add_shop(world.uows, make_shop(tiktok_shop_id=shop.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(shop, shipped)
    await world.products(shop, product("q", ("g1", "HAT", 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(shop, shipped)
    assert (await world.link_row(shop, "g1"))[3] == sock

    # then o1's units left HAT's shelf (shipped before the relink), as on the never-deleted connection (review58 R5),
    # and SOCK gets back what the delete took off, unless counted since (review59 F3; before: HAT 10/0/10, SOCK
    # 8/0/8 for good)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


@pytest.mark.parametrize("read", ["linked-then-read", "read-then-linked"])
@pytest.mark.parametrize("detour", ["another-item-then-unlinked", "unlinked-only"])
async def test_a_sale_made_while_unlinked_first_seen_shipped_after_the_link_back_deducts_from_the_item(
    world: Pool, detour: str, read: str
) -> None:
    # given g1 linked to HAT; the merchant links it to SOCK by mistake and undoes it with Unlink (or only unlinks it:
    # the control, soak59 F2's gap_detour_control)
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    if detour == "another-item-then-unlinked":
        await world.link_by_hand(shop, "g1", sock)
        world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", None)
    # and a sale of 2 units made while g1 is unlinked, its webhooks lost, shipped
    world.clock.advance(timedelta(minutes=1))
    sale = _sale(world, "IN_TRANSIT")
    world.clock.advance(timedelta(minutes=1))
    # when the merchant links g1 back to HAT, and a poll reads the sale (or a poll reads it while g1 is unlinked, where
    # it waits, and then the merchant links g1 back)
    if read == "read-then-linked":
        await _read_late(world, shop, sale, "IN_TRANSIT")
        assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (10, 0, 10))
    await world.link_by_hand(shop, "g1", hat)
    if read == "linked-then-read":
        await _read_late(world, shop, sale, "IN_TRANSIT")

    # then its 2 units leave HAT's on-hand as they left HAT's shelf: the unlinked pause was a pause (soak59 F2, before:
    # after the detour the line was HISTORICAL, HAT 10/0/10 for good; read before the link back, it waited remembering
    # SOCK and was history once linked to HAT, detour59b's item 1); SOCK is untouched; a later version moves nothing
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))
    version = (await world.item("HAT"))["version"]
    await _read_late(world, shop, sale, "DELIVERED")
    assert (await world.item("HAT"))["version"] == version


@pytest.mark.parametrize("read", ["linked-then-read", "read-then-linked"])
async def test_a_sale_made_under_the_mis_click_link_still_counts_there_after_an_unlink_and_the_link_back(
    world: Pool, read: str
) -> None:
    # given g1 linked to HAT, then to SOCK by mistake; o1 made under SOCK (webhooks lost, shipped); the merchant
    # unlinks g1; o2 made while unlinked (the same); then g1 is linked back to HAT
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    o1 = _sale(world, "IN_TRANSIT", "o1")
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", None)
    world.clock.advance(timedelta(minutes=1))
    o2 = _sale(world, "IN_TRANSIT", "o2")
    world.clock.advance(timedelta(minutes=1))

    # when a poll reads both after the link back (or while g1 is unlinked, before the link back: o1 deducts from SOCK
    # at once, `first_seen_unlinked`'s `before_unlink`; o2 waits remembering SOCK)
    if read == "read-then-linked":
        await world.orders(shop, *(replace(o, updated_at=world.clock.now()) for o in (o1, o2)))
    await world.link_by_hand(shop, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    if read == "linked-then-read":
        await world.orders(shop, *(replace(o, updated_at=world.clock.now()) for o in (o1, o2)))

    # then o1 leaves SOCK's on-hand (made while g1 was SOCK's, the made-time rule), o2 HAT's (made in the pause), in
    # either order of the link back and the read (detour59b: read first, o2 was history on HAT)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (8, 0, 8))


async def test_a_line_reserved_under_the_mis_click_link_and_shipped_while_unlinked_still_deducts_there(
    world: Pool,
) -> None:
    # given g1 linked to HAT, then to SOCK by mistake; o1 made under SOCK, seen open (SOCK reserves 2); the merchant
    # unlinks g1 (o1 stays reserved on SOCK); o1 ships while g1 is unlinked, its webhooks lost; g1 linked back to HAT
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    o1 = _sale(world, "AWAITING_SHIPMENT", "o1")
    await world.orders(shop, o1)
    assert await world.counts("SOCK") == (10, 2, 8)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", None)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(o1, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", hat)

    # when a poll reads it shipped
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, shipped)

    # then its units leave SOCK's on-hand, where it was reserved when it shipped (relink58's rule), HAT keeps its own
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))


@pytest.mark.parametrize("read", ["linked-then-read", "read-then-linked"])
async def test_a_sale_of_the_unlinks_own_second_counts_on_the_mis_click_link_in_either_order_of_the_link_back(
    world: Pool, read: str
) -> None:
    # given g1 linked to HAT, then to SOCK by mistake; the merchant unlinks g1 at 0.3 s into a second, and a sale of 2
    # units is made in that very second (TikTok's `create_time`: whole seconds), its webhooks lost, shipped
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1, milliseconds=300))
    await world.link_by_hand(shop, "g1", None)
    sale = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now().replace(microsecond=0))
    world.clock.advance(timedelta(minutes=1))

    # when the merchant links g1 back to HAT and a poll reads the sale, or the poll reads it first
    if read == "read-then-linked":
        await _read_late(world, shop, sale, "IN_TRANSIT")
    await world.link_by_hand(shop, "g1", hat)
    if read == "linked-then-read":
        await _read_late(world, shop, sale, "IN_TRANSIT")

    # then it counts on SOCK, whichever came first: the unlink's own second counts as before it (`sold_before_unlink`;
    # detour59b's rule: the pause is HAT's from after the unlink's second), so it was made under SOCK's link
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))
