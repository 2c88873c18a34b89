"""The API process's services, built once by the app's lifespan (the composition root) and closed at shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from adapters.config import SUBSCRIPTION_FINISHED_KEPT, Settings
from adapters.crypto import TokenCipher
from adapters.db.engine import Database
from adapters.db.uow import uow_factory
from adapters.tiktok import TikTokClient
from adapters.tiktok.factory import build_tiktok_client
from domain.clock import Clock
from domain.intake import Notification, WebhookEvent
from domain.ports import ShopBeingDeletedError, TaskQueue, UnitOfWorkFactory
from domain.services import inbox
from gql.inventory.shared_reads import ItemReads
from gql.live_outage import DatabaseOutage
from gql.shop_reads import ShopReads
from gql.webhooks.batcher import IntakeBatcher


@dataclass
class Services:
    settings: Settings
    db: Database
    uow_factory: UnitOfWorkFactory
    tiktok: TikTokClient
    queue: TaskQueue
    events: Any  # adapters.events bus: publishes task changes and lets subscriptions wait for them
    clock: Clock
    intake: IntakeBatcher  # POST /webhooks/tiktok stores through it (group commit)
    cipher: TokenCipher  # the shops' token cipher: a list of shops tells those whose tokens no key decrypts
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    task_feeds: dict[str, Any] = field(default_factory=dict)  # gql.feeds.TaskFeed by merchant id, while followed
    shop_feeds: dict[str, Any] = field(default_factory=dict)  # gql.shop_feeds.ShopFeed by merchant id, while followed
    item_feeds: dict[str, Any] = field(default_factory=dict)  # gql.inventory.item_feed.ItemFeed by merchant, likewise
    # what the live subscriptions' reads saw of the database: one log line per outage (gql/live_outage.py)
    database_outage: DatabaseOutage = field(default_factory=DatabaseOutage)
    # each followed inventory item's latest fallback re-read, shared by its followers (gql/inventory/shared_reads.py)
    item_reads: ItemReads = field(default_factory=ItemReads)
    # each followed shop's latest fallback re-read, shared by its `shopUpdated` followers (gql/shop_reads.py)
    shop_reads: ShopReads = field(default_factory=ShopReads)
    # finished tasks an all-tasks `syncTaskUpdated` subscriber remembers (Settings.subscription_finished_kept)
    subscription_finished_kept: int = SUBSCRIPTION_FINISHED_KEPT

    async def close(self) -> None:
        """Close everything, in reverse order of creation, even when one of them fails."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.db.dispose)
            stack.push_async_callback(self.item_reads.aclose)  # (run before the dispose: last in, first out)
            stack.push_async_callback(self.shop_reads.aclose)
            for close in self.closers:
                stack.push_async_callback(close)


def build_core(settings: Settings) -> tuple[Database, UnitOfWorkFactory, TikTokClient, list[Any], TokenCipher]:
    """The database, units of work over it, and the TikTok client, with what to close at shutdown; the cipher."""
    db = Database.from_settings(settings)
    tiktok, closers = build_tiktok_client(settings, "shopbridge/0.1")
    cipher = TokenCipher(settings.encryption_key)
    return db, uow_factory(db, cipher), tiktok, closers, cipher


def build_intake(db: Database, cipher: TokenCipher, clock: Clock, queue: TaskQueue) -> IntakeBatcher:
    """The webhook inbox's writer: batches of pushes stored by `inbox.receive_notifications`, then enqueued; its
    units of work on `db.intake_sessionmaker` (PostgreSQL: a connection of its own, never one GraphQL holds)."""
    intake_uows = uow_factory(db, cipher, sessionmaker=db.intake_sessionmaker)

    async def store(notifications: Sequence[Notification]) -> list[WebhookEvent | ShopBeingDeletedError | None]:
        return await inbox.receive_notifications(intake_uows, clock, notifications)

    return IntakeBatcher(store, queue.enqueue_webhook_events)
