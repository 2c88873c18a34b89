"""When a SKU left the item its link remembers: `sku_links.unlinked_at`.

Since try-out pool51 the merchant's `skuUnlink` keeps the SKU's open lines already seen RESERVED on their item
(`domain.inventory.ledger.stays_reserved`). An order created at TikTok before the unlink whose webhook, poll or import
reached Shopbridge only after it found no link and waited (`PENDING_LINK`): its unit was not reserved on the item it
was sold from, and the item's other shops were pushed it too, an oversell. The link remembered the item
(`unlinked_item_id`, 0017) and since when it was linked (`linked_at`), not when it was unlinked. This column is that
instant (`domain.inventory.links.unlinked_since`): an order created before it counts on that item as the lines the
unlink found open do (`domain.inventory.ledger.sold_before_unlink`).

A nullable column, no backfill, no index (read with the link the ledger looks up already): links unlinked before
this revision have no instant, and their sales first seen since wait for a link as before.

Revision ID: 0036_sku_links_unlinked_at
Revises: 0035_sku_links_push_landed_at
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_sku_links_unlinked_at"
down_revision: str | None = "0035_sku_links_push_landed_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_column("unlinked_at")
