"""`workers.slots.ImportSlots`: at most `size` imports at once in a worker process; a slot is given back however the
run ends."""

from __future__ import annotations

import asyncio

import pytest

from workers.slots import ImportSlots


def test_a_full_counter_refuses_until_a_slot_is_given_back() -> None:
    slots = ImportSlots(1)
    with slots.held() as first:
        with slots.held() as second:
            assert (first, second, slots.taken) == (True, False, 1)
    with slots.held() as again:
        assert again and slots.taken == 1
    assert slots.taken == 0


def test_no_size_means_no_cap_yet() -> None:
    slots = ImportSlots()  # no worker booted (e.g. an actor's function called by a test)
    with slots.held() as first, slots.held() as second:
        assert first and second and slots.taken == 2
    assert slots.taken == 0


def test_a_run_that_fails_gives_its_slot_back() -> None:
    slots = ImportSlots(1)
    with pytest.raises(RuntimeError), slots.held():
        raise RuntimeError("the import failed")
    assert slots.taken == 0


async def test_a_cancelled_run_gives_its_slot_back() -> None:
    # given a run holding the only slot, waiting (at TikTok, say)
    slots = ImportSlots(1)
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
