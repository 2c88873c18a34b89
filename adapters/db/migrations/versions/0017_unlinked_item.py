"""An unlinked SKU remembers the item it was linked to: `sku_links.unlinked_item_id`.

Before, `skuUnlink` cleared the link's item and time, so a sale first seen while the SKU was unlinked waited
(open) or became history (shipped) without knowing which item the SKU had drawn on: linked back to that same item,
a line shipped meanwhile deducted nothing and the pool sold its units again. The link now keeps that item (this
column, set null when the item goes) and when it was linked to it (`linked_at`, kept), and the ledger treats such a
line like one reserved before the unlink (`domain.inventory.ledger.transition`'s `unlinked_from`). Links unlinked
before this revision remember nothing: their lines keep today's rule.

Revision ID: 0017_unlinked_item
Revises: 0016_shop_catalog_counts
Create Date: 2026-12-02 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_unlinked_item"
down_revision: str | None = "0016_shop_catalog_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.add_column(sa.Column("unlinked_item_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_sku_links_unlinked_item_id_inventory_items"), "inventory_items", ["unlinked_item_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch:
        batch.drop_constraint(batch.f("fk_sku_links_unlinked_item_id_inventory_items"), type_="foreignkey")
        batch.drop_column("unlinked_item_id")
