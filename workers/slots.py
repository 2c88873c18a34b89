"""`ImportSlots`: at most `threads - SHOPBRIDGE_WORKER_RESERVED_THREADS` imports run at once in a worker process.

Why: an import is one Dramatiq message that runs for up to hours, and with the AsyncIO middleware its worker
thread waits for the coroutine all that time. With as many imports as threads, webhook intake, inventory pushes,
webhook registration and token refreshes (which share the threads) would wait for an import to end; priorities only
reorder waiting messages, they cannot free a thread. An import that finds no free slot is sent again a moment later
instead (`workers.actors.run_sync_task`), so the reserved threads stay free for that short work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class ImportSlots:
    """A counter of the imports running in this process; used on Dramatiq's one event loop only (no lock needed:
    every async actor of the process runs there). `size` None: no cap yet (no worker has booted, e.g. a test
    that calls an actor's function itself)."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.taken = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        """Take a slot for the block if one is free: yields whether it did; a taken slot is given back on any exit,
        cancellation included."""
        if self.size is not None and self.taken >= self.size:
            yield False
            return
        self.taken += 1
        try:
            yield True
        finally:
            self.taken -= 1
