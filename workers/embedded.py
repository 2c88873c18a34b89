"""The embedded default: a StubBroker and a small Dramatiq worker pool inside the API process.

    worker = EmbeddedWorker(settings, events=bus)   # the API's InProcessEventBus: its subscribers see progress
    queue = worker.start()                          # a TaskQueue for the API's services
    ...
    await worker.stop()

At boot the worker re-enqueues every task the database still shows QUEUED or RUNNING: the stub queue lived in
memory and died with the previous process (see workers.resources).
"""

from __future__ import annotations

import asyncio

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from adapters.config import Settings
from domain.ports import EventPublisher, TaskQueue
from workers.broker import setup_broker

WORKER_TIMEOUT_MS = 100  # how long an idle worker thread waits for a message: short, so stop() is quick


class EmbeddedWorker:
    def __init__(self, settings: Settings, *, events: EventPublisher) -> None:
        if settings.broker_url:
            raise ValueError("the embedded worker pool is for the StubBroker; with Redis run `shopbridge worker`")
        self._settings = settings
        self._events = events
        self._worker: dramatiq.Worker | None = None
        self.broker: dramatiq.Broker | None = None

    def start(self) -> TaskQueue:
        """Start the pool (blocking for a moment while the worker boots); returns the queue that feeds it."""
        broker = setup_broker(self._settings, events=self._events)
        from workers.actors import task_queue

        worker = dramatiq.Worker(
            broker, worker_threads=max(1, self._settings.embedded_worker_threads), worker_timeout=WORKER_TIMEOUT_MS
        )
        worker.start()
        self.broker, self._worker = broker, worker
        return task_queue(self._settings)

    async def stop(self, timeout_ms: int = 5_000) -> None:
        """Stop the pool; imports still running are cancelled mid-way and resumed at the next start."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            # Dramatiq would wait for running actors, and an import can take an hour: interrupt them instead.
            # Their checkpoint is in the database; the boot sweep of the next start resumes them.
            await asyncio.to_thread(loop_thread.run_coroutine, _cancel_running_actors(timeout_ms / 1000))
        await asyncio.to_thread(worker.stop, timeout_ms)


async def _cancel_running_actors(grace_seconds: float) -> None:
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    for task in asyncio.all_tasks():
        if task is not current:
            task.cancel()
    # A coroutine cancelled mid-query makes SQLAlchemy close its connection in a task of its own: wait for those
    # too (without cancelling them), or the loop stops with connections half-closed and leaks them.
    while (pending := [t for t in asyncio.all_tasks() if t is not current and not t.done()]) and (
        left := deadline - loop.time()
    ) > 0:
        await asyncio.wait(pending, timeout=left)
