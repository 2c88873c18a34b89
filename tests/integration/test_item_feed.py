"""The all-items `inventoryItemUpdated` on SQLite and PostgreSQL, through the schema over the test's database and an
in-process bus: its followers of a merchant share ONE read per batch of item changes (gql/inventory/item_feed.py,
soak55 F1), and each still gets every changed item's final state, nothing read before it subscribed, nothing of
another merchant, and what a lost signal hid."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from adapters.crypto import TokenCipher
from adapters.db import Database, inventory_queries, uow_factory
from adapters.db.tables import skus
from adapters.events import MAX_PENDING_IDS, InProcessEventBus
from domain.catalog import Product
from domain.clock import Clock, SystemClock
from domain.inventory_push import ProductPushOutcome
from domain.services import inventory as pool
from domain.services.shops import delete_shop
from domain.shops import Shop
from gql.container import Services
from gql.context import Context
from gql.inventory.item_feed import ItemFeed, ItemFollower
from gql.inventory.shared_reads import ItemState
from gql.schema import schema
from tests.fakes import FakeClock, FakeEventPublisher, FakeTaskQueue
from tests.fixtures.inventory_pool import order, product
from tests.fixtures.waiting import until
from tests.integration.db_samples import NOW, add_shop, make_shop

ALL_ITEMS = "subscription { inventoryItemUpdated { sku onHand links { shop { id } } } }"


class World:
    """The schema's services over the test's database: item changes committed through the pool's use cases, either
    signalled on the in-process bus after their commit (as the API and the workers do) or quietly (the test sends
    their signals itself, `signal`, or loses them)."""

    def __init__(self, database: Database, cipher: TokenCipher, clock: Clock | None = None) -> None:
        self.database = database
        self.clock = clock if clock is not None else SystemClock()  # the writers' and the feed's
        self.uows = uow_factory(database, cipher, self.clock)
        self.bus = InProcessEventBus()
        self.quiet = FakeEventPublisher()  # a commit whose signals are the test's to send, or lost
        self.queue = FakeTaskQueue()
        unused: Any = None
        self.services = Services(
            settings=unused, db=database, uow_factory=self.uows, tiktok=unused, queue=self.queue, events=self.bus,
            clock=self.clock, intake=unused, cipher=cipher,
        )  # fmt: skip

    async def create(self, merchant_id: str, sku: str, on_hand: int) -> str:
        item = await pool.create_item(self.uows, self.queue, self.quiet, self.clock, merchant_id, sku, on_hand, 0)
        return item.id

    async def adjust(self, merchant_id: str, item_id: str, delta: int, *, signalled: bool = True) -> None:
        events = self.bus if signalled else self.quiet
        await pool.adjust_item(self.uows, self.queue, events, merchant_id, item_id, delta, "count")

    async def products(self, shop: Shop, *products: Product) -> None:
        """An import's batch of the shop's products (auto-linking their SKUs), its signals lost."""
        async with self.uows() as uow:
            await uow.catalog.upsert_products(shop.id, products)
            await pool.pool_products(uow, self.queue, self.quiet, shop.id, products)
            await uow.commit()

    async def link(self, merchant_id: str, sku_id: str, item_id: str) -> None:
        """The merchant's `skuLink`, its signals lost."""
        await pool.link_sku(self.uows, self.queue, self.quiet, merchant_id, sku_id, item_id)

    async def signal(self, merchant_id: str, item_ids: list[str]) -> None:
        """The signals a commit's after-commit hook sends (`domain.services.inventory.signal_items`)."""
        await pool.signal_items(self.bus, merchant_id, item_ids)

    async def overflow(self, merchant_id: str) -> None:
        """More signals than a subscriber's slot holds (`MAX_PENDING_IDS`, naming no item): it hears "some ids may be
        lost", an empty set, as after a Redis reconnect."""
        for n in range(MAX_PENDING_IDS + 1):
            await self.bus.inventory_item_changed(f"no-such-item-{n}", merchant_id)

    def feed(self, merchant_id: str) -> ItemFeed | None:
        feed: ItemFeed | None = self.services.item_feeds.get(merchant_id)
        return feed


