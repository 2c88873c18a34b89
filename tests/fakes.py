"""In-memory fakes of the domain's ports, for service tests: a unit of work, a task queue, events, a ShopApi.

`FakeStore` is the "database"; each `FakeUnitOfWork` stages its writes and applies them on `commit`, so a
rolled-back unit of work leaves no trace, as with the real one. The fakes of the repositories and the unit of
work keep the rules the SQL adapters keep (a shop's version check, fingerprints for "unchanged", an older record
never replacing a newer one, the foreign key to the shop, after-commit failures logged): one set of contract tests
runs against both (tests/integration/test_contract_*.py), so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Self

from domain.authorization import AuthorizationRequest
from domain.catalog import LineItem, Money, Order, Product, Sku, WarehouseStock, older_order_version
from domain.errors import DomainError, ErrorCode
from domain.intake import WebhookEvent, released_key
from domain.polling import PollCursor
from domain.ports import (
    AuthorizationLostError,
    ConcurrentUpdateError,
    Page,
    PoolChange,
    ProductScan,
    RecordNotFoundError,
    ShopGoneError,
    ShopNameRaceLostError,
    ShopTokens,
    UpsertCounts,
    traced,
)
from domain.shops import AuthorizedShop, Region, RegisteredWebhooks, Shop, ShopName, ShopStatus, TokenSet, shop_name_key
from domain.stored import order_as_stored, product_as_stored
from domain.sync import RecordFailure, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from domain.tokens import ShopSchedule
from domain.unserved_products import KnownProduct, ProductSearch
from tests.fakes_inventory_push import FakeInventoryPushRepository, FakeItemEdits, FakePushStore, can_sync, found_by

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
log = logging.getLogger(__name__)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class FakeStore:
    shops: dict[str, Shop] = field(default_factory=dict)
    tasks: dict[str, SyncTask] = field(default_factory=dict)
    products: dict[tuple[str, str], Product] = field(default_factory=dict)
    orders: dict[tuple[str, str], Order] = field(default_factory=dict)
    authorizations: dict[str, AuthorizationRequest] = field(default_factory=dict)
    cursors: dict[tuple[str, SyncKind], PollCursor] = field(default_factory=dict)
    refresh_claims: dict[str, datetime] = field(default_factory=dict)
    webhook_events: dict[str, WebhookEvent] = field(default_factory=dict)
    commits: int = 0
    claims_finished_per_commit: list[int] = field(default_factory=list)  # outbox claims each commit finished (> 0)
    statistics_refreshed: list[SyncKind] = field(default_factory=list)  # kinds whose statistics were refreshed
    recounted: list[tuple[str, SyncKind]] = field(default_factory=list)  # (shop, kind) counted again after an import
    push: FakePushStore = field(
        default_factory=FakePushStore
    )  # policies, outbox, links (tests/fakes_inventory_push.py)

    def shop_orders(self, shop_id: str) -> dict[str, Order]:
        return {tid: order for (sid, tid), order in self.orders.items() if sid == shop_id}

    def shop_products(self, shop_id: str) -> dict[str, Product]:
        return {tid: product for (sid, tid), product in self.products.items() if sid == shop_id}


class _Staged:
    """Writes of one unit of work, applied to the store in order on commit.

    `checks` run first, on the store as it is at commit, and any of them raising aborts the commit with nothing
    applied: the constraints a database checks when the rows are written (a foreign key to a shop deleted
    meanwhile). `versions` are the shop versions this unit of work has written, and `products` the products it has
    stored ((shop id, product id) -> record), as its own reads see them (a transaction reads its own writes).
    """

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.ops: list[Callable[[], None]] = []
        self.checks: list[Callable[[], None]] = []
        self.versions: dict[str, int] = {}
        self.products: dict[tuple[str, str], Any] = {}
        self.claims_finished = 0  # `finish_claim` calls staged (tests/fakes_inventory_push.py)

    def require_shop(self, shop_id: str) -> None:
        """The staged writes reference the shop: the commit fails (nothing written) if it is gone by then."""

        def check() -> None:
            if shop_id not in self.store.shops:
                raise ShopGoneError(shop_id)

        self.checks.append(check)


class FakeShopRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged

    async def add(self, shop: Shop) -> None:
        if any(s.tiktok_shop_id == shop.tiktok_shop_id for s in self._s.store.shops.values()):
            raise DomainError(ErrorCode.SHOP_ALREADY_CONNECTED, "taken")
        self._name_index(shop)
        kept = copy.deepcopy(shop)
        self._s.ops.append(lambda: self._s.store.shops.__setitem__(kept.id, kept))

    async def get(self, shop_id: str, merchant_id: str | None = None, *, for_delete: bool = False) -> Shop | None:
        shop = self._s.store.shops.get(shop_id)
        if shop is None or (merchant_id is not None and shop.merchant_id != merchant_id):
            return None
        return copy.deepcopy(shop)

    async def hold(self, shop_id: str, *, unless_being_deleted: bool = False) -> bool:
        return shop_id in self._s.store.shops  # no locks here: no delete to skip

    async def hold_unless_deleting(self, shop_id: str) -> bool:
        return shop_id in self._s.store.shops  # no locks here: no delete under way

    async def get_by_tiktok_shop_id(self, tiktok_shop_id: str) -> Shop | None:
        found = [s for s in self._s.store.shops.values() if s.tiktok_shop_id == tiktok_shop_id]
        return copy.deepcopy(found[0]) if found else None

    async def holder_of_name(self, merchant_id: str, name: str, *, other_than: str | None = None) -> ShopName | None:
        key = shop_name_key(name)
        for s in self._s.store.shops.values():
            if s.merchant_id == merchant_id and s.id != other_than and shop_name_key(s.name) == key:
                return ShopName(s.id, s.name)
        return None

    def _name_index(self, shop: Shop) -> None:
        """As the unique index on (merchant_id, name_key): another committed shop of the merchant with the name."""
        for s in self._s.store.shops.values():
            if (
                s.merchant_id == shop.merchant_id
                and s.id != shop.id
                and shop_name_key(s.name) == shop_name_key(shop.name)
            ):
                raise ShopNameRaceLostError(f"shop {s.id} has the name")

    async def update(self, shop: Shop) -> None:
        """As SqlShopRepository: only over the version it read (else ConcurrentUpdateError), which it then bumps."""
        stored = self._s.store.shops.get(shop.id)
        current = self._s.versions.get(shop.id, stored.version if stored is not None else None)
        if current is None or current != shop.version:
            raise ConcurrentUpdateError(f"shop {shop.id} was changed or deleted since it was read")
        self._name_index(shop)
        shop.version += 1
        self._s.versions[shop.id] = shop.version
        kept = copy.deepcopy(shop)
        self._s.ops.append(lambda: self._s.store.shops.__setitem__(kept.id, kept))

    async def delete(self, shop_id: str) -> bool:
        store = self._s.store
        if shop_id not in store.shops:
            return False

        def apply() -> None:
            store.shops.pop(shop_id, None)
            store.tasks = {k: t for k, t in store.tasks.items() if t.shop_id != shop_id}
            store.products = {k: p for k, p in store.products.items() if k[0] != shop_id}
            store.orders = {k: o for k, o in store.orders.items() if k[0] != shop_id}
            store.cursors = {k: c for k, c in store.cursors.items() if k[0] != shop_id}
            store.refresh_claims.pop(shop_id, None)
            store.webhook_events = {k: e for k, e in store.webhook_events.items() if e.shop_id != shop_id}
            for request in store.authorizations.values():  # kept, detached, as SqlShopRepository.delete does
                if request.shop_id == shop_id:
                    request.shop_id = None

        self._s.versions.pop(shop_id, None)
        self._s.ops.append(apply)
        return True

    async def schedules(self, now: datetime) -> list[ShopSchedule]:
        return [
            ShopSchedule(
                shop.id, shop.merchant_id, shop.expires_at, shop.revoked_at, shop.tokens.access_token_expires_at,
                shop.tokens_issued_at, self._s.store.refresh_claims.get(shop.id), shop.authorized_at,
            )
            for shop in sorted(self._s.store.shops.values(), key=lambda shop: shop.id)
            if can_sync(shop, now)
        ]  # fmt: skip

    async def awaiting_webhook_registration(
        self, authorized_before: datetime, *, now: datetime, failed_too: bool, limit: int
    ) -> list[str]:
        waiting = sorted(
            (
                shop
                for shop in self._s.store.shops.values()
                if shop.status(now) not in (ShopStatus.REVOKED, ShopStatus.EXPIRED)
                and shop.webhooks_registered_at is None
                and shop.authorized_at < authorized_before
                and (failed_too or shop.webhook_registration_error is None)
            ),
            key=lambda shop: shop.authorized_at,
        )
        return [shop.id for shop in waiting[:limit]]

    async def registered_elsewhere(
        self, address: str, *, now: datetime, after: RegisteredWebhooks | None = None, limit: int
    ) -> list[RegisteredWebhooks]:
        moved = sorted(
            (
                RegisteredWebhooks(
                    shop.id, shop.webhooks_registered_address, shop.webhooks_registered_at, not shop.tokens_unreadable
                )
                for shop in self._s.store.shops.values()
                if shop.status(now) not in (ShopStatus.REVOKED, ShopStatus.EXPIRED)
                and shop.webhooks_registered_at is not None
                and shop.webhooks_registered_elsewhere(address)
            ),
            key=lambda registered: (registered.registered_at, registered.shop_id),
        )
        if after is not None:
            moved = [m for m in moved if (m.registered_at, m.shop_id) > (after.registered_at, after.shop_id)]
        return moved[:limit]

    async def claim_token_refresh(self, shop_id: str, now: datetime, stale_before: datetime) -> bool:
        claimed = self._s.store.refresh_claims.get(shop_id)
        if shop_id not in self._s.store.shops or (claimed is not None and claimed >= stale_before):
            return False
        self._s.ops.append(lambda: self._s.store.refresh_claims.__setitem__(shop_id, now))
        return True


class FakePollCursorRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged

    async def get(self, shop_id: str, kind: SyncKind) -> PollCursor | None:
        return copy.deepcopy(self._s.store.cursors.get((shop_id, kind)))

    async def list_all(self) -> list[PollCursor]:
        return [copy.deepcopy(c) for c in self._s.store.cursors.values()]

    async def save(self, cursor: PollCursor, now: datetime) -> None:
        if cursor.shop_id not in self._s.store.shops:
            raise ShopGoneError(cursor.shop_id)
        self._s.require_shop(cursor.shop_id)
        given = copy.deepcopy(cursor)

        def later(a: datetime | None, b: datetime | None) -> datetime | None:
            return a if b is None else b if a is None else max(a, b)

        def apply() -> None:
            old = self._s.store.cursors.get((given.shop_id, given.kind)) or PollCursor(given.shop_id, given.kind)
            for name in ("cursor_at", "scheduled_at", "polled_at"):
                setattr(old, name, later(getattr(old, name), getattr(given, name)))
            old.updated_at = now
            self._s.store.cursors[(given.shop_id, given.kind)] = old

        self._s.ops.append(apply)

    async def make_due(self, shop_id: str) -> None:
        def apply() -> None:
            for (owner, _), cursor in self._s.store.cursors.items():
                if owner == shop_id:
                    cursor.scheduled_at = None

        self._s.ops.append(apply)


class FakeSyncTaskRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged
        self._added: list[SyncTask] = []
        self._updated: dict[str, SyncTask] = {}  # this unit of work's updates, as its later statements see them

    async def add(self, task: SyncTask) -> None:
        # As the partial unique index: one ACTIVE task per shop and kind; finished ones are not counted, nor one this
        # unit of work has finished already (its UPDATE ran before the INSERT, in the same transaction).
        active = await self.active(task.shop_id, task.kind)
        if active is not None and active.id in self._updated and not self._updated[active.id].is_active:
            active = None
        if task.is_active and (
            active is not None
            or any(t.shop_id == task.shop_id and t.kind is task.kind and t.is_active for t in self._added)
        ):
            raise DomainError(ErrorCode.SYNC_ALREADY_RUNNING, "already running")
        kept = copy.deepcopy(task)
        self._added.append(kept)
        self._s.ops.append(lambda: self._s.store.tasks.__setitem__(kept.id, kept))

    async def get(
        self, task_id: str, merchant_id: str | None = None, *, unless_locked: bool = False
    ) -> SyncTask | None:
        task = self._s.store.tasks.get(task_id)
        if task is None or (merchant_id is not None and task.merchant_id != merchant_id):
            return None
        return copy.deepcopy(task)

    async def active(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
        found = [t for t in self._s.store.tasks.values() if t.shop_id == shop_id and t.kind is kind and t.is_active]
        return copy.deepcopy(found[0]) if found else None

    async def active_kinds(self) -> set[tuple[str, SyncKind]]:
        return {(t.shop_id, t.kind) for t in self._s.store.tasks.values() if t.is_active}

    async def latest_import(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
        found = [
            t for t in self._s.store.tasks.values()
            if t.shop_id == shop_id and t.kind is kind and t.trigger is not SyncTrigger.SCHEDULED
        ]  # fmt: skip
        found.sort(key=lambda t: (t.created_at, t.id))
        return copy.deepcopy(found[-1]) if found else None

    async def manual_started_since(self, shop_id: str, kind: SyncKind, since: datetime, limit: int) -> list[datetime]:
        tasks = {t.id: t for t in [*self._s.store.tasks.values(), *self._added]}.values()
        mine = [t for t in tasks if t.shop_id == shop_id and t.kind is kind and t.trigger is SyncTrigger.MANUAL]
        return sorted((t.created_at for t in mine if t.created_at > since), reverse=True)[:limit]

    async def update(self, task: SyncTask) -> bool:
        if task.id not in self._s.store.tasks:
            return False
        kept = copy.deepcopy(task)
        self._updated[kept.id] = kept

        def apply() -> None:
            if kept.id in self._s.store.tasks:
                # As the SQL repository does: a cancel request is never taken back by a stale writer.
                kept.cancel_requested = kept.cancel_requested or self._s.store.tasks[kept.id].cancel_requested
                self._s.store.tasks[kept.id] = kept

        self._s.ops.append(apply)
        return True

    async def list_resumable(self, heartbeat_before: datetime) -> list[SyncTask]:
        return [
            copy.deepcopy(t)
            for t in self._s.store.tasks.values()
            if t.is_active and (t.heartbeat_at or t.created_at) < heartbeat_before
        ]

    async def mark_unsent(self, task_ids: Sequence[str]) -> int:
        marked = [i for i in task_ids if (t := self._s.store.tasks.get(i)) and t.status is SyncTaskStatus.QUEUED]

        def apply() -> None:
            for task_id in marked:
                self._s.store.tasks[task_id].unsent = True

        self._s.ops.append(apply)
        return len(marked)

    async def list_unsent(self, limit: int) -> list[str]:
        found = [t for t in self._s.store.tasks.values() if t.status is SyncTaskStatus.QUEUED and t.unsent]
        return [t.id for t in sorted(found, key=lambda t: (t.created_at, t.id))[:limit]]

    async def claim_unsent(self, task_id: str, now: datetime) -> bool:
        task = self._s.store.tasks.get(task_id)
        if task is None or task.status is not SyncTaskStatus.QUEUED or not task.unsent:
            return False

        def apply() -> None:
            task.unsent, task.heartbeat_at = False, now

        self._s.ops.append(apply)
        return True

    async def cancel_active_for_shop(self, shop_id: str, now: datetime) -> list[SyncTask]:
        tasks = [copy.deepcopy(t) for t in self._s.store.tasks.values() if t.shop_id == shop_id and t.is_active]
        for task in tasks:
            task.request_cancel(now)
            await self.update(task)
        return tasks

    async def last_succeeded(self, shop_id: str, kind: SyncKind, *, scheduled: bool) -> SyncTask | None:
        found = [
            t for t in self._s.store.tasks.values()
            if t.shop_id == shop_id and t.kind is kind and t.status is SyncTaskStatus.SUCCEEDED
            and (t.trigger is SyncTrigger.SCHEDULED) == scheduled
        ]  # fmt: skip
        found.sort(key=lambda t: (t.finished_at or t.created_at, t.id))
        return copy.deepcopy(found[-1]) if found else None

    async def fold_empty_polls(self, shop_id: str, kind: SyncKind, keep: int) -> int:
        empty = [
            t for t in self._s.store.tasks.values()
            if t.shop_id == shop_id and t.kind is kind and t.trigger is SyncTrigger.SCHEDULED
            and t.status is SyncTaskStatus.SUCCEEDED and t.found_nothing
        ]  # fmt: skip
        empty.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        doomed = [t.id for t in empty[keep:]]

        def apply() -> None:
            for task_id in doomed:
                self._s.store.tasks.pop(task_id, None)

        self._s.ops.append(apply)
        return len(doomed)

    async def delete_finished(self, finished_before: datetime, limit: int) -> int:
        tasks = self._s.store.tasks
        found = sorted(
            (t for t in tasks.values() if t.may_be_pruned(finished_before, tasks.values())),
            key=lambda t: t.finished_at or t.created_at,
        )[:limit]
        for task in found:
            self._s.ops.append(lambda task_id=task.id: tasks.pop(task_id, None))
        return len(found)


class FakeCatalogRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged

    async def upsert_products(self, shop_id: str, products: Iterable[Product]) -> UpsertCounts:
        return self._upsert(shop_id, self._s.store.products, [(p.tiktok_product_id, p) for p in products])

    async def upsert_orders(self, shop_id: str, orders: Iterable[Order]) -> UpsertCounts:
        return self._upsert(shop_id, self._s.store.orders, [(o.tiktok_order_id, o) for o in orders])

    async def mark_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> None:
        """Nothing kept: the unreadable marks are SqlCatalogRepository's (tests/integration, tests/e2e)."""

    async def forget_unreadable(self, failed_before: datetime, limit: int) -> int:
        """None kept, none to forget (see `mark_unreadable`)."""
        return 0

    async def marks_to_reread(self, shop_id: str, kind: SyncKind, limit: int) -> list[str]:
        """None kept, none to read again (see `mark_unreadable`)."""
        return []

    async def note_still_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> list[str]:
        """None kept (see `mark_unreadable`)."""
        return []

    async def note_reread(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str], now: datetime) -> None:
        """None kept (see `mark_unreadable`)."""

    async def clear_unreadable(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str]) -> None:
        """None kept (see `mark_unreadable`)."""

    @staticmethod
    def _version(record: Any) -> tuple[str, datetime, str | None]:
        """(fingerprint, update time, order status or None for a product) as SqlCatalogRepository compares them:
        of the values stored, not objects."""
        if hasattr(record, "tiktok_product_id"):  # a Product or a StoredProduct
            stored_product = product_as_stored(record)
            return stored_product.fingerprint, stored_product.values[4], None
        stored_order = order_as_stored(record)
        return stored_order.fingerprint, stored_order.values[3], stored_order.values[1]

    async def known_product(self, shop_id: str, tiktok_product_id: str) -> KnownProduct | None:
        key = (shop_id, tiktok_product_id)
        record = self._s.products.get(key) or self._s.store.products.get(key)
        if record is None:
            return None
        stored = product_as_stored(record)
        _, title, status, created_at, updated_at = stored.values
        seller_skus = tuple(row[1] for row in stored.skus if row[1])
        return KnownProduct(tiktok_product_id, title, status, created_at, updated_at, seller_skus)

    async def refresh_statistics(self, kind: SyncKind) -> None:
        self._s.store.statistics_refreshed.append(kind)

    async def recount(self, shop_id: str, kind: SyncKind) -> None:
        self._s.store.recounted.append((shop_id, kind))

    def _upsert(self, shop_id: str, rows: dict[tuple[str, str], Any], items: list[tuple[str, Any]]) -> UpsertCounts:
        if not items:
            return UpsertCounts()
        if shop_id not in self._s.store.shops:
            raise ShopGoneError(shop_id)
        created = updated = unchanged = 0
        latest = dict(items)  # the last of one id in a batch wins, as in the SQL repository
        staged: dict[str, Any] = {}
        for key, item in latest.items():
            old = rows.get((shop_id, key))
            fingerprint, updated_at, status = self._version(item)
            if old is not None:
                old_fingerprint, old_updated_at, old_status = self._version(old)
                older = (
                    older_order_version(status, updated_at, old_status, old_updated_at)
                    if status is not None and old_status is not None
                    else old_updated_at > updated_at
                )
                if older or old_fingerprint == fingerprint:
                    unchanged += 1  # an older version never replaces a newer one; equal values are no change
                    continue
                updated += 1
            else:
                created += 1
            staged[key] = item
        if staged:
            self._s.require_shop(shop_id)  # the foreign key: a delete committed meanwhile fails this commit
        name = "products" if rows is self._s.store.products else "orders"
        if name == "products":
            self._s.products.update({(shop_id, k): v for k, v in staged.items()})
        # Looked up at commit: a deletion committed meanwhile replaced the dict.
        self._s.ops.append(lambda: getattr(self._s.store, name).update({(shop_id, k): v for k, v in staged.items()}))
        return UpsertCounts(created, updated, unchanged)


class FakeAuthorizationRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged

    async def add(self, request: AuthorizationRequest) -> None:
        kept = copy.deepcopy(request)
        self._s.ops.append(lambda: self._s.store.authorizations.__setitem__(kept.state_digest, kept))

    async def get(self, state_digest: str) -> AuthorizationRequest | None:
        return copy.deepcopy(self._s.store.authorizations.get(state_digest))

    async def unexpired_expiries(
        self, merchant_id: str, now: datetime, limit: int, *, completed: bool = True
    ) -> list[datetime]:
        requests = self._s.store.authorizations.values()
        mine = (
            r.expires_at
            for r in requests
            if r.merchant_id == merchant_id and r.unexpired(now) and (completed or r.completed_at is None)
        )
        return sorted(mine, reverse=True)[:limit]

    async def mark_completed(self, state_digest: str, now: datetime, shop_id: str) -> None:
        stored = self._s.store.authorizations.get(state_digest)
        if stored is not None:
            self._s.ops.append(lambda: setattr(stored, "completed_at", now))
            self._s.ops.append(lambda: setattr(stored, "completed_shop_id", shop_id))

    async def mark_used(self, request: AuthorizationRequest) -> bool:
        stored = self._s.store.authorizations.get(request.state_digest)
        if stored is None or stored.used_at is not None:
            return False
        used_at = request.used_at
        self._s.ops.append(lambda: setattr(stored, "used_at", used_at))
        return True

    async def delete_expired(self, expired_before: datetime, limit: int) -> int:
        requests = self._s.store.authorizations
        expired = [r for r in requests.values() if r.may_be_pruned(expired_before)]
        found = sorted(expired, key=lambda r: r.expires_at)[:limit]
        for request in found:
            self._s.ops.append(lambda digest=request.state_digest: requests.pop(digest, None))
        return len(found)


