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
    literal_column,
    text,
)

from domain.catalog import MAX_AMOUNT_CHARS, plain_text
from domain.inventory.items import HAND_MADE, sku_search_key

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
    """Money amounts as their exact decimal text, in plain notation (`domain.catalog.plain_text`: `1E+3` is stored
    as `1000`): `10.50` comes back as `Decimal('10.50')` on every database. At most `MAX_AMOUNT_CHARS` characters
    (`Money.checked_amount`)."""

    impl = String(MAX_AMOUNT_CHARS)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else plain_text(value)

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
    Column("name", String(1024), nullable=False),  # 64 user-perceived characters (migration 0022)
    # `domain.shops.shop_name_key(name)`, written by SqlShopRepository (migration 0057): with `merchant_id`, the last
    # guard for "no two of a merchant's shops share a name" (SHOP_NAME_UNIQUE), compared as Python folds it.
    Column("name_key", String(64), nullable=False),
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
    # Why (`domain.shops.Revocation`; migration 0043): null when not revoked, or revoked before the reason was kept.
    Column("revoked_because", String(32)),
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
    # The address the last successful registration sent TikTok (migration 0013; null: unknown or none yet).
    Column("webhooks_registered_address", Text),
    Index(None, "merchant_id", "created_at", "id"),
    # Partial (its predicate always holds: the column is NOT NULL) so that a rename stays a no-key update: PostgreSQL
    # takes FOR UPDATE for an UPDATE changing a column of a unique index a foreign key could use, which a partial
    # one cannot, and FOR UPDATE waits for every import batch holding the shop FOR KEY SHARE (`ShopRepository.hold`).
    Index(
        None,
        "merchant_id",
        "name_key",
        unique=True,
        postgresql_where=text("name_key IS NOT NULL"),
        sqlite_where=text("name_key IS NOT NULL"),
    ),
)

