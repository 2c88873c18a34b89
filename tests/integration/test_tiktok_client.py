"""The production TikTok client against the sandbox over real HTTP; the sandbox's counters prove what happened.

Fixtures `sandbox` and `sandbox_factory` come from `tests/fixtures/sandbox.py`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.config import TikTokSettings
from adapters.tiktok import (
    ApiError,
    AuthCodeRejectedError,
    InvalidAccessTokenError,
    InvalidRefreshTokenError,
    ShopSession,
    SkuStock,
    TikTokClient,
)
from adapters.tiktok.factory import build_tiktok_client
from adapters.tls import tls_context
from domain.catalog import BundleComponent, LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.ports import (
    AuthorizationLostError,
    CursorStuckError,
    GatewayRefusedError,
    MissingPermissionError,
    TikTokUnavailableError,
)
from domain.shops import AuthorizedShop, TokenSet
from domain.stored import StoredOrder, StoredProduct
from tests.fixtures.sandbox import SMALL_DATA
from tests.fixtures.sync import sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS

DAY = 86400
PRODUCT_SEARCH = "/product/202309/products/search"
ORDER_SEARCH = "/order/202309/orders/search"
TOKEN_REFRESH = "/api/v2/token/refresh"


async def control(sandbox: Any, method: str, path: str, json: Any = None) -> Any:
    """The sandbox's control surface (`/_sandbox/...`), whether the fixture offers it sync or async."""
    result = sandbox.control(method, path.removeprefix("/_sandbox"), json)
    return await result if inspect.isawaitable(result) else result


async def authorize(sandbox: Any, seller: str, state: str = "state-1") -> dict[str, str]:
    result = sandbox.authorize(seller, state)
    return await result if inspect.isawaitable(result) else result


def settings_for(sandbox: Any, **overrides: Any) -> TikTokSettings:
    base = sandbox.url.rstrip("/")
    values: dict[str, Any] = {
        "app_key": sandbox.config.app_key,
        "app_secret": sandbox.config.app_secret,
        "service_id": sandbox.config.service_id,
        "api_url": base,
        "auth_url": base,
        "authorize_url": base + "/oauth/authorize",
        "rate_limit_per_second": 50.0,
        "timeout_seconds": 5.0,
        "max_retries": 6,
    }
    return TikTokSettings(**{**values, **overrides})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls_context(), limits=httpx.Limits(max_connections=100)) as client:
        yield client


async def fast_sleep(seconds: float) -> None:
    # Backoff shortened tenfold: the tests prove that retries happen, not how long they wait.
    await asyncio.sleep(seconds / 10)


def make_client(sandbox: Any, http: httpx.AsyncClient, **overrides: Any) -> TikTokClient:
    return TikTokClient(settings_for(sandbox, **overrides), http, sleep=fast_sleep)


@dataclass
class Connected:
    """A seller who consented: the tokens, the shop, and a session that records every refreshed pair."""

    tokens: TokenSet
    shop: AuthorizedShop
    session: ShopSession
    refreshed: list[TokenSet] = field(default_factory=list)


async def connect(sandbox: Any, client: TikTokClient, seller: str) -> Connected:
    params = await authorize(sandbox, seller)
    tokens = await client.exchange_code(params["code"])
    shops = await client.authorized_shops(tokens.access_token)
    refreshed: list[TokenSet] = []

    async def persist(new_tokens: TokenSet) -> None:
        refreshed.append(new_tokens)

    session = client.for_shop(shops[0].cipher, tokens, persist)
    return Connected(tokens, shops[0], session, refreshed)


async def counters(sandbox: Any, path: str) -> dict[str, int]:
    snapshot = await control(sandbox, "GET", "/_sandbox/counters")
    return dict(snapshot["by_path"].get(path, {}))


async def ground_truth_products(sandbox: Any, shop_id: str) -> dict[str, Product]:
    raw = await control(sandbox, "GET", f"/_sandbox/shops/{shop_id}/products")
    products = [expected_product(p) for p in raw["products"]]
    return {p.tiktok_product_id: p for p in products}


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def expected_product(p: dict[str, Any]) -> Product:
    """The domain product a sandbox product stands for, written out field by field (not by the code under test)."""
    combined = "COMBINED_PRODUCT" in p.get("product_types", [])  # a virtual bundle (live-sync.md §1.5)
    skus = tuple(
        Sku(
            s["id"],
            s["seller_sku"] or None,  # TikTok sends "" for a SKU without a seller SKU; Shopbridge has None
            Money(Decimal(s["price"]["sale_price"]), s["price"]["currency"]),
            tuple(WarehouseStock(i["warehouse_id"], i["quantity"]) for i in s["inventory"]),
            combined or bool(s.get("combined_skus")),
        )
        for s in p["skus"]  # a DELETED product's too, as Search Products lists them (domain.stored.store_product)
    )
    return Product(p["id"], p["title"], p["status"], _when(p["create_time"]), _when(p["update_time"]), skus)


