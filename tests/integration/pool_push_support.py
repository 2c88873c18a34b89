"""Helpers for the push's tests: the `world` fixture (import `world_fixture`), a shop connected to the sandbox with its
products imported, pool items and links written straight into the tables (auto-linking is pool-core's; here the
pusher is under test), stock changes that mark the outbox dirty in the same transaction, and TikTok's stock as the
sandbox holds it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Set
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.tables import inventory_items, inventory_push_outbox, sku_links, skus
from adapters.tiktok import TikTokClient
from adapters.tls import tls_context
from domain.clock import Clock, SystemClock
from domain.ports import UnitOfWorkFactory
from domain.services.inventory_push import PushDeps
from domain.shops import Shop
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import connect_shop, sync_settings
from tests.fixtures.tasks import end_tasks_left


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PushWorld:
    db: Database
    uows: UnitOfWorkFactory
    tiktok: TikTokClient
    http: httpx.AsyncClient
    sandbox: SandboxServer

    def deps(self, holder: str = "test-worker", clock: Clock | None = None, **changes: Any) -> PushDeps:
        return PushDeps(self.uows, self._api, clock or SystemClock(), holder=holder, **changes)

    def _api(self, shop: Shop, on_refreshed: Any) -> Any:
        return self.tiktok.for_shop(
            shop.tiktok_shop_cipher, shop.tokens, on_refreshed.refreshed, stored_tokens=on_refreshed.stored
        )

    async def aclose(self, before: Set[asyncio.Task[Any]]) -> None:
        """Close TikTok's client, wait for the tasks started since `before` (`end_tasks_left`), dispose the database."""
        try:
            await self.http.aclose()
            await end_tasks_left(before)
        finally:
            await self.db.dispose()


def push_world(database_url: str, sandbox: SandboxServer, settings: Any) -> PushWorld:
    db = Database(database_url)
    # A held Update Inventory stays in flight while a test lands its sales (a hundred transactions, which took over
    # 10 s, the default TikTok timeout, in a full run at load 13): a timeout would make the transport send it again
    # and TikTok would count the same value twice (harmless, but not the calls those tests count). A hang still
    # fails the test (pytest-timeout).
    http = httpx.AsyncClient(verify=tls_context())
    uows = uow_factory(db, TokenCipher(settings.encryption_key))
    tiktok = replace(settings.tiktok, timeout_seconds=120.0)
    return PushWorld(db, uows, TikTokClient(tiktok, http), http, sandbox)


@asynccontextmanager
async def opened_push_world(
    database_url: str, sandbox: SandboxServer, tmp_path: Any, settings: Any = None
) -> AsyncIterator[PushWorld]:
    """`push_world` with the suite's sync settings (or `settings`), closed on exit: the push tests' fixture body.
    TikTok's client first (a request a stopped push left in flight ends then: one whose answer trickles in for a
    minute, test_inventory_push_deadline.py), then the tasks the test left end (`tests.fixtures.tasks`: a push's
    record or hand-back in flight), then the database goes."""
    before = asyncio.all_tasks()
    made = push_world(database_url, sandbox, settings or sync_settings(database_url, sandbox, tmp_path))
    try:
        yield made
    finally:
        await made.aclose(before)


@pytest.fixture(name="world")
async def world_fixture(database_url: str, sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[PushWorld]:
    """The push tests' `world` over the suite's sandbox: `from tests.integration.pool_push_support import
    world_fixture  # noqa: F401`, then ask for `world`."""
    async with opened_push_world(database_url, sandbox, tmp_path) as made:
        yield made


async def imported_shop(
    world: PushWorld, seller: str = "us-local", merchant_id: str = "m1", *, on_sale: bool = True
) -> Shop:
    """A shop authorized through the sandbox, with every product imported (one Search Products page). `on_sale`: every
    product not DELETED is made ACTIVATE first (a Seller Center edit), as these tests push whichever product they pick
    and neither TikTok nor the pusher writes the stock of a product in another status (README, "A product TikTok does
    not sell is not pushed"); False: the generated statuses as they are."""
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, seller, merchant_id)
    if on_sale:
        put_on_sale(world.sandbox, shop)
    page = await world.tiktok.search_products(shop.tokens.access_token, shop.tiktok_shop_cipher, page_size=100)
    assert page.next_page_token in (None, ""), "the sandbox should have one page of products"
    async with world.uows() as uow:
        await uow.catalog.upsert_products(shop.id, page.items)  # type: ignore[arg-type]
        await uow.commit()
    return shop


