"""The sandbox world: app registration, sellers and shops, each shop's data (built lazily), tokens and traffic knobs."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox import persistence
from sandbox.catalog import Catalog
from sandbox.clock import SandboxClock
from sandbox.config import SandboxConfig
from sandbox.counters import Counters
from sandbox.data import ORDER, OrderMeta, ShopSeed, generate_shop, make_id, render_order, sellable_skus
from sandbox.faults import Faults
from sandbox.holds import Holds
from sandbox.ids import ORDERS, PRODUCTS, SKUS, IdLedger
from sandbox.inventory_log import InventoryLog
from sandbox.notices import Notices
from sandbox.oracle import Oracle
from sandbox.orderbook import OrderBook
from sandbox.ratelimit import RateLimiter
from sandbox.registrations import Registrations
from sandbox.sellers import Seller, Shop, build_sellers, local_seller
from sandbox.statedir import StateDir
from sandbox.tokens import TokenStore
from sandbox.webhooks import WebhookSender


@dataclass
class ShopData:
    """One shop's products, stock and orders; ids are made with `id_seed` from sequences the world's IdLedger
    issued (sandbox/ids.py)."""

    shop: Shop
    seed: int
    catalog: Catalog
    orders: OrderBook
    # Orders placed by buyers (`/_sandbox/shops/{id}/sales`) -> the (sku id, warehouse id) of each unit still
    # committed; cancelling gives them back to available, shipping releases them.
    holds: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # None in states saved before the id ledger: their ids were made with `seed` (the class attribute answers).
    id_seed: int | None = None
    # Orders rendered with `sandbox.data.make_rare` (`SandboxConfig.rare_cases`); False in states saved before it.
    rare_cases: bool = False

    @property
    def ids_seed(self) -> int:
        """The seed every id of this shop's data is made with."""
        return self.seed if self.id_seed is None else self.id_seed

    def add_order(self, sequence: int, status: str, create_time: int, update_time: int) -> dict[str, Any]:
        """A new generated order (for the control surface) from a fresh order `sequence`, indexed at once."""
        order_id = make_id(ORDER, self.shop, sequence, self.ids_seed)
        meta = OrderMeta(order_id, sequence, status, create_time, update_time)
        sellable = sellable_skus(self.catalog.products)
        order = render_order(self.shop, self.seed, sellable, meta, self.ids_seed, self.rare_cases)
        self.orders.put(order, sequence)
        return order


SAVE_EVERY_SECONDS = 30


