"""The shared inventory pool's use cases (issue 8): merchant edits and links, and the after-commit work of every
pool change (a `push_inventory` per shop with dirty outbox rows, an `inventoryItemUpdated` signal per item).

Each use case: load (the item locked), ask the rules (`domain.inventory`), write through the repository (counters
arithmetically, movement, outbox), commit, then enqueue and publish. Each merchant's use case is one unit of work,
run again whole when the database aborts it as a deadlock or a serialization failure (`run_again_on_conflict`: a
WARNING, never an INTERNAL_SERVER_ERROR to the merchant for a conflict the database resolved); it reads afresh what
it writes (the item, locked), and nothing of an aborted run was kept.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import timedelta
from typing import Protocol

from domain.clock import Clock, SystemClock
from domain.errors import NotFoundError
from domain.inventory.items import Edit, InventoryItem, adjust, checked_sku, checked_units, set_on_hand
from domain.inventory.removal import check_deletable
from domain.inventory_push import DEFAULT_HOLD_HORIZON
from domain.ports import EventPublisher, PoolChange, TaskQueue, UnitOfWork, UnitOfWorkFactory, UpsertCounts, traced
from domain.services.conflicts import run_again_on_conflict
from domain.stored import OrderRecord, ProductRecord

log = logging.getLogger(__name__)

MAX_ITEM_SIGNALS = 100  # per commit: an import batch may touch thousands; subscribers re-read on their timeout


class PushQueue(Protocol):
    """What a pool change needs of the queue: a shop's push (`TaskQueue.enqueue_inventory_push`; the push fence's
    re-base, which has no `TaskQueue`, adapts its `PushDeps.enqueue_push`)."""

    async def enqueue_inventory_push(self, shop_id: str) -> None: ...


def after_pool_change(
    uow: UnitOfWork, queue: PushQueue | None, events: EventPublisher | None, change: PoolChange
) -> None:
    """Once `uow` commits: enqueue a push per shop with dirty outbox rows, signal each changed item."""

    async def notify() -> None:
        for shop_id in sorted(change.push_shop_ids):
            if queue is not None:
                try:
                    await queue.enqueue_inventory_push(shop_id)
                except Exception as exc:  # the outbox row stays dirty: the pusher's sweep sends it later
                    log.warning(
                        "could not enqueue the inventory push of shop %s: %s", shop_id, exc, exc_info=traced(exc)
                    )
        if events is not None and change.merchant_id is not None:
            await signal_items(events, change.merchant_id, change.item_ids)

    if change.push_shop_ids or change.item_ids:
        uow.after_commit(notify)


async def signal_items(events: EventPublisher, merchant_id: str, item_ids: Collection[str]) -> None:
    """Tell `inventoryItemUpdated`'s subscribers these items changed, after a commit: the first `MAX_ITEM_SIGNALS` by
    id (a subscriber to every item re-reads on its timeout); a signal lost is logged, never raised."""
    for item_id in sorted(item_ids)[:MAX_ITEM_SIGNALS]:
        try:
            await events.inventory_item_changed(item_id, merchant_id)
        except Exception:
            log.warning("could not publish inventory item %s", item_id, exc_info=True)


async def pool_orders(
    uow: UnitOfWork, queue: PushQueue | None, events: EventPublisher | None, shop_id: str,
    orders: Sequence[OrderRecord], *, none_stored: bool = False,
) -> None:  # fmt: skip
    """In the transaction that upserts the shop's orders: move the ledger (`InventoryRepository.apply_orders`;
    `none_stored`: that upsert created every one of `orders`)."""
    if orders:
        after_pool_change(
            uow, queue, events, await uow.inventory.apply_orders(shop_id, orders, none_stored=none_stored)
        )


async def store_orders(
    uow: UnitOfWork, queue: PushQueue | None, events: EventPublisher | None, shop_id: str,
    orders: Sequence[OrderRecord],
) -> UpsertCounts:  # fmt: skip
    """The order batch writer: store a batch of the shop's orders (`CatalogRepository.upsert_orders`: an older
    version never overwrites a newer one) and apply it to the pool (`pool_orders`: the ledger, then after commit a
    push per shop the change made due and a signal per item changed), in `uow`'s transaction (the caller holds the
    shop and commits). Returns the upsert's counts. Raises `ShopGoneError` for a shop deleted meanwhile. Used by the
    order imports and polls (`domain.services.importer`) and by the push fence's re-base's orders read
    (`domain.services.inventory_push.rebase_fence`): one path, so every rule of the ledger, its signals and the other
    shops' pushes holds for both (stop 64's note, section 8). The one exception is the webhook intake
    (`domain.services.intake`), which upserts a batch's orders and products before it pools either (each writer takes
    the shop's turns in one order: PostgreSQL deadlocked otherwise), so it calls `pool_orders` itself: a rule added
    here must be added there too (review65 R2). When the upsert created every order of the batch (none
    was stored: TikTok ids unique), the ledger is told so and reads no ledger row of theirs
    (`InventoryRepository.apply_orders`' `none_stored`: a first import's batches skip a read of the ledger each,
    bench/README.md "Benchmarks 1 and 2, stop 65")."""
    counts = await uow.catalog.upsert_orders(shop_id, orders)
    none_stored = counts.created == len({order.tiktok_order_id for order in orders})
    await pool_orders(uow, queue, events, shop_id, orders, none_stored=none_stored)
    return counts


async def pool_products(
    uow: UnitOfWork, queue: TaskQueue | None, events: EventPublisher | None, shop_id: str,
    products: Sequence[ProductRecord],
) -> None:  # fmt: skip
    """In the transaction that upserts the shop's products: auto-link their SKUs (seeding new items from the stock
    each product's page read, at the time it was read)."""
    if products:
        ids = [p.tiktok_product_id for p in products]
        read_at = {p.tiktok_product_id: p.stock_read_at for p in products if p.stock_read_at is not None}
        after_pool_change(uow, queue, events, await uow.inventory.auto_link(shop_id, ids, read_at))


