"""The embedded default: a StubBroker and a small Dramatiq worker pool inside the API process.

    worker = EmbeddedWorker(settings, events=bus)   # the API's InProcessEventBus: its subscribers see progress
    queue = worker.start()                          # a TaskQueue for the API's services
    ...
    await worker.stop()

At boot the worker re-enqueues every task the database still shows QUEUED or RUNNING: the stub queue lived in
memory and died with the previous process (see workers.resources).

An idle pool sleeps: its threads wait for a message, a delayed message's due time or the stop (`_IdleWaits`), not
in Dramatiq's 20 ms turns, which cost an idle API process ~2.7 % of a core.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import dramatiq
from dramatiq.common import current_millis

from adapters.config import Settings
from domain.ports import EventPublisher, TaskQueue
from workers.broker import setup_broker

WORKER_TIMEOUT_MS = 20  # Dramatiq's own turn once a thread is awake (`_IdleWaits` sleeps before it while idle)
# How long an idle thread sleeps at most between two looks when nothing wakes it (a message put on its queue, the
# due time of its earliest delayed message, the stop do): a bound in case a wake-up is ever missed, not a schedule.
IDLE_WAIT_SECONDS = 1.0
# A thread's turn once the pool is stopping: each thread sees its `running` flag cleared within it. Woken together by
# the stop, the threads would otherwise all begin a full 20 ms turn at once, just before Dramatiq clears the flags.
STOPPING_TURN_SECONDS = 0.005


class _IdleWaits:
    """The pool's idle waits: a queue made by `queue_type` waits, before Dramatiq's own `get(timeout=...)`, until it
    holds an item, its delayed message is due, or the pool stops (`stopping()`), and `idle_wait_seconds` at most.

    Dramatiq's threads poll (Dramatiq 2.2.1, `dramatiq.worker`): each `WorkerThread` takes from the worker's work
    queue, and each `ConsumerThread` from its broker queue (`StubBroker`'s `_StubConsumer.__next__`), with a
    `worker_timeout` wait, then looks at its `running` flag and, a consumer, moves its due delayed messages
    (`handle_delayed_messages`); stop() sets `running` and waits for each thread's next turn. At 20 ms turns an idle
    pool's 8 threads (4 workers; consumers of `sync`, `live` and their delay queues) woke 400 times a second: 0.27 s
    of CPU per 10 s idle (suiteb69, load ~10), in every API process and every test that runs one.

    A `put` wakes a waiting getter as before (the queue's `not_empty` condition). A consumer thread's wait also ends at
    its earliest delayed message's eta (its `delay_queue`, a heap of `_WorkQueueItem`s keyed by eta in ms), when
    Dramatiq's turn would have moved it. `stopping()` wakes every waiting thread and turns the idle waits off: from
    then on the threads poll in `STOPPING_TURN_SECONDS` turns (for the stop's fraction of a second), so a stop is no
    slower than with Dramatiq's 20 ms turns.
    """

    def __init__(self, idle_wait_seconds: float) -> None:
        self._idle_wait_seconds = idle_wait_seconds
        self._stopping = threading.Event()
        self._queues: list[queue.Queue[Any]] = []

    def queue_type(self, base: type[queue.Queue[Any]]) -> Any:
        """A subclass of `base` (`queue.Queue`, `queue.PriorityQueue`) whose `get` first waits as the class says."""
        waits = self

        class IdleQueue(base):  # type: ignore[valid-type,misc]
            def __init__(self) -> None:
                super().__init__()
                waits._queues.append(self)

            def get(self, block: bool = True, timeout: float | None = None) -> Any:
                if block and timeout is not None:
                    if waits.wait_for_work(self):
                        timeout = min(timeout, STOPPING_TURN_SECONDS)
                return super().get(block, timeout)

        return IdleQueue

    def wait_for_work(self, idle: queue.Queue[Any]) -> bool:
        """Until `idle` holds an item, the calling consumer thread's earliest delayed message is due, or the stop;
        True once the pool is stopping."""
        with idle.not_empty:
            while not idle._qsize() and not self._stopping.is_set():  # (`qsize` would take the held mutex again)
                wait = min(self._idle_wait_seconds, _until_due_seconds())
                if wait <= 0 or not idle.not_empty.wait(wait):
                    break  # due, or the bound: Dramatiq's own turn follows
        return self._stopping.is_set()

    def stopping(self) -> None:
        """Wake every waiting thread; from now on the pool's threads poll in `STOPPING_TURN_SECONDS` turns."""
        self._stopping.set()
        for idle in self._queues:
            with idle.not_empty:
                idle.not_empty.notify_all()


def _until_due_seconds() -> float:
    """Seconds until the calling Dramatiq consumer thread's earliest delayed message is due (its `delay_queue`, eta in
    ms since the epoch as `current_millis`); infinity on a worker thread or with none held."""
    delayed = getattr(threading.current_thread(), "delay_queue", None)
    if delayed is None:
        return float("inf")
    with delayed.mutex:
        earliest = delayed.queue[0].priority if delayed.queue else None
    return float("inf") if earliest is None else (earliest - current_millis()) / 1000


class EmbeddedWorker:
    def __init__(
        self, settings: Settings, *, events: EventPublisher, idle_wait_seconds: float = IDLE_WAIT_SECONDS
    ) -> None:
        """`idle_wait_seconds`: the longest an idle thread sleeps unwoken (`IDLE_WAIT_SECONDS`; tests make it long)."""
        if settings.broker_url:
            raise ValueError("the embedded worker pool is for the StubBroker; with Redis run `shopbridge worker`")
        self._settings = settings
        self._events = events
        self._idle_wait_seconds = idle_wait_seconds
        self._idle: _IdleWaits | None = None
        self._worker: dramatiq.Worker | None = None
        self.broker: dramatiq.Broker | None = None

    def start(self) -> TaskQueue:
        """Start the pool (blocking for a moment while the worker boots); returns the queue that feeds it."""
        threads = max(1, self._settings.embedded_worker_threads)
        self._settings.import_slots(threads)  # ConfigError before anything starts (`Resources` sizes the cap at boot)
        broker = setup_broker(self._settings, events=self._events)
        from workers.actors import task_queue

        # The idle waits (`_IdleWaits`): the stub broker's queues, declared by `setup_broker` and still empty (nothing
        # is sent before the worker boots), and the worker's work queue become queues that sleep while idle.
        idle = _IdleWaits(self._idle_wait_seconds)
        broker_queues: dict[str, queue.Queue[Any]] = broker.queues
        for name, declared in broker_queues.items():
            assert declared.empty(), f"queue {name} holds messages before the worker boots"
            broker_queues[name] = idle.queue_type(queue.Queue)()
        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
        worker.work_queue = idle.queue_type(queue.PriorityQueue)()
        worker.start()
        self.broker, self._worker, self._idle = broker, worker, idle
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
            assert self._idle is not None
            self._idle.stopping()  # the threads poll again, so each sees its stop at its next turn
            await asyncio.to_thread(worker.stop, timeout_ms)
