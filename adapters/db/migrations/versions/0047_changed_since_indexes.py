"""Index the items and links changed since a time, for the all-items feed's read after lost signals.

The indexes: `inventory_items (merchant_id, updated_at, id)` and `sku_links (merchant_id, updated_at,
inventory_item_id)`.

`inventory_queries.item_ids_changed_since` (the merchant's items changed since a time, the last changed first, at most
1,000: what `inventoryItemUpdated` without an item reads after a Redis reconnect or an overflow of the signal slot)
had no index on either `updated_at`: it passed over every item of the merchant and every link of its shops at each
such read (review56b F1: 100,000 items and links, ~0.5 s a read on SQLite, 0.06-0.13 s on PostgreSQL; an import
overflowing the slot read after read repeated it for its whole length). With these the items side reads the 1,001
changed last off the end of its index, and the links side only the links changed since that time.

What they cost: every write of an item's counters (a sale, an adjustment) sets its `updated_at`, and every push's
outcome a link's; on PostgreSQL such an update, an indexed column changed, is no longer HOT (heap-only): each of the
table's indexes gains an entry (5,000 counter writes of 100,000 items: 76 % HOT before, none after). Plain
`CREATE INDEX` (no `CONCURRENTLY`, as every index of this history): on PostgreSQL it blocks writes of the two tables
while it builds, seconds at 100,000 rows. The downgrade drops both indexes (the reads pass over the merchant's rows
again).

Revision ID: 0047_changed_since_indexes
Revises: 0046_deleted_links_unlinked_at
Create Date: 2026-12-05 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0047_changed_since_indexes"
down_revision: str | None = "0046_deleted_links_unlinked_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_inventory_items_merchant_id_updated_at_id", "inventory_items", ["merchant_id", "updated_at", "id"]
    )
    op.create_index(
        "ix_sku_links_merchant_id_updated_at_inventory_item_id",
        "sku_links",
        ["merchant_id", "updated_at", "inventory_item_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_sku_links_merchant_id_updated_at_inventory_item_id", table_name="sku_links")
    op.drop_index("ix_inventory_items_merchant_id_updated_at_id", table_name="inventory_items")