class Subscriber:
    """One all-items subscription pulled in-process: `start` runs its generator (a pull for its next message stays
    pending, so its generator runs until it yields one, and stays suspended there until the test takes it)."""

    def __init__(self, world: World, merchant_id: str) -> None:
        self.world = world
        self.merchant_id = merchant_id
        self.told: list[tuple[str, int]] = []  # (sku, onHand) of each message, in order
        self.links: dict[str, int] = {}  # the number of links of each SKU's latest message
        self._subscription: Any = None
        self._pull: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        context = Context(self.world.services, self.merchant_id)
        self._subscription = await schema.subscribe(ALL_ITEMS, context_value=context)
        assert hasattr(self._subscription, "__anext__"), self._subscription  # not a refusal
        self._pull = asyncio.ensure_future(anext(self._subscription))

    async def take(self) -> tuple[str, int]:
        """The next message (waiting for it), and a pull for the one after."""
        assert self._pull is not None
        result = await asyncio.wait_for(self._pull, 120)  # a deadline for a failure, never a pace
        assert result.errors is None, result.errors
        item = result.data["inventoryItemUpdated"]
        assert all(link["shop"] is not None for link in item["links"])
        self.told.append((item["sku"], item["onHand"]))
        self.links[item["sku"]] = len(item["links"])
        self._pull = asyncio.ensure_future(anext(self._subscription))
        return self.told[-1]

    async def until_told(self, *states: tuple[str, int]) -> None:
        """Messages taken until the latest of each SKU in `states` is the onHand given there."""
        while not all(self.latest(sku) == on_hand for sku, on_hand in states):
            await self.take()

    def latest(self, sku: str) -> int | None:
        return next((on_hand for told, on_hand in reversed(self.told) if told == sku), None)

    async def close(self) -> None:
        if self._pull is not None:
            self._pull.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await self._pull
        if self._subscription is not None:
            await self._subscription.aclose()


@contextlib.asynccontextmanager
async def subscribed(world: World, merchant_id: str, count: int) -> AsyncIterator[list[Subscriber]]:
    """`count` all-items subscribers of the merchant, each listening: joined to the merchant's feed, which hears its
    item signals (before the feed, each subscriber listened on its own: `items_listening` counted them all)."""
    subscribers = [Subscriber(world, merchant_id) for _ in range(count)]
    try:
        for subscriber in subscribers:
            await subscriber.start()

        def listening() -> bool:
            heard = world.bus.items_listening(merchant_id)
            feed = world.feed(merchant_id)
            joined = len(feed.followers) if feed is not None else 0
            return heard == count or (heard == 1 and joined == count)

        await until(listening, f"{count} subscribers listening")
        yield subscribers
    finally:
        for subscriber in subscribers:
            await subscriber.close()


