"""Contract of the `ShopApi` port: `tests.fakes.FakeShopApi` and the real client (`ShopSession`, the sandbox over
HTTP) serving the same records must page alike: half-open time windows, every record once, totals, next tokens,
changes oldest first, a resumable product scan. The fake is built from the sandbox's raw JSON, written out field by
field (tests/integration/test_tiktok_client.py), so both hold exactly the same shop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.tls import tls_context
from domain.ports import GatewayRefusedError
from tests.fakes import FakeRefreshApi, FakeShopApi
from tests.integration.test_tiktok_client import connect, expected_order, expected_product, make_client


@dataclass
class Shop:
    api: Any  # a ShopApi
    orders: list[dict[str, Any]]  # the sandbox's raw orders of the shop
    products: list[dict[str, Any]]


@pytest.fixture(params=["fake", "sandbox"])
async def shop(request: pytest.FixtureRequest, sandbox: Any) -> AsyncIterator[Shop]:
    async with httpx.AsyncClient(verify=tls_context()) as http:
        client = make_client(sandbox, http)
        connected = await connect(sandbox, client, "us-local")
        shop_id = connected.shop.tiktok_shop_id
        orders = sandbox.control("GET", f"shops/{shop_id}/orders")["orders"]
        products = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
        if request.param == "fake":
            api: Any = FakeShopApi([expected_product(p) for p in products], [expected_order(o) for o in orders])
        else:
            api = connected.session
        yield Shop(api, orders, products)


def _window(times: list[int]) -> tuple[int, int]:
    """From the median to the latest time, exclusive: the record at the end must be left out."""
    ordered = sorted(times)
    return ordered[len(ordered) // 2], ordered[-1]


async def _all_pages(search: Any, **window: int) -> tuple[list[Any], int | None]:
    items: list[Any] = []
    token: str | None = None
    total = None
    while True:
        page = await search(page_size=7, page_token=token, **window)
        total = page.total_count if total is None else total
        items.extend(page.items)
        token = page.next_page_token
        if token is None:
            return items, total


async def test_orders_by_create_time_in_a_half_open_window_each_once_with_the_total(shop: Shop) -> None:
    ge, lt = _window([o["create_time"] for o in shop.orders])
    want = {o["id"] for o in shop.orders if ge <= o["create_time"] < lt}
    items, total = await _all_pages(shop.api.search_orders, create_time_ge=ge, create_time_lt=lt)
    ids = [item.tiktok_order_id for item in items]
    assert len(ids) == len(set(ids)) and set(ids) == want and total == len(want) > 0


async def test_orders_by_update_time_come_oldest_change_first(shop: Shop) -> None:
    ge, lt = _window([o["update_time"] for o in shop.orders])
    want = {o["id"] for o in shop.orders if ge <= o["update_time"] < lt}
    items, _ = await _all_pages(shop.api.search_updated_orders, update_time_ge=ge, update_time_lt=lt)
    ids = [item.tiktok_order_id for item in items]
    assert len(ids) == len(set(ids)) and set(ids) == want and want
    updated = [item.updated_at for item in items]
    assert updated == sorted(updated)


async def test_a_product_scan_yields_every_product_once_and_resumes_from_its_checkpoint(shop: Shop) -> None:
    want = {p["id"] for p in shop.products}
    seen: list[str] = []
    first_checkpoint: dict[str, Any] | None = None
    async for scan in shop.api.scan_products(None, page_size=7):
        seen.extend(item.tiktok_product_id for item in scan.page.items)
        first_checkpoint = first_checkpoint or scan.checkpoint
    assert len(seen) == len(set(seen)) and set(seen) == want
    # a run that stopped after its first page resumes from that page's checkpoint: the rest, nothing twice
    first = seen[:7]
    rest: list[str] = []
    async for scan in shop.api.scan_products(first_checkpoint, page_size=7):
        rest.extend(item.tiktok_product_id for item in scan.page.items)
    assert sorted(first + rest) == sorted(want)


async def test_products_updated_in_a_closed_window_each_once_and_resumable(shop: Shop) -> None:
    # given a window from the median update time to the latest, both ends included (Search Products' update_time_le)
    times = sorted(p["update_time"] for p in shop.products)
    ge, le = times[len(times) // 2], times[-1]
    want = {p["id"] for p in shop.products if ge <= p["update_time"] <= le}
    assert {p["id"] for p in shop.products if p["update_time"] in (ge, le)} <= want and len(want) > 3
    seen: list[str] = []
    first_checkpoint: dict[str, Any] | None = None
    async for scan in shop.api.scan_updated_products(ge, le, None, page_size=3):
        seen.extend(item.tiktok_product_id for item in scan.page.items)
        first_checkpoint = first_checkpoint or scan.checkpoint
    assert len(seen) == len(set(seen)) and set(seen) == want
    # a run that stopped after its first page resumes from that page's checkpoint
    rest: list[str] = []
    async for scan in shop.api.scan_updated_products(ge, le, first_checkpoint, page_size=3):
        rest.extend(item.tiktok_product_id for item in scan.page.items)
    assert sorted(seen[:3] + rest) == sorted(want)


@pytest.fixture(params=["fake", "sandbox"])
async def refresh(request: pytest.FixtureRequest, sandbox: Any) -> AsyncIterator[Shop]:
    """The `ShopRefreshApi` port (what webhooks re-fetch): FakeRefreshApi or ShopSession, same shop."""
    async with httpx.AsyncClient(verify=tls_context()) as http:
        connected = await connect(sandbox, make_client(sandbox, http), "us-local")
        shop_id = connected.shop.tiktok_shop_id
        orders = sandbox.control("GET", f"shops/{shop_id}/orders")["orders"]
        products = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
        if request.param == "fake":
            fake = FakeRefreshApi([expected_order(o) for o in orders], [expected_product(p) for p in products])
            yield Shop(fake, orders, products)
        else:
            yield Shop(connected.session, orders, products)


UNKNOWN = "5760000000000000999"  # a well-formed id no record of the shop has


async def test_order_detail_returns_the_shops_orders_and_refuses_when_none_is_its(refresh: Shop) -> None:
    known = [o["id"] for o in refresh.orders[:2]]
    got = await refresh.api.get_orders([*known, UNKNOWN])
    assert sorted(o.tiktok_order_id for o in got) == sorted(known)
    assert [o.status for o in sorted(got, key=lambda o: o.tiktok_order_id)] == [
        o["status"] for o in sorted(refresh.orders[:2], key=lambda o: o["id"])
    ]
    with pytest.raises(GatewayRefusedError):  # TikTok's 21008111: none of these orders belongs to the shop
        await refresh.api.get_orders([UNKNOWN])


async def test_get_product_returns_it_and_refuses_one_not_in_the_shop(refresh: Shop) -> None:
    product = refresh.products[0]
    got = await refresh.api.get_product(product["id"])
    assert (got.tiktok_product_id, got.title) == (product["id"], product["title"])
    with pytest.raises(GatewayRefusedError):  # TikTok's 12052048
        await refresh.api.get_product(UNKNOWN)
