"""gql/shared_reads.py: which shared read serves which follower. A read serves a follower only if it began after what
the follower waits for (the signal that woke it, or its subscribing), so a shared read never hands out a state from
before a commit the follower was told of; followers woken by one signal share one read; a follower leaving does not
cancel the read of the others. The signals are the in-process bus's (adapters/events.py), the read a stand-in for the
database's: it sees the value committed when it began (a snapshot), and is held in flight on demand."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from adapters.events import InProcessEventBus, Subscription, mark
from gql.shared_reads import SharedReads
from tests.fixtures.waiting import until

KEY = ("m1", "item-1")


class Row:
    """One committed value, read as a snapshot taken when the read begins; `hold` keeps reads in flight."""

    def __init__(self) -> None:
        self.value = 0
        self.begun = 0  # reads begun
        self.hold = asyncio.Event()
        self.hold.set()

    async def read(self) -> int:
        self.begun += 1
        seen = self.value  # the snapshot: what was committed when the read began
        await self.hold.wait()
        return seen


async def test_a_read_begun_before_the_signal_that_woke_a_follower_does_not_serve_it() -> None:
    bus, reads, row = InProcessEventBus(), SharedReads[int](), Row()
    with reads.following(KEY):
        async with bus.subscribe_inventory("m1") as signals:
            # given a read of the row under way (a newcomer's first state), begun before a commit
            row.hold.clear()
            early = asyncio.create_task(reads.shared(KEY, row.read, after=mark()))
            await until(lambda: row.begun == 1, "the first read begun")
            # when the row is committed and signalled, and a follower wakes on that signal while that read runs
            row.value = 1
            await bus.inventory_item_changed(KEY[1], "m1")
            assert await signals.wait(5) == {KEY[1]}
            woken = asyncio.create_task(reads.shared(KEY, row.read, after=signals.woken_by))
            await asyncio.sleep(0)  # (the woken follower has asked before the early read ends)
            row.hold.set()
            # then the early read's caller gets what it saw, and the woken follower a read begun after the signal,
            # queued behind the one in flight (one read in flight per key), not the stale one
            assert await early == 0
            assert await woken == 1
    assert row.begun == 2


async def test_a_follower_that_subscribes_after_a_commit_never_gets_a_read_begun_before_it() -> None:
    reads, row = SharedReads[int](), Row()
    with reads.following(KEY):
        # given a read under way that began before a commit
        row.hold.clear()
        early = asyncio.create_task(reads.shared(KEY, row.read, after=mark()))
        await until(lambda: row.begun == 1, "the first read begun")
        row.value = 1
        # when a follower subscribes after that commit (its first state: a read begun after it subscribed)
        newcomer = asyncio.create_task(reads.shared(KEY, row.read, after=mark()))
        await asyncio.sleep(0)
        row.hold.set()
        # then it gets the committed value; the early read still serves who asked before it began
        assert (await early, await newcomer) == (0, 1)
        # and a done read begun after what a later caller waits for serves it without reading again
        assert await reads.shared(KEY, row.read, after=0) == 1
    assert row.begun == 2


async def test_the_followers_a_signal_wakes_share_one_read() -> None:
    bus, reads, row = InProcessEventBus(), SharedReads[int](), Row()
    with reads.following(KEY):
        async with AsyncExitStack() as stack:
            # given five followers of the row, listening to its signals
            followers = [await stack.enter_async_context(bus.subscribe_inventory("m1")) for _ in range(5)]
            # when one commit is signalled and they all wake on it
            row.value = 7
            await bus.inventory_item_changed(KEY[1], "m1")

            async def follow(signals: Subscription) -> int:
                assert await signals.wait(5) == {KEY[1]}
                return await reads.shared(KEY, row.read, after=signals.woken_by)

            seen = await asyncio.gather(*(follow(signals) for signals in followers))
    # then one read served them all, and it saw the commit
    assert seen == [7] * 5
    assert row.begun == 1


async def test_a_follower_leaving_does_not_cancel_the_read_of_the_others_and_shutdown_awaits_it() -> None:
    reads, row = SharedReads[int](), Row()
    with reads.following(KEY):
        # given two followers awaiting one read in flight
        row.hold.clear()
        leaving = asyncio.create_task(reads.shared(KEY, row.read, after=mark()))
        staying = asyncio.create_task(reads.shared(KEY, row.read, after=0))
        await until(lambda: row.begun == 1, "the read begun")
        # when one of them leaves (its subscription cancelled)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
    # then the read goes on (the last follower gone too), and the shutdown waits for it to end
    closing = asyncio.create_task(reads.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    row.value = 3
    row.hold.set()
    await closing
    assert leaving.cancelled() and await staying == 0
    assert row.begun == 1
