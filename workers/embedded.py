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

from adapters.config import Settings
from domain.ports import EventPublisher, TaskQueue
from workers.broker import setup_broker

WORKER_TIMEOUT_MS = 20  # how long an idle worker thread waits for a message: short, so stop() is quick (0.19 s at 100)


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
        threads = max(1, self._settings.embedded_worker_threads)
        self._settings.import_slots(threads)  # ConfigError before anything starts (`Resources` sizes the cap at boot)
        broker = setup_broker(self._settings, events=self._events)
        from workers.actors import task_queue

        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
        worker.start()
        self.broker, self._worker = broker, worker
        return task_queue(self._settings)

    async def stop(self, timeout_ms: int = 60_000) -> None:
        """Stop the pool: running imports are cancelled at once and resumed at the next start.

        The `Resources` middleware does the work when Dramatiq announces the shutdown: it cancels the runs (each
        batch is committed with its checkpoint), waits for every connection to close, and closes the database
        and HTTP clients, all before Dramatiq ends its event loop. `timeout_ms` bounds Dramatiq's wait for its
        threads, which are free as soon as their runs are cancelled.
        """
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(worker.stop, timeout_ms)
