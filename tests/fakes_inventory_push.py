"""An in-memory fake of `domain.ports.InventoryPushRepository` (the push side of the pool), for service tests.

It keeps the rules `adapters.db.repositories.inventory_push` keeps: a policy row or the defaults; the outbox row of a
(shop, product) dirty while `dirty_version > pushed_version`, claimed with a lease, due at `next_attempt_at`; links
in state LINKED (with an item) pushed, observed and counted as drifted; the shops' sweeps skipping revoked shops and
shops with push disabled. Writes are staged on the unit of work and applied on commit, as the other fakes' are.
Tests seed links with `FakePushStore.link` (the pool's own repository creates them in production).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from domain.catalog import Product
from domain.errors import DomainError, ErrorCode
from domain.inventory.items import Edit, InventoryItem, applied
from domain.inventory.links import holds_for
from domain.inventory.removal import ItemUse
from domain.inventory_push import (
    InventoryPolicy,
    LinkedSku,
    OutboxClaim,
    ProductPushOutcome,
    PushIntent,
    standing_hold,
)
from domain.ports import Page, PoolChange, RecordNotFoundError, ShopTokens
from domain.shops import Shop, ShopStatus
from domain.stock_levels import InventoryUpdateResult, SkuInventory, SkuStock, Warehouse
from domain.sync import RecordFailure
from domain.unserved_products import ProductSearch


def can_sync(shop: Shop, now: datetime) -> bool:
    """What the SQL repositories' scheduler lists keep (`adapters.db.repositories.shops.authorization_holds` and a
    readable token): `domain.sync.ensure_shop_can_sync` would let the shop sync."""
    return shop.status(now) not in (ShopStatus.REVOKED, ShopStatus.EXPIRED)


if TYPE_CHECKING:
    from tests.fakes import _Staged


@dataclass
class FakeLink:
    """One `sku_links` row as the push sees it; `available` stands for its item's on_hand - reserved - safety."""

    sku_id: str
    tiktok_sku_id: str
    tiktok_product_id: str
    inventory_item_id: str
    available: int
    warehouse_ids: tuple[str, ...] = ()
    state: str = "LINKED"
    bundle: bool = False
    unlinked_item_id: str | None = None  # not LINKED: the item it was linked to then (`sku_links.unlinked_item_id`)
    unlinked_at: datetime | None = None  # and when it left it (`sku_links.unlinked_at`)
    pushed_quantity: int | None = None
    pushed_at: datetime | None = None
    held_quantity: int = 0
    held_since: datetime | None = None
    ingested_at_push: int | None = None
    restored_quantity: int = 0
    restored_since: datetime | None = None  # since when restored_quantity is carried (migration 0053)
    seeded_available: int | None = None  # a seeding or joining link's baseline until its first push (0018, 0019)
    push_intent: PushIntent | None = None  # what a fenced push committed before its call
    push_error_code: str | None = None
    push_error_message: str | None = None
    observed_quantity: int | None = None
    observed_at: datetime | None = None
    drift_count: int = 0
    updated_at: datetime | None = None  # when a push's result (or error) was last recorded on it
    source: str = "AUTO"  # `sku_links.source`: MANUAL for the merchant's link or unlink

    def as_linked(self, ingested: int = 0) -> LinkedSku:
        """`ingested`: the units of the shop's ledger lines of the SKU that took stock (`FakePushStore.ingested`)."""
        return LinkedSku(
            self.sku_id, self.tiktok_sku_id, self.tiktok_product_id, self.inventory_item_id, self.available,
            tuple(sorted(self.warehouse_ids)), self.pushed_quantity, self.pushed_at, self.held_quantity,
            self.held_since, ingested, self.ingested_at_push, 0, None, self.restored_quantity, 0,
            self.seeded_available, self.push_intent, restored_since=self.restored_since,
        )  # fmt: skip


@dataclass
class FakeOutboxRow:
    next_attempt_at: datetime
    updated_at: datetime
    dirty_version: int = 1
    pushed_version: int = 0
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    last_error: str | None = None

    def due(self, now: datetime) -> bool:
        return (
            self.dirty_version > self.pushed_version
            and self.next_attempt_at <= now
            and (self.claimed_until is None or self.claimed_until <= now)
        )


