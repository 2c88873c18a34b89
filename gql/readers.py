"""Read-side resolvers: validate paging, read through `adapters.db.queries` in a short session, map to DTOs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from adapters.db import inventory_queries, queries
from adapters.db.cursors import InvalidCursorError
from adapters.db.latest_tasks import latest_sync_tasks
from domain.catalog import OrderStatus
from domain.sync import ACTIVE_STATUSES, SyncTaskStatus, SyncTrigger
from gql import mappers
from gql import types as t
from gql.context import Info
from gql.errors import BadRequestError
from gql.inputs import aware
from gql.live_outage import read_live

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise BadRequestError(f"first must be between 1 and {MAX_PAGE} (this one is {first}).")
    return first


def _cursor(after: str | None) -> str | None:
    if after is not None and (not after or len(after) > 500):
        raise BadRequestError("after is not a cursor from this API.")
    return after


def wants_total(info: Info) -> bool:
    """Whether the connection's `totalCount` was asked for (a COUNT over a large shop is the costly part)."""

    def asks(selections: Iterable[Any]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == "totalCount":
                    return True
            elif isinstance(selection, (FragmentSpread, InlineFragment)) and asks(selection.selections):
                return True
        return False

    return any(asks(field.selections) for field in info.selected_fields)


async def connection_page(info: Info, fetch: Any, mapper: Any) -> t.Connection[Any]:
    """The connection of `fetch(session)`'s page (an `adapters.db` page: `items` with `cursor`, `has_next_page`,
    `total_count`), each item mapped by `mapper`. Every connection field reads through here, so that in a
    subscription's message (a shop's `products`, `orders`, `syncTasks`, an item's `movements`) the read waits out a
    database outage as the message's other reads do (`read_live`); a bad cursor is BAD_USER_INPUT."""

    async def read() -> Any:
        async with info.context.services.db.read_sessionmaker() as session:
            return await fetch(session)

    try:
        page = await read_live(info, read)
    except InvalidCursorError as exc:
        raise BadRequestError("after is not a cursor from this API.") from exc
    total = page.total_count if page.total_count is not None else -1  # -1 only when nobody asked for it
    return t.connection([(row.cursor, mapper(row)) for row in page.items], page.has_next_page, total)


async def shops(info: Info, first: int | None, after: str | None) -> t.Connection[t.Shop]:
    merchant_id = info.context.require_merchant()
    size, cursor = page_size(first), _cursor(after)
    now = info.context.services.clock.now()
    return await connection_page(
        info,
        lambda session: queries.shop_page(
            session, merchant_id, size, cursor, with_total=wants_total(info), cipher=info.context.services.cipher
        ),
        lambda row: mappers.shop(row, now),
    )


async def linked_sku_count(info: Info, shop_id: str, available_at_most: int | None) -> int:
    """`Shop.linkedSkuCount`: the merchant's LINKED SKUs of the shop, by their item's available (one COUNT)."""
    merchant_id = info.context.require_merchant()

    async def read() -> int:
        async with info.context.services.db.read_sessionmaker() as session:
            return await inventory_queries.linked_sku_count(session, merchant_id, shop_id, available_at_most)

    return await read_live(info, read)


async def products(info: Info, shop_id: str, first: int | None, after: str | None) -> t.Connection[t.Product]:
    merchant_id = info.context.require_merchant()
    size, cursor = page_size(first), _cursor(after)
    return await connection_page(
        info,
        lambda session: queries.product_page(session, merchant_id, shop_id, size, cursor, with_total=wants_total(info)),
        mappers.product,
    )


async def orders(
    info: Info,
    shop_id: str,
    first: int | None,
    after: str | None,
    status: Any,
    created_after: datetime | None,
) -> t.Connection[t.Order]:
    merchant_id = info.context.require_merchant()
    size, cursor = page_size(first), _cursor(after)
    return await connection_page(
        info,
        lambda session: queries.order_page(
            session,
            merchant_id,
            shop_id,
            size,
            cursor,
            status=None if status is None else OrderStatus(status).value,
            created_after=aware(created_after),
            with_total=wants_total(info),
        ),
        mappers.order,
    )


async def sync_tasks(
    info: Info,
    shop_id: str | None,
    statuses: Iterable[Any] | None,
    first: int | None,
    after: str | None,
    triggers: Iterable[Any] | None = None,
) -> t.Connection[t.SyncTask]:
    merchant_id = info.context.require_merchant()
    size, cursor = page_size(first), _cursor(after)
    # Sets: deduplicated (a variable may repeat a value any number of times, and each would be a bound
    # parameter), and an empty one matches no task; only an absent filter (None) matches them all.
    wanted = None if statuses is None else sorted({SyncTaskStatus(s) for s in statuses})
    started_by = None if triggers is None else sorted({SyncTrigger(s) for s in triggers})
    return await connection_page(
        info,
        lambda session: queries.sync_task_page(
            session,
            merchant_id,
            size,
            cursor,
            shop_id=shop_id,
            statuses=wanted,
            triggers=started_by,
            with_total=wants_total(info),
        ),
        mappers.sync_task,
    )


async def sync_task(info: Info, task_id: str) -> t.SyncTask | None:
    rows = await sync_task_rows(info, info.context.require_merchant(), {task_id})
    return mappers.sync_task(rows[0]) if rows else None


async def product(info: Info, product_id: str) -> t.Product | None:
    async with info.context.services.db.read_sessionmaker() as session:
        row = (await queries.products_by_ids(session, info.context.require_merchant(), [product_id])).get(product_id)
    return mappers.product(row) if row else None


async def order(info: Info, order_id: str) -> t.Order | None:
    async with info.context.services.db.read_sessionmaker() as session:
        row = (await queries.orders_by_ids(session, info.context.require_merchant(), [order_id])).get(order_id)
    return mappers.order(row) if row else None


async def sync_task_rows(info: Info, merchant_id: str, ids: set[str]) -> list[Any]:
    async with info.context.services.db.read_sessionmaker() as session:
        return list((await queries.sync_tasks_by_ids(session, merchant_id, ids)).values())


async def latest_sync_task_rows(info: Info, merchant_id: str, shop_id: str | None) -> list[Any]:
    """Each shop's newest task of each kind (at most MAX_PAGE), oldest first: the current sync state."""
    async with info.context.services.db.read_sessionmaker() as session:
        return await latest_sync_tasks(session, merchant_id, shop_id, limit=MAX_PAGE)


async def active_sync_task_rows(info: Info, merchant_id: str, shop_id: str | None) -> list[Any]:
    async with info.context.services.db.read_sessionmaker() as session:
        page = await queries.sync_task_page(
            session, merchant_id, MAX_PAGE, None, shop_id=shop_id, statuses=ACTIVE_STATUSES, with_total=False
        )
    return list(page.items)
