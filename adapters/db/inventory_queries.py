"""Read side of the inventory pool for GraphQL: merchant-scoped, keyset-paginated, token-free read models.

Items page newest first by (created_at, id); movements newest first by (created_at, id); unlinked SKUs by their
product's (created_at, id) then SKU id, newest first. Another merchant's rows never come back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, not_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.cursors import decode_cursor, encode_cursor
from adapters.db.read_models import Page, SkuRead
from adapters.db.repositories.inventory.items import item_of
from adapters.db.tables import UTCDateTime, inventory_items, inventory_movements, products, shops, sku_links, skus
from domain.catalog import Money
from domain.inventory.items import InventoryItem, sku_as_typed, sku_search_key
from domain.inventory.links import DROPPED
from domain.stock_levels import last_known_stock
from domain.stored import ACTIVE_PRODUCT_STATUS, DELETED_PRODUCT_STATUS


@dataclass(frozen=True, slots=True)
class ItemRead:
    item: InventoryItem

    @property
    def cursor(self) -> str:
        return encode_cursor("inventory_items", self.item.created_at, self.item.id)


@dataclass(frozen=True, slots=True)
class MovementRead:
    id: str
    kind: str
    on_hand_delta: int
    reserved_delta: int
    reason: str | None
    shop_id: str | None
    tiktok_order_id: str | None
    created_at: datetime

    @property
    def cursor(self) -> str:
        return encode_cursor("movements", self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class LinkRead:
    """A shop SKU's place in the pool (a SKU with no link row yet reads as UNLINKED, AUTO)."""

    sku: SkuRead
    shop_id: str
    inventory_item_id: str | None
    state: str
    source: str
    pushed_quantity: int | None
    pushed_at: datetime | None
    push_error_code: str | None
    product_created_at: datetime
    held_back_quantity: int = 0  # units the last push held back (the fence); 0 without a link row
    # TikTok's status of the SKU's product as last stored (tiktok-api.md §7): pushed only while `ACTIVATE`
    product_status: str = ACTIVE_PRODUCT_STATUS

    @property
    def in_pool(self) -> bool:
        """False for a SKU of a product TikTok reports DELETED (its link DROPPED, or none): the pool leaves it out."""
        return self.product_status != DELETED_PRODUCT_STATUS and self.state != DROPPED

    @property
    def cursor(self) -> str:
        return encode_cursor("unlinked_skus", self.product_created_at, self.sku.id)


async def item_page(
    session: AsyncSession, merchant_id: str, first: int, after: str | None, *, query: str | None,
    oversold: bool | None, with_total: bool,
) -> Page[ItemRead]:  # fmt: skip
    """The merchant's items, newest first; `query` matches part of the SKU, ignoring the case of every letter, how an
    accent is encoded and width (the query's `sku_search_key` within the stored one); `oversold` keeps only the
    oversold items (true) or the others (false), by `domain.inventory.items.is_oversold`: reserved above on-hand,
    whatever the safety stock."""
    unsold = inventory_items.c.on_hand - inventory_items.c.reserved  # `is_oversold`: below 0
    where = [inventory_items.c.merchant_id == merchant_id]
    if query:
        # An item a process of the release before migration 0007 wrote (the old processes run on while `migrate`
        # runs, until they are replaced) has no key: its SKU lower-cased stands in (ASCII letters only).
        key = func.coalesce(inventory_items.c.sku_search, func.lower(inventory_items.c.sku))
        where.append(key.contains(sku_search_key(query), autoescape=True))
    if oversold is not None:
        where.append(unsold < 0 if oversold else unsold >= 0)
    statement = select(inventory_items).where(*where)
    if after is not None:
        at, row_id = decode_cursor(after, "inventory_items")
        bound = tuple_(literal(at, UTCDateTime), literal(row_id, inventory_items.c.id.type))
        statement = statement.where(tuple_(inventory_items.c.created_at, inventory_items.c.id) < bound)
    statement = statement.order_by(inventory_items.c.created_at.desc(), inventory_items.c.id.desc()).limit(first + 1)
    rows = (await session.execute(statement)).all()
    total = None
    if with_total:
        total = int((await session.execute(select(func.count()).where(*where))).scalar_one())
    return Page(tuple(ItemRead(item_of(r)) for r in rows[:first]), len(rows) > first, total)