async def create_item(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, clock: Clock, merchant_id: str,
    sku: str, on_hand: int | None, safety_stock: int, sku_id: str | None = None,
) -> InventoryItem:  # fmt: skip
    """`inventoryItemCreate`: a new item (SKU trimmed, 1-255 characters; units 0-1e9). `SKU_ALREADY_EXISTS`.

    `sku_id`: the shop SKU it is created from, linked to it by hand in the same unit of work (seed59); `on_hand`
    None then seeds it as the products import seeds an item (TikTok's stock of the SKU plus the units of its open
    orders that stock left out: `InventoryRepository.create_item_from_sku`), and a given on-hand is the merchant's
    count of the shelf, which the SKU's open orders reserve on. `NOT_FOUND` on `skuId` for a SKU not the merchant's
    (its shop deleted, meanwhile too); `SKU_LINK_CHANGED` on `skuId` when it draws on an item now;
    `SKU_NOT_LINKABLE`, `PRODUCT_DELETED`: nothing is created. Without `sku_id`, `on_hand` None is 0."""
    now = clock.now()
    seeded = sku_id is not None and on_hand is None
    item = InventoryItem(
        uuid.uuid4().hex, merchant_id, checked_sku(sku), checked_units(on_hand or 0, "onHand"), 0,
        checked_units(safety_stock, "safetyStock"), 1, now, now,
    )  # fmt: skip

    async def create() -> InventoryItem | None:
        async with uow_factory() as uow:
            if sku_id is None:
                change = await uow.inventory.create_item(item)
            else:
                linked = await uow.inventory.create_item_from_sku(item, sku_id, seeded=seeded)
                if linked is None:
                    raise NotFoundError("SKU", ("skuId",))
                change = linked
            after_pool_change(uow, queue, events, change)
            created = await uow.inventory.get_item(item.id, merchant_id)
            await uow.commit()
        return created

    created = await run_again_on_conflict(create, f"inventoryItemCreate of item {item.id}")
    assert created is not None
    return created


