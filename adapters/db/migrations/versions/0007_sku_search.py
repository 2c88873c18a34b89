"""Items are searched by their SKU case-folded: `inventory_items.sku_search`.

`inventoryItems(query:)` compared lower(sku), and neither SQLite's lower() nor PostgreSQL's in the C locale folds
beyond ASCII: "été" missed "ÉTÉ-01". The folding is Python's (`domain.inventory.items.sku_search_key`), stored with
the item; this revision computes it for the items already there.

Revision ID: 0007_sku_search
Revises: 0006_link_times
Create Date: 2026-12-02 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_sku_search"
down_revision: str | None = "0006_link_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("inventory_items", sa.Column("sku_search", sa.String(1024), nullable=True))
    items = sa.table("inventory_items", sa.column("id", sa.String), sa.column("sku", sa.String))
    search = sa.table("inventory_items", sa.column("id", sa.String), sa.column("sku_search", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(items.c.id, items.c.sku)).all()
    statement = sa.update(search).where(search.c.id == sa.bindparam("item_id")).values(sku_search=sa.bindparam("key"))
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        connection.execute(statement, [{"item_id": row.id, "key": row.sku.casefold()} for row in batch])


def downgrade() -> None:
    with op.batch_alter_table("inventory_items", schema=None) as batch_op:
        batch_op.drop_column("sku_search")
