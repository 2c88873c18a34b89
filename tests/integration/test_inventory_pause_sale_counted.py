"""A sale made while its SKU was unlinked (the pause the link back makes the item's: detour60), shipped, and the
item's shelf counted: the count is the truth as of its time (`ledger.counted_after_shipment`), so the link back
deducts the sale's units only when they left the shelf after the count (review61 F5: a count after the shipment,
then the sale read and the SKU linked back, took them off a second time: 6 where the shelf held 8, for good; read
after the link back, the same steps gave 8). Rule: `ledger.link_pending`'s `counted_at`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from domain.services import inventory as pool
from tests.fixtures.inventory_pool import Pool, hat_and_sock, order
from tests.integration.test_db_inventory_shop_reconnect_unlinked import _read, _sold_under_a_hand_link_then_unlinked


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


@pytest.mark.parametrize("counted", ["after-the-shipment", "before-the-shipment"])
@pytest.mark.parametrize("read", ["linked-then-read", "read-then-linked"])
@pytest.mark.parametrize("detour", ["unlinked-pause", "mis-click-pause", "linked-control"])
async def test_a_sale_in_the_pause_shipped_before_a_count_of_the_item_is_not_deducted_again(
    world: Pool, detour: str, read: str, counted: str
) -> None:
    """HAT and SOCK 10 each, g1 linked to HAT; g1 unlinked (or first linked to SOCK by mistake, then unlinked); a
    sale of 2 made in the pause, its webhooks lost, shipped a minute later; HAT's shelf counted after the shipment
    (8: the units gone) or before it (10: still there); then the sale read and the link back, in either order. After
    the shipment the count holds it (8); before it, the shipment deducts (8 too). The control never unlinks."""
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    if detour == "mis-click-pause":
        await world.link_by_hand(shop, "g1", sock)
        world.clock.advance(timedelta(minutes=1))
    if detour != "linked-control":
        await world.link_by_hand(shop, "g1", None)
    world.clock.advance(timedelta(minutes=1))
    sale = order("o1", "AWAITING_SHIPMENT", "g1", "g1", at=world.clock.now())
    if counted == "before-the-shipment":
        world.clock.advance(timedelta(seconds=30))
        await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, 10, None)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(seconds=10))
    if counted == "after-the-shipment":
        await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, 8, None)
    world.clock.advance(timedelta(minutes=1))
    if read == "read-then-linked":
        await world.orders(shop, shipped)
    if detour != "linked-control":
        await world.link_by_hand(shop, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    if read == "linked-then-read":
        await world.orders(shop, shipped)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


@pytest.mark.parametrize(
    "how", ["same-connection-linked-then-read", "same-connection-read-then-linked", "reconnect", "orders-first"]
)
async def test_a_pause_sale_shipped_before_a_count_stays_counted_across_a_delete_and_reconnect(
    world: Pool, how: str
) -> None:
    """detour60's reconnect forms (`kept_pause`): g1 auto-linked to SOCK, linked by hand to HAT, then unlinked; a sale
    of 2 made and shipped in the pause, unseen; SOCK's shelf counted 8 ten seconds later; then on the same connection
    the sale read and g1 linked to SOCK (either order), or the shop deleted and connected again (products first, or
    its orders first): SOCK's count stands (8), HAT untouched."""
    shop, _ = await _sold_under_a_hand_link_then_unlinked(world, seen_open=False)
    o2 = order("o2", "IN_TRANSIT", "g1", "g1", at=world.clock.now())
    world.clock.advance(timedelta(seconds=10))
    sock = (await world.item("SOCK"))["id"]
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", sock, 8, None)
    world.clock.advance(timedelta(minutes=1))
    if how.startswith("same-connection"):
        if how == "same-connection-read-then-linked":
            await world.orders(shop, o2)
        await world.link_by_hand(shop, "g1", sock)
        if how == "same-connection-linked-then-read":
            await world.orders(shop, o2)
    else:
        await _read(world, shop, how, o2)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((10, 0, 10), (8, 0, 8))
