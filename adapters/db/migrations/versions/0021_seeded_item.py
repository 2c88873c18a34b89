"""A link whose shop's stock seeded its item remembers that item: `sku_links.seeded_item_id`.

The seed's read (`stock_counted_at`) tells the ledger which open orders the stock read had left out: first seen
later, they reserve in the seed (on-hand and reserved +1). It counts on the item that read seeded, and on no other.
Until now the link kept the read only while it named that item or none (`links.upsert_links`): moved to another item
(a seller SKU renamed) it dropped it, so linked back to the seeded item later (renamed back) such an order reserved
out of the seed, and the item was one unit short for good. The link now keeps the read with the item it seeded (this
column, written with `stock_counted_at` by a seeding link), and the ledger applies the read only while the link names
that item (`ledger._linked_items`). Existing rows with a read get the item they name (or remember, not LINKED): the
only item the rule before let them keep it for. Rows a release before this one writes (a rolling deploy) have none,
and go by that rule as before.

Revision ID: 0021_seeded_item
Revises: 0020_product_stock_read_at
Create Date: 2026-12-03 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_seeded_item"
down_revision: str | None = "0020_product_stock_read_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("seeded_item_id", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE sku_links SET seeded_item_id = coalesce(inventory_item_id, unlinked_item_id) "
        "WHERE stock_counted_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("seeded_item_id")
