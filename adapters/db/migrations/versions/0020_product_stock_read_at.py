"""A product keeps when its stock was read: `products.stock_read_at`, so a link the merchant makes by hand is fenced.

A link's first push is fenced from a baseline of TikTok's available (migrations 0018, 0019): the seeding link's and
the joining link's transactions had the page's read in hand. A link the merchant makes by hand (`skuLink`) came
later, with the SKU's quantity stored but not when it was read, so its first push wrote the pool's available over
a sale made at its shop since that read whose order the pool had not ingested yet: one unit on sale twice. The
catalog now writes, with every product row it writes, when the page (or the product detail) holding its stock was
requested (`Product.stock_read_at`); `skuLink` keeps the joining link's baseline from it (`skus.quantity` as read
less the sales since the read the ledger has). Null: a product written before this revision, or without a known
read (its manual link's first push stays unfenced, as before, until the product is written again).

Revision ID: 0020_product_stock_read_at
Revises: 0019_baseline_read_at
Create Date: 2026-12-03 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_product_stock_read_at"
down_revision: str | None = "0019_baseline_read_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("stock_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch:
        batch.drop_column("stock_read_at")
