"""Read models: frozen, token-free snapshots the GraphQL layer turns into its types; never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from adapters.db.cursors import encode_cursor
from domain.catalog import Money
from domain.shops import Region, ShopStatus, authorization_end, shop_status
from domain.sync import RecordFailure, SyncKind, SyncTaskStatus, SyncTrigger, task_progress

T = TypeVar("T")


class Page(NamedTuple, Generic[T]):
    """One page of a keyset-paginated list. Each item's `cursor` is the `after` that continues behind it."""

    items: tuple[T, ...]
    has_next_page: bool
    total_count: int | None  # None when the caller did not ask for it


@dataclass(frozen=True, slots=True)
class ShopRead:
    """A shop as merchants see it: no token, not even encrypted."""

    id: str
    merchant_id: str
    name: str
    region: Region
    tiktok_shop_id: str
    tiktok_shop_name: str
    tiktok_shop_code: str | None
    seller_name: str | None
    authorized_at: datetime
    refresh_token_expires_at: datetime
    access_token_expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None
    last_synced_at: datetime | None
    authorization_expires_at: datetime | None = None  # the end TikTok announced (webhook 7)
    webhooks_registered_at: datetime | None = None
    webhook_registration_error: str | None = None
    last_webhook_at: datetime | None = None
    webhooks_registered_address: str | None = None
    # No configured key decrypts its stored tokens (`readable_tokens`); the list then shows it REVOKED.
    tokens_unreadable: bool = False

    @property
    def expires_at(self) -> datetime:
        """When the authorization ends: as `domain.shops.Shop.expires_at`, from the same two columns."""
        return authorization_end(self.refresh_token_expires_at, self.authorization_expires_at)

    def status(self, now: datetime) -> ShopStatus:
        return shop_status(self.expires_at, self.revoked_at, now, tokens_unreadable=self.tokens_unreadable)

    @property
    def cursor(self) -> str:
        return encode_cursor("shops", self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class SkuRead:
    id: str
    product_id: str
    tiktok_sku_id: str
    seller_sku: str | None
    price: Money
    quantity: int  # summed over warehouses


@dataclass(frozen=True, slots=True)
class ProductRead:
    id: str
    shop_id: str
    tiktok_product_id: str
    title: str
    status: str
    created_at: datetime
    updated_at: datetime
    imported_at: datetime
    skus: tuple[SkuRead, ...]

    @property
    def cursor(self) -> str:
        return encode_cursor("products", self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class LineItemRead:
    id: str
    order_id: str
    tiktok_line_item_id: str
    tiktok_sku_id: str
    tiktok_product_id: str | None
    seller_sku: str | None
    product_name: str
    quantity: int
    sale_price: Money
    # TikTok's `display_status`, `cancel_reason`, `cancel_user` of the line (None: not given, or stored before
    # migration 0037)
    display_status: str | None = None
    cancel_reason: str | None = None
    cancel_user: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRead:
    id: str
    shop_id: str
    tiktok_order_id: str
    status: str
    created_at: datetime  # TikTok's create time
    updated_at: datetime
    total: Money
    buyer_user_id: str | None
    recipient_name: str | None
    recipient_region: str | None
    imported_at: datetime
    line_items: tuple[LineItemRead, ...]

    @property
    def cursor(self) -> str:
        return encode_cursor("orders", self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class SyncTaskRead:
    id: str
    shop_id: str
    merchant_id: str
    kind: SyncKind
    trigger: SyncTrigger
    status: SyncTaskStatus
    processed: int
    total: int | None
    created: int
    updated: int
    unchanged: int
    failed: int
    failures: tuple[RecordFailure, ...]
    attempts: int
    failed_attempts: int
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    retry_at: datetime | None
    cancel_requested: bool
    orders_created_since: datetime | None
    orders_created_until: datetime | None

    @property
    def progress(self) -> float | None:
        return task_progress(self.status, self.processed, self.total)

    @property
    def cursor(self) -> str:
        return encode_cursor("sync_tasks", self.created_at, self.id)
