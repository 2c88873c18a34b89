"""TikTok Shop's Open API: OAuth (`TikTokAuthGateway`) and one method per business endpoint, mapped to domain values.

One `TikTokClient` per process: it owns the rate limiter, and shares token refreshes between the sessions of one
shop. `for_shop` binds it to a shop's cipher and tokens and refreshes an expired access token by itself; the
methods here take the access token as given (a string, or a callable read just before each send) and raise
`AccessTokenExpiredError` on 105002. Ids stay strings, money Decimal.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from adapters.config import TikTokSettings
from adapters.tiktok import records
from adapters.tiktok.availability import Availability
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuStock, Warehouse
from adapters.tiktok.ratelimit import Limiter
from adapters.tiktok.transport import AccessToken, RequestObserver, Transport
from domain.catalog import Order, Product
from domain.ports import Page
from domain.shops import AuthorizedShop, TokenSet
from domain.stored import StoredOrder, StoredProduct
from domain.sync import RecordFailure

if TYPE_CHECKING:
    from adapters.tiktok.session import ShopSession

TOKEN_GET_PATH = "/api/v2/token/get"  # noqa: S105 (a path, not a secret)
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"  # noqa: S105
AUTHORIZED_SHOPS_PATH = "/authorization/202309/shops"
PRODUCT_SEARCH_PATH = "/product/202309/products/search"
ORDER_SEARCH_PATH = "/order/202309/orders/search"
ORDER_DETAIL_PATH = "/order/202309/orders"
INVENTORY_SEARCH_PATH = "/product/202309/inventory/search"
INVENTORY_UPDATE_PATH = "/product/202309/products/{product_id}/inventory/update"
PRODUCT_DETAIL_PATH = "/product/202309/products/{product_id}"
WEBHOOKS_PATH = "/event/202309/webhooks"
WAREHOUSES_PATH = "/logistics/202309/warehouses"
MAX_INVENTORY_SKU_IDS = 600
MAX_INVENTORY_PRODUCT_IDS = 100
MAX_ORDER_IDS = 50
MAX_SHARED_REFRESHES = 4096  # shops whose last refresh the client remembers (least recently used dropped)


@dataclass(slots=True)
class _ShopRefresh:
    """The last refresh of one shop's tokens in this process, and the lock its sessions take to refresh."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refreshed_from: tuple[str, str] | None = None  # (access token, refresh token) of the pair refreshed
    tokens: TokenSet | None = None