async def items_by_ids(session: AsyncSession, merchant_id: str, ids: Collection[str]) -> dict[str, InventoryItem]:
    """The merchant's items among `ids` (the item loader). The merchant is tested on the rows, as in `_of_merchant`:
    with `merchant_id = ?` in the statement, SQLite walked every item of the merchant through `(merchant_id,
    created_at, id)` to test each id against the page's (50 ids: 1-5 ms beside 4,100 items, 12-27 ms beside 13,800)."""
    if not ids:
        return {}
    rows = (await session.execute(items_by_ids_query(ids))).all()
    return {r.id: item_of(r) for r in rows if r.merchant_id == merchant_id}


def items_by_ids_query(ids: Collection[str]) -> Select[Any]:
    """`items_by_ids`' statement, of any merchant: by the items' primary key."""
    return select(inventory_items).where(inventory_items.c.id.in_(list(ids)))


async def item_ids_changed_since(
    session: AsyncSession, merchant_id: str, since: datetime, limit: int
) -> tuple[list[str], bool]:
    """The ids of the merchant's items changed at `since` or later (UTC), the last changed first, at most `limit`,
    and whether more were (in one statement, `item_ids_changed_since_query`): what the all-items item feed reads when
    change signals were lost (gql/inventory/item_feed.py). An item changed: its own `updated_at` (counters, safety
    stock, creation, and a link that joined or left it, its shop's delete included: the link writers bump it,
    `writer.touch_items`), or the `updated_at` of a link naming it (a link's change of state, a push's outcome: the
    push stamps the link alone). By the later of the two, then id."""
    ids = list((await session.execute(item_ids_changed_since_query(merchant_id, since, limit))).scalars())
    return ids[:limit], len(ids) > limit


def item_ids_changed_since_query(merchant_id: str, since: datetime, limit: int) -> Select[Any]:
    """`item_ids_changed_since`'s statement: at most `limit` + 1 ids, through two indexes (migration 0047), never a
    pass over the merchant's catalog (review56b F1: 100,000 items and links, ~0.5 s a read on SQLite).

    The items: the `limit` + 1 changed last, off the end of `(merchant_id, updated_at, id)`. The links: those changed
    since, off `(merchant_id, updated_at, inventory_item_id)` (the rows changed in the window, whatever the catalog;
    not cut at `limit`, as several links of one item could push the next item out: an import that stamps every link
    of a big catalog in the window makes it a pass over them, ~0.2 s at 100,000 on SQLite, review57), the latest time
    of each item. The merchant is the links' own `merchant_id` (their shop's, written with the link):
    a link of another merchant's item could only name an item that is not the merchant's, which `items_by_ids` drops.
    Exact: an item whose own time is its latest and that is not among the items side's `limit` + 1 has `limit` + 1
    items after it (each at least as late by its own time alone), so it is not among the `limit` + 1 either."""
    items, links = inventory_items.c, sku_links.c
    changed_items = (
        select(items.id.label("item_id"), items.updated_at.label("at"))
        .where(items.merchant_id == merchant_id, items.updated_at >= since)
        .order_by(items.updated_at.desc(), items.id.desc())
        .limit(limit + 1)
        .subquery()
    )
    changed_links = (
        select(links.inventory_item_id.label("item_id"), func.max(links.updated_at).label("at"))
        .where(links.merchant_id == merchant_id, links.updated_at >= since, links.inventory_item_id.is_not(None))
        .group_by(links.inventory_item_id)
    )
    changed = select(changed_items.c.item_id, changed_items.c.at).union_all(changed_links).subquery()
    latest = func.max(changed.c.at)
    return (
        select(changed.c.item_id)
        .group_by(changed.c.item_id)
        .order_by(latest.desc(), changed.c.item_id.desc())
        .limit(limit + 1)
    )


async def item_by_sku(session: AsyncSession, merchant_id: str, sku: str) -> InventoryItem | None:
    statement = select(inventory_items).where(
        inventory_items.c.merchant_id == merchant_id, inventory_items.c.sku == sku_as_typed(sku)
    )
    row = (await session.execute(statement)).first()
    return None if row is None else item_of(row)


_LINK_COLUMNS = (
    skus.c.id,
    skus.c.product_id,
    skus.c.shop_id,
    skus.c.tiktok_sku_id,
    skus.c.seller_sku,
    skus.c.price_amount,
    skus.c.currency,
    skus.c.quantity,
    products.c.created_at.label("product_created_at"),
    sku_links.c.inventory_item_id,
    sku_links.c.state,
    sku_links.c.source,
    sku_links.c.pushed_quantity,
    sku_links.c.pushed_at,
    sku_links.c.push_landed_at,
    sku_links.c.push_error_code,
    sku_links.c.held_quantity,
    products.c.stock_read_at,
    products.c.status.label("product_status"),
)


