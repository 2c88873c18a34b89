"""The fetch-and-store pipeline: batches, bounded read-ahead, concurrency, heartbeats, and who wins on errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from domain.services.pipeline import Chunk, Source, run_pipeline
from domain.sync import SyncTask

DEADLINE = 10.0  # seconds a waited-for event may take before the test fails


def _chunk(*items: object) -> Chunk:
    def mark(task: SyncTask) -> None:
        raise AssertionError("the pipeline itself never marks a task")

    return Chunk(items, mark)


def _source(*sizes: int, log: list[str] | None = None, name: str = "") -> Source:
    async def pages() -> AsyncIterator[Chunk]:
        for index, size in enumerate(sizes):
            if log is not None:
                log.append(f"{name}{index}")
            yield _chunk(*range(size))

    return pages


async def _yield_to_others(rounds: int = 20) -> None:
    """Let every other ready coroutine run as far as it can (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []  # the size of each chunk of each write

    async def __call__(self, chunks: list[Chunk]) -> None:
        self.batches.append([len(chunk.items) for chunk in chunks])


Write = Callable[[list[Chunk]], Awaitable[None]]


async def _run(
    sources: list[Source],
    write: Write,
    *,
    concurrency: int = 4,
    queue_pages: int = 16,
    batch_records: int = 4,
    heartbeat_seconds: float = 60.0,
) -> None:
    pipeline = run_pipeline(
        sources,
        write,
        concurrency=concurrency,
        queue_pages=queue_pages,
        batch_records=batch_records,
        heartbeat_seconds=heartbeat_seconds,
    )
    await asyncio.wait_for(pipeline, DEADLINE)  # a pipeline that never ends fails the test


@pytest.mark.parametrize(
    ("batch_records", "batches"),
    [
        (4, [[2, 2], [2, 2], [2]]),  # a batch stops once it holds `batch_records`
        (5, [[2, 2, 2], [2, 2]]),  # and may pass it by the last chunk taken
        (1, [[2], [2], [2], [2], [2]]),
    ],
)
async def test_the_writer_stores_what_is_waiting_in_batches_of_about_batch_records(
    batch_records: int, batches: list[list[int]]
) -> None:
    write = Writer()
    await _run([_source(2, 2, 2, 2, 2)], write, batch_records=batch_records)
    assert write.batches == batches


async def test_no_source_stores_nothing_and_ends() -> None:
    write = Writer()
    await _run([], write, concurrency=0)
    assert write.batches == []


async def test_the_end_of_the_sources_arriving_within_a_batch_still_stores_that_batch() -> None:
    # given a writer slow on its first batch, so that the rest and the end of the sources queue up behind it
    released = asyncio.Event()
    batches: list[list[int]] = []

    writing = asyncio.Event()

    async def write(chunks: list[Chunk]) -> None:
        batches.append([len(chunk.items) for chunk in chunks])
        if len(batches) == 1:
            writing.set()
            await asyncio.wait_for(released.wait(), DEADLINE)
            await _yield_to_others()  # the pipeline has seen its source end and queued the end by now

    async def pages() -> AsyncIterator[Chunk]:
        yield _chunk(1)
        await asyncio.wait_for(writing.wait(), DEADLINE)
        yield _chunk(1)
        yield _chunk(1)
        released.set()

    await _run([pages], write, concurrency=1, batch_records=100)
    assert batches == [[1], [1, 1]]


@pytest.mark.parametrize(("queue_pages", "fetched"), [(0, 3), (1, 3), (2, 4)])
async def test_pages_are_fetched_ahead_of_a_slow_writer_only_up_to_queue_pages(queue_pages: int, fetched: int) -> None:
    # given a writer that does not return from its first batch until told
    log: list[str] = []
    release = asyncio.Event()
    first = asyncio.Event()

    async def write(chunks: list[Chunk]) -> None:
        first.set()
        await asyncio.wait_for(release.wait(), DEADLINE)

    async def observe() -> None:
        await asyncio.wait_for(first.wait(), DEADLINE)
        await _yield_to_others()
        fetched_meanwhile.append(len(log))
        release.set()

    fetched_meanwhile: list[int] = []
    watcher = asyncio.create_task(observe())
    await _run([_source(1, 1, 1, 1, 1, 1, log=log)], write, concurrency=1, queue_pages=queue_pages, batch_records=1)
    await watcher
    # then one page is being written, `queue_pages` (at least one) wait, and one more is held by its source
    assert fetched_meanwhile == [fetched]
    assert len(log) == 6


@pytest.mark.parametrize(("concurrency", "order"), [
    (1, ["a0", "a1", "b0", "b1"]),
    (0, ["a0", "a1", "b0", "b1"]),  # at least one
    (2, ["a0", "b0", "a1", "b1"]),
])  # fmt: skip
async def test_at_most_concurrency_sources_run_at_once(concurrency: int, order: list[str]) -> None:
    log: list[str] = []

    def source(name: str) -> Source:
        async def pages() -> AsyncIterator[Chunk]:
            for index in range(2):
                log.append(f"{name}{index}")
                yield _chunk(index)
                await asyncio.sleep(0)

        return pages

    write = Writer()
    await _run([source("a"), source("b")], write, concurrency=concurrency, batch_records=1)
    assert log == order
    assert sorted(write.batches) == [[1], [1], [1], [1]]


async def test_while_no_page_arrives_the_writer_is_called_with_an_empty_batch_as_a_heartbeat() -> None:
    beat = asyncio.Event()
    batches: list[list[int]] = []

    async def write(chunks: list[Chunk]) -> None:
        batches.append([len(chunk.items) for chunk in chunks])
        if not chunks:
            beat.set()

    async def pages() -> AsyncIterator[Chunk]:
        await asyncio.wait_for(beat.wait(), DEADLINE)
        yield _chunk(1, 2)

    await _run([pages], write, concurrency=1, batch_records=10, heartbeat_seconds=0.01)
    assert batches[0] == [] and [2] in batches and all(batch in ([], [2]) for batch in batches)


async def test_a_failing_source_stops_the_others_and_its_pages_fetched_before_are_stored_first() -> None:
    other_cancelled = asyncio.Event()
    write = Writer()

    async def failing() -> AsyncIterator[Chunk]:
        yield _chunk(1, 2, 3)
        raise ValueError("page 2 unreadable")

    async def hanging() -> AsyncIterator[Chunk]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            other_cancelled.set()
            raise
        yield _chunk(1)  # never

    with pytest.raises(ValueError, match="page 2 unreadable"):
        await _run([hanging, failing], write)
    assert other_cancelled.is_set()
    assert write.batches == [[3]]


async def test_a_writer_error_stops_everything_at_once_and_is_what_is_raised() -> None:
    other_cancelled = asyncio.Event()

    class Stop(Exception):
        pass

    async def write(chunks: list[Chunk]) -> None:
        raise Stop

    async def hanging() -> AsyncIterator[Chunk]:
        yield _chunk(1)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            other_cancelled.set()
            raise

    with pytest.raises(Stop):
        await _run([hanging], write, concurrency=1, batch_records=10)
    assert other_cancelled.is_set()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_writer_error_storing_a_failed_sources_pages_outranks_the_sources_error() -> None:
    class Stop(Exception):
        pass

    failed = asyncio.Event()

    async def write(chunks: list[Chunk]) -> None:
        await asyncio.wait_for(failed.wait(), DEADLINE)
        await _yield_to_others()  # the pipeline has seen the source's failure by now
        raise Stop

    async def failing() -> AsyncIterator[Chunk]:
        yield _chunk(1)
        failed.set()
        raise ValueError("page 2 unreadable")

    with pytest.raises(Stop):
        await _run([failing], write, concurrency=1, batch_records=10)


async def test_a_writer_error_with_the_read_ahead_full_leaves_no_task_behind() -> None:
    # given one page waiting in a full read-ahead when the sources are done, and a writer that then fails
    class Stop(Exception):
        pass

    sources_done = asyncio.Event()

    async def write(chunks: list[Chunk]) -> None:
        await asyncio.wait_for(sources_done.wait(), DEADLINE)
        await _yield_to_others()  # the pipeline has seen its sources end and is waiting to queue the end
        raise Stop

    async def pages() -> AsyncIterator[Chunk]:
        yield _chunk(1)  # taken by the writer
        yield _chunk(2)  # fills the read-ahead of one page
        sources_done.set()

    with pytest.raises(Stop):
        await _run([pages], write, concurrency=1, queue_pages=1, batch_records=1)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_writer_whose_write_lost_the_teardowns_cancel_still_ends_the_run() -> None:
    # given a run whose source has sent one page and waits for TikTok, and a writer storing that page in a call that
    # loses a cancellation: it returns normally when cancelled (as redis-py's commands do on Python 3.11, whose
    # asyncio.wait_for drops a cancel once the command was sent: CPython gh-86296), like the sync task signal an
    # import's writer publishes after each batch
    writing, never = asyncio.Event(), asyncio.Event()

    async def source() -> AsyncIterator[Chunk]:
        yield _chunk(1)
        await never.wait()
        yield _chunk(2)  # pragma: no cover - the run is cancelled first

    async def write_losing_a_cancel(chunks: list[Chunk]) -> None:
        writing.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            return  # the library's bug: the cancellation is gone, the call returns

    pipeline = run_pipeline(
        [source], write_losing_a_cancel, concurrency=1, queue_pages=4, batch_records=4, heartbeat_seconds=60.0
    )
    run = asyncio.create_task(pipeline)
    await asyncio.wait_for(writing.wait(), DEADLINE)
    # when the run is cancelled (a worker's shutdown), its teardown cancelling the writer inside that call
    run.cancel()
    # then the run ends, cancelled: the writer does not loop back to wait for a page no source will send any more
    # (it did: the teardown waited for it for ever, the import was never handed back and the worker was killed)
    done, _ = await asyncio.wait([run], timeout=DEADLINE)
    assert run in done, "the run's teardown waits for a writer that lost its cancellation"
    assert run.cancelled()
