"""What the domain needs from the outside world, one Protocol per role.

Adapters implement these (`SqlShopRepository`, `TikTokGateway`, ...); the unit tests implement fakes.
The gateway errors at the bottom are the only exceptions an adapter raises into a service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, Self, TypeVar

from domain.authorization import AuthorizationRequest
from domain.catalog import Order, Product
from domain.intake import WebhookEvent
from domain.inventory.items import Edit, InventoryItem
from domain.inventory.removal import ItemUse
from domain.inventory_push import (
    DEFAULT_HOLD_HORIZON,
    InventoryPolicy,
    LinkedSku,
    OutboxClaim,
    ProductPushOutcome,
    PushIntent,
)
from domain.polling import PollCursor
from domain.shops import AuthorizedShop, RegisteredWebhooks, Shop, ShopName, TokenSet
from domain.stock_levels import InventoryUpdateResult, SkuInventory, SkuStock, Warehouse
from domain.stored import OrderRecord, ProductRecord
from domain.sync import RecordFailure, SyncKind, SyncTask
from domain.tokens import ShopSchedule
from domain.unserved_products import KnownProduct, ProductSearch

# -- persistence ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ShopRepository(Protocol):
    """Shops by id, scoped to their merchant. `add` raises SHOP_ALREADY_CONNECTED when the TikTok shop is taken;
    `add` and `update` raise `ShopNameRaceLostError` when another of the merchant's shops took the name meanwhile."""

    async def add(self, shop: Shop) -> None: ...
    async def get(self, shop_id: str, merchant_id: str | None = None, *, for_delete: bool = False) -> Shop | None: ...
    async def hold(self, shop_id: str, *, unless_being_deleted: bool = False) -> bool:
        """Whether the shop exists, held until commit against its delete only (PostgreSQL `FOR KEY SHARE`): a
        writer of the shop's rows that does not change the shop itself (an import's batch) lets the shop's own
        updates (a rename, a token refresh) through, where `get` holds the shop against them too.

        `unless_being_deleted`: never wait; False at once when a delete holds the shop or waits to take it
        (`get(for_delete=True)`: PostgreSQL, its mark not free, or the row skipped `SKIP LOCKED`), as when it is
        gone, with nothing of the shop held then. SQLite: its writer is alone already, nothing to skip."""
        ...

    async def hold_unless_deleting(self, shop_id: str) -> bool:
        """`hold`, never waiting for the shop's delete: True held, False gone; raises `ShopBeingDeletedError` while
        a delete holds the shop or waits to take it (an import's batch hands its run back then rather than wait
        with its worker thread for the delete's end, or, granted beside the delete's waiting lock, delay it).
        Held, the shop cannot be taken by a delete until this unit of work ends. SQLite: `hold` (the delete holds
        the one write lock: this transaction began after it, and its shop is gone or kept then)."""
        ...

    async def get_by_tiktok_shop_id(self, tiktok_shop_id: str) -> Shop | None: ...
    async def holder_of_name(self, merchant_id: str, name: str, *, other_than: str | None = None) -> ShopName | None:
        """The merchant's shop, other than `other_than`, whose name folds as `name` does (`domain.shops.shop_name_key`:
        trimmed, NFC, casefolded), or None; as committed (a concurrent writer's is not seen: the unique index on
        (merchant_id, name_key) is the last guard, `ShopNameRaceLostError`)."""
        ...

    async def update(self, shop: Shop) -> None: ...
    async def delete(self, shop_id: str) -> bool:
        """Remove the shop and every row of it (tokens, products, SKUs, orders, line items, sync tasks)."""
        ...

    async def schedules(self, now: datetime) -> list[ShopSchedule]:
        """Every shop that may sync at `now` (`domain.sync.ensure_shop_can_sync`: not revoked, not expired, tokens
        readable), as the scheduler sees it (no tokens), in id order."""
        ...

    async def awaiting_webhook_registration(
        self, authorized_before: datetime, *, now: datetime, failed_too: bool, limit: int
    ) -> list[str]:
        """Ids of shops neither revoked nor expired at `now`, authorized before `authorized_before`, whose webhook
        registration never succeeded: none recorded at all, or (`failed_too`) one whose last attempt failed. At most
        `limit`."""
        ...

    async def registered_elsewhere(
        self, address: str, *, now: datetime, after: RegisteredWebhooks | None = None, limit: int
    ) -> list[RegisteredWebhooks]:
        """Shops neither revoked nor expired at `now` whose webhooks were registered, with another address than
        `address` or an unknown one (registered before addresses were kept), by registration time then id, after
        `after`, each saying whether a configured key decrypts its tokens (`RegisteredWebhooks.tokens_readable`).
        At most `limit`."""
        ...

    async def claim_token_refresh(self, shop_id: str, now: datetime, stale_before: datetime) -> bool:
        """Mark the shop's token refresh as taken, unless someone took it after `stale_before`: one refresh per
        shop across processes. True when this caller has it."""
        ...


class AuthorizationRequestRepository(Protocol):
    """Pending OAuth requests keyed by the digest of their state."""

    async def add(self, request: AuthorizationRequest) -> None: ...
    async def get(self, state_digest: str) -> AuthorizationRequest | None: ...
    async def unexpired_expiries(
        self, merchant_id: str, now: datetime, limit: int, *, completed: bool = True
    ) -> list[datetime]:
        """The expiry times (UTC) of the merchant's requests not expired at `now`, used or not (`AuthorizationRequest.
        unexpired`), those completed (`completed_at` set) only with `completed`, newest first, at most `limit`: what
        `domain.authorization.check_room` bounds."""
        ...

    async def mark_completed(self, state_digest: str, now: datetime, shop_id: str) -> None:
        """Record that the request's completion connected or renewed the shop `shop_id` at `now` (`completed_at`,
        `completed_shop_id`), in the transaction that did: its start no longer counts toward the merchant's limit,
        and a repeat of the completion is answered with that shop (`AuthorizationRequest.completed_for`)."""
        ...

    async def mark_used(self, request: AuthorizationRequest) -> bool:
        """Record `used_at` only if nobody used it first; False when a concurrent completion won."""
        ...

    async def delete_expired(self, expired_before: datetime, limit: int) -> int:
        """Delete at most `limit` requests that expired before the given time (used or not), soonest expired first;
        returns how many (`AuthorizationRequest.may_be_pruned`)."""
        ...