class FakeWebhookEventRepository:
    def __init__(self, staged: _Staged) -> None:
        self._s = staged
        self._released: set[str] = set()  # keys given up in this unit of work (applied at its commit)

    async def resolve_shop(self, tiktok_shop_id: str) -> str | None:
        found = [s.id for s in self._s.store.shops.values() if s.tiktok_shop_id == tiktok_shop_id]
        return found[0] if found else None

    async def resolve_shops(self, tiktok_shop_ids: Iterable[str]) -> tuple[dict[str, str], frozenset[str]]:
        wanted = set(tiktok_shop_ids)
        return {s.tiktok_shop_id: s.id for s in self._s.store.shops.values() if s.tiktok_shop_id in wanted}, frozenset()

    async def add(self, event: WebhookEvent) -> bool:
        return bool(await self.add_many([event]))

    async def add_many(self, events: Iterable[WebhookEvent]) -> set[str]:
        stored = {e.notification_key for e in self._s.store.webhook_events.values()} - self._released
        written: set[str] = set()
        for event in events:
            if event.notification_key in stored | written:
                continue
            written.add(event.notification_key)
            kept = copy.deepcopy(event)
            self._s.ops.append(lambda kept=kept: self._s.store.webhook_events.__setitem__(kept.id, kept))
        return written

    async def release_keys(self, keys: Iterable[str], received_before: datetime) -> int:
        wanted = set(keys)
        found = [
            e for e in self._s.store.webhook_events.values()
            if e.notification_key in wanted and e.received_at < received_before
        ]  # fmt: skip
        for event in found:
            self._released.add(event.notification_key)
            kept = copy.deepcopy(event)
            kept.notification_key = released_key(event.id)
            self._s.ops.append(lambda kept=kept: self._s.store.webhook_events.__setitem__(kept.id, kept))
        return len(found)

    async def pending(self, shop_id: str, limit: int) -> list[WebhookEvent]:
        found = [
            e for e in self._s.store.webhook_events.values() if e.shop_id == shop_id and e.outcome.value == "PENDING"
        ]
        return copy.deepcopy(sorted(found, key=lambda e: (e.received_at, e.id))[:limit])

    async def get(self, event_id: str, merchant_id: str | None = None) -> WebhookEvent | None:
        event = self._s.store.webhook_events.get(event_id)
        shop = self._s.store.shops.get(event.shop_id or "") if event else None
        if event is None or (merchant_id is not None and (shop is None or shop.merchant_id != merchant_id)):
            return None
        return copy.deepcopy(event)

    async def save(self, events: Iterable[WebhookEvent]) -> None:
        for event in events:
            kept = copy.deepcopy(event)
            self._s.ops.append(lambda kept=kept: self._s.store.webhook_events.__setitem__(kept.id, kept))

    async def replay_failed(self, shop_id: str, code: str) -> int:
        failed = [
            e for e in self._s.store.webhook_events.values()
            if e.shop_id == shop_id and e.outcome.value == "FAILED" and e.error_code == code
        ]  # fmt: skip
        for event in failed:
            replayed = copy.deepcopy(event)
            replayed.replay()
            self._s.ops.append(lambda kept=replayed: self._s.store.webhook_events.__setitem__(kept.id, kept))
        return len(failed)

    async def note_webhook_received(self, shop_id: str, at: datetime) -> None:
        def apply() -> None:
            shop = self._s.store.shops.get(shop_id)
            if shop is not None and (shop.last_webhook_at is None or shop.last_webhook_at < at):
                shop.last_webhook_at = at

        self._s.ops.append(apply)

    async def shops_with_pending(
        self, received_before: datetime, limit: int, *, received_after: datetime | None = None, unread: bool = False
    ) -> list[str]:
        return sorted({
            e.shop_id for e in self._s.store.webhook_events.values()
            if e.shop_id and e.outcome.value == "PENDING" and e.received_at < received_before
            and (received_after is None or e.received_at > received_after) and (not unread or e.attempts == 0)
        })[:limit]  # fmt: skip

    async def delete_settled(self, received_before: datetime, limit: int) -> int:
        events = self._s.store.webhook_events
        found = sorted(
            (e for e in events.values() if e.outcome.value != "PENDING" and e.received_at < received_before),
            key=lambda e: e.received_at,
        )[:limit]
        for event in found:
            self._s.ops.append(lambda event_id=event.id: events.pop(event_id, None))
        return len(found)