@contextlib.contextmanager
def item_reads(database: Database) -> Iterator[list[str]]:
    """The statements reading inventory items on the read engine while inside (on PostgreSQL it is the write engine
    too: the test sends its signals after its commits, so that only the subscribers' reads run inside)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM inventory_items" in statement:
            statements.append(statement)

    engine = database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> World:
    return World(database, cipher)


@pytest.mark.parametrize("followers", [1, 20])
async def test_a_change_of_several_items_is_read_once_for_every_follower_of_the_merchant(
    world: World, followers: int
) -> None:
    # given K items of a merchant and N subscribers following every item
    skus = [f"SKU-{n}" for n in range(5)]
    ids = [await world.create("m1", sku, 10) for sku in skus]
    async with subscribed(world, "m1", followers) as subscribers:
        # when each item changes, and their signals come after the commits (one batch, as one commit of K sends them)
        for item_id in ids:
            await world.adjust("m1", item_id, 1, signalled=False)
        with item_reads(world.database) as reads:
            await world.signal("m1", ids)
            # then every follower is told each item's new state
            await asyncio.gather(*(s.until_told(*((sku, 11) for sku in skus)) for s in subscribers))
        # from ONE read of those items (soak55 F1: one per follower, 50 followers held the whole pool)
        assert len(reads) == 1, reads
        assert all(sorted(s.told) == sorted((sku, 11) for sku in skus) for s in subscribers)
    assert world.services.item_feeds == {}  # the feed left with its last follower


async def test_a_follower_busy_sending_still_gets_each_items_final_state_and_never_an_older_one(world: World) -> None:
    # given two items and two subscribers: one takes every message, the other stays suspended at its first
    lamp, desk = await world.create("m1", "LAMP", 5), await world.create("m1", "DESK", 3)
    async with subscribed(world, "m1", 2) as (quick, busy):
        await world.adjust("m1", lamp, 1)
        await asyncio.gather(quick.until_told(("LAMP", 6)), busy.until_told(("LAMP", 6)))
        # when the lamp changes three times and the desk once, each change signalled after its commit, while the busy
        # one sends nothing (the quick one sees each change before the next is made)
        for on_hand in (7, 8, 9):
            await world.adjust("m1", lamp, 1)
            await quick.until_told(("LAMP", on_hand))
        await world.adjust("m1", desk, -1)
        await quick.until_told(("DESK", 2))
        # then the busy one, once it takes its messages, is told the final state of each, the lamp's states in order
        await busy.until_told(("LAMP", 9), ("DESK", 2))
        lamp_states = [on_hand for sku, on_hand in busy.told if sku == "LAMP"]
        assert lamp_states == sorted(lamp_states) and lamp_states[-1] == 9, busy.told


async def test_a_subscriber_joining_during_a_read_is_not_given_what_that_read_found(
    database_url: str, cipher: TokenCipher
) -> None:
    # given a database with one connection, an item, and a subscriber following every item
    database = Database(database_url, pool_size=1, max_overflow=0)
    try:
        world = World(database, cipher)
        lamp = await world.create("m1", "LAMP", 5)
        async with subscribed(world, "m1", 1) as (old,):
            feed = world.feed("m1")
            assert feed is not None
            await world.adjust("m1", lamp, 1, signalled=False)  # committed before the newcomer subscribes
            newcomer = Subscriber(world, "m1")
            try:
                # when the feed begins the read of that change, and waits for the one connection, held meanwhile
                async with database.read_engine.connect():
                    begun = feed.begun
                    await world.signal("m1", [lamp])
                    await until(lambda: feed.begun > begun, "the feed's read to begin")
                    reads = feed.reads
                    # and a subscriber joins while that read is under way
                    await newcomer.start()
                    await until(lambda: len(feed.followers) == 2, "the newcomer to join the feed")
                    assert feed.reads == reads  # the read has not ended: it waits for the connection
                await old.until_told(("LAMP", 6))
                # then the newcomer's first message is not that read's state, but the next change's
                await world.adjust("m1", lamp, 1)
                assert await newcomer.take() == ("LAMP", 7)
                await old.until_told(("LAMP", 7))
            finally:
                await newcomer.close()
    finally:
        await database.dispose()


async def test_a_follower_is_never_told_another_merchants_items(world: World) -> None:
    # given an item of each of two merchants and subscribers of each
    theirs, ours = await world.create("m2", "THEIRS", 1), await world.create("m1", "OURS", 1)
    async with subscribed(world, "m1", 2) as mine, subscribed(world, "m2", 1) as (other,):
        assert set(world.services.item_feeds) == {"m1", "m2"}  # a feed per merchant
        # when the other merchant's item changes, then ours (each signalled after its commit)
        await world.adjust("m2", theirs, 1)
        await other.until_told(("THEIRS", 2))
        await world.adjust("m1", ours, 1)
        # then our subscribers are told our item only (the other's change was read and sent before ours), theirs too
        for subscriber in mine:
            assert await subscriber.take() == ("OURS", 2)
        assert other.told == [("THEIRS", 2)]


async def test_lost_signals_make_the_feed_read_again_what_its_followers_were_sent(world: World) -> None:
    # given an item three subscribers were told of
    lamp = await world.create("m1", "LAMP", 5)
    async with subscribed(world, "m1", 3) as subscribers:
        await world.adjust("m1", lamp, 1)
        await asyncio.gather(*(s.until_told(("LAMP", 6)) for s in subscribers))
        # when it changes again and its signal is lost, then signals overflow the slot of the signals' subscriber
        await world.adjust("m1", lamp, 1, signalled=False)
        with item_reads(world.database) as reads:
            await world.overflow("m1")
            # then every subscriber is told its current state, from one read for all: the ids of the items changed
            # since the last signalled read, then those items
            await asyncio.gather(*(s.until_told(("LAMP", 7)) for s in subscribers))
        assert len(reads) == 2, reads


async def _told_until(witness: ItemFollower, item_id: str) -> dict[str, ItemState]:
    """What the feed hands the witness follower up to a read that found `item_id` (the latest state of each item)."""
    told: dict[str, ItemState] = {}
    while item_id not in told:
        told.update(await witness.next())
    return told


async def _lost_read(world: World, merchant_id: str) -> None:
    """Signals overflow (some ids lost, as after a Redis reconnect), and the feed's read that answers them ends."""
    feed = world.feed(merchant_id)
    assert feed is not None
    reads = feed.reads
    await world.overflow(merchant_id)
    await until(lambda: feed.reads > reads, "the feed's read after lost signals")


