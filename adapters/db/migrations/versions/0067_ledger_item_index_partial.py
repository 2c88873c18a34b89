"""`order_line_stock`'s index by item becomes partial: `WHERE inventory_item_id IS NOT NULL`.

perf67 (issue 9, benchmarks 1 and 2): every reader of `(inventory_item_id, state)` names an item: an item's RESERVED
lines (`removal.item_use`, `shop_items.left_behind_query`), the lines naming removed items (`shop_items.delete_items`,
`inventory_item_id IN (...)`), the foreign key's `ON DELETE SET NULL` (`inventory_item_id = $1`). A line on no item
(the line of a SKU never linked: every line of an unlinked shop's import, benchmark 2's 125,000) took an entry
nobody reads. Both planners still use the index for each of those readers (a comparison on the column implies it
is not null: SQLite's partial-index rule, PostgreSQL's predicate proof, the foreign key's parameterised query
included); plans in bench/README.md, "stop 67".

Revision ID: 0067_ledger_item_index_partial
Revises: 0066_line_items_order_key
Create Date: 2026-12-06 23:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0067_ledger_item_index_partial"
down_revision: str | None = "0066_line_items_order_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_order_line_stock_inventory_item_id_state"
_NAMED = sa.text("inventory_item_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="order_line_stock")
    op.create_index(
        _INDEX,
        "order_line_stock",
        ["inventory_item_id", "state"],
        unique=False,
        sqlite_where=_NAMED,
        postgresql_where=_NAMED,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="order_line_stock")
    op.create_index(_INDEX, "order_line_stock", ["inventory_item_id", "state"], unique=False)