@dataclass
class FakePushStore:
    policies: dict[str, InventoryPolicy] = field(default_factory=dict)
    policies_updated_at: dict[str, datetime] = field(default_factory=dict)
    rebase_pending: dict[str, datetime] = field(default_factory=dict)  # the fence's re-base pending since (0064)
    links: dict[tuple[str, str], FakeLink] = field(default_factory=dict)  # (shop id, SKU id)
    outbox: dict[tuple[str, str], FakeOutboxRow] = field(default_factory=dict)  # (shop id, TikTok product id)
    # (shop id, TikTok SKU id, units, updated_at) of order lines the ledger reserved or deducted
    ingested: list[tuple[str, str, int, datetime]] = field(default_factory=list)
    items: dict[str, InventoryItem] = field(default_factory=dict)  # the pool's items by id
    movements: list[tuple[str, str, int, str | None]] = field(default_factory=list)  # (item, kind, delta, reason)
    ledger_change: PoolChange = field(
        default_factory=PoolChange
    )  # what the ledger's apply_orders / auto_link report (tested on the DBs)
    now: datetime = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # the repository's clock (the SQL one has its own)

    def link(self, shop_id: str, link: FakeLink) -> FakeLink:
        self.links[(shop_id, link.sku_id)] = link
        return link

    def shop_links(self, shop_id: str) -> list[FakeLink]:
        return [link for (sid, _), link in sorted(self.links.items()) if sid == shop_id]


class FakeInventoryPushRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged

    @property
    def _push(self) -> FakePushStore:
        return self._s.store.push

    def _pushing(self, shop_id: str, now: datetime) -> bool:
        shop = self._s.store.shops.get(shop_id)
        policy = self._push.policies.get(shop_id, InventoryPolicy())
        return shop is not None and can_sync(shop, now) and policy.push_enabled

    def _on_sale(self, key: tuple[str, str]) -> bool:
        """The SQL repository's `_ON_SALE`: a row is claimed (due, listed) only while its product is stored ACTIVATE,
        or not stored at all (a claim skips a product stored in another status: its row waits, dirty)."""
        product = self._s.store.products.get(key)
        return product is None or product.status == "ACTIVATE"

    def _linked(self, shop_id: str) -> list[FakeLink]:
        return sorted(
            (link for link in self._push.shop_links(shop_id) if link.state == "LINKED"),
            key=lambda link: link.tiktok_sku_id,
        )

    async def policy(self, shop_id: str) -> InventoryPolicy:
        return self._push.policies.get(shop_id, InventoryPolicy())

    async def save_policy(self, shop_id: str, policy: InventoryPolicy, now: datetime) -> None:
        def apply() -> None:
            self._push.policies[shop_id], self._push.policies_updated_at[shop_id] = policy, now

        self._s.ops.append(apply)

    async def request_rebase(self, shop_id: str, now: datetime) -> None:
        def apply() -> None:
            self._push.rebase_pending[shop_id] = now

        self._s.ops.append(apply)

    async def rebase_pending(self, shop_id: str) -> datetime | None:
        return self._push.rebase_pending.get(shop_id)

    async def claim_due(
        self, shop_id: str, holder: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxClaim]:
        rows = sorted(
            (
                (key[1], row)
                for key, row in self._push.outbox.items()
                if key[0] == shop_id and row.due(now) and self._on_sale(key)
            ),
            key=lambda item: (item[1].next_attempt_at, item[0]),
        )[:limit]
        claims = [
            OutboxClaim(shop_id, product, row.dirty_version, row.attempts, row.updated_at.timestamp())
            for product, row in rows
        ]

        def apply() -> None:
            for _, row in rows:
                row.claimed_by, row.claimed_until = holder, now + lease

        self._s.ops.append(apply)
        return claims

    async def renew_claims(self, shop_id: str, holder: str, now: datetime, lease: timedelta) -> int:
        rows = [
            row
            for key, row in self._push.outbox.items()
            if key[0] == shop_id and row.claimed_by == holder and (row.claimed_until or now) > now
        ]

        def apply() -> None:
            for row in rows:
                row.claimed_until = now + lease

        self._s.ops.append(apply)
        return len(rows)

    async def has_due(self, shop_id: str, now: datetime) -> bool:
        return any(key[0] == shop_id and row.due(now) and self._on_sale(key) for key, row in self._push.outbox.items())

    async def next_due(self, shop_id: str, now: datetime, holder: str) -> datetime | None:
        later = [
            max(row.next_attempt_at, row.claimed_until or row.next_attempt_at)
            for key, row in self._push.outbox.items()
            if key[0] == shop_id
            and row.dirty_version > row.pushed_version
            and not row.due(now)
            and self._on_sale(key)
            and not (row.claimed_by == holder and (row.claimed_until or now) > now)
        ]
        return min(later, default=None)

    def _units(self, shop_id: str, tiktok_sku_id: str) -> int:
        return sum(n for sid, tsku, n, _ in self._push.ingested if sid == shop_id and tsku == tiktok_sku_id)

    def _counted(
        self, shop_id: str, link: FakeLink, holds_since: datetime | None = None, counted: bool = True
    ) -> LinkedSku:
        """`link` as the push reads it; `holds_since`: with `held_elsewhere`, the domain's `standing_hold` of every
        other link holding for its item (any shop: LINKED to it, or left by an import remembering it) whose hold began
        at or after `holds_since` (a horizon of 0 from `holds_since`: `carried_hold` lets go of a hold begun before
        it)."""
        elsewhere = 0
        if holds_since is not None:
            elsewhere = sum(
                standing_hold(other.as_linked(self._units(other_shop, other.tiktok_sku_id)), holds_since, timedelta(0))
                for (other_shop, other_sku), other in self._push.links.items()
                if _holds_for(other, link.inventory_item_id) and (other_shop, other_sku) != (shop_id, link.sku_id)
            )
        return replace(
            link.as_linked(self._units(shop_id, link.tiktok_sku_id) if counted else 0), held_elsewhere=elsewhere
        )

    async def linked_skus(
        self, shop_id: str, tiktok_product_id: str, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        return [
            self._counted(shop_id, link, holds_since)
            for link in self._linked(shop_id)
            if link.tiktok_product_id == tiktok_product_id
        ]

    async def linked_skus_of(
        self, shop_id: str, tiktok_product_ids: Sequence[str], *, holds_since: datetime | None = None
    ) -> dict[str, list[LinkedSku]]:
        found: dict[str, list[LinkedSku]] = {product_id: [] for product_id in tiktok_product_ids}
        for link in self._linked(shop_id):
            if link.tiktok_product_id in found:
                found[link.tiktok_product_id].append(self._counted(shop_id, link, holds_since))
        return found

    async def holds_claim(self, claim: OutboxClaim, holder: str) -> bool:
        row = self._push.outbox.get((claim.shop_id, claim.tiktok_product_id))
        return row is not None and row.claimed_by == holder

    async def leave_claim(self, claim: OutboxClaim, holder: str) -> bool:
        row = self._push.outbox.get((claim.shop_id, claim.tiktok_product_id))
        if row is None or row.claimed_by != holder:
            return False

        def apply() -> None:
            row.claimed_by, row.claimed_until = None, None

        self._s.ops.append(apply)
        return True

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
        self._s.claims_finished += 1
        row = self._push.outbox.get((claim.shop_id, claim.tiktok_product_id))
        if row is None or row.claimed_by != holder:
            await self.mark_dirty(claim.shop_id, [claim.tiktok_product_id], now)
            return False

        def apply() -> None:
            row.claimed_by, row.claimed_until, row.last_error = None, None, error
            if pushed:
                row.pushed_version = max(row.pushed_version, claim.dirty_version)
                row.attempts, row.next_attempt_at = 0, now
            else:
                row.attempts, row.next_attempt_at = row.attempts + 1, next_attempt_at

        self._s.ops.append(apply)
        return True

    async def ingested_since(self, shop_id: str, since: Mapping[str, datetime]) -> dict[str, int]:
        return {
            sku: sum(units for sid, tsku, units, at in self._push.ingested if sid == shop_id and tsku == sku and at > t)
            for sku, t in since.items()
        }

    async def ledger_counts(self, shop_id: str, tiktok_sku_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        return {sku: (self._units(shop_id, sku), 0) for sku in tiktok_sku_ids}  # (the fake keeps no released count)

    async def record_intents(
        self, shop_id: str, intents: Mapping[str, PushIntent], applied: Mapping[str, PushIntent]
    ) -> None:
        def apply() -> None:
            for sku_id, earlier in applied.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.pushed_quantity, link.pushed_at = earlier.quantity, earlier.at
                    link.held_quantity, link.held_since = earlier.held, earlier.held_since
                    link.ingested_at_push, link.restored_quantity = earlier.ingested, earlier.restored
                    link.restored_since = earlier.restored_since
                    link.seeded_available = None
            for sku_id, intent in intents.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.push_intent = intent

        self._s.ops.append(apply)

    async def hold_links(self, shop_id: str, sku_ids: Collection[str]) -> None:
        pass  # one writer at a time here: nothing to hold

    async def hold_link_turn(self, shop_id: str) -> None:
        pass  # one writer at a time here: nothing to wait for

    async def hold_push_rows(self, rows: Collection[tuple[str, str]], inventory_item_ids: Collection[str]) -> None:
        pass  # one writer at a time here: nothing to hold

    async def record_link_results(self, shop_id: str, outcome: ProductPushOutcome, now: datetime) -> None:
        pushed_at = outcome.computed_at or now

        def apply() -> None:
            for sku_id, quantity in outcome.pushed.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.pushed_quantity, link.pushed_at = quantity, pushed_at
                    link.held_quantity, link.held_since = outcome.held.get(sku_id, (0, None))
                    link.ingested_at_push = outcome.ingested.get(sku_id)
                    link.restored_quantity, link.restored_since = outcome.restored.get(sku_id, (0, None))
                    link.seeded_available = link.push_intent = None
                    link.push_error_code = link.push_error_message = None
                    link.updated_at = now
            for sku_id, error in outcome.failed.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.push_error_code, link.push_error_message = str(error.code), error.message[:1000]
                    link.push_intent = None
                    link.updated_at = now
                    if sku_id in outcome.excluded:
                        link.state = "EXCLUDED"
            for sku_id in outcome.withdrawn:
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.push_intent = None
            for sku_id, intent in outcome.doubtful.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.push_intent = intent

        self._s.ops.append(apply)

    async def replace_warehouses(self, shop_id: str, tiktok_sku_id: str, warehouse_ids: Sequence[str]) -> None:
        def apply() -> None:
            for link in self._push.shop_links(shop_id):
                if link.tiktok_sku_id == tiktok_sku_id:
                    link.warehouse_ids = tuple(sorted(set(warehouse_ids)))

        self._s.ops.append(apply)

    async def push_again_at(self, shop_id: str, tiktok_product_id: str, at: datetime) -> None:
        def apply() -> None:
            row = self._push.outbox.get((shop_id, tiktok_product_id))
            if row is not None and row.dirty_version <= row.pushed_version and row.claimed_by is None:
                row.dirty_version += 1
                row.next_attempt_at, row.attempts, row.updated_at = at, 0, at

        self._s.ops.append(apply)

    async def mark_dirty(self, shop_id: str, tiktok_product_ids: Sequence[str], now: datetime) -> None:
        self._s.require_shop(shop_id)

        def apply() -> None:
            for product_id in sorted(set(tiktok_product_ids)):
                row = self._push.outbox.get((shop_id, product_id))
                if row is None:
                    self._push.outbox[(shop_id, product_id)] = FakeOutboxRow(next_attempt_at=now, updated_at=now)
                else:
                    row.dirty_version += 1
                    row.next_attempt_at, row.attempts, row.updated_at = now, 0, now

        self._s.ops.append(apply)

    async def mark_item_links_dirty(
        self, inventory_item_ids: Sequence[str], now: datetime, pushing: tuple[str, str]
    ) -> list[str]:
        items = set(inventory_item_ids)
        rows = sorted(
            {(shop_id, link.tiktok_product_id) for (shop_id, _), link in self._push.links.items()
             if link.state == "LINKED" and link.inventory_item_id in items} - {pushing}
        )  # fmt: skip

        def apply() -> None:
            for shop_id, product_id in rows:
                row = self._push.outbox.get((shop_id, product_id))
                if row is None:
                    self._push.outbox[(shop_id, product_id)] = FakeOutboxRow(next_attempt_at=now, updated_at=now)
                else:
                    row.dirty_version += 1
                    row.next_attempt_at, row.updated_at = now, now

        self._s.ops.append(apply)
        return sorted({shop_id for shop_id, _ in rows})

    async def linked_products(self, shop_id: str) -> list[str]:
        return sorted({link.tiktok_product_id for link in self._linked(shop_id)})

    async def shops_due(self, now: datetime, limit: int) -> list[str]:
        first_due: dict[str, datetime] = {}
        for (shop_id, _), row in self._push.outbox.items():
            if row.due(now) and self._on_sale((shop_id, _)) and self._pushing(shop_id, now):
                first_due[shop_id] = min(first_due.get(shop_id, row.next_attempt_at), row.next_attempt_at)
        return sorted(first_due, key=lambda shop_id: first_due[shop_id])[:limit]

    async def shops_to_reconcile(self, observed_before: datetime, limit: int, *, now: datetime) -> list[str]:
        observed: dict[str, list[datetime | None]] = {}
        for (shop_id, _), link in self._push.links.items():
            if link.state == "LINKED":
                observed.setdefault(shop_id, []).append(link.observed_at)
        found = []
        for shop_id in sorted(observed):
            seen = [at for at in observed[shop_id] if at is not None]
            if self._pushing(shop_id, now) and (not seen or max(seen) < observed_before):
                found.append(shop_id)
        return found[:limit]

    async def reconcile_candidates(
        self, shop_id: str, now: datetime, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        pending = {
            product
            for (sid, product), row in self._push.outbox.items()
            if sid == shop_id
            and (
                (row.dirty_version > row.pushed_version and not (row.attempts == 0 and row.next_attempt_at > now))
                or (row.claimed_until is not None and row.claimed_until > now)
            )
        }
        return [
            self._counted(shop_id, link, holds_since, counted=False)
            for link in self._linked(shop_id)
            if link.tiktok_product_id not in pending
        ]

    async def record_observed(
        self, shop_id: str, observed: Mapping[str, int], drifted: Sequence[str], now: datetime
    ) -> None:
        drift = set(drifted)

        def apply() -> None:
            for sku_id, quantity in observed.items():
                if (link := self._push.links.get((shop_id, sku_id))) is not None:
                    link.observed_quantity, link.observed_at = quantity, now
                    link.drift_count += sku_id in drift

        self._s.ops.append(apply)


class FakeInventoryApi:
    """Update Inventory, Inventory Search, Get Product and Get Warehouses over TikTok's stock per SKU, recording each
    call. An update sets the SKUs' `available` to what it sent, unless refused.

    `available`: TikTok SKU id -> available; `results`: the answers of the next updates, in order (then: all
    accepted); `products`: Get Product's answers by id; `unserved`: the ids Get Product calls not found (TikTok's
    12052048: a FREEZE or DELETED product, or one not in the shop); `listed`: Search Products' products (every status);
    `warehouse_list`: Get Warehouses' answer; `error`: raised by every call while set (TikTok unavailable,
    authorization lost...); `during_call`: run inside each call, for what happens meanwhile (a sale, a policy change,
    the shop deleted)."""

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.searches: list[list[str]] = []
        self.updates: list[tuple[str, list[SkuStock]]] = []
        self.results: list[InventoryUpdateResult] = []
        self.products: dict[str, Product] = {}
        self.product_calls: list[str] = []
        self.unserved: set[str] = set()
        self.listed: dict[str, Product] = {}
        self.product_searches: list[ProductSearch] = []
        self.warehouse_list: list[Warehouse] = []
        self.warehouse_calls = 0
        self.error: Exception | None = None
        self.during_call: Callable[[], Awaitable[None]] | None = None
        self.built_for: list[str] = []  # the shop id of each client built
        self.on_tokens_refreshed: ShopTokens | None = None  # the last client's callback for refreshed tokens

    async def _call(self) -> None:
        if self.during_call is not None:
            await self.during_call()
        if self.error is not None:
            raise self.error

    async def search_inventory(
        self, *, product_ids: Sequence[str] | None = None, sku_ids: Sequence[str] | None = None
    ) -> list[SkuInventory]:
        assert product_ids is None and sku_ids is not None and 1 <= len(sku_ids) <= 600, (product_ids, sku_ids)
        self.searches.append(list(sku_ids))
        await self._call()
        return [SkuInventory("", sku, None, self.available[sku], 0, ()) for sku in sku_ids if sku in self.available]

    async def update_inventory(self, product_id: str, skus: Sequence[SkuStock]) -> InventoryUpdateResult:
        self.updates.append((product_id, list(skus)))
        await self._call()
        result = self.results.pop(0) if self.results else InventoryUpdateResult(())
        refused = {f.sku_id for f in result.failures}
        for sku in skus:
            if sku.sku_id not in refused and None not in refused:
                self.available[sku.sku_id] = sum(w.quantity for w in sku.warehouses)
        return result

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        self.product_calls.append(product_id)
        await self._call()
        if product_id in self.unserved:
            raise RecordNotFoundError("TikTok refused the request (12052048): product not found")
        return self.products.get(product_id) or RecordFailure(product_id, "not found")

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[Product]:
        """Search Products over `listed`, filtered as TikTok filters (status, seller SKUs, update time); one page."""
        self.product_searches.append(search)
        await self._call()
        found = found_by(search, self.listed.values())
        return Page(found, None, len(found))

    async def warehouses(self) -> list[Warehouse]:
        self.warehouse_calls += 1
        await self._call()
        return list(self.warehouse_list)

    def factory(self, shop: Shop, on_tokens_refreshed: ShopTokens) -> FakeInventoryApi:
        self.built_for.append(shop.id)
        self.on_tokens_refreshed = on_tokens_refreshed
        return self


class FakeItemEdits:
    """The merchant-edit side of `InventoryRepository` (items, manual links), for the pool's service tests: items
    with their counters in `FakePushStore.items`, links in `FakePushStore.links`. A change to an item marks the
    products of the SKUs linked to it dirty, and names those shops in its `PoolChange`, as the SQL adapter does.
    Reads see this unit of work's own writes (as a transaction does); the store gets them on commit."""

    def __init__(self, staged: _Staged) -> None:
        self._s = staged
        self._written: dict[str, InventoryItem] = {}  # this unit of work's items, as it sees them
        self._locked: set[str] = set()  # items read with lock=True in this unit of work
        self._deleted: set[str] = set()  # items this unit of work deleted (`delete_item`)

    @property
    def _push(self) -> FakePushStore:
        return self._s.store.push

    def _item(self, item_id: str) -> InventoryItem | None:
        if item_id in self._deleted:
            return None
        return self._written.get(item_id) or self._push.items.get(item_id)

    def _write(self, item: InventoryItem) -> None:
        self._written[item.id] = item
        self._s.ops.append(lambda: self._push.items.__setitem__(item.id, item))

    def _touched(self, merchant_id: str, item_ids: Sequence[str], now: datetime) -> PoolChange:
        """Mark dirty the products whose LINKED SKUs point at the items; the change to tell after commit."""
        dirty: dict[str, set[str]] = {}
        for (shop_id, _), link in self._push.links.items():
            if link.state == "LINKED" and link.inventory_item_id in item_ids:
                dirty.setdefault(shop_id, set()).add(link.tiktok_product_id)

        def apply() -> None:
            for shop_id, products in dirty.items():
                for product_id in products:
                    row = self._push.outbox.get((shop_id, product_id))
                    if row is None:
                        self._push.outbox[(shop_id, product_id)] = FakeOutboxRow(next_attempt_at=now, updated_at=now)
                    else:
                        row.dirty_version, row.next_attempt_at, row.attempts, row.updated_at = (
                            row.dirty_version + 1, now, 0, now,
                        )  # fmt: skip

        self._s.ops.append(apply)
        return PoolChange(frozenset(item_ids), frozenset(dirty), merchant_id)

    async def get_item(self, item_id: str, merchant_id: str, *, lock: bool = False) -> InventoryItem | None:
        item = self._item(item_id)
        if item is None or item.merchant_id != merchant_id:
            return None
        if lock:
            self._locked.add(item_id)
        return item

    def _require_lock(self, item: InventoryItem) -> None:
        """The port's contract: an edit applies to an item read with lock=True in the same transaction (else two
        concurrent edits would compute from the same counters)."""
        if item.id not in self._locked:
            raise AssertionError(f"item {item.id} edited without being read with lock=True")

    async def create_item(self, item: InventoryItem) -> PoolChange:
        known = {**self._push.items, **self._written}.values()
        if any(i.merchant_id == item.merchant_id and i.sku == item.sku for i in known):
            raise DomainError(
                ErrorCode.SKU_ALREADY_EXISTS,
                f'An inventory item with SKU "{item.sku}" exists already: adjust that item, or choose another SKU.',
                ("sku",),
            )
        # inserted empty at version 1, then its on-hand counted in as a CREATED movement (version 2)
        self._write(replace(item, reserved=0, version=2))
        movement = (item.id, "CREATED", item.on_hand, None)
        self._s.ops.append(lambda: self._push.movements.append(movement))
        return self._touched(item.merchant_id, [item.id], item.created_at)

    async def edit_item(self, item: InventoryItem, edit: Edit) -> PoolChange:
        self._require_lock(item)
        movement = (item.id, edit.kind.value, edit.on_hand_delta, edit.reason)
        self._s.ops.append(lambda: self._push.movements.append(movement))
        if edit.on_hand_delta == 0:  # the movement alone: counters, version and pushes stay (the port's contract)
            return PoolChange(frozenset({item.id}), frozenset(), item.merchant_id)
        self._write(applied(item, edit.on_hand_delta, 0, self._s.store.push.now))
        return self._touched(item.merchant_id, [item.id], self._push.now)

    async def item_use(self, item: InventoryItem, now: datetime, hold_horizon: timedelta) -> ItemUse:
        """Links naming the item (any state); this fake keeps no order lines (its `reserved` counter stands for
        them)."""
        self._require_lock(item)
        return ItemUse(links=sum(1 for link in self._push.links.values() if link.inventory_item_id == item.id))

    async def delete_item(self, item: InventoryItem) -> PoolChange:
        self._require_lock(item)
        self._deleted.add(item.id)
        self._s.ops.append(lambda: self._push.items.pop(item.id, None))
        return PoolChange(frozenset({item.id}), frozenset(), item.merchant_id)

    async def set_safety_stock(self, item: InventoryItem, safety_stock: int) -> PoolChange:
        self._require_lock(item)
        now = self._push.now
        self._write(replace(item, safety_stock=safety_stock, version=item.version + 1, updated_at=now))
        return self._touched(item.merchant_id, [item.id], now)

    async def link_sku(
        self, merchant_id: str, sku_id: str, item_id: str | None, *, compare: bool = False,
        compare_item_id: str | None = None,
    ) -> PoolChange | None:  # fmt: skip
        found = [(shop_id, link) for (shop_id, sku), link in self._push.links.items() if sku == sku_id]
        if not found or (shop := self._s.store.shops.get(found[0][0])) is None or shop.merchant_id != merchant_id:
            return None
        shop_id, link = found[0]
        if compare and (link.inventory_item_id if link.state == "LINKED" else None) != compare_item_id:
            raise DomainError(ErrorCode.SKU_LINK_CHANGED, "This SKU's link changed.", ("compareInventoryItemId",))
        if link.bundle and item_id is not None:
            raise DomainError(
                ErrorCode.SKU_NOT_LINKABLE,
                "A bundle (combo) SKU cannot be linked: its stock is TikTok's to derive from its parts (12052850).",
                ("skuId",),
            )
        items = [i for i in (item_id, link.inventory_item_id if link.state == "LINKED" else None) if i is not None]
        change = self._touched(merchant_id, items, self._push.now)
        relinked = replace(link, state="LINKED" if item_id is not None else "UNLINKED", inventory_item_id=item_id or "")
        self._s.ops.append(lambda: self._push.links.__setitem__((shop_id, sku_id), relinked))
        return PoolChange(change.item_ids, frozenset({shop_id}) | change.push_shop_ids, merchant_id)


def _holds_for(link: FakeLink, item_id: str) -> bool:
    """Whether `link`'s hold counts for `item_id`'s other links, by the domain's rule as
    `inventory_push_links._held_elsewhere` reads it (`domain.inventory.links.holds_for`): LINKED to it, DROPPED from
    its product or EXCLUDED by a push naming it, or left without it by a products import (AMBIGUOUS, NO_SELLER_SKU,
    EXCLUDED, or DROPPED after that), or by the merchant's unlink with its instant (`unlinked_at`), remembering it.
    (Before, a DROPPED link's and a push-EXCLUDED one's held for none here, as the database's did before
    `holds_for`: `tests/integration/test_contract_inventory_push_links.py`.)"""
    remembered = (link.unlinked_item_id, link.source, link.unlinked_at)
    return holds_for(link.state, link.inventory_item_id or None, *remembered) == item_id


def found_by(search: ProductSearch, products: Iterable[Product]) -> list[Product]:
    """The `products` TikTok's Search Products finds for `search`: its status (or ALL), any of its seller SKUs, its
    update time's lower bound (seconds)."""
    wanted = set(search.seller_skus)
    return [
        product for product in products
        if search.status in ("ALL", product.status)
        and (not wanted or any(sku.seller_sku in wanted for sku in product.skus))
        and (search.update_time_ge is None or product.updated_at.timestamp() >= search.update_time_ge)
    ]  # fmt: skip