async def test_an_item_changed_while_signals_were_lost_and_never_sent_reaches_every_follower(world: World) -> None:
    """itemlost56: after lost signals the feed read again only what its followers had been sent or held: a sale on
    an item no follower had been told of yet, its signal lost, never reached them until it changed again."""
    # given two items, and three subscribers (and a witness follower of the feed) told of the lamp only
    lamp, desk = await world.create("m1", "LAMP", 5), await world.create("m1", "DESK", 3)
    async with subscribed(world, "m1", 3) as subscribers:
        feed = world.feed("m1")
        assert feed is not None
        async with feed.follow() as witness:
            await world.adjust("m1", lamp, 1)
            await asyncio.gather(*(s.until_told(("LAMP", 6)) for s in subscribers))
            await _told_until(witness, lamp)
            # when the desk sells, its signal lost, and the feed hears that signals were lost
            await world.adjust("m1", desk, -1, signalled=False)
            await _lost_read(world, "m1")
            # and a last change is signalled after that read
            await world.adjust("m1", lamp, 1)
            # then the feed handed every follower the desk's new state, before that last change
            told = await _told_until(witness, lamp)
            assert desk in told and told[desk].node.on_hand == 2, sorted(told)
            # and every subscriber tells its client
            await asyncio.gather(*(s.until_told(("LAMP", 7), ("DESK", 2)) for s in subscribers))


async def _desk_of_two_shops(world: World) -> tuple[Shop, str, str]:
    """DESK, linked by a SKU of each of two shops of merchant m1 (imported at the world's clock, signals lost): the
    first shop, its SKU's id and DESK's id."""
    first, second = await add_shop(world.uows, make_shop("m1")), await add_shop(world.uows, make_shop("m1"))
    await world.products(first, product("p1", ("s1", "DESK", 4)))
    await world.products(second, product("p2", ("s2", "DESK", 4)))
    async with world.database.read_sessionmaker() as session:
        desk = await inventory_queries.item_by_sku(session, "m1", "DESK")
        sku_id = (await session.execute(select(skus.c.id).where(skus.c.tiktok_sku_id == "s1"))).scalar_one()
    assert desk is not None
    return first, sku_id, desk.id


async def _desk_and_chair_after_a_lost_change(
    world: World, clock: FakeClock, change: Callable[[Shop, str, str], Awaitable[Any]]
) -> list[dict[str, int]]:
    """Given DESK linked by a SKU of each of two shops, a CHAIR of m1's own and two subscribers, `change(the first
    shop, its SKU's id, CHAIR's id)` made 11 minutes after those writes with its signals lost, the feed told they were,
    then a last change signalled (CHAIR +1). Asserts the feed read both items and only them, DESK with only the second
    shop's link left, and that every subscriber told its client DESK at 4 and CHAIR at 3; returns each subscriber's
    link counts by SKU."""
    first, sku_id, desk = await _desk_of_two_shops(world)
    chair = await world.create("m1", "CHAIR", 2)
    clock.advance(timedelta(minutes=10))  # (those writes long before the followers: outside any lost read's window)
    async with subscribed(world, "m1", 2) as subscribers:
        feed = world.feed("m1")
        assert feed is not None
        async with feed.follow() as witness:
            clock.advance(timedelta(minutes=1))
            await change(first, sku_id, chair)
            await _lost_read(world, "m1")
            await world.adjust("m1", chair, 1)  # (a last change, signalled)
            told = await _told_until(witness, chair)
            assert sorted(told) == sorted([desk, chair]), sorted(told)
            assert [link.sku.tiktok_sku_id for link in told[desk].links] == ["s2"]
            await asyncio.gather(*(s.until_told(("DESK", 4), ("CHAIR", 3)) for s in subscribers))
            return [s.links for s in subscribers]