def _of_merchant(rows: Sequence[Any], merchant_id: str) -> list[Any]:
    """The rows of `links_by_items_query` / `links_by_skus_query` whose shop is the merchant's. Tested here, not in
    the statement: with `shops.merchant_id = ?` in it, SQLite (no statistics, ever) and PostgreSQL (before its first
    ANALYZE) took the merchant's shops as the outer loop and walked every SKU of each through `(shop_id, ...)`,
    testing its id against the page's: one products page (150 SKUs) read the merchant's whole catalog, 13 ms at
    4,500 SKUs, 60 ms at 15,000; an item page's links 18 ms, then 184 ms. Without it, the one condition is on the
    ids asked for, and both start from them whatever the statistics. Rows of another merchant's shops come only of
    ids that are not the merchant's (a forged request): read, then dropped."""
    return [row for row in rows if row.merchant_id == merchant_id]


def _link_read(row: Any) -> LinkRead:
    """A row of `_LINK_COLUMNS` as a link; its SKU's quantity is TikTok's stock as last known (`last_known_stock`:
    the newer of its product's read and the link's last push, as of that push's landing; an unlinked SKU never
    pushed, the read)."""
    price = Money(row.price_amount, row.currency)
    quantity = last_known_stock(row.quantity, row.stock_read_at, row.pushed_quantity, row.pushed_at, row.push_landed_at)
    sku = SkuRead(row.id, row.product_id, row.tiktok_sku_id, row.seller_sku, price, quantity)
    return LinkRead(
        sku, row.shop_id, row.inventory_item_id, row.state or "UNLINKED", row.source or "AUTO", row.pushed_quantity,
        row.pushed_at, row.push_error_code, row.product_created_at, row.held_quantity or 0,
        row.product_status,
    )  # fmt: skip


async def links_by_items(
    session: AsyncSession, merchant_id: str, item_ids: Collection[str]
) -> dict[str, list[LinkRead]]:
    """Each item's links (any state but DROPPED: a SKU its product no longer sells, whose product TikTok reports
    DELETED, draws on no item and is pushed nothing; its open orders still count on the item), by shop and SKU id."""
    if not item_ids:
        return {}
    found: dict[str, list[LinkRead]] = {}
    rows = (await session.execute(links_by_items_query(item_ids))).all()
    for row in _of_merchant(rows, merchant_id):
        found.setdefault(row.inventory_item_id, []).append(_link_read(row))
    return found


def links_by_items_query(item_ids: Collection[str]) -> Select[Any]:
    """`links_by_items`' statement, of any merchant (`_of_merchant`): from the links naming the items (their index)
    to their SKUs."""
    # The merchant by a lookup of the SKU's shop (as `links_by_skus_query`), not a join: joined, PostgreSQL before
    # its first ANALYZE took the merchant's shops as the outer loop once `sku_links` had grown its moved-hold columns
    # (migration 0054) and walked every SKU of each shop (`ix_skus_shop_id_seller_sku_key`)
    merchant = select(shops.c.merchant_id).where(shops.c.id == skus.c.shop_id).scalar_subquery()
    return (
        select(*_LINK_COLUMNS, merchant.label("merchant_id"))
        .select_from(sku_links)
        .join(skus, skus.c.id == sku_links.c.sku_id)
        .join(products, products.c.id == skus.c.product_id)
        .where(sku_links.c.inventory_item_id.in_(list(item_ids)), sku_links.c.state != DROPPED)
        .order_by(skus.c.shop_id, skus.c.id)
    )


async def links_by_skus(session: AsyncSession, merchant_id: str, sku_ids: Collection[str]) -> dict[str, LinkRead]:
    """The merchant's SKUs among `sku_ids` with their links (UNLINKED for a SKU never decided), by SKU id; a SKU of a
    product TikTok reports DELETED reads `in_pool` False (the pool leaves it out: no item, no push, its link DROPPED
    or none)."""
    if not sku_ids:
        return {}
    rows = (await session.execute(links_by_skus_query(sku_ids))).all()
    return {row.id: _link_read(row) for row in _of_merchant(rows, merchant_id)}