def expected_order(o: dict[str, Any]) -> Order:
    """The domain order a sandbox order stands for (each line item one unit; the address empty while unpaid)."""
    items = tuple(
        LineItem(
            i["id"],
            i["sku_id"],
            i["product_id"],
            i["seller_sku"] or None,  # a SKU the seller left without one: "" (the decoder reads it as none)
            i["product_name"],
            1,
            Money(Decimal(i["sale_price"]), i["currency"]),
            tuple(  # a virtual bundle's line: its components (live-sync.md §1.5)
                BundleComponent(c["sku_id"], c["sku_count"], c["seller_sku"] or None)
                for c in i.get("combined_listing_skus", [])
            ),
            i.get("display_status") or None,  # the line's own status (an item-level cancellation)
            i.get("package_status") or None,  # its package's (CANCELLED after shipping: lost, no restock)
        )
        for i in o["line_items"]
    )
    total = Money(Decimal(o["payment"]["total_amount"]), o["payment"]["currency"])
    address = o["recipient_address"]
    created, updated = _when(o["create_time"]), _when(o["update_time"])
    return Order(
        o["id"],
        o["status"],
        created,
        updated,
        total,
        items,
        o["user_id"],
        address.get("name"),
        address.get("region_code"),
        o.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK",  # an FBT order: the pool leaves it out
        _when(o["collection_time"]) if o.get("collection_time") else None,  # once the carrier collected it
        tuple(p["id"] for p in o.get("packages") or ()),
    )


async def scan_all(session: ShopSession, page_size: int = 100) -> list[Product]:
    found: list[Product] = []
    async for scan in session.scan_products(None, page_size=page_size):
        assert all(isinstance(item, StoredProduct) for item in scan.page.items)
        found.extend(item.product() for item in scan.page.items if isinstance(item, StoredProduct))
    return found


async def all_orders(session: ShopSession, ge: int, lt: int, page_size: int = 50) -> list[Order]:
    found: list[Order] = []
    token: str | None = None
    while True:
        page = await session.search_orders(page_size=page_size, page_token=token, create_time_ge=ge, create_time_lt=lt)
        assert all(isinstance(item, StoredOrder) for item in page.items)
        found.extend(item.order() for item in page.items if isinstance(item, StoredOrder))
        token = page.next_page_token
        if token is None:
            return found


@pytest.fixture(autouse=True)
async def clean_sandbox(sandbox: Any) -> None:
    await control(sandbox, "POST", "/_sandbox/reset")


# -- OAuth ---------------------------------------------------------------------------------------------------------


async def test_code_exchange_and_refresh(sandbox, http):
    client = make_client(sandbox, http)
    # given a seller who approved the consent page reached through our authorization URL's parameters
    assert "state=state-1" in client.authorization_url("state-1")
    params = await authorize(sandbox, "us-local")
    # when the code is exchanged
    tokens = await client.exchange_code(params["code"])
    # then the expiries are absolute and about 7 days / 1 year ahead
    now = time.time()
    assert abs(tokens.access_token_expires_at.timestamp() - (now + 7 * DAY)) < 60
    assert tokens.refresh_token_expires_at.timestamp() > now + 300 * DAY
    # and the code cannot be used twice
    with pytest.raises(AuthCodeRejectedError):
        await client.exchange_code(params["code"])
    # and a refresh gives a new pair that works
    renewed = await client.refresh(tokens.refresh_token)
    assert renewed.access_token != tokens.access_token
    assert (await client.authorized_shops(renewed.access_token))[0].region_code == "US"


async def test_client_works_against_a_sandbox_mounted_under_a_prefix(sandbox_factory, http):
    from sandbox.config import SandboxConfig

    # given the sandbox embedded under /sandbox, as the main app mounts it: URLs carry the prefix, signatures do not
    sandbox = sandbox_factory(SandboxConfig(products=12, orders=10), mount_prefix="/sandbox")
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    found = await scan_all(shop.session, page_size=5)
    assert len(found) == 12


async def test_authorized_shops(sandbox, http):
    client = make_client(sandbox, http)
    local = await connect(sandbox, client, "us-local")
    assert (local.shop.region_code, local.shop.seller_type) == ("US", "LOCAL")
    assert local.shop.cipher and local.shop.tiktok_shop_id.isdigit()
    uk = await connect(sandbox, client, "uk-local")
    assert uk.shop.region_code == "GB"
    tokens = await client.exchange_code((await authorize(sandbox, "cross-border"))["code"])
    shops = await client.authorized_shops(tokens.access_token)
    assert len(shops) >= 2 and {s.seller_type for s in shops} == {"CROSS_BORDER"}


