"""An item seeded as a copy of another item's count remembers that item: `inventory_items.seeded_from_item_id`.

chain74 (stop 73's LOW, review rev73a F1/F3): a seller SKU renamed twice, A -> B -> C, B a copy of A never counted.
C's link names B as the count copied (`sku_links.seeded_from_item_id`, migration 0030), and the link that seeded B
from A is C's own link, overwritten by the second rename: once B goes, left to nobody, nothing said B copied A, so
`Shop.attention`'s STOCK_COPIED (which joins the copied item) vanished while A and C counted one shelf, and linking
back to A left A high by the units shipped on B. The item now keeps it, so that B's removal hands its copies to A
(`adapters.db.repositories.inventory.copies`). With a partial index on it: the copies of an item a removal asks for.

Filled from the links that still hold their seed (`seeded_item_id`, `seeded_from_item_id`): a B whose link a second
rename already overwrote before this migration is not known (its copies keep naming B, as before).

Revision ID: 0071_items_seeded_from
Revises: 0070_movements_hand_made_index
Create Date: 2026-12-07 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0071_items_seeded_from"
down_revision: str | None = "0070_movements_hand_made_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_inventory_items_seeded_from_item_id"
_COPIED = sa.text("seeded_from_item_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("inventory_items", sa.Column("seeded_from_item_id", sa.String(length=32), nullable=True))
    # the links' seeds, read through migration 0069's partial index (few rows), then one UPDATE by primary key each
    connection = op.get_bind()
    seeds = connection.execute(
        sa.text(
            "SELECT seeded_item_id, min(seeded_from_item_id) FROM sku_links "
            "WHERE seeded_from_item_id IS NOT NULL AND seeded_item_id IS NOT NULL "
            "AND seeded_item_id <> seeded_from_item_id GROUP BY seeded_item_id"
        )
    ).all()
    if seeds:
        connection.execute(
            sa.text("UPDATE inventory_items SET seeded_from_item_id = :copied WHERE id = :copy"),
            [{"copy": copy, "copied": copied} for copy, copied in seeds],
        )
    op.create_index(
        _INDEX,
        "inventory_items",
        ["seeded_from_item_id"],
        unique=False,
        sqlite_where=_COPIED,
        postgresql_where=_COPIED,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="inventory_items")
    with op.batch_alter_table("inventory_items") as batch:
        batch.drop_column("seeded_from_item_id")
