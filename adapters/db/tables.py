"""The schema as SQLAlchemy Core tables; migrations are written from it and repositories map rows by hand.

Every row of a shop references `shops.id` with ON DELETE CASCADE, so deleting the shop row removes all of it,
and the foreign key refuses any late write for a shop that no longer exists.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

# Stable constraint names: Alembic diffs and our error handling both refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite drops the offset, so it stores naive UTC and we re-attach it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:  # the common case, every imported time, needs no conversion
            if value.tzinfo is None:
                raise ValueError("naive datetime given; Shopbridge stores aware UTC datetimes only")
            value = value.astimezone(UTC)
        # Naive UTC text on SQLite keeps lexical order equal to time order, which keyset paging relies on.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """Money amounts as their exact decimal text: `10.50` comes back as `Decimal('10.50')` on every database."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class JSONText(TypeDecorator[Any]):
    """JSON kept as text, identical on SQLite and PostgreSQL; nobody queries inside it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def _shop_fk() -> ForeignKey:
    return ForeignKey("shops.id", ondelete="CASCADE")


ID = String(32)  # uuid4().hex, or a 32-hex digest for imported rows (see catalog repository)

shops = Table(
    "shops",
    metadata,
    Column("id", ID, primary_key=True),
    Column("merchant_id", String(128), nullable=False),
    Column("name", String(64), nullable=False),
    Column("region", String(8), nullable=False),
    # The last guard for "a TikTok shop is connected to at most one merchant".
    Column("tiktok_shop_id", String(64), nullable=False, unique=True),
    Column("tiktok_shop_name", String(255), nullable=False),
    Column("tiktok_shop_cipher", String(255), nullable=False),
    Column("tiktok_shop_code", String(64)),
    Column("seller_name", String(255)),
    Column("access_token_encrypted", Text, nullable=False),
    Column("access_token_expires_at", UTCDateTime, nullable=False),
    Column("refresh_token_encrypted", Text, nullable=False),
    Column("refresh_token_expires_at", UTCDateTime, nullable=False),
    # What TikTok said with the tokens; kept apart from `seller_name` so a TokenSet round-trips exactly.
    Column("token_seller_name", String(255)),
    Column("token_open_id", String(255)),
    Column("authorized_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("last_synced_at", UTCDateTime),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # Token lifecycle (migration 0003): when the pair was last refreshed, and the sweep's single-flight claim.
    Column("tokens_refreshed_at", UTCDateTime),
    Column("access_token_refresh_claimed_at", UTCDateTime),
    # Live sync (migration 0002): the authorization's end date (webhook 7) and webhook registration and traffic.
    Column("authorization_expires_at", UTCDateTime),
    Column("webhooks_registered_at", UTCDateTime),
    Column("webhook_registration_error", Text),
    Column("last_webhook_at", UTCDateTime),
    Index(None, "merchant_id", "created_at", "id"),
)

authorization_requests = Table(
    "authorization_requests",
    metadata,
    Column("state_digest", String(64), primary_key=True),
    Column("merchant_id", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("region", String(8), nullable=False),
    Column("name", String(64), nullable=False),
    Column("shop_id", ID, _shop_fk(), index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

products = Table(
    "products",
    metadata,
    Column("id", ID, primary_key=True),
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_product_id", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "tiktok_product_id"),
    Index(None, "shop_id", "created_at", "id"),  # the products page, newest first
)

skus = Table(
    "skus",
    metadata,
    Column("id", ID, primary_key=True),
    Column("product_id", ID, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("seller_sku", String(255)),
    Column("price_amount", DecimalText, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("shop_id", "tiktok_sku_id"),
)

# One row per SKU and warehouse: the "inventory links" the issue speaks of.
inventory_links = Table(
    "inventory_links",
    metadata,
    Column("sku_id", ID, ForeignKey("skus.id", ondelete="CASCADE"), nullable=False),
    Column("warehouse_id", String(64), nullable=False),
    Column("shop_id", ID, _shop_fk(), nullable=False, index=True),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("sku_id", "warehouse_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_order_id", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),  # TikTok's create time
    Column("updated_at", UTCDateTime, nullable=False),
    Column("total_amount", DecimalText, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("buyer_user_id", String(128)),
    Column("recipient_name", String(255)),
    Column("recipient_region", String(16)),
    Column("fingerprint", String(32), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "tiktok_order_id"),
    Index(None, "shop_id", "created_at", "id"),  # the orders page, newest first (scanned backwards)
    Index(None, "shop_id", "status", "created_at", "id"),  # the orders page filtered by status
)

line_items = Table(
    "line_items",
    metadata,
    Column("id", ID, primary_key=True),
    Column("order_id", ID, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("shop_id", ID, _shop_fk(), nullable=False, index=True),
    Column("tiktok_line_item_id", String(64), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("tiktok_product_id", String(64)),
    Column("seller_sku", String(255)),
    Column("product_name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("sale_price_amount", DecimalText, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("position", Integer, nullable=False),
)

ACTIVE_TASK_WHERE = text("status IN ('QUEUED', 'RUNNING')")

sync_tasks = Table(
    "sync_tasks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("shop_id", ID, _shop_fk(), nullable=False, index=True),
    Column("merchant_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("processed", Integer, nullable=False, server_default=text("0")),
    Column("total", Integer),
    Column("created", Integer, nullable=False, server_default=text("0")),
    Column("updated", Integer, nullable=False, server_default=text("0")),
    Column("unchanged", Integer, nullable=False, server_default=text("0")),
    Column("failed", Integer, nullable=False, server_default=text("0")),
    Column("failures", JSONText, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("checkpoint", JSONText, nullable=False),
    Column("orders_created_since", UTCDateTime),
    Column("orders_created_until", UTCDateTime),
    # At most one active task per shop and kind, even under concurrent syncStart calls.
    Index(
        "uq_sync_tasks_active_shop_kind",
        "shop_id",
        "kind",
        unique=True,
        sqlite_where=ACTIVE_TASK_WHERE,
        postgresql_where=ACTIVE_TASK_WHERE,
    ),
    Index(None, "merchant_id", "created_at", "id"),
    Index(None, "status", "heartbeat_at"),
)

# The polling backstop's per-shop, per-kind state (domain.polling.PollCursor); migration 0003.
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("cursor_at", UTCDateTime),  # every change before it is stored
    Column("scheduled_at", UTCDateTime),  # the scheduler's last enqueue
    Column("polled_at", UTCDateTime),  # the last poll task queued
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("shop_id", "kind"),
)

# Leases that make one process of a deployment the holder of a role (the scheduler); migration 0003.
scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# The webhook inbox (migration 0002). A row of a deleted shop is deleted with it (CASCADE, like every row of a shop:
# deleting a shop removes everything Shopbridge holds of it); a notification for no connected shop has no shop_id.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", ID, primary_key=True),
    # `tts:<tts_notification_id>`, else `sha256:<digest of type|shop_id|data>`: one row per notification.
    Column("notification_key", String(80), nullable=False, unique=True),
    Column("type", Integer, nullable=False),
    Column("tiktok_shop_id", String(64)),
    Column("shop_id", ID, _shop_fk()),
    Column("data", JSONText, nullable=False),
    Column("notified_at", UTCDateTime),  # TikTok's push time (envelope `timestamp`)
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("outcome", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Index(None, "shop_id", "outcome", "received_at"),  # a shop's pending events, oldest first
    Index(None, "shop_id", "received_at", "id"),  # the webhookEvents page, newest first
)

SHOP_TIKTOK_ID_UNIQUE = "uq_shops_tiktok_shop_id"
ACTIVE_TASK_UNIQUE = "uq_sync_tasks_active_shop_kind"

# Every table holding a shop's rows, children first: the order a complete delete walks.
SHOP_OWNED_TABLES = (
    line_items, orders, inventory_links, skus, products, sync_tasks, authorization_requests, sync_cursors,
    webhook_events,
)  # fmt: skip
