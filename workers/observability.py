"""What a worker process adds for operators: its event bus closed at shutdown, and its metrics retired at exit.

The task counters themselves are kept by `adapters.metrics.MeteredEvents`, which `setup_broker` puts in front of
the bus the actors publish on; in a `shopbridge worker` process they land in `PROMETHEUS_MULTIPROC_DIR`, so the
API's `/metrics` on the same host serves them.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from adapters import metrics
from adapters.config import Settings


class Observability(Middleware):
    """Closes the bus `setup_broker` made for this process (on Dramatiq's loop, before it stops) and retires the
    process's live metrics; `close_bus` None: the bus belongs to the API process hosting this pool."""

    def __init__(self, settings: Settings, close_bus: Callable[[], Awaitable[None]] | None) -> None:
        self.settings = settings
        self.close_bus = close_bus

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if self.close_bus is not None:  # a worker process of its own, not the pool inside an API process
            if loop_thread is not None:
                loop_thread.run_coroutine(self.close_bus())
            metrics.mark_process_dead(self.settings.metrics_dir, os.getpid())