class FakeInventoryRepository(FakeItemEdits):
    """The pool as the catalog service tests see it: records which orders and products reached it, changes
    nothing (the pool's rules and persistence have tests of their own on both databases); merchants' edits of
    items and links as `FakeItemEdits` keeps them."""

    def __init__(self, staged: _Staged) -> None:
        super().__init__(staged)
        self.applied_orders: list[str] = []
        self.linked_products: list[str] = []
        self.pooled_shops: list[str] = []  # the shop of each apply_orders / auto_link, in order

    async def apply_orders(self, shop_id: str, orders: Iterable[Any], *, none_stored: bool = False) -> PoolChange:
        self.applied_orders += [getattr(o, "tiktok_order_id", "") for o in orders]  # (no rows to read: `none_stored`)
        self.pooled_shops.append(shop_id)
        return self._s.store.push.ledger_change

    async def auto_link(self, shop_id: str, tiktok_product_ids: Iterable[str], stock_read_at: Any = None) -> PoolChange:
        self.linked_products += list(tiktok_product_ids)
        self.pooled_shops.append(shop_id)
        return self._s.store.push.ledger_change

    async def release_shop(self, shop_id: str, hold_horizon: Any = None, *, remember: bool = True) -> PoolChange:
        return PoolChange()

    async def remove_shop_items(self, shop_id: str) -> list[str]:
        return []

    async def merchants_with_unexplained_holds(self, hold_horizon: Any = None) -> list[str]:
        return []  # no delete here takes units off as sold unseen (`release_shop` changes nothing)

    async def give_back_unexplained_holds(self, merchant_id: str, hold_horizon: Any = None) -> tuple[PoolChange, int]:
        return PoolChange(), 0


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._staged = _Staged(store)
        self.webhook_events = FakeWebhookEventRepository(self._staged)
        self.shops = FakeShopRepository(self._staged)
        self.sync_tasks = FakeSyncTaskRepository(self._staged)
        self.catalog = FakeCatalogRepository(self._staged)
        self.authorizations = FakeAuthorizationRepository(self._staged)
        self.poll_cursors = FakePollCursorRepository(self._staged)
        self.inventory = FakeInventoryRepository(self._staged)
        self.inventory_push = FakeInventoryPushRepository(self._staged)
        self._callbacks: list[Callable[[], Awaitable[None]]] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rollback()

    async def commit(self) -> None:
        """Apply every staged write, or none when a check fails (then raise it, as the database would); then run
        the after-commit callbacks in order, logging (not raising) a failing one, as SqlUnitOfWork does."""
        try:
            for check in self._staged.checks:
                check()
        except Exception:
            await self.rollback()
            raise
        for op in self._staged.ops:
            op()
        self._staged.ops.clear()
        self._staged.checks.clear()
        self._staged.versions.clear()
        self._staged.store.commits += 1
        if self._staged.claims_finished:
            self._staged.store.claims_finished_per_commit.append(self._staged.claims_finished)
            self._staged.claims_finished = 0
        self.committed = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                await callback()
            except Exception as exc:
                name = getattr(callback, "__qualname__", callback)
                if traced(exc):
                    log.exception("after-commit callback %r failed", name)
                else:
                    log.warning("after-commit callback %r failed: %s", name, exc)

    async def rollback(self) -> None:
        self._staged.ops.clear()
        self._staged.checks.clear()
        self._staged.versions.clear()
        self._staged.claims_finished = 0
        self._callbacks.clear()

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._callbacks.append(callback)