class SyncTaskRepository(Protocol):
    """Sync tasks. `add` raises SYNC_ALREADY_RUNNING when the shop has an active task of that kind."""

    async def add(self, task: SyncTask) -> None: ...
    async def get(
        self, task_id: str, merchant_id: str | None = None, *, unless_locked: bool = False
    ) -> SyncTask | None:
        """The task, held until commit against other writers of it; None when there is none. `unless_locked`:
        never wait, None too while another transaction holds its row (PostgreSQL `SKIP LOCKED`: a shop's delete
        holds its tasks' rows for its whole transaction)."""
        ...

    async def active(self, shop_id: str, kind: SyncKind) -> SyncTask | None: ...
    async def active_kinds(self) -> set[tuple[str, SyncKind]]:
        """The (shop id, kind) of every QUEUED or RUNNING task, unlocked: what a poll would be skipped for."""
        ...

    async def update(self, task: SyncTask) -> bool:
        """Save the task; False when its row is gone (the shop was deleted meanwhile)."""
        ...

    async def list_resumable(self, heartbeat_before: datetime) -> list[SyncTask]:
        """QUEUED or RUNNING tasks whose last heartbeat (or creation) is older than the given time."""
        ...

    async def cancel_active_for_shop(self, shop_id: str, now: datetime) -> list[SyncTask]: ...

    async def mark_unsent(self, task_ids: Sequence[str]) -> int:
        """Mark those of the tasks still QUEUED `unsent` (their message could not be sent); returns how many."""
        ...

    async def list_unsent(self, limit: int) -> list[str]:
        """The ids of at most `limit` QUEUED tasks marked `unsent`, oldest first."""
        ...

    async def claim_unsent(self, task_id: str, now: datetime) -> bool:
        """Take the task's send: if it is QUEUED and `unsent`, clear the mark and touch it (`heartbeat_at` = `now`)
        in one conditional write; True for the one caller that did, whatever the number of processes asking."""
        ...

    async def last_succeeded(self, shop_id: str, kind: SyncKind, *, scheduled: bool) -> SyncTask | None:
        """The latest SUCCEEDED task of the shop and kind: polls (`scheduled`) or imports (not)."""
        ...

    async def latest_import(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
        """The shop's newest task of `kind` by creation that is not a poll (trigger AUTHORIZATION, MANUAL or
        REAUTHORIZATION), any status; None when it has none: what a re-authorization and a poll's success ask
        `domain.sync.rerun_after_reauthorization` and `rerun_after_poll`."""
        ...

    async def manual_started_since(self, shop_id: str, kind: SyncKind, since: datetime, limit: int) -> list[datetime]:
        """The creation times (UTC) of the shop's MANUAL tasks of `kind` created after `since`, any status, newest
        first, at most `limit`: what `domain.sync.check_manual_starts` bounds."""
        ...

    async def fold_empty_polls(self, shop_id: str, kind: SyncKind, keep: int) -> int:
        """Delete the shop's finished SCHEDULED tasks of `kind` that found nothing, but the newest `keep`."""
        ...

    async def delete_finished(self, finished_before: datetime, limit: int) -> int:
        """Delete at most `limit` tasks that `SyncTask.may_be_pruned` allows (finished before the given time and
        superseded by a newer task of their shop, kind and role), soonest finished first; returns how many. Never
        a QUEUED or RUNNING one."""
        ...


class PollCursorRepository(Protocol):
    """Each shop's and kind's polling state (`domain.polling.PollCursor`); rows go with their shop."""

    async def get(self, shop_id: str, kind: SyncKind) -> PollCursor | None:
        """The cursor, locked for this unit of work (a poll start and the scheduler serialise on it)."""
        ...

    async def list_all(self) -> list[PollCursor]: ...
    async def save(self, cursor: PollCursor, now: datetime) -> None:
        """Insert or update; `cursor_at` never moves back, whatever is given."""
        ...

    async def make_due(self, shop_id: str) -> None:
        """Every kind's poll of the shop due at the scheduler's next tick (`scheduled_at` forgotten; the cursor kept,
        so the poll starts where the stored changes end). A shop with no cursor yet is due anyway."""
        ...


class CatalogRepository(Protocol):
    """Products (with SKUs) and orders (with line items) of a shop, upserted by TikTok's ids."""

    async def upsert_products(self, shop_id: str, products: Sequence[ProductRecord]) -> UpsertCounts:
        """Store the products (a newer version wins); each one given clears its unreadable mark (`mark_unreadable`)."""
        ...

    async def upsert_orders(self, shop_id: str, orders: Sequence[OrderRecord]) -> UpsertCounts:
        """Store the orders (a newer version wins); each one given clears its unreadable mark (`mark_unreadable`)."""
        ...

    async def mark_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> None:
        """Keep `failures` (TikTok ids of `kind` that could not be read) until a read of the same id is stored by
        `upsert_*`, TikTok says it has no such record (`clear_unreadable`) or retention forgets it
        (`forget_unreadable`): what `Shop.attention`'s RECORDS_UNREADABLE counts. Each poll reads them again by id
        (`marks_to_reread`, `note_still_unreadable`).
        Idempotent: an id already marked keeps its first reason and time. At most `domain.sync.MAX_UNREADABLE_RECORDS`
        per shop and kind; further ids are dropped."""
        ...

    async def forget_unreadable(self, failed_before: datetime, limit: int) -> int:
        """Delete at most `limit` unreadable marks (any shop) whose first failure is before `failed_before`, soonest
        failed first; returns how many (retention: `domain.services.retention.UNREADABLE_RECORDS`)."""
        ...

    async def marks_to_reread(self, shop_id: str, kind: SyncKind, limit: int) -> list[str]:
        """The TikTok ids of at most `limit` of the shop's marks of `kind` to read again by id
        (`domain.services.rereads`): those never read again first, then the longest ago read again, then the
        earliest failed; so that marks still unreadable take turns instead of hiding the others. Never the mark of
        records without an id (`domain.sync.UNKNOWN_RECORD_ID`): a read by id cannot ask for it (in a Get Order
        Detail batch it would fail the whole call); it waits for retention."""
        ...

    async def note_still_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> list[str]:
        """A read by id failed these ids again: each one still marked takes the new reason and `now` as the time it
        was last read again (its first failure's time is kept: retention counts from it); an id no longer marked
        stays so. Returns, sorted, the ids read again for the first time by this call (one WARNING line each, once
        per mark): of two overlapping calls, only one returns an id."""
        ...

    async def note_reread(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str], now: datetime) -> None:
        """A read by id asked TikTok for these ids at `now` and settled none of them (TikTok refused the call, or
        listed a version older than the stored one): each one still marked takes `now` as the time it was last read
        again, so it waits its turn behind the others (`marks_to_reread`), reason kept; idempotent."""
        ...

    async def clear_unreadable(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str]) -> None:
        """Forget the marks of these ids of `kind` (TikTok says it has no such record); idempotent."""
        ...

    async def known_product(self, shop_id: str, tiktok_product_id: str) -> KnownProduct | None:
        """The product as stored for the shop, with its SKUs' seller SKUs; None when the shop has no such product."""
        ...

    async def refresh_statistics(self, kind: SyncKind) -> None:
        """Bring the query planner's statistics of `kind`'s tables up to date (a no-op where none are kept)."""
        ...

    async def recount(self, shop_id: str, kind: SyncKind) -> None:
        """Count the shop's records of `kind` again and keep that as its running count (the pages' `totalCount`, the
        shop's `productCount` / `orderCount`), waiting for the turn of that kind's writers of the shop: mends a count
        that a writer of an earlier release, which did not keep it, left behind (a rolling deploy)."""
        ...