async def test_links_that_moved_while_signals_were_lost_reach_every_follower_from_both_items(
    database: Database, cipher: TokenCipher
) -> None:
    """A SKU the merchant links to another item while signals are lost: the item it joined (its link's `updated_at`)
    and the item it left, its counters unmoved (its own `updated_at`, bumped by the link's writer), are both read."""
    clock = FakeClock(NOW)
    world = World(database, cipher, clock)
    # given DESK linked by a SKU of each of two shops, a CHAIR of the merchant's own, and two subscribers
    # when the merchant links the first shop's SKU to CHAIR, its signals lost, and the feed hears they were
    # then the feed read both items, and only them: DESK with one link left, CHAIR with the SKU; every subscriber
    # tells its client
    links = await _desk_and_chair_after_a_lost_change(
        world, clock, lambda _, sku_id, chair: world.link("m1", sku_id, chair)
    )
    assert links == [{"DESK": 1, "CHAIR": 1}] * 2, links


async def test_an_item_whose_link_went_with_a_shop_deleted_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    """A shop deleted while signals are lost: an item it linked that stays (another shop links it too), its counters
    unmoved (no open order), is read (its `updated_at`, bumped by the delete) and shown with its one link left."""
    clock = FakeClock(NOW)
    world = World(database, cipher, clock)
    # given DESK linked by a SKU of each of two shops, a CHAIR, and two subscribers
    # when the merchant deletes the first shop, its signals lost, and the feed hears they were
    # then the feed read DESK, its one link left, and no other item but that last one; every subscriber tells its
    # client
    links = await _desk_and_chair_after_a_lost_change(
        world, clock, lambda first, _, __: delete_shop(world.uows, clock, "m1", first.id, world.quiet, world.queue)
    )
    assert links == [{"DESK": 1, "CHAIR": 0}] * 2, links


async def _told_after_a_lost_change(
    database: Database, cipher: TokenCipher, change: Callable[[World, Shop, str, str], Awaitable[Any]]
) -> tuple[dict[str, ItemState], str, str]:
    """Given DESK linked by a SKU of each of two shops, a CHAIR of m1's own, and a subscriber, `change(the world, the
    first shop, its SKU's id, DESK's id)` made 11 minutes after those writes with its signals lost, the feed told they
    were, then a last change signalled (CHAIR +1): what the feed handed a follower of its own, (DESK's id, CHAIR's id);
    asserts the subscriber told its client DESK (it was never told of it before)."""
    clock = FakeClock(NOW)
    world = World(database, cipher, clock)
    first, sku_id, desk = await _desk_of_two_shops(world)
    chair = await world.create("m1", "CHAIR", 2)
    clock.advance(timedelta(minutes=10))  # (those writes long before the followers: outside any lost read's window)
    async with subscribed(world, "m1", 1) as (subscriber,):
        feed = world.feed("m1")
        assert feed is not None
        async with feed.follow() as witness:
            clock.advance(timedelta(minutes=1))
            await change(world, first, sku_id, desk)
            await _lost_read(world, "m1")
            await world.adjust("m1", chair, 1)  # (a last change, signalled)
            told = await _told_until(witness, chair)
            assert desk in told, sorted(told)
            await subscriber.until_told(("DESK", told[desk].node.on_hand), ("CHAIR", 3))
            return told, desk, chair


