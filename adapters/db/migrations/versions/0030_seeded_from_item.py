"""A link seeded when its seller SKU was renamed remembers the item it left: `sku_links.seeded_from_item_id`.

A seller SKU renamed in Seller Center to one no item has creates an item seeded from the shop's TikTok stock, which
was the count the SKU's item before pushed: the seed is a copy of that item's count, whose on-hand goes on holding
every unit in it. A sale made while the SKU is on the copy and shipped there deducted the copy only; renamed back,
the copy goes with its movements and the unit that left the shelf stayed on the item the SKU comes back to, on sale
on every shop (`domain.inventory.ledger.deducted_on_copy`). The link now keeps that item, written with the seed's
read (`stock_counted_at`, `seeded_item_id`) and kept with them (`links.upsert_links`). No foreign key, as for
`seeded_item_id`: an item removed since never comes back under its id. Existing rows get none (which item a past
seed copied is not known): they go by the rule before. Rows a release before this one writes (a rolling deploy)
have none either.

Revision ID: 0030_seeded_from_item
Revises: 0029_sku_search_width
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_seeded_from_item"
down_revision: str | None = "0029_sku_search_width"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("seeded_from_item_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("seeded_from_item_id")