class TikTokClient:
    """The production TikTok client; implements `domain.ports.TikTokAuthGateway`."""

    def __init__(
        self,
        settings: TikTokSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        rate_limiter: Limiter | None = None,
        observer: RequestObserver | None = None,
        availability: Availability | None = None,
    ) -> None:
        self.settings = settings
        self.transport = Transport(
            settings, http, clock=clock, sleep=sleep, rng=rng, rate_limiter=rate_limiter, observer=observer,
            availability=availability,
        )  # fmt: skip
        self._shop_refreshes: OrderedDict[tuple[str, str], _ShopRefresh] = OrderedDict()

    # -- OAuth -----------------------------------------------------------------------------------------------------

    def authorization_url(self, state: str) -> str:
        """The consent page for `state`: the configured URL plus `service_id` and `state`, its own query kept."""
        parts = urlsplit(self.settings.authorize_url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("service_id", "state")]
        query += [("service_id", self.settings.service_id), ("state", state)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def exchange_code(self, code: str) -> TokenSet:
        """Tokens for a consent's `code` (single use, valid 30 minutes: tiktok-api.md sec. 2). Raises
        `AuthCodeRejectedError` when TikTok refuses the code, `AuthCodeOutcomeUnknownError` when its answer was lost
        (the code is then not sent again), a `TransientError` when TikTok never took the request."""
        grant = {"auth_code": code, "grant_type": "authorized_code"}
        data = await self.transport.token_call(TOKEN_GET_PATH, grant, single_use=True)
        return records.token_set(data)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new token pair; persist both, the old refresh token may stop working."""
        data = await self.transport.token_call(
            TOKEN_REFRESH_PATH, {"refresh_token": refresh_token, "grant_type": "refresh_token"}
        )
        return records.token_set(data)

    async def refresh_shop(self, cipher: str, tokens: TokenSet) -> TokenSet:
        """`refresh` once per shop and process: sessions of one shop (its PRODUCTS and ORDERS tasks) that find the
        same pair expired share one refresh, instead of racing TikTok with one refresh token and persisting
        answers that may invalidate each other. A pair already refreshed here gets that refresh's answer."""
        key = (self.settings.app_key, cipher)
        entry = self._shop_refreshes.get(key)
        if entry is None:
            entry = self._shop_refreshes[key] = _ShopRefresh()
            while len(self._shop_refreshes) > MAX_SHARED_REFRESHES:
                self._shop_refreshes.popitem(last=False)
        else:
            self._shop_refreshes.move_to_end(key)
        pair = (tokens.access_token, tokens.refresh_token)
        async with entry.lock:
            known = entry.tokens
            if (
                known is not None
                and entry.refreshed_from == pair
                and known.access_token_expires_at.timestamp() > self.transport.clock()
            ):
                return known
            refreshed = await self.refresh(tokens.refresh_token)
            entry.refreshed_from, entry.tokens = pair, refreshed
            return refreshed

    async def authorized_shops(self, access_token: AccessToken) -> list[AuthorizedShop]:
        """The shops a token covers. Not shop-scoped: no `shop_cipher` (TikTok rejects one here)."""
        data = await self.transport.call_raw("GET", AUTHORIZED_SHOPS_PATH, access_token=access_token)
        return records.authorized_shops(data)

    def for_shop(
        self,
        cipher: str,
        tokens: TokenSet,
        on_tokens_refreshed: Callable[[TokenSet], Awaitable[TokenSet | None]],
        *,
        stored_tokens: Callable[[], Awaitable[TokenSet | None]] | None = None,
    ) -> ShopSession:
        """The business API bound to one shop; refreshes the access token itself and reports new pairs to
        `on_tokens_refreshed` (which may answer with a newer stored pair to use instead), and adopts the pair
        `stored_tokens()` reads when TikTok refuses a token another process replaced (see `ShopSession`)."""
        from adapters.tiktok.session import ShopSession

        return ShopSession(self, cipher, tokens, on_tokens_refreshed, stored_tokens=stored_tokens)

    # -- business endpoints ----------------------------------------------------------------------------------------

    async def search_products(
        self,
        access_token: AccessToken,
        shop_cipher: str,
        *,
        page_size: int = 100,
        page_token: str | None = None,
        update_time_ge: int | None = None,
        update_time_le: int | None = None,
        status: str | None = None,
        seller_skus: Sequence[str] = (),
    ) -> Page[StoredProduct]:
        """One page of Search Products, as stored (values and fingerprint computed as it is decoded). Paging in
        the query, filters in the body; `_le` is inclusive; `seller_skus` at most 10 (TikTok refuses more,
        12019027). Each product's `stock_read_at` is when the request was first sent (`_stock_read_at`)."""
        body: dict[str, Any] = {
            "status": status,
            "update_time_ge": update_time_ge,
            "update_time_le": update_time_le,
            "seller_skus": list(seller_skus) or None,
        }
        read_at = self._stock_read_at()
        data = await self.transport.call_raw(
            "POST",
            PRODUCT_SEARCH_PATH,
            access_token=access_token,
            shop_cipher=shop_cipher,
            query={"page_size": page_size, "page_token": page_token},
            body={k: v for k, v in body.items() if v is not None},
        )
        page = records.products_page(data)
        items = [p if isinstance(p, RecordFailure) else replace(p, stock_read_at=read_at) for p in page.items]
        return Page(items, page.next_page_token, page.total_count)

    async def search_orders(
        self,
        access_token: AccessToken,
        shop_cipher: str,
        *,
        page_size: int = 100,
        page_token: str | None = None,
        create_time_ge: int | None = None,
        create_time_lt: int | None = None,
        update_time_ge: int | None = None,
        update_time_lt: int | None = None,
        sort_field: str = "create_time",
        sort_order: str = "ASC",
    ) -> Page[StoredOrder]:
        """One page of Get Order List, as stored. Windows are [ge, lt): `_lt` is exclusive for orders."""
        body = {
            "create_time_ge": create_time_ge,
            "create_time_lt": create_time_lt,
            "update_time_ge": update_time_ge,
            "update_time_lt": update_time_lt,
        }
        data = await self.transport.call_raw(
            "POST",
            ORDER_SEARCH_PATH,
            access_token=access_token,
            shop_cipher=shop_cipher,
            query={
                "page_size": page_size,
                "page_token": page_token,
                "sort_field": sort_field,
                "sort_order": sort_order,
            },
            body={k: v for k, v in body.items() if v is not None},
        )
        return records.orders_page(data)

    async def get_orders(
        self, access_token: AccessToken, shop_cipher: str, ids: Sequence[str]
    ) -> list[Order | RecordFailure]:
        """Get Order Detail for 1 to 50 order ids."""
        if not 1 <= len(ids) <= MAX_ORDER_IDS:
            raise ValueError(f"get_orders takes 1 to {MAX_ORDER_IDS} ids, got {len(ids)}")
        data = await self.transport.call_raw(
            "GET", ORDER_DETAIL_PATH, access_token=access_token, shop_cipher=shop_cipher, query={"ids": list(ids)}
        )
        return records.orders(data)

    async def get_product(
        self, access_token: AccessToken, shop_cipher: str, product_id: str
    ) -> Product | RecordFailure:
        """Get Product: the product object is `data` itself, mapped like a Search Products record.

        A product not in the shop is TikTok's `12052048` (`RecordNotFound`); FREEZE and DELETED products are not
        served. Its `stock_read_at` is when the request was first sent (`_stock_read_at`).
        """
        read_at = self._stock_read_at()
        data = await self.transport.call_raw(
            "GET", PRODUCT_DETAIL_PATH.format(product_id=product_id), access_token=access_token, shop_cipher=shop_cipher
        )
        product = records.product(data)
        return product if isinstance(product, RecordFailure) else replace(product, stock_read_at=read_at)

    def _stock_read_at(self) -> datetime:
        """The instant a product request's stock counts at: before it is sent (UTC, the transport's clock, the one
        that signs it). TikTok reads the stock somewhere between sending and the answer, and retries come later
        still: an instant before that read leaves an order of the interval out of the seed (a unit the pool then
        misses until a count) rather than in it twice (a unit sold twice)."""
        return datetime.fromtimestamp(self.transport.clock(), UTC)

    async def register_webhook(
        self, access_token: AccessToken, shop_cipher: str, address: str, event_type: str
    ) -> None:
        """Event API Update Shop Webhook (live-sync.md §2.5): push `event_type` of this shop to `address` (https, no
        port, at most 255 characters at TikTok). Idempotent: putting the same address again changes nothing."""
        await self.transport.call(
            "PUT",
            WEBHOOKS_PATH,
            access_token=access_token,
            shop_cipher=shop_cipher,
            body={"address": address, "event_type": event_type},
        )

    async def search_inventory(
        self,
        access_token: AccessToken,
        shop_cipher: str,
        *,
        product_ids: Sequence[str] | None = None,
        sku_ids: Sequence[str] | None = None,
    ) -> list[SkuInventory]:
        """Current stock by product ids (up to 100) or SKU ids (up to 600; TikTok lets them win over products)."""
        if not product_ids and not sku_ids:
            raise ValueError("search_inventory needs product_ids or sku_ids")
        if len(sku_ids or ()) > MAX_INVENTORY_SKU_IDS or len(product_ids or ()) > MAX_INVENTORY_PRODUCT_IDS:
            raise ValueError(f"search_inventory takes at most {MAX_INVENTORY_SKU_IDS} SKU or 100 product ids")
        body: dict[str, Any] = {"sku_ids": list(sku_ids)} if sku_ids else {"product_ids": list(product_ids or ())}
        data = await self.transport.call_raw(
            "POST", INVENTORY_SEARCH_PATH, access_token=access_token, shop_cipher=shop_cipher, body=body
        )
        return records.inventory(data)

    async def warehouses(self, access_token: AccessToken, shop_cipher: str) -> list[Warehouse]:
        """Get Warehouses (`GET /logistics/202309/warehouses`, live-sync.md sec. 1.4): sales and return warehouses,
        `is_default` marks the one products without a designated warehouse use."""
        data = await self.transport.call_raw("GET", WAREHOUSES_PATH, access_token=access_token, shop_cipher=shop_cipher)
        return records.warehouses(data)

    async def update_inventory(
        self, access_token: AccessToken, shop_cipher: str, product_id: str, skus: Sequence[SkuStock]
    ) -> InventoryUpdateResult:
        """Set the stock of some of a product's SKUs (one product per call, at most 100 SKUs, every warehouse of
        each SKU; live-sync.md sec. 1.1). Code 0 may still carry per-SKU failures: read `failures`. A warehouse
        id "" is left out (TikTok allows that for a SKU with a single warehouse)."""
        body = {
            "skus": [
                {
                    "id": sku.sku_id,
                    "inventory": [
                        {"warehouse_id": w.warehouse_id, "quantity": w.quantity}
                        if w.warehouse_id
                        else {"quantity": w.quantity}
                        for w in sku.warehouses
                    ],
                }
                for sku in skus
            ]
        }
        # Retrying after a lost response is safe: the update sets absolute quantities.
        data = await self.transport.call_raw(
            "POST",
            INVENTORY_UPDATE_PATH.format(product_id=product_id),
            access_token=access_token,
            shop_cipher=shop_cipher,
            body=body,
        )
        return records.inventory_update_result(data)