async def test_a_push_recorded_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    """A push's outcome stamps the link alone (`inventory_push_links.record_link_results`), not its item: the read
    after lost signals finds the item by its link's `updated_at` (the links' side of `item_ids_changed_since`)."""

    async def push(world: World, first: Shop, sku_id: str, desk: str) -> None:
        now = world.clock.now()
        async with world.uows() as uow:  # what the push's `_record` writes once TikTok accepted 3 for the SKU
            outcome = ProductPushOutcome(pushed={sku_id: 3}, computed_at=now, base_items={sku_id: desk})
            await uow.inventory_push.record_link_results(first.id, outcome, now)
            await uow.commit()

    # given DESK linked by a SKU of each of two shops, and a subscriber
    # when a push of the first shop's SKU is recorded (3 units), its signal lost, and the feed hears signals were lost
    told, desk, _ = await _told_after_a_lost_change(database, cipher, push)
    # then the feed read DESK, the first shop's link with its push
    pushed = {link.sku.tiktok_sku_id: link.pushed_quantity for link in told[desk].links}
    assert pushed == {"s1": 3, "s2": None}, pushed


async def test_a_sale_an_order_batch_ingested_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    """A sale from TikTok (an order batch, `pool_orders`: the pool's writer, not a merchant's edit) stamps the item."""

    async def sell(world: World, first: Shop, sku_id: str, desk: str) -> None:
        sold = order("o1", "AWAITING_SHIPMENT", "s1", at=world.clock.now())
        async with world.uows() as uow:
            await uow.catalog.upsert_orders(first.id, [sold])
            await pool.pool_orders(uow, world.queue, world.quiet, first.id, [sold])
            await uow.commit()

    # given DESK linked by a SKU of each of two shops, and a subscriber
    # when an order of the first shop's SKU comes in (one unit reserved), its signal lost, and the feed hears it was
    told, desk, _ = await _told_after_a_lost_change(database, cipher, sell)
    # then the feed read DESK with the unit reserved
    assert told[desk].node.reserved == 1


async def test_a_safety_stock_set_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    async def keep_back(world: World, first: Shop, sku_id: str, desk: str) -> None:
        await pool.update_safety_stock(world.uows, world.queue, world.quiet, "m1", desk, 2)

    # given DESK, and a subscriber
    # when the merchant keeps 2 of DESK back (`inventoryItemUpdate`), its signal lost, and the feed hears it was
    told, desk, _ = await _told_after_a_lost_change(database, cipher, keep_back)
    # then the feed read DESK with it
    assert told[desk].node.safety_stock == 2


async def test_a_sku_unlinked_by_hand_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    async def unlink(world: World, first: Shop, sku_id: str, desk: str) -> None:
        await pool.link_sku(world.uows, world.queue, world.quiet, "m1", sku_id, None)

    # given DESK linked by a SKU of each of two shops, and a subscriber
    # when the merchant unlinks the first shop's SKU (`skuUnlink`), its signal lost, and the feed hears it was
    told, desk, _ = await _told_after_a_lost_change(database, cipher, unlink)
    # then the feed read DESK (its `updated_at`, bumped by the link's writer), with the second shop's link alone
    assert [link.sku.tiktok_sku_id for link in told[desk].links] == ["s2"]


async def test_a_seller_sku_renamed_by_an_import_while_signals_were_lost_reaches_every_follower_from_both_items(
    database: Database, cipher: TokenCipher
) -> None:
    async def rename(world: World, first: Shop, sku_id: str, desk: str) -> None:
        await world.products(first, product("p1", ("s1", "CHAIR", 4)))

    # given DESK linked by a SKU of each of two shops, CHAIR, and a subscriber
    # when an import finds the first shop's SKU renamed to seller SKU CHAIR (auto-linked there), its signals lost
    told, desk, chair = await _told_after_a_lost_change(database, cipher, rename)
    # then the feed read both: DESK with the second shop's link alone, CHAIR with the first shop's
    assert [link.sku.tiktok_sku_id for link in told[desk].links] == ["s2"]
    assert [link.sku.tiktok_sku_id for link in told[chair].links] == ["s1"]


