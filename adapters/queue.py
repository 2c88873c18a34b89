"""DramatiqTaskQueue: `domain.ports.TaskQueue` over a Dramatiq actor that takes a sync task's id; and
DramatiqScheduledWork: `domain.ports.ScheduledWork` over the poll and token-refresh actors."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq

from domain.sync import SyncKind


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


class DramatiqScheduledWork:
    """`domain.ports.ScheduledWork` over the poll and token-refresh actors; blocking sends run in a thread."""

    def __init__(
        self, poll: dramatiq.Actor[..., Any], refresh: dramatiq.Actor[[str], Any], *, blocking: bool = True
    ) -> None:
        self._poll = poll
        self._refresh = refresh
        self._blocking = blocking

    async def enqueue_poll(self, shop_id: str, kind: SyncKind, scheduled_at: str) -> None:
        await self._send(self._poll, shop_id, kind.value, scheduled_at)

    async def enqueue_token_refresh(self, shop_id: str) -> None:
        await self._send(self._refresh, shop_id)

    async def _send(self, actor: dramatiq.Actor[..., Any], *args: str) -> None:
        if self._blocking:
            await asyncio.to_thread(actor.send, *args)
        else:
            actor.send(*args)