def links_by_skus_query(sku_ids: Collection[str]) -> Select[Any]:
    """`links_by_skus`' statement, of any merchant (`_of_merchant`): from the SKUs asked for (their primary key),
    with their links if any."""
    # The SKU's merchant by a lookup of its shop per row (a correlated subquery on the shops' primary key), not a
    # join: joined, PostgreSQL before its first ANALYZE (estimates from the tables' pages and row width) took the
    # shops as the outer loop once `shops` had grown a column (migration 0043) and walked every SKU of each shop
    merchant = select(shops.c.merchant_id).where(shops.c.id == skus.c.shop_id).scalar_subquery()
    return (
        select(*_LINK_COLUMNS, merchant.label("merchant_id"))
        .select_from(skus)
        .join(products, products.c.id == skus.c.product_id)
        .outerjoin(sku_links, sku_links.c.sku_id == skus.c.id)
        .where(skus.c.id.in_(list(sku_ids)))
    )


async def unlinked_sku_page(
    session: AsyncSession, merchant_id: str, shop_id: str, first: int, after: str | None, *, with_total: bool
) -> Page[LinkRead]:
    """The shop's SKUs not linked to an item (any reason, or never decided; not those of a product TikTok reports
    DELETED, which the pool leaves out), newest product first: by (product
    `created_at`, product id, SKU id), descending; a cursor is its row's (product `created_at`, SKU id), the SKU's
    product looked up by the statement (`unlinked_sku_page_query`). `total_count` with `with_total`: a COUNT over
    every SKU of the shop (each probed for its link), so it costs the shop's size, not the page's."""
    rows = (await session.execute(unlinked_sku_page_query(merchant_id, shop_id, first, after))).all()
    total = None
    if with_total:
        count = (
            select(func.count())
            .select_from(skus)
            .join(shops, shops.c.id == skus.c.shop_id)
            .join(products, products.c.id == skus.c.product_id)
            .outerjoin(sku_links, sku_links.c.sku_id == skus.c.id)
            .where(skus.c.shop_id == shop_id, shops.c.merchant_id == merchant_id, _UNLINKED, _SOLD)
        )
        total = int((await session.execute(count)).scalar_one())
    return Page(tuple(_link_read(r) for r in rows[:first]), len(rows) > first, total)


_UNLINKED = or_(sku_links.c.state.is_(None), sku_links.c.state != "LINKED")
_SOLD = products.c.status != DELETED_PRODUCT_STATUS  # a deleted product's SKUs are not the pool's (`links_by_skus`)
_ABOVE_EVERY_ID = "f" * 32  # >= every row id (32 hex digits): the product of a cursor whose SKU is gone


def unlinked_sku_page_query(merchant_id: str, shop_id: str, first: int, after: str | None) -> Select[Any]:
    """`unlinked_sku_page`'s statement (`first` + 1 rows, InvalidCursorError for a cursor not of this list): the
    shop's products newest first through `(shop_id, created_at, id)`, each one's SKUs by `skus.product_id` and
    their links by primary key, sorting one product's SKUs at a time. A page reads its own rows plus every linked
    SKU of the products between the cursor and its last row: in a shop mostly unlinked, what the page holds; in a
    shop nearly all linked (the normal state after auto-linking), up to the whole shop when its few unlinked SKUs
    are old, as before (an index of the unlinked SKUs alone needs their sort key on `sku_links` and a link row for
    every SKU: not there yet). Ordered by the SKU alone after the product's time (until 2026-12), both databases
    read every SKU of the shop and sorted them for each page. 15,000 SKUs, a page of 50, before -> after: all
    unlinked, SQLite 535,600 -> 3,600 VM steps, PostgreSQL 520 -> 267 shared buffers; 30 unlinked, 241,700 ->
    217,000 steps, 4,060 buffers both. A cursor holds no product id (its format is unchanged, those in flight
    still work): the statement takes it from the cursor's SKU; a SKU deleted since leaves the page at its
    product's time, and the rows of that instant come again rather than be skipped."""
    statement = (
        select(*_LINK_COLUMNS)
        .select_from(products)
        .join(shops, shops.c.id == products.c.shop_id)
        .join(skus, skus.c.product_id == products.c.id)  # a product's SKUs are its shop's
        .outerjoin(sku_links, sku_links.c.sku_id == skus.c.id)
        .where(products.c.shop_id == shop_id, shops.c.merchant_id == merchant_id, _UNLINKED, _SOLD)
    )
    if after is not None:
        at, sku_id = decode_cursor(after, "unlinked_skus")
        of_cursor = select(skus.c.product_id).where(skus.c.id == literal(sku_id, skus.c.id.type)).scalar_subquery()
        product_id = func.coalesce(of_cursor, literal(_ABOVE_EVERY_ID, products.c.id.type))
        at_bound = literal(at, UTCDateTime)
        # (created_at, product id) <= the cursor's, a range of the products' index; then, of the cursor's own
        # product, the SKUs after its SKU only
        statement = statement.where(
            tuple_(products.c.created_at, products.c.id) <= tuple_(at_bound, product_id),
            or_(
                products.c.created_at != at_bound,
                products.c.id != product_id,
                skus.c.id < literal(sku_id, skus.c.id.type),
            ),
        )
    return statement.order_by(products.c.created_at.desc(), products.c.id.desc(), skus.c.id.desc()).limit(first + 1)


