"""The seed's stock read of a line a shop's delete deducted: `deleted_shop_lines.seed_read_at`.

A line reserved in its SKU's seed (its order made before the product page's read, its units added to the seeded
on-hand) and cancelled before that read counted its units twice; learnt on the same connection, its release takes
them off on-hand too (`domain.inventory.ledger.released_before_read`). The shop deleted first, the delete deducted
the line (the double count gone), and the reconnect's import, finding it cancelled, put its units back on on-hand:
11/0/11 where the shelf held 10 (poolreview53 defect 1). The delete now keeps the seed's read of the line's item
(`sku_links.stock_counted_at` of the link that seeded it), and the reconnect releases such a line with no on-hand
change (`domain.inventory.ledger.back_with_its_shop`).

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite); records kept before this revision have none (the rule before).

Revision ID: 0041_deleted_lines_seed_read
Revises: 0040_unreadable_reread_at
Create Date: 2026-12-05 10:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041_deleted_lines_seed_read"
down_revision: str | None = "0040_unreadable_reread_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deleted_shop_lines", sa.Column("seed_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deleted_shop_lines", schema=None) as batch:
        batch.drop_column("seed_read_at")