# -- products ------------------------------------------------------------------------------------------------------


async def test_full_product_scan_equals_ground_truth(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    found = await scan_all(shop.session, page_size=7)
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    assert len(found) == len(truth) > 0
    assert {p.tiktok_product_id: p for p in found} == truth


async def test_product_scan_splits_windows_under_a_small_cap(sandbox_factory, http):
    from sandbox.config import SandboxConfig

    # given a sandbox whose search refuses more than 12 results, and a catalog of 60
    sandbox = sandbox_factory(SandboxConfig(products=60, product_search_cap=12))
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    # when the whole catalog is scanned
    found = await scan_all(shop.session, page_size=5)
    # then every product arrives, once, and the sandbox did refuse the wide windows
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    assert sorted(p.tiktok_product_id for p in found) == sorted(truth)
    assert (await counters(sandbox, PRODUCT_SEARCH)).get("12052180", 0) >= 1


async def test_product_scan_resumes_from_a_stored_checkpoint(sandbox_factory, http):
    from sandbox.config import SandboxConfig

    sandbox = sandbox_factory(SandboxConfig(products=40, product_search_cap=12))
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    stored: list[str] = []
    checkpoint: dict[str, Any] = {}
    async for scan in shop.session.scan_products(checkpoint, page_size=5):
        stored.extend(p.tiktok_product_id for p in scan.page.items if isinstance(p, StoredProduct))
        checkpoint = scan.checkpoint
        if len(stored) >= 15:
            break  # the worker died here, after storing this page and its checkpoint
    async for scan in shop.session.scan_products(checkpoint, page_size=5):
        stored.extend(p.tiktok_product_id for p in scan.page.items if isinstance(p, StoredProduct))
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    assert sorted(stored) == sorted(truth)


async def test_product_scan_resumed_with_a_refused_page_token_restarts_its_window(sandbox_factory, http):
    from sandbox.config import SandboxConfig

    # given a scan that died mid-window, its checkpoint holding a page token TikTok no longer accepts
    sandbox = sandbox_factory(SandboxConfig(products=40, product_search_cap=12))
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    before: list[str] = []
    checkpoint: dict[str, Any] = {}
    async for scan in shop.session.scan_products(None, page_size=5):
        before.extend(p.tiktok_product_id for p in scan.page.items if isinstance(p, StoredProduct))
        checkpoint = scan.checkpoint
        if checkpoint["page_token"]:
            break
    checkpoint = {**checkpoint, "page_token": checkpoint["page_token"][:-8] + "garbled="}
    # when the import resumes from it
    after: list[str] = []
    async for scan in shop.session.scan_products(checkpoint, page_size=5):
        after.extend(p.tiktok_product_id for p in scan.page.items if isinstance(p, StoredProduct))
    # then the sandbox refused the token once, the window restarted from its first page (re-reading, unchanged,
    # what the dead run had stored), and the import ends with exactly the catalog
    assert (await counters(sandbox, PRODUCT_SEARCH)).get("12019108") == 1
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    assert len(after) == len(set(after)) and set(before) | set(after) == set(truth)


# -- orders --------------------------------------------------------------------------------------------------------


async def test_order_windows_and_paging_are_complete_without_duplicates(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    now = int(time.time()) + 1
    since = now - 30 * DAY
    # given the last 30 days cut into three [ge, lt) windows, walked in pages of 7
    edges = [since, since + 10 * DAY, since + 20 * DAY, now]
    found: list[Order] = []
    for ge, lt in itertools.pairwise(edges):
        window = await all_orders(shop.session, ge, lt, page_size=7)
        created = [o.created_at.timestamp() for o in window]
        assert created == sorted(created)  # create_time ascending
        assert all(ge <= t < lt for t in created)
        found.extend(window)
    # then every order created in the 30 days arrives exactly once
    ids = [o.tiktok_order_id for o in found]
    assert len(ids) == len(set(ids))
    truth = await control(sandbox, "GET", f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/orders?created_since={since}")
    assert set(ids) == {o["id"] for o in truth["orders"]}
    # and the sandbox's 45-day spread left older orders out
    everything = await control(sandbox, "GET", f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/orders")
    assert len(everything["orders"]) > len(ids)


async def test_order_detail(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    truth = await control(sandbox, "GET", f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/orders")
    wanted = [o["id"] for o in truth["orders"][:5]]
    orders = await shop.session.get_orders(wanted)
    assert sorted(o.tiktok_order_id for o in orders if isinstance(o, Order)) == sorted(wanted)
    expected = {o["id"]: expected_order(o) for o in truth["orders"][:5]}
    assert {o.tiktok_order_id: o for o in orders if isinstance(o, Order)} == expected


async def test_an_order_tiktok_fulfils_reads_as_such_in_detail_and_search(sandbox, http):
    # given a seller-fulfilled order and one TikTok ships from its own warehouse (FBT)
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    placed = await control(
        sandbox, "POST", f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/orders",
        {"orders": [{"create_time": 1_700_000_000, "fulfillment_type": "FULFILLMENT_BY_TIKTOK"},
                    {"create_time": 1_700_000_000, "fulfillment_type": "FULFILLMENT_BY_SELLER"}]},
    )  # fmt: skip
    fbt, own = (o["id"] for o in placed["orders"])
    # then Get Order Detail and Search Orders both say which one TikTok fulfils
    detail = {o.tiktok_order_id: o for o in await shop.session.get_orders([fbt, own]) if isinstance(o, Order)}
    assert (detail[fbt].fulfilled_by_tiktok, detail[own].fulfilled_by_tiktok) == (True, False)
    assert detail == {o["id"]: expected_order(o) for o in placed["orders"]}
    searched = {o.tiktok_order_id: o for o in await all_orders(shop.session, 1_700_000_000, 1_700_000_001)}
    assert (searched[fbt].fulfilled_by_tiktok, searched[own].fulfilled_by_tiktok) == (True, False)


async def test_each_lines_package_status_reads_from_detail_and_search(sandbox, http):
    # given an order in transit, one still to ship, and one placed cancelled with its package lost
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    orders = f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/orders"
    placed = await control(
        sandbox, "POST", orders,
        {"orders": [{"create_time": 1_700_000_000, "status": "IN_TRANSIT"},
                    {"create_time": 1_700_000_000, "status": "AWAITING_SHIPMENT"},
                    {"create_time": 1_700_000_000, "status": "CANCELLED", "package_status": "CANCELLED"}]},
    )  # fmt: skip
    shipped, waiting, placed_lost = (o["id"] for o in placed["orders"])
    # when the one in transit is next CANCELLED (its package had left: lost) and the one to ship is cancelled
    changed = await control(
        sandbox,
        "POST",
        orders,
        {"orders": [{"id": shipped, "status": "CANCELLED"}, {"id": waiting, "status": "CANCELLED"}]},
    )
    # then Get Order Detail and Search Orders read each line's package status (live-sync.md §3.2)
    truth = {o["id"]: o for o in [*placed["orders"], *changed["orders"]]}
    wanted = {shipped: "CANCELLED", waiting: "TO_FULFILL", placed_lost: "CANCELLED"}
    detail = {o.tiktok_order_id: o for o in await shop.session.get_orders(list(wanted)) if isinstance(o, Order)}
    assert {k: {line.package_status for line in o.line_items} for k, o in detail.items()} == {
        k: {v} for k, v in wanted.items()
    }
    assert detail == {k: expected_order(truth[k]) for k in wanted}
    searched = {o.tiktok_order_id: o for o in await all_orders(shop.session, 1_700_000_000, 1_700_000_001)}
    assert {k: searched[k] for k in wanted} == detail


async def test_get_product_reads_one_product_like_search_does(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    wanted = sorted(truth)[:3]
    for product_id in wanted:
        assert await shop.session.get_product(product_id) == truth[product_id]
    # a product that is not in the shop is TikTok's 12052048, not retried
    with pytest.raises(ApiError) as refused:
        await shop.session.get_product("1729000000000000000")
    assert refused.value.code == 12052048
    calls = await counters(sandbox, "/product/202309/products/{product_id}")
    assert calls == {"ok": 3, "12052048": 1}


# -- inventory -----------------------------------------------------------------------------------------------------


async def test_inventory_search_and_update(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    product = next(
        p for p in (await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)).values() if p.status == "ACTIVATE"
    )
    sku = product.skus[0]
    # given the stock as TikTok reports it
    levels = await shop.session.search_inventory(product_ids=[product.tiktok_product_id])
    by_sku = {level.sku_id: level for level in levels}
    assert set(by_sku) == {s.tiktok_sku_id for s in product.skus}
    assert by_sku[sku.tiktok_sku_id].warehouses == sku.stock
    # when every warehouse of one SKU is set to a new quantity
    new_stock = [WarehouseStock(w.warehouse_id, w.quantity + 7) for w in sku.stock]
    result = await shop.session.update_inventory(product.tiktok_product_id, [SkuStock(sku.tiktok_sku_id, new_stock)])
    # then it succeeded and both TikTok's answer and the ground truth show it
    assert result.ok
    after = await shop.session.search_inventory(sku_ids=[sku.tiktok_sku_id])
    assert after[0].warehouses == tuple(new_stock)
    truth = await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)
    assert truth[product.tiktok_product_id].skus[0].stock == tuple(new_stock)


async def test_inventory_update_surfaces_per_sku_failures(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    products = (await ground_truth_products(sandbox, shop.shop.tiktok_shop_id)).values()
    product = next(p for p in products if len(p.skus) >= 2 and p.status == "ACTIVATE")
    good = product.skus[0]
    # given one good SKU update, one with a warehouse the SKU does not have, and one unknown SKU
    result = await shop.session.update_inventory(
        product.tiktok_product_id,
        [
            SkuStock(good.tiktok_sku_id, [WarehouseStock(w.warehouse_id, 5) for w in good.stock]),
            SkuStock(good.tiktok_sku_id + "0", [WarehouseStock("1", 5)]),
            SkuStock(product.skus[-1].tiktok_sku_id, [WarehouseStock("7000000000000000000", 5)]),
        ],
    )
    # then the code-0 answer's failures are surfaced per SKU
    assert not result.ok
    failed = {f.sku_id: f for f in result.failures}
    assert good.tiktok_sku_id not in failed
    assert good.tiktok_sku_id + "0" in failed
    warehouse_failure = failed[product.skus[-1].tiktok_sku_id]
    assert warehouse_failure.warehouse_failures[0].code == 12052097


# -- retries, refresh and lost authorization -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["http_500", "http_503", "http_429", "drop", "malformed_json", "slow", "http_408", "bad_gzip"]
)
async def test_each_injected_fault_is_retried_until_success(sandbox, http, kind):
    # given a sandbox failing half the requests with `kind` (seeded), and a client that waits for every answer
    # (the suite's deadline), except for `slow`: there a 1 s timeout cuts short the sandbox's minute-long answers
    slow = kind == "slow"
    client = make_client(sandbox, http, timeout_seconds=1.0 if slow else DEADLINE_SECONDS)
    shop = await connect(sandbox, client, "us-local")
    await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.5, "kinds": [kind], "seed": 3, "slow_seconds": 60})
    # when eight searches run one after the other
    now = int(time.time()) + 1
    for _ in range(8):
        await shop.session.search_orders(
            page_size=5, page_token=None, create_time_ge=now - 30 * DAY, create_time_lt=now
        )
    # then all succeeded, and the counters show the faults were hit and retried past: exactly 8 answered searches,
    # as only faults are retried. With `slow`, an answer later than the client's timeout (a loaded machine) is
    # answered at TikTok and asked again here (a search is safe to repeat): 8 or more
    seen = await counters(sandbox, ORDER_SEARCH)
    assert seen.get("ok", 0) >= 8 if slow else seen.get("ok") == 8, seen
    assert seen.get(f"fault:{kind}", 0) >= 1


@pytest.mark.parametrize(("kind", "at_least"), [("http_429_retry_after", 1.0), ("http_429", 0.0)])
async def test_a_429_naming_its_wait_in_retry_after_is_not_retried_sooner(sandbox, http, kind, at_least):
    # given a search TikTok throttles (HTTP 429, 36009002), with `Retry-After: 1` or without the header (TikTok
    # documents none), until the client's second wait; the client notes each wait before a retry instead of
    # sleeping it, and its backoff has no jitter
    waits: list[float] = []

    async def noted(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.0})

    client = TikTokClient(settings_for(sandbox), http, sleep=noted, rng=lambda: 0.0)
    shop = await connect(sandbox, client, "us-local")
    await control(sandbox, "POST", "/_sandbox/faults", {"rate": 1.0, "kinds": [kind], "paths": [ORDER_SEARCH]})
    now = int(time.time()) + 1
    # when the search is made
    await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    # then it succeeded on its third attempt, after two 429s
    assert await counters(sandbox, ORDER_SEARCH) == {f"fault:{kind}": 2, "ok": 1}
    # and each wait was at least the one TikTok named (1 s); without the header, the backoff's (0.1 s, 0.2 s)
    assert waits == ([1.0, 1.0] if at_least else [0.1, 0.2])


async def test_an_answer_trickling_in_is_cut_at_the_attempts_deadline_and_retried(sandbox, http):
    # given a search whose answer trickles in (a space every 50 ms for 10 s: no read waits past the 1 s timeout)
    # until the client's first wait before a retry, which ends the fault
    waits: list[float] = []

    async def noted(seconds: float) -> None:
        waits.append(seconds)
        await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.0})

    client = TikTokClient(settings_for(sandbox, timeout_seconds=1.0), http, sleep=noted, rng=lambda: 0.0)
    shop = await connect(sandbox, client, "us-local")
    trickle = {"rate": 1.0, "kinds": ["trickle"], "slow_seconds": 10, "paths": [ORDER_SEARCH]}
    await control(sandbox, "POST", "/_sandbox/faults", trickle)
    now = int(time.time()) + 1
    # when the search is made
    await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    # then its first attempt was given up at its deadline, twice the timeout, and retried (before, it took the whole
    # 10 s trickle and succeeded, with no retry: no wait, no second request), and the second answered at once;
    # counted, not timed (the suite asserts no durations)
    assert await counters(sandbox, ORDER_SEARCH) == {"fault:trickle": 1, "ok": 1}
    assert waits == [0.1]


async def test_injected_expired_token_faults_refresh_and_retry(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.4, "kinds": ["expired_token"], "seed": 5})
    now = int(time.time()) + 1
    for _ in range(8):
        await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    seen = await counters(sandbox, ORDER_SEARCH)
    assert seen.get("ok") == 8 and seen.get("fault:expired_token", 0) >= 1
    refreshes = (await counters(sandbox, TOKEN_REFRESH)).get("ok", 0)
    assert 1 <= refreshes == len(shop.refreshed)
    assert shop.session.tokens == shop.refreshed[-1]


