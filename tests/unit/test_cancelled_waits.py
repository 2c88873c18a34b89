"""A task cancelled in the same loop turn as what it waits for arrives ends cancelled: it never carries on.

On Python 3.11, `asyncio.wait_for` returns normally when the cancellation reaches it in the turn its inner wait
completes (CPython gh-86296, fixed in 3.12). soak56 F1: a short console session's `inventoryItemUpdated(
inventoryItemId:)`, closed just as a stock signal arrived, looped on with no socket (about 1 % of sessions), holding
its merchant's WebSocket slot and the server's stop for its whole grace (`Cancel N running task(s)` at ERROR).
pyproject.toml bans `asyncio.wait_for` outside tests and benchmarks (ruff TID251).
"""

from __future__ import annotations

import asyncio

from adapters.events import InProcessEventBus
from gql.draining import RequestGate

ROUNDS = 50  # the race is decided by the loop's order, the same each round: 50 make a lucky pass implausible


async def test_a_signal_wait_cancelled_as_its_signal_arrives_ends_cancelled() -> None:
    bus = InProcessEventBus()
    carried_on = 0
    for n in range(ROUNDS):
        async with bus.subscribe_inventory("merchant-a") as signals:
            # given a subscription waiting for its next signal (what a followed item's loop does between two reads)
            waiting = asyncio.create_task(signals.wait(60))
            await asyncio.sleep(0)
            # when a signal is delivered and, in the same turn, the operation is cancelled (its socket closed)
            signals._deliver(f"item-{n}")
            waiting.cancel()
            # then the wait ends cancelled
            try:
                await waiting
            except asyncio.CancelledError:
                continue
            carried_on += 1
    assert carried_on == 0, f"{carried_on} of {ROUNDS} cancelled waits returned the signal and carried on"


async def test_a_drain_cancelled_as_its_last_request_leaves_ends_cancelled() -> None:
    carried_on = 0
    for _ in range(ROUNDS):
        gate = RequestGate(None)
        gate.enter()  # given a request in flight
        draining = asyncio.create_task(gate.drain(timeout=60))
        await asyncio.sleep(0)
        # when it leaves and, in the same turn, the stop itself is cancelled
        gate.leave()
        draining.cancel()
        try:
            await draining
        except asyncio.CancelledError:
            continue
        carried_on += 1
    assert carried_on == 0, f"{carried_on} of {ROUNDS} cancelled drains returned and carried on"