authorization_requests = Table(
    "authorization_requests",
    metadata,
    Column("state_digest", String(64), primary_key=True),
    Column("merchant_id", String(128), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("region", String(8), nullable=False),
    Column("name", String(1024), nullable=False),  # 64 user-perceived characters (migration 0022)
    Column("shop_id", ID, _shop_fk(), index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    # When its completion connected or renewed a shop (migration 0044): it no longer counts toward
    # SHOPBRIDGE_MAX_AUTHORIZATION_STARTS (`domain.authorization.check_room`). Null: pending, denied or failed.
    Column("completed_at", UTCDateTime),
    # The shop that completion connected or renewed (migration 0055): a repeat of the completion (a double-submitted
    # callback) is answered with it. No foreign key: a shop deleted since is looked up and not found.
    Column("completed_shop_id", ID),
    # A CONNECT's choice of stock push for the shop it connects (migration 0060, decide62; `shopAuthorizationStart`'s
    # `pushEnabled`): false, the new shop starts with push off. Null: a re-authorization, or a start before 0060.
    Column("push_enabled", Boolean),
    Index(None, "expires_at"),  # retention: the requests expired longest ago (migration 0009)
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
    # When the stock this row's SKUs hold (`skus.quantity`) was read at TikTok: the request of the page or product
    # detail it came from (`Product.stock_read_at`; migration 0020). A manual link's first push is fenced from it
    # (`links.link_manually`). Null: written before 0020, or without a known read.
    Column("stock_read_at", UTCDateTime),
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
    # A virtual bundle's SKU (Get Product `combined_skus` / `COMBINED_PRODUCT`; migration 0004): never pooled.
    Column("bundle", Boolean, nullable=False, server_default=text("false")),
    # The seller SKU as the pool matches it (`domain.inventory.links.trimmed`: edge-invisible characters trimmed, NFC;
    # NULL when blank), computed in Python where the row is built (`SqlCatalogRepository`) and filled for older rows
    # by migration 0015: a later batch finds its twins by this key through the index, with no normalization in SQL.
    Column("seller_sku_key", String(255)),
    # TikTok sent a seller SKU longer than `seller_sku` holds (`domain.stored.seller_sku_too_long`; migration 0048):
    # `seller_sku` is NULL, and the SKU's link is LONG_SELLER_SKU rather than NO_SELLER_SKU (sku57)
    Column("seller_sku_too_long", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("shop_id", "tiktok_sku_id"),
    Index(None, "shop_id", "seller_sku_key"),
)

# TikTok's stock of a SKU, one row per warehouse, as imported (Get Product `skus[].inventory[]`); renamed from
# `inventory_links` in migration 0004: the pool's links are `sku_links`.
warehouse_stocks = Table(
    "warehouse_stocks",
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
    # TikTok's `collection_time`: when the carrier collected the order (None: not yet, or not given; migration 0050)
    Column("collected_at", UTCDateTime),
    # how many packages (distinct `packages[].id`) an order with a `collected_at` listed (None without one, or stored
    # before migration 0052): the pool dates by the collection an order of one package only (`ledger.left_shelf_by`)
    Column("package_count", Integer),
    Column("fingerprint", String(32), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("shop_id", "tiktok_order_id"),
    Index(None, "shop_id", "created_at", "id"),  # the orders page, newest first (scanned backwards)
    Index(None, "shop_id", "status", "created_at", "id"),  # the orders page filtered by status
)

line_items = Table(
    "line_items",
    metadata,
    Column("id", ID, nullable=False),
    Column("order_id", ID, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
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
    # The line's own status and, once cancelled, why and by whom (Get Order List/Detail `line_items[].display_status`,
    # `cancel_reason`, `cancel_user`; migration 0037): a line the seller cancelled alone shows CANCELLED on an open
    # order. Null: not given, or stored before 0037 (until TikTok's next version of the order is stored).
    Column("display_status", String(32)),
    Column("cancel_reason", Text),
    Column("cancel_user", String(32)),
    # Led by the order (migration 0066): every reader of line items goes by their order (the orders page, a changed
    # order's replacement, an order's cascade) or by their shop; the id (a digest of the order's id and TikTok's
    # line item id) keeps a line from being stored twice. One index, whose keys an order's lines share, instead of
    # one on the id (a random place per line) and one on the order.
    PrimaryKeyConstraint("order_id", "id"),
)

# A shop's products and orders, kept running by the catalog's one write path (`SqlCatalogRepository`, in the
# transaction that inserts them, migration 0016): the products and orders pages' `totalCount` and the shop's counts
# look them up, where a COUNT over a 100,000-order shop took 15-50 ms on PostgreSQL per page (benchmark 4). One row
# per shop and table (`catalog`: "products" or "orders"), so the products' writers and the orders' writers, which
# run side by side during an import, never wait for each other's row; each table's writers of one shop take turns
# anyway (`catalog.hold_writers`). Rows go only with their shop (the cascade), so a count only grows. A shop with
# nothing of a table imported has no row for it (0).
shop_catalog_counts = Table(
    "shop_catalog_counts",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("catalog", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    PrimaryKeyConstraint("shop_id", "catalog"),
)

ACTIVE_TASK_WHERE = text("status IN ('QUEUED', 'RUNNING')")
# The predicates of the shop facts' partial indexes (migration 0027, `shop_facts.shop_sync_facts`): the finished
# tasks, and the polls that found a change. Literals, as ACTIVE_TASK_WHERE: the read repeats them so both planners
# (PostgreSQL's generic plans included) can see its condition implies the index's.
FINISHED_TASK_WHERE = text("finished_at IS NOT NULL")
CHANGES_FOUND_WHERE = text("\"trigger\" = 'SCHEDULED' AND status = 'SUCCEEDED' AND (created > 0 OR updated > 0)")

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
    Column("attempts", Integer, nullable=False, server_default=text("0")),  # runs begun: the lease generation
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),  # the retry budget (0028)
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("retry_at", UTCDateTime),  # QUEUED for the queue's retry of a failed run: when it is due (0038)
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("checkpoint", JSONText, nullable=False),
    Column("orders_created_since", UTCDateTime),
    Column("orders_created_until", UTCDateTime),
    # QUEUED without a message: its send failed, the broker down (0032); the scheduler's tick sends it once back
    Column("unsent", Boolean, nullable=False, server_default=text("false")),
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
    # The task feed's read of a merchant's active tasks, newest first (migration 0026): the active ones alone, not
    # the merchant's history walked through the index above (`queries.followed_sync_tasks`).
    Index(
        "ix_sync_tasks_active_merchant_id_created_at_id",
        "merchant_id",
        "created_at",
        "id",
        sqlite_where=ACTIVE_TASK_WHERE,
        postgresql_where=ACTIVE_TASK_WHERE,
    ),
    Index(None, "status", "heartbeat_at"),
    # Retention (migration 0009): the tasks finished longest ago, and whether a newer finished task of the same
    # shop, kind and role supersedes one (a probe per role: status and trigger before the time).
    Index(None, "finished_at"),
    Index(None, "shop_id", "kind", "status", "trigger", "created_at"),
    # A shop's sync facts for `Shop.attention` (migration 0027): the latest finished task of each kind, and when a
    # poll last found a change, each one seek newest first instead of grouping the shop's history.
    Index(
        "ix_sync_tasks_finished_shop_id_kind_finished_at_id",
        "shop_id",
        "kind",
        "finished_at",
        "id",
        sqlite_where=FINISHED_TASK_WHERE,
        postgresql_where=FINISHED_TASK_WHERE,
    ),
    Index(
        "ix_sync_tasks_changes_found_shop_id_finished_at",
        "shop_id",
        "finished_at",
        sqlite_where=CHANGES_FOUND_WHERE,
        postgresql_where=CHANGES_FOUND_WHERE,
    ),
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

# Records TikTok sent that Shopbridge could not read (`CatalogRepository.mark_unreadable`), per shop and kind, until
# one read of the same TikTok id is stored, TikTok says it has no such record (each poll reads marks again by id:
# `domain.services.rereads`) or retention forgets it (`failed_at` past `SHOPBRIDGE_TASK_RETENTION`); at most
# `domain.sync.MAX_UNREADABLE_RECORDS` per shop and kind. 0039, 0040.
unreadable_records = Table(
    "unreadable_records",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("kind", String(16), nullable=False),  # ORDERS or PRODUCTS
    Column("tiktok_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),  # the first read's reason; a failed read by id's since (0040)
    Column("failed_at", UTCDateTime, nullable=False),  # the first read that failed
    Column("reread_at", UTCDateTime),  # the latest read by id that left it (a poll's); null: none yet (0040)
    PrimaryKeyConstraint("shop_id", "kind", "tiktok_id"),
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
    # `tts:<tts_notification_id>`, else `sha256:<digest of type|shop_id|push time, if known|data>`: one row per
    # notification (`domain.intake.notification_key`).
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
    Index(None, "received_at"),  # retention: the oldest events of every shop (migration 0008)
)

# ---- The shared inventory pool (migration 0004; ../shared/live-sync.md §7) -------------------------------------


def _sku_search_key(context: Any) -> str:
    """`inventory_items.sku_search` of the row being inserted: its SKU's `sku_search_key`."""
    return sku_search_key(context.get_current_parameters()["sku"])


# One pool row per merchant SKU. available = on_hand - reserved - safety_stock (may be negative: oversold).
inventory_items = Table(
    "inventory_items",
    metadata,
    Column("id", ID, primary_key=True),
    Column("merchant_id", String(128), nullable=False),
    Column("sku", String(255), nullable=False),  # the merchant SKU: seller SKUs link to it by exact (trimmed) match
    # What `inventoryItems(query:)` searches: the SKU case- and width-folded (`sku_search_key`), since neither SQLite's
    # lower() nor PostgreSQL's in the C locale folds beyond ASCII. Set by every insert (this default, or the writer's
    # own); NULL only where a process of the release before migration 0007 inserted (the search then reads lower(sku)).
    Column("sku_search", String(1024), default=_sku_search_key),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, server_default=text("0")),
    Column("safety_stock", Integer, nullable=False, server_default=text("0")),
    Column("version", Integer, nullable=False, server_default=text("1")),  # +1 on every counter change
    Column("created_at", UTCDateTime, nullable=False),
    # When its counters, safety stock or the SKUs linked to it last changed: every counter write, and a link that joins
    # or leaves it (to another item or none, or with its shop's delete: `writer.touch_items`); a link's other changes
    # (state, a push) stamp `sku_links.updated_at`. Both are what the all-items feed reads after lost signals
    # (`inventory_queries.item_ids_changed_since`).
    Column("updated_at", UTCDateTime, nullable=False),
    # The item whose count this one's seed copied (migration 0071, chain74): set when a seller SKU renamed to one no
    # item had seeds it from the SKU's TikTok stock while LINKED to that item (`sku_links.seeded_from_item_id` of the
    # seeding link, which a later rename of the SKU overwrites; this stays). When an item so named goes, left to nobody
    # (`shop_items.remove_unclaimed_items`: never counted by hand), the copies of it are handed to its own
    # (`copies.hand_copies`). No foreign key: an item removed since never comes back under its id. Null: no copy.
    Column("seeded_from_item_id", ID),
    UniqueConstraint("merchant_id", "sku"),
    Index(None, "merchant_id", "created_at", "id"),  # the inventoryItems page
    # The copies of an item (migration 0071), which its removal hands to its own origin. Partial: almost none is one.
    Index(
        None,
        "seeded_from_item_id",
        sqlite_where=text("seeded_from_item_id IS NOT NULL"),
        postgresql_where=text("seeded_from_item_id IS NOT NULL"),
    ),
    # The merchant's items changed last (migration 0047): the all-items feed's read after lost signals, 1,000 at most
    # (`inventory_queries.item_ids_changed_since`); without it that read passed over every item of the merchant.
    Index(None, "merchant_id", "updated_at", "id"),
)

# A shop SKU's place in the pool: one row per imported SKU (its state says why it is unlinked, if it is).
sku_links = Table(
    "sku_links",
    metadata,
    # `skus.id` without a foreign key: a changed product's SKU rows are deleted and written again (same ids) by
    # the catalog upsert, and the link (a manual one above all) must survive that; the link of a SKU a product no
    # longer has (TikTok dropped it) stays, DROPPED, naming its item, for the SKU's orders and its return
    # (`domain.inventory.links.counts_orders`, `back_from_drop`).
    Column("sku_id", ID, primary_key=True),
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("merchant_id", String(128), nullable=False),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="SET NULL")),
    Column("tiktok_product_id", String(64), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("seller_sku", String(255)),  # trimmed; what auto-linking matched on
    # LINKED, AMBIGUOUS, NO_SELLER_SKU, LONG_SELLER_SKU, EXCLUDED, UNLINKED, DROPPED
    Column("state", String(16), nullable=False),
    # Set on the link whose shop's TikTok stock seeded the item, when it did: that shop's open orders created
    # before it were already outside TikTok's available, so they reserve without lowering `available`.
    Column("stock_counted_at", UTCDateTime),
    # The item that read seeded (migration 0021; no foreign key: an item removed since never comes back under its id):
    # the read counts while the link names it, on no other item (`ledger._linked_items`), and is kept when the link
    # moves to another item and back (`links.upsert_links`). Null: no read, or a row a release before 0021 wrote.
    Column("seeded_item_id", ID),
    # The item the SKU was LINKED to when that read seeded a new item (migration 0030: its seller SKU renamed to one
    # no item had): the seed copied that item's count, which still holds the units sold on the copy since; a line
    # deducted on the copy comes back to it with the SKU (`domain.inventory.ledger.deducted_on_copy`). Written and
    # kept with `seeded_item_id`; null: a first link, or a row written before 0030.
    Column("seeded_from_item_id", ID),
    # When the SKU was linked to its current item (null: linked before links kept the time). An order created since
    # and first seen shipped left the pool after it counted: it deducts (`domain.inventory.ledger.transition`).
    # Kept when the link leaves LINKED, the merchant's unlink (`skuUnlink`) or an import's (AMBIGUOUS, NO_SELLER_SKU,
    # EXCLUDED), with `unlinked_item_id` the item it was linked to then (migration 0017; null otherwise, and once that
    # item goes; `domain.inventory.links.remembered_on_unlink`): a sale first seen while unlinked and linked back
    # to that same item moves it as it would have linked (`domain.inventory.ledger.transition`'s `unlinked_from`).
    Column("linked_at", UTCDateTime),
    Column("unlinked_item_id", ID, ForeignKey("inventory_items.id", ondelete="SET NULL")),
    # With `unlinked_item_id`, when the SKU's new sales stopped counting on that item (migration 0036;
    # `domain.inventory.links.unlinked_since`): the merchant's unlink (`skuUnlink`), or an import's leaving (whose
    # sales since its link go on counting there, `ledger.first_seen_unlinked`). A sale made before it and first seen
    # after it counts on that item (`domain.inventory.ledger.sold_before_unlink`). Null while LINKED, for a link
    # unlinked before 0036, and read only with the item it goes with.
    Column("unlinked_at", UTCDateTime),
    Column("source", String(8), nullable=False),  # AUTO or MANUAL (a manual decision survives later imports)
    Column("pushed_quantity", Integer),  # the last quantity TikTok accepted
    Column("pushed_at", UTCDateTime),  # when that push read the pool and computed its targets (the fence's start)
    # When TikTok's success of that push was recorded (migration 0035): a products read sent before then may show the
    # stock before the push, so the push wins over it (`domain.stock_levels.last_known_stock`). Null, or older than
    # `pushed_at` (recorded before 0035, by a release before it, or a push of a worker that died, taken as applied
    # by the next: landing unknown): taken as `pushed_at`.
    Column("push_landed_at", UTCDateTime),
    # The units the last push held back as sold at TikTok but not yet ingested (the fence, migration 0010), and since
    # when some have been held without a break (null: none): the next push counts them again until the ledger has.
    Column("held_quantity", Integer, nullable=False, server_default=text("0")),
    Column("held_since", UTCDateTime),
    # The item the last push was made for (the item the link named at its read), and the item the sales its hold
    # stands for were made under: the item of the record the push measured from when the hold started, kept while
    # carried (migration 0056, review60b F1; null: pushed before it, read as the item the link names or remembers).
    # A hand link change reads them (`links._fence_anew`, `_moved_hold`). No foreign keys, as `moved_hold_item_id`.
    Column("pushed_item_id", ID),
    Column("held_item_id", ID),
    # Of the hold (`held_quantity`), the units of `held_item_id` not applied yet: a push that restarted a hold
    # carrying units of another item keeps that item and its units here, the rest (the sales since the last push)
    # being of `held_rest_item_id` (migration 0059, review61 F2; null: the whole hold is `held_item_id`'s). The
    # rest's item, written with the split and kept while the hold is carried, whatever item a later push is made for
    # (migration 0062, review62 R1; `domain.inventory.links.hold_parts`).
    Column("held_item_quantity", Integer),
    Column("held_rest_item_id", ID),
    # The units of the shop's ledger lines of this SKU that had taken TikTok's stock (RESERVED or DEDUCTED) when the
    # last push read the pool (migration 0011): what the ledger applied since is the count now less this, a
    # cancellation counted (null: pushed before it was kept).
    Column("ingested_at_push", Integer),
    # Units TikTok showed above the pool's view at the last push (a cancellation TikTok made, not yet released by the
    # ledger), which that push overwrote: their release later is no unit TikTok gained since (`fence_counts`); and
    # the units of the shop's RELEASED lines of the SKU when that push read the pool.
    Column("restored_quantity", Integer, nullable=False, server_default=text("0")),
    Column("released_at_push", Integer),
    # Since when some of `restored_quantity` have been carried (migration 0053; null: none, or carried by a release
    # before it): past the fence's hold horizon they make up for no release (`domain.inventory_push.carried_restore`).
    Column("restored_since", UTCDateTime),
    # The sales of an item the SKU was moved from by hand, made under it before the move's stock read and not
    # ingested, when the fence started anew on the new item (migration 0054; `links._fence_anew`, `_moved_hold`,
    # review60 F3): that item (no foreign key: read only while it exists), the units and since when held (0 / null:
    # none), the shop's running count of the SKU at the move, and the read's time (sold before it). It stands as a
    # hold does (`domain.inventory_push.standing_units`); a delete of the shop takes it off that item's on-hand
    # (`ledger.release_shop`), and a link back to that item holds it again (`links._hold_again`).
    Column("moved_hold_item_id", ID),
    Column("moved_hold_quantity", Integer, nullable=False, server_default=text("0")),
    Column("moved_hold_since", UTCDateTime),
    Column("moved_hold_ingested_at_push", Integer),
    Column("moved_hold_sold_before", UTCDateTime),
    # A moved hold of two items, the parts of the split hold the move left (migration 0063, review62 R1's read
    # variant: the smaller part was dropped): of `moved_hold_quantity`, the units of `moved_hold_item_id` not applied
    # yet, the rest of `moved_hold_rest_item_id` (`domain.inventory.links.hold_parts`, as `held_item_quantity`;
    # null: the whole moved hold is `moved_hold_item_id`'s).
    Column("moved_hold_item_quantity", Integer),
    Column("moved_hold_rest_item_id", ID),
    # A link whose shop's TikTok stock seeded its item, or that joined one from its product page (0019), never pushed
    # since (migration 0018): TikTok's available right after the link as the pool counts it (seeding: the item's
    # `available` once the link's waiting lines applied; joining: `baseline_read_at`), the
    # ledger's counts of that instant in `ingested_at_push` / `released_at_push`: the fence's baseline for the first
    # push (`domain.inventory_push.LinkedSku.baseline`), which clears it (null otherwise).
    Column("seeded_available", Integer),
    # A link that joined an existing item from its product page while never pushed (migration 0019): when that
    # page's stock was read (its request); `seeded_available` is then TikTok's available as read less the sales since
    # that the ledger has. An open order of the shop created before it, first reserved later (before the first push or
    # after it: kept), adds its units to `ingested_at_push`, as TikTok had left them out already
    # (`ledger._counted_before_push`). Null otherwise (a seeding link's read is `stock_counted_at`).
    Column("baseline_read_at", UTCDateTime),
    # What a fenced push is about to send, committed before its Update Inventory (migration push_intent; JSON of
    # `domain.inventory_push.PushIntent`: the record a success makes); cleared when TikTok's answer is recorded. One
    # left behind (the worker died meanwhile) is settled by the next push (`domain.inventory_push.settled`).
    Column("push_intent", Text),
    Column("push_error_code", String(32)),  # TikTok's per-SKU code of the last failed push; null once one succeeds
    Column("push_error_message", Text),
    Column("observed_quantity", Integer),  # TikTok's available at the last reconcile (Inventory Search)
    Column("observed_at", UTCDateTime),
    Column("drift_count", Integer, nullable=False, server_default=text("0")),  # reconciles that found drift
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "inventory_item_id"),
    Index(None, "shop_id", "state"),
    # The merchant's links changed since a time, with the item each names (migration 0047): the other half of the
    # all-items feed's read after lost signals (`inventory_queries.item_ids_changed_since`: a push's outcome stamps
    # the link, not its item); without it that read passed over every link of the merchant's shops.
    Index(None, "merchant_id", "updated_at", "inventory_item_id"),
    Index(None, "shop_id", "tiktok_product_id"),
    Index(None, "shop_id", "tiktok_sku_id"),  # an order batch's lines find their links
    # The foreign key's `ON DELETE SET NULL` finds the links naming a deleted item through it (migration 0025):
    # without it each item deleted scanned every link (8,000 items of a shop deleted beside another shop's 8,000
    # links: 16.3 s on SQLite, holding its one writer; 0.35 s with it). Partial: most links remember no item.
    Index(
        None,
        "unlinked_item_id",
        sqlite_where=text("unlinked_item_id IS NOT NULL"),
        postgresql_where=text("unlinked_item_id IS NOT NULL"),
    ),
    # The links whose hold, or moved hold, belongs to an item they may no longer name (migration 0058): the push's
    # read subtracts the holds of each link's item (`inventory_push_links._held_elsewhere`) through them. Partial:
    # few links hold anything.
    Index(
        None,
        "held_item_id",
        sqlite_where=text("held_item_id IS NOT NULL"),
        postgresql_where=text("held_item_id IS NOT NULL"),
    ),
    Index(
        None,
        "moved_hold_item_id",
        sqlite_where=text("moved_hold_item_id IS NOT NULL"),
        postgresql_where=text("moved_hold_item_id IS NOT NULL"),
    ),
    # The links whose hold a push split between two items (migrations 0059, 0062; review61 F2): the other part is
    # `held_rest_item_id`'s, read as another arm of `_held_elsewhere`. Partial: a split is rare.
    Index(
        None,
        "held_rest_item_id",
        sqlite_where=text("held_item_quantity IS NOT NULL"),
        postgresql_where=text("held_item_quantity IS NOT NULL"),
    ),
    # The links whose moved hold is split between two items (migration 0063): the other part's arm of
    # `_held_elsewhere`. Partial: rarer still.
    Index(
        None,
        "moved_hold_rest_item_id",
        sqlite_where=text("moved_hold_item_quantity IS NOT NULL"),
        postgresql_where=text("moved_hold_item_quantity IS NOT NULL"),
    ),
    # A shop's links whose item was seeded as a copy of another item's count (migration 0069, tryout72 F1): what
    # `Shop.attention`'s STOCK_COPIED reads (`shop_facts.copied_stock_query`). Partial: almost none copied one.
    Index(
        None,
        "shop_id",
        "seeded_from_item_id",
        sqlite_where=text("seeded_from_item_id IS NOT NULL"),
        postgresql_where=text("seeded_from_item_id IS NOT NULL"),
    ),
)

# The order ledger: one row per shop, order, line item and component (TikTok line items are one unit each). Its state
# is the stock effect applied so far; `reserved` of an item is the sum of `quantity` of its RESERVED rows.
# `component_sku_id` (migration 0005): '' for an ordinary line (the row moves the line's own SKU); for a virtual
# bundle's line, one row per component with the component's TikTok SKU id, equal to the row's `tiktok_sku_id`
# (`sku_count` units; the bundle SKU itself has no row: live-sync.md §1.5, domain.inventory.ledger.stock_lines).
_BY_SKU = "state <> 'HISTORICAL'"  # the lines `order_line_stock`'s index by SKU keeps (migration 0068)
order_line_stock = Table(
    "order_line_stock",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_order_id", String(64), nullable=False),
    Column("tiktok_line_item_id", String(64), nullable=False),
    Column("component_sku_id", String(64), nullable=False, server_default=text("''")),
    Column("merchant_id", String(128), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),  # the SKU whose link the row counts on
    # The item the row counts on (PENDING_LINK: the one it was reserved on before its SKU was unlinked, None if never,
    # `domain.inventory.ledger.LedgerLine`)
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="SET NULL")),
    Column("quantity", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # PENDING_LINK, RESERVED, DEDUCTED, RELEASED, HISTORICAL
    Column("wanted", String(16), nullable=False),  # the effect the order's status asks for (applied once linked)
    Column("order_updated_at", UTCDateTime, nullable=False),  # TikTok's update_time of the status applied
    # When the row last took units from the pool (`took_units_now`): kept while a RESERVED line moves on (paid,
    # shipped), as the push's fence counts rows stamped since its last push as sales already ingested.
    Column("updated_at", UTCDateTime, nullable=False),
    # The item whose seed left the line's units out (migration 0023; `domain.inventory.ledger.left_out_of_seed`): an
    # open order made before the stock read that seeded it, first seen while its SKU was away from it (linked to another
    # item, or unlinked); once the SKU is back on that item, its seed again, the line counts into it (`in_seed_again`).
    # Also the item that counted a RESERVED line's units out when it left for an item counting them in (a seller SKU
    # renamed to a new one, `carries_its_units`): back on it, the line counts into it again.
    # Null: nothing owed (every row written before 0023). No foreign key: a removed item's id never comes back.
    Column("left_out_of_seed", ID),
    PrimaryKeyConstraint("shop_id", "tiktok_order_id", "tiktok_line_item_id", "component_sku_id"),
    # By item: its RESERVED lines (`removal.item_use`, `shop_items.left_behind_query`), the lines naming a removed
    # item (`shop_items.delete_items`, the foreign key's ON DELETE SET NULL). Partial (migration 0067): every reader
    # names an item, so a line on none (a SKU never linked: every line of an unlinked shop's import) takes no entry.
    Index(
        None,
        "inventory_item_id",
        "state",
        sqlite_where=text("inventory_item_id IS NOT NULL"),
        postgresql_where=text("inventory_item_id IS NOT NULL"),
    ),
    # By SKU: the relinks (`ledger.hold_relink`, `relink_lines`, `deducted_on_copy`), the push's `ingested_since`, the
    # links' seed and fence reads, a created item's released units, the unexplained holds' waiting SKUs; `shop_id`
    # leads: without it SQLite (no statistics) searches the shop's primary key for `shop_id = ? AND tiktok_sku_id IN
    # (...)` instead (perf67). Partial (migration 0068): no HISTORICAL line (an order first seen shipped or
    # cancelled: most of an import's, linked or not), which no reader by SKU asks for but those of orders made since a
    # stock read, which find them through `orders (shop_id, created_at)` and the key. Each reader states
    # `LEDGER_BY_SKU` literally: SQLite uses a partial index only for a query carrying its WHERE term, and PostgreSQL
    # cannot prove it from a generic plan's bound parameters.
    Index(None, "shop_id", "tiktok_sku_id", "state", sqlite_where=text(_BY_SKU), postgresql_where=text(_BY_SKU)),
)
# The term of every read of `order_line_stock` by SKU: the lines its index by SKU keeps (above; a literal, not a
# parameter, for the planners to match it). Its readers of HISTORICAL lines read those apart (`HISTORICAL_LINES`).
LEDGER_BY_SKU = order_line_stock.c.state != literal_column("'HISTORICAL'")
HISTORICAL_LINES = order_line_stock.c.state == literal_column("'HISTORICAL'")

# The open order lines a shop's delete deducted from their items (`domain.inventory.ledger.leaves_with_its_shop`,
# migration 0031), kept by merchant and TikTok shop when the shop's own rows go: the same merchant's shop of that TikTok
# shop, connected again, counts each back on its item as it was (`back_with_its_shop`) rather than take its units a
# second time, and drops the row once the line is in its ledger. The item's removal takes its rows (nothing to undo);
# the retention sweep those no reconnect can match any more (`domain.inventory.ledger.deleted_line_forgotten`).
deleted_shop_lines = Table(
    "deleted_shop_lines",
    metadata,
    Column("merchant_id", String(128), nullable=False),
    Column("tiktok_shop_id", String(64), nullable=False),
    Column("tiktok_order_id", String(64), nullable=False),
    Column("tiktok_line_item_id", String(64), nullable=False),
    Column("component_sku_id", String(64), nullable=False),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=False),
    # The stock read that seeded the line's item from this shop's SKU (`sku_links.stock_counted_at` of a link whose
    # `seeded_item_id` is that item, migration 0041): a line of an order made before it was reserved in the seed, and
    # one cancelled by then comes back with no on-hand change (`back_with_its_shop`). Null: no such seed, or a row
    # written before 0041.
    Column("seed_read_at", UTCDateTime),
    # The line's ledger state at the delete (migration 0042): RESERVED, deducted by the delete and counted back;
    # PENDING_LINK, waiting on the item it remembers, moves as a waiting line there once its SKU links
    # (`domain.inventory.ledger.pending_with_its_shop`); any other (DEDUCTED, RELEASED, HISTORICAL; orders made within
    # `DELETED_LINE_KEPT` of the delete, the item its line or its SKU's link named): applied already, moves nothing
    # more through a link kept (`deleted_shop_links`, `domain.inventory.ledger.sold_while_linked_before`).
    Column("state", String(16), nullable=False, server_default=text("'RESERVED'")),
    PrimaryKeyConstraint("merchant_id", "tiktok_shop_id", "tiktok_order_id", "tiktok_line_item_id", "component_sku_id"),
    Index(None, "inventory_item_id"),
    Index(None, "deleted_at"),  # the retention sweep's order (migration 0033: `deleted_line_forgotten`)
)

# The units a shop's delete took off an item's on-hand as sold unseen (migration 0034): a link's hold that still stood
# (`domain.inventory_push.standing_units`), sales TikTok made that the pool never ingested. Kept by merchant, TikTok
# shop and SKU, as `deleted_shop_lines` is: that TikTok shop connected again imports those sales' orders, and the first
# open lines of the SKU made before the hold's last push (`sold_before`) on that item take `quantity` units back on
# on-hand as they reserve (`domain.inventory.ledger.back_from_unseen`) instead of taking them a second time. A row goes
# once its units are taken back, with its item, or with the retention sweep (`deleted_line_forgotten`).
deleted_shop_holds = Table(
    "deleted_shop_holds",
    metadata,
    Column("merchant_id", String(128), nullable=False),
    Column("tiktok_shop_id", String(64), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False),
    Column("deleted_at", UTCDateTime, nullable=False),
    Column("quantity", Integer, nullable=False),  # units not taken back yet (> 0)
    Column("sold_before", UTCDateTime, nullable=False),  # the link's last push: the sales it held were made before
    PrimaryKeyConstraint("merchant_id", "tiktok_shop_id", "tiktok_sku_id", "inventory_item_id", "deleted_at"),
    Index(None, "inventory_item_id"),
    Index(None, "deleted_at"),
)

# When each link of a shop's SKU to an item that the shop's delete took had taken effect (`sku_links.linked_at`, else
# the seed's read; links that count orders: LINKED, DROPPED with an item; migration 0042), kept by merchant, TikTok
# shop, SKU and item as `deleted_shop_holds` is: that TikTok shop connected again and linked to the same item, a line
# its old ledger never had, of an order made between then and the delete, is sold since that link
# (`domain.inventory.ledger.sold_while_linked_before`): first seen shipped, it deducts. A link the merchant made by
# hand is linked by hand again there (`source`). A row goes with its item or with the retention sweep
# (`deleted_line_forgotten`).
deleted_shop_links = Table(
    "deleted_shop_links",
    metadata,
    Column("merchant_id", String(128), nullable=False),
    Column("tiktok_shop_id", String(64), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False),
    Column("deleted_at", UTCDateTime, nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    # The link's source (`sku_links.source`, AUTO or MANUAL; migration 0045) when it named the item at the delete
    # (LINKED, DROPPED with it): a SKU whose latest kept row is MANUAL is linked by hand to that item again by the
    # reconnect's products import, not by its seller SKU (`domain.inventory.links.relinked_by_hand`). Null: a link left
    # without its item that only remembers it, or a row written before 0045. `EARLIER` (`ledger.EARLIER_PERIOD`, kept58;
    # a value, no schema change): a copy of an earlier link period a link change ended (`sku_link_periods`), which
    # counts only sales first seen shipped (`ledger.counted_under_a_deleted_link`); the delete copied them with no
    # source before (kept57's 986c6db6: such rows count open sales too).
    Column("source", String(8)),
    # When the merchant unlinked the SKU from the item (`sku_links.unlinked_at` of an UNLINKED link remembering it,
    # `skuUnlink`; migration 0046): a sale made after it counts on that item no more once the SKU links to another
    # (`domain.inventory.ledger.counted_under_a_deleted_link`). Null: a link that named its item, one an import left
    # (its sales since go on counting there), one unlinked before 0036, or a row written before 0046.
    Column("unlinked_at", UTCDateTime),
    PrimaryKeyConstraint("merchant_id", "tiktok_shop_id", "tiktok_sku_id", "inventory_item_id", "deleted_at"),
    Index(None, "inventory_item_id"),
    Index(None, "deleted_at"),
    # A TikTok shop's latest delete, a seek for every products batch of its reconnect (migration 0045; the links
    # made by hand come back from that delete alone: `links._linked_by_hand_before`)
    Index(None, "merchant_id", "tiktok_shop_id", "deleted_at"),
)

# When each connection of a TikTok shop began and ended, kept by its merchant's delete (migration 0051, review58 R6):
# a deleted link's gap period (`domain.inventory.ledger.through_the_gap`) ends where another merchant's connection of
# the same TikTok shop began, whose sales left that merchant's shelf. No foreign key: it outlives the shop and its
# items (a `deleted_shop_links` row goes with its item). One row per delete, swept with them 97 days after it.
deleted_shop_connections = Table(
    "deleted_shop_connections",
    metadata,
    Column("merchant_id", String(128), nullable=False),
    Column("tiktok_shop_id", String(64), nullable=False),
    Column("connected_at", UTCDateTime, nullable=False),  # the shop row's `created_at`
    Column("deleted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "tiktok_shop_id", "deleted_at"),
    Index(None, "tiktok_shop_id", "connected_at"),
    Index(None, "deleted_at"),  # the retention sweep's batches (`deleted_line_forgotten`)
)

# The earlier link periods of a shop's TikTok SKU on this connection (migration 0049, kept57): when the SKU's link
# leaves an item for another (the merchant's `skuLink`, an import's relink: a seller SKU renamed in Seller Center), the
# period it counted orders on that item (its `linked_at`, or its seed's read, to the change; one the SKU had left
# already, unlinked, to that unlink). A sale made under it and first seen shipped after the change deducts from that
# item, whatever the SKU links to now (`domain.inventory.ledger.sold_under_an_earlier_link`; pool57 F2). A row goes
# with its shop or item, or once ended `DELETED_LINE_KEPT` ago (the ledger reads none older: pruned as the SKU's
# periods are written, `links.record_link_periods`).
sku_link_periods = Table(
    "sku_link_periods",
    metadata,
    Column("shop_id", ID, ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("shop_id", "tiktok_sku_id", "inventory_item_id", "ended_at"),
    Index(None, "inventory_item_id"),
)

# The units of a shop's ledger lines of one TikTok SKU, by state, kept running by the ledger's one write path
# (`PoolWrite.flush`, in the transaction that writes the lines, migration 0012): the push's fence reads them with the
# items' counters (`sku_links.ingested_at_push`) in one statement, a lookup whatever the SKU's order history, where a
# SUM over the lines grew with it. Always equal to those SUMs: a shop SKU with no counted line may have no row (0).
sku_ledger_units = Table(
    "sku_ledger_units",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_sku_id", String(64), nullable=False),
    Column("ingested", Integer, nullable=False),  # units of its RESERVED or DEDUCTED lines (they took TikTok's stock)
    Column("released", Integer, nullable=False),  # units of its RELEASED lines
    PrimaryKeyConstraint("shop_id", "tiktok_sku_id"),
)

_HAND_MADE_KINDS = ", ".join(f"'{kind.value}'" for kind in sorted(HAND_MADE))  # 'ADJUSTED', 'CREATED', 'SET'

# Every change of an item's counters: orders, merchant edits, seeding. Kept when a shop goes (shop_id set null).
inventory_movements = Table(
    "inventory_movements",
    metadata,
    Column("id", ID, primary_key=True),
    Column("inventory_item_id", ID, ForeignKey("inventory_items.id", ondelete="CASCADE"), nullable=False),
    Column("merchant_id", String(128), nullable=False),
    Column("kind", String(24), nullable=False),  # e.g. SEEDED, SET, ADJUSTED, RESERVED, DEDUCTED, RELEASED
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("reason", Text),
    Column("shop_id", ID, ForeignKey("shops.id", ondelete="SET NULL")),
    Column("tiktok_order_id", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "inventory_item_id", "created_at", "id"),  # the movements page, newest first
    # An item's movements of the merchant's hand (migration 0070, review72c F1): what `Shop.attention`'s STOCK_COPIED
    # asks of a seeded item (`shop_facts.copied_stock_query`), which else walked its every sale (2 movements each) to
    # find none. Partial: the hand makes few; the query states the term literally (`HAND_MADE_MOVEMENTS`).
    Index(
        "ix_inventory_movements_hand_made",
        "inventory_item_id",
        sqlite_where=text(f"kind IN ({_HAND_MADE_KINDS})"),
        postgresql_where=text(f"kind IN ({_HAND_MADE_KINDS})"),
    ),
)
# The movements of the merchant's hand (`domain.inventory.items.HAND_MADE`), the kinds as literals in the partial
# index's order and spelling, so that SQLite and PostgreSQL's generic plans match its term (a bound list does not).
HAND_MADE_MOVEMENTS = inventory_movements.c.kind.in_([literal_column(f"'{kind.value}'") for kind in sorted(HAND_MADE)])

# The push outbox: one row per (shop, TikTok product) whose target may differ from what TikTok was told. Written in
# the transaction that changes stock (dirty_version + 1); the pusher sends one Update Inventory computed when sent
# and sets pushed_version to the dirty_version it claimed, so a change during the call costs one more call.
inventory_push_outbox = Table(
    "inventory_push_outbox",
    metadata,
    Column("shop_id", ID, _shop_fk(), nullable=False),
    Column("tiktok_product_id", String(64), nullable=False),
    Column("dirty_version", Integer, nullable=False),
    Column("pushed_version", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("shop_id", "tiktok_product_id"),
    Index(None, "next_attempt_at"),
)

# Per-shop push policy; a shop without a row has the defaults (push on, 100 %, no maximum, threshold 0).
shop_inventory_policies = Table(
    "shop_inventory_policies",
    metadata,
    Column("shop_id", ID, _shop_fk(), primary_key=True),
    Column("push_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("share_percent", Integer, nullable=False, server_default=text("100")),
    Column("max_quantity", Integer),
    Column("out_of_stock_threshold", Integer, nullable=False, server_default=text("0")),
    Column("updated_at", UTCDateTime, nullable=False),
    # Since when the shop's push fence waits to be re-based (migration 0064, tryout63 F1): push turned on, or the shop
    # re-authorized after it was REVOKED or EXPIRED. The next push run reads TikTok's available, then the shop's orders,
    # then takes the reading as its links' baseline and clears it (`domain.services.inventory_push.rebase_fence`);
    # null: none pending.
    Column("rebase_pending_since", UTCDateTime),
)

SHOP_TIKTOK_ID_UNIQUE = "uq_shops_tiktok_shop_id"
SHOP_NAME_UNIQUE = "ix_shops_merchant_id_name_key"
ACTIVE_TASK_UNIQUE = "uq_sync_tasks_active_shop_kind"

# Every table holding a shop's rows, children first: the order a complete delete walks.
# `inventory_movements` is not among them: a movement outlives its shop (shop_id set null), the item's history.
# `authorization_requests` are detached (shop_id set null), not deleted: a pending re-authorization then tells its
# shop was deleted (`AuthorizationRequest.shop_to_reauthorize`); retention prunes them a day past their expiry.
SHOP_OWNED_TABLES = (
    shop_catalog_counts, order_line_stock, sku_ledger_units, sku_links, inventory_push_outbox, shop_inventory_policies,
    line_items, orders, warehouse_stocks, skus, products, sync_tasks, authorization_requests, sync_cursors,
    webhook_events,
)  # fmt: skip
