"""`workers.slots.ThreadSlots`: at most `size` runs of a kind (imports, `live` messages) at once in a worker process; a
slot is given back however the run ends. `live_slot_count`: how many threads the `live` queue may hold;
`push_slot_count`: how many of those pushes and reconciles may."""

from __future__ import annotations

import asyncio

import pytest

from workers.slots import ThreadSlots, live_slot_count, push_slot_count


def test_a_full_counter_refuses_until_a_slot_is_given_back() -> None:
    slots = ThreadSlots(1)
    with slots.held() as first:
        with slots.held() as second:
            assert (first, second, slots.taken) == (True, False, 1)
    with slots.held() as again:
        assert again and slots.taken == 1
    assert slots.taken == 0


def test_no_size_means_no_cap_yet() -> None:
    slots = ThreadSlots()  # no worker booted (e.g. an actor's function called by a test)
    with slots.held() as first, slots.held() as second:
        assert first and second and slots.taken == 2
    assert slots.taken == 0


def test_a_run_that_fails_gives_its_slot_back() -> None:
    slots = ThreadSlots(1)
    with pytest.raises(RuntimeError), slots.held():
        raise RuntimeError("the import failed")
    assert slots.taken == 0


async def test_a_cancelled_run_gives_its_slot_back() -> None:
    # given a run holding the only slot, waiting (at TikTok, say)
    slots = ThreadSlots(1)
    started = asyncio.Event()

    async def run() -> None:
        with slots.held() as slot:
            assert slot
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await started.wait()
    assert slots.taken == 1
    # when it is cancelled (a shutdown cancels the runs)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # then its slot is free again
    assert slots.taken == 0


def test_the_live_queue_may_hold_every_thread_but_one_kept_for_the_sync_queue() -> None:
    assert [live_slot_count(threads) for threads in (1, 2, 4, 8)] == [1, 1, 3, 7]
    # a process that takes no `sync` message (Dramatiq's `--queues live`) keeps no thread for one
    assert live_slot_count(4, takes_sync_queue=False) == 4


def test_pushes_may_hold_every_live_slot_but_one_kept_for_webhook_intake() -> None:
    assert [push_slot_count(live_slot_count(threads)) for threads in (1, 2, 3, 4, 8)] == [1, 1, 1, 2, 6]
