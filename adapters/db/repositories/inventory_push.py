"""SqlInventoryPushRepository: shop push policies, the push outbox's claims and leases, and the links' push state.

The outbox row of a (shop, TikTok product) is dirty while `dirty_version > pushed_version`. A worker claims due rows
with a lease (`claimed_by`, `claimed_until`): on PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED` then an UPDATE of
exactly those rows, so concurrent claimers never wait on or take each other's rows; on SQLite the write
transaction (BEGIN IMMEDIATE) already serialises them. `updated_at` is the time of the last dirty mark (the push
lag metric measures from it), so claims and releases leave it alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.crypto import TokenCipher
from adapters.db.repositories.inventory.outbox import lock_push_rows, mark_push_dirty
from adapters.db.repositories.inventory_push_links import LinkPushState, on_sale
from adapters.db.repositories.shops import authorization_holds
from adapters.db.tables import (
    inventory_push_outbox,
    shop_inventory_policies,
    shops,
    sku_ledger_units,
    sku_links,
)
from domain.inventory_push import InventoryPolicy, OutboxClaim

_outbox = inventory_push_outbox.c
_links = sku_links.c
LINKED = "LINKED"
# A row whose product TikTok does not sell (stored in any status but ACTIVATE: a draft, in review, failed review,
# deactivated by the seller or by TikTok, frozen, deleted) is not due, however dirty: Update Inventory refuses such a
# product (12052901, DELETED 12052048; live-sync.md §1.1), so a push would only fail and show a push error. The row
# stays dirty and the links as they are (LINKED, their fence's baseline untouched: README, "A link's first push is
# fenced"); once the product is stored ACTIVATE again the row is due (`auto_link_products` enqueues the shop's push).
# A row of a product not stored (none is: links come from stored SKUs) stays due (`on_sale`).
_ON_SALE = on_sale(_outbox.shop_id, _outbox.tiktok_product_id)


class SqlInventoryPushRepository(LinkPushState):
    """Implements `domain.ports.InventoryPushRepository`."""

    def __init__(self, session: AsyncSession, cipher: TokenCipher | None = None) -> None:
        """`cipher`: the tokens' keys, for the scheduler's lists (`shops_due`, `shops_to_reconcile`) to leave out
        shops whose tokens no configured key decrypts; None (readers of links only): no such check."""
        self._session = session
        self._cipher = cipher

    @property
    def _dialect(self) -> str:
        return self._session.bind.dialect.name if self._session.bind is not None else "sqlite"

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # -- policy ------------------------------------------------------------------------------------------------------

    async def policy(self, shop_id: str) -> InventoryPolicy:
        query = select(shop_inventory_policies).where(shop_inventory_policies.c.shop_id == shop_id)
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return InventoryPolicy()
        return InventoryPolicy(
            push_enabled=row["push_enabled"],
            share_percent=row["share_percent"],
            max_quantity=row["max_quantity"],
            out_of_stock_threshold=row["out_of_stock_threshold"],
        )

    async def save_policy(self, shop_id: str, policy: InventoryPolicy, now: datetime) -> None:
        values = {
            "push_enabled": policy.push_enabled,
            "share_percent": policy.share_percent,
            "max_quantity": policy.max_quantity,
            "out_of_stock_threshold": policy.out_of_stock_threshold,
            "updated_at": now,
        }
        statement = self._insert(shop_inventory_policies).values(shop_id=shop_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[shop_inventory_policies.c.shop_id], set_=values)
        )

    # -- the fence's re-base (tryout63 F1) ----------------------------------------------------------------------------

    async def request_rebase(self, shop_id: str, now: datetime) -> None:
        values = {"rebase_pending_since": now}
        statement = self._insert(shop_inventory_policies).values(shop_id=shop_id, updated_at=now, **values)
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[shop_inventory_policies.c.shop_id], set_=values)
        )

    async def rebase_pending(self, shop_id: str) -> datetime | None:
        query = select(shop_inventory_policies.c.rebase_pending_since).where(
            shop_inventory_policies.c.shop_id == shop_id
        )
        pending: datetime | None = (await self._session.execute(query)).scalar()
        return pending

    async def links_to_rebase(self, shop_id: str) -> list[tuple[str, str, int | None]]:
        query = (
            select(_links.sku_id, _links.tiktok_sku_id, _links.pushed_quantity)
            .where(_links.shop_id == shop_id, _links.state == LINKED)
            .order_by(_links.sku_id)
        )
        rows = (await self._session.execute(query)).all()
        return [(row.sku_id, row.tiktok_sku_id, row.pushed_quantity) for row in rows]

    async def rebase_links(
        self, shop_id: str, pending_since: datetime, readings: Mapping[str, int], read_at: datetime, now: datetime
    ) -> frozenset[str] | None:
        policies = shop_inventory_policies.c
        cleared = await self._session.execute(
            update(shop_inventory_policies)
            .where(policies.shop_id == shop_id, policies.rebase_pending_since == pending_since)
            .values(rebase_pending_since=None)
        )
        if cleared.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another run re-based it first, or push went off and on again since: that one is pending
        await self.hold_links(shop_id, readings)
        held = select(_links.inventory_item_id, _links.pushed_item_id, _links.held_item_id, _links.held_rest_item_id)
        held = held.where(
            _links.shop_id == shop_id, _links.sku_id.in_(sorted(readings)), _links.state == LINKED,
            _links.held_quantity > 0,
        )  # fmt: skip
        items = frozenset(item for row in (await self._session.execute(held)).all() for item in row if item)
        units = sku_ledger_units.c

        def count(column: Any) -> Any:
            found = select(column).where(units.shop_id == shop_id, units.tiktok_sku_id == _links.tiktok_sku_id)
            return func.coalesce(found.scalar_subquery(), 0)

        for sku_id in sorted(readings):  # one UPDATE a link, in `sku_id` order (`writer.lock_links`)
            await self._session.execute(
                update(sku_links)
                .where(_links.sku_id == sku_id, _links.shop_id == shop_id, _links.state == LINKED)
                .values(
                    pushed_quantity=readings[sku_id], pushed_at=read_at, push_landed_at=read_at,
                    pushed_item_id=_links.inventory_item_id, held_quantity=0, held_since=None, held_item_id=None,
                    held_item_quantity=None, held_rest_item_id=None, restored_quantity=0, restored_since=None,
                    seeded_available=None, baseline_read_at=read_at, push_intent=None,
                    ingested_at_push=count(units.ingested), released_at_push=count(units.released), updated_at=now,
                )
            )  # fmt: skip
        return items

    # -- outbox ------------------------------------------------------------------------------------------------------

    async def claim_due(
        self, shop_id: str, holder: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxClaim]:
        query = (
            select(_outbox.tiktok_product_id, _outbox.dirty_version, _outbox.attempts, _outbox.updated_at)
            .where(
                _outbox.shop_id == shop_id,
                _outbox.dirty_version > _outbox.pushed_version,
                _outbox.next_attempt_at <= now,
                or_(_outbox.claimed_until.is_(None), _outbox.claimed_until <= now),
                _ON_SALE,
            )
            .order_by(_outbox.next_attempt_at, _outbox.tiktok_product_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self._session.execute(query)).all()
        if not rows:
            return []
        await self._session.execute(
            update(inventory_push_outbox)
            .where(_outbox.shop_id == shop_id, _outbox.tiktok_product_id.in_([r.tiktok_product_id for r in rows]))
            .values(claimed_by=holder, claimed_until=now + lease)
        )
        return [
            OutboxClaim(shop_id, r.tiktok_product_id, r.dirty_version, r.attempts, r.updated_at.timestamp())
            for r in rows
        ]

    async def has_due(self, shop_id: str, now: datetime) -> bool:
        query = (
            select(_outbox.tiktok_product_id)
            .where(
                _outbox.shop_id == shop_id,
                _outbox.dirty_version > _outbox.pushed_version,
                _outbox.next_attempt_at <= now,
                or_(_outbox.claimed_until.is_(None), _outbox.claimed_until <= now),
                _ON_SALE,
            )
            .limit(1)
        )
        return (await self._session.execute(query)).first() is not None

    async def next_due(self, shop_id: str, now: datetime, holder: str) -> datetime | None:
        leased = and_(_outbox.claimed_until.is_not(None), _outbox.claimed_until > _outbox.next_attempt_at)
        claimable_at = case((leased, _outbox.claimed_until), else_=_outbox.next_attempt_at)
        query = select(func.min(claimable_at)).where(
            _outbox.shop_id == shop_id,
            _outbox.dirty_version > _outbox.pushed_version,
            or_(_outbox.next_attempt_at > now, _outbox.claimed_until > now),
            or_(_outbox.claimed_by.is_(None), _outbox.claimed_by != holder, _outbox.claimed_until <= now),
            _ON_SALE,
        )
        found: datetime | None = (await self._session.execute(query)).scalar_one()
        return found

    async def renew_claims(self, shop_id: str, holder: str, now: datetime, lease: timedelta) -> int:
        """Extend `holder`'s live claims of the shop to `now + lease`; returns how many rows were renewed.

        PostgreSQL: only the rows no other transaction holds (`FOR UPDATE SKIP LOCKED`). The same run finishes and
        hands back its claims 50 a transaction in claim order (`_finish_unchanged`, `_release`) while this renewal
        runs beside it; a renewal that took the rows in table order and waited for one of them deadlocked with such
        a transaction (40P01, seen after an import: "could not renew the push claims … deadlock detected"), and a
        renewal lost that way left every claim of the shop unrenewed. A skipped row is being written by its holder
        (finished or released: nothing to renew) or by a dirty mark, and the next renewal, a third of the lease
        later, takes it."""
        mine = and_(_outbox.shop_id == shop_id, _outbox.claimed_by == holder, _outbox.claimed_until > now)
        free = select(_outbox.tiktok_product_id).where(mine).with_for_update(skip_locked=True)
        result = await self._session.execute(
            update(inventory_push_outbox)
            .where(mine, _outbox.tiktok_product_id.in_(free.scalar_subquery()))
            .values(claimed_until=now + lease)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def holds_claim(self, claim: OutboxClaim, holder: str) -> bool:
        query = select(_outbox.claimed_by).where(
            _outbox.shop_id == claim.shop_id,
            _outbox.tiktok_product_id == claim.tiktok_product_id,
            _outbox.claimed_by == holder,
        )
        return (await self._session.execute(query)).first() is not None

    async def leave_claim(self, claim: OutboxClaim, holder: str) -> bool:
        result = await self._session.execute(
            update(inventory_push_outbox)
            .where(
                _outbox.shop_id == claim.shop_id,
                _outbox.tiktok_product_id == claim.tiktok_product_id,
                _outbox.claimed_by == holder,
            )
            .values(claimed_by=None, claimed_until=None)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def finish_claim(
        self,
        claim: OutboxClaim,
        holder: str,
        now: datetime,
        *,
        pushed: bool,
        next_attempt_at: datetime,
        error: str | None,
    ) -> bool:
        mine = and_(
            _outbox.shop_id == claim.shop_id,
            _outbox.tiktok_product_id == claim.tiktok_product_id,
            _outbox.claimed_by == holder,
        )
        released: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": error}
        if pushed:
            released |= {
                # Never back: a later claim of this row may already have pushed a newer version.
                "pushed_version": func.max(_outbox.pushed_version, claim.dirty_version)
                if self._dialect == "sqlite"
                else func.greatest(_outbox.pushed_version, claim.dirty_version),
                "attempts": 0,
                "next_attempt_at": now,
            }
        else:
            released |= {"attempts": _outbox.attempts + 1, "next_attempt_at": next_attempt_at}
        result = await self._session.execute(update(inventory_push_outbox).where(mine).values(**released))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        # Our lease ran out and another worker claimed the row: what we sent may have landed after its newer
        # value. Dirty again, so one more push (computed then) has the last word.
        await self.mark_dirty(claim.shop_id, [claim.tiktok_product_id], now)
        return False

    async def mark_dirty(self, shop_id: str, tiktok_product_ids: Sequence[str], now: datetime) -> None:
        for product_id in sorted(set(tiktok_product_ids)):  # a fixed order: concurrent markers never deadlock
            statement = self._insert(inventory_push_outbox).values(
                shop_id=shop_id, tiktok_product_id=product_id, dirty_version=1, pushed_version=0,
                next_attempt_at=now, attempts=0, updated_at=now,
            )  # fmt: skip
            await self._session.execute(
                statement.on_conflict_do_update(
                    index_elements=[_outbox.shop_id, _outbox.tiktok_product_id],
                    set_={
                        "dirty_version": _outbox.dirty_version + 1,
                        "next_attempt_at": now,
                        "attempts": 0,
                        "updated_at": now,
                    },
                )
            )

    async def mark_item_links_dirty(
        self, inventory_item_ids: Sequence[str], now: datetime, pushing: tuple[str, str]
    ) -> list[str]:
        return await mark_push_dirty(self._session, inventory_item_ids, now, kept=pushing)

    async def hold_push_rows(self, rows: Collection[tuple[str, str]], inventory_item_ids: Collection[str]) -> None:
        await lock_push_rows(self._session, rows, inventory_item_ids)

    async def push_again_at(self, shop_id: str, tiktok_product_id: str, at: datetime) -> None:
        # A row dirty again meanwhile is due sooner, and its push schedules its own holds' end; `updated_at`, the
        # change the lag metric counts from, is the time the push is due. Until then the reconcile passes the
        # product by (`reconcile_candidates`: a pending row), as it does any product with a push to come.
        await self._session.execute(
            update(inventory_push_outbox)
            .where(
                _outbox.shop_id == shop_id,
                _outbox.tiktok_product_id == tiktok_product_id,
                _outbox.dirty_version <= _outbox.pushed_version,
                _outbox.claimed_by.is_(None),
            )
            .values(dirty_version=_outbox.dirty_version + 1, next_attempt_at=at, attempts=0, updated_at=at)
        )

    async def shops_due(self, now: datetime, limit: int) -> list[str]:
        policies = shop_inventory_policies.c
        query = (
            select(shops.c.id, shops.c.refresh_token_encrypted)
            .join(shops, shops.c.id == _outbox.shop_id)
            .outerjoin(shop_inventory_policies, policies.shop_id == _outbox.shop_id)
            .where(
                _outbox.dirty_version > _outbox.pushed_version,
                _outbox.next_attempt_at <= now,
                or_(_outbox.claimed_until.is_(None), _outbox.claimed_until <= now),
                _ON_SALE,
                authorization_holds(now),
                or_(policies.push_enabled.is_(None), policies.push_enabled.is_(True)),
            )
            .group_by(shops.c.id)  # the primary key: PostgreSQL then takes the shop's other columns as they are
            .order_by(func.min(_outbox.next_attempt_at))
            .limit(limit)
        )
        return await self._readable(query)

    async def shops_to_reconcile(self, observed_before: datetime, limit: int, *, now: datetime) -> list[str]:
        policies = shop_inventory_policies.c
        last_observed = func.max(_links.observed_at)
        query = (
            select(shops.c.id, shops.c.refresh_token_encrypted)
            .join(shops, shops.c.id == _links.shop_id)
            .outerjoin(shop_inventory_policies, policies.shop_id == _links.shop_id)
            .where(
                _links.state == LINKED,
                _links.inventory_item_id.is_not(None),
                on_sale(_links.shop_id, _links.tiktok_product_id),  # as `reconcile_candidates`: nothing to read there
                authorization_holds(now),
                or_(policies.push_enabled.is_(None), policies.push_enabled.is_(True)),
            )
            .group_by(shops.c.id)  # the primary key: PostgreSQL then takes the shop's other columns as they are
            .having(or_(last_observed.is_(None), last_observed < observed_before))
            .order_by(shops.c.id)
            .limit(limit)
        )
        return await self._readable(query)

    async def _readable(self, query: Select[str, str]) -> list[str]:
        """The shop ids `query` lists (id, refresh token's ciphertext), less those whose tokens no configured key
        decrypts (REVOKED in `domain.shops.shop_status`; nothing can be pushed or read there)."""
        rows = await self._session.execute(query)
        return [shop_id for shop_id, refresh in rows if self._cipher is None or self._cipher.can_decrypt(refresh)]


async def policies_of_shops(
    session: AsyncSession, merchant_id: str, shop_ids: Sequence[str]
) -> dict[str, InventoryPolicy]:
    """The stored policies of the merchant's shops among `shop_ids` (shops without a row are absent: defaults)."""
    policies = shop_inventory_policies.c
    query = (
        select(shop_inventory_policies)
        .join(shops, shops.c.id == policies.shop_id)
        .where(policies.shop_id.in_(list(shop_ids)), shops.c.merchant_id == merchant_id)
    )
    return {
        row["shop_id"]: InventoryPolicy(
            push_enabled=row["push_enabled"],
            share_percent=row["share_percent"],
            max_quantity=row["max_quantity"],
            out_of_stock_threshold=row["out_of_stock_threshold"],
        )
        for row in (await session.execute(query)).mappings()
    }