class FakeTaskQueue:
    def __init__(self) -> None:
        self.enqueued: list[str] = []
        self.webhook_events: list[str] = []  # shop ids whose pending events were enqueued
        self.webhook_registrations: list[str] = []
        self.inventory_pushes: list[str] = []  # shop ids whose dirty outbox rows were enqueued
        self.inventory_reconciles: list[str] = []  # shop ids whose linked SKUs' reconcile was enqueued

    async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
        self.enqueued.append(task_id)

    async def enqueue_webhook_events(self, shop_id: str) -> None:
        self.webhook_events.append(shop_id)

    async def enqueue_webhook_registration(self, shop_id: str) -> None:
        self.webhook_registrations.append(shop_id)

    async def enqueue_inventory_push(self, shop_id: str) -> None:
        self.inventory_pushes.append(shop_id)

    async def enqueue_inventory_push_later(self, shop_id: str, delay_ms: int) -> bool:
        self.inventory_pushes.append(shop_id)
        return True

    async def enqueue_inventory_reconcile(self, shop_id: str) -> None:
        self.inventory_reconciles.append(shop_id)


class FakeEventPublisher:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []  # (task id, status)

        self.shop_changes: list[str] = []  # shop ids
        self.item_changes: list[str] = []  # inventory item ids

    async def task_changed(self, task: SyncTask) -> None:
        self.changes.append((task.id, task.status.value))

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        self.shop_changes.append(shop_id)

    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        self.item_changes.append(item_id)


