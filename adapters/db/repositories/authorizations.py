"""SqlAuthorizationRequestRepository: pending OAuth requests by state digest; `mark_used` is a conditional UPDATE.
Retention deletes them a day after they expired (`delete_expired`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.retention import delete_oldest
from adapters.db.tables import authorization_requests as requests
from domain.authorization import AuthorizationPurpose, AuthorizationRequest
from domain.clock import Clock, SystemClock
from domain.shops import Region


class SqlAuthorizationRequestRepository:
    """Implements `domain.ports.AuthorizationRequestRepository`."""

    def __init__(self, session: AsyncSession, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()

    async def add(self, request: AuthorizationRequest) -> None:
        await self._session.execute(
            insert(requests).values(
                state_digest=request.state_digest,
                merchant_id=request.merchant_id,
                purpose=request.purpose.value,
                region=request.region.value,
                name=request.name,
                shop_id=request.shop_id,
                created_at=request.created_at,
                expires_at=request.expires_at,
                used_at=request.used_at,
                completed_at=request.completed_at,
                completed_shop_id=request.completed_shop_id,
                push_enabled=request.push_enabled,
            )
        )

    async def get(self, state_digest: str) -> AuthorizationRequest | None:
        row = (await self._session.execute(select(requests).where(requests.c.state_digest == state_digest))).first()
        if row is None:
            return None
        m: Any = row._mapping
        return AuthorizationRequest(
            state_digest=m["state_digest"],
            merchant_id=m["merchant_id"],
            purpose=AuthorizationPurpose(m["purpose"]),
            region=Region(m["region"]),
            name=m["name"],
            created_at=m["created_at"],
            expires_at=m["expires_at"],
            shop_id=m["shop_id"],
            used_at=m["used_at"],
            completed_at=m["completed_at"],
            completed_shop_id=m["completed_shop_id"],
            push_enabled=m["push_enabled"],
        )

    async def unexpired_expiries(
        self, merchant_id: str, now: datetime, limit: int, *, completed: bool = True
    ) -> list[datetime]:
        # Through the `expires_at` index: the rows not yet expired are the last 30 minutes' starts, of every merchant.
        query = (
            select(requests.c.expires_at)
            .where(requests.c.expires_at > now, requests.c.merchant_id == merchant_id)
            .order_by(requests.c.expires_at.desc())
            .limit(limit)
        )
        if not completed:
            query = query.where(requests.c.completed_at.is_(None))
        return list((await self._session.execute(query)).scalars())

    async def mark_completed(self, state_digest: str, now: datetime, shop_id: str) -> None:
        await self._session.execute(
            update(requests)
            .where(requests.c.state_digest == state_digest)
            .values(completed_at=now, completed_shop_id=shop_id)
        )

    async def mark_used(self, request: AuthorizationRequest) -> bool:
        # The WHERE makes the state single-use under concurrency: PostgreSQL re-checks `used_at IS NULL` after
        # waiting for a concurrent winner's row lock, so exactly one UPDATE matches.
        result = await self._session.execute(
            update(requests)
            .where(requests.c.state_digest == request.state_digest, requests.c.used_at.is_(None))
            .values(used_at=request.used_at or self._clock.now())
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def delete_expired(self, expired_before: datetime, limit: int) -> int:
        # Soonest expired first through the `expires_at` index (migration 0009), a batch no other sweep holds.
        return await delete_oldest(
            self._session,
            requests,
            "state_digest",
            lambda rows: rows.c.expires_at < expired_before,
            lambda rows: rows.c.expires_at,
            limit,
        )
