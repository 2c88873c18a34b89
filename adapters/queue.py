"""DramatiqTaskQueue: `domain.ports.TaskQueue` over a Dramatiq actor that takes a sync task's id."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq


class DramatiqTaskQueue:
    """Sends `actor(task_id)`. On Redis `send` is a blocking network call, so it runs in a thread.

    `blocking=False` (the in-memory StubBroker) sends inline: it only appends to an in-process queue.
    """

    def __init__(self, actor: dramatiq.Actor[[str], Any], *, blocking: bool = True) -> None:
        self._actor = actor
        self._blocking = blocking

    async def enqueue_sync(self, task_id: str) -> None:
        if self._blocking:
            await asyncio.to_thread(self._actor.send, task_id)
        else:
            self._actor.send(task_id)
