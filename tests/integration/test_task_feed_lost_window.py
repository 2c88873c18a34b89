"""`syncTaskUpdated` without taskId on lost signals (gql/feeds.py `TaskFeed._read`, `Follower.take_changed`): the
tasks a lost-signal read finds are those that could have changed unseen, each sent to a follower only when it has not
seen it, however many there are (review56 F1, F2).

Signals are lost as an overflow loses them: more than `MAX_PENDING_IDS` signals between two takes of the feed's slot
(here signals naming no task), after which the slot says "re-read everything" (an empty set), as a Redis reconnect
does (tests/integration/test_task_feed_lost_signals.py drives that one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from adapters.config import SUBSCRIPTION_FINISHED_KEPT
from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import MAX_PENDING_IDS, InProcessEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from domain.sync import SyncKind
from gql.container import Services
from gql.feeds import Follower, TaskFeed
from gql.ids import to_global_id
from tests.fakes import FakeClock
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, add_shop, make_shop
from tests.integration.task_feed_support import add_task, read_naming, received, sent_until, subscribe_all_tasks


class World:
    """A merchant's shop, its feed (reads begin at `clock`'s fixed time; no fallback read: 600 s) and bus."""

    def __init__(
        self, database: Database, cipher: TokenCipher, shop: Shop, clock_at: datetime, finished_kept: int
    ) -> None:
        self.uows = uow_factory(database, cipher)
        self.shop = shop
        self.merchant = shop.merchant_id
        self.bus = InProcessEventBus()
        unused: Any = None
        self.services = Services(
            settings=unused, db=database, uow_factory=self.uows, tiktok=unused, queue=unused, events=self.bus,
            clock=SystemClock(), intake=unused, cipher=cipher, subscription_finished_kept=finished_kept,
        )  # fmt: skip
        self.feed = self.services.task_feeds[self.merchant] = TaskFeed(
            database,
            self.bus,
            self.merchant,
            self.services.task_feeds,
            fallback_interval=600,
            clock=FakeClock(clock_at),
        )

    @classmethod
    async def of_new_shop(
        cls, database: Database, cipher: TokenCipher, reads_after: int, finished_kept: int = SUBSCRIPTION_FINISHED_KEPT
    ) -> World:
        """A world of a new shop (`make_shop()`), the feed's reads `reads_after` seconds after NOW, its subscribers
        remembering `finished_kept` finished tasks (SHOPBRIDGE_SUBSCRIPTION_FINISHED_KEPT)."""
        shop = await add_shop(uow_factory(database, cipher), make_shop())
        return cls(database, cipher, shop, NOW + timedelta(seconds=reads_after), finished_kept)

    async def add(self, kind: SyncKind, at: int, *, finished: bool, signal: bool, shop: Shop | None = None) -> str:
        """A task created `at` seconds after NOW (and finished then), committed, signalled or not."""
        return await add_task(self.uows, self.bus, shop or self.shop, kind, at, finished=finished, signal=signal)

    async def subscribe(self) -> Any:
        return await subscribe_all_tasks(self.services, self.merchant)

    @asynccontextmanager
    async def subscribed(self, first: str, status: str | None = None) -> AsyncIterator[tuple[Any, Follower]]:
        """An all-tasks subscriber whose first message is task `first` (and in `status` when given), and a witness
        following the feed: `(messages, witness)`; the subscription closed on the way out."""
        messages = await self.subscribe()
        try:
            async with self.feed.follow() as witness:
                message = await received(messages)
                assert message["id"] == to_global_id("SyncTask", first), message
                if status is not None:
                    assert message["status"] == status, message
                yield messages, witness
        finally:
            await messages.aclose()

    async def sent_after_read(self, messages: Any, witness: Follower, at: int) -> None:
        """A PRODUCTS task `at` seconds after NOW, unfinished and signalled: until the witness's read named it and the
        subscriber sent it."""
        marker = await self.add(SyncKind.PRODUCTS, at, finished=False, signal=True)
        await read_naming(witness, marker)
        assert (await received(messages))["id"] == to_global_id("SyncTask", marker)

    async def lose_signals(self, witness: Follower) -> None:
        """Overflow the feed's slot (signals naming no task), then until the witness has the read that answered it: a
        read answering a signal that names none of those ids."""
        reads = self.feed.reads
        for n in range(MAX_PENDING_IDS + 1):
            await self.bus.task_changed(SimpleNamespace(merchant_id=self.merchant, id=f"gone-{n}", shop_id="-"))  # type: ignore[arg-type]
        while True:
            snapshot = await witness.next(DEADLINE_SECONDS)
            assert snapshot is not None, "no read answered the lost signals"
            if self.feed.reads > reads and snapshot.changed is not None:
                if not any(task_id.startswith("gone-") for task_id in snapshot.changed):
                    return


async def test_lost_signals_send_no_task_that_finished_before_the_subscriber_joined(
    database: Database, cipher: TokenCipher
) -> None:
    """review56 F1: the window read named every task created or finished since the last signalled read (hours ago
    after a quiet spell) to every follower, and a follower sent each it had not sent, one that finished before it
    subscribed included: a console showed an old import as just finished."""
    # given the feed's reads 30 s after the tasks' times (within LOST_SIGNAL_MARGIN: a window read finds them)
    world = await World.of_new_shop(database, cipher, reads_after=30)
    # and an ORDERS task finished, then a newer one (the shop's latest ORDERS), both before anyone subscribed
    old = await world.add(SyncKind.ORDERS, 1, finished=True, signal=True)
    latest = await world.add(SyncKind.ORDERS, 2, finished=True, signal=True)
    # and an all-tasks subscriber, whose first message is the latest, then a signalled task
    async with world.subscribed(latest, "SUCCEEDED") as (messages, witness):
        await world.sent_after_read(messages, witness, 3)
        # when signals are lost, nothing having changed meanwhile, and a last task is signalled
        await world.lose_signals(witness)
        last = await world.add(SyncKind.PRODUCTS, 4, finished=True, signal=True)
        sent = await sent_until(messages, last)
        # then the subscriber sent neither the task that finished before it subscribed nor the one it had sent
        assert sent == [], (
            f"tasks that did not change since the subscription were sent as changes (the old one: "
            f"{to_global_id('SyncTask', old)}): {sent}"
        )


async def test_lost_signals_send_every_task_that_finished_unsignalled_however_many_changed(
    database: Database, cipher: TokenCipher
) -> None:
    """review56 F2: the window read kept the 100 newest created tasks (ACTIVE_LIMIT): a task that started and
    finished while its signal was lost was dropped once 100 newer ones were created in the window, never sent."""
    world = await World.of_new_shop(database, cipher, reads_after=1)
    running = await world.add(SyncKind.ORDERS, 0, finished=False, signal=True)
    # given an all-tasks subscriber that sent its first message and a signalled task
    async with world.subscribed(running) as (messages, witness):
        await world.sent_after_read(messages, witness, 2)
        # when a task starts and finishes unsignalled, then 600 more of 4 other shops (their polls, say), then
        # signals are lost
        unsignalled = await world.add(SyncKind.ORDERS, 3, finished=True, signal=False)
        others = [await add_shop(world.uows, make_shop(world.merchant)) for _ in range(4)]
        polls = [
            await world.add(SyncKind.ORDERS, 4 + n, finished=True, signal=False, shop=others[n % 4]) for n in range(600)
        ]
        await world.lose_signals(witness)
        last = await world.add(SyncKind.PRODUCTS, 2_000, finished=True, signal=True)
        sent = await sent_until(messages, last)
        # then every one of them was sent once, in its final state, the first one included
        expected = [{"id": to_global_id("SyncTask", task), "status": "SUCCEEDED"} for task in [unsignalled, *polls]]
        assert sorted(sent, key=lambda m: m["id"]) == sorted(expected, key=lambda m: m["id"]), (
            f"{len(sent)} sent of {len(expected)}; the first unsignalled one "
            f"{'sent' if expected[0] in sent else 'missing'}"
        )


async def test_a_task_finished_unsignalled_after_the_subscriber_joined_is_sent_on_lost_signals(
    database: Database, cipher: TokenCipher
) -> None:
    """The other side of F1's rule: a task that finished after the subscriber's first read, while signals were lost,
    is sent (by its finished_at, which the follower's baseline, its first read's start, does not exclude)."""
    world = await World.of_new_shop(database, cipher, reads_after=30)
    latest = await world.add(SyncKind.ORDERS, 1, finished=True, signal=True)
    async with world.subscribed(latest) as (messages, witness):
        # when, after the subscription, a task starts and finishes unsignalled (its times after the first read's)
        unsignalled = await world.add(SyncKind.PRODUCTS, 40, finished=True, signal=False)
        await world.lose_signals(witness)
        last = await world.add(SyncKind.PRODUCTS, 41, finished=True, signal=True)
        # then it is sent in its final state
        assert await sent_until(messages, last) == [
            {"id": to_global_id("SyncTask", unsignalled), "status": "SUCCEEDED"}
        ]


# The quiet-spell test's subscriber remembers this many finished tasks and is sent 5 more (the product's 100 had it add
# 105 tasks, each committed and signalled); the rule it checks does not depend on the number.
FINISHED_KEPT = 10


async def test_lost_signals_after_a_quiet_spell_resend_nothing_a_subscriber_forgot(
    database: Database, cipher: TokenCipher
) -> None:
    """review56 F1: the window began at the last read answering a signal, however long ago: after a quiet hour a
    reconnect re-read the hour's tasks, and a subscriber sent again those it had sent and since forgotten (past
    FINISHED_KEPT). It begins now at the last read while the bus heard signals (less the margin)."""
    world = await World.of_new_shop(database, cipher, reads_after=30, finished_kept=FINISHED_KEPT)
    latest = await world.add(SyncKind.ORDERS, 1, finished=True, signal=True)
    async with world.subscribed(latest) as (messages, witness):
        # given an all-tasks subscriber that sent more finished tasks than it remembers (FINISHED_KEPT), those it
        # sent first (and forgot) the newest by their times
        finished = [
            await world.add(SyncKind.PRODUCTS, 300 - n, finished=True, signal=True) for n in range(FINISHED_KEPT + 5)
        ]
        unsent = {to_global_id("SyncTask", task) for task in finished}
        while unsent:
            unsent.discard((await received(messages))["id"])
        # when an hour passes with reads but no signal (two here: a newcomer's), then signals are lost
        clock = world.feed.clock
        assert isinstance(clock, FakeClock)
        clock.advance(timedelta(hours=1))
        for _ in range(2):
            async with world.feed.follow() as newcomer:
                await asyncio.wait_for(newcomer.first(world.feed.refresh()), DEADLINE_SECONDS)
        await world.lose_signals(witness)
        last = await world.add(SyncKind.ORDERS, 4_000, finished=True, signal=True)
        # then nothing is sent again, the tasks it forgot included
        sent = await sent_until(messages, last)
        assert sent == [], f"{len(sent)} tasks that changed an hour ago were sent again"