async def movement_page(
    session: AsyncSession, merchant_id: str, item_id: str, first: int, after: str | None, *, with_total: bool = False
) -> Page[MovementRead]:
    """The item's movements, newest first; with `with_total`, their count (one COUNT by the item's index)."""
    where = (inventory_movements.c.inventory_item_id == item_id, inventory_movements.c.merchant_id == merchant_id)
    statement = select(inventory_movements).where(*where)
    if after is not None:
        at, row_id = decode_cursor(after, "movements")
        bound = tuple_(literal(at, UTCDateTime), literal(row_id, inventory_movements.c.id.type))
        statement = statement.where(tuple_(inventory_movements.c.created_at, inventory_movements.c.id) < bound)
    statement = statement.order_by(inventory_movements.c.created_at.desc(), inventory_movements.c.id.desc()).limit(
        first + 1
    )
    rows = (await session.execute(statement)).all()
    items = tuple(
        MovementRead(r.id, r.kind, r.on_hand_delta, r.reserved_delta, r.reason, r.shop_id, r.tiktok_order_id,
                     r.created_at)
        for r in rows[:first]
    )  # fmt: skip
    total = None
    if with_total:
        total = int(
            (await session.execute(select(func.count()).select_from(inventory_movements).where(*where))).scalar_one()
        )
    return Page(items, len(rows) > first, total)


async def linked_sku_count(session: AsyncSession, merchant_id: str, shop_id: str, available_at_most: int | None) -> int:
    """How many SKUs of the merchant's shop `shop_id` are LINKED (whatever their product's status), those whose
    item's available (on_hand - reserved - safety_stock, units) is at most `available_at_most` when it is given: with
    a push policy's outOfStockThreshold, the SKUs that policy pushes 0 (domain/inventory_push.py). One COUNT over the
    shop's links and their items; 0 for another merchant's shop."""
    available = inventory_items.c.on_hand - inventory_items.c.reserved - inventory_items.c.safety_stock
    count = (
        select(func.count())
        .select_from(sku_links)
        .join(inventory_items, inventory_items.c.id == sku_links.c.inventory_item_id)
        .where(sku_links.c.shop_id == shop_id, sku_links.c.merchant_id == merchant_id, sku_links.c.state == "LINKED")
    )
    if available_at_most is not None:
        count = count.where(available <= available_at_most)
    return int((await session.execute(count)).scalar_one())


# A LINKED link whose own shop's TikTok stock seeded the item it names (`sku_links.seeded_item_id`, migration 0021;
# a row written before 0021 keeps only `stock_counted_at`, and names the item it seeded or has moved since).
_ON_ITS_OWN_SEED = and_(
    sku_links.c.stock_counted_at.is_not(None),
    func.coalesce(sku_links.c.seeded_item_id, sku_links.c.inventory_item_id) == sku_links.c.inventory_item_id,
)


async def joined_sku_counts(session: AsyncSession, merchant_id: str, shop_ids: Sequence[str]) -> dict[str, int]:
    """By shop id (the merchant's shops among `shop_ids`; a shop with none is absent): how many of its SKUs are
    LINKED to an inventory item their own TikTok stock did not seed (decide62), i.e. that joined an item the pool had
    already (another shop's SKU brought it, the merchant created it, or they were linked by hand). Those are the SKUs
    whose TikTok stock a push replaces with the pool's available, where a SKU seeding its item shows the stock it
    brought. One GROUP BY over the shops' links (index on shop_id, state)."""
    if not shop_ids:
        return {}
    query = (
        select(sku_links.c.shop_id, func.count())
        .where(
            sku_links.c.shop_id.in_(sorted(set(shop_ids))),
            sku_links.c.merchant_id == merchant_id,
            sku_links.c.state == "LINKED",
            sku_links.c.inventory_item_id.is_not(None),
            not_(_ON_ITS_OWN_SEED),
        )
        .group_by(sku_links.c.shop_id)
    )
    return {shop_id: int(count) for shop_id, count in (await session.execute(query)).all()}
