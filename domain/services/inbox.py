"""Storing verified webhook notifications in the inbox, several in one transaction (group commit).

The endpoint answers 200 only once its notification is committed (live-sync.md §2.2): TikTok retries anything
else. Concurrent pushes share one transaction (`receive_notifications`), so the per-push cost of a commit (and on
SQLite, of taking the single write lock) is paid once per batch, not once per push; each push still waits for
the commit that holds it.

The inbox is also pruned (`SETTLED_EVENTS`, by the loop every retention shares: `domain.services.retention`):
once an event is settled and older than the retention period, its row only served deduplication of TikTok's
retries, which end about 15.5 hours after the first push (live-sync.md §2.2), and the `webhookEvents` history.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.clock import Clock
from domain.intake import TIKTOK_RETRY_SPAN, Notification, WebhookEvent
from domain.ports import ShopBeingDeletedError, UnitOfWorkFactory
from domain.services.retention import Retained


async def receive_notifications(
    uow_factory: UnitOfWorkFactory, clock: Clock, notifications: Sequence[Notification]
) -> list[WebhookEvent | ShopBeingDeletedError | None]:
    """Store verified notifications in the inbox in one transaction; per notification, in order, the stored event,
    or None when its notification key was already stored (a retry or a duplicate: nothing to do), also when an
    earlier notification of the same batch has the same key, or a `ShopBeingDeletedError` (not raised: nothing of
    it stored) when its shop's delete holds the shop (PostgreSQL: 15-27 s on a 20k-order shop): its event's key
    check would wait for the delete, and the batch's other pushes with it, whatever their merchant (break66 F3). The
    caller answers it 500: TikTok retries it 2 minutes later, when the shop is gone (`UNKNOWN_SHOP`) or was kept
    (the delete rolled back: stored for it).

    A notification with neither id nor push time repeats a stored one only while that one was received within
    `TIKTOK_RETRY_SPAN` (`WebhookEvent.keyed_without_push_time`): an older one gives up the key (one more UPDATE,
    only in a batch that has such notifications) and the notification is stored as a new event.

    One query resolves the batch's shops and one statement inserts its events. Database errors propagate and
    nothing of the batch is stored: the caller must then answer 500 so that TikTok retries. The caller enqueues
    processing of each shop that has a PENDING event among those returned.
    """
    async with uow_factory() as uow:
        tiktok_ids = {n.tiktok_shop_id for n in notifications if n.tiktok_shop_id}
        shops, deleting = await uow.webhook_events.resolve_shops(tiktok_ids) if tiktok_ids else ({}, frozenset())
        now = clock.now()
        refused = {
            i: ShopBeingDeletedError(n.tiktok_shop_id)
            for i, n in enumerate(notifications)
            if n.tiktok_shop_id is not None and n.tiktok_shop_id in deleting
        }
        events = [
            WebhookEvent.receive(n, shops.get(n.tiktok_shop_id) if n.tiktok_shop_id else None, now)
            for i, n in enumerate(notifications)
            if i not in refused
        ]
        first: dict[str, WebhookEvent] = {}
        for event in events:
            first.setdefault(event.notification_key, event)
        undated = sorted(key for key, event in first.items() if event.keyed_without_push_time)
        if undated:
            await uow.webhook_events.release_keys(undated, now - TIKTOK_RETRY_SPAN)
        written = await uow.webhook_events.add_many(list(first.values()))
        await uow.commit()
    stored = iter([e if first[e.notification_key] is e and e.notification_key in written else None for e in events])
    return [refused[i] if i in refused else next(stored) for i in range(len(notifications))]


async def receive_notification(
    uow_factory: UnitOfWorkFactory, clock: Clock, notification: Notification
) -> WebhookEvent | None:
    """`receive_notifications` of one notification: the stored event, or None when it was already stored; raises
    `ShopBeingDeletedError` when its shop's delete holds the shop (nothing stored)."""
    (event,) = await receive_notifications(uow_factory, clock, [notification])
    if isinstance(event, ShopBeingDeletedError):
        raise event
    return event


SETTLED_EVENTS = Retained(
    "settled webhook event(s) received", lambda uow, cutoff, limit: uow.webhook_events.delete_settled(cutoff, limit)
)
"""Settled events (PROCESSED, IGNORED, FAILED) received before the cutoff (`SHOPBRIDGE_WEBHOOK_RETENTION`), for
`domain.services.retention.prune`. A PENDING event is never deleted, however old: it is work still to do. Safe
beside another process's sweep: each takes rows the other has not, or finds them gone."""