async def test_expired_access_token_is_refreshed_once_and_the_call_retried(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "my-local")
    # given TikTok expired the seller's access token
    await control(sandbox, "POST", "/_sandbox/sellers/my-local/expire-access-token")
    await control(sandbox, "POST", "/_sandbox/counters/reset")
    # when a call is made
    now = int(time.time()) + 1
    await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    # then it met 105002, one refresh followed, the call was retried, and the new pair was handed over
    assert await counters(sandbox, TOKEN_REFRESH) == {"ok": 1}
    assert await counters(sandbox, ORDER_SEARCH) == {"105002": 1, "ok": 1}
    assert len(shop.refreshed) == 1
    assert shop.session.tokens.access_token == shop.refreshed[0].access_token != shop.tokens.access_token


async def test_concurrent_calls_on_an_expired_token_share_one_refresh(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "my-local")
    await control(sandbox, "POST", "/_sandbox/sellers/my-local/expire-access-token")
    await control(sandbox, "POST", "/_sandbox/counters/reset")
    # when twenty calls run at once on the expired token
    now = int(time.time()) + 1
    await asyncio.gather(
        *(
            shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
            for _ in range(20)
        )
    )
    # then one refresh served them all (calls in flight during it were retried on the new token), and all succeeded
    assert await counters(sandbox, TOKEN_REFRESH) == {"ok": 1}
    seen = await counters(sandbox, ORDER_SEARCH)
    assert seen["ok"] == 20 and seen["105002"] >= 1
    assert len(shop.refreshed) == 1