async def test_a_sku_an_import_no_longer_finds_while_signals_were_lost_reaches_every_follower(
    database: Database, cipher: TokenCipher
) -> None:
    """A SKU its product no longer has: its link DROPPED, naming DESK still, its `updated_at` stamped, DESK's not
    (the links' side of `item_ids_changed_since`)."""

    async def drop(world: World, first: Shop, sku_id: str, desk: str) -> None:
        await world.products(first, product("p1", ("s1-new", None, 0)))

    # given DESK linked by a SKU of each of two shops, and a subscriber
    # when an import finds the first shop's product without that SKU (another one with no seller SKU instead), its
    # signals lost, and the feed hears they were
    told, desk, _ = await _told_after_a_lost_change(database, cipher, drop)
    # then the feed read DESK with the second shop's link alone (a DROPPED link draws on no item)
    assert [link.sku.tiktok_sku_id for link in told[desk].links] == ["s2"]


async def test_the_read_after_lost_signals_is_bounded_the_last_changed_first_and_forgets_what_was_sent_before(
    database: Database, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """itemlost56 (2): the read after lost signals read again every item any follower had ever been sent, all of a big
    merchant's items for a long-lived tab; now the items changed since the last signalled read, at most `lost_limit`
    (the last changed first, a WARNING past it), and an item sent long before is not read again."""
    clock = FakeClock(NOW)
    world = World(database, cipher, clock)
    feed = world.services.item_feeds["m1"] = ItemFeed(world.services, "m1", world.services.item_feeds, lost_limit=2)
    # given an item its subscriber was told of, long before
    old = await world.create("m1", "OLD", 1)
    chair = await world.create("m1", "CHAIR", 1)
    async with subscribed(world, "m1", 1) as (subscriber,), feed.follow() as witness:
        await world.adjust("m1", old, 1)
        await subscriber.until_told(("OLD", 2))
        await _told_until(witness, old)
        # when, 10 minutes later, three items sell one after the other, their signals lost, and the feed hears they were
        clock.advance(timedelta(minutes=10))
        sold = []
        for n in range(3):
            clock.advance(timedelta(seconds=1))
            sold.append(await world.create("m1", f"SOLD-{n}", 5))
        await _lost_read(world, "m1")
        await world.adjust("m1", chair, 1)  # (a last change, signalled)
        # then the feed read the two changed last, and neither the first nor the item sent long before
        told = await _told_until(witness, chair)
        assert sorted(told) == sorted([*sold[1:], chair]), sorted(told)
        assert "more than 2 items of merchant m1 changed" in caplog.text
        await subscriber.until_told(("SOLD-1", 5), ("SOLD-2", 5), ("CHAIR", 2))
        assert subscriber.latest("SOLD-0") is None
        # and a second lost read past the bound within the minute (an import's batches overflowing the slot read
        # after read) adds no WARNING line: the feed's line is once a minute (review56b F1)
        for n in range(3):
            clock.advance(timedelta(seconds=1))
            await world.create("m1", f"MORE-{n}", 5)
        await _lost_read(world, "m1")
        await world.adjust("m1", chair, 1)
        await _told_until(witness, chair)
        assert caplog.text.count("more than 2 items of merchant m1 changed") == 1, caplog.text


async def test_the_feed_waits_out_a_busy_database_and_its_followers_get_the_state_after_it(
    database_url: str, cipher: TokenCipher
) -> None:
    # given a database with one connection that a caller waits 0.1 s for, an item, and two subscribers of every item
    database = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        world = World(database, cipher)
        lamp = await world.create("m1", "LAMP", 5)
        async with subscribed(world, "m1", 2) as subscribers:
            await world.adjust("m1", lamp, 1, signalled=False)
            outage = world.services.database_outage
            # when the feed reads a change while the one connection is held (its read fails: DATABASE_BUSY)
            async with database.read_engine.connect():
                await world.signal("m1", [lamp])
                await until(lambda: outage.retries >= 1, "the feed's read to fail on the busy pool")
            # then, the connection back, the subscriptions are still open and each gets the item's state
            await asyncio.gather(*(s.until_told(("LAMP", 6)) for s in subscribers))
            assert outage.since is None  # the outage is over (read again and answered)
    finally:
        await database.dispose()
