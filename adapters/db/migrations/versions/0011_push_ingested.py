"""The push's fence counts the ledger's units at each push: `sku_links.ingested_at_push`.

Before, the fence (`domain.inventory_push.unseen_sales`) took "units the ledger applied since the last push" from the
order lines stamped after that push and still RESERVED or DEDUCTED. A line reserved before the push and cancelled
after it counted for nothing, although its cancellation gave its unit back to TikTok's available: the estimate of
the sales TikTok made unseen fell by that unit, and an unseen sale went back on sale (oversell). A link now keeps the
units of the shop's lines of its SKU that had taken stock when its last push read the pool (read in the same
statement as the item's counters); the next push subtracts it from the count then, a release included. Null: the
link was last pushed before this revision (the next push falls back on the stamps once).

A cancellation TikTok made before a push that the ledger had not released yet raised TikTok's available above the
pool's view; when that push wrote over it, its later release is no unit TikTok gained since. The link keeps those
units (`restored_quantity`) and the units of the SKU's RELEASED lines when it read the pool (`released_at_push`):
releases since then use the restored units up first.

Revision ID: 0011_push_ingested
Revises: 0010_push_hold
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_push_ingested"
down_revision: str | None = "0010_push_hold"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("ingested_at_push", sa.Integer(), nullable=True))
    op.add_column(
        "sku_links", sa.Column("restored_quantity", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("sku_links", sa.Column("released_at_push", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("released_at_push")
        batch.drop_column("restored_quantity")
        batch.drop_column("ingested_at_push")