class World:
    """Everything the sandbox knows; one per app instance, reached as `app.state.sandbox`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        # Simulated now (wall clock + offset): everything but the gateway's request-timestamp window reads it.
        self.clock = SandboxClock(config.clock)
        self.sellers: dict[str, Seller] = build_sellers()
        self.shops_by_id: dict[str, Shop] = {s.id: s for seller in self.sellers.values() for s in seller.shops}
        self.shops_by_cipher: dict[str, Shop] = {s.cipher: s for s in self.shops_by_id.values()}
        ttls = (config.access_token_ttl, config.refresh_token_ttl, config.auth_code_ttl, config.authorization_ttl)
        self.tokens = TokenStore(self.clock, *ttls)
        self.registrations = Registrations()
        self.webhooks = WebhookSender(
            config.app_key,
            config.app_secret,
            self.clock,
            config.webhook_retry_factor,
            config.webhook_url,
            config.seed,
            self.registrations.address,
            timeout_seconds=config.webhook_timeout_seconds,
        )
        self.notices = Notices(self)
        self.oracle = Oracle()
        self.inventory_log = InventoryLog()
        self.webhooks.on_tick(self._tick)
        self.counters = Counters()
        self.faults = Faults(slow_seconds=config.slow_seconds)
        # Order ids Get Order Detail does not serve yet: TikTok's read-after-write lag, an order whose webhook was
        # pushed before the detail API could return it (control `"detail_lag": true` on an order; not persisted).
        self.detail_lag: set[str] = set()
        # Order id -> the simulated time (Unix seconds) until which Search Orders leaves it out: TikTok's search index
        # lagging its stock (control `"search_lag": seconds` on an order; not persisted).
        self.search_lag: dict[str, float] = {}
        # Order id -> the older version Get Order Detail still serves: TikTok's read lag after a change, the order's
        # webhook carrying the new `update_time` while the detail API answers the version before it (control
        # `"stale_detail": true` on a change; not persisted).
        self.stale_detail: dict[str, dict[str, Any]] = {}
        # Order and product ids TikTok serves unreadably in every answer that carries them (search, detail, Get
        # Product; `sandbox.faults.unreadable_order` / `unreadable_product`), the records themselves unchanged
        # (control `POST /_sandbox/faults/records`; not persisted).
        self.unreadable_records: set[str] = set()
        # Order and product ids whose reads by id TikTok fails with HTTP 500 (INTERNAL_ERROR): Get Product of one, and
        # Get Order Detail naming one, the whole call (control `POST /_sandbox/faults/failing`; not persisted). A
        # fault of one record, where `faults` strike a whole API: review54a F2.
        self.failing_records: set[str] = set()
        self.holds = Holds()
        self.rate_limiter = RateLimiter(config.rate_limit)
        self.latency_ms = config.latency_ms
        self.products_per_shop = config.products
        self.orders_per_shop = config.orders
        self.seed = config.seed
        self.rare_cases = config.rare_cases
        self.data_now = int(self.clock())
        self._shop_data: dict[str, ShopData] = {}
        self._stopping = False
        self._saved_at = time.monotonic()
        # Made now and written only while it is the one made (removed by `make clean`, never made again): statedir.py
        self.state_dir = StateDir(config.state_dir) if config.state_dir else None
        if config.state_dir:
            persistence.load(self, config.state_dir)
            self.tokens.on_change = self.save
        # After the state: a new ledger makes ids with the seed of the data restored (it made theirs).
        self.ids = IdLedger(config.state_dir, self.seed, self.state_dir.writable if self.state_dir else None)

    def save(self) -> None:
        """Write the state under `config.state_dir` (no-op without one, or once that directory was removed or
        replaced while the sandbox ran: sandbox/statedir.py)."""
        if self.config.state_dir and self.state_dir is not None and self.state_dir.writable():
            persistence.save(self, self.config.state_dir)
        self._saved_at = time.monotonic()

    def _tick(self) -> None:
        self.notices.tick()
        if self.config.state_dir and time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            self.save()

    def stopping(self) -> bool:
        """Whether the server stops (`stop_holding` was called): a trickled answer comes at once then."""
        return self._stopping

    def stop_holding(self) -> None:
        """The server stops: every call a test's gate holds (`/_sandbox/hold`, `/_sandbox/inventory-updates/hold`)
        is answered now, as a release would, and none is held or trickled from now on, so no request keeps the
        stop waiting (a held Update Inventory kept `shopbridge demo`'s stop waiting 30-48 s, then a traceback when
        uvicorn cancelled it). Run by the embedding app's quiesce, before its worker pool stops."""
        self._stopping = True
        self.holds.stop()
        self.inventory_log.stop()

    async def aclose(self) -> None:
        """Stop holding calls (`stop_holding`), stop sending webhooks (cancel and await every delivery) and save
        the state."""
        self.stop_holding()
        await self.webhooks.aclose()
        self.save()

    @property
    def app_key(self) -> str:
        return self.config.app_key

    def shop_data(self, shop: Shop) -> ShopData:
        """The shop's data, generated on first use (a benchmark touching one shop never pays for the others), and
        then saved with the state when there is a state directory."""
        data = self._shop_data.get(shop.id)
        if data is None:
            ids, id_seed = self.ids, self.ids.id_seed
            firsts = (ids.peek(shop.index, PRODUCTS), ids.peek(shop.index, SKUS), ids.peek(shop.index, ORDERS))
            spec = ShopSeed(
                shop, self.seed, self.products_per_shop, self.orders_per_shop, self.data_now, firsts, id_seed
            )
            generated = generate_shop(spec)
            # Nothing generated has left the process yet: the sequences it used are taken (reserved) now.
            ids.take(shop.index, PRODUCTS, len(generated.products))
            ids.take(shop.index, SKUS, generated.sku_count)
            ids.take(shop.index, ORDERS, len(generated.orders))
            catalog = Catalog(generated.products, generated.committed, generated.warehouse_ids)
            render = functools.partial(
                render_order, shop, self.seed, sellable_skus(catalog.products), id_seed=id_seed,
                rare_cases=self.rare_cases,
            )  # fmt: skip
            orders = OrderBook(generated.orders, render)
            data = ShopData(shop, self.seed, catalog, orders, id_seed=id_seed, rare_cases=self.rare_cases)
            self._shop_data[shop.id] = data
            # Saved at once, as a token change is: lost with a crash before the next 30-s save, the shop would be
            # generated anew under other ids than the ones its first reader (Shopbridge's import) has stored.
            self.save()
        return data

    def new_order(self, data: ShopData, status: str, create_time: int, update_time: int) -> dict[str, Any]:
        """A generated order added to a shop under an order id never issued before."""
        return data.add_order(self.ids.take(data.shop.index, ORDERS), status, create_time, update_time)

    def add_seller(self, name: str, region: str) -> Seller:
        """A new local seller with one shop (ids derived from a key made of the name); ValueError past 100 shops."""
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "seller"
        key, n = base, 2
        while key in self.sellers:
            key, n = f"{base}-{n}", n + 1
        if len(self.shops_by_id) >= 100:
            raise ValueError("the sandbox holds at most 100 shops (shop indexes are two digits of every id)")
        seller = local_seller(key, name, region, len(self.shops_by_id))
        self.sellers[key] = seller
        for shop in seller.shops:
            self.shops_by_id[shop.id] = shop
            self.shops_by_cipher[shop.cipher] = shop
        return seller

    def reseed(self, products: int, orders: int, seed: int, reset_tokens: bool, rare_cases: bool | None = None) -> None:
        """Throw all shop data away and regenerate it lazily from new sizes and seed, relative to now; with
        `rare_cases` (None: as it is), the share of rare orders on or off (`SandboxConfig.rare_cases`)."""
        self.products_per_shop, self.orders_per_shop, self.seed = products, orders, seed
        if rare_cases is not None:
            self.rare_cases = rare_cases
        self.data_now = int(self.clock())
        self._shop_data.clear()
        if reset_tokens:
            self.tokens.clear()

    def reset_traffic(self) -> None:
        """Faults off (API and webhook faults, unreadable records; the webhook URL stays), no held calls, no
        latency, the configured rate limit, counters at zero."""
        self.faults.off(self.config.slow_seconds)
        self.detail_lag.clear()
        self.search_lag.clear()
        self.stale_detail.clear()
        self.unreadable_records.clear()
        self.failing_records.clear()
        self.holds.hold(())
        settings = self.webhooks.settings
        settings.drop = settings.duplicate = settings.reorder = settings.bad_signature = 0.0
        settings.delay_ms = 0
        self.latency_ms = 0
        self.rate_limiter.set_rate(self.config.rate_limit)
        self.counters.reset()
