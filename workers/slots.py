"""`ThreadSlots`: how many of a worker process's Dramatiq threads one kind of work may hold at once.

- Imports (`Resources.import_slots`): at most `threads - SHOPBRIDGE_WORKER_RESERVED_THREADS`. An import is one Dramatiq
  message that runs for up to hours, and with the AsyncIO middleware its worker thread waits for the coroutine all
  that time. With as many imports as threads, webhook intake, inventory pushes, webhook registration and token
  refreshes (which share the threads) would wait for an import to end; priorities only reorder waiting messages,
  they cannot free a thread. An import that finds no free slot is sent again a moment later instead
  (`workers.actors.run_sync_task`), so the reserved threads stay free for that short work. With Redis a process
  does not even fetch more `sync` messages than it has import slots (`workers.broker.WorkerRedisBroker.consume`):
  an import it could not start would wait in its acknowledgement set, out of every other process's reach, and come
  back to it after each send-back (try-out scale52: 48-62 s, another process idle); the send-back stays for the
  embedded pool (one process), and as a backstop.
- The `live` queue's messages (`Resources.live_slots`, `live_slot_count`): at most `threads - 1`, the reverse rule.
  Dramatiq's worker threads take the messages of every queue from one work queue, in the order its consumers
  prefetched them: a burst of pushes and webhook intake for a merchant's other shops, each run waiting on TikTok,
  held every thread, and a shop's first import, enqueued behind them, stayed QUEUED for as long as TikTok took
  (seen in `tests/integration/test_import_slots.py`: forever while TikTok held the pushes). A `live` message that
  finds no free slot is sent again `LIVE_SLOT_WAIT_DELAY_MS` later, its retries untouched (`Resources.serving`), so
  one thread always takes the `sync` queue: imports (a poll's run among them; the polls' requests and token
  refreshes are `live` messages, `workers.actors.poll_shop`).
- Inventory pushes and reconciles (`Resources.push_slots`, `push_slot_count`): at most all the live slots but one,
  the same rule once more inside the `live` queue. A push run writes up to `PUSH_ROUNDS_PER_RUN` rounds of products
  to TikTok (seconds each) and sends its shop's next run at once, so a merchant's pooled shops keep as many pushes
  queued as they have shops. A try-out (ops51, five pooled shops, two worker processes of 4 threads, after a Redis
  outage left a backlog to push) had every live slot held by pushes: a webhook run found none free, was sent back
  1 s later behind the pushes again and again, and 12 sales' events were applied 6-31 s after their webhooks
  instead of within a second. The live slot pushes may not take is webhook intake's (and registration's): a
  webhook run waits for a push only when every live slot is taken by intake itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# A `live` message that finds every live slot of its process taken is sent again after this long (milliseconds).
# Short: webhook intake waits for it. Each send-back is one enqueue; the messages taken while the slots are full
# cycle through the one free thread at most once per this delay each.
LIVE_SLOT_WAIT_DELAY_MS = 1_000


def live_slot_count(worker_threads: int, *, takes_sync_queue: bool = True) -> int:
    """How many `live` messages a worker process of `worker_threads` threads runs at once: all its threads but one,
    kept for the `sync` queue; a process of one thread, or one that does not consume the `sync` queue (Dramatiq's
    `--queues live`), has nothing to keep: all its threads."""
    return max(1, worker_threads - 1) if takes_sync_queue else worker_threads


def push_slot_count(live_slots: int) -> int:
    """How many of a process's `live_slots` inventory pushes and reconciles hold at once: all but one, kept for
    webhook intake and registration; a process of one live slot (two threads or fewer) cannot keep one: all."""
    return max(1, live_slots - 1)


class ThreadSlots:
    """A counter of the runs of one kind in this process; used on Dramatiq's one event loop only (no lock needed:
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
