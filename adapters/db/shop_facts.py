"""Read side: what a shop's sync tasks say about it, for `Shop.attention` (`domain.attention.SyncFacts`).

Two grouped queries per batch of shops, whatever the number of tasks: when a poll last found a change, and the
latest finished task of each kind (FAILED there means the kind's syncs are failing).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.tables import shops, sync_tasks
from domain.attention import SyncFacts
from domain.errors import ErrorCode
from domain.sync import SyncTaskStatus, SyncTrigger

t = sync_tasks.c


async def shop_sync_facts(session: AsyncSession, merchant_id: str, shop_ids: Collection[str]) -> dict[str, SyncFacts]:
    """Facts per shop among `shop_ids` that are the merchant's (others are absent)."""
    if not shop_ids:
        return {}
    owned = select(shops.c.id).where(shops.c.merchant_id == merchant_id, shops.c.id.in_(list(shop_ids)))
    found_query = (
        select(t.shop_id, func.max(t.finished_at))
        .where(
            t.shop_id.in_(owned),
            t.trigger == SyncTrigger.SCHEDULED.value,
            t.status == SyncTaskStatus.SUCCEEDED.value,
            or_(t.created > 0, t.updated > 0),
        )
        .group_by(t.shop_id)
    )
    changes_found = {shop_id: at for shop_id, at in await session.execute(found_query)}
    last = (
        select(t.shop_id, t.kind, func.max(t.finished_at).label("last"))
        .where(t.shop_id.in_(owned), t.finished_at.is_not(None))
        .group_by(t.shop_id, t.kind)
        .subquery()
    )
    latest_query = select(t.shop_id, t.kind, t.status, t.error_code, t.finished_at).join(
        last, and_(t.shop_id == last.c.shop_id, t.kind == last.c.kind, t.finished_at == last.c.last)
    )
    failing: dict[str, tuple[str, object]] = {}
    for shop_id, kind, status, error_code, finished_at in await session.execute(latest_query):
        lost_authorization = error_code == ErrorCode.REAUTHORIZATION_REQUIRED.value  # the status says that one
        if status == SyncTaskStatus.FAILED.value and not lost_authorization:
            failing[shop_id] = (kind, finished_at)
    facts: dict[str, SyncFacts] = {}
    for shop_id in (await session.execute(owned)).scalars():
        kind, since = failing.get(shop_id, (None, None))
        facts[shop_id] = SyncFacts(
            changes_found_at=changes_found.get(shop_id),
            failing_since=since,  # type: ignore[arg-type]
            failing_kind=kind,
        )
    return facts
