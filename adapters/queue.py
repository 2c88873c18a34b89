"""DramatiqTaskQueue: `domain.ports.TaskQueue` over the Dramatiq actors that take ids (sync tasks, shops)."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq


class DramatiqTaskQueue:
    """Sends `actor(id)`. On Redis `send` is a blocking network call, so it runs in a thread.

    `blocking=False` (the in-memory StubBroker) sends inline: it only appends to an in-process queue.
    `webhook_registration_actor=None` makes registration a no-op (the address is configured app-wide).
    """

    def __init__(
        self,
        actor: dramatiq.Actor[[str], Any],
        *,
        blocking: bool = True,
        webhook_events_actor: dramatiq.Actor[[str], Any] | None = None,
        webhook_registration_actor: dramatiq.Actor[[str], Any] | None = None,
    ) -> None:
        self._actor = actor
        self._blocking = blocking
        self._webhook_events_actor = webhook_events_actor
        self._webhook_registration_actor = webhook_registration_actor

    async def enqueue_sync(self, task_id: str) -> None:
        await self._send(self._actor, task_id)

    async def enqueue_webhook_events(self, shop_id: str) -> None:
        if self._webhook_events_actor is None:
            raise RuntimeError("this queue has no webhook events actor")
        await self._send(self._webhook_events_actor, shop_id)

    async def enqueue_webhook_registration(self, shop_id: str) -> None:
        if self._webhook_registration_actor is not None:
            await self._send(self._webhook_registration_actor, shop_id)

    async def _send(self, actor: dramatiq.Actor[[str], Any], value: str) -> None:
        if self._blocking:
            await asyncio.to_thread(actor.send, value)
        else:
            actor.send(value)