@dataclass(frozen=True, slots=True)
class PoolChange:
    """What a write did to the inventory pool: items whose counters (or links) changed, and shops with outbox rows
    marked dirty. After commit the service enqueues `push_inventory` per shop and publishes the items' signals."""

    item_ids: frozenset[str] = frozenset()
    push_shop_ids: frozenset[str] = frozenset()
    merchant_id: str | None = None

    def __or__(self, other: PoolChange) -> PoolChange:
        return PoolChange(
            self.item_ids | other.item_ids,
            self.push_shop_ids | other.push_shop_ids,
            self.merchant_id or other.merchant_id,
        )


class InventoryRepository(Protocol):
    """The shared inventory pool (issue 8): items, links, the order ledger. Every write locks the items it touches
    in id order, changes counters arithmetically, records movements and marks the push outbox, in the caller's
    transaction."""

    async def apply_orders(
        self, shop_id: str, orders: Sequence[OrderRecord], *, none_stored: bool = False
    ) -> PoolChange:
        """Move the ledger of the orders' lines to what their statuses ask (`domain.inventory.ledger`).
        `none_stored`: the caller's catalog upsert, in this transaction, found none of `orders` stored (it created
        every one: `UpsertCounts.created`), so none has a ledger row and none is read (`inventory.store_orders`)."""
        ...

    async def auto_link(
        self, shop_id: str, tiktok_product_ids: Sequence[str], stock_read_at: Mapping[str, datetime] | None = None
    ) -> PoolChange:
        """Auto-link the SKUs of these products of the shop (`domain.inventory.links`), seeding new items.
        `stock_read_at`: by TikTok product id, when the product's stock was read (`Product.stock_read_at`), the
        instant a seed from it counts at; a product without one counts at the time of this call."""
        ...

    async def release_shop(
        self, shop_id: str, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON, *, remember: bool = True
    ) -> PoolChange:
        """Before the shop's rows are deleted, take its reservations off their items with their units
        (`domain.inventory.ledger.leaves_with_its_shop`: on-hand and reserved drop, `available` stays), and the
        units its links' holds still stand for (`domain.inventory_push.standing_units` within `hold_horizon`: sold
        unseen, never to be ingested now) off their items' on-hand (`available` drops by what the other links
        subtracted). `remember`: keep the lines it deducts and the units it takes off as sold unseen for the same
        TikTok shop connected again, which counts them back once (`domain.inventory.ledger.back_with_its_shop`,
        `back_from_unseen`); False when TikTok forgot the shop."""
        ...

    async def remove_shop_items(self, shop_id: str) -> list[str]:
        """After `release_shop`: delete the shop's links and ledger rows, and the items it leaves behind
        (the "left behind" rule of `domain.inventory.items`) with their movements; the ids of those items."""
        ...

    async def forget_deleted_lines(self, deleted_before: datetime, limit: int) -> int:
        """Delete at most `limit` records a shop's delete before `deleted_before` kept (the lines it deducted, then
        the units it took off as sold unseen), oldest first
        (`domain.inventory.ledger.deleted_line_forgotten`: no reconnect's import can match them any more); returns
        how many."""
        ...

    async def merchants_with_unexplained_holds(self, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON) -> list[str]:
        """The merchants with a record of units a shop's delete took off as sold unseen that no sale explains
        (`domain.inventory.unexplained.hold_unexplained`), by id."""
        ...

    async def give_back_unexplained_holds(
        self, merchant_id: str, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON
    ) -> tuple[PoolChange, int]:
        """Give the merchant's records no sale explains back on their items' on-hand (`CORRECTED` movements, none on
        an item counted since the delete) and delete them, each exactly once; the pool change and the units."""
        ...

    async def get_item(self, item_id: str, merchant_id: str, *, lock: bool = False) -> InventoryItem | None: ...
    async def create_item(self, item: InventoryItem) -> PoolChange:
        """Insert; `SKU_ALREADY_EXISTS` when the merchant has an item with that SKU."""
        ...

    async def create_item_from_sku(self, item: InventoryItem, sku_id: str, *, seeded: bool) -> PoolChange | None:
        """Insert `item` and link the merchant's SKU `sku_id` to it by hand, at once; None when the SKU is not the
        merchant's (its shop deleted). `seeded`: its on-hand is TikTok's stock of the SKU plus the open orders that
        stock left out (the import's seed), else `item.on_hand`. `SKU_ALREADY_EXISTS`, `SKU_LINK_CHANGED` (the SKU
        draws on an item), `SKU_NOT_LINKABLE`, `PRODUCT_DELETED`: nothing written."""
        ...

    async def edit_item(self, item: InventoryItem, edit: Edit) -> PoolChange:
        """Apply the edit's on-hand delta arithmetically to the (locked) item and record its movement; a delta of 0 (a
        count that found the on-hand the item has) records the movement alone: no counter, version or push changes."""
        ...

    async def set_safety_stock(self, item: InventoryItem, safety_stock: int) -> PoolChange: ...
    async def item_use(self, item: InventoryItem, now: datetime, hold_horizon: timedelta) -> ItemUse:
        """What still points at the (locked) item: links naming it, order lines RESERVED on it, units of its sales
        at TikTok a push holds unseen at `now` within `hold_horizon` (`domain.inventory.removal.ItemUse`)."""
        ...

    async def delete_item(self, item: InventoryItem) -> PoolChange:
        """Delete the (locked) item with its movements; ledger rows and links remembering it lose the reference, a
        deleted shop's records kept on it go with it. The caller checked `domain.inventory.removal.check_deletable`."""
        ...

    async def link_sku(
        self, merchant_id: str, sku_id: str, item_id: str | None, *, compare: bool = False,
        compare_item_id: str | None = None,
    ) -> PoolChange | None:  # fmt: skip
        """Link the merchant's SKU to the item by hand (None: unlink); None when the SKU is not the merchant's,
        `NotFoundError` when the item is not (or was removed meanwhile: the item is held before the link names it).
        `compare`: refused `SKU_LINK_CHANGED` unless the SKU draws on `compare_item_id` (None: on no item), read
        under the shop's link turn, before anything is written."""
        ...


