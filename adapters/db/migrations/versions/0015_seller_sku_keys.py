"""SKUs keep their seller SKU's match key: `skus.seller_sku_key`, indexed with the shop.

Auto-linking finds a changed SKU's twins in the shop (`adapters.db.repositories.inventory.links`) by its seller SKU
as `domain.inventory.links.trimmed` matches it: edge-invisible characters trimmed, then NFC. That used to be computed
in SQL for every SKU row of the shop scanned, by a second spelling of the rule: PostgreSQL's `normalize(btrim(...),
NFC)` (its own Unicode tables) and, on SQLite, a Python function registered on every connection. The key is now
computed in Python when the row is written (`SqlCatalogRepository`) and stored; this revision adds the column and its
index and computes it for the rows already there (NULL where the seller SKU is blank, as `trimmed` gives).

The backfill calls the domain's `trimmed` rather than a copy (unlike 0007 and 0014): the key is only ever compared
with what the running code computes from a seller SKU, so it must be that function's result; a later change of the
rule needs a revision that computes the keys again. The downgrade drops the index and the column.

Revision ID: 0015_seller_sku_keys
Revises: 0014_nfc_sku_keys
Create Date: 2026-12-02 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.inventory.links import trimmed

revision: str = "0015_seller_sku_keys"
down_revision: str | None = "0014_nfc_sku_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seller_sku_key", sa.String(255), nullable=True))
        batch_op.create_index(batch_op.f("ix_skus_shop_id_seller_sku_key"), ["shop_id", "seller_sku_key"], unique=False)
    skus = sa.table("skus", sa.column("id", sa.String), sa.column("seller_sku", sa.String))
    keys = sa.table("skus", sa.column("id", sa.String), sa.column("seller_sku_key", sa.String))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(skus.c.id, skus.c.seller_sku).where(skus.c.seller_sku.is_not(None)).order_by(skus.c.id)
    ).all()
    # Rows whose key is NULL (no seller SKU, or a blank one) are left as the new column has them.
    changes = [{"sku_id": row.id, "key": key} for row in rows if (key := trimmed(row.seller_sku)) is not None]
    statement = sa.update(keys).where(keys.c.id == sa.bindparam("sku_id")).values(seller_sku_key=sa.bindparam("key"))
    for start in range(0, len(changes), _BATCH):
        connection.execute(statement, changes[start : start + _BATCH])


def downgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skus_shop_id_seller_sku_key"))
        batch_op.drop_column("seller_sku_key")
