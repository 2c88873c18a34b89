"""Fetch pages concurrently, store them in batches with one writer; memory bounded by the queue, not the data.

Sources (one per product scan or order slice) put `Chunk`s on a bounded queue; a single writer takes what is
waiting, up to `batch_records`, and stores it in one transaction with the checkpoint. One writer because SQLite
has one anyway, and because it keeps each task's row updated by exactly one coroutine (no lost updates). A page
of a source is stored only after that source's earlier pages, so each checkpoint mark moves forward only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain.sync import SyncTask

_TICK = object()  # "nothing arrived for a while": the writer stores a heartbeat (and sees a cancel) anyway
_END = object()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A fetched page on its way to the writer, and how it moves the task's checkpoint once stored."""

    items: Sequence[object]
    mark: Callable[[SyncTask], None]


Source = Callable[[], AsyncIterator[Chunk]]
Writer = Callable[[list[Chunk]], Awaitable[None]]  # an empty list: a heartbeat only


async def run_pipeline(
    sources: Sequence[Source],
    write: Writer,
    *,
    concurrency: int,
    queue_pages: int,
    batch_records: int,
    heartbeat_seconds: float,
) -> None:
    """Run every source to its end, writing as pages arrive.

    A writer error (including "stop": cancelled, taken over, shop gone) ends everything at once. A source error
    cancels the other sources, lets the writer store what was already fetched, then propagates.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(1, queue_pages))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def produce(source: Source) -> None:
        async with gate:
            async for chunk in source():
                await queue.put(chunk)
                _raise_lost_cancel()

    async def tick() -> None:
        while True:
            await asyncio.sleep(heartbeat_seconds)
            await queue.put(_TICK)

    writer = asyncio.create_task(_consume(queue, write, batch_records))
    ticker = asyncio.create_task(tick())
    producers = [asyncio.create_task(produce(source)) for source in sources]
    end: asyncio.Task[None] | None = None
    try:
        failure = await _wait_for_sources(producers, writer)
        end = asyncio.create_task(queue.put(_END))
        await asyncio.wait([writer])
        writer.result()  # a writer error (a stop) outranks a source's
        if failure is not None:
            raise failure
    finally:
        children = [writer, ticker, *producers, *([end] if end else [])]
        for child in children:
            child.cancel()
        await asyncio.gather(*children, return_exceptions=True)


async def _wait_for_sources(producers: list[asyncio.Task[None]], writer: asyncio.Task[None]) -> BaseException | None:
    """Wait until every source ended, or one failed (then cancel the rest), or the writer died (raise its error)."""
    remaining = set(producers)
    while remaining:
        done, _ = await asyncio.wait(remaining | {writer}, return_when=asyncio.FIRST_COMPLETED)
        if writer in done:
            writer.result()
            raise RuntimeError("the writer ended before its sources")
        remaining -= done
        failed = next((task.exception() for task in done if task.exception() is not None), None)
        if failed is not None:
            for task in remaining:
                task.cancel()
            await asyncio.gather(*remaining, return_exceptions=True)
            return failed
    return None


async def _consume(queue: asyncio.Queue[object], write: Writer, batch_records: int) -> None:
    while True:
        item = await queue.get()
        if item is _END:
            return
        batch: list[Chunk] = [item] if isinstance(item, Chunk) else []
        size = sum(len(chunk.items) for chunk in batch)
        ended = False
        while size < batch_records and not queue.empty():
            item = queue.get_nowait()
            if item is _END:
                ended = True
                break
            if isinstance(item, Chunk):
                batch.append(item)
                size += len(item.items)
        await write(batch)
        _raise_lost_cancel()
        if ended:
            return


def _raise_lost_cancel() -> None:
    """Raise `asyncio.CancelledError` if this task was cancelled and a callee returned normally all the same.

    Only the pipeline's teardown cancels its writer and sources, and after it nothing feeds the queue: a writer that
    carried on would wait for a page for ever, and the teardown (and so the run's hand-back, and the worker's
    shutdown) with it. A library can lose a cancellation (Python 3.11's `asyncio.wait_for`, CPython gh-86296, inside
    redis-py's commands: `adapters.cancellation`); this is the backstop for any call not wrapped against it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
