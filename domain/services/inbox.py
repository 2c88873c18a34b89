"""Storing verified webhook notifications in the inbox, several in one transaction (group commit).

The endpoint answers 200 only once its notification is committed (live-sync.md §2.2): TikTok retries anything
else. Concurrent pushes share one transaction (`receive_notifications`), so the per-push cost of a commit (and on
SQLite, of taking the single write lock) is paid once per batch, not once per push; each push still waits for
the commit that holds it.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.clock import Clock
from domain.intake import Notification, WebhookEvent
from domain.ports import UnitOfWorkFactory


async def receive_notifications(
    uow_factory: UnitOfWorkFactory, clock: Clock, notifications: Sequence[Notification]
) -> list[WebhookEvent | None]:
    """Store verified notifications in the inbox in one transaction; per notification, in order, the stored event,
    or None when its notification key was already stored (a retry or a duplicate: nothing to do), also when an
    earlier notification of the same batch has the same key.

    One query resolves the batch's shops and one statement inserts its events. Database errors propagate and
    nothing of the batch is stored: the caller must then answer 500 so that TikTok retries. The caller enqueues
    processing of each shop that has a PENDING event among those returned.
    """
    async with uow_factory() as uow:
        tiktok_ids = {n.tiktok_shop_id for n in notifications if n.tiktok_shop_id}
        shops = await uow.webhook_events.resolve_shops(tiktok_ids) if tiktok_ids else {}
        now = clock.now()
        events = [
            WebhookEvent.receive(n, shops.get(n.tiktok_shop_id) if n.tiktok_shop_id else None, now)
            for n in notifications
        ]
        first: dict[str, WebhookEvent] = {}
        for event in events:
            first.setdefault(event.notification_key, event)
        written = await uow.webhook_events.add_many(list(first.values()))
        await uow.commit()
    return [e if first[e.notification_key] is e and e.notification_key in written else None for e in events]


async def receive_notification(
    uow_factory: UnitOfWorkFactory, clock: Clock, notification: Notification
) -> WebhookEvent | None:
    """`receive_notifications` of one notification: the stored event, or None when it was already stored."""
    (event,) = await receive_notifications(uow_factory, clock, [notification])
    return event