async def set_item_on_hand(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, merchant_id: str, item_id: str,
    on_hand: int, compare_on_hand: int | None,
) -> InventoryItem:  # fmt: skip
    """`inventorySetOnHand`: on-hand becomes `on_hand` units, a SET movement of the difference; the value it has
    already is a count that confirmed it, a SET movement of 0 units (no push, the item's counters and version kept);
    `VERSION_CONFLICT` when `compare_on_hand` is given and differs from the stored value (Shopify's compare-and-set);
    `NOT_FOUND` for another merchant's item."""

    async def edit() -> InventoryItem:
        async with uow_factory() as uow:
            item = await _locked(uow, merchant_id, item_id)
            return await _edit(uow, queue, events, item, True, set_on_hand(item, on_hand, compare_on_hand))

    return await run_again_on_conflict(edit, f"inventorySetOnHand of item {item_id}")


async def adjust_item(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, merchant_id: str, item_id: str,
    delta: int, reason: str, compare_on_hand: int | None = None,
) -> InventoryItem:  # fmt: skip
    """`inventoryAdjust`: add `delta` units (negative removes) for `reason`; a removal never takes on-hand below 0;
    `VERSION_CONFLICT` when `compare_on_hand` is given and differs from the stored on-hand (a retry of an adjustment
    that applied: `domain.inventory.items.adjust`); `NOT_FOUND` for another merchant's item."""

    async def edit() -> InventoryItem:
        async with uow_factory() as uow:
            item = await _locked(uow, merchant_id, item_id)
            return await _edit(uow, queue, events, item, True, adjust(item, delta, reason, compare_on_hand))

    return await run_again_on_conflict(edit, f"inventoryAdjust of item {item_id}")


async def update_safety_stock(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, merchant_id: str, item_id: str,
    safety_stock: int,
) -> InventoryItem:  # fmt: skip
    """`inventoryItemUpdate`: units kept back from every shop (0-1e9); every linked SKU is pushed again."""
    checked_units(safety_stock, "safetyStock")

    async def edit() -> InventoryItem | None:
        async with uow_factory() as uow:
            item = await _locked(uow, merchant_id, item_id)
            if safety_stock != item.safety_stock:
                after_pool_change(uow, queue, events, await uow.inventory.set_safety_stock(item, safety_stock))
            updated = await uow.inventory.get_item(item_id, merchant_id)
            await uow.commit()
        return updated

    updated = await run_again_on_conflict(edit, f"inventoryItemUpdate of item {item_id}")
    assert updated is not None
    return updated


async def delete_item(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, merchant_id: str, item_id: str, *,
    clock: Clock | None = None, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON,
) -> str:  # fmt: skip
    """`inventoryItemDelete` (tryout61 F3): delete the merchant's item and its movements; returns its id.

    Refused, nothing deleted: `NOT_FOUND` for an item that is not the merchant's (another merchant's, or deleted
    already: a second delete of the same id); `ITEM_LINKED` while shop SKUs are linked to it, `ITEM_IN_USE` while
    units of it are reserved or its sales at TikTok are held unseen by a push (within `hold_horizon`, at `clock`'s
    now; review62 R3: `domain.inventory.removal.check_deletable`). The item is locked while its use is counted
    and it is deleted, in one unit of work (a link or a sale that comes meanwhile either committed first, then it is
    counted, or waits and finds the item gone). After commit, the item's signal: its `inventoryItemUpdated(
    inventoryItemId:)` subscribers end with NOT_FOUND."""

    async def delete() -> str:
        async with uow_factory() as uow:
            item = await _locked(uow, merchant_id, item_id)
            now = (clock or SystemClock()).now()
            check_deletable(item, await uow.inventory.item_use(item, now, hold_horizon))
            after_pool_change(uow, queue, events, await uow.inventory.delete_item(item))
            await uow.commit()
        return item_id

    return await run_again_on_conflict(delete, f"inventoryItemDelete of item {item_id}")


