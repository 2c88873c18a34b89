"""The API process's services, built once by the app's lifespan (the composition root) and closed at shutdown."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.config import Settings
from adapters.crypto import TokenCipher
from adapters.db.engine import Database
from adapters.db.uow import uow_factory
from adapters.tiktok import TikTokClient
from domain.clock import Clock, SystemClock
from domain.ports import TaskQueue, UnitOfWorkFactory


@dataclass
class Services:
    settings: Settings
    db: Database
    uow_factory: UnitOfWorkFactory
    tiktok: TikTokClient
    queue: TaskQueue
    events: Any  # adapters.events bus: publishes task changes and lets subscriptions wait for them
    clock: Clock
    http: httpx.AsyncClient
    closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        """Close everything, in reverse order of creation, even when one of them fails."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.db.dispose)
            stack.push_async_callback(self.http.aclose)
            for close in self.closers:
                stack.push_async_callback(close)


def http_client(settings: Settings) -> httpx.AsyncClient:
    """One client per process and event loop, with explicit timeouts and a pool sized for concurrent slices."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.tiktok.timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        headers={"user-agent": "shopbridge/0.1"},
    )


def build_core(
    settings: Settings, clock: Clock | None = None
) -> tuple[Database, UnitOfWorkFactory, TikTokClient, httpx.AsyncClient]:
    db = Database(settings.database_url)
    cipher = TokenCipher(settings.encryption_key)
    http = http_client(settings)
    tiktok = TikTokClient(settings.tiktok, http)
    return db, uow_factory(db, cipher), tiktok, http


__all__ = ["Services", "SystemClock", "build_core", "http_client"]