def put_on_sale(sandbox: SandboxServer, shop: Shop) -> None:
    """Every product of the shop at the sandbox that is not DELETED made ACTIVATE (a Seller Center edit each)."""
    for product in sandbox_products(sandbox, shop):
        if product["status"] not in ("ACTIVATE", "DELETED"):
            sandbox.control("POST", f"/products/{product['id']}", {"status": "ACTIVATE"})


def sandbox_products(sandbox: SandboxServer, shop: Shop) -> list[dict[str, Any]]:
    return list(sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/products")["products"])


def tiktok_stock(sandbox: SandboxServer, shop: Shop) -> dict[str, dict[str, int]]:
    """TikTok SKU id -> {warehouse id: available} as the sandbox holds it."""
    return {
        sku["id"]: {level["warehouse_id"]: level["quantity"] for level in sku["inventory"]}
        for product in sandbox_products(sandbox, shop)
        for sku in product["skus"]
    }


def updates(sandbox: SandboxServer, shop: Shop, product_id: str | None = None) -> list[dict[str, Any]]:
    query = f"?shop_id={shop.tiktok_shop_id}" + (f"&product_id={product_id}" if product_id else "")
    return list(sandbox.control("GET", "/inventory-updates" + query)["updates"])


async def add_item(db: Database, merchant_id: str, sku: str, on_hand: int, reserved: int = 0, safety: int = 0) -> str:
    item_id = uuid.uuid4().hex
    async with db.write_sessionmaker() as session, session.begin():
        await session.execute(
            insert(inventory_items).values(
                id=item_id, merchant_id=merchant_id, sku=sku, on_hand=on_hand, reserved=reserved, safety_stock=safety,
                version=1, created_at=now(), updated_at=now(),
            )
        )  # fmt: skip
    return item_id


async def link(db: Database, shop: Shop, tiktok_sku_id: str, item_id: str, tiktok_product_id: str) -> str:
    """A LINKED sku_links row for the shop's SKU; returns Shopbridge's SKU id."""
    async with db.write_sessionmaker() as session, session.begin():
        sku_id = (
            await session.execute(
                select(skus.c.id).where(skus.c.shop_id == shop.id, skus.c.tiktok_sku_id == tiktok_sku_id)
            )
        ).scalar_one()
        await session.execute(
            insert(sku_links).values(
                sku_id=sku_id, shop_id=shop.id, merchant_id=shop.merchant_id, inventory_item_id=item_id,
                tiktok_product_id=tiktok_product_id, tiktok_sku_id=tiktok_sku_id, state="LINKED", source="MANUAL",
                drift_count=0, updated_at=now(),
            )
        )  # fmt: skip
    return sku_id


async def change_stock(world: PushWorld, item_id: str, on_hand_delta: int, marks: list[tuple[str, str]]) -> None:
    """What pool-core's services do: change the item's counters and mark each (shop id, product id) dirty, in
    one transaction."""
    async with world.uows() as uow:
        await uow.session.execute(  # type: ignore[attr-defined]
            update(inventory_items)
            .where(inventory_items.c.id == item_id)
            .values(on_hand=inventory_items.c.on_hand + on_hand_delta, version=inventory_items.c.version + 1)
        )
        for shop_id, product_id in marks:
            await uow.inventory_push.mark_dirty(shop_id, [product_id], now())
        await uow.commit()


async def outbox_row(db: Database, shop: Shop, product_id: str) -> dict[str, Any]:
    async with db.read_sessionmaker() as session:
        row = (
            (
                await session.execute(
                    select(inventory_push_outbox).where(
                        inventory_push_outbox.c.shop_id == shop.id,
                        inventory_push_outbox.c.tiktok_product_id == product_id,
                    )
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


async def link_row(db: Database, sku_id: str) -> dict[str, Any]:
    async with db.read_sessionmaker() as session:
        row = (await session.execute(select(sku_links).where(sku_links.c.sku_id == sku_id))).mappings().one()
    return dict(row)