async def link_sku(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, events: EventPublisher, merchant_id: str, sku_id: str,
    item_id: str | None, *, compare: bool = False, compare_item_id: str | None = None,
) -> None:  # fmt: skip
    """`skuLink` / `skuUnlink` (item None): a MANUAL link that later imports keep. The SKU's open order lines
    reserve on the new item (and give their units back to the old one); unlinked, they stay reserved on the item
    they were placed on (`domain.inventory.ledger.stays_reserved`). `NOT_FOUND` for another merchant's SKU or
    item; `SKU_NOT_LINKABLE` for a bundle SKU; `PRODUCT_DELETED` for a SKU of a product TikTok reports DELETED
    (linked or unlinked alike: the pool leaves it out); `SKU_LINK_CHANGED` when `compare` and the SKU draws on
    another item than `compare_item_id` (None: any item) now (`skuLink`'s compareInventoryItemId, tryout58 F3).

    One unit of work, run again whole when the database aborts it as a deadlock or a serialization failure
    (`run_again_on_conflict`: a WARNING, not an INTERNAL_SERVER_ERROR to the merchant); it reads afresh what it
    writes, and its pushes and signals go after its commit."""

    async def link() -> None:
        async with uow_factory() as uow:
            if item_id is not None and await uow.inventory.get_item(item_id, merchant_id) is None:
                raise NotFoundError("Inventory item", ("inventoryItemId",))
            change = await uow.inventory.link_sku(
                merchant_id, sku_id, item_id, compare=compare, compare_item_id=compare_item_id
            )
            if change is None:
                raise NotFoundError("SKU", ("skuId",))
            after_pool_change(uow, queue, events, change)
            await uow.commit()

    what = f"the merchant's {'link' if item_id is not None else 'unlink'} of SKU {sku_id}"
    await run_again_on_conflict(link, what)


async def _locked(uow: UnitOfWork, merchant_id: str, item_id: str) -> InventoryItem:
    item = await uow.inventory.get_item(item_id, merchant_id, lock=True)
    if item is None:
        raise NotFoundError("Inventory item", ("inventoryItemId",))
    return item


async def _edit(
    uow: UnitOfWork, queue: TaskQueue, events: EventPublisher, item: InventoryItem, changes: bool, edit: Edit
) -> InventoryItem:
    if changes:
        after_pool_change(uow, queue, events, await uow.inventory.edit_item(item, edit))
    updated = await uow.inventory.get_item(item.id, item.merchant_id)
    await uow.commit()
    assert updated is not None  # locked by `_locked` in this transaction: it cannot have gone
    return updated


async def give_back_unexplained_holds(
    uow_factory: UnitOfWorkFactory,
    enqueue_push: Callable[[str], Awaitable[None]],
    events: EventPublisher | None = None,
    hold_horizon: timedelta = DEFAULT_HOLD_HORIZON,
) -> int:
    """Give back on on-hand the units a shop's delete took off as sold unseen that no sale explains once the same
    TikTok shop, connected again, imported its products and orders (`domain.inventory.unexplained`, soak59 F3): one
    unit of work per merchant (`InventoryRepository.give_back_unexplained_holds`: a `CORRECTED` movement, none on an
    item counted since the delete; each record once, whoever else runs it), run again whole on a deadlock or
    serialization failure; after each commit, a push per shop whose outbox it made due (`enqueue_push`; a failed
    enqueue leaves the row dirty for the tick's sweep) and a signal per item. Run by the scheduler's inventory tick
    (`domain.services.inventory_reconcile.inventory_tick`). Returns the units given back; one INFO line per merchant
    that got any."""
    async with uow_factory() as uow:
        merchants = await uow.inventory.merchants_with_unexplained_holds(hold_horizon)
    given = 0
    for merchant_id in merchants:

        async def once(merchant_id: str = merchant_id) -> tuple[PoolChange, int]:
            async with uow_factory() as uow:
                done = await uow.inventory.give_back_unexplained_holds(merchant_id, hold_horizon)
                await uow.commit()
            return done

        change, units = await run_again_on_conflict(once, f"the units sold unseen given back to merchant {merchant_id}")
        for shop_id in sorted(change.push_shop_ids):
            try:
                await enqueue_push(shop_id)
            except Exception as exc:  # the outbox row stays dirty: the tick's sweep sends it later
                log.warning("could not enqueue the inventory push of shop %s: %s", shop_id, exc, exc_info=traced(exc))
        if events is not None and change.merchant_id is not None:
            await signal_items(events, change.merchant_id, change.item_ids)
        if units:
            log.info("gave back %d unit(s) a shop's delete took off as sold unseen, no sale took (merchant %s)", units,
                     merchant_id)  # fmt: skip
        given += units
    return given
