"""A sale made on TikTok while its shop was deleted in Shopbridge (after the delete, before the reconnect) on a SKU
LINKED at the delete (pool57 F1, kept57): the reconnect's order import counts it on the item the SKU was linked to at
the delete, as if the shop had never been deleted (`domain.inventory.ledger.through_the_gap`); a SKU not LINKED at the
delete keeps the rule before (history). On SQLite and PostgreSQL, through the delete use case and the imports, both
import orders of the reconnect.

The shelf is the oracle: every unit that left it leaves the pool's on-hand once, none twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from domain.catalog import Order
from domain.services.shops import delete_shop
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import add_shop, make_shop

HOW = pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _linked_to_sock(world: Pool, hat: bool = False) -> Shop:
    """SOCK (and HAT, `hat`) with 10 on hand on a kept shop, and g1 (seller SKU SOCK) of a second shop LINKED to SOCK:
    that second shop."""
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10), *([("k2", "HAT", 10)] if hat else [])))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    return gone


async def _delete(world: Pool, shop: Shop) -> None:
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)


async def _gap_sale(world: Pool, status: str, tiktok_order_id: str = "o1") -> Order:
    """A sale of 2 units of g1 made now, at TikTok, seen by nobody; its latest version a minute later."""
    made = world.clock.now()
    world.clock.advance(timedelta(minutes=1))
    return replace(order(tiktok_order_id, status, "g1", "g1", at=made), updated_at=world.clock.now())


async def _reconnect(world: Pool, gone: Shop, sale: Order, orders_first: bool, seller_sku: str = "SOCK") -> Shop:
    """The same TikTok shop connected again: its products import (g1 with `seller_sku`, 8 at TikTok) and its orders
    import reading `sale`, in either order."""
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, sale)
    await world.products(again, product("q", ("g1", seller_sku, 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, sale)
    return again


@HOW
@pytest.mark.parametrize("hand", [False, True], ids=["linked-by-seller-sku", "linked-by-hand"])
async def test_a_sale_made_while_the_shop_was_deleted_shipped_before_the_reconnect_leaves_the_items_on_hand(
    world: Pool, orders_first: bool, hand: bool
) -> None:
    # given SOCK and HAT (10 on hand each) on a kept shop, and g1 (seller SKU SOCK) of a second shop LINKED to SOCK,
    # or by hand to HAT; the second shop is deleted
    gone = await _linked_to_sock(world, hat=True)
    item = "HAT" if hand else "SOCK"
    world.clock.advance(timedelta(minutes=1))
    if hand:
        await world.link_by_hand(gone, "g1", (await world.item("HAT"))["id"])
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    assert await world.counts(item) == (10, 0, 10)

    # when TikTok sells 2 units of g1 meanwhile, which ship from the shelf, and the same TikTok shop is connected
    # again (g1 comes back on its item: by seller SKU, or by hand, relink56), its import reading the sale
    world.clock.advance(timedelta(minutes=1))
    sale = await _gap_sale(world, "IN_TRANSIT")
    again = await _reconnect(world, gone, sale, orders_first)

    # then the sale leaves that item's on-hand as it left the shelf: 8/0/8 (before: history, 10/0/10 for good, 2 units
    # on sale on every shop); the other item is untouched; and a replay moves nothing
    other = "SOCK" if hand else "HAT"
    assert (await world.counts(item), await world.counts(other)) == ((8, 0, 8), (10, 0, 10))
    version = (await world.item(item))["version"]
    await world.orders(again, replace(sale, status="DELIVERED", updated_at=world.clock.now()))
    assert (await world.item(item))["version"] == version
    assert await world.counts(item) == (8, 0, 8)


@HOW
@pytest.mark.parametrize(
    ("status", "expected"), [("AWAITING_SHIPMENT", (10, 2, 8)), ("CANCELLED", (10, 0, 10))], ids=["open", "cancelled"]
)
async def test_a_sale_made_while_the_shop_was_deleted_still_open_or_cancelled_counts_as_on_the_same_connection(
    world: Pool, orders_first: bool, status: str, expected: tuple[int, int, int]
) -> None:
    # given g1 (seller SKU SOCK) of a second shop LINKED to SOCK (10 on hand), the shop deleted
    gone = await _linked_to_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)

    # when a sale of 2 units made meanwhile is read by the reconnect's import still open, or cancelled
    world.clock.advance(timedelta(minutes=1))
    sale = await _gap_sale(world, status)
    again = await _reconnect(world, gone, sale, orders_first)

    # then open, it reserves on SOCK (10/2/8), and ships once (8/0/8); cancelled, nothing moves (10/0/10)
    assert await world.counts("SOCK") == expected
    if status == "AWAITING_SHIPMENT":
        await world.orders(again, replace(sale, status="IN_TRANSIT", updated_at=world.clock.now()))
        assert await world.counts("SOCK") == (8, 0, 8)


@HOW
async def test_a_sale_made_while_the_shop_was_deleted_counts_on_the_item_linked_at_the_delete_not_the_new_links(
    world: Pool, orders_first: bool
) -> None:
    # given g1 (seller SKU SOCK) of a second shop LINKED to SOCK, and HAT on the kept shop (10 on hand each); the
    # second shop is deleted
    gone = await _linked_to_sock(world, hat=True)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)

    # when TikTok sells 2 units of g1 meanwhile (shipped from SOCK's shelf: the merchant's link said SOCK), and the
    # seller then renames g1's seller SKU to HAT in Seller Center; the reconnect links g1 to HAT
    world.clock.advance(timedelta(minutes=1))
    sale = await _gap_sale(world, "IN_TRANSIT")
    world.clock.advance(timedelta(minutes=1))
    again = await _reconnect(world, gone, sale, orders_first, seller_sku="HAT")
    assert (await world.links(again))["g1"] == ("LINKED", "HAT")

    # then the sale leaves SOCK's on-hand (8/0/8), HAT's stays (10/0/10); a sale made after the reconnect's link
    # counts on HAT as any
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))
    world.clock.advance(timedelta(minutes=1))
    later = await _gap_sale(world, "IN_TRANSIT", "o2")
    await world.orders(again, later)
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (8, 0, 8))


@HOW
async def test_a_sale_made_while_the_shop_was_deleted_of_a_sku_unlinked_at_the_delete_stays_history(
    world: Pool, orders_first: bool
) -> None:
    # given g1 (seller SKU SOCK) of a second shop linked to SOCK (10 on hand), unlinked by the merchant (skuUnlink),
    # then the shop deleted
    gone = await _linked_to_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(gone, "g1", None)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)

    # when a sale of 2 units is made meanwhile, shipped, and read by the reconnect's import (g1 linked by seller SKU)
    world.clock.advance(timedelta(minutes=1))
    sale = await _gap_sale(world, "IN_TRANSIT")
    await _reconnect(world, gone, sale, orders_first)

    # then it is history, as before: the merchant said g1 was not SOCK's when the shop was deleted
    assert await world.counts("SOCK") == (10, 0, 10)


@HOW
async def test_sales_made_while_the_shop_was_deleted_twice_each_leave_the_items_on_hand_once(
    world: Pool, orders_first: bool
) -> None:
    # given g1 (seller SKU SOCK) of a second shop LINKED to SOCK (10 on hand); the shop deleted, a sale o1 (2 units)
    # shipped meanwhile, the shop connected again, deleted again, a sale o2 (2 units) shipped meanwhile
    gone = await _linked_to_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    world.clock.advance(timedelta(minutes=1))
    o1 = await _gap_sale(world, "IN_TRANSIT")
    again = await _reconnect(world, gone, o1, orders_first)
    assert await world.counts("SOCK") == (8, 0, 8)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, again)
    world.clock.advance(timedelta(minutes=1))
    o2 = await _gap_sale(world, "IN_TRANSIT", "o2")

    # when the same TikTok shop is connected a third time, its import reading both sales
    third = await _reconnect(world, again, o2, orders_first)
    await world.orders(third, o1)

    # then each sale left on-hand once: 6/0/6
    assert await world.counts("SOCK") == (6, 0, 6)


@HOW
@pytest.mark.parametrize("relinks", ["to-sock", "to-sock-hat-and-sock"])
async def test_a_sale_made_under_the_reconnects_own_link_counts_there_after_the_sku_is_linked_to_the_deletes_item(
    world: Pool, orders_first: bool, relinks: str
) -> None:
    # given g1 (seller SKU SOCK) of a second shop LINKED to SOCK, and HAT on the kept shop (10 on hand each); the
    # second shop is deleted, TikTok sells 2 units of g1 meanwhile (shipped), the seller renames g1's seller SKU to
    # HAT, and the reconnect links g1 to HAT, its import reading the gap's sale (on SOCK: 8/0/8)
    gone = await _linked_to_sock(world, hat=True)
    sock, hat = (await world.item("SOCK"))["id"], (await world.item("HAT"))["id"]
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    world.clock.advance(timedelta(minutes=1))
    o1 = await _gap_sale(world, "IN_TRANSIT")
    again = await _reconnect(world, gone, o1, orders_first, seller_sku="HAT")
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))

    # when a sale o2 (2 units) is made under the new connection's link to HAT and ships, its webhooks lost; the merchant
    # then links g1 to SOCK by hand (or to SOCK, where a sale o3 is made and ships unseen, back to HAT, and to SOCK
    # again); a poll reads the sales after that
    world.clock.advance(timedelta(minutes=1))
    o2 = await _gap_sale(world, "IN_TRANSIT", "o2")
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(again, "g1", sock)
    sales = [o2]
    if relinks == "to-sock-hat-and-sock":
        world.clock.advance(timedelta(minutes=1))
        sales.append(await _gap_sale(world, "IN_TRANSIT", "o3"))
        world.clock.advance(timedelta(minutes=1))
        await world.link_by_hand(again, "g1", hat)
        world.clock.advance(timedelta(minutes=1))
        await world.link_by_hand(again, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    await world.orders(again, *(replace(sale, updated_at=world.clock.now()) for sale in sales))

    # then o2 leaves HAT's on-hand, the item its SKU was linked to when it was made (8/0/8; before: SOCK's, the delete's
    # kept period running to the hand link), o3 SOCK's; and a replay moves nothing
    sock_after = (6, 0, 6) if relinks == "to-sock-hat-and-sock" else (8, 0, 8)
    assert (await world.counts("SOCK"), await world.counts("HAT")) == (sock_after, (8, 0, 8))
    world.clock.advance(timedelta(minutes=1))
    await world.orders(again, *(replace(sale, status="DELIVERED", updated_at=world.clock.now()) for sale in sales))
    assert (await world.counts("SOCK"), await world.counts("HAT")) == (sock_after, (8, 0, 8))


@HOW
@pytest.mark.parametrize("made", ["while-merchant-b-had-it", "after-merchant-b-deleted-it"])
async def test_a_sale_made_while_another_merchant_had_the_shop_connected_leaves_the_first_merchants_items_alone(
    world: Pool, orders_first: bool, made: str
) -> None:
    # given g1 (seller SKU SOCK) of merchant-a's shop LINKED to SOCK (10 on hand) when merchant-a deletes the shop
    gone = await _linked_to_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    # when the TikTok shop is connected by merchant-b (handed over), whose own SOCK g1 links; a sale of 2 units made
    # then is seen shipped by merchant-b's ledger (b's SOCK 8), or made only after merchant-b deletes the shop in turn
    # (nobody connected, merchant-a ships it); merchant-a connects it again, its import reading the sale
    world.clock.advance(timedelta(minutes=1))
    b_shop = await add_shop(
        world.uows,
        make_shop(merchant_id="merchant-b", tiktok_shop_id=gone.tiktok_shop_id, created_at=world.clock.now()),
    )
    await world.products(b_shop, product("q", ("g1", "SOCK", 10), at=world.clock.now()))
    world.clock.advance(timedelta(minutes=1))
    if made == "while-merchant-b-had-it":
        sale = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now())
        await world.orders(b_shop, sale)
        b_sock = await world.item("SOCK", "merchant-b")
        assert (b_sock["on_hand"], b_sock["reserved"]) == (8, 0)
        world.clock.advance(timedelta(minutes=1))
    await delete_shop(world.uows, world.clock, "merchant-b", b_shop.id, world.events, world.queue)
    world.clock.advance(timedelta(minutes=1))
    if made == "after-merchant-b-deleted-it":
        sale = await _gap_sale(world, "IN_TRANSIT")
        world.clock.advance(timedelta(minutes=1))
    await _reconnect(world, gone, replace(sale, updated_at=world.clock.now()), orders_first)

    # then a sale made while merchant-b had the shop leaves merchant-a's SOCK untouched: merchant-a's gap leaves out
    # merchant-b's connection, whose shelf the sale left (review58 R6; before: 8/0/8, counted in both merchants'
    # pools); one made after merchant-b's delete counts on merchant-a's SOCK, the gap running on after it (review58b
    # F1; before: 10/0/10, counted in no pool)
    assert await world.counts("SOCK") == ((10, 0, 10) if made == "while-merchant-b-had-it" else (8, 0, 8))


def _half_past(world: Pool) -> None:
    """Moves the clock a minute on, to the middle of a second (X.5 s): a change made now shares its second X with a
    TikTok `create_time` of X, which may have come before it or after."""
    world.clock.advance(timedelta(minutes=1))
    world.clock.advance(timedelta(microseconds=500_000 - world.clock.now().microsecond))


async def test_a_sale_of_the_second_the_reconnect_linked_the_sku_to_another_item_counts_on_that_item(
    world: Pool,
) -> None:
    # given g1 (seller SKU SOCK) of a second shop LINKED to SOCK, and HAT on the kept shop (10 on hand each); the
    # second shop is deleted, the seller renames g1's seller SKU to HAT, and the shop is connected again: its products
    # import links g1 to HAT at X.5 s
    gone = await _linked_to_sock(world, hat=True)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    _half_past(world)
    linked_at = world.clock.now()
    await world.products(again, product("q", ("g1", "HAT", 10), at=linked_at))

    # when a sale of 2 units made in the second X (TikTok's create_time) is first seen shipped by a poll
    world.clock.advance(timedelta(minutes=1))
    sale = replace(
        order("o1", "IN_TRANSIT", "g1", "g1", at=linked_at.replace(microsecond=0)), updated_at=world.clock.now()
    )
    await world.orders(again, sale)

    # then it leaves HAT's on-hand, the item of the link that began in its second (the second of a link change belongs
    # to the period that begins in it, `ledger._made_under`; `order_timing`'s `after_link` agrees), not SOCK's through
    # the gap, which ends at that second (review58b F3; before: HAT 10/0/10 and SOCK 8/0/8, until counted)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


@HOW
async def test_a_sale_of_the_second_another_merchant_connected_the_shop_counts_in_that_merchants_pool_only(
    world: Pool, orders_first: bool
) -> None:
    # given g1 (seller SKU SOCK) of merchant-a's shop LINKED to SOCK (10 on hand) when merchant-a deletes the shop
    gone = await _linked_to_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    # when merchant-b connects the TikTok shop at X.5 s and its products import links g1 to its own SOCK then; a sale
    # of 2 units made in the second X is seen shipped by merchant-b's ledger (b's SOCK 8/0/8: made in its link's
    # second, it counts as after it); merchant-b deletes the shop, and merchant-a connects it again, its import
    # reading the sale
    _half_past(world)
    b_shop = await add_shop(
        world.uows,
        make_shop(merchant_id="merchant-b", tiktok_shop_id=gone.tiktok_shop_id, created_at=world.clock.now()),
    )
    await world.products(b_shop, product("q", ("g1", "SOCK", 10), at=world.clock.now()))
    sale = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now().replace(microsecond=0))
    world.clock.advance(timedelta(minutes=1))
    await world.orders(b_shop, replace(sale, updated_at=world.clock.now()))
    b_sock = await world.item("SOCK", "merchant-b")
    assert (b_sock["on_hand"], b_sock["reserved"]) == (8, 0)
    world.clock.advance(timedelta(minutes=1))
    await delete_shop(world.uows, world.clock, "merchant-b", b_shop.id, world.events, world.queue)
    world.clock.advance(timedelta(minutes=1))
    await _reconnect(world, gone, replace(sale, updated_at=world.clock.now()), orders_first)

    # then merchant-a's SOCK is untouched: the second of merchant-b's connection belongs to merchant-b's span, which
    # merchant-a's gap leaves out (`ledger.through_the_gap`; before: 8/0/8, the sale counted in both merchants' pools)
    assert await world.counts("SOCK") == (10, 0, 10)
