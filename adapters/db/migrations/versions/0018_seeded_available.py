"""A link whose shop's stock seeded its item keeps the fence's baseline for its first push: `sku_links.seeded_available`.

Before, a link never pushed had no baseline, so the fence (`domain.inventory_push.fence_counts`) held nothing back
on its first push: a sale made at TikTok between the stock read that seeded the item (the product page's request,
`stock_counted_at`) and that push was written over, and its unit was on sale again until its order was ingested.
The seeding link's transaction now keeps what TikTok showed right after the link as the pool counts it (the item's
`available` once the link's waiting lines applied: the seed's on-hand less its reservations) in this column, and the
ledger's counts of that instant in `ingested_at_push` / `released_at_push`; the first push measures TikTok's fall
from them (`LinkedSku.baseline`) and clears it. Null: not a seeding link, already pushed, or seeded before this
revision (its first push stays unfenced, as before).

Revision ID: 0018_seeded_available
Revises: 0017_unlinked_item
Create Date: 2026-12-03 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_seeded_available"
down_revision: str | None = "0017_unlinked_item"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("seeded_available", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("seeded_available")
