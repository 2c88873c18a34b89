"""`line_items`' primary key becomes (order_id, id) and its index on `order_id` alone goes: one random-key index fewer.

perf66 (issue 9, benchmarks 1 and 2 on SQLite): a line item's id is a 32-hex digest of its order's id and TikTok's
line item id (`adapters.db.repositories.catalog.row_id`), so the key's index took each line of an import's batch at
a random place, dirtying about one leaf page per line in every commit, and the index on `order_id` about one per
order. Nothing reads a line item by its id alone: the orders page reads an order's lines by `order_id`
(`queries.line_items_for_orders`), a changed order's lines are deleted by `order_id` (the catalog's write), an
order's delete cascades by `order_id`, a shop's delete goes by `shop_id`; the id only keeps a line from being stored
twice (the upsert's key, `bulk.CONFLICT_KEYS`). Led by `order_id`, the key serves every one of those reads, and a
line's id, made from its order's, still names one line: the order's lines now share one leaf of one index.

Batch mode: SQLite cannot change a primary key in place (the table is copied, as in 0005); PostgreSQL alters it.
A process of the release before upserts line items `ON CONFLICT (id)`, which no unique key matches any more:
deploy with a stop (README, "Upgrading").

Revision ID: 0066_line_items_order_key
Revises: 0065_shop_name_braille_blank
Create Date: 2026-12-06 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0066_line_items_order_key"
down_revision: str | None = "0065_shop_name_braille_blank"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line_items", schema=None) as batch_op:
        batch_op.drop_index("ix_line_items_order_id")
        batch_op.drop_constraint("pk_line_items", type_="primary")
        batch_op.create_primary_key("pk_line_items", ["order_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("line_items", schema=None) as batch_op:
        batch_op.drop_constraint("pk_line_items", type_="primary")
        batch_op.create_primary_key("pk_line_items", ["id"])
        batch_op.create_index("ix_line_items_order_id", ["order_id"], unique=False)