class FakeScheduledWork:
    def __init__(self) -> None:
        self.polls: list[tuple[str, SyncKind, str]] = []
        self.refreshes: list[str] = []

    async def enqueue_poll(self, shop_id: str, kind: SyncKind, scheduled_at: str) -> None:
        self.polls.append((shop_id, kind, scheduled_at))

    async def enqueue_token_refresh(self, shop_id: str) -> None:
        self.refreshes.append(shop_id)


# -- a fake TikTok shop ------------------------------------------------------------------------------------------


def make_tokens(now: datetime = T0, days: int = 365) -> TokenSet:
    return TokenSet("access", now + timedelta(hours=4), "refresh", now + timedelta(days=days), "Seller")


def make_shop(merchant_id: str = "m1", now: datetime = T0, tiktok_shop_id: str = "7001") -> Shop:
    granted = AuthorizedShop(tiktok_shop_id, "TikTok Shop", "US", "LOCAL", f"cipher-{tiktok_shop_id}")
    return Shop.connect(merchant_id, "My shop", Region.US, granted, make_tokens(now), now)


def make_product(index: int, version: int = 1) -> Product:
    sku = Sku(f"sku-{index}", f"S{index}", Money(Decimal("9.90"), "USD"), (WarehouseStock("w1", index + version),))
    created = T0 - timedelta(days=200) + timedelta(minutes=index)
    return Product(f"p{index:05d}", f"Product {index}", "ACTIVATE", created, created + timedelta(days=version), (sku,))


