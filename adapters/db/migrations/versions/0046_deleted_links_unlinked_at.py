"""A deleted shop's link the merchant had unlinked keeps the unlink's time: `deleted_shop_links.unlinked_at`.

The delete kept the period of a link the merchant had unlinked (`skuUnlink`, UNLINKED with `unlinked_item_id`) from
its link time to the delete (0042), not to the unlink. A sale made after the unlink and before the delete, that the old
connection never saw, then counted on the item unlinked from once the reconnect linked its SKU to another item
(`domain.inventory.ledger.counted_under_a_deleted_link`), where the never-deleted connection, relinked so, made it
history on the later item (unlink56, not fixed 1: 8/0/8 where the shelf held 10). The column keeps the unlink's time
(`sku_links.unlinked_at`, migration 0036) for the row of a link the merchant unlinked (MANUAL, not left by an import:
an import's leaving goes on counting sales on its item, `ledger.first_seen_unlinked`); a sale after it no longer
counts on that row's item when the SKU now links to another item. The reconnect's own item keeps the period to the
delete, as before (poolfix54 finding 1).

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite). Null for a link that named its item at the delete, for one an
import left, for a link unlinked before 0036, and for the rows written before this revision: their periods run to
the delete, as they did. A release before this one writes null, which reads as above.
The downgrade drops the column, and so loses the unlink times kept: the periods of unlinked links run to the delete
again (the behaviour before this revision); the periods themselves stay.

Revision ID: 0046_deleted_links_unlinked_at
Revises: 0045_deleted_links_source
Create Date: 2026-12-05 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0046_deleted_links_unlinked_at"
down_revision: str | None = "0045_deleted_links_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deleted_shop_links", sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deleted_shop_links", schema=None) as batch:
        batch.drop_column("unlinked_at")
