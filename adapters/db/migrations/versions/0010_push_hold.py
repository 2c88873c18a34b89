"""The push's fence carries units it held back until the ledger ingests them: `sku_links.held_quantity`, `held_since`.

Before, the fence (`domain.inventory_push.unseen_sales`) held back a sale TikTok made unseen (its webhook lost)
for one push only: that push recorded the lowered quantity as `pushed_quantity`, and the next push, finding TikTok
at it, put the unit back on sale. A link now keeps the units its last push held back (`held_quantity`, 0 for none)
and since when some have been held without a break (`held_since`, null for none); the next push adds them back
to what it pushed before computing the units still unseen.

Revision ID: 0010_push_hold
Revises: 0009_task_retention
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_push_hold"
down_revision: str | None = "0009_task_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN in place on both databases (a NOT NULL column with a constant default is allowed by SQLite's).
    op.add_column("sku_links", sa.Column("held_quantity", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("sku_links", sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("held_since")
        batch.drop_column("held_quantity")