class WebhookEventRepository(Protocol):
    """The webhook inbox: one row per notification key; rows of a deleted shop go with it."""

    async def resolve_shop(self, tiktok_shop_id: str) -> str | None:
        """The id of the shop connected with this TikTok shop id, if any (no lock taken)."""
        ...

    async def resolve_shops(self, tiktok_shop_ids: Collection[str]) -> tuple[dict[str, str], frozenset[str]]:
        """(TikTok shop id -> id of the shop connected with it, for the ids that have one and that no delete holds;
        the TikTok shop ids whose shop's delete holds it, or waits to take it). No row lock; never waits for a delete:
        PostgreSQL takes each shop's delete mark shared until the transaction ends (`adapters.db.shop_deletes`), so no
        delete takes a shop resolved here before the caller's events naming it are written (their key check would
        wait for it: break66 F3); SQLite has no mark (its delete holds the one write lock), the second set empty."""
        ...

    async def add(self, event: WebhookEvent) -> bool:
        """Store it unless its notification key is already stored (then False, nothing written)."""
        ...

    async def add_many(self, events: Sequence[WebhookEvent]) -> set[str]:
        """Store each event whose notification key is not stored yet, in one statement; returns the keys written.
        The events' keys must be distinct (the caller keeps the first of a repeated key)."""
        ...

    async def release_keys(self, keys: Collection[str], received_before: datetime) -> int:
        """Each stored event among `keys` received before `received_before` gives up its notification key for
        `domain.intake.released_key` of its id (the row is otherwise unchanged); a push with that key is then
        stored as a new event. Returns how many were released."""
        ...

    async def pending(self, shop_id: str, limit: int) -> list[WebhookEvent]:
        """The shop's PENDING events, oldest first."""
        ...

    async def get(self, event_id: str, merchant_id: str | None = None) -> WebhookEvent | None: ...
    async def save(self, events: Sequence[WebhookEvent]) -> None:
        """Write back outcome, attempts, processing time and error of each event."""
        ...

    async def note_webhook_received(self, shop_id: str, at: datetime) -> None:
        """Move the shop's `last_webhook_at` forward to `at` (never back)."""
        ...

    async def replay_failed(self, shop_id: str, code: str) -> int:
        """Make the shop's FAILED events whose `error_code` is `code` PENDING again, as `WebhookEvent.replay` does
        (error and processing time cleared, attempts kept), in one statement; returns how many."""
        ...

    async def shops_with_pending(
        self, received_before: datetime, limit: int, *, received_after: datetime | None = None, unread: bool = False
    ) -> list[str]:
        """Ids of shops with PENDING events received before the given time (their message may have been lost), and
        after `received_after` if given; `unread`: only events no run has read yet (`attempts` 0)."""
        ...

    async def delete_settled(self, received_before: datetime, limit: int) -> int:
        """Delete at most `limit` settled (not PENDING) events received before the given time, oldest first;
        returns how many. Never a PENDING one: that is work still to do."""
        ...