async def test_revoked_authorization_is_lost(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "sg-local")
    await control(sandbox, "POST", "/_sandbox/sellers/sg-local/revoke")
    now = int(time.time()) + 1
    with pytest.raises(AuthorizationLostError) as caught:
        await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    assert isinstance(caught.value, InvalidAccessTokenError)
    assert caught.value.request_id
    with pytest.raises(InvalidRefreshTokenError):
        await client.refresh(shop.tokens.refresh_token)
    assert await counters(sandbox, ORDER_SEARCH) == {"36009004": 1}  # not retried


# -- webhooks and warehouses -----------------------------------------------------------------------------------


async def test_register_webhook_puts_the_address_for_the_event_type(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    # when a webhook is registered, then registered again with another address (idempotent PUT, live-sync.md §2.5)
    await shop.session.register_webhook("https://hooks.example.com/tiktok", "ORDER_STATUS_CHANGE")
    await shop.session.register_webhook("https://hooks.example.com/v2", "ORDER_STATUS_CHANGE")
    # then TikTok holds exactly that event type at the latest address
    listing = sandbox.world.registrations.listing(shop.shop.tiktok_shop_id)
    assert [(w["event_type"], w["address"]) for w in listing] == [
        ("ORDER_STATUS_CHANGE", "https://hooks.example.com/v2")
    ]


async def test_warehouses_are_the_shops_sales_and_return_warehouses(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    found = await shop.session.warehouses()
    # the sandbox's shop: two sales warehouses (the first is the default) and a return warehouse (logistics.py)
    name = shop.shop.name
    assert [(w.name, w.type, w.effect_status, w.is_default) for w in found] == [
        (f"{name} warehouse 1", "SALES_WAREHOUSE", "ENABLED", True),
        (f"{name} warehouse 2", "SALES_WAREHOUSE", "ENABLED", False),
        (f"{name} returns", "RETURN_WAREHOUSE", "ENABLED", False),
    ]
    # and the products' stock sits in the sales warehouses (raw sandbox JSON)
    raw = await control(sandbox, "GET", f"/_sandbox/shops/{shop.shop.tiktok_shop_id}/products")
    stocked = {i["warehouse_id"] for p in raw["products"] for s in p["skus"] for i in s["inventory"]}
    assert stocked and stocked <= {w.id for w in found[:2]} and found[2].id not in stocked


# -- rate limiting -------------------------------------------------------------------------------------------------


# The in-process limiter's DEBUG line for each dispatch (its module docstring): the exact float of its clock.
DISPATCHED = re.compile(r"^dispatched at (?P<at>\S+) s on the limiter's clock$")


async def test_the_rate_limiter_keeps_within_the_budget(sandbox, http, caplog):
    # given the sandbox limiting at 20 requests/s, and a client told the same, retrying a 429 as in production
    await control(sandbox, "POST", "/_sandbox/rate-limit", {"per_second": 20})
    client = make_client(sandbox, http, rate_limit_per_second=20)
    shop = await connect(sandbox, client, "us-local-2")
    await control(sandbox, "POST", "/_sandbox/counters/reset")
    now = int(time.time()) + 1
    # when 50 requests are fired at once
    with caplog.at_level("DEBUG", logger="adapters.tiktok.ratelimit"):
        results = await asyncio.gather(
            *(
                shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
                for _ in range(50)
            )
        )
    # then all were answered (a 429, should a starved CPU make requests arrive bunched, is retried: when a request
    # arrives is not the limiter's to promise, so 429s are not asserted)
    outcomes = await counters(sandbox, ORDER_SEARCH)
    assert len(results) == 50 and outcomes.get("ok") == 50 and set(outcomes) <= {"ok", "36009002"}, outcomes
    # and the limiter dispatched every request the sandbox saw (retries included), never the 21st within a second
    # of the 20 before it on its clock: the budget TikTok allows (a limiter of 40/s dispatches 40 in a second)
    records = [r.getMessage() for r in caplog.records if r.name == "adapters.tiktok.ratelimit"]
    dispatched = [float(m["at"]) for message in records if (m := DISPATCHED.match(message))]
    assert len(dispatched) == sum(outcomes.values()), outcomes
    assert all(later >= earlier + 1.0 for earlier, later in zip(dispatched, dispatched[20:], strict=False))


# -- refusals no retry can fix, and a cursor that never advances (issue 12, items 16 to 18) -------------------------


@pytest.mark.parametrize(
    ("kind", "code", "refusal"),
    [
        ("missing_scope", 105005, MissingPermissionError),
        ("missing_parameter", 36009004, GatewayRefusedError),
        ("invalid_sign", 106001, GatewayRefusedError),
    ],
)
async def test_a_refusal_is_sent_once_names_the_api_and_leaves_other_apis_working(sandbox, http, kind, code, refusal):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    await control(sandbox, "POST", "/_sandbox/faults", {"rate": 1.0, "kinds": [kind], "paths": [ORDER_SEARCH]})
    now = int(time.time()) + 1
    with pytest.raises(refusal) as caught:
        await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)
    error = caught.value
    assert not isinstance(error, AuthorizationLostError | TikTokUnavailableError)
    assert error.api == f"POST {ORDER_SEARCH}" and f"code={code}" in str(error) and error.request_id
    assert await counters(sandbox, ORDER_SEARCH) == {f"fault:{kind}": 1}  # not retried
    assert len(await scan_all(shop.session)) == 30  # the product search still answers, on the same tokens


async def test_a_product_scan_whose_page_token_comes_back_ends_as_stuck(sandbox, http):
    client = make_client(sandbox, http)
    shop = await connect(sandbox, client, "us-local")
    await control(sandbox, "POST", "/_sandbox/faults", {"rate": 1.0, "kinds": ["repeat_page_token"]})
    found: list[str] = []
    with pytest.raises(CursorStuckError):
        async for scan in shop.session.scan_products(None, page_size=5):
            found.extend(item.tiktok_product_id for item in scan.page.items if isinstance(item, StoredProduct))
    # two pages, then the token the second one answered was the one it had been sent: no third request
    assert len(found) == len(set(found)) == 10
    assert await counters(sandbox, PRODUCT_SEARCH) == {"ok": 1, "fault:repeat_page_token": 1}


# -- an outage, said once per process (adapters/tiktok/availability.py) ------------------------------------------


async def test_an_outage_is_said_once_per_process_by_however_many_clients_it_holds(
    sandbox, sqlite_url, tmp_path, caplog
):
    """The embedded demo holds two clients in one process, the API's and the worker pool's (each on its own event
    loop), and said each outage twice, two WARNINGs and two INFOs; the clients the factory builds share one
    `Availability` per app and TikTok hosts (`availability.shared`), so one outage is one pair of lines."""
    settings = sync_settings(sqlite_url, sandbox, tmp_path)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0))  # each call gives up at once
    # given the process's two clients, as the API and the embedded worker pool build them, each with a session
    api_client, api_closers = build_tiktok_client(settings, "shopbridge/0.1")
    worker_client, worker_closers = build_tiktok_client(settings, "shopbridge-worker/0.1")
    try:
        connected = await connect(sandbox, api_client, "us-local")
        sessions = [connected.session, worker_client.for_shop(connected.shop.cipher, connected.tokens, _kept)]
        now = int(time.time()) + 1

        async def search(session: ShopSession) -> None:
            await session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)

        with caplog.at_level(logging.INFO, logger="adapters.tiktok"):
            # when TikTok answers every order search 503, and a call of each client gives up
            await control(
                sandbox, "POST", "/_sandbox/faults", {"rate": 1.0, "kinds": ["http_503"], "paths": [ORDER_SEARCH]}
            )
            for session in sessions:
                with pytest.raises(TikTokUnavailableError):
                    await search(session)
            # and then TikTok answers each of them again
            await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.0})
            for session in sessions:
                await search(session)
    finally:
        for close in [*api_closers, *worker_closers]:
            await close()
    # then the outage was said once when it began and once when it ended, not once per client
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "adapters.tiktok"]
    began = [m for level, m in said if level == "WARNING" and m.startswith("TikTok is unavailable to app")]
    ended = [m for level, m in said if level == "INFO" and m.startswith("TikTok answers app")]
    assert (len(began), len(ended)) == (1, 1), said
    assert "2 calls gave up" in ended[0], ended