def make_order(index: int, created_at: datetime) -> Order:
    item = LineItem(f"li-{index}", f"sku-{index % 7}", "p1", None, "Thing", 1, Money(Decimal("5.00"), "USD"))
    return Order(f"o{index:06d}", "COMPLETED", created_at, created_at, Money(Decimal("5.00"), "USD"), (item,))


class FakeShopApi:
    """Products and orders served page by page, with faults to script: fail a call, lose the authorization.

    `fail_on_call`: the n-th request (1-based) raises `error`; `bad_products`/`bad_orders`: ids served as a
    RecordFailure instead of the record. Page tokens are offsets into the (sorted) query result.
    """

    def __init__(self, products: list[Product], orders: list[Order]) -> None:
        self.products = products
        self.orders = sorted(orders, key=lambda o: (o.created_at, o.tiktok_order_id))
        self.calls = 0
        self.failures: dict[int, Exception] = {}
        self.bad_ids: set[str] = set()
        self.on_call: Callable[[int], Awaitable[None]] | None = None
        self.refreshed_tokens: TokenSet | None = None
        self.on_tokens_refreshed: ShopTokens | None = None
        self.sessions: list[TokenSet] = []  # the tokens each session was built with, in order
        self.repeat_page_token = False  # answer a page_token with that same token: a cursor that never advances

    async def _request(self) -> None:
        await asyncio.sleep(0)  # a real request lets the writer run meanwhile
        self.calls += 1
        if self.on_call is not None:
            await self.on_call(self.calls)
        error = self.failures.pop(self.calls, None)
        if error is not None:
            raise error
        if self.refreshed_tokens is not None and self.on_tokens_refreshed is not None and self.calls == 1:
            await self.on_tokens_refreshed.refreshed(self.refreshed_tokens)

    def _item(self, record: Product | Order, tiktok_id: str) -> Product | Order | RecordFailure:
        return RecordFailure(tiktok_id, "unmappable") if tiktok_id in self.bad_ids else record

    async def scan_products(
        self, checkpoint: dict[str, Any] | None, page_size: int = 100
    ) -> AsyncIterator[ProductScan]:
        offset = int((checkpoint or {}).get("offset", 0))
        while offset < len(self.products):
            await self._request()
            batch = self.products[offset : offset + page_size]
            offset += len(batch)
            more = offset < len(self.products)
            items = [self._item(p, p.tiktok_product_id) for p in batch]
            page: Page[Product] = Page(items, str(offset) if more else None, len(self.products))
            yield ProductScan(page, {"offset": offset}, len(self.products))

    async def search_orders(
        self, *, page_size: int, page_token: str | None, create_time_ge: int, create_time_lt: int
    ) -> Page[Order]:
        await self._request()
        matching = [o for o in self.orders if create_time_ge <= o.created_at.timestamp() < create_time_lt]
        offset = int(page_token or 0)
        batch = matching[offset : offset + page_size]
        nxt = offset + len(batch)
        items = [self._item(o, o.tiktok_order_id) for o in batch]
        if self.repeat_page_token and page_token and nxt < len(matching):
            return Page(items, page_token, len(matching))
        return Page(items, str(nxt) if nxt < len(matching) else None, len(matching))

    async def search_updated_orders(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_lt: int
    ) -> Page[Order]:
        await self._request()
        by_update = sorted(self.orders, key=lambda o: (o.updated_at, o.tiktok_order_id))
        matching = [o for o in by_update if update_time_ge <= o.updated_at.timestamp() < update_time_lt]
        offset = int(page_token or 0)
        batch = matching[offset : offset + page_size]
        nxt = offset + len(batch)
        items = [self._item(o, o.tiktok_order_id) for o in batch]
        return Page(items, str(nxt) if nxt < len(matching) else None, len(matching))

    async def scan_updated_products(
        self, update_time_ge: int, update_time_le: int, checkpoint: dict[str, Any] | None, page_size: int = 100
    ) -> AsyncIterator[ProductScan]:
        matching = [p for p in self.products if update_time_ge <= p.updated_at.timestamp() <= update_time_le]
        offset = int((checkpoint or {}).get("offset", 0))
        while True:
            await self._request()
            batch = matching[offset : offset + page_size]
            offset += len(batch)
            more = offset < len(matching)
            items = [self._item(p, p.tiktok_product_id) for p in batch]
            yield ProductScan(Page(items, str(offset) if more else None, len(matching)), {"offset": offset}, None)
            if not more:
                return

    def factory(self, shop: Shop, on_tokens_refreshed: ShopTokens) -> FakeShopApi:
        self.on_tokens_refreshed = on_tokens_refreshed
        self.sessions.append(shop.tokens)
        return self


