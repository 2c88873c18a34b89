"""`ShopSession`: TikTok's business API bound to one shop (`domain.ports.ShopApi`), refreshing its own tokens.

On 105002 (access token expired) the session refreshes once, hands the new pair to `on_tokens_refreshed` so the
caller persists it, and retries. The refresh itself goes through `TikTokClient.refresh_shop`, shared by every
session of the shop in the process. Concurrent calls that all see 105002 cause ONE refresh: a lock plus a token
generation number; whoever finds the generation already moved on simply retries with the new token (also when its
old token came back invalid because TikTok revoked it on refresh). The token is read just before each send.

Other processes refresh the shop too (the token sweep, a worker's import, webhook processing), and TikTok ends the
old access token at once. So a token refused that this session did not replace itself is first compared with the
pair stored now (`stored_tokens`): a different stored pair is adopted and the call retried, for every caller alike.
An access token refused as invalid, or our refresh token refused, may also come from a refresh whose commit is a
moment away: the store is looked at a few times (`STORED_TOKENS_POLL`) before the authorization is declared lost
(`InvalidAccessTokenError` / `InvalidRefreshTokenError`, both `AuthorizationLostError`s). `on_tokens_refreshed`
may answer with a newer pair stored meanwhile (its compare-and-set lost): the session goes on with that one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.tiktok import product_scan
from adapters.tiktok.errors import AccessTokenExpiredError, InvalidAccessTokenError, InvalidRefreshTokenError
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuStock, Warehouse
from domain.catalog import Order, Product
from domain.ports import Page, ProductScan
from domain.shops import TokenSet
from domain.stored import StoredOrder, StoredProduct
from domain.sync import RecordFailure
from domain.tokens import STORED_TOKENS_POLL
from domain.unserved_products import ProductSearch

if TYPE_CHECKING:
    from adapters.tiktok.client import TikTokClient

T = TypeVar("T")
MAX_STALE_TOKEN_RETRIES = 3  # a call outrun by this many refreshes in a row has a bigger problem
TokensRefreshed = Callable[[TokenSet], Awaitable[TokenSet | None]]
StoredTokens = Callable[[], Awaitable[TokenSet | None]]
logger = logging.getLogger("adapters.tiktok")


class ShopSession:
    """One shop's API with its current tokens. Cheap: make one per task or request, from the process's client."""

    def __init__(
        self,
        client: TikTokClient,
        cipher: str,
        tokens: TokenSet,
        on_tokens_refreshed: TokensRefreshed,
        *,
        stored_tokens: StoredTokens | None = None,
        search_cap: int = product_scan.SEARCH_CAP,
    ) -> None:
        """`on_tokens_refreshed(pair)` persists a pair this session refreshed and returns a newer stored pair that
        won instead (or None); `stored_tokens()` reads the pair stored now (None: the shop is gone, or no store)."""
        self._client = client
        self.cipher = cipher
        self._tokens = tokens
        self._on_tokens_refreshed = on_tokens_refreshed
        self._stored_tokens = stored_tokens
        self._generation = 0
        self._refresh_lock = asyncio.Lock()
        self.search_cap = search_cap

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    # -- domain.ports.ShopApi ----------------------------------------------------------------------------------------

    def scan_products(self, checkpoint: dict[str, Any] | None, page_size: int = 100) -> AsyncIterator[ProductScan]:
        """Every product, resumable from the checkpoint of the last stored page (see `product_scan`)."""

        async def fetch(
            *, page_size: int, page_token: str | None, update_time_ge: int, update_time_le: int | None
        ) -> Page[StoredProduct]:
            return await self.search_products(
                page_size=page_size, page_token=page_token, update_time_ge=update_time_ge, update_time_le=update_time_le
            )

        now = self._client.transport.clock
        return product_scan.scan_products(
            fetch, checkpoint, page_size=page_size, now=lambda: int(now()), cap=self.search_cap
        )

    async def search_orders(
        self, *, page_size: int, page_token: str | None, create_time_ge: int, create_time_lt: int
    ) -> Page[StoredOrder]:
        """Orders created in [ge, lt), oldest first, one page."""
        return await self._search_orders(page_size, page_token, "create_time", create_time_ge, create_time_lt)

    async def search_updated_orders(
        self, *, page_size: int, page_token: str | None, update_time_ge: int, update_time_lt: int
    ) -> Page[StoredOrder]:
        """Orders updated in [ge, lt), oldest change first, one page (the polling backstop, live-sync.md §3.3)."""
        return await self._search_orders(page_size, page_token, "update_time", update_time_ge, update_time_lt)

    async def _search_orders(
        self, page_size: int, page_token: str | None, time_field: str, ge: int, lt: int
    ) -> Page[StoredOrder]:
        window = {f"{time_field}_ge": ge, f"{time_field}_lt": lt}
        return await self._authorized(
            lambda token: self._client.search_orders(
                token, self.cipher, page_size=page_size, page_token=page_token, sort_field=time_field,
                sort_order="ASC", **window,
            )
        )  # fmt: skip

    def scan_updated_products(
        self, update_time_ge: int, update_time_le: int, checkpoint: dict[str, Any] | None, page_size: int = 100
    ) -> AsyncIterator[ProductScan]:
        """Products updated in [ge, le], resumable: the walk of `scan_products` over that one window (split
        in halves past TikTok's 10,000-result cap)."""
        start = checkpoint or {"windows": [[update_time_ge, update_time_le]]}
        return self.scan_products(start, page_size)

    # -- the rest of the shop's API --------------------------------------------------------------------------------

    async def search_products(
        self,
        *,
        page_size: int = 100,
        page_token: str | None = None,
        update_time_ge: int | None = None,
        update_time_le: int | None = None,
    ) -> Page[StoredProduct]:
        return await self._authorized(
            lambda token: self._client.search_products(
                token,
                self.cipher,
                page_size=page_size,
                page_token=page_token,
                update_time_ge=update_time_ge,
                update_time_le=update_time_le,
            )
        )

    async def search_products_matching(
        self, search: ProductSearch, *, page_token: str | None, page_size: int = 100
    ) -> Page[StoredProduct]:
        """`domain.ports.ShopRefreshApi.search_products_matching`: one page of Search Products with `search`'s
        filters (the confirmation of a product Get Product no longer serves, `domain.unserved_products`)."""
        return await self._authorized(
            lambda token: self._client.search_products(
                token, self.cipher, page_size=page_size, page_token=page_token, status=search.status,
                seller_skus=search.seller_skus, update_time_ge=search.update_time_ge,
            )
        )  # fmt: skip

    async def get_orders(self, ids: Sequence[str]) -> list[Order | RecordFailure]:
        return await self._authorized(lambda token: self._client.get_orders(token, self.cipher, ids))

    async def get_product(self, product_id: str) -> Product | RecordFailure:
        return await self._authorized(lambda token: self._client.get_product(token, self.cipher, product_id))

    async def register_webhook(self, address: str, event_type: str) -> None:
        await self._authorized(lambda token: self._client.register_webhook(token, self.cipher, address, event_type))

    async def search_inventory(
        self, *, product_ids: Sequence[str] | None = None, sku_ids: Sequence[str] | None = None
    ) -> list[SkuInventory]:
        return await self._authorized(
            lambda token: self._client.search_inventory(token, self.cipher, product_ids=product_ids, sku_ids=sku_ids)
        )

    async def update_inventory(self, product_id: str, skus: Sequence[SkuStock]) -> InventoryUpdateResult:
        return await self._authorized(lambda token: self._client.update_inventory(token, self.cipher, product_id, skus))

    async def warehouses(self) -> list[Warehouse]:
        return await self._authorized(lambda token: self._client.warehouses(token, self.cipher))

    # -- token refresh ---------------------------------------------------------------------------------------------

    async def _authorized(self, call: Callable[[Callable[[], str]], Awaitable[T]]) -> T:
        """Run `call` with the current access token; on 105002 refresh once and retry.

        A token refused (105002 or invalid) after it was replaced — by this session's refresh (it was read before
        the refresh and arrived after it; TikTok may revoke the old token at once), or in the store by another
        process — is simply retried with the new one, up to `MAX_STALE_TOKEN_RETRIES` times.
        A 105002 on the token just refreshed means TikTok has not caught up with itself: it is retried with backoff
        like any transient error (no second refresh), and raised as a `TikTokUnavailableError` once retries run out.
        """
        refreshed = False
        attempt = stale = 0
        while True:
            read = _TokenRead(self)
            try:
                return await call(read)
            except (AccessTokenExpiredError, InvalidAccessTokenError) as exc:
                invalid = isinstance(exc, InvalidAccessTokenError)
                if stale < MAX_STALE_TOKEN_RETRIES and await self._replaced(read.generation, wait=invalid):
                    stale += 1
                    continue
                if isinstance(exc, InvalidAccessTokenError):
                    # the transport logged the refusal at INFO, leaving the verdict here: no stored pair explains it
                    logger.warning(
                        "tiktok shop cipher ...%s: TikTok refused the access token in %s (code=%s request_id=%s) and "
                        "no newer pair is stored: the authorization is lost",
                        self.cipher[-4:], exc.api, exc.code, exc.request_id,
                    )  # fmt: skip
                    exc.refused_access_token = self._tokens.access_token
                    raise
                if not refreshed:
                    await self._refresh(read.generation)
                    refreshed = True
                    continue
                if attempt >= self._client.settings.max_retries:
                    raise
                delay = self._client.transport.backoff(attempt)
                logger.info("tiktok 105002 right after a refresh (request_id=%s); retrying", exc.request_id)
                attempt += 1
                await self._client.transport.sleep(delay)

    async def _replaced(self, generation: int, *, wait: bool) -> bool:
        """Whether the tokens changed since `generation` was read: by a refresh of this session (awaited if under
        way), or in the store (then adopted). `wait`: look at the store a few times, not once."""
        async with self._refresh_lock:
            return self._generation != generation or await self._adopt_stored(wait=wait)

    async def _adopt_stored(self, *, wait: bool) -> bool:
        """Adopt the stored pair if its access token differs from ours; the refresh lock is held."""
        if self._stored_tokens is None:
            return False
        for delay in STORED_TOKENS_POLL if wait else (0.0,):
            stored = await self._stored_tokens()
            if stored is None:
                return False  # the shop is gone: the caller's next write finds out
            if stored.access_token != self._tokens.access_token:
                logger.info("tiktok shop cipher ...%s: adopting the pair stored by another process", self.cipher[-4:])
                self._adopt(stored)
                return True
            if delay:
                await self._client.transport.sleep(delay)
        return False

    def _adopt(self, tokens: TokenSet) -> None:
        self._tokens = tokens
        self._generation += 1

    async def _refresh(self, seen_generation: int) -> None:
        async with self._refresh_lock:
            if self._generation != seen_generation:
                return  # a concurrent call refreshed while we waited: its tokens are ours
            logger.info("tiktok access token expired for shop cipher ...%s; refreshing", self.cipher[-4:])
            try:
                tokens = await self._client.refresh_shop(self.cipher, self._tokens)
            except InvalidRefreshTokenError as exc:
                if await self._adopt_stored(wait=True):
                    return  # another process refreshed first (TikTok ended our refresh token): its pair is ours
                exc.refused_access_token = self._tokens.access_token  # the pair whose refresh token was refused
                raise
            # The refresh answer may omit who the seller is; keep what the consent told us.
            tokens = replace(
                tokens,
                seller_name=tokens.seller_name or self._tokens.seller_name,
                open_id=tokens.open_id or self._tokens.open_id,
            )
            # Adopt before persisting: the old refresh token may already be dead, so the new pair is the only one.
            self._adopt(tokens)
            winner = await self._on_tokens_refreshed(tokens)
            if winner is not None and winner.access_token != tokens.access_token:
                self._adopt(winner)  # a newer pair was stored meanwhile (a re-authorization, another refresh)


class _TokenRead:
    """The session's access token, read when the request is sent; remembers which generation it handed out."""

    def __init__(self, session: ShopSession) -> None:
        self._session = session
        self.generation = session._generation

    def __call__(self) -> str:
        self.generation = self._session._generation
        return self._session._tokens.access_token