class InventoryPushRepository(Protocol):
    """The push side of the pool: shop policies, the push outbox (claims with leases) and the links' push state."""

    async def policy(self, shop_id: str) -> InventoryPolicy:
        """The shop's policy; the defaults when it has none stored."""
        ...

    async def save_policy(self, shop_id: str, policy: InventoryPolicy, now: datetime) -> None: ...

    async def request_rebase(self, shop_id: str, now: datetime) -> None:
        """Mark the shop's push fence for a re-base (`domain.services.inventory_push.rebase_fence`), pending since
        `now` (UTC; a row with the default policy is made when the shop has none): push turned on, or the shop
        re-authorized after its pushes could not run. Replaces one pending already (the later one is done)."""
        ...

    async def rebase_pending(self, shop_id: str) -> datetime | None:
        """Since when the shop's fence waits to be re-based (UTC), None when it does not (a read, no lock)."""
        ...

    async def links_to_rebase(self, shop_id: str) -> list[tuple[str, str, int | None]]:
        """The shop's LINKED links as (Shopbridge SKU id, TikTok SKU id, the quantity its last push recorded, None when
        none is), by SKU id: those a re-base reads."""
        ...

    async def rebase_links(
        self, shop_id: str, pending_since: datetime, readings: Mapping[str, int], read_at: datetime, now: datetime
    ) -> frozenset[str] | None:
        """The re-base itself, in the caller's transaction: clear the shop's pending re-base if it is still the one
        pending since `pending_since`, and give each LINKED link of `readings` (Shopbridge SKU id -> TikTok's
        available read at `read_at`, before the orders read) that reading as its last push (`pushedQuantity`,
        `pushed_at` and its landing at `read_at`) with the ledger's running counts of now (`ingested_at_push`,
        `released_at_push`: the orders read is stored), nothing held, restored or in flight, and `read_at` as its
        baseline's read (`baseline_read_at`: an order made before it that the orders read missed, TikTok's search
        index lagging, counts when ingested as seen before the baseline, `ledger._counted_before_push`, not as a
        sale since, which would hide an unseen one). Returns the items whose
        other links subtracted a hold of these links (`LinkedSku.hold_items` of the links that held units), for the
        caller to mark due; None (nothing written) when that re-base is no longer pending (another run did it, or
        push went off and on again since: the newer one is pending)."""
        ...

    async def claim_due(
        self, shop_id: str, holder: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxClaim]:
        """Take up to `limit` of the shop's dirty rows (dirty_version > pushed_version) that are due and not held
        by another worker (no lease, or an expired one), leased to `holder` until `now + lease`. A row of a product
        stored in a status other than ACTIVATE is never due (TikTok refuses its stock: `domain.stored.
        ACTIVE_PRODUCT_STATUS`); it stays dirty until the product is ACTIVATE again. PostgreSQL skips rows locked by a
        concurrent claim (FOR UPDATE SKIP LOCKED); SQLite's single writer serialises claims."""
        ...

    async def has_due(self, shop_id: str, now: datetime) -> bool:
        """Whether `claim_due` would find a row now (a read, no lock)."""
        ...

    async def next_due(self, shop_id: str, now: datetime, holder: str) -> datetime | None:
        """When the first of the shop's dirty rows that `claim_due` cannot take at `now` becomes claimable (UTC): the
        later of its `next_attempt_at` (a failed push's backoff, a hold's end: `push_again_at`) and the end of its
        lease (another worker's claim, or a dead one's, running out). Rows `holder` holds are left out (this
        process's run under way claims them again itself), and so are rows of a product not ACTIVATE (`claim_due`:
        they wait for its status, not a time); None: no such row (a read, no lock)."""
        ...

    async def renew_claims(self, shop_id: str, holder: str, now: datetime, lease: timedelta) -> int:
        """Extend to `now + lease` the leases `holder` still holds on the shop's rows (not those that ran out:
        another worker may have claimed them since); returns how many. A live push renews its claims, so a lease can
        be short and a killed process's claims keep other workers off its rows only that long."""
        ...

    async def linked_skus(
        self, shop_id: str, tiktok_product_id: str, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        """The product's LINKED SKUs with their items' current counters and their warehouses, and the units the
        other links that hold for each item (`domain.inventory.links.holds_for`: LINKED, DROPPED or EXCLUDED by a
        push naming it, or left by an import or by the merchant's recorded unlink remembering it) hold back
        (`LinkedSku.held_elsewhere`: `standing_hold` summed, of holds begun at or after `holds_since`, i.e. now less
        the horizon; None: not read, 0) and since when the earliest of them (`held_elsewhere_since`, UTC; None when
        none stands), read with the counters."""
        ...

    async def linked_skus_of(
        self, shop_id: str, tiktok_product_ids: Sequence[str], *, holds_since: datetime | None = None
    ) -> dict[str, list[LinkedSku]]:
        """`linked_skus` of many products of the shop at once (one statement per 900 ids, not one per product):
        every asked id is a key, in the order asked (duplicates once), `[]` for a product with no LINKED SKU."""
        ...

    async def holds_claim(self, claim: OutboxClaim, holder: str) -> bool:
        """Whether `holder` still holds `claim`'s row (its lease may have run out, as long as nobody took it since);
        a read, no lock."""
        ...

    async def leave_claim(self, claim: OutboxClaim, holder: str) -> bool:
        """Give the claim back as if it had never been taken: only its lease is cleared (dirty_version,
        pushed_version, attempts, next_attempt_at and last_error as they were). For a product found not on sale
        after the claim (Update Inventory's 12052901 / 12052048, its status stored since): its row waits, dirty,
        as a claim skipping it leaves it. False when `holder` no longer held the row (nothing written)."""
        ...

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
        """Release the claim: `pushed` sets pushed_version to the claimed dirty_version (never lower) and resets
        attempts, else attempts + 1 and `next_attempt_at`. False when `holder` no longer held the row (its lease
        ran out and another worker took it): the row is then marked dirty again, so the newest value is sent last."""
        ...

    async def ingested_since(self, shop_id: str, since: Mapping[str, datetime]) -> dict[str, int]:
        """Per TikTok SKU id: units of the shop's order lines the ledger reserved or deducted after the given time
        (the sales Shopbridge has applied since that SKU's last push); every SKU of `since` is a key (0: none). Only
        for links last pushed before pushes kept the ledger's count (`LinkedSku.ingested_at_push`)."""
        ...

    async def ledger_counts(self, shop_id: str, tiktok_sku_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        """Per TikTok SKU id asked: the shop's running units of its ledger lines now, (RESERVED or DEDUCTED, RELEASED)
        (`LinkedSku.ingested`, `LinkedSku.released`; (0, 0) when none). A fenced push compares them, right before
        it commits its intents, with those it read with its targets: an order batch applied between the two was
        ingested while the push's TikTok reading stood, and the push reads again (`inventory_push._intend`)."""
        ...

    async def record_intents(
        self, shop_id: str, intents: Mapping[str, PushIntent], applied: Mapping[str, PushIntent]
    ) -> None:
        """Before a fenced Update Inventory, per Shopbridge SKU id: what it sends (`LinkedSku.intent`, replacing one
        left before), and for the links whose earlier intent this push took as applied (`settled`), that intent
        recorded as their last push. `record_link_results` clears the intents it records or refuses."""
        ...

    async def hold_links(self, shop_id: str, sku_ids: Collection[str]) -> None:
        """Hold the shop's links of `sku_ids` (Shopbridge SKU ids) until commit, all at once in the order every writer
        of links takes them (PostgreSQL; SQLite's writer is alone already): before recording several products'
        results in one transaction, whose links `record_link_results` takes product after product."""
        ...

    async def record_link_results(self, shop_id: str, outcome: ProductPushOutcome, now: datetime) -> None:
        """Pushed quantities (errors cleared), with what was held back and the ledger's count read with the targets
        (`ProductPushOutcome.ingested`), and per-SKU errors on the links; EXCLUDE errors set state EXCLUDED. A pushed
        link's first-push baseline goes (`LinkedSku.seeded_available`: the push's is its baseline from then on)."""
        ...

    async def replace_warehouses(self, shop_id: str, tiktok_sku_id: str, warehouse_ids: Sequence[str]) -> None:
        """The SKU's assigned warehouses as TikTok now reports them (after a warehouse error)."""
        ...

    async def mark_dirty(self, shop_id: str, tiktok_product_ids: Sequence[str], now: datetime) -> None:
        """dirty_version + 1 for each product (rows created as needed), due now."""
        ...

    async def mark_item_links_dirty(
        self, inventory_item_ids: Sequence[str], now: datetime, pushing: tuple[str, str]
    ) -> list[str]:
        """`mark_dirty` for every (shop, product) with a LINKED SKU of the items, as a change of their counters
        does, but the row `pushing` (shop id, TikTok product id), which the caller's push finishes: it is locked with
        the others, in their order, and left as it is. Returns the shops marked, sorted."""
        ...

    async def hold_push_rows(self, rows: Collection[tuple[str, str]], inventory_item_ids: Collection[str]) -> None:
        """Hold until commit the outbox rows `rows` ((shop id, TikTok product id)) and those `mark_item_links_dirty`
        would mark for `inventory_item_ids`, all at once in (shop, product) order, the order of every writer of
        several rows (PostgreSQL; SQLite's writer is alone already): before finishing several claims in one
        transaction, whose `mark_item_links_dirty` and `finish_claim` go product after product."""
        ...

    async def push_again_at(self, shop_id: str, tiktok_product_id: str, at: datetime) -> None:
        """dirty_version + 1, due at `at`, for a pushed, unclaimed row (a push whose holds end then: `hold_ends`);
        a row already dirty (due sooner) or claimed, or absent, is left as it is."""
        ...

    async def linked_products(self, shop_id: str) -> list[str]:
        """TikTok product ids of the shop with at least one LINKED SKU."""
        ...

    async def shops_due(self, now: datetime, limit: int) -> list[str]:
        """Shops (that may sync at `now`, as `ShopRepository.schedules`; push enabled) with a dirty row due now and
        not held: their message may be lost."""
        ...

    async def shops_to_reconcile(self, observed_before: datetime, limit: int, *, now: datetime) -> list[str]:
        """Shops (that may sync at `now`, as `ShopRepository.schedules`; push enabled) with LINKED SKUs none of which
        was observed since `observed_before`."""
        ...

    async def reconcile_candidates(
        self, shop_id: str, now: datetime, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        """The shop's LINKED SKUs of products with no pending push (clean outbox row, or one only scheduled at its
        holds' end: `push_again_at`), for a reconcile, with `held_elsewhere` as `linked_skus` reads it."""
        ...

    async def hold_link_turn(self, shop_id: str) -> None:
        """Wait for the shop's link changes under way (an import's page, `link_sku`) and keep new ones out until
        commit: the shop's link turn, shared (`writer.hold_shop_links`; PostgreSQL, SQLite's writer is alone
        already). A reconcile takes it after the shop (`ShopRepository.hold`) and before reading its candidates, so
        it compares TikTok's stock with links no change rewrites meanwhile."""
        ...

    async def record_observed(
        self, shop_id: str, observed: Mapping[str, int], drifted: Sequence[str], now: datetime
    ) -> None:
        """TikTok's available per SKU id (observed_quantity / observed_at); drift_count + 1 for `drifted`."""
        ...


class QueueUnavailableError(Exception):
    """The queue's broker cannot be reached, so nothing was sent; raised by `TaskQueue` and `ScheduledWork`. An
    outage, logged in one line: each caller's work is sent again by a sweep or the next tick."""


OutageRule = Callable[[BaseException], str | None]
_OUTAGE_RULES: list[OutageRule] = []


def register_outage(rule: OutageRule) -> None:
    """Teach `traced` and `failure` an adapter's own outages: `rule(error)` is the outage in one short line (no
    secret), or None when `error` is not one of its outages. The database adapter registers its rule where its unit
    of work factory is built (`adapters.db.uow.uow_factory`, with `adapters.db.outage.unavailable` / `describe`):
    the domain cannot import it. Registering the same rule again is a no-op."""
    if rule not in _OUTAGE_RULES:
        _OUTAGE_RULES.append(rule)


ConflictRule = Callable[[BaseException], str | None]
_CONFLICT_RULES: list[ConflictRule] = []


def register_conflict(rule: ConflictRule) -> None:
    """Teach `conflict` an adapter's transaction conflicts: `rule(error)` is the code of a transaction the database
    aborted so that another could go on (PostgreSQL's SQLSTATE: `40P01` deadlock detected, `40001` serialization
    failure), nothing of it kept, or None. The database adapter registers its rule where its unit of work factory is
    built (`adapters.db.uow.uow_factory`, with `adapters.db.errors.transaction_conflict`). Registering the same rule
    again is a no-op."""
    if rule not in _CONFLICT_RULES:
        _CONFLICT_RULES.append(rule)


def conflict(error: BaseException) -> str | None:
    """The code of the transaction conflict `error` is (`register_conflict`), or None: not one."""
    for rule in _CONFLICT_RULES:
        code = rule(error)
        if code is not None:
            return code
    return None


def _registered_outage(error: BaseException) -> str | None:
    for rule in _OUTAGE_RULES:
        line = rule(error)
        if line is not None:
            return line
    return None


def traced(error: BaseException) -> bool:
    """Whether a failure's log line deserves its traceback: not an outage of a service we call, which retrying
    outlasts and which is not a bug: `QueueUnavailableError` (the broker), `TikTokUnavailableError` (TikTok's
    5xx, 429, timeouts, dropped connections, malformed answers, past the client's own retries), or an outage an
    adapter registered (`register_outage`): the database down, restarting, read-only or full
    (`adapters.db.outage.unavailable`). The worker uses both rules (`workers.outages`). README, Logs: an outage
    costs one line."""
    if isinstance(error, (QueueUnavailableError, TikTokUnavailableError)):
        return False
    return _registered_outage(error) is None


def failure(error: BaseException) -> str:
    """`error` for a log line, in one line: a registered outage as its adapter names it, prefixed `the database is
    unavailable` for the database's (e.g. `the database is unavailable (ConnectionRefusedError: [Errno 111]
    Connection refused)`); anything else as its class and the first line of its message (a driver's error carries
    its SQL on further lines; the traceback `traced` asks for has the rest)."""
    outage = _registered_outage(error)
    if outage is not None:
        return outage
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")


class ShopGoneError(Exception):
    """A write referenced a shop that no longer exists (deleted meanwhile); raised by repositories."""


class ShopBeingDeletedError(Exception):
    """The shop's delete holds the shop, or waits to take it (`ShopRepository.hold_unless_deleting`): the unit of
    work is rolled back, nothing of it written; `shop_id` names the shop."""

    def __init__(self, shop_id: str) -> None:
        super().__init__(f"shop {shop_id} is being deleted")
        self.shop_id = shop_id


class ConcurrentUpdateError(Exception):
    """A repository's optimistic version check failed: the row changed (or went) since it was read; reload it."""


class ShopNameRaceLostError(Exception):
    """A shop's write lost the race for its name (`ShopRepository.add`, `update`): another of the merchant's shops took
    a name that folds alike in a transaction committed after this one's `holder_of_name` looked (PostgreSQL's unique
    index on (merchant_id, name_key) made this write wait for it, then refused it; SQLite's single writer never gets
    here). The unit of work is spoilt: run it again, and its check then finds the winner."""


class UnitOfWork(Protocol):
    """One transaction over every repository. Nothing is written until `commit`; `after_commit` runs then."""

    # Read-only properties, not attributes: a Protocol attribute is invariant, so an adapter declaring
    # `shops: SqlShopRepository` would not match; a property lets it be any implementation of the port.
    @property
    def shops(self) -> ShopRepository: ...
    @property
    def authorizations(self) -> AuthorizationRequestRepository: ...
    @property
    def sync_tasks(self) -> SyncTaskRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def poll_cursors(self) -> PollCursorRepository: ...
    @property
    def webhook_events(self) -> WebhookEventRepository: ...
    @property
    def inventory_push(self) -> InventoryPushRepository: ...
    @property
    def inventory(self) -> InventoryRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once the transaction has committed; dropped on rollback."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


# -- outside services ----------------------------------------------------------------------------------------


class TaskQueue(Protocol):
    """Hands sync tasks to workers. Called only after the task's row is committed."""

    async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
        """Run sync task `task_id`. `after_webhook_registration`: its shop's webhook registration is queued with it
        (a new shop's imports): it begins once that has ended, registered or failed (README "Registering the address
        with TikTok"), within a bound."""
        ...

    async def enqueue_webhook_events(self, shop_id: str) -> None:
        """Process the shop's pending webhook events (idempotent: nothing pending is a no-op). May be coalesced with
        a message of the shop that is queued and not started yet (its run reads every event pending when it starts):
        a loop of `webhookEventReplay` leaves one message per shop in the queue, not one per call."""
        ...

    async def enqueue_webhook_registration(self, shop_id: str) -> None:
        """Register Shopbridge's webhook address for the shop with TikTok's Event API."""
        ...

    async def enqueue_inventory_push(self, shop_id: str) -> None:
        """Push the shop's dirty outbox rows (`inventory_push_outbox`) to TikTok: one Update Inventory per product,
        targets computed when sent (live-sync.md §7.3). Idempotent: nothing dirty is a no-op. May be coalesced
        with a push of the shop that is queued and not started yet (it reads every row due when it starts)."""
        ...

    async def enqueue_inventory_push_later(self, shop_id: str, delay_ms: int) -> bool:
        """Push the shop's outbox rows `delay_ms` (milliseconds) from now, when a row none could claim yet becomes
        due (`PushReport.due_at`); never coalesced with a queued push, and not sent again while one is due by then.
        True if sent. Raises `QueueUnavailableError` when the queue cannot take it."""
        ...

    async def enqueue_inventory_reconcile(self, shop_id: str) -> None:
        """Compare TikTok's stock of the shop's linked SKUs with their targets and push again where it drifted
        (`domain.services.inventory_reconcile.reconcile_shop`; idempotent). Sent when TikTok says a SKU's stock
        changed status (webhook 27), besides the scheduler's periodic reconcile."""
        ...


class QueuedMessages(Protocol):
    """Tells which sync tasks have a message in the queue: waiting, delayed for a retry, or being run."""

    async def sync_tasks_with_messages(self) -> set[str] | None:
        """Their task ids; None when the queue cannot tell (then only the long `queued_after` rule applies)."""
        ...


class EventPublisher(Protocol):
    """Signals that a sync task or a shop changed; subscribers re-read the database, which is the truth."""

    async def task_changed(self, task: SyncTask) -> None: ...
    async def shop_changed(self, shop_id: str, merchant_id: str) -> None: ...
    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        """An inventory item's counters, safety stock or links changed (`inventoryItemUpdated`)."""
        ...


class ScheduledWork(Protocol):
    """Hands the scheduler's jobs to workers: a poll of one shop and kind, a refresh of one shop's tokens.

    `scheduled_at` (ISO 8601) names the tick that sent the poll, so that a duplicate message is a no-op."""

    async def enqueue_poll(self, shop_id: str, kind: SyncKind, scheduled_at: str) -> None: ...
    async def enqueue_token_refresh(self, shop_id: str) -> None: ...


T = TypeVar("T", covariant=True)  # a page of StoredOrder is a page of OrderRecord


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T | RecordFailure]
    next_page_token: str | None
    total_count: int | None


class TikTokAuthGateway(Protocol):
    """TikTok's OAuth: the consent URL, the code exchange, and the shops a token covers."""

    def authorization_url(self, state: str) -> str: ...
    async def exchange_code(self, code: str) -> TokenSet:
        """Tokens for a consent's single-use `code`. Raises `AuthorizationLostError` when TikTok refuses the code,
        `OutcomeUnknownError` when its answer was lost (the code may be spent), `TikTokUnavailableError` when TikTok
        could not be reached."""
        ...

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]: ...


class ShopTokens(Protocol):
    """Where a shop's API keeps the shop's tokens between processes (the store, through the domain).

    Several processes refresh a shop (the token sweep, imports, webhook processing, the pool's pushes), and TikTok
    may end the old tokens at once (the sandbox does; live-sync.md sec. 4: "old refresh token after a refresh:
    uncertain ... refresh single-flight per grant, CAS-save"). So the API hands every pair it refreshes to
    `refreshed`, and reads `stored` when TikTok refuses a token it did not replace itself."""

    async def refreshed(self, tokens: TokenSet) -> TokenSet | None:
        """Store `tokens`, refreshed from the pair this API held, compare-and-set (`judge_refreshed_tokens`).
        Returns the stored pair when a newer one won meanwhile (the API goes on with it), else None (stored, already
        stored, or the shop is gone)."""
        ...

    async def stored(self) -> TokenSet | None:
        """The shop's pair as stored now; None when the shop is gone."""
        ...


class ShopApi(Protocol):
    """TikTok's business API bound to one shop; refreshes an expired access token by itself."""

    def scan_products(self, checkpoint: dict[str, Any] | None, page_size: int = 100) -> AsyncIterator[ProductScan]:
        """Every product of the shop, page by page, resumable.

        Each yielded `ProductScan.checkpoint` is where to resume once that page is stored; passing it back
        continues after that page. TikTok's 10,000-result search cap is handled inside by splitting the
        `update_time` range into windows.
        """
        ...

    async def search_orders(
        self, *, page_size: int, page_token: str | None, create_time_ge: int, create_time_lt: int
    ) -> Page[OrderRecord]:
        """Orders created in [ge, lt), sorted by create_time ascending."""
        ...

    async def search_updated_orders(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_lt: int
    ) -> Page[OrderRecord]:
        """Orders updated in [ge, lt), sorted by update_time ascending (the polling backstop)."""
        ...

    def scan_updated_products(
        self, update_time_ge: int, update_time_le: int, checkpoint: dict[str, Any] | None, page_size: int = 100
    ) -> AsyncIterator[ProductScan]:
        """Products updated in [ge, le] (both inclusive, as TikTok's product search is), resumable like
        `scan_products`; the 10,000-result cap is handled by splitting the window."""
        ...


RefreshTokens = Callable[[Shop], Awaitable[TokenSet]]
"""TikTok's token refresh for a shop's current pair; `AuthorizationLostError` when the refresh token is refused."""


class ProductReadApi(Protocol):
    """Reading one product of a shop again as a webhook naming it is read (`domain.services.intake.reread_product`):
    what webhook processing and the push (a product Update Inventory refused as not on sale) ask of its API."""

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        """Get Product; a product not in the shop raises `RecordNotFoundError` (TikTok's 12052048 and kin)."""
        ...

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[ProductRecord]:
        """One page of Search Products with `search`'s body filters (tiktok-api.md §7)."""
        ...


class ShopRefreshApi(Protocol):
    """What webhook processing asks of a shop's API: re-fetch the records an event names, register webhooks."""

    async def get_orders(self, ids: Sequence[str]) -> list[Order | RecordFailure]:
        """Get Order Detail for 1 to 50 ids; ids TikTok does not return are simply absent, and when it has none
        of them it refuses the call: `RecordNotFoundError` (TikTok's 21008111)."""
        ...

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        """Get Product; a product not in the shop raises `RecordNotFoundError` (TikTok's 12052048 and kin)."""
        ...

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[ProductRecord]:
        """One page of Search Products with `search`'s body filters (status, seller SKUs, update time: tiktok-api.md
        §7); products of every status TikTok still lists, FREEZE and DELETED included."""
        ...

    async def register_webhook(self, address: str, event_type: str) -> None:
        """Event API `PUT /event/202309/webhooks`: push `event_type` of this shop to `address`."""
        ...


ShopRefreshApiFactory = Callable[[Shop, ShopTokens], ShopRefreshApi]


class InventoryApi(Protocol):
    """What pushing and reconciling the pool ask of a shop's API (live-sync.md sec. 1)."""

    async def update_inventory(self, product_id: str, skus: Sequence[SkuStock]) -> InventoryUpdateResult:
        """Update Inventory: one product, every warehouse of each SKU; per-SKU failures inside code 0."""
        ...

    async def search_inventory(
        self, *, product_ids: Sequence[str] | None = None, sku_ids: Sequence[str] | None = None
    ) -> list[SkuInventory]:
        """Inventory Search by up to 600 SKU ids (or 100 product ids)."""
        ...

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        """Get Product (the SKUs' assigned warehouses; a product's status once Update Inventory refused it as not
        on sale, 12052901 / 12052048)."""
        ...

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[ProductRecord]:
        """Search Products (a product Get Product no longer serves after such a refusal: FREEZE, DELETED)."""
        ...

    async def warehouses(self) -> list[Warehouse]:
        """Get Warehouses."""
        ...


InventoryApiFactory = Callable[[Shop, ShopTokens], InventoryApi]

ShopApiFactory = Callable[[Shop, ShopTokens], ShopApi]
"""Builds the shop's API over `shop.tokens`; `ShopTokens` persists the pairs it refreshes and gives it the stored
pair when TikTok refuses one another process replaced."""


@dataclass(frozen=True, slots=True)
class ProductScan:
    page: Page[ProductRecord]
    checkpoint: dict[str, Any]
    total_count: int | None  # TikTok's estimate of the whole catalog, when it tells


class GatewayError(Exception):
    """TikTok failed us.

    GatewayError
      ├── TikTokUnavailableError       outage, rate limit or timeout that outlived the retries: retry later
      ├── AuthorizationLostError       the shop's authorization is no longer honoured: re-authorize
      ├── OutcomeUnknownError          the answer to a request that must not be sent twice (the single-use code
      │                                  exchange) was lost: TikTok may or may not have acted on it
      └── GatewayRefusedError          TikTok refused this request and would refuse it again: retrying cannot help;
            │                            the message names TikTok's code and message
            ├── MissingPermissionError the app or the token lacks the permission (scope) for one API (TikTok
            │                            105005): only calls of that API fail, the authorization still holds;
            │                            `api` names it ("POST /order/202309/orders/search")
            ├── RecordNotFoundError    TikTok says the shop has no such record: an order not the seller's
            │                            (21008111), a product not in the shop or gone (12052048, 12052031,
            │                            12052032, 12052260); every other refusal keeps its own class
            └── CursorStuckError       TikTok's paging does not advance (the same page token again, or a page
                                         with nothing new): following it would loop forever
    """

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class TikTokUnavailableError(GatewayError):
    pass


class AuthorizationLostError(GatewayError):
    # The access token of the pair TikTok refused, when a shop's session knows it (`adapters.tiktok.session`: the
    # pair it held, perhaps one it adopted from the store since the shop was loaded), else None. `Shop.revoke_refused`
    # compares it with the stored pair to tell a refusal of that pair, which a late refresh of it lifts (review54a F1).
    refused_access_token: str | None = None


class OutcomeUnknownError(GatewayError):
    pass


class GatewayRefusedError(GatewayError):
    pass


class MissingPermissionError(GatewayRefusedError):
    api: str | None = None  # the API refused, as "METHOD path", when the adapter knows it


class RecordNotFoundError(GatewayRefusedError):
    pass


class CursorStuckError(GatewayRefusedError):
    pass