class FakeTikTokAuth:
    """TikTok's OAuth as the services see it: a consent URL, codes that map to grants, and outages on demand."""

    def __init__(self) -> None:
        self.grants: dict[str, tuple[TokenSet, list[AuthorizedShop]]] = {}
        self.failure: Exception | None = None
        self.exchanged: list[str] = []

    def grant(self, code: str, shop: AuthorizedShop, tokens: TokenSet | None = None) -> None:
        tokens = tokens or replace(make_tokens(), access_token=f"access-{code}", refresh_token=f"refresh-{code}")
        self.grants[code] = (tokens, [shop])

    def authorization_url(self, state: str) -> str:
        return f"https://tiktok.example/authorize?service_id=1&state={state}"

    async def exchange_code(self, code: str) -> TokenSet:
        self.exchanged.append(code)
        if self.failure is not None:
            raise self.failure
        if code not in self.grants:  # as TikTok: an unknown, used or expired code refuses the authorization
            raise AuthorizationLostError("TikTok refused the authorization code")
        return self.grants[code][0]

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]:
        for tokens, shops in self.grants.values():
            if tokens.access_token == access_token:
                return shops
        raise AssertionError("unknown access token")


class FakeRefreshApi:
    """Get Order Detail, Get Product and the Event API over fixed records, recording every call.

    `error`: raised by every call while set (TikTok unavailable, authorization lost...).
    """

    def __init__(self, orders: list[Order], products: list[Product]) -> None:
        self.orders = {o.tiktok_order_id: o for o in orders}
        self.products = {p.tiktok_product_id: p for p in products}
        self.order_calls: list[list[str]] = []
        self.product_calls: list[str] = []
        self.listed: dict[str, Product] = {}  # products only Search Products lists (FREEZE, DELETED), by id
        self.searches: list[ProductSearch] = []
        self.search_error: Exception | None = None  # raised by Search Products alone while set
        self.registrations: list[tuple[str, str]] = []
        self.error: Exception | None = None
        self.refreshed_tokens: TokenSet | None = None  # set: the next call refreshes the pair first (105002)
        self._on_tokens_refreshed: ShopTokens | None = None

    async def _maybe_refresh(self) -> None:
        tokens, self.refreshed_tokens = self.refreshed_tokens, None
        if tokens is not None and self._on_tokens_refreshed is not None:
            await self._on_tokens_refreshed.refreshed(tokens)

    async def get_orders(self, ids: Iterable[str]) -> list[Order | RecordFailure]:
        ids = list(ids)
        assert 1 <= len(ids) <= 50, ids
        self.order_calls.append(ids)
        await self._maybe_refresh()
        if self.error is not None:
            raise self.error
        found = [self.orders[i] for i in ids if i in self.orders]
        if not found:  # as TikTok: the ids of other shops are left out, and none at all is 21008111
            raise RecordNotFoundError("TikTok refused the request (21008111): order not found")
        return found

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        self.product_calls.append(product_id)
        await self._maybe_refresh()
        if self.error is not None:
            raise self.error
        if product_id not in self.products:
            raise RecordNotFoundError("TikTok refused the request (12052048): product not found")
        return self.products[product_id]

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[Product]:
        """Search Products over `listed` (TikTok's products of every status, FREEZE and DELETED included: Get
        Product serves none of these), filtered as TikTok filters; one page (page tokens are offsets)."""
        self.searches.append(search)
        await self._maybe_refresh()
        error = self.error or self.search_error
        if error is not None:
            raise error
        found = found_by(search, self.listed.values())
        offset = int(page_token or 0)
        more = offset + page_size < len(found)
        return Page(found[offset : offset + page_size], str(offset + page_size) if more else None, len(found))

    async def register_webhook(self, address: str, event_type: str) -> None:
        await self._maybe_refresh()
        if self.error is not None:
            raise self.error
        self.registrations.append((address, event_type))

    def factory(self, shop: Shop, on_tokens_refreshed: ShopTokens) -> FakeRefreshApi:
        self._on_tokens_refreshed = on_tokens_refreshed
        return self