async def test_an_api_host_outage_is_said_once_while_the_auth_host_answers_token_calls(sandbox_factory, http, caplog):
    """Outage56: the outage state was one per app, so while TikTok's API host failed, each answer of its auth host (a
    token refresh, a code exchange) ended the outage, and the next API call given up began another: the WARNING and
    INFO lines (and the state) flapped at every refresh. An answer of one host ends only that host's outage."""
    from sandbox.config import SandboxConfig

    # given TikTok's two hosts, one sandbox world behind both, and a client whose calls give up at their first failure
    sandbox = sandbox_factory(SandboxConfig(**SMALL_DATA), auth_host_prefix="/auth-host")
    client = make_client(sandbox, http, auth_url=sandbox.auth_url, max_retries=0)
    api, auth = client.transport.settings.api_url, client.transport.settings.auth_url
    assert api != auth
    availability = client.transport.availability
    shop = await connect(sandbox, client, "us-local")
    other = await connect(sandbox, client, "uk-local")  # a shop whose tokens the refresh sweep renews meanwhile
    now = int(time.time()) + 1

    async def search() -> None:
        await shop.session.search_orders(page_size=5, page_token=None, create_time_ge=now - DAY, create_time_lt=now)

    def said(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "adapters.tiktok" and r.levelno == level]

    with caplog.at_level(logging.INFO, logger="adapters.tiktok"):
        # when the API host answers every business call 503 (the sandbox's faults never strike the token endpoints)
        await control(sandbox, "POST", "/_sandbox/faults", {"rate": 1.0, "kinds": ["http_503"]})
        refresh_token, states = other.tokens.refresh_token, []
        for _ in range(3):  # and an API call gives up, then the auth host answers a token refresh, three times over
            with pytest.raises(TikTokUnavailableError):
                await search()
            states.append(availability.out)
            refresh_token = (await client.refresh(refresh_token)).refresh_token
            states.append(availability.out)
        # then the outage began once and has not ended: the auth host's answers say nothing of the API host
        assert (len(said(logging.WARNING)), len(said(logging.INFO))) == (1, 0), caplog.records
        assert states == [True] * 6
        assert availability.unavailable(api) and not availability.unavailable(auth)
        assert "API host" in said(logging.WARNING)[0] and api in said(logging.WARNING)[0]
        # and when the API host answers again, the outage ends in one line that names it
        await control(sandbox, "POST", "/_sandbox/faults", {"rate": 0.0})
        await search()
    assert (len(said(logging.WARNING)), len(said(logging.INFO))) == (1, 1), caplog.records
    assert "API host" in said(logging.INFO)[0] and "3 calls gave up" in said(logging.INFO)[0], said(logging.INFO)
    assert not availability.out and not availability.unavailable(api)
    assert (await counters(sandbox, TOKEN_REFRESH)).get("ok") == 3
    assert (await counters(sandbox, ORDER_SEARCH)) == {"fault:http_503": 3, "ok": 1}


async def _kept(tokens: TokenSet) -> None:
    return None
