"""A link that joins an existing item keeps the fence's baseline for its first push too: `sku_links.baseline_read_at`.

Before, only the link whose stock seeded its item had a baseline before its first push (migration 0018): a link
joining an item another shop's SKU (or a twin of its own shop) had seeded held nothing back on its first push, and a
sale made at its TikTok shop between its product page's stock read and that push was written over, one unit on sale
twice until its order was ingested. The joining transaction now keeps TikTok's available as that page read it less
the sales made since the read that the ledger has (`seeded_available`, which now holds either link's baseline),
with the ledger's counts of that instant (`ingested_at_push` / `released_at_push`), and in this column when the page's
stock was read (the page's request): an open order of the shop created before it, which TikTok's available had left
out already, adds its units to `ingested_at_push` when the ledger reserves it later (`ledger._counted_before_push`),
as a seeding link's in-seed orders do. Null: not a joining link (a seeding link's read is `stock_counted_at`), joined
without a known read (a manual link), or joined before this revision (its first push stays unfenced, as before).

Revision ID: 0019_baseline_read_at
Revises: 0018_seeded_available
Create Date: 2026-12-03 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_baseline_read_at"
down_revision: str | None = "0018_seeded_available"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("baseline_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("baseline_read_at")
